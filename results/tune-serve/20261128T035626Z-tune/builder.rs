// The tuned settings as wasmtime builder calls (equivalent to loading tuned.toml).
let mut config = wasmtime::Config::new();
config.memory_init_cow(true);
let mut pool = wasmtime::PoolingAllocationConfig::new();
pool.decommit_batch_size(1);
pool.linear_memory_keep_resident(2097152);
pool.max_memory_size(67108864);
pool.pagemap_scan(wasmtime::Enabled::Yes);
pool.total_component_instances(128);
pool.total_core_instances(512);
pool.total_memories(128);
pool.total_stacks(128);
pool.total_tables(512);
config.allocation_strategy(pool);
let engine = wasmtime::Engine::new(&config)?;
