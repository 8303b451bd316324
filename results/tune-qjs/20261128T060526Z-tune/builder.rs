// The tuned settings of `max_unused_warm_slots=100,linear_memory_keep_resident=16777216,pagemap_scan=yes` as wasmtime 48.0.8 builder calls: the Config that
// pooling_lab::tune::load_tuned builds from tuned.toml. Made by `pooling-lab export`.
//
//     let engine = wasmtime::Engine::new(&tuned_config())?;

/// The tuned `wasmtime::Config`.
pub fn tuned_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(48);
    pool.total_memories(48);
    pool.total_tables(48);
    pool.max_memory_size(268_435_456); // 256MiB
    pool.max_unused_warm_slots(100);
    pool.linear_memory_keep_resident(16_777_216); // 16MiB
    pool.pagemap_scan(wasmtime::Enabled::Yes);
    config.allocation_strategy(pool);
    config
}
