//! Scenario `pool`: the same requests served two ways in one process.
//!
//! 1. **inline**: each request instantiates and initialises its own sandbox
//!    (`Store::new` + instantiate + the guest's first call), serves (one more
//!    call), and drops it.
//! 2. **pooled**: each request acquires a ready sandbox from a
//!    [`SandboxPool`] (made and initialised by its workers beforehand), serves,
//!    and releases it.
//!
//! In a closed loop (`rate = 0`) each thread sends its next request when the
//! last is done. In an open loop each thread follows a fixed schedule and every
//! latency counts from the request's *scheduled* time, so a request that had
//! to queue behind a slow one is charged for it (no coordinated omission).

use crate::guest::{Prepared, Sandbox};
use crate::host::Host;
use crate::measure::latency::{self, Hist, Histograms, PhaseLatency};
use crate::measure::memory::{self, MemorySample};
use crate::metric::{Headline, MIN_RELATIVE, p50_spread, phase_headlines, rate};
use crate::settings::{PoolRecycle, ScenarioSettings, Variant};
use crate::slot_pool::{OnExhausted, PoolConfig, PoolCounts, PoolError, Recycle, SandboxPool};
use anyhow::{Context, Result, anyhow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime};
use wasmtime::Store;

/// Phase names, in report order. The `*-start-late` phases are not the
/// pool's: they are how late the request thread started each request after
/// its scheduled time (open loop: its timed wake-up; closed loop: ~0). That
/// lateness is part of `*-ready` and `*-request` (latency counts from the
/// schedule), and reported on its own so a tail can be told apart: thread
/// scheduling vs the acquire itself.
pub const PHASES: [&str; 6] = [
    "inline-ready",
    "inline-request",
    "pooled-acquire",
    "pooled-request",
    "inline-start-late",
    "pooled-start-late",
];

/// The pool's own counters after the pooled phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PoolCounters {
    /// Acquires and sandboxes, by outcome.
    #[serde(flatten)]
    pub counts: PoolCounts,
    /// Median time from the ready count falling below `pool_refill_below`
    /// until the workers brought it back.
    pub refill_lag_p50_ns: u64,
    /// 99th percentile of the same.
    pub refill_lag_p99_ns: u64,
}

/// Result of the pool scenario for one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PoolResult {
    /// Threads sending requests.
    pub threads: u32,
    /// Total request rate (0 = closed loop).
    pub rate: f64,
    /// Timed requests per phase over all threads.
    pub requests: u64,
    /// Phases: `inline-ready` (instantiate + initialise), `inline-request`
    /// (ready + serve), `pooled-acquire`, `pooled-request` (acquire + serve),
    /// and the harness's own lateness in starting each request
    /// (`inline-start-late`, `pooled-start-late`, see [`PHASES`]).
    pub phases: Vec<PhaseLatency>,
    /// `inline-ready` p99 / `pooled-acquire` p99: how much of the
    /// pre-request wait the pool removes at the tail.
    pub ready_p99_over_acquire_p99: f64,
    /// Same at the median.
    pub ready_p50_over_acquire_p50: f64,
    /// Requests per second achieved in the inline phase.
    pub inline_requests_per_sec: f64,
    /// Requests per second achieved in the pooled phase.
    pub pooled_requests_per_sec: f64,
    /// The pool's counters.
    pub counters: PoolCounters,
    /// Memory before the pool was built.
    pub memory_before_pool: MemorySample,
    /// Memory after prewarm.
    pub memory_after_prewarm: MemorySample,
    /// Memory after the pooled requests, pool still alive.
    pub memory_after_requests: MemorySample,
    /// Memory after the pool was dropped (the engine is still alive, so
    /// wasmtime's pooling allocator still holds its slots and whatever
    /// `linear_memory_keep_resident` keeps in them).
    pub memory_after_pool_dropped: MemorySample,
}

/// The pool settings a variant's `[scenario]` describes.
pub fn pool_config(s: &ScenarioSettings) -> PoolConfig {
    PoolConfig {
        capacity: s.pool_capacity as usize,
        prewarm: s.pool_prewarm as usize,
        refill_below: s.pool_refill_below as usize,
        workers: s.pool_workers as usize,
        recycle: match s.pool_recycle {
            PoolRecycle::Discard => Recycle::Discard,
            PoolRecycle::Reuse => Recycle::Reuse {
                max_uses: s.pool_max_uses,
            },
        },
        on_exhausted: OnExhausted::Wait,
    }
}

/// How long before a due time the request thread stops sleeping and spins
/// (a sleep wakes up to ~100 µs late on a loaded host, which would be charged
/// to the request as queueing time).
const POOL_SPIN: Duration = Duration::from_micros(200);

/// Runs the pool scenario in this process.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<(PoolResult, Histograms)> {
    let engine = crate::guest::engine(variant)?;
    let prepared = crate::guest::prepare(engine, variant, artifact)?;
    let s = &variant.scenario;
    let threads = s.threads.max(1) as usize;
    let timeout = Duration::from_millis(s.acquire_timeout_ms);
    // Per-thread interval of the open loop.
    let interval = (s.rate > 0.0).then(|| Duration::from_secs_f64(threads as f64 / s.rate));

    // Phase 1: inline.
    let started = SystemTime::now();
    let steps = (s.warmup + s.iterations) * threads as u64;
    crate::progress::set_total(steps, "inline requests (warmup included)");
    let (inline, inline_wall) = run_threads(threads, s.warmup, s.iterations, interval, |_| {
        let t = Instant::now();
        let (mut store, mut sandbox) = fresh(&prepared)?;
        let ready = t.elapsed();
        let served = serve(&mut store, &mut sandbox, &prepared);
        prepared.teardown(store, sandbox);
        served?;
        Ok(ready)
    })?;

    // Phase 2: pooled.
    let memory_before_pool = memory::sample()?;
    let shared = Arc::new(prepared);
    let prepared = &*shared;
    let (p1, p2, p3) = (
        Arc::clone(&shared),
        Arc::clone(&shared),
        Arc::clone(&shared),
    );
    let warm_up =
        Box::new(move |store: &mut Store<Host>, sandbox: &mut Sandbox| serve(store, sandbox, &p1));
    let pool = SandboxPool::with_instantiate(
        &prepared.engine,
        Box::new(move |store: &mut Store<Host>| p2.instantiate(store)),
        pool_config(s),
        Box::new(move |_: &wasmtime::Engine| p3.new_store()),
        Some(warm_up),
    )
    .map_err(|e| anyhow!("building the sandbox pool: {e}"))?;
    let memory_after_prewarm = memory::sample()?;
    crate::progress::set_total(steps, "pooled requests (warmup included)");
    let (pooled, pooled_wall) = run_threads(threads, s.warmup, s.iterations, interval, |_| {
        let t = Instant::now();
        let mut guard = pool.acquire(timeout).map_err(|e| match e {
            PoolError::Exhausted { .. } => anyhow!("{e}"),
            other => anyhow!("acquire: {other}"),
        })?;
        let ready = t.elapsed();
        let (store, sandbox) = guard.parts();
        if let Err(e) = serve(store, sandbox, prepared) {
            guard.poison();
            return Err(e);
        }
        Ok(ready)
    })?;
    let memory_after_requests = memory::sample()?;
    let m = pool.metrics();
    if let Some(e) = pool.last_refill_error() {
        anyhow::ensure!(
            m.counts.refill_errors == 0,
            "the pool's workers failed: {e}"
        );
    }
    drop(pool);
    let memory_after_pool_dropped = memory::sample()?;

    let requests = s.iterations * threads as u64;
    let hists = [inline.0, inline.1, pooled.0, pooled.1, inline.2, pooled.2];
    let phases: Vec<PhaseLatency> = PHASES
        .iter()
        .zip(&hists)
        .map(|(p, h)| PhaseLatency::of(p, h))
        .collect();
    let p = |i: usize, q: f64| hists[i].value_at_quantile(q).max(1) as f64;
    let per_sec = |wall: Duration| requests as f64 / wall.as_secs_f64().max(1e-9);
    let result = PoolResult {
        threads: threads as u32,
        rate: s.rate,
        requests,
        ready_p99_over_acquire_p99: p(0, 0.99) / p(2, 0.99),
        ready_p50_over_acquire_p50: p(0, 0.5) / p(2, 0.5),
        inline_requests_per_sec: per_sec(inline_wall),
        pooled_requests_per_sec: per_sec(pooled_wall),
        phases,
        counters: PoolCounters {
            counts: m.counts.clone(),
            refill_lag_p50_ns: m.refill_lag.p50_ns,
            refill_lag_p99_ns: m.refill_lag.p99_ns,
        },
        memory_before_pool,
        memory_after_prewarm,
        memory_after_requests,
        memory_after_pool_dropped,
    };
    let wall = inline_wall + pooled_wall;
    Ok((
        result,
        Histograms {
            named: PHASES.iter().map(|p| (*p).to_string()).zip(hists).collect(),
            started,
            wall,
        },
    ))
}

/// A fresh, initialised sandbox (instantiate + the guest's first call).
fn fresh(p: &Prepared) -> Result<(Store<Host>, Sandbox)> {
    let mut store = p.new_store();
    let mut sandbox = p
        .instantiate(&mut store)
        .map_err(|e| anyhow!("instantiating: {e:#}"))?;
    serve(&mut store, &mut sandbox, p)?;
    Ok((store, sandbox))
}

/// One request's work: a call of the guest's workload.
fn serve(store: &mut Store<Host>, sandbox: &mut Sandbox, p: &Prepared) -> Result<()> {
    p.call(store, sandbox)
        .map_err(|e| anyhow!("calling the guest: {e:#}"))
}

/// Runs `request` on `threads` threads: `warmup` untimed requests, then
/// `iterations` timed ones. `request` returns the time until its sandbox was
/// ready; the whole request is timed here. Returns the merged (ready, request,
/// start lateness) histograms and the wall time of the timed part.
fn run_threads<F>(
    threads: usize,
    warmup: u64,
    iterations: u64,
    interval: Option<Duration>,
    request: F,
) -> Result<((Hist, Hist, Hist), Duration)>
where
    F: Fn(usize) -> Result<Duration> + Sync,
{
    let barrier = Barrier::new(threads + 1);
    let (results, wall) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let request = &request;
                let barrier = &barrier;
                scope.spawn(move || -> Result<(Hist, Hist, Hist)> {
                    let mut outcome = Ok(());
                    // Warmup follows the same schedule, so the pool enters the
                    // timed part in the state the rate produces.
                    let warm_start = Instant::now();
                    for i in 0..warmup {
                        if let Some(iv) = interval {
                            latency::wait_until(warm_start + iv.mul_f64(i as f64), POOL_SPIN);
                        }
                        if let Err(e) = request(t) {
                            outcome = Err(e.context(format!("warmup request {i}")));
                            break;
                        }
                        crate::progress::tick(1);
                    }
                    barrier.wait();
                    outcome?;
                    let (mut ready_h, mut req_h, mut late_h) = (
                        latency::new_histogram(),
                        latency::new_histogram(),
                        latency::new_histogram(),
                    );
                    let start = Instant::now();
                    for i in 0..iterations {
                        // Open loop: the request is due at its scheduled time
                        // and its latency counts from then.
                        let due = match interval {
                            Some(iv) => {
                                let due = start + iv.mul_f64(i as f64);
                                latency::wait_until(due, POOL_SPIN);
                                due
                            }
                            None => Instant::now(),
                        };
                        let call_start = Instant::now();
                        let ready = request(t).with_context(|| format!("request {i}"))?;
                        let end = Instant::now();
                        let queued = call_start.saturating_duration_since(due);
                        ready_h.saturating_record((queued + ready).as_nanos().max(1) as u64);
                        req_h.saturating_record((end - due).as_nanos().max(1) as u64);
                        late_h.saturating_record(queued.as_nanos().max(1) as u64);
                        crate::progress::tick(1);
                    }
                    Ok((ready_h, req_h, late_h))
                })
            })
            .collect();
        barrier.wait();
        let t = Instant::now();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a request thread panicked")))
            })
            .collect();
        (results, t.elapsed())
    });
    let mut ready = Vec::with_capacity(threads);
    let mut req = Vec::with_capacity(threads);
    let mut late = Vec::with_capacity(threads);
    for (t, r) in results.into_iter().enumerate() {
        let (a, b, c) = r.with_context(|| format!("request thread {t}"))?;
        ready.push(a);
        req.push(b);
        late.push(c);
    }
    Ok((
        (
            latency::merge(&ready)?,
            latency::merge(&req)?,
            latency::merge(&late)?,
        ),
        wall,
    ))
}

/// Per-request instantiation vs a prewarmed pool, one row per variant.
fn pool_table(rows: &[super::interface::Row<'_, PoolResult>]) -> String {
    use super::interface::{p50_p99, p999_max, phase_summary as phase};
    use crate::units::{duration, mib};
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | threads | rate | requests | inline ready p50 / p99 | pooled acquire p50 / p99 | ready p99 / acquire p99 | inline request p50 / p99 | pooled request p50 / p99 | pooled acquire p99.9 / max | pooled start late p99.9 / max | pooled req/s | hits / misses / exhausted | refill lag p99 | Pss of prewarmed pool | Pss left after pool dropped (engine alive) |\n");
    out.push_str(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let p = row.result;
        let c = &p.counters;
        let base = p.memory_before_pool.pss_bytes as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0}x | {} | {} | {} | {} | {:.0} | {} / {} / {} | {} | {} | {} |",
            row.label,
            p.threads,
            if p.rate > 0.0 {
                format!("{:.0}/s", p.rate)
            } else {
                "closed".into()
            },
            p.requests,
            p50_p99(phase(&p.phases, "inline-ready")),
            p50_p99(phase(&p.phases, "pooled-acquire")),
            p.ready_p99_over_acquire_p99,
            p50_p99(phase(&p.phases, "inline-request")),
            p50_p99(phase(&p.phases, "pooled-request")),
            p999_max(phase(&p.phases, "pooled-acquire")),
            p999_max(phase(&p.phases, "pooled-start-late")),
            p.pooled_requests_per_sec,
            c.counts.hits,
            c.counts.misses,
            c.counts.exhausted,
            duration(c.refill_lag_p99_ns as f64),
            mib(p.memory_after_prewarm.pss_bytes as f64 - base),
            mib(p.memory_after_pool_dropped.pss_bytes as f64 - base),
        );
    }
    out
}

/// The pool scenario: per-request instantiation vs a prewarmed sandbox pool.
pub struct Pool;

impl super::interface::Scenario for Pool {
    type Result = PoolResult;
    const KIND: crate::settings::ScenarioKind = crate::settings::ScenarioKind::Pool;

    /// `pool_capacity` when it holds at least `threads` warm instances, else
    /// `threads` (each worker holds one).
    fn max_live(s: &crate::settings::ScenarioSettings) -> (u32, &'static str) {
        if s.pool_capacity >= s.threads {
            (s.pool_capacity, "pool_capacity")
        } else {
            (s.threads, "threads")
        }
    }

    /// `iterations`, `threads`, the pool's sizes, workers, rate and timeout
    /// within bounds; a guest that can be reused when `pool_recycle = "reuse"`.
    fn validate(v: &Variant) -> std::result::Result<(), crate::settings::Problem> {
        use crate::settings::Problem;
        super::interface::check_iterations_and_threads(&v.scenario)?;
        let s = &v.scenario;
        let p = |key: &'static str, message: String, fix: String| {
            Err(Problem {
                section: "scenario",
                key,
                message,
                fix,
            })
        };
        if s.pool_capacity == 0 {
            return p(
                "pool_capacity",
                "pool_capacity must be at least 1".into(),
                "e.g. pool_capacity = 16".into(),
            );
        }
        if s.pool_prewarm > s.pool_capacity {
            return p(
                "pool_prewarm",
                format!(
                    "pool_prewarm = {} is above pool_capacity = {}",
                    s.pool_prewarm, s.pool_capacity
                ),
                format!("lower pool_prewarm to at most {}", s.pool_capacity),
            );
        }
        if s.pool_refill_below > s.pool_capacity {
            return p(
                "pool_refill_below",
                format!(
                    "pool_refill_below = {} is above pool_capacity = {}: workers could never catch up",
                    s.pool_refill_below, s.pool_capacity
                ),
                format!("lower pool_refill_below to at most {}", s.pool_capacity),
            );
        }
        if s.pool_workers == 0 || s.pool_workers > 64 {
            return p(
                "pool_workers",
                format!("pool_workers = {} is outside 1..=64", s.pool_workers),
                "use 1 or 2 workers per core you can spare for refilling".into(),
            );
        }
        if s.pool_max_uses == 0 {
            return p(
                "pool_max_uses",
                "pool_max_uses must be at least 1".into(),
                "e.g. pool_max_uses = 100".into(),
            );
        }
        if !s.rate.is_finite() || s.rate < 0.0 {
            return p(
                "rate",
                format!("rate = {} is not a request rate", s.rate),
                "give requests per second (e.g. 500.0), or 0 for a closed loop".into(),
            );
        }
        if s.acquire_timeout_ms == 0 {
            return p(
                "acquire_timeout_ms",
                "acquire_timeout_ms must be at least 1".into(),
                "e.g. acquire_timeout_ms = 1000".into(),
            );
        }
        if s.pool_recycle == crate::settings::PoolRecycle::Reuse {
            super::interface::reusable_guest(
                v,
                "pool_recycle",
                "pool_recycle = \"reuse\" serves many requests from one sandbox",
            )?;
        }
        Ok(())
    }

    fn run(v: &Variant, artifact: Option<&Path>) -> Result<(PoolResult, Option<Histograms>)> {
        let (r, h) = run(v, artifact)?;
        Ok((r, Some(h)))
    }

    fn phases(r: &PoolResult) -> &[PhaseLatency] {
        &r.phases
    }

    fn phases_mut(r: &mut PoolResult) -> Option<&mut Vec<PhaseLatency>> {
        Some(&mut r.phases)
    }

    fn charted_phases() -> &'static [&'static str] {
        &["inline-ready", "pooled-acquire"]
    }

    /// Phase p50/p99 and both request rates.
    fn headlines(p: &PoolResult) -> Vec<Headline> {
        let mut out = Vec::new();
        phase_headlines(&p.phases, &mut out);
        let spread = |name: &str| {
            p.phases
                .iter()
                .find(|x| x.phase == name)
                .map_or(MIN_RELATIVE, |x| p50_spread(&x.summary))
        };
        out.push(rate(
            "inline requests / s",
            p.inline_requests_per_sec,
            spread("inline-request"),
        ));
        out.push(rate(
            "pooled requests / s",
            p.pooled_requests_per_sec,
            spread("pooled-request"),
        ));
        out
    }

    /// The pooled acquire's p99.
    fn primary(p: &PoolResult) -> Option<f64> {
        p.phases
            .iter()
            .find(|x| x.phase == "pooled-acquire")
            .map(|x| x.summary.p99_ns as f64)
    }

    /// The pool table and where the histograms are.
    fn report(
        rows: &[super::interface::Row<'_, PoolResult>],
        _ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        let mut out = String::from(
            "\n## Pool: per-request instantiation vs a prewarmed sandbox pool\n\n\
             inline ready = instantiate + the guest's first call on the request's thread; \
             pooled acquire = taking a ready (already initialised) sandbox from the pool. \
             In an open loop (a fixed rate) every latency counts from the request's scheduled time.\n\n",
        );
        out.push_str(&pool_table(rows));
        out.push_str(&super::interface::histogram_folders::<Self>(rows));
        out
    }

    /// The pool table.
    fn summary(
        rows: &[super::interface::Row<'_, PoolResult>],
        _ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        pool_table(rows)
    }
}
