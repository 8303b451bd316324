//! Dropping a pool (and its engine) stops every worker and gives the memory
//! back. Alone in its test binary: it reads whole-process thread lists and Pss,
//! which other tests running in parallel would disturb.

mod common;

use pooling_lab::measure::memory;
use pooling_lab::slot_pool::{OnExhausted, PoolConfig, Recycle, SandboxPool};
use std::time::Duration;
use wasmtime::{Instance, Store};

fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("sandbox-pool"))
        .count()
}

/// Builds a pool of 16 prewarmed, initialised 4 MiB sandboxes, serves some
/// requests, drops pool and engine. Returns the Pss after prewarm.
fn round(workers: usize) -> u64 {
    let g = common::guest(4 << 20, 4 << 20);
    let (engine, pre) = common::engine_and_pre(&g);
    let warm_up = Box::new(|store: &mut Store<()>, instance: &mut Instance| {
        common::call(store, *instance);
        Ok(())
    });
    let pool = SandboxPool::new(
        &engine,
        pre,
        PoolConfig {
            capacity: 24,
            prewarm: 16,
            refill_below: 8,
            workers,
            recycle: Recycle::Discard,
            on_exhausted: OnExhausted::Wait,
        },
        Box::new(|e: &wasmtime::Engine| wasmtime::Store::new(e, ())),
        Some(warm_up),
    )
    .unwrap();
    // A new thread names itself once it runs: allow it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pool_threads() != workers && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(pool_threads(), workers);
    let during = memory::sample().unwrap().pss_bytes;
    for _ in 0..40 {
        let mut g = pool.acquire(Duration::from_secs(10)).unwrap();
        let (store, instance) = g.parts();
        common::call(store, *instance);
    }
    drop(pool);
    drop(engine);
    during
}

#[test]
fn dropping_the_pool_stops_workers_and_returns_memory() {
    // Two rounds first. The first use of wasmtime and cranelift maps code
    // pages, and the second round still grows the process once by ~4 MiB
    // that even malloc_trim does not return (measured: 16.5 MiB after round
    // 1, 21.0 after round 2, then +20..40 KiB per round through round 7), so
    // it is one-time process state, not the pool's. Every reading is taken
    // after glibc has returned its free heap (freed chunks and the arenas of
    // exited worker threads) to the kernel, so it shows live memory only:
    // one leaked 4 MiB sandbox alone would exceed the 5% margin.
    round(3);
    round(3);
    assert_eq!(pool_threads(), 0);
    memory::release_free_heap();
    let before = memory::sample().unwrap().pss_bytes;
    let during = round(3);
    assert_eq!(pool_threads(), 0, "a worker outlived its pool");
    memory::release_free_heap();
    let after = memory::sample().unwrap().pss_bytes;
    // 16+ initialised sandboxes each hold 4 MiB of private pages: the pool
    // must have cost well over 32 MiB, or this test measures nothing.
    assert!(
        during > before + (32 << 20),
        "before {before} during {during}"
    );
    let limit = before + before / 20;
    assert!(
        after <= limit,
        "Pss after dropping the pool: {after} bytes, more than 5% above {before}"
    );
}
