// The tuned settings of `wasmtime-default-pooling` as wasmtime 50.0.1 builder calls: the Config that
// pooling_lab::tune::load_tuned builds from tuned.toml. Made by `pooling-lab export`.
//
//     let engine = wasmtime::Engine::new(&tuned_config())?;

/// The tuned `wasmtime::Config`.
pub fn tuned_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.max_wasm_stack(8_388_608); // 8MiB
    config.async_stack_size(9_437_184); // 9MiB
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(80);
    pool.total_memories(160);
    pool.total_tables(80);
    pool.total_gc_heaps(80);
    pool.max_memory_size(1_073_741_824); // 1GiB
    pool.table_elements(65_536);
    pool.max_core_instance_size(4_194_304); // 4MiB
    config.allocation_strategy(pool);
    config
}

// [guest] snapshot = "after-init": every sandbox starts from a wasmtime-wizer snapshot.
//   Reproduce it (built as measured, checked against the un-snapshotted guest):
//     pooling-lab snapshot tuned.toml --out guest.snapshot.wasm
//   and load guest.snapshot.wasm instead of the guest. `wasmtime wizer` cannot express
//   it: it runs `_initialize` before its nullary --init-func (a Go or wasi-libc reactor
//   refuses a second `_initialize`), and cannot pass init arguments, run preinit code
//   or a warm-up. Whatever init read from random_get and the clocks is the same in every
//   sandbox: the snapshot command lists it.

// Measured with [scenario] release_idle = "never": after a load peak every
// warm slot keeps up to linear_memory_keep_resident = 0B resident for as long as the
// process lives; wasmtime::Engine::release_idle_pool_memory() gives it back
// (configs/burst.toml measures what that costs the next requests).
