//! Production use of tuned settings: load `tuned.toml` (written by
//! `pooling-lab tune`, or any experiment file: its first variant), build the
//! wasmtime `Config` and `Engine` from it, load the guest, serve requests
//! from a prewarmed `SandboxPool`, and print what it measured.
//!
//! ```sh
//! cargo run --release --example production -- results/tune/<stamp>-tune/tuned.toml
//! ```

use pooling_lab::measure::latency::{self, LatencySummary};
use pooling_lab::pool::{OnExhausted, PoolConfig, Recycle, SandboxPool};
use pooling_lab::report::duration;
use pooling_lab::settings::Load;
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: production <tuned.toml>"))?;
    // 1. Settings -> wasmtime::Config -> Engine: the lines production needs.
    let (config, mut variant) = pooling_lab::tune::load_tuned(path.as_ref())?;
    let engine = wasmtime::Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    println!(
        "engine built from {path} (allocator: {:?})",
        variant.engine.allocator
    );

    // 2. The guest, compiled here (production would deserialize_file a cached artifact).
    variant.guest.load = Load::Compile;
    // Any guest kind (core module, component, wasi:http proxy) behind one interface.
    let prepared = std::sync::Arc::new(pooling_lab::guest::prepare(engine, &variant, None)?);

    // 3. A pool of ready sandboxes, refilled off the request path.
    let (p1, p2) = (prepared.clone(), prepared.clone());
    let pool = SandboxPool::with_instantiate(
        &prepared.engine,
        Box::new(move |store: &mut wasmtime::Store<_>| p1.instantiate(store)),
        PoolConfig {
            capacity: 16,
            prewarm: 8,
            refill_below: 4,
            workers: 1,
            recycle: Recycle::Discard,
            on_exhausted: OnExhausted::Wait,
        },
        Box::new(move |_: &wasmtime::Engine| p2.new_store()),
        None,
    )?;

    // 4. Serve requests: acquire a sandbox, run the guest, release it.
    let requests = 500u64;
    let mut h = latency::new_histogram();
    let start = Instant::now();
    for _ in 0..requests {
        let t = Instant::now();
        let mut sandbox = pool.acquire(Duration::from_secs(1))?;
        let (store, instance) = sandbox.parts();
        prepared
            .call(store, instance)
            .map_err(|e| anyhow::anyhow!("guest call: {e:#}"))?;
        drop(sandbox);
        h.saturating_record(t.elapsed().as_nanos() as u64);
        // Pace at ~2,000 requests/s so the worker keeps the pool refilled.
        std::thread::sleep(Duration::from_micros(500));
    }
    let wall = start.elapsed();
    let s = LatencySummary::of(&h);
    let m = pool.metrics();
    println!(
        "{requests} requests in {:.2} s: request p50 {} p99 {}; pool hits {} misses {}; acquire p50 {} p99 {}",
        wall.as_secs_f64(),
        duration(s.p50_ns as f64),
        duration(s.p99_ns as f64),
        m.hits,
        m.misses,
        duration(m.acquire.p50_ns as f64),
        duration(m.acquire.p99_ns as f64),
    );
    Ok(())
}
