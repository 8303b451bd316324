//! `cargo bench --bench pool`: what the sandbox pool's acquire + release costs,
//! next to what it saves (instantiating the same tiny guest inline).
//!
//! The guest is a 64 KiB synthetic module, so "inline" is close to the cheapest
//! instantiation wasmtime can do; real guests (and guest initialisation) cost
//! far more, which is the pool's point. Results are copied to
//! `results/bench/pool.md` by hand after a run (criterion's own report is in
//! `target/criterion/`).

use criterion::{Criterion, criterion_group, criterion_main};
use pooling_lab::guest::synthetic;
use pooling_lab::settings::{ByteSize, GuestSettings};
use pooling_lab::slot_pool::{OnExhausted, PoolConfig, Recycle, SandboxPool};
use std::hint::black_box;
use std::time::Duration;
use wasmtime::{Config, Engine, Linker, Module, Store};

fn bench(c: &mut Criterion) {
    let guest = GuestSettings {
        image_size: ByteSize(64 << 10),
        dirty_per_call: ByteSize(4 << 10),
        ..GuestSettings::default()
    };
    let engine = Engine::new(&Config::new()).expect("engine");
    let module = Module::new(&engine, synthetic::module_bytes(&guest)).expect("module");
    let pre = Linker::new(&engine)
        .instantiate_pre(&module)
        .expect("instantiate_pre");

    let mut group = c.benchmark_group("pool");
    group.bench_function("inline_instantiate_drop", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine, ());
            black_box(pre.instantiate(&mut store).expect("instantiate"));
        })
    });

    let pool = SandboxPool::new(
        &engine,
        pre.clone(),
        PoolConfig {
            capacity: 4,
            prewarm: 4,
            refill_below: 1,
            workers: 1,
            recycle: Recycle::Reuse { max_uses: u32::MAX },
            on_exhausted: OnExhausted::FailFast,
        },
        Box::new(|e: &wasmtime::Engine| wasmtime::Store::new(e, ())),
        None,
    )
    .expect("pool");
    group.bench_function("acquire_release_reuse", |b| {
        b.iter(|| {
            let g = pool.acquire(Duration::from_secs(1)).expect("acquire");
            black_box(&g);
        })
    });
    drop(pool);

    let pool = SandboxPool::new(
        &engine,
        pre,
        PoolConfig {
            capacity: 4,
            prewarm: 4,
            refill_below: 4,
            workers: 1,
            recycle: Recycle::Reuse { max_uses: u32::MAX },
            on_exhausted: OnExhausted::FailFast,
        },
        Box::new(|e: &wasmtime::Engine| wasmtime::Store::new(e, ())),
        None,
    )
    .expect("pool");
    group.bench_function("acquire_release_reuse_4_threads", |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(4);
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for _ in 0..per {
                            let g = pool.acquire(Duration::from_secs(5)).expect("acquire");
                            black_box(&g);
                        }
                    });
                }
            });
            // Wall time for `iters` acquires spread over 4 threads.
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
