// The tuned settings of `decommit_batch_size=1,linear_memory_keep_resident=2097152,pagemap_scan=yes` as wasmtime 50.0.1 builder calls: the Config that
// pooling_lab::tune::load_tuned builds from tuned.toml. Made by `pooling-lab export`.
//
//     let engine = wasmtime::Engine::new(&tuned_config())?;

/// The tuned `wasmtime::Config`.
pub fn tuned_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.memory_init_cow(true);
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(512);
    pool.total_component_instances(128);
    pool.total_memories(128);
    pool.total_tables(512);
    pool.total_stacks(128);
    pool.max_memory_size(67_108_864); // 64MiB
    pool.decommit_batch_size(1);
    pool.linear_memory_keep_resident(2_097_152); // 2MiB
    pool.pagemap_scan(wasmtime::Enabled::Yes);
    config.allocation_strategy(pool);
    config
}
