// The tuned settings of `keep-16MiB+scan/release_idle=after-idle` as wasmtime 50.0.1 builder calls: the Config that
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

/// The release policy these settings were measured with ([scenario]
/// release_idle = "after-idle"): call this once load has dropped (measured: after 20 s of idle), from a timer or your
/// load signal, never on the request path. It decommits the linear memory
/// every warm, unused pool slot kept resident (up to linear_memory_keep_resident
/// = 16MiB each) and returns the bytes released; the next sandbox in such a slot
/// faults its pages in again (tuned.toml's header gives what that cost when
/// measured). Tables and stacks kept resident are not released. Slots being
/// released cannot be allocated meanwhile.
pub fn release_idle_memory(engine: &wasmtime::Engine) -> usize {
    engine.release_idle_pool_memory()
}
