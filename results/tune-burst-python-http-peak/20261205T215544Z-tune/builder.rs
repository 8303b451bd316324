// The tuned settings of `keep-16MiB+scan/release_idle=never` as wasmtime 50.0.1 builder calls: the Config that
// pooling_lab::tune::load_tuned builds from tuned.toml. Made by `pooling-lab export`.
//
//     let engine = wasmtime::Engine::new(&tuned_config())?;

/// The tuned `wasmtime::Config`.
pub fn tuned_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(1_600);
    pool.total_component_instances(80);
    pool.total_memories(80);
    pool.total_tables(1_600);
    pool.total_stacks(80);
    pool.max_memory_size(268_435_456); // 256MiB
    pool.linear_memory_keep_resident(16_777_216); // 16MiB
    pool.pagemap_scan(wasmtime::Enabled::Yes);
    config.allocation_strategy(pool);
    config
}

// Measured with [scenario] release_idle = "never": after a load peak every
// warm slot keeps up to linear_memory_keep_resident = 16MiB resident for as long as the
// process lives; wasmtime::Engine::release_idle_pool_memory() gives it back
// (configs/burst.toml measures what that costs the next requests).
