// The tuned settings of `reset/linear_memory_keep_resident=0,table_keep_resident=524288,pagemap_scan=no` as wasmtime 50.0.1 builder calls: the Config that
// pooling_lab::tune::load_tuned builds from tuned.toml. Made by `pooling-lab export`.
//
//     let engine = wasmtime::Engine::new(&tuned_config())?;

/// The tuned `wasmtime::Config`.
pub fn tuned_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.max_wasm_stack(8_388_608); // 8MiB
    config.async_stack_size(9_437_184); // 9MiB
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(48);
    pool.total_memories(96);
    pool.total_tables(48);
    pool.total_gc_heaps(48);
    pool.max_memory_size(1_073_741_824); // 1GiB
    pool.table_elements(65_536);
    pool.max_core_instance_size(4_194_304); // 4MiB
    pool.linear_memory_keep_resident(0); // 0B
    pool.table_keep_resident(524_288); // 512KiB
    pool.pagemap_scan(wasmtime::Enabled::No);
    config.allocation_strategy(pool);
    config
}
