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

pub use super::PhaseLatency;
use super::{GuestFaults, Histograms, Prepared};
use crate::background::BackgroundLoad;
use crate::measure::dirty::{self, DirtyRegions};
use crate::measure::faults::{self, Contention, FaultSample, FaultSites, ThreadUsage};
use crate::measure::latency::{self, Hist, LatencySummary, TimerFloor};
use crate::measure::memory::{self, MemorySample};
use crate::settings::{Toggle, Variant};
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
    /// Threads cycling concurrently.
    pub threads: u32,
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
    /// Whole cycles of the first half of each thread's iterations.
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

/// Runs the churn scenario in this process.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<(ChurnResult, Histograms)> {
    let timer_floor = latency::timer_floor(100_000);
    let engine = super::engine(variant)?;
    let prepared = super::prepare(engine, variant, artifact)?;
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
