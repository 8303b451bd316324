// The tuned settings of `linear_memory_keep_resident=16777216,pagemap_scan=yes` as wasmtime 50.0.1 builder calls: the Config that
// pooling_lab::tune::load_tuned builds from tuned.toml. Made by `pooling-lab export`.
//
//     let engine = wasmtime::Engine::new(&tuned_config())?;

/// The tuned `wasmtime::Config`.
pub fn tuned_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.memory_init_cow(true);
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(1_000);
    pool.total_component_instances(64);
    pool.total_memories(64);
    pool.total_tables(1_000);
    pool.total_stacks(64);
    pool.max_memory_size(268_435_456); // 256MiB
    pool.linear_memory_keep_resident(16_777_216); // 16MiB
    pool.pagemap_scan(wasmtime::Enabled::Yes);
    config.allocation_strategy(pool);
    config
}
