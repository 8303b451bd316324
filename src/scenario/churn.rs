//! Scenario `churn`: instantiate -> call -> drop, over and over, on `threads`
//! threads; how fast a fresh sandbox can be had and thrown away.
//!
//! Each thread keeps its own histograms (no lock, no shared cache line in
//! the timed path) and they are merged after the threads have joined. A cycle
//! is four clock reads:
//!
//! ```text
//! t0  Store::new + instantiate              (linking was done once, before)
//! t1  the first call of the workload, start-up included (see below)
//! t2  teardown: drop(store)                   (instance teardown, slot reset)
//! t3
//! ```
//!
//! What `call` (t1..t2) contains, exactly: the per-call deadline armed
//! (`[scenario] call_deadline_ms`), then the sandbox's one and only call,
//! by kind:
//!
//! * `core`: `_initialize` (when the module exports it), then every call of
//!   the plan's `init`, then every call of its `calls` (arguments copied in
//!   through its allocator, results read and checked);
//! * `wasi-reactor`: `_initialize` (when exported), then `argv` copied in
//!   through `malloc`, `argv_export(argc, argv)`, `free`, output checked;
//! * `python`: `_initialize` (when exported), then one `turn` of `code`
//!   (`wizer.initialize` and `preinit` never run here: only in a snapshot);
//! * `wasi-command`: `_start`, the program's whole start-up and work;
//! * `synthetic`: `run()`;
//! * components: the export's call (`run`, or one wasi:http request: the
//!   request built, handled, the response body read and checked); the host
//!   calls no initialiser (whatever a component runs at start runs inside
//!   instantiate).
//!
//! A variant that starts from a snapshot (`[guest] snapshot`, python
//! `preinit`) has neither: wizer drops `_initialize` from the snapshot's
//! exports and the plan's `init` ran before the snapshot was taken, so its
//! `call` is the workload alone.
//!
//! Recording into the histograms happens after `t3`, outside every phase.
//! Warmup cycles run first and are not timed; memory is read after warmup
//! (all threads parked at a barrier) and again after the timed cycles.

use crate::background::BackgroundLoad;
use crate::guest::Prepared;
use crate::host::guest_faults::GuestFaults;
use crate::measure::dirty::{self, DirtyRegions};
use crate::measure::faults::{self, Contention, FaultSample, FaultSites, ThreadUsage};
pub use crate::measure::latency::PhaseLatency;
use crate::measure::latency::{self, Hist, Histograms, LatencySummary, TimerFloor};
use crate::measure::memory::{self, MemorySample};
use crate::metric::{
    Comparison, Headline, MIN_RELATIVE, count, p50_speedups, p50_spread, phase_headlines, rate,
    ratio,
};
use crate::settings::{Objective, Toggle, TuneSettings, Variant};
use anyhow::{Context, Result, anyhow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Barrier;
use std::time::{Instant, SystemTime};

/// The timed phases of a cycle, in order; also the histogram file names.
pub const PHASES: [&str; 4] = ["instantiate", "call", "drop", "cycle"];

/// Result of the churn scenario for one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChurnResult {
    /// Threads cycling concurrently (in each process).
    pub threads: u32,
    /// Processes that measured the variant at once (`[scenario]
    /// processes`), each with `threads` threads; their figures are merged
    /// here (memory summed over them).
    #[serde(default = "one")]
    pub processes: u32,
    /// Timed cycles per thread.
    pub iterations_per_thread: u64,
    /// Untimed cycles per thread before timing.
    pub warmup_per_thread: u64,
    /// Timed cycles over all threads.
    pub total_cycles: u64,
    /// Wall time of the timed cycles (first thread released to last thread done).
    pub wall_ns: u64,
    /// `total_cycles` / wall time.
    pub cycles_per_sec: f64,
    /// Time to load the module (compile, deserialize or deserialize_file).
    pub module_load_ns: u64,
    /// Per phase, in [`PHASES`] order: `instantiate` (`Store::new` +
    /// instantiate), `call` (the fresh sandbox's only call, its start-up
    /// included: `_initialize` when exported and, for `core`, the plan's
    /// `init` calls before its `calls`; neither when it starts from a
    /// snapshot; see this module's documentation for every kind), `drop`
    /// (teardown, slot reset) and `cycle` (all three).
    pub phases: Vec<PhaseLatency>,
    /// Whole cycles of the first half of each thread's iterations (the first
    /// process's, with several).
    pub cycle_first_half: LatencySummary,
    /// Whole cycles of the second half: a drift from the first half means the
    /// variant had not reached a steady state (or leaks).
    pub cycle_second_half: LatencySummary,
    /// Memory after warmup, all threads parked.
    pub memory_before: MemorySample,
    /// Memory after the timed cycles.
    pub memory_after: MemorySample,
    /// Minor page faults per timed cycle (whole process).
    pub minor_faults_per_cycle: f64,
    /// Major page faults per timed cycle (whole process).
    pub major_faults_per_cycle: f64,
    /// Pss change per 1,000 cycles (the leak signal; noise is a few pages).
    pub pss_growth_per_1000_cycles_bytes: f64,
    /// RSS change per 1,000 cycles.
    pub rss_growth_per_1000_cycles_bytes: f64,
    /// Cost of the clock read itself, measured in the same process.
    pub timer_floor: TimerFloor,
    /// Guest faults in the timed cycles (each such cycle is still timed).
    #[serde(default)]
    pub faults: GuestFaults,
    /// Guest faults in the warmup cycles.
    #[serde(default)]
    pub warmup_faults: GuestFaults,
    /// `[scenario] background_load`: busy threads this process ran during
    /// the timed cycles (a deliberate CPU contention).
    #[serde(default)]
    pub background_load: u32,
    /// The measuring threads' own page faults and context switches, and the
    /// process's storage reads, over the timed cycles.
    #[serde(default)]
    pub contention: Option<Contention>,
    /// With `[scenario] trace_major_faults`: where the timed cycles' major
    /// faults landed and which code took them.
    #[serde(default)]
    pub major_fault_sites: Option<FaultSites>,
    /// The dirty page regions a request leaves in the sandbox's linear
    /// memory for the allocator's reset, from [`DIRTY_SAMPLES`] cycles run
    /// after the timed ones (core-module guests; see [`crate::measure::dirty`]).
    #[serde(default)]
    pub dirty_regions: Option<DirtyRegions>,
}

/// Cycles run after the timed ones (and after the memory is read) whose
/// sandbox's linear memory is scanned for dirty regions between its call and
/// its drop. Untimed: the scan walks page tables.
pub const DIRTY_SAMPLES: u32 = 16;

struct ThreadHists {
    phases: [Hist; 4],
    first_half: Hist,
    second_half: Hist,
    faults: GuestFaults,
    warmup_faults: GuestFaults,
    /// This thread's faults and switches over its timed cycles.
    usage: ThreadUsage,
    /// Sampled major faults and lost samples, or why tracing failed.
    trace: Option<Result<(Vec<FaultSample>, u64), String>>,
}

impl ThreadHists {
    fn new() -> ThreadHists {
        ThreadHists {
            phases: std::array::from_fn(|_| latency::new_histogram()),
            first_half: latency::new_histogram(),
            second_half: latency::new_histogram(),
            faults: GuestFaults::default(),
            warmup_faults: GuestFaults::default(),
            usage: ThreadUsage::default(),
            trace: None,
        }
    }
}

fn one() -> u32 {
    1
}

/// Runs the churn scenario in this process, or, with `[scenario] processes`
/// above 1, in that many worker processes at once ([`crate::workers`]),
/// whose figures it merges.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<(ChurnResult, Histograms)> {
    if variant.scenario.processes > 1 {
        return run_processes(variant, artifact);
    }
    let timer_floor = latency::timer_floor(100_000);
    let engine = crate::guest::engine(variant)?;
    let prepared = crate::guest::prepare(engine, variant, artifact)?;
    let s = &variant.scenario;
    let threads = s.threads.max(1);

    // Two rendezvous: after warmup (memory is read while every thread waits)
    // and the start of the timed cycles.
    let barrier = Barrier::new(threads as usize + 1);
    crate::progress::set_total(
        (s.warmup + s.iterations) * u64::from(threads),
        "cycles (warmup included)",
    );
    let (results, memory_before, memory_after, started, wall, io_read) =
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let prepared = &prepared;
                    let barrier = &barrier;
                    std::thread::Builder::new()
                        .name(format!("churn-{t}"))
                        .spawn_scoped(scope, move || {
                            thread_body(
                                prepared,
                                s.warmup,
                                s.iterations,
                                barrier,
                                s.trace_major_faults,
                            )
                        })
                })
                .collect::<std::io::Result<_>>()?;
            barrier.wait(); // warmup done
            // A worker of several processes meets the others here, so that
            // every process's timed cycles start together.
            let met = crate::workers::rendezvous();
            let before = memory::sample();
            let io_before = faults::io_read_bytes();
            // Started before the clock, stopped after it: the load covers every
            // timed cycle. A failure to start still releases the threads.
            let load = BackgroundLoad::start(s.background_load);
            let started = SystemTime::now();
            let t = Instant::now();
            barrier.wait(); // go
            let results: Vec<_> = handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("a churn thread panicked")))
                })
                .collect();
            let wall = t.elapsed();
            let load = load.map(BackgroundLoad::stop);
            let io_read = faults::io_read_bytes().saturating_sub(io_before);
            let after = memory::sample();
            load.context("starting [scenario] background_load threads")?;
            met?;
            anyhow::Ok((results, before, after, started, wall, io_read))
        })?;

    let mut per_thread = Vec::with_capacity(results.len());
    for (t, r) in results.into_iter().enumerate() {
        per_thread.push(r.with_context(|| format!("churn thread {t}"))?);
    }
    let memory_before = memory_before?;
    let memory_after = memory_after?;
    let dirty_regions = Some(dirty_regions(&prepared, variant));

    let merged: Vec<Hist> = (0..PHASES.len())
        .map(|i| latency::merge(per_thread.iter().map(|h| &h.phases[i])))
        .collect::<Result<_>>()?;
    let first_half = latency::merge(per_thread.iter().map(|h| &h.first_half))?;
    let second_half = latency::merge(per_thread.iter().map(|h| &h.second_half))?;

    let total_cycles = s.iterations * u64::from(threads);
    let usage = per_thread.iter().fold(ThreadUsage::default(), |mut a, h| {
        a.add(&h.usage);
        a
    });
    let major_fault_sites = s.trace_major_faults.then(|| {
        let mut samples = Vec::new();
        let mut lost = 0;
        let mut unavailable = None;
        for h in &per_thread {
            match &h.trace {
                Some(Ok((x, l))) => {
                    samples.extend_from_slice(x);
                    lost += l;
                }
                Some(Err(e)) => unavailable = Some(e.clone()),
                None => {}
            }
        }
        // Read after the timed cycles: the pool's slots (and the artifact
        // mappings) are still mapped; an on-demand instance's memory is not.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let mut sites = faults::attribute(&samples, lost, &faults::parse_maps(&maps));
        sites.unavailable = unavailable;
        sites
    });
    let cycles = total_cycles.max(1) as f64;
    let per_1000 = |after: u64, before: u64| (after as f64 - before as f64) / cycles * 1000.0;
    let wall_ns = wall.as_nanos() as u64;
    let result = ChurnResult {
        threads,
        processes: 1,
        iterations_per_thread: s.iterations,
        warmup_per_thread: s.warmup,
        total_cycles,
        wall_ns,
        cycles_per_sec: total_cycles as f64 / wall.as_secs_f64().max(1e-9),
        module_load_ns: prepared.load_ns,
        phases: PHASES
            .iter()
            .zip(&merged)
            .map(|(phase, h)| PhaseLatency {
                phase: (*phase).to_string(),
                summary: LatencySummary::of(h),
                hlog_path: None,
                hgrm_path: None,
            })
            .collect(),
        cycle_first_half: LatencySummary::of(&first_half),
        cycle_second_half: LatencySummary::of(&second_half),
        minor_faults_per_cycle: memory_after
            .minor_faults
            .saturating_sub(memory_before.minor_faults) as f64
            / cycles,
        major_faults_per_cycle: memory_after
            .major_faults
            .saturating_sub(memory_before.major_faults) as f64
            / cycles,
        pss_growth_per_1000_cycles_bytes: per_1000(memory_after.pss_bytes, memory_before.pss_bytes),
        rss_growth_per_1000_cycles_bytes: per_1000(
            memory_after.vm_rss_bytes,
            memory_before.vm_rss_bytes,
        ),
        memory_before,
        memory_after,
        timer_floor,
        faults: per_thread.iter().fold(GuestFaults::default(), |mut a, h| {
            a.add(&h.faults);
            a
        }),
        warmup_faults: per_thread.iter().fold(GuestFaults::default(), |mut a, h| {
            a.add(&h.warmup_faults);
            a
        }),
        background_load: s.background_load,
        contention: Some(Contention::new(&usage, total_cycles, io_read)),
        major_fault_sites,
        dirty_regions,
    };
    Ok((
        result,
        Histograms {
            named: PHASES
                .iter()
                .map(|p| (*p).to_string())
                .zip(merged)
                .collect(),
            started,
            wall,
        },
    ))
}

/// Measures `variant` in `[scenario] processes` worker processes at once,
/// each at `processes = 1`, and merges their figures: cycles summed over the
/// longest wall, histograms merged, memory and faults summed, per-cycle
/// figures weighted by each process's cycles.
fn run_processes(variant: &Variant, artifact: Option<&Path>) -> Result<(ChurnResult, Histograms)> {
    let n = variant.scenario.processes;
    let mut one = serde_json::to_value(variant)?;
    one["scenario"]["processes"] = 1.into();
    let answers = crate::workers::run(&one, artifact, n)?;
    let crate::workers::Merged {
        results: parts,
        histograms,
        started,
    } = crate::workers::merged::<ChurnResult>(&answers, &PHASES, "churn")?;
    let first = parts.first().context("no worker answered")?.clone();
    let named: Vec<(String, latency::Hist)> = PHASES
        .iter()
        .map(|p| (*p).to_string())
        .zip(histograms)
        .collect();
    let total_cycles: u64 = parts.iter().map(|p| p.total_cycles).sum();
    let cycles = total_cycles.max(1) as f64;
    let weighted = |f: &dyn Fn(&ChurnResult) -> f64| {
        parts
            .iter()
            .map(|p| f(p) * p.total_cycles as f64)
            .sum::<f64>()
            / cycles
    };
    let wall_ns = parts.iter().map(|p| p.wall_ns).max().unwrap_or(0);
    let before = MemorySample::sum(parts.iter().map(|p| &p.memory_before));
    let after = MemorySample::sum(parts.iter().map(|p| &p.memory_after));
    let per_1000 = |a: u64, b: u64| (a as f64 - b as f64) / cycles * 1000.0;
    let contention = parts.iter().all(|p| p.contention.is_some()).then(|| {
        let c = |f: fn(&Contention) -> f64| {
            weighted(&|p: &ChurnResult| p.contention.as_ref().map_or(0.0, f))
        };
        Contention {
            minor_faults_per_cycle: c(|x| x.minor_faults_per_cycle),
            major_faults_per_cycle: c(|x| x.major_faults_per_cycle),
            voluntary_switches_per_cycle: c(|x| x.voluntary_switches_per_cycle),
            involuntary_switches_per_cycle: c(|x| x.involuntary_switches_per_cycle),
            io_read_bytes: parts
                .iter()
                .filter_map(|p| p.contention.as_ref())
                .map(|x| x.io_read_bytes)
                .sum(),
        }
    });
    let fold = |f: fn(&ChurnResult) -> &GuestFaults| {
        parts.iter().fold(GuestFaults::default(), |mut a, p| {
            a.add(f(p));
            a
        })
    };
    let result = ChurnResult {
        threads: first.threads,
        processes: n,
        iterations_per_thread: first.iterations_per_thread,
        warmup_per_thread: first.warmup_per_thread,
        total_cycles,
        wall_ns,
        cycles_per_sec: total_cycles as f64 / (wall_ns as f64 / 1e9).max(1e-9),
        module_load_ns: parts.iter().map(|p| p.module_load_ns).max().unwrap_or(0),
        phases: named
            .iter()
            .map(|(phase, h)| PhaseLatency {
                phase: phase.clone(),
                summary: LatencySummary::of(h),
                hlog_path: None,
                hgrm_path: None,
            })
            .collect(),
        cycle_first_half: first.cycle_first_half,
        cycle_second_half: first.cycle_second_half,
        minor_faults_per_cycle: weighted(&|p| p.minor_faults_per_cycle),
        major_faults_per_cycle: weighted(&|p| p.major_faults_per_cycle),
        pss_growth_per_1000_cycles_bytes: per_1000(after.pss_bytes, before.pss_bytes),
        rss_growth_per_1000_cycles_bytes: per_1000(after.vm_rss_bytes, before.vm_rss_bytes),
        memory_before: before,
        memory_after: after,
        timer_floor: first.timer_floor,
        faults: fold(|p| &p.faults),
        warmup_faults: fold(|p| &p.warmup_faults),
        background_load: first.background_load,
        contention,
        major_fault_sites: None,
        dirty_regions: first.dirty_regions.clone(),
    };
    Ok((
        result,
        Histograms {
            named,
            started,
            wall: std::time::Duration::from_nanos(wall_ns),
        },
    ))
}

/// One thread: warmup, rendezvous, timed cycles. The thread always reaches both
/// barriers, even after an error, so that the others are never left waiting.
fn thread_body(
    p: &Prepared,
    warmup: u64,
    iterations: u64,
    barrier: &Barrier,
    trace_major_faults: bool,
) -> Result<ThreadHists> {
    let mut hists = ThreadHists::new();
    let mut outcome = Ok(());
    for i in 0..warmup {
        match cycle(p) {
            Ok((_, Some(fault))) => hists.warmup_faults.record(&fault),
            Ok(_) => {}
            Err(e) => {
                outcome = Err(e.context(format!("warmup cycle {i}")));
                break;
            }
        }
        if i % 64 == 63 {
            crate::progress::tick(64);
        }
    }
    // Opened before the rendezvous, switched on and off around the timed
    // cycles (outside every phase), read after them.
    let trace = trace_major_faults.then(faults::MajorFaultTrace::open);
    barrier.wait();
    barrier.wait();
    outcome?;
    if let Some(Ok(t)) = &trace {
        t.enable();
    }
    let usage_before = ThreadUsage::now();
    let half = iterations / 2;
    for i in 0..iterations {
        let ([t0, t1, t2, t3], fault) = cycle(p).with_context(|| format!("timed cycle {i}"))?;
        if let Some(f) = fault {
            hists.faults.record(&f);
        }
        let ns = |a: Instant, b: Instant| (b - a).as_nanos() as u64;
        let [inst, call, drop, whole] = &mut hists.phases;
        inst.saturating_record(ns(t0, t1));
        call.saturating_record(ns(t1, t2));
        drop.saturating_record(ns(t2, t3));
        whole.saturating_record(ns(t0, t3));
        if i < half {
            hists.first_half.saturating_record(ns(t0, t3));
        } else {
            hists.second_half.saturating_record(ns(t0, t3));
        }
        if i % 64 == 63 {
            crate::progress::tick(64);
        }
    }
    hists.usage = ThreadUsage::now().since(&usage_before);
    let majors = hists.usage.major_faults;
    hists.trace = trace.map(|t| match t {
        Ok(t) => {
            t.disable();
            let (samples, lost) = t.drain();
            // A full ring buffer drops samples without a record of it: what
            // the thread took and was not sampled is lost too.
            let unsampled = majors.saturating_sub(samples.len() as u64);
            Ok((samples, lost.max(unsampled)))
        }
        Err(e) => Err(format!("perf_event_open refused: {e}")),
    });
    Ok(hists)
}

/// Runs [`DIRTY_SAMPLES`] untimed cycles and scans each sandbox's linear
/// memory between its call and its drop: what the next reset of the slot
/// will find.
fn dirty_regions(p: &Prepared, variant: &Variant) -> DirtyRegions {
    let version = env!("POOLING_LAB_WASMTIME_VERSION");
    let mut scans = Vec::with_capacity(DIRTY_SAMPLES as usize);
    for _ in 0..DIRTY_SAMPLES {
        let mut store = p.new_store();
        let mut sandbox = match p.instantiate(&mut store) {
            Ok(s) => s,
            Err(e) => return DirtyRegions::unavailable(format!("instantiating: {e:#}"), version),
        };
        // Read before the call: the pages kept resident from earlier
        // sandboxes in the slot, to tell them from what this call writes.
        let memory = sandbox.core_memory(&mut store);
        let before = memory.map(|m| {
            // SAFETY: the sandbox's linear memory is live until teardown.
            unsafe { dirty::Before::read(m.data_ptr(&store) as usize, m.data_size(&store)) }
        });
        // A faulting call still leaves its writes: they are what is scanned.
        let _ = p.call(&mut store, &mut sandbox);
        let scanned = match (memory, before) {
            // SAFETY: as above; `after_call` refuses a memory that moved.
            (Some(m), Some(Ok(b))) => {
                unsafe { b.after_call(m.data_ptr(&store) as usize, m.data_size(&store)) }
                    .map_err(|e| format!("PAGEMAP_SCAN failed: {e}"))
            }
            (_, Some(Err(e))) => Err(format!("PAGEMAP_SCAN unavailable on this kernel: {e}")),
            _ => Err("a component's linear memories are not visible to the host".into()),
        };
        p.teardown(store, sandbox);
        match scanned {
            Ok(s) => scans.push(s),
            Err(reason) => return DirtyRegions::unavailable(reason, version),
        }
    }
    let pooled = variant.is_pooling();
    // `auto` means "if the kernel has it": the scans above just used it.
    let reset_by_scan = pooled
        && matches!(
            variant.pooling.pagemap_scan,
            Some(Toggle::Yes | Toggle::Auto)
        );
    let keep = match variant.pooling.linear_memory_keep_resident {
        Some(b) if pooled => b.0,
        _ => 0,
    };
    DirtyRegions::of(&scans, version, reset_by_scan, keep)
}

/// One instantiate -> call -> drop cycle; returns the four clock reads and
/// the guest's fault, if the call faulted (a fault is a result, not an error:
/// the cycle is complete and timed; only a failure to instantiate is an error).
#[inline(never)]
fn cycle(p: &Prepared) -> Result<([Instant; 4], Option<wasmtime::Error>)> {
    let t0 = Instant::now();
    let mut store = p.new_store();
    let mut sandbox = p
        .instantiate(&mut store)
        .map_err(|e| anyhow!("instantiating: {e:#}"))?;
    let t1 = Instant::now();
    let fault = p.call(&mut store, &mut sandbox).err();
    let t2 = Instant::now();
    p.teardown(store, sandbox);
    let t3 = Instant::now();
    Ok(([t0, t1, t2, t3], fault))
}

/// `max / p50` of whole cycles above which a variant is flagged for outliers.
pub const MAX_OVER_P50: f64 = 50.0;
/// `p99 / p50` of whole cycles above which the spread is flagged.
pub const P99_OVER_P50: f64 = 10.0;
/// Relative change of the cycle median between the first and second half of
/// the run above which the variant is flagged as not steady.
pub const HALF_DRIFT: f64 = 0.25;
/// Fewer timed cycles than this are too few for a Pss change per 1,000
/// cycles to point at a leak: a few pages of noise (an allocator arena, a
/// lazily touched table) are then hundreds of KiB per 1,000 cycles.
pub const LEAK_MIN_CYCLES: u64 = 1000;
/// Fewer timed cycles than this make the tail percentiles a handful of samples.
pub const MIN_CYCLES: u64 = 200;
/// A phase median closer than this factor to the clock's own cost is flagged.
pub const TIMER_FLOOR_FACTOR: f64 = 10.0;

/// Warnings for one churn result (empty when its figures look trustworthy),
/// the way hyperfine warns about outliers: computed from the result afterwards.
pub fn warnings(c: &ChurnResult) -> Vec<String> {
    let mut out = Vec::new();
    let f = &c.faults;
    if f.total() > 0 {
        out.push(format!(
            "guest faults: {} of {} timed cycles faulted ({}); first: {}. \
             Their cycles are timed like the others, so the latency figures describe faulting sandboxes.",
            f.total(),
            c.total_cycles,
            f.breakdown(),
            f.first.as_deref().unwrap_or("-")
        ));
    }
    if let Some(d) = &c.dirty_regions {
        out.extend(d.warnings());
    }
    let Some(cycle) = c.phases.iter().find(|p| p.phase == "cycle") else {
        return out;
    };
    let s = &cycle.summary;
    let p50 = s.p50_ns.max(1) as f64;
    if s.max_ns as f64 / p50 > MAX_OVER_P50 {
        out.push(format!(
            "outliers: the slowest cycle took {:.0}x the median; a few cycles were interrupted \
             (scheduler, page reclaim, another process). Read p99.9 rather than max, or rerun on a quieter machine.",
            s.max_ns as f64 / p50
        ));
    }
    if s.p99_ns as f64 / p50 > P99_OVER_P50 {
        out.push(format!(
            "wide spread: p99 is {:.0}x the median, so the median alone misrepresents this variant.",
            s.p99_ns as f64 / p50
        ));
    }
    let (a, b) = (c.cycle_first_half.p50_ns, c.cycle_second_half.p50_ns);
    if a > 0 && b > 0 {
        let drift = (b as f64 - a as f64) / a as f64;
        if drift.abs() > HALF_DRIFT {
            let leak = if c.total_cycles >= LEAK_MIN_CYCLES {
                format!(
                    "or look for a leak: Pss {:+.0} KiB per 1,000 cycles over {} timed cycles",
                    c.pss_growth_per_1000_cycles_bytes / 1024.0,
                    c.total_cycles
                )
            } else {
                format!(
                    "{} timed cycles are too few to judge a leak (at least {LEAK_MIN_CYCLES}); kind = \"soak\" measures one",
                    c.total_cycles
                )
            };
            out.push(format!(
                "not steady: the median cycle {} by {:.0}% from the first half of the run to the second; \
                 raise warmup or iterations ({leak}).",
                if drift > 0.0 { "grew" } else { "shrank" },
                drift.abs() * 100.0,
            ));
        }
    }
    if c.total_cycles < MIN_CYCLES {
        out.push(format!(
            "few samples: {} timed cycles, so p99.9 and max are single cycles.",
            c.total_cycles
        ));
    }
    let floor = c.timer_floor.p50_ns.max(1) as f64;
    for p in &c.phases {
        if p.summary.count > 0 && (p.summary.p50_ns as f64) < floor * TIMER_FLOOR_FACTOR {
            out.push(format!(
                "near the timer floor: {} p50 is {} ns, within {TIMER_FLOOR_FACTOR:.0}x of a clock read ({} ns); \
                 treat it as 'under {} ns'.",
                p.phase,
                p.summary.p50_ns,
                c.timer_floor.p50_ns,
                (floor * TIMER_FLOOR_FACTOR) as u64
            ));
        }
    }
    out
}

/// Churn throughput, faults and memory drift, one row per variant.
fn throughput_table(
    rows: &[super::interface::Row<'_, ChurnResult>],
    ctx: &super::interface::ReportContext<'_>,
) -> String {
    use crate::units::kib_signed;
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | threads | timed cycles | cycles/s | vs baseline | minor faults / cycle | major faults / cycle | Pss change / 1000 cycles | VmRSS change / 1000 cycles | Pss after (all processes) |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let c = row.result;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {} | {} |",
            row.label,
            if c.processes > 1 {
                format!("{} processes x {}", c.processes, c.threads)
            } else {
                c.threads.to_string()
            },
            c.total_cycles,
            if c.faults.every(c.total_cycles) {
                "- (every call failed)".to_string()
            } else {
                row.with_range("cycles / s", format!("{:.0}", c.cycles_per_sec), |x| {
                    format!("{x:.0}")
                })
            },
            row.throughput_vs_baseline(ctx),
            c.minor_faults_per_cycle,
            c.major_faults_per_cycle,
            kib_signed(c.pss_growth_per_1000_cycles_bytes),
            kib_signed(c.rss_growth_per_1000_cycles_bytes),
            crate::units::mib(c.memory_after.pss_bytes as f64),
        );
    }
    out
}

/// The measuring threads' faults, context switches and storage reads over
/// the timed cycles, and where traced major faults landed.
fn contention_table(rows: &[super::interface::Row<'_, ChurnResult>]) -> String {
    use crate::units::mib;
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | threads | background load | minor faults / cycle | major faults / cycle | voluntary switches / cycle | involuntary switches / cycle | read from storage |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut sites = String::new();
    for row in rows {
        let c = row.result;
        let Some(k) = &c.contention else { continue };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            row.label,
            c.threads,
            c.background_load,
            k.minor_faults_per_cycle,
            k.major_faults_per_cycle,
            k.voluntary_switches_per_cycle,
            k.involuntary_switches_per_cycle,
            mib(k.io_read_bytes as f64),
        );
        if let Some(f) = &c.major_fault_sites {
            let top = |xs: &[(String, u64)]| {
                xs.iter()
                    .take(4)
                    .map(|(m, n)| format!("{m}: {n}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(
                sites,
                "| {} | {} | {} | {} | {} | {} |",
                row.name,
                f.sampled,
                f.lost,
                f.distinct_pages,
                f.unavailable.clone().unwrap_or_else(|| top(&f.by_mapping)),
                top(&f.by_code)
            );
        }
    }
    if !sites.is_empty() {
        out.push_str("\nMajor faults of the timed cycles, sampled one by one (perf): the mapping each faulting address lies in, and the code that took it.\n\n");
        out.push_str("| variant | sampled | lost | distinct pages | landed in | taken by code in |\n|---|---:|---:|---:|---|---|\n");
        out.push_str(&sites);
    }
    out
}

/// The dirty page regions a request leaves for the slot's reset, and what
/// the variant's wasmtime does with them; empty when no variant scanned.
fn dirty_table(rows: &[super::interface::Row<'_, ChurnResult>]) -> String {
    use crate::units::mib;
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | samples | regions a request wrote (median / max) | pages a request wrote (median / max) | dirty after the call: regions / pages (median) | pages the measuring build's reset scans as dirty (median / max) | reset by PAGEMAP_SCAN | keep_resident | what the reset does |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---|---:|---|\n");
    let mut scanned = 0;
    for row in rows {
        let Some(d) = row.result.dirty_regions.as_ref() else {
            continue;
        };
        scanned += 1;
        if let Some(why) = &d.unavailable {
            let _ = writeln!(
                out,
                "| {} | - | - | - | - | - | - | - | not scanned: {why} |",
                row.label
            );
            continue;
        }
        let warnings = d.warnings();
        let verdict = if !d.reset_by_scan {
            "no scan: the reset does not look at dirty pages".to_string()
        } else if warnings.is_empty() {
            "resets every dirty page in place".to_string()
        } else {
            warnings.join("; ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} / {} | {} / {} | {} / {} | {} | {} | {} |",
            row.label,
            d.samples,
            d.written_regions_median,
            d.written_regions_max,
            d.written_pages_median,
            d.written_pages_max,
            d.regions_median,
            d.pages_median,
            d.reset_pages_median,
            d.reset_pages_max,
            if d.reset_by_scan { "yes" } else { "no" },
            mib(d.keep_resident_bytes as f64),
            verdict,
        );
    }
    if scanned == 0 { String::new() } else { out }
}

/// Latency percentiles, one row per variant and phase.
fn latency_table(
    rows: &[super::interface::Row<'_, ChurnResult>],
    ctx: &super::interface::ReportContext<'_>,
) -> String {
    use crate::units::duration;
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | phase | p50 | p90 | p99 | p99.9 | max | mean | p50 vs baseline |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        for p in &row.result.phases {
            let s = &p.summary;
            let d = |ns: u64| duration(ns as f64);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.label,
                p.phase,
                d(s.p50_ns),
                d(s.p90_ns),
                d(s.p99_ns),
                d(s.p999_ns),
                d(s.max_ns),
                duration(s.mean_ns),
                row.times(
                    ctx,
                    row.vs_baseline
                        .and_then(|b| b.p50_speedup.get(&p.phase).copied())
                ),
            );
        }
    }
    out
}

/// The clock's own cost across the variants' processes.
fn timer_floor_line(rows: &[super::interface::Row<'_, ChurnResult>]) -> Option<String> {
    let floors: Vec<_> = rows.iter().map(|r| r.result.timer_floor).collect();
    let lo = floors.iter().map(|f| f.p50_ns).min()?;
    let hi = floors.iter().map(|f| f.p50_ns).max()?;
    let min = floors.iter().map(|f| f.min_ns).min()?;
    let range = if lo == hi {
        format!("{lo} ns")
    } else {
        format!("{lo}-{hi} ns")
    };
    Some(format!(
        "Timer floor: one clock read costs {range} (median of back-to-back `Instant::now()` pairs; \
         fastest {min} ns), so every figure above carries that much of the clock itself."
    ))
}

/// Where the full histograms of each variant were saved, with their phases.
fn histogram_files(rows: &[super::interface::Row<'_, ChurnResult>]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for row in rows {
        let c = row.result;
        let Some(dir) = c
            .phases
            .iter()
            .find_map(|p| p.hlog_path.as_deref())
            .and_then(|p| Path::new(p).parent())
        else {
            continue;
        };
        let _ = writeln!(
            out,
            "- {}: `{}/` ({})",
            row.name,
            dir.display(),
            c.phases
                .iter()
                .map(|p| p.phase.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

/// The churn scenario: instantiate -> call -> drop, again and again.
pub struct Churn;

impl super::interface::Scenario for Churn {
    type Result = ChurnResult;
    const KIND: crate::settings::ScenarioKind = crate::settings::ScenarioKind::Churn;
    const PROCESSES: bool = true;

    /// `background_load` and `trace_major_faults`, when set: only churn
    /// measures them.
    fn own_keys_set(s: &crate::settings::ScenarioSettings) -> Vec<&'static str> {
        let mut set = Vec::new();
        if s.background_load > 0 {
            set.push("background_load");
        }
        if s.trace_major_faults {
            set.push("trace_major_faults");
        }
        set
    }

    /// `iterations`, `threads` and `processes` within bounds; several
    /// processes trace no major faults (each would trace its own).
    fn validate(v: &Variant) -> std::result::Result<(), crate::settings::Problem> {
        let s = &v.scenario;
        super::interface::check_iterations_and_threads(s)?;
        super::interface::check_processes(s)?;
        if s.processes > 1 && s.trace_major_faults {
            return Err(crate::settings::Problem {
                section: "scenario",
                key: "trace_major_faults",
                message: format!(
                    "trace_major_faults traces one process's faults, and processes = {}",
                    s.processes
                ),
                fix: "trace with processes = 1".into(),
            });
        }
        Ok(())
    }

    /// `threads` sandboxes in each process (each process has its own pool).
    fn max_live(s: &crate::settings::ScenarioSettings) -> (u32, &'static str) {
        (s.threads, "threads")
    }

    fn run(v: &Variant, artifact: Option<&Path>) -> Result<(ChurnResult, Option<Histograms>)> {
        let (r, h) = run(v, artifact)?;
        Ok((r, Some(h)))
    }

    fn phases(r: &ChurnResult) -> &[PhaseLatency] {
        &r.phases
    }

    fn phases_mut(r: &mut ChurnResult) -> Option<&mut Vec<PhaseLatency>> {
        Some(&mut r.phases)
    }

    fn charted_phases() -> &'static [&'static str] {
        &["cycle"]
    }

    /// Phase p50/p99, cycles/s and faults per cycle.
    fn headlines(c: &ChurnResult) -> Vec<Headline> {
        let mut out = Vec::new();
        phase_headlines(&c.phases, &mut out);
        let cycle = c
            .phases
            .iter()
            .find(|p| p.phase == "cycle")
            .map_or(MIN_RELATIVE, |p| p50_spread(&p.summary));
        if !c.faults.every(c.total_cycles) {
            out.push(rate("cycles / s", c.cycles_per_sec, cycle));
        }
        out.push(count("minor faults / cycle", c.minor_faults_per_cycle));
        out.push(count("major faults / cycle", c.major_faults_per_cycle));
        out
    }

    /// Cycles per second (`None` when every cycle's call failed).
    fn primary(c: &ChurnResult) -> Option<f64> {
        (!c.faults.every(c.total_cycles)).then_some(c.cycles_per_sec)
    }

    /// Phase p50 speedups and the cycles/s ratio; none when every call of
    /// either run failed.
    fn vs_baseline(b: &ChurnResult, x: &ChurnResult, c: &mut Comparison) {
        if b.faults.every(b.total_cycles) || x.faults.every(x.total_cycles) {
            return;
        }
        p50_speedups(&b.phases, &x.phases, &mut c.p50_speedup);
        c.throughput_ratio = ratio(x.cycles_per_sec, b.cycles_per_sec);
    }

    fn calls(c: &ChurnResult) -> Option<(&GuestFaults, u64)> {
        Some((&c.faults, c.total_cycles))
    }

    fn warnings(c: &ChurnResult) -> Vec<String> {
        warnings(c)
    }

    fn objectives() -> &'static [Objective] {
        &[Objective::SandboxesPerSecond, Objective::P99TimeToReady]
    }

    /// Sandboxes per second, or the instantiate p99 (negated: higher is better).
    fn score(t: &TuneSettings, c: &ChurnResult) -> Result<super::interface::Score, String> {
        let inst = c
            .phases
            .iter()
            .find(|p| p.phase == "instantiate")
            .ok_or("no instantiate latency")?
            .summary;
        let value = match t.objective {
            Objective::SandboxesPerSecond => c.cycles_per_sec,
            _ => -(inst.p99_ns as f64),
        };
        Ok(super::interface::Score {
            value,
            rate: c.cycles_per_sec,
            latency: inst,
            memory_bytes: None,
        })
    }

    /// Throughput, latency per phase, what a request leaves for the reset,
    /// the measuring threads' faults and waits, the timer floor and where
    /// the histograms are.
    fn report(
        rows: &[super::interface::Row<'_, ChurnResult>],
        ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        let mut out = format!(
            "## Churn: throughput, faults, memory drift\n\nBaseline: `{}`. Ratios above 1 are better than the baseline.\n\n",
            ctx.baseline
        );
        out.push_str(&throughput_table(rows, ctx));
        out.push_str("\n## Churn: latency per phase\n\n");
        out.push_str(
            "instantiate = `Store::new` + `InstancePre::instantiate`; call = the fresh \
             sandbox's only call, its start-up included: `_initialize` when the module exports \
             it (reactor, python, core) and, for a `core` plan, its `init` calls before its \
             `calls` (a command's start-up is inside `_start`; the host calls no initialiser \
             of a component); from a snapshot neither runs (wizer dropped `_initialize`, \
             `init` ran before the snapshot), so call is the workload alone; drop = \
             dropping the store (teardown, slot reset); cycle = all three.\n\n",
        );
        out.push_str(&latency_table(rows, ctx));
        let dirty = dirty_table(rows);
        if !dirty.is_empty() {
            out.push_str(
                "\n## Churn: what a request leaves for the slot's reset\n\n\
                 Dirty page regions (disjoint runs of written, private pages) in the sandbox's \
                 linear memory right after its call, read with PAGEMAP_SCAN the way wasmtime's \
                 reset reads them, in untimed cycles after the timed ones. With keep-resident \
                 memory they include the pages kept from earlier sandboxes in the slot: what the \
                 next reset scans. Up to wasmtime 49 one reset handles 32 regions and decommits \
                 the rest; wasmtime 50 resumes the scan until `linear_memory_keep_resident` is \
                 spent; 50.0.0-50.0.2 ask for written pages whether present or not, which the \
                 kernel also reports for never-touched pages in a page table the guest touched; \
                 50.0.3 asks for present (or swapped) written pages only (the column \
                 \"pages the measuring build's reset scans as dirty\", by the wasmtime of the \
                 build that measured the variant).\n\n",
            );
            out.push_str(&dirty);
        }
        let contention = contention_table(rows);
        if contention.lines().count() > 2 {
            out.push_str(
                "\n## Churn: faults and waits of the measuring threads\n\n\
                 Per timed cycle, the measuring threads' own figures (getrusage per thread): a \
                 voluntary switch is a thread going to sleep (a lock, I/O), an involuntary one \
                 the scheduler preempting it. Linux counts a retried fault (one that waited for \
                 a locked page) as major; \"read from storage\" tells real page-ins apart.\n\n",
            );
            out.push_str(&contention);
        }
        if let Some(line) = timer_floor_line(rows) {
            out.push_str(&format!("\n{line}\n"));
        }
        let files = histogram_files(rows);
        if !files.is_empty() {
            out.push_str(
                "\nFull histograms, relative to this file: `.hlog` (HdrHistogram interval log, \
                 V2 compressed) and `.hgrm` (percentile distribution in microseconds, for \
                 HdrHistogram's plotter):\n\n",
            );
            out.push_str(&files);
        }
        out
    }

    /// The throughput table.
    fn summary(
        rows: &[super::interface::Row<'_, ChurnResult>],
        ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        throughput_table(rows, ctx)
    }
}

/// A churn result for tests: `phases` with their summaries, `cycles`
/// timed cycles at `cycles_per_sec`; every other figure zero.
#[cfg(test)]
pub(crate) fn fixture(
    phases: &[(&str, LatencySummary)],
    cycles: u64,
    cycles_per_sec: f64,
) -> crate::scenario::ScenarioResult {
    let flat = LatencySummary {
        count: 10,
        min_ns: 1,
        mean_ns: 1.0,
        stdev_ns: 0.0,
        p50_ns: 1,
        p90_ns: 1,
        p99_ns: 1,
        p999_ns: 1,
        max_ns: 1,
    };
    crate::scenario::ScenarioResult::Churn(ChurnResult {
        threads: 1,
        processes: 1,
        iterations_per_thread: cycles,
        warmup_per_thread: 0,
        total_cycles: cycles,
        wall_ns: 1,
        cycles_per_sec,
        module_load_ns: 0,
        phases: phases
            .iter()
            .map(|(name, summary)| PhaseLatency {
                phase: name.to_string(),
                summary: *summary,
                hlog_path: None,
                hgrm_path: None,
            })
            .collect(),
        cycle_first_half: flat,
        cycle_second_half: flat,
        memory_before: MemorySample::default(),
        memory_after: MemorySample::default(),
        minor_faults_per_cycle: 0.0,
        major_faults_per_cycle: 0.0,
        pss_growth_per_1000_cycles_bytes: 0.0,
        rss_growth_per_1000_cycles_bytes: 0.0,
        timer_floor: TimerFloor {
            samples: 1,
            min_ns: 1,
            p50_ns: 1,
            p99_ns: 1,
        },
        faults: Default::default(),
        warmup_faults: Default::default(),
        background_load: 0,
        contention: None,
        major_fault_sites: None,
        dirty_regions: None,
    })
}

#[cfg(test)]
mod warning_tests {
    use super::*;
    use crate::measure::latency::{LatencySummary, TimerFloor};

    fn summary(p50: u64, p99: u64, max: u64) -> LatencySummary {
        LatencySummary {
            count: 1000,
            min_ns: p50,
            mean_ns: p50 as f64,
            stdev_ns: 0.0,
            p50_ns: p50,
            p90_ns: p50,
            p99_ns: p99,
            p999_ns: p99,
            max_ns: max,
        }
    }

    fn result(cycle: LatencySummary, first: u64, second: u64, cycles: u64) -> ChurnResult {
        let crate::scenario::ScenarioResult::Churn(mut c) =
            fixture(&[("cycle", cycle)], cycles, 1.0)
        else {
            unreachable!()
        };
        c.cycle_first_half = summary(first, first, first);
        c.cycle_second_half = summary(second, second, second);
        c.timer_floor = TimerFloor {
            samples: 1,
            min_ns: 20,
            p50_ns: 20,
            p99_ns: 30,
        };
        c
    }

    #[test]
    fn steady_tight_run_has_no_warning() {
        let c = result(summary(10_000, 20_000, 40_000), 10_000, 10_400, 2000);
        assert!(warnings(&c).is_empty(), "{:?}", warnings(&c));
    }

    #[test]
    fn each_problem_is_named() {
        let w = warnings(&result(
            summary(10_000, 200_000, 5_000_000),
            10_000,
            10_000,
            2000,
        ));
        assert!(w.iter().any(|w| w.starts_with("outliers")), "{w:?}");
        assert!(w.iter().any(|w| w.starts_with("wide spread")), "{w:?}");
        let w = warnings(&result(
            summary(10_000, 10_000, 10_000),
            8_000,
            12_000,
            2000,
        ));
        assert!(w.iter().any(|w| w.contains("grew by 50%")), "{w:?}");
        // 2000 cycles: enough to point at a leak, naming how many.
        assert!(
            w.iter()
                .any(|w| w.contains("look for a leak") && w.contains("over 2000 timed cycles")),
            "{w:?}"
        );
        // The same drift over 50 cycles: too few to judge a leak, and it says so.
        let w = warnings(&result(summary(10_000, 10_000, 10_000), 8_000, 12_000, 50));
        assert!(!w.iter().any(|w| w.contains("look for a leak")), "{w:?}");
        assert!(
            w.iter().any(|w| w.contains(&format!(
                "50 timed cycles are too few to judge a leak (at least {LEAK_MIN_CYCLES})"
            ))),
            "{w:?}"
        );
        let w = warnings(&result(summary(100, 100, 100), 100, 100, 50));
        assert!(w.iter().any(|w| w.starts_with("few samples")), "{w:?}");
        assert!(
            w.iter().any(|w| w.starts_with("near the timer floor")),
            "{w:?}"
        );
    }

    #[test]
    fn a_run_whose_every_call_failed_shows_no_rate_and_no_ratio() {
        use super::super::interface::Scenario as _;
        let empty = || crate::metric::Comparison {
            baseline: "b".into(),
            p50_speedup: Default::default(),
            throughput_ratio: None,
            pss_per_instance_ratio: None,
            rounds: 1,
            throughput_ratio_range: None,
            p50_speedup_range: Default::default(),
            server_pss_ratio: None,
        };
        let ok = result(summary(10_000, 10_000, 10_000), 10_000, 10_000, 100);
        let mut failed = ok.clone();
        failed.faults.checks = 100;
        assert_eq!(Churn::primary(&ok), Some(1.0));
        assert_eq!(Churn::primary(&failed), None);
        // One failure short of all: still a rate.
        failed.faults.checks = 99;
        assert_eq!(Churn::primary(&failed), Some(1.0));
        failed.faults.checks = 100;
        for (b, x) in [(&ok, &failed), (&failed, &ok)] {
            let mut c = empty();
            Churn::vs_baseline(b, x, &mut c);
            assert_eq!(c.throughput_ratio, None);
        }
        let mut c = empty();
        Churn::vs_baseline(&ok, &ok, &mut c);
        assert_eq!(c.throughput_ratio, Some(1.0));
    }
}
