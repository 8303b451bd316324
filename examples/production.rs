//! Production use of tuned settings: load `tuned.toml` (written by
//! `pooling-lab tune`, or any experiment file: its first variant), build the
//! wasmtime `Config` and `Engine` from it, load the guest, serve requests
//! from a prewarmed `SandboxPool`, and print what it measured.
//!
//! ```sh
//! cargo run --release --example production -- results/tune/<stamp>-tune/tuned.toml
//! ```
//!
//! A tuned file that turns on `consume_fuel` or `epoch_interruption` makes
//! every store start with no fuel and an epoch deadline already reached:
//! the first instruction would trap ("all fuel consumed", "interrupt").
//! Production must budget both, and so does this example: every store gets
//! [`FUEL_PER_REQUEST`] units (again before each request), and with epochs a
//! ticker thread advances the engine's epoch every millisecond while each
//! request gets a deadline of `[scenario] call_deadline_ms` (or
//! [`DEFAULT_DEADLINE_MS`]).

use pooling_lab::host::Host;
use pooling_lab::host::ticker::EpochTicker;
use pooling_lab::measure::latency::{self, LatencySummary};
use pooling_lab::report::duration;
use pooling_lab::settings::{Load, Variant};
use pooling_lab::slot_pool::{OnExhausted, PoolConfig, Recycle, SandboxPool};
use std::time::{Duration, Instant};
use wasmtime::Store;

/// Fuel each store gets for its instantiation, and again before each
/// request (with `consume_fuel`): about a billion wasm instructions, far
/// above a request of the lab's guests, low enough to stop a runaway loop
/// within seconds. Size it to your own guest's heaviest request.
pub const FUEL_PER_REQUEST: u64 = 1_000_000_000;

/// A request's epoch deadline in milliseconds (1 ms ticks) when the tuned
/// file enables `epoch_interruption` but sets no `[scenario]
/// call_deadline_ms`.
pub const DEFAULT_DEADLINE_MS: u64 = 1_000;

/// What production must do per store for the tuned engine's fuel and epoch
/// settings.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Fuel per request, when `consume_fuel` is on.
    pub fuel: Option<u64>,
    /// Epoch ticks (ms) per request, when `epoch_interruption` is on.
    pub deadline_ticks: Option<u64>,
}

impl Budget {
    /// The budget `variant`'s engine settings call for.
    pub fn of(variant: &Variant) -> Budget {
        let ms = match variant.scenario.call_deadline_ms {
            0 => DEFAULT_DEADLINE_MS,
            ms => ms,
        };
        Budget {
            fuel: (variant.engine.consume_fuel == Some(true)).then_some(FUEL_PER_REQUEST),
            deadline_ticks: (variant.engine.epoch_interruption == Some(true)).then_some(ms),
        }
    }

    /// Gives `store` its fuel and its deadline (counted from now): call when
    /// the store is made (instantiation runs start functions) and right
    /// before each request.
    pub fn arm(&self, store: &mut Store<Host>) -> wasmtime::Result<()> {
        if let Some(fuel) = self.fuel {
            store.set_fuel(fuel)?;
        }
        if let Some(ticks) = self.deadline_ticks {
            store.epoch_deadline_trap();
            store.set_epoch_deadline(ticks);
        }
        Ok(())
    }
}

/// What [`serve`] measured.
pub struct Served {
    /// Requests served.
    pub requests: u64,
    /// Wall time.
    pub wall: Duration,
    /// Request latency (acquire + call + release).
    pub latency: LatencySummary,
    /// The pool's figures.
    pub metrics: pooling_lab::slot_pool::PoolMetrics,
    /// What `Engine::release_idle_pool_memory` gave back once the pool was
    /// dropped (0 on-demand or with nothing kept resident).
    pub released_bytes: usize,
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: production <tuned.toml>"))?;
    let requests = 500u64;
    let s = serve(path.as_ref(), requests)?;
    let m = &s.metrics;
    println!(
        "{requests} requests in {:.2} s: request p50 {} p99 {}; pool hits {} misses {}; acquire p50 {} p99 {}",
        s.wall.as_secs_f64(),
        duration(s.latency.p50_ns as f64),
        duration(s.latency.p99_ns as f64),
        m.counts.hits,
        m.counts.misses,
        duration(m.acquire.p50_ns as f64),
        duration(m.acquire.p99_ns as f64),
    );
    println!(
        "idle: released {} bytes the pool's warm slots kept resident",
        s.released_bytes
    );
    Ok(())
}

/// Builds the tuned engine from `path`, serves `requests` requests from a
/// prewarmed pool, honouring the file's fuel and epoch settings (see
/// [`Budget`]), and returns what it measured.
pub fn serve(path: &std::path::Path, requests: u64) -> anyhow::Result<Served> {
    // 1. Settings -> wasmtime::Config -> Engine: the lines production needs.
    let (config, mut variant) = pooling_lab::tune::load_tuned(path)?;
    let engine = wasmtime::Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    println!(
        "engine built from {} (allocator: {:?})",
        path.display(),
        variant.engine.allocator
    );
    // Fuel and epochs, when the tuned file turns them on: a budget per
    // store and per request (below).
    let budget = Budget::of(&variant);

    // 2. The guest, compiled here (production would deserialize_file a cached artifact).
    variant.guest.load = Load::Compile;
    // Any guest kind (core module, component, wasi:http proxy) behind one interface.
    let prepared = std::sync::Arc::new(pooling_lab::guest::prepare(engine, &variant, None)?);
    // A ticker advances the epoch every millisecond (`prepare` starts one
    // itself for a `call_deadline_ms`; a second would halve the deadline).
    let _ticker = match (budget.deadline_ticks, prepared.deadline_ticks) {
        (Some(_), None) => Some(EpochTicker::start(&prepared.engine)?),
        _ => None,
    };

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
        Box::new(move |_: &wasmtime::Engine| {
            let mut store = p2.new_store();
            // Instantiation runs start functions: they need fuel and time too.
            // (It cannot fail: fuel is set only when the engine meters it.)
            if let Err(e) = budget.arm(&mut store) {
                eprintln!("budget: {e:#}");
            }
            store
        }),
        None,
    )?;

    // 4. Serve requests: acquire a sandbox, give it its budget, run the
    //    guest, release it.
    let mut h = latency::new_histogram();
    let start = Instant::now();
    for _ in 0..requests {
        let t = Instant::now();
        let mut sandbox = pool.acquire(Duration::from_secs(1))?;
        let (store, instance) = sandbox.parts();
        budget
            .arm(store)
            .map_err(|e| anyhow::anyhow!("budget: {e:#}"))?;
        prepared
            .call(store, instance)
            .map_err(|e| anyhow::anyhow!("guest call: {e:#}"))?;
        drop(sandbox);
        h.saturating_record(t.elapsed().as_nanos() as u64);
        // Pace at ~2,000 requests/s so the worker keeps the pool refilled.
        std::thread::sleep(Duration::from_micros(500));
    }
    let wall = start.elapsed();
    let metrics = pool.metrics();

    // 5. After a load peak, once load has dropped (from a timer or your load
    //    signal, never on the request path): give back the memory that warm,
    //    unused slots keep resident (linear_memory_keep_resident each). The
    //    next sandbox in a released slot faults its pages in again. A tune of
    //    a burst (`[scenario] kind = "burst"`) measures what that costs and
    //    names the policy in tuned.toml (`release_idle`) and builder.rs
    //    (`release_idle_memory`). Here: the pool is gone, every slot is idle.
    drop(pool);
    let released_bytes = prepared.engine.release_idle_pool_memory();
    Ok(Served {
        requests,
        wall,
        latency: LatencySummary::of(&h),
        metrics,
        released_bytes,
    })
}
