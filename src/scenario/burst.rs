//! Scenario `burst`: a host's day in one run. Load ramps to a peak of
//! sandboxes alive at once, holds there, drops to a trickle (idle), and the
//! host then calls wasmtime's `Engine::release_idle_pool_memory` on the
//! `[scenario] release_idle` policy.
//!
//! Why it matters: a pooling engine with `linear_memory_keep_resident` (and
//! the table and stack equivalents) leaves every slot that was warm at the
//! peak with its pages resident afterwards: resident memory follows peak
//! concurrency, not current load (wasmtime issue #14413). The release call
//! (wasmtime 50) decommits the linear memory of every warm, unused slot and
//! returns the bytes wasmtime counted as resident in them (the pages its
//! reset kept: with `pagemap_scan` the written regions it reset in place,
//! without it the first `linear_memory_keep_resident` bytes it memset). The
//! slot keeps its affinity and its copy-on-write image mapping; what the
//! next sandbox in it pays is the page faults for the pages it touches.
//! Tables and fiber stacks kept resident are not released by it.
//!
//! ```text
//! loaded     module loaded, no sandbox yet                     memory read
//! ramp       ramp_steps waves of peak/ramp_steps, ... sandboxes memory read at each, all alive
//! peak       peak_waves waves of `peak` sandboxes (timed)      memory read with all alive (last wave)
//! after peak every sandbox dropped: the slots are warm         memory read
//! idle       idle_s seconds, a request every idle_every_ms     (releases on a timer with `every`)
//! end of idle                                                  memory read
//! before     probe_requests requests, one after another (timed)
//! release    Engine::release_idle_pool_memory (timed; not with `never`)  memory read
//! after      probe_requests requests, one after another (timed) memory read
//! ```
//!
//! A wave spreads its sandboxes over `threads` threads: each instantiates
//! and calls its share (each instantiate and call timed), all wait until
//! every sandbox of the wave is alive, then each drops its share (each drop
//! timed). The peak's requests per second divide the wave's sandboxes by the
//! wave's time without the rendezvous (the memory reading waits there).
//! Memory is the whole process's (smaps_rollup), read untimed; wasmtime's
//! own pool metrics (`unused_warm_memories`, `unused_memory_bytes_resident`)
//! are read beside it. Page faults of a probe request are its thread's
//! (getrusage), read around the cycle.
//!
//! With `[scenario] processes = N` the burst runs in N worker processes
//! started together ([`crate::workers`]), each with its own engine and pool,
//! `peak / N` of the peak's sandboxes and `threads` threads, and a trickle
//! N times sparser: the host's peak and idle load are the same as one
//! process's. Each runs every step of the run itself (they are not held in
//! lock-step after the start) and calls the release on its own engine; the
//! result sums their readings point by point ([`merge_workers`]).

use crate::guest::Prepared;
use crate::host::guest_faults::GuestFaults;
use crate::measure::faults::{self, Contention, ThreadUsage};
use crate::measure::latency::{self, Hist, Histograms, LatencySummary, PhaseLatency};
use crate::measure::memory::{self, MemorySample};
use crate::metric::{
    Better, Comparison, Headline, MIN_PROCESS_BYTES, MIN_RELATIVE, Unit, p50_speedups, p50_spread,
    rate, ratio,
};
use crate::settings::{Objective, Problem, ReleaseIdle, ScenarioSettings, TuneSettings, Variant};
use crate::units::{duration, mib};
use anyhow::{Context, Result, anyhow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime};

/// The timed phases, in report order; also the histogram file names.
pub const PHASES: [&str; 6] = [
    "peak-instantiate",
    "peak-call",
    "peak-drop",
    "idle-cycle",
    "before-release",
    "after-release",
];

/// The memory readings' names, in the order a run takes them (`ramp k/N`
/// readings come between `loaded` and `peak`).
pub const LOADED: &str = "loaded";
/// Every sandbox of the last peak wave alive.
pub const PEAK: &str = "peak";
/// Every sandbox dropped: the slots used at the peak are warm.
pub const AFTER_PEAK: &str = "after peak";
/// After `idle_s` of idle.
pub const END_OF_IDLE: &str = "end of idle";
/// Right after the release call at the end of idle.
pub const AFTER_RELEASE: &str = "after release";
/// After the probe requests that follow the release point.
pub const AFTER_PROBE: &str = "after probe";

/// One memory reading of a burst.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BurstMemory {
    /// Which point of the run (`loaded`, `ramp 2/4`, `peak`, `after peak`,
    /// `end of idle`, `after release`, `after probe`).
    pub phase: String,
    /// Milliseconds since the module was loaded.
    pub at_ms: u64,
    /// Sandboxes alive when it was read.
    pub live: u32,
    /// `Pss` (smaps_rollup).
    pub pss_bytes: u64,
    /// `Rss` (smaps_rollup).
    pub rss_bytes: u64,
    /// `Private_Dirty` (smaps_rollup).
    pub private_dirty_bytes: u64,
    /// wasmtime's count of warm, unused memory slots (absent on-demand).
    pub pool_unused_warm_memories: Option<u32>,
    /// wasmtime's count of bytes those slots keep resident.
    pub pool_unused_resident_bytes: Option<u64>,
}

/// One `Engine::release_idle_pool_memory` call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BurstRelease {
    /// Milliseconds since the module was loaded.
    pub at_ms: u64,
    /// Whether it was the release at the end of idle (else a timed one
    /// during idle, `release_idle = "every"`).
    pub end_of_idle: bool,
    /// What the call returned: the bytes wasmtime counted as resident in the
    /// slots it released.
    pub bytes_released: u64,
    /// How long the call took.
    pub call_ns: u64,
    /// Pss right before the call.
    pub pss_before_bytes: u64,
    /// Pss right after it.
    pub pss_after_bytes: u64,
}

/// Requests timed one after another around the release point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BurstProbe {
    /// Requests (a fresh sandbox each).
    pub requests: u64,
    /// The first request's whole cycle (instantiate, call, drop).
    pub first_cycle_ns: u64,
    /// The first request's page faults (its thread's, minor).
    pub first_minor_faults: u64,
    /// Minor page faults per request, over all of them.
    pub minor_faults_per_request: f64,
    /// The cycles' latency.
    pub cycle: LatencySummary,
}

/// Result of the burst scenario for one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BurstResult {
    /// Threads a wave's sandboxes are spread over (in each process).
    pub threads: u32,
    /// Processes the burst ran in (`[scenario] processes`); with more than
    /// one, every figure is merged over them ([`merge_workers`]).
    #[serde(default = "one")]
    pub processes: u32,
    /// Sandboxes alive at once at the peak.
    pub peak: u32,
    /// Waves at the peak.
    pub peak_waves: u64,
    /// Seconds of idle.
    pub idle_s: f64,
    /// The release policy.
    pub release_idle: ReleaseIdle,
    /// Time to load the module.
    pub module_load_ns: u64,
    /// Requests (sandboxes) of the peak waves.
    pub peak_requests: u64,
    /// Peak requests per wall second, the waves' rendezvous left out.
    pub peak_requests_per_sec: f64,
    /// Minor page faults per peak request (whole process).
    pub peak_minor_faults_per_request: f64,
    /// The peak's threads, per peak request: their own faults and context
    /// switches while they instantiated, called and dropped (the waves'
    /// rendezvous left out). Absent in results made before it was recorded.
    #[serde(default)]
    pub peak_contention: Option<Contention>,
    /// Requests during idle.
    pub idle_requests: u64,
    /// Memory at each point of the run, in order.
    pub memory: Vec<BurstMemory>,
    /// Every release call, in order.
    pub releases: Vec<BurstRelease>,
    /// The requests right before the release point.
    pub before: BurstProbe,
    /// The requests right after it (after the release call, when the policy
    /// makes one).
    pub after: BurstProbe,
    /// Per phase, in [`PHASES`] order.
    pub phases: Vec<PhaseLatency>,
    /// Guest faults over every request of the run.
    #[serde(default)]
    pub faults: GuestFaults,
}

impl BurstResult {
    /// The memory reading called `phase`.
    pub fn at(&self, phase: &str) -> Option<&BurstMemory> {
        self.memory.iter().find(|m| m.phase == phase)
    }

    /// Pss once the release point has passed: right after the release call,
    /// or at the end of idle when the policy never releases.
    pub fn pss_after_release_point(&self) -> Option<u64> {
        self.at(AFTER_RELEASE)
            .or_else(|| self.at(END_OF_IDLE))
            .map(|m| m.pss_bytes)
    }

    /// The release at the end of idle, if the policy made one.
    pub fn final_release(&self) -> Option<&BurstRelease> {
        self.releases.iter().rev().find(|r| r.end_of_idle)
    }

    /// Every request of the run.
    pub fn total_requests(&self) -> u64 {
        self.peak_requests + self.idle_requests + self.before.requests + self.after.requests
    }

    /// The day's average Pss with `idle_share` of it idle:
    /// `(1 - idle_share) x peak + idle_share x after the release point`.
    pub fn day_average_pss(&self, idle_share: f64) -> Option<f64> {
        let peak = self.at(PEAK)?.pss_bytes as f64;
        let idle = self.pss_after_release_point()? as f64;
        Some((1.0 - idle_share) * peak + idle_share * idle)
    }
}

fn one() -> u32 {
    1
}

/// What a run collects before it becomes a [`BurstResult`].
struct Recorder<'a> {
    prepared: &'a Prepared,
    started: Instant,
    memory: Vec<BurstMemory>,
    releases: Vec<BurstRelease>,
    faults: GuestFaults,
}

impl Recorder<'_> {
    fn read(&mut self, phase: &str, live: u32) -> Result<MemorySample> {
        let m = memory::sample()?;
        let pool = self.prepared.engine.pooling_allocator_metrics();
        self.memory.push(BurstMemory {
            phase: phase.to_string(),
            at_ms: self.started.elapsed().as_millis() as u64,
            live,
            pss_bytes: m.pss_bytes,
            rss_bytes: m.rss_bytes,
            private_dirty_bytes: m.private_dirty_bytes,
            pool_unused_warm_memories: pool.as_ref().map(|p| p.unused_warm_memories()),
            pool_unused_resident_bytes: pool
                .as_ref()
                .map(|p| p.unused_memory_bytes_resident() as u64),
        });
        Ok(m)
    }

    /// Calls `Engine::release_idle_pool_memory`, timed, Pss read around it.
    fn release(&mut self, end_of_idle: bool) -> Result<()> {
        let before = memory::sample()?;
        let t = Instant::now();
        let bytes = self.prepared.engine.release_idle_pool_memory();
        let call_ns = t.elapsed().as_nanos() as u64;
        let after = memory::sample()?;
        self.releases.push(BurstRelease {
            at_ms: self.started.elapsed().as_millis() as u64,
            end_of_idle,
            bytes_released: bytes as u64,
            call_ns,
            pss_before_bytes: before.pss_bytes,
            pss_after_bytes: after.pss_bytes,
        });
        Ok(())
    }

    /// One request: a fresh sandbox instantiated, called and dropped; its
    /// whole cycle and its thread's minor faults.
    fn request(&mut self) -> Result<(u64, u64)> {
        let p = self.prepared;
        let u0 = ThreadUsage::now();
        let t0 = Instant::now();
        let mut store = p.new_store();
        let mut sandbox = p
            .instantiate(&mut store)
            .map_err(|e| anyhow!("instantiating: {e:#}"))?;
        let fault = p.call(&mut store, &mut sandbox).err();
        p.teardown(store, sandbox);
        let ns = t0.elapsed().as_nanos() as u64;
        let faults = ThreadUsage::now().since(&u0).minor_faults;
        if let Some(f) = fault {
            self.faults.record(&f);
        }
        Ok((ns, faults))
    }

    /// `n` requests one after another.
    fn probe(&mut self, n: u64) -> Result<(BurstProbe, Hist)> {
        let mut h = latency::new_histogram();
        let mut first = (0, 0);
        let mut faults = 0;
        for i in 0..n {
            let (ns, f) = self.request()?;
            if i == 0 {
                first = (ns, f);
            }
            faults += f;
            h.saturating_record(ns);
        }
        Ok((
            BurstProbe {
                requests: n,
                first_cycle_ns: first.0,
                first_minor_faults: first.1,
                minor_faults_per_request: faults as f64 / n.max(1) as f64,
                cycle: LatencySummary::of(&h),
            },
            h,
        ))
    }
}

/// One thread's share of a wave: its figures.
struct Share {
    instantiate: Hist,
    call: Hist,
    drop: Hist,
    faults: GuestFaults,
    /// The thread's faults and context switches while it instantiated,
    /// called and dropped (not while it waited at the rendezvous).
    usage: ThreadUsage,
}

/// Runs one wave of `live` sandboxes over `threads` threads; with `read`,
/// the memory is read while every sandbox is alive. Returns the threads'
/// figures and the wave's time without the rendezvous.
fn wave(
    p: &Prepared,
    live: u32,
    threads: u32,
    read: Option<(&mut Recorder<'_>, &str)>,
) -> Result<(Vec<Share>, Duration)> {
    let threads = threads.clamp(1, live.max(1));
    let barrier = Barrier::new(threads as usize + 1);
    let t = Instant::now();
    let (shares, parked) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let n = live / threads + u32::from(i < live % threads);
                let barrier = &barrier;
                std::thread::Builder::new()
                    .name(format!("burst-{i}"))
                    .spawn_scoped(scope, move || share(p, n, barrier))
            })
            .collect::<std::io::Result<_>>()?;
        barrier.wait(); // every sandbox alive
        let parked = Instant::now();
        let reading = match read {
            Some((rec, phase)) => rec.read(phase, live).map(|_| ()),
            None => Ok(()),
        };
        let parked = parked.elapsed();
        barrier.wait(); // drop
        let shares: Vec<_> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a burst thread panicked")))
            })
            .collect();
        reading?;
        anyhow::Ok((shares, parked))
    })?;
    let wall = t.elapsed().saturating_sub(parked);
    let shares = shares.into_iter().collect::<Result<Vec<_>>>()?;
    Ok((shares, wall))
}

/// One thread of a wave: instantiates and calls `n` sandboxes, waits for the
/// others, drops them. It reaches both rendezvous even after an error.
fn share(p: &Prepared, n: u32, barrier: &Barrier) -> Result<Share> {
    let mut out = Share {
        instantiate: latency::new_histogram(),
        call: latency::new_histogram(),
        drop: latency::new_histogram(),
        faults: GuestFaults::default(),
        usage: ThreadUsage::default(),
    };
    let mut alive = Vec::with_capacity(n as usize);
    let mut outcome = Ok(());
    let u0 = ThreadUsage::now();
    for _ in 0..n {
        let t0 = Instant::now();
        let mut store = p.new_store();
        let mut sandbox = match p.instantiate(&mut store) {
            Ok(s) => s,
            Err(e) => {
                outcome = Err(anyhow!("instantiating: {e:#}"));
                break;
            }
        };
        let t1 = Instant::now();
        let fault = p.call(&mut store, &mut sandbox).err();
        let t2 = Instant::now();
        out.instantiate
            .saturating_record((t1 - t0).as_nanos() as u64);
        out.call.saturating_record((t2 - t1).as_nanos() as u64);
        if let Some(f) = fault {
            out.faults.record(&f);
        }
        alive.push((store, sandbox));
    }
    out.usage = ThreadUsage::now().since(&u0);
    barrier.wait();
    barrier.wait();
    let u1 = ThreadUsage::now();
    for (store, sandbox) in alive {
        let t = Instant::now();
        p.teardown(store, sandbox);
        out.drop.saturating_record(t.elapsed().as_nanos() as u64);
    }
    out.usage.add(&ThreadUsage::now().since(&u1));
    outcome.map(|()| out)
}

/// Runs the burst scenario in this process, or, with `[scenario]
/// processes` above 1, in that many worker processes at once, whose figures
/// it merges.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<(BurstResult, Histograms)> {
    if variant.scenario.processes > 1 {
        return run_processes(variant, artifact);
    }
    let engine = crate::guest::engine(variant)?;
    let prepared = crate::guest::prepare(engine, variant, artifact)?;
    let s = &variant.scenario;
    // A worker of several processes meets the others here: their runs start
    // together.
    crate::workers::rendezvous()?;
    let threads = s.threads.max(1);
    let peak = s.peak.max(1);
    let steps = s.ramp_steps;
    let mut rec = Recorder {
        prepared: &prepared,
        started: Instant::now(),
        memory: Vec::new(),
        releases: Vec::new(),
        faults: GuestFaults::default(),
    };
    let idle_requests_planned = if s.idle_every_ms > 0 {
        (s.idle_s * 1000.0 / s.idle_every_ms as f64) as u64
    } else {
        0
    };
    crate::progress::set_total(
        u64::from(steps) + s.peak_waves + idle_requests_planned + 2 * s.probe_requests,
        "waves and requests",
    );
    rec.read(LOADED, 0)?;

    // Ramp: untimed waves of growing size, memory read at each.
    for k in 1..=steps {
        let live = (u64::from(peak) * u64::from(k) / u64::from(steps)).max(1) as u32;
        let phase = format!("ramp {k}/{steps}");
        let (shares, _) = wave(&prepared, live, threads, Some((&mut rec, &phase)))
            .with_context(|| format!("ramp wave {k}"))?;
        for sh in &shares {
            rec.faults.add(&sh.faults);
        }
        crate::progress::tick(1);
    }

    // Peak: timed waves of `peak` sandboxes; memory read in the last.
    let histories_started = SystemTime::now();
    let peak_clock = Instant::now();
    let before_peak = memory::sample()?;
    let io_before = faults::io_read_bytes();
    let mut peak_shares = Vec::new();
    let mut peak_wall = Duration::ZERO;
    for w in 0..s.peak_waves {
        let read = (w + 1 == s.peak_waves).then_some((&mut rec, PEAK));
        let (shares, wall) =
            wave(&prepared, peak, threads, read).with_context(|| format!("peak wave {w}"))?;
        peak_wall += wall;
        peak_shares.extend(shares);
        crate::progress::tick(1);
    }
    let peak_io = faults::io_read_bytes().saturating_sub(io_before);
    let after_peak = rec.read(AFTER_PEAK, 0)?;
    let mut peak_usage = ThreadUsage::default();
    for sh in &peak_shares {
        rec.faults.add(&sh.faults);
        peak_usage.add(&sh.usage);
    }
    let peak_requests = u64::from(peak) * s.peak_waves;

    // Idle: a trickle, and releases on a timer with `every`.
    let idle_len = Duration::from_secs_f64(s.idle_s.max(0.0));
    let every = Duration::from_secs_f64(s.release_every_s.max(0.001));
    let trickle = (s.idle_every_ms > 0).then(|| Duration::from_millis(s.idle_every_ms));
    let idle_start = Instant::now();
    let mut next_request = trickle.map(|d| idle_start + d);
    let mut next_release = (s.release_idle == ReleaseIdle::Every).then(|| idle_start + every);
    let mut idle_hist = latency::new_histogram();
    let mut idle_requests = 0;
    loop {
        let end = idle_start + idle_len;
        let next = [next_request, next_release]
            .into_iter()
            .flatten()
            .filter(|t| *t < end)
            .min()
            .unwrap_or(end);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        if next >= end {
            break;
        }
        if next_release.is_some_and(|t| t <= next) {
            rec.release(false)?;
            next_release = next_release.map(|t| t + every);
        }
        if let (Some(t), Some(d)) = (next_request, trickle)
            && t <= next
        {
            let (ns, _) = rec.request()?;
            idle_hist.saturating_record(ns);
            idle_requests += 1;
            next_request = Some(t + d);
            crate::progress::tick(1);
        }
    }
    rec.read(END_OF_IDLE, 0)?;

    // The release point.
    let (before, before_hist) = rec.probe(s.probe_requests)?;
    crate::progress::tick(s.probe_requests);
    if s.release_idle != ReleaseIdle::Never {
        rec.release(true)?;
        rec.read(AFTER_RELEASE, 0)?;
    }
    let (after, after_hist) = rec.probe(s.probe_requests)?;
    crate::progress::tick(s.probe_requests);
    rec.read(AFTER_PROBE, 0)?;
    let wall = peak_clock.elapsed();

    let merged = |pick: fn(&Share) -> &Hist| latency::merge(peak_shares.iter().map(pick));
    let hists: Vec<Hist> = vec![
        merged(|s| &s.instantiate)?,
        merged(|s| &s.call)?,
        merged(|s| &s.drop)?,
        idle_hist,
        before_hist,
        after_hist,
    ];
    let result = BurstResult {
        threads,
        processes: 1,
        peak,
        peak_waves: s.peak_waves,
        idle_s: s.idle_s,
        release_idle: s.release_idle,
        module_load_ns: prepared.load_ns,
        peak_requests,
        peak_requests_per_sec: peak_requests as f64 / peak_wall.as_secs_f64().max(1e-9),
        peak_minor_faults_per_request: after_peak
            .minor_faults
            .saturating_sub(before_peak.minor_faults) as f64
            / peak_requests.max(1) as f64,
        peak_contention: Some(Contention::new(&peak_usage, peak_requests, peak_io)),
        idle_requests,
        memory: rec.memory,
        releases: rec.releases,
        before,
        after,
        phases: PHASES
            .iter()
            .zip(&hists)
            .map(|(phase, h)| PhaseLatency {
                phase: (*phase).to_string(),
                summary: LatencySummary::of(h),
                hlog_path: None,
                hgrm_path: None,
            })
            .collect(),
        faults: rec.faults,
    };
    Ok((
        result,
        Histograms {
            named: PHASES.iter().map(|p| (*p).to_string()).zip(hists).collect(),
            started: histories_started,
            wall,
        },
    ))
}

/// Measures `variant` in `[scenario] processes` worker processes at once:
/// each at `processes = 1` with `peak / processes` sandboxes at the peak
/// and a request every `processes x idle_every_ms` while idle, merged by
/// [`merge_workers`].
fn run_processes(variant: &Variant, artifact: Option<&Path>) -> Result<(BurstResult, Histograms)> {
    let s = &variant.scenario;
    let n = s.processes;
    let mut one = serde_json::to_value(variant)?;
    one["scenario"]["processes"] = 1.into();
    one["scenario"]["peak"] = (s.peak / n).into();
    one["scenario"]["idle_every_ms"] = (s.idle_every_ms * u64::from(n)).into();
    let answers = crate::workers::run(&one, artifact, n)?;
    let crate::workers::Merged {
        results,
        histograms,
        started,
    } = crate::workers::merged::<BurstResult>(&answers, &PHASES, "burst")?;
    let result = merge_workers(&results, &histograms)?;
    // As in one process: from the peak's start (the earliest worker's) to
    // the end of the last worker's run.
    let wall = SystemTime::now()
        .duration_since(started)
        .unwrap_or(Duration::ZERO);
    Ok((
        result,
        Histograms {
            named: PHASES
                .iter()
                .map(|p| (*p).to_string())
                .zip(histograms)
                .collect(),
            started,
            wall,
        },
    ))
}

/// Merges the burst results of worker processes (`parts`, with their
/// histograms already merged per phase in [`PHASES`] order, `merged`) into
/// the host's:
///
/// * memory point by point (every worker reads the same points, in the same
///   order): Pss, Rss, Private_Dirty, sandboxes alive and the pool's warm
///   slots and their resident bytes summed, the latest time;
/// * the peak rate: every peak request over the slowest worker's peak time;
/// * release calls by their order in each worker: bytes released and Pss
///   around the call summed, the slowest call;
/// * each probe: requests summed, its latency from the merged histogram, the
///   slowest worker's first request (with its faults) as the first request;
/// * faults per request weighted by each worker's requests.
pub fn merge_workers(parts: &[BurstResult], merged: &[Hist]) -> Result<BurstResult> {
    let first = parts.first().context("no worker answered")?;
    let n = parts.len() as u32;
    for (i, p) in parts.iter().enumerate() {
        let same = p.memory.len() == first.memory.len()
            && p.memory
                .iter()
                .zip(&first.memory)
                .all(|(a, b)| a.phase == b.phase);
        if !same {
            return Err(anyhow!(
                "worker {i} read its memory at other points than worker 0"
            ));
        }
    }
    let memory = (0..first.memory.len())
        .map(|k| {
            let at = |f: fn(&BurstMemory) -> u64| parts.iter().map(|p| f(&p.memory[k])).sum();
            let sum_opt = |f: fn(&BurstMemory) -> Option<u64>| {
                parts.iter().map(|p| f(&p.memory[k])).sum::<Option<u64>>()
            };
            BurstMemory {
                phase: first.memory[k].phase.clone(),
                at_ms: parts.iter().map(|p| p.memory[k].at_ms).max().unwrap_or(0),
                live: parts.iter().map(|p| p.memory[k].live).sum(),
                pss_bytes: at(|m| m.pss_bytes),
                rss_bytes: at(|m| m.rss_bytes),
                private_dirty_bytes: at(|m| m.private_dirty_bytes),
                pool_unused_warm_memories: sum_opt(|m| m.pool_unused_warm_memories.map(u64::from))
                    .map(|c| c as u32),
                pool_unused_resident_bytes: sum_opt(|m| m.pool_unused_resident_bytes),
            }
        })
        .collect();
    let calls = parts.iter().map(|p| p.releases.len()).min().unwrap_or(0);
    let releases = (0..calls)
        .map(|k| {
            let sum = |f: fn(&BurstRelease) -> u64| parts.iter().map(|p| f(&p.releases[k])).sum();
            BurstRelease {
                at_ms: parts.iter().map(|p| p.releases[k].at_ms).max().unwrap_or(0),
                end_of_idle: first.releases[k].end_of_idle,
                bytes_released: sum(|r| r.bytes_released),
                call_ns: parts
                    .iter()
                    .map(|p| p.releases[k].call_ns)
                    .max()
                    .unwrap_or(0),
                pss_before_bytes: sum(|r| r.pss_before_bytes),
                pss_after_bytes: sum(|r| r.pss_after_bytes),
            }
        })
        .collect();
    if merged.len() != PHASES.len() {
        return Err(anyhow!(
            "{} merged histograms for {} phases",
            merged.len(),
            PHASES.len()
        ));
    }
    let probe = |pick: fn(&BurstResult) -> &BurstProbe, phase: &str| {
        let phase = PHASES.iter().position(|p| *p == phase).unwrap_or(0);
        let requests: u64 = parts.iter().map(|p| pick(p).requests).sum();
        let slowest = parts
            .iter()
            .map(pick)
            .max_by_key(|x| x.first_cycle_ns)
            .unwrap_or(pick(first));
        BurstProbe {
            requests,
            first_cycle_ns: slowest.first_cycle_ns,
            first_minor_faults: slowest.first_minor_faults,
            minor_faults_per_request: parts
                .iter()
                .map(|p| pick(p).minor_faults_per_request * pick(p).requests as f64)
                .sum::<f64>()
                / requests.max(1) as f64,
            cycle: LatencySummary::of(&merged[phase]),
        }
    };
    let peak_requests: u64 = parts.iter().map(|p| p.peak_requests).sum();
    let slowest_peak = parts
        .iter()
        .map(|p| p.peak_requests as f64 / p.peak_requests_per_sec.max(1e-9))
        .fold(0.0, f64::max);
    let faults = parts.iter().fold(GuestFaults::default(), |mut a, p| {
        a.add(&p.faults);
        a
    });
    let per_request = |f: fn(&Contention) -> f64| {
        parts
            .iter()
            .map(|p| p.peak_contention.as_ref().map_or(0.0, f) * p.peak_requests as f64)
            .sum::<f64>()
            / peak_requests.max(1) as f64
    };
    let peak_contention = parts
        .iter()
        .all(|p| p.peak_contention.is_some())
        .then(|| Contention {
            minor_faults_per_cycle: per_request(|c| c.minor_faults_per_cycle),
            major_faults_per_cycle: per_request(|c| c.major_faults_per_cycle),
            voluntary_switches_per_cycle: per_request(|c| c.voluntary_switches_per_cycle),
            involuntary_switches_per_cycle: per_request(|c| c.involuntary_switches_per_cycle),
            io_read_bytes: parts
                .iter()
                .filter_map(|p| p.peak_contention.as_ref())
                .map(|c| c.io_read_bytes)
                .sum(),
        });
    let result = BurstResult {
        threads: first.threads,
        processes: n,
        peak: parts.iter().map(|p| p.peak).sum(),
        peak_waves: first.peak_waves,
        idle_s: first.idle_s,
        release_idle: first.release_idle,
        module_load_ns: parts.iter().map(|p| p.module_load_ns).max().unwrap_or(0),
        peak_requests,
        peak_requests_per_sec: peak_requests as f64 / slowest_peak.max(1e-9),
        peak_minor_faults_per_request: parts
            .iter()
            .map(|p| p.peak_minor_faults_per_request * p.peak_requests as f64)
            .sum::<f64>()
            / peak_requests.max(1) as f64,
        peak_contention,
        idle_requests: parts.iter().map(|p| p.idle_requests).sum(),
        memory,
        releases,
        before: probe(|r| &r.before, "before-release"),
        after: probe(|r| &r.after, "after-release"),
        phases: PHASES
            .iter()
            .zip(merged)
            .map(|(phase, h)| PhaseLatency {
                phase: (*phase).to_string(),
                summary: LatencySummary::of(h),
                hlog_path: None,
                hgrm_path: None,
            })
            .collect(),
        faults,
    };
    Ok(result)
}

/// A memory headline (lower is better, judged against the process floor).
fn bytes(metric: &str, value: f64) -> Headline {
    Headline {
        metric: metric.to_string(),
        value,
        unit: Unit::Bytes,
        better: Better::Lower,
        within_rel: MIN_RELATIVE,
        floor_abs: MIN_PROCESS_BYTES,
        timing: false,
        judged: true,
    }
}

/// The peak's faults and context switches per request, from its threads'
/// own usage.
fn contention_table(rows: &[super::interface::Row<'_, BurstResult>]) -> String {
    let mut out = String::from(
        "\n### At the peak, per request: the sandbox threads' faults and context switches\n\n\
         Each peak thread's own figures (getrusage) while it instantiated, called and dropped, \
         the waves' rendezvous left out, summed over threads (and processes) and divided by the \
         peak's requests. A voluntary switch is a thread going to sleep (a lock, I/O), an \
         involuntary one a preemption.\n\n\
         | variant | minor faults / request | major faults / request | voluntary switches / request | involuntary switches / request |\n|---|---:|---:|---:|---:|\n",
    );
    let mut any = false;
    for row in rows {
        if let Some(c) = &row.result.peak_contention {
            any = true;
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.2} | {:.2} | {:.2} |",
                row.label,
                c.minor_faults_per_cycle,
                c.major_faults_per_cycle,
                c.voluntary_switches_per_cycle,
                c.involuntary_switches_per_cycle,
            );
        }
    }
    if any { out } else { String::new() }
}

/// The per-phase memory table: one row per variant and point of the run.
fn memory_table(rows: &[super::interface::Row<'_, BurstResult>]) -> String {
    let mut out = String::from(
        "| variant | point | at | live | Pss | Rss | Private_Dirty | warm unused slots | their resident bytes (wasmtime) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        for m in &row.result.memory {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} s | {} | {} | {} | {} | {} | {} |",
                row.label,
                m.phase,
                m.at_ms as f64 / 1000.0,
                m.live,
                mib(m.pss_bytes as f64),
                mib(m.rss_bytes as f64),
                mib(m.private_dirty_bytes as f64),
                m.pool_unused_warm_memories
                    .map_or("-".into(), |n| n.to_string()),
                m.pool_unused_resident_bytes
                    .map_or("-".into(), |b| mib(b as f64)),
            );
        }
    }
    out
}

/// The side-by-side table: peak rate, memory held at each point, the
/// release and what the first requests after it cost.
fn summary_table(
    rows: &[super::interface::Row<'_, BurstResult>],
    ctx: &super::interface::ReportContext<'_>,
) -> String {
    let mut out = String::from(
        "| variant | release | peak requests/s | vs baseline | Pss at peak | after peak | end of idle | after the release point | released (wasmtime) | Pss fell | release call | request p50 before | first request after | p50 after | faults / request before | first request's faults after |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let r = row.result;
        let pss = |phase: &str| r.at(phase).map_or("-".into(), |m| mib(m.pss_bytes as f64));
        let (released, fell, call) = match r.final_release() {
            Some(x) => (
                mib(x.bytes_released as f64),
                mib(x.pss_before_bytes as f64 - x.pss_after_bytes as f64),
                duration(x.call_ns as f64),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let label = if r.processes > 1 {
            format!(
                "{} ({} processes x {} threads)",
                row.label, r.processes, r.threads
            )
        } else {
            row.label.to_string()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} |",
            label,
            policy_text(row.settings),
            r.peak_requests_per_sec,
            row.throughput_vs_baseline(ctx),
            pss(PEAK),
            pss(AFTER_PEAK),
            pss(END_OF_IDLE),
            r.pss_after_release_point()
                .map_or("-".into(), |b| mib(b as f64)),
            released,
            fell,
            call,
            duration(r.before.cycle.p50_ns as f64),
            duration(r.after.first_cycle_ns as f64),
            duration(r.after.cycle.p50_ns as f64),
            r.before.minor_faults_per_request,
            r.after.first_minor_faults,
        );
    }
    out
}

/// The release policy as a table shows it.
fn policy_text(v: &Variant) -> String {
    match v.scenario.release_idle {
        ReleaseIdle::Never => "never".into(),
        ReleaseIdle::AfterIdle => format!("after {} s idle", v.scenario.idle_s),
        ReleaseIdle::Every => format!("every {} s", v.scenario.release_every_s),
    }
}

/// The burst scenario: a peak, idle, and the pool's idle memory released.
pub struct Burst;

impl super::interface::Scenario for Burst {
    type Result = BurstResult;
    const KIND: crate::settings::ScenarioKind = crate::settings::ScenarioKind::Burst;
    const PROCESSES: bool = true;

    /// The burst's own keys, when set away from their defaults.
    fn own_keys_set(s: &ScenarioSettings) -> Vec<&'static str> {
        let d = ScenarioSettings::default();
        let mut set = Vec::new();
        for (key, changed) in [
            ("peak", s.peak != d.peak),
            ("ramp_steps", s.ramp_steps != d.ramp_steps),
            ("peak_waves", s.peak_waves != d.peak_waves),
            ("idle_s", s.idle_s != d.idle_s),
            ("idle_every_ms", s.idle_every_ms != d.idle_every_ms),
            ("release_idle", s.release_idle != d.release_idle),
            ("release_every_s", s.release_every_s != d.release_every_s),
            ("probe_requests", s.probe_requests != d.probe_requests),
        ] {
            if changed {
                set.push(key);
            }
        }
        set
    }

    /// `peak` sandboxes at once.
    fn max_live(s: &ScenarioSettings) -> (u32, &'static str) {
        (s.peak, "peak")
    }

    /// Bounds of every burst key.
    fn validate(v: &Variant) -> std::result::Result<(), Problem> {
        let s = &v.scenario;
        let problem = |key: &'static str, message: String, fix: &str| Problem {
            section: "scenario",
            key,
            message,
            fix: fix.into(),
        };
        if s.threads == 0 || s.threads > crate::settings::MAX_THREADS {
            return Err(problem(
                "threads",
                format!(
                    "threads = {} is outside 1..={}",
                    s.threads,
                    crate::settings::MAX_THREADS
                ),
                "use 1 up to a few times the host's cores",
            ));
        }
        super::interface::check_processes(s)?;
        if s.processes > 1 && !s.peak.is_multiple_of(s.processes) {
            return Err(problem(
                "peak",
                format!(
                    "peak = {} is not a multiple of processes = {}: each process takes peak / processes of the peak's sandboxes",
                    s.peak, s.processes
                ),
                "make peak a multiple of processes, e.g. peak = 64 with processes = 2 or 4",
            ));
        }
        // Sandboxes at the peak in each process.
        let each = s.peak / s.processes.max(1);
        if s.peak == 0 || each < s.threads {
            return Err(problem(
                "peak",
                format!(
                    "peak = {} must be at least 1 and at least threads = {} in each of the {} process(es)",
                    s.peak, s.threads, s.processes
                ),
                "e.g. peak = 64 (sandboxes alive at once at the peak)",
            ));
        }
        if s.ramp_steps == 0 || s.ramp_steps > each {
            return Err(problem(
                "ramp_steps",
                format!(
                    "ramp_steps = {} is outside 1..=peak / processes ({each})",
                    s.ramp_steps
                ),
                "e.g. ramp_steps = 4",
            ));
        }
        if s.peak_waves == 0 {
            return Err(problem(
                "peak_waves",
                "peak_waves must be at least 1".into(),
                "e.g. peak_waves = 10",
            ));
        }
        if !(s.idle_s.is_finite() && (0.0..=86_400.0).contains(&s.idle_s)) {
            return Err(problem(
                "idle_s",
                format!("idle_s = {} is outside 0..=86400 seconds", s.idle_s),
                "e.g. idle_s = 60",
            ));
        }
        if s.release_idle == ReleaseIdle::Every
            && !(s.release_every_s.is_finite() && s.release_every_s >= 0.01)
        {
            return Err(problem(
                "release_every_s",
                format!(
                    "release_every_s = {} is below 0.01 s (release_idle = \"every\")",
                    s.release_every_s
                ),
                "e.g. release_every_s = 10",
            ));
        }
        if s.probe_requests == 0 {
            return Err(problem(
                "probe_requests",
                "probe_requests must be at least 1: they are what the release costs".into(),
                "e.g. probe_requests = 20",
            ));
        }
        Ok(())
    }

    /// A peak of at most 4 sandboxes per process, 2 waves, 0.2 s of idle,
    /// 3 probes.
    fn replay_cut(s: &mut ScenarioSettings) {
        let n = s.processes.max(1);
        let each = (s.peak / n).min(4).max(s.threads.min(4));
        s.peak = each * n;
        s.threads = s.threads.min(each);
        s.ramp_steps = s.ramp_steps.min(2).min(each);
        s.peak_waves = s.peak_waves.min(2);
        s.idle_s = s.idle_s.min(0.2);
        s.idle_every_ms = s.idle_every_ms.min(50);
        s.release_every_s = s.release_every_s.min(0.1);
        s.probe_requests = s.probe_requests.min(3);
    }

    fn run(v: &Variant, artifact: Option<&Path>) -> Result<(BurstResult, Option<Histograms>)> {
        let (r, h) = run(v, artifact)?;
        Ok((r, Some(h)))
    }

    fn phases(r: &BurstResult) -> &[PhaseLatency] {
        &r.phases
    }

    fn phases_mut(r: &mut BurstResult) -> Option<&mut Vec<PhaseLatency>> {
        Some(&mut r.phases)
    }

    fn charted_phases() -> &'static [&'static str] {
        &["before-release", "after-release"]
    }

    /// Peak requests/s; Pss at the peak, at the end of idle and after the
    /// release point; the first request after the release point (reported).
    fn headlines(r: &BurstResult) -> Vec<Headline> {
        let mut out = Vec::new();
        let spread = r
            .phases
            .iter()
            .find(|p| p.phase == "peak-instantiate")
            .map_or(MIN_RELATIVE, |p| p50_spread(&p.summary));
        out.push(rate("peak requests / s", r.peak_requests_per_sec, spread));
        if let Some(m) = r.at(PEAK) {
            out.push(bytes("Pss at peak", m.pss_bytes as f64));
        }
        if let Some(m) = r.at(END_OF_IDLE) {
            out.push(bytes("Pss at end of idle", m.pss_bytes as f64));
        }
        if let Some(b) = r.pss_after_release_point() {
            out.push(bytes("Pss after the release point", b as f64));
        }
        out.push(Headline {
            metric: "first request after the release point".into(),
            value: r.after.first_cycle_ns as f64,
            unit: Unit::Nanos,
            better: Better::Lower,
            within_rel: MIN_RELATIVE,
            floor_abs: 0.0,
            timing: true,
            judged: false,
        });
        out
    }

    /// Pss after the release point: what the host keeps.
    fn primary(r: &BurstResult) -> Option<f64> {
        r.pss_after_release_point().map(|b| b as f64)
    }

    /// Phase p50 speedups and the peak rate ratio.
    fn vs_baseline(b: &BurstResult, x: &BurstResult, c: &mut Comparison) {
        p50_speedups(&b.phases, &x.phases, &mut c.p50_speedup);
        c.throughput_ratio = ratio(x.peak_requests_per_sec, b.peak_requests_per_sec);
    }

    fn calls(r: &BurstResult) -> Option<(&GuestFaults, u64)> {
        Some((&r.faults, r.total_requests()))
    }

    /// The release policy measured and what it cost the first request
    /// after it, or what the host kept without one.
    fn production_note(v: &Variant, r: &BurstResult) -> Option<String> {
        let pss = |phase: &str| r.at(phase).map_or("-".into(), |m| mib(m.pss_bytes as f64));
        let setting = format!(
            "[scenario] release_idle = \"{}\" ({}), measured on this guest through a burst to {} sandboxes and {} s of idle",
            r.release_idle.name(),
            policy_text(v),
            r.peak,
            r.idle_s
        );
        Some(match r.final_release() {
            Some(x) => format!(
                "{setting}: call engine.release_idle_pool_memory() (builder.rs: release_idle_memory) on that policy. It returned {} in {} and Pss fell {} ({} at the peak, {} at the end of idle, {} after it); the first request after it took {} with {} page faults, against a request p50 of {} with {:.0} faults per request before it.",
                mib(x.bytes_released as f64),
                duration(x.call_ns as f64),
                mib(x.pss_before_bytes as f64 - x.pss_after_bytes as f64),
                pss(PEAK),
                pss(END_OF_IDLE),
                pss(AFTER_RELEASE),
                duration(r.after.first_cycle_ns as f64),
                r.after.first_minor_faults,
                duration(r.before.cycle.p50_ns as f64),
                r.before.minor_faults_per_request,
            ),
            None => format!(
                "{setting}: nothing is released; Pss was {} at the peak and {} at the end of idle, of which the pool's warm slots kept {} resident (wasmtime's count) for as long as the process lives.",
                pss(PEAK),
                pss(END_OF_IDLE),
                r.at(END_OF_IDLE)
                    .and_then(|m| m.pool_unused_resident_bytes)
                    .map_or("nothing".into(), |b| mib(b as f64)),
            ),
        })
    }

    /// Pss at the peak and after the release point, in every run.
    fn measures_own_memory() -> bool {
        true
    }

    fn objectives() -> &'static [Objective] {
        &[Objective::SandboxesPerSecond]
    }

    /// The peak's requests per second; its memory is the day's average Pss
    /// with `[tune] idle_share` of the day idle, and a candidate whose
    /// average is above `memory_budget` is out.
    fn score(t: &TuneSettings, r: &BurstResult) -> Result<super::interface::Score, String> {
        let latency = r
            .phases
            .iter()
            .find(|p| p.phase == "peak-instantiate")
            .ok_or("no peak instantiate latency")?
            .summary;
        let held = r
            .day_average_pss(t.idle_share)
            .ok_or("no memory at the peak or after the release point")?;
        if held > t.memory_budget.0 as f64 {
            return Err(format!(
                "the day's average Pss {} ({} idle) is above the memory budget {}",
                mib(held),
                t.idle_share,
                mib(t.memory_budget.0 as f64)
            ));
        }
        Ok(super::interface::Score {
            value: r.peak_requests_per_sec,
            rate: r.peak_requests_per_sec,
            latency,
            memory_bytes: Some(held),
        })
    }

    /// The side-by-side table, every memory reading, and the release calls.
    fn report(
        rows: &[super::interface::Row<'_, BurstResult>],
        ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        let mut out = format!(
            "\n## Burst: after the peak, what the host keeps and what releasing it costs\n\n\
             A ramp to `peak` sandboxes alive at once, waves at the peak, `idle_s` of idle \
             (a request every `idle_every_ms`), then the release point: `probe_requests` \
             requests, `Engine::release_idle_pool_memory` (when the policy calls it), \
             `probe_requests` requests again. Pss is the whole process's; \"released\" is what \
             the call returned (the bytes wasmtime counted as resident in the warm slots it \
             released: linear memory only, not tables or stacks); \"Pss fell\" is Pss right \
             before the call minus right after. A request's faults are its thread's minor \
             faults over its cycle. Baseline: `{}`.\n\n",
            ctx.baseline
        );
        out.push_str(&summary_table(rows, ctx));
        if rows.iter().any(|r| r.result.processes > 1) {
            out.push_str(
                "\nA variant of N processes ran N processes started together, each with its own \
                 engine and pool, peak / N of the peak's sandboxes and a trickle N times sparser \
                 (the host's load is the same); each calls the release on its own engine. Its \
                 memory at each point is the sum of the processes' readings at that point of \
                 their own runs (Pss counts the pages they share once); the peak rate is every \
                 peak request over the slowest process's peak time; \"first request after\" is \
                 the slowest process's first.\n",
            );
        }
        out.push_str(&contention_table(rows));
        out.push_str("\n### Memory at each point of the run\n\n");
        out.push_str(&memory_table(rows));
        let mut calls = String::new();
        for row in rows {
            for x in &row.result.releases {
                let _ = writeln!(
                    calls,
                    "| {} | {:.1} s | {} | {} | {} | {} |",
                    row.label,
                    x.at_ms as f64 / 1000.0,
                    if x.end_of_idle {
                        "end of idle"
                    } else {
                        "timer"
                    },
                    mib(x.bytes_released as f64),
                    mib(x.pss_before_bytes as f64 - x.pss_after_bytes as f64),
                    duration(x.call_ns as f64),
                );
            }
        }
        if !calls.is_empty() {
            out.push_str(
                "\n### Release calls\n\n| variant | at | why | released (wasmtime) | Pss fell | call |\n|---|---:|---|---:|---:|---:|\n",
            );
            out.push_str(&calls);
        }
        out.push_str(&super::interface::histogram_folders::<Burst>(rows));
        out
    }

    /// The side-by-side table.
    fn summary(
        rows: &[super::interface::Row<'_, BurstResult>],
        ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        summary_table(rows, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker's result: `peak` sandboxes at a `rate`, memory `pss` at
    /// every point, a release of `released` bytes taking `call_ns`, and a
    /// first request after it of `first_ns` with `first_faults` faults.
    fn worker(
        peak: u32,
        rate: f64,
        pss: u64,
        released: u64,
        call_ns: u64,
        (first_ns, first_faults): (u64, u64),
    ) -> (BurstResult, Vec<Hist>) {
        let mut hists: Vec<Hist> = PHASES.iter().map(|_| latency::new_histogram()).collect();
        for (k, h) in hists.iter_mut().enumerate() {
            h.saturating_record(1000 * (k as u64 + 1) * u64::from(peak));
        }
        let probe = |first_cycle_ns, first_minor_faults, per| BurstProbe {
            requests: u64::from(peak),
            first_cycle_ns,
            first_minor_faults,
            minor_faults_per_request: per,
            cycle: LatencySummary::of(&hists[0]),
        };
        let reading = |phase: &str, live| BurstMemory {
            phase: phase.into(),
            at_ms: pss / 1000,
            live,
            pss_bytes: pss,
            rss_bytes: 2 * pss,
            private_dirty_bytes: pss / 2,
            pool_unused_warm_memories: Some(peak),
            pool_unused_resident_bytes: Some(released),
        };
        let r = BurstResult {
            threads: 1,
            processes: 1,
            peak,
            peak_waves: 2,
            idle_s: 1.0,
            release_idle: ReleaseIdle::AfterIdle,
            module_load_ns: pss,
            peak_requests: 2 * u64::from(peak),
            peak_requests_per_sec: rate,
            peak_minor_faults_per_request: f64::from(peak),
            peak_contention: Some(Contention {
                minor_faults_per_cycle: f64::from(peak),
                major_faults_per_cycle: 0.5,
                voluntary_switches_per_cycle: 2.0 * f64::from(peak),
                involuntary_switches_per_cycle: 1.0,
                io_read_bytes: pss,
            }),
            idle_requests: 1,
            memory: vec![reading(PEAK, peak), reading(AFTER_RELEASE, 0)],
            releases: vec![BurstRelease {
                at_ms: call_ns,
                end_of_idle: true,
                bytes_released: released,
                call_ns,
                pss_before_bytes: pss,
                pss_after_bytes: pss - released,
            }],
            before: probe(10, 1, 1.0),
            after: probe(first_ns, first_faults, f64::from(peak)),
            phases: Vec::new(),
            faults: GuestFaults::default(),
        };
        (r, hists)
    }

    /// Two workers' histograms merged per phase, as `workers::merged` does.
    fn both(a: &[Hist], b: &[Hist]) -> Vec<Hist> {
        a.iter()
            .zip(b)
            .map(|(x, y)| latency::merge([x, y]).unwrap())
            .collect()
    }

    #[test]
    fn workers_merge_into_the_hosts_figures() {
        // Worker 0: 2 sandboxes at 100/s (0.04 s of peak); worker 1: 6 at
        // 200/s (0.06 s): the host ran 16 peak requests in 0.06 s.
        let (a, ha) = worker(2, 100.0, 10_000, 3_000, 50, (900, 40));
        let (b, hb) = worker(6, 200.0, 30_000, 5_000, 70, (400, 90));
        let hists = both(&ha, &hb);
        let m = merge_workers(&[a.clone(), b.clone()], &hists).unwrap();
        assert_eq!((m.processes, m.peak, m.peak_requests), (2, 8, 16));
        assert!(
            (m.peak_requests_per_sec - 16.0 / 0.06).abs() < 1e-6,
            "{m:#?}"
        );
        // Per request: (4 x 2 + 12 x 6) / 16 faults at the peak.
        assert!((m.peak_minor_faults_per_request - 80.0 / 16.0).abs() < 1e-9);
        // The threads' own figures, weighted the same way: (4 x 4 + 12 x
        // 12) / 16 voluntary switches per request; storage reads summed.
        let c = m.peak_contention.as_ref().unwrap();
        assert!((c.minor_faults_per_cycle - 5.0).abs() < 1e-9, "{c:?}");
        assert!(
            (c.voluntary_switches_per_cycle - 10.0).abs() < 1e-9,
            "{c:?}"
        );
        assert!(
            (c.involuntary_switches_per_cycle - 1.0).abs() < 1e-9,
            "{c:?}"
        );
        assert!((c.major_faults_per_cycle - 0.5).abs() < 1e-9, "{c:?}");
        assert_eq!(c.io_read_bytes, 40_000);
        let peak = m.at(PEAK).unwrap();
        assert_eq!(
            (
                peak.live,
                peak.pss_bytes,
                peak.rss_bytes,
                peak.private_dirty_bytes
            ),
            (8, 40_000, 80_000, 20_000)
        );
        assert_eq!(peak.at_ms, 30, "the later reading's time");
        assert_eq!(peak.pool_unused_warm_memories, Some(8));
        assert_eq!(peak.pool_unused_resident_bytes, Some(8_000));
        let r = m.final_release().unwrap();
        assert_eq!(
            (
                r.bytes_released,
                r.call_ns,
                r.pss_before_bytes,
                r.pss_after_bytes
            ),
            (8_000, 70, 40_000, 32_000)
        );
        // The slowest first request is the first one, with its own faults.
        assert_eq!(
            (m.after.first_cycle_ns, m.after.first_minor_faults),
            (900, 40)
        );
        assert_eq!(m.after.requests, 8);
        // (2 x 2 + 6 x 6) / 8 faults per request after the release.
        assert!((m.after.minor_faults_per_request - 40.0 / 8.0).abs() < 1e-9);
        assert!((m.before.minor_faults_per_request - 1.0).abs() < 1e-9);
        assert_eq!((m.idle_requests, m.module_load_ns), (2, 30_000));
        // Every histogram holds both workers' requests.
        assert!(hists.iter().all(|h| h.len() == 2));
        let after = PHASES.iter().position(|p| *p == "after-release").unwrap();
        assert_eq!(m.after.cycle.count, 2);
        assert_eq!(m.after.cycle.max_ns, hists[after].max());
        assert_ne!(m.before.cycle.max_ns, m.after.cycle.max_ns);
        // A worker without the pool's count leaves the sum unknown.
        let (mut c, hc) = worker(2, 100.0, 10_000, 0, 1, (1, 1));
        c.memory[0].pool_unused_warm_memories = None;
        let (_, hb) = worker(6, 200.0, 30_000, 5_000, 70, (400, 90));
        c.peak_contention = None;
        let m = merge_workers(&[c, b.clone()], &both(&hc, &hb)).unwrap();
        assert_eq!(m.at(PEAK).unwrap().pool_unused_warm_memories, None);
        assert_eq!(m.peak_contention, None);
        // Workers that read memory at other points are refused.
        let (mut d, hd) = worker(2, 100.0, 10_000, 0, 1, (1, 1));
        d.memory.pop();
        let (_, hb) = worker(6, 200.0, 30_000, 5_000, 70, (400, 90));
        assert!(merge_workers(&[b.clone(), d], &both(&hb, &hd)).is_err());
        // Histograms for other phases than the burst's are refused.
        assert!(merge_workers(&[b], &hb[..2]).is_err());
    }
}
