// The tuned settings as wasmtime builder calls (equivalent to loading tuned.toml).
let mut config = wasmtime::Config::new();
let mut pool = wasmtime::PoolingAllocationConfig::new();
pool.linear_memory_keep_resident(4194304);
pool.max_memory_size(268435456);
pool.max_unused_warm_slots(100);
pool.pagemap_scan(wasmtime::Enabled::Yes);
pool.total_core_instances(48);
pool.total_memories(48);
pool.total_tables(48);
config.allocation_strategy(pool);
let engine = wasmtime::Engine::new(&config)?;
