//! Scenario `cold-start`: the time a new host takes to serve its first
//! request, from nothing to the first answer.
//!
//! Each repetition (`warmup` unmeasured ones first, then `iterations`
//! timed ones) starts from nothing and ends with everything dropped. Five
//! clock reads split it into four contiguous phases:
//!
//! ```text
//! t0  Engine::new from the variant's settings
//! t1  the guest's wasm obtained, compiled or deserialized as `[guest] load`
//!     says (compile | bytes | file, from the precompiled artifact), linked
//! t2  Store::new + instantiate of the first sandbox
//! t3  its first workload call, the guest's start-up included (as churn's `call`)
//! t4
//! ```
//!
//! `total` is t0..t4. The compile or deserialize call alone (within `load`)
//! is reported besides, as `module_load`. Teardown (the store, the linked
//! guest, the engine) happens after t4, untimed.
//!
//! Memory is read once, in the first repetition the process runs (warmup
//! or not): right before its engine and right after its first call, every
//! object still alive. The difference is what a cold host holds to serve
//! one request (its engine, the loaded guest, one sandbox, and the process's
//! one-time costs such as library pages first touched).

use crate::host::guest_faults::GuestFaults;
use crate::measure::latency::{self, Hist, Histograms, LatencySummary, PhaseLatency};
use crate::measure::memory::{self, MemorySample};
use crate::metric::{
    Better, Comparison, Headline, MIN_PROCESS_BYTES, MIN_RELATIVE, Unit, p50_speedups,
    phase_headlines,
};
use crate::settings::{Problem, Variant};
use anyhow::{Result, anyhow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Instant, SystemTime};

/// The timed phases of a repetition, in order; also the histogram file names.
pub const PHASES: [&str; 5] = ["engine", "load", "instantiate", "first-call", "total"];

/// The memory headline's metric name.
pub const PSS_METRIC: &str = "first-request Pss";

/// Result of the cold-start scenario for one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColdStartResult {
    /// Timed repetitions (each a new engine, guest and sandbox).
    pub iterations: u64,
    /// Unmeasured repetitions before the timed ones.
    pub warmup: u64,
    /// Per phase, in [`PHASES`] order: `engine` (`Engine::new`), `load` (the
    /// guest's wasm obtained, then compiled or deserialized as `[guest] load`
    /// says, and linked), `instantiate` (`Store::new` + instantiating the
    /// first sandbox), `first-call` (its first workload call, start-up
    /// included) and `total` (all four).
    pub phases: Vec<PhaseLatency>,
    /// The compile or deserialize call alone (`Module::new`,
    /// `Module::deserialize`, `Module::deserialize_file` or the component
    /// equivalents), part of `load`.
    pub module_load: LatencySummary,
    /// Memory right before the first repetition's engine was made.
    pub memory_before: MemorySample,
    /// Memory right after the first repetition's first call, its engine,
    /// guest and sandbox alive.
    pub memory_after_first_call: MemorySample,
    /// `memory_after_first_call` - `memory_before`, Pss: what a cold host
    /// holds to serve one request.
    pub first_request_pss_bytes: f64,
    /// The same difference of Private_Dirty: the memory it wrote.
    pub first_request_private_dirty_bytes: f64,
    /// Guest faults of the timed first calls (each such repetition is still timed).
    #[serde(default)]
    pub faults: GuestFaults,
}

/// The five clock reads of one repetition and the first call's fault, if
/// it faulted (a fault is a result; only a failure to build is an error).
type Clocks = ([Instant; 5], u64, Option<wasmtime::Error>);

/// One repetition: engine, load + link, instantiate, first call, then
/// everything dropped (untimed). With `memory`, reads the memory before the
/// engine and after the first call.
#[inline(never)]
fn repetition(
    v: &Variant,
    artifact: Option<&Path>,
    memory: Option<&mut (MemorySample, MemorySample)>,
) -> Result<Clocks> {
    let before = match memory {
        Some(_) => Some(memory::sample()?),
        None => None,
    };
    let t0 = Instant::now();
    let engine = crate::guest::engine(v)?;
    let t1 = Instant::now();
    let p = crate::guest::prepare(engine, v, artifact)?;
    let t2 = Instant::now();
    let mut store = p.new_store();
    let mut sandbox = p
        .instantiate(&mut store)
        .map_err(|e| anyhow!("instantiating the first sandbox: {e:#}"))?;
    let t3 = Instant::now();
    let fault = p.call(&mut store, &mut sandbox).err();
    let t4 = Instant::now();
    if let (Some(m), Some(before)) = (memory, before) {
        *m = (before, memory::sample()?);
    }
    p.teardown(store, sandbox);
    let load_ns = p.load_ns;
    drop(p);
    Ok(([t0, t1, t2, t3, t4], load_ns, fault))
}

/// Runs the cold-start scenario in this process.
pub fn run(v: &Variant, artifact: Option<&Path>) -> Result<(ColdStartResult, Histograms)> {
    let s = &v.scenario;
    // Every histogram is made (and its pages written) before the first
    // memory reading, so that none of it counts as the host's.
    let mut hists: [Hist; 5] = std::array::from_fn(|_| latency::new_histogram());
    let mut module_load = latency::new_histogram();
    let mut faults = GuestFaults::default();
    let mut mem = (MemorySample::default(), MemorySample::default());
    memory::release_free_heap();

    crate::progress::set_total(s.warmup + s.iterations, "cold starts");
    for i in 0..s.warmup {
        let first = (i == 0).then_some(&mut mem);
        repetition(v, artifact, first).map_err(|e| anyhow!("warmup repetition {i}: {e:#}"))?;
        crate::progress::tick(1);
    }
    let started = SystemTime::now();
    let wall = Instant::now();
    for i in 0..s.iterations {
        let first = (s.warmup == 0 && i == 0).then_some(&mut mem);
        let (t, load_ns, fault) =
            repetition(v, artifact, first).map_err(|e| anyhow!("timed repetition {i}: {e:#}"))?;
        if let Some(f) = fault {
            faults.record(&f);
        }
        let ns = |a: Instant, b: Instant| (b - a).as_nanos().max(1) as u64;
        for (k, h) in hists.iter_mut().take(4).enumerate() {
            h.saturating_record(ns(t[k], t[k + 1]));
        }
        hists[4].saturating_record(ns(t[0], t[4]));
        module_load.saturating_record(load_ns.max(1));
        crate::progress::tick(1);
    }
    let wall = wall.elapsed();

    let (before, after) = mem;
    let diff = |f: fn(&MemorySample) -> u64| f(&after) as f64 - f(&before) as f64;
    let result = ColdStartResult {
        iterations: s.iterations,
        warmup: s.warmup,
        phases: PHASES
            .iter()
            .zip(&hists)
            .map(|(name, h)| PhaseLatency::of(name, h))
            .collect(),
        module_load: LatencySummary::of(&module_load),
        first_request_pss_bytes: diff(|m| m.pss_bytes),
        first_request_private_dirty_bytes: diff(|m| m.private_dirty_bytes),
        memory_before: before,
        memory_after_first_call: after,
        faults,
    };
    let named = PHASES
        .iter()
        .map(|p| p.to_string())
        .zip(hists)
        .collect::<Vec<_>>();
    Ok((
        result,
        Histograms {
            named,
            started,
            wall,
        },
    ))
}

fn phase<'a>(r: &'a ColdStartResult, name: &str) -> Option<&'a PhaseLatency> {
    r.phases.iter().find(|p| p.phase == name)
}

/// The cold-start scenario: a new host's first request, phase by phase.
pub struct ColdStart;

impl super::interface::Scenario for ColdStart {
    type Result = ColdStartResult;
    const KIND: crate::settings::ScenarioKind = crate::settings::ScenarioKind::ColdStart;

    fn validate(v: &Variant) -> Result<(), Problem> {
        if v.scenario.iterations == 0 {
            return Err(Problem {
                section: "scenario",
                key: "iterations",
                message: "cold-start times `iterations` new hosts' first requests; iterations = 0 times none".into(),
                fix: "set [scenario] iterations to at least 1, e.g. iterations = 20 (each repetition builds an engine and loads the guest: keep it small when load = \"compile\")".into(),
            });
        }
        Ok(())
    }

    fn run(v: &Variant, artifact: Option<&Path>) -> Result<(ColdStartResult, Option<Histograms>)> {
        let (r, h) = run(v, artifact)?;
        Ok((r, Some(h)))
    }

    fn phases(r: &ColdStartResult) -> &[PhaseLatency] {
        &r.phases
    }

    fn phases_mut(r: &mut ColdStartResult) -> Option<&mut Vec<PhaseLatency>> {
        Some(&mut r.phases)
    }

    fn charted_phases() -> &'static [&'static str] {
        &["total"]
    }

    /// Phase p50/p99 and the memory a cold host holds for its first request.
    fn headlines(r: &ColdStartResult) -> Vec<Headline> {
        let mut out = Vec::new();
        phase_headlines(&r.phases, &mut out);
        out.push(Headline {
            metric: PSS_METRIC.into(),
            value: r.first_request_pss_bytes,
            unit: Unit::Bytes,
            better: Better::Lower,
            within_rel: MIN_RELATIVE,
            floor_abs: MIN_PROCESS_BYTES,
            timing: false,
            judged: true,
        });
        out
    }

    /// The total's p50.
    fn primary(r: &ColdStartResult) -> Option<f64> {
        phase(r, "total").map(|p| p.summary.p50_ns as f64)
    }

    /// Phase p50 speedups.
    fn vs_baseline(b: &ColdStartResult, x: &ColdStartResult, c: &mut Comparison) {
        p50_speedups(&b.phases, &x.phases, &mut c.p50_speedup);
    }

    fn calls(r: &ColdStartResult) -> Option<(&GuestFaults, u64)> {
        Some((&r.faults, r.iterations))
    }

    fn warnings(r: &ColdStartResult) -> Vec<String> {
        let f = &r.faults;
        if f.total() == 0 {
            return Vec::new();
        }
        vec![format!(
            "guest faults: {} of {} timed first calls faulted; first: {}. Their repetitions are timed like the others.",
            f.total(),
            r.iterations,
            f.first.as_deref().unwrap_or("-")
        )]
    }

    fn report(
        rows: &[super::interface::Row<'_, ColdStartResult>],
        ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        use crate::units::{duration, mib};
        let mut out = String::from("\n## Cold start: a new host's first request\n\n");
        out.push_str(
            "Each repetition starts from nothing and drops everything after its first answer:\n\n\
             - engine: `Engine::new` from the variant's settings.\n\
             - load: the guest's wasm obtained, then compiled or deserialized from the precompiled \
             artifact as `[guest] load` says (compile | bytes | file), and linked.\n\
             - instantiate: `Store::new` and instantiating the first sandbox.\n\
             - first-call: its first workload call, the guest's start-up included (as churn's call).\n\
             - total: all four, from nothing to the first answer.\n\n",
        );
        let _ = writeln!(
            out,
            "Memory = Pss (Private_Dirty) after the first repetition's first call minus before its \
             engine: what a cold host holds to serve one request. Baseline: `{}`; speedups above 1 \
             are faster than the baseline.",
            ctx.baseline
        );
        let ns = |x: f64| duration(x);
        for row in rows {
            let r = row.result;
            let _ = write!(
                out,
                "\n### {}\n\n| phase | p50 | p99 | p50 vs baseline |\n|---|---|---|---|\n",
                row.label
            );
            for p in &r.phases {
                let s = &p.summary;
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    p.phase,
                    row.with_range(&format!("{} p50", p.phase), ns(s.p50_ns as f64), ns),
                    row.with_range(&format!("{} p99", p.phase), ns(s.p99_ns as f64), ns),
                    row.speedup_vs_baseline(ctx, &p.phase),
                );
            }
            let _ = writeln!(
                out,
                "\nCompile or deserialize alone (within load): p50 {}, p99 {}. Memory for the first request: {} ({}).",
                ns(r.module_load.p50_ns as f64),
                ns(r.module_load.p99_ns as f64),
                row.with_range(PSS_METRIC, mib(r.first_request_pss_bytes), mib),
                mib(r.first_request_private_dirty_bytes),
            );
        }
        out
    }

    /// What `run` prints: the variants side by side, one row each (the
    /// report has a table per variant).
    fn summary(
        rows: &[super::interface::Row<'_, ColdStartResult>],
        ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        use crate::units::{duration, mib};
        let ns = |x: f64| duration(x);
        let mut out = String::from(
            "| variant | engine p50 | load p50 | instantiate p50 | first-call p50 | total p50 | total p99 | total p50 vs baseline | first-request Pss |\n\
             |---|---|---|---|---|---|---|---|---|\n",
        );
        for row in rows {
            let r = row.result;
            let p50 = |name: &str| {
                super::interface::phase_summary(&r.phases, name)
                    .map_or("-".to_string(), |s| ns(s.p50_ns as f64))
            };
            let total_p99 = super::interface::phase_summary(&r.phases, "total")
                .map_or("-".to_string(), |s| ns(s.p99_ns as f64));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {total_p99} | {} | {} |",
                row.label,
                p50("engine"),
                p50("load"),
                p50("instantiate"),
                p50("first-call"),
                p50("total"),
                row.speedup_vs_baseline(ctx, "total"),
                mib(r.first_request_pss_bytes),
            );
        }
        out
    }
}
