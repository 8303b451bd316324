//! Scenarios: what a variant's child process does and measures.

pub mod churn;
pub mod pool;
pub mod scaling;
pub mod session;
pub mod soak;

use crate::WasmtimeContext;
use crate::guest;
use crate::guest::workload::Workload;
use crate::measure::latency::{Hist, LatencySummary};
use crate::settings::{Load, Variant};
use anyhow::Result;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use wasmtime::{Engine, InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// Host state of every store pooling-lab makes.
pub struct Host {
    /// Store limits (`[guest] memory_limit`; installed only when set).
    pub limits: StoreLimits,
    /// WASI preview1 context, for guests that import WASI. It grants no
    /// files, no environment variables and no arguments: a guest sees only
    /// what its stdout/stderr pipes capture.
    pub wasi: Option<WasiP1Ctx>,
    /// The guest's stdout (bounded), when it has WASI.
    pub stdout: Option<MemoryOutputPipe>,
    /// The guest's stderr (bounded), when it has WASI.
    pub stderr: Option<MemoryOutputPipe>,
    /// Bytes of stdout already checked (the pipe keeps all of a store's output).
    pub stdout_seen: usize,
    /// Bytes of stderr already checked.
    pub stderr_seen: usize,
    /// Whether the reactor's `_initialize` has run in this store.
    pub initialized: bool,
    /// The synthetic guest's `run`, looked up on the store's first call (a
    /// reused sandbox does not look it up again).
    pub entry: Option<wasmtime::TypedFunc<(), ()>>,
}

/// An engine with the guest loaded and linked, ready to instantiate.
pub struct Prepared {
    /// The variant's engine.
    pub engine: Engine,
    /// The loaded module.
    pub module: Module,
    /// Linked and type-checked once, so instantiation timing excludes linking.
    pub pre: InstancePre<Host>,
    /// What one call of the guest's workload does.
    pub workload: Arc<Workload>,
    /// Time spent loading the module (compile, deserialize or deserialize_file).
    pub load_ns: u64,
    /// `[guest] memory_limit` in bytes, if set.
    pub memory_limit: Option<usize>,
    /// `[scenario] call_deadline_ms` in epoch ticks (1 ms), if set.
    pub deadline_ticks: Option<u64>,
    _ticker: Option<EpochTicker>,
}

impl Prepared {
    /// A new store with the variant's limits.
    pub fn new_store(&self) -> Store<Host> {
        new_store(
            &self.engine,
            self.memory_limit,
            self.deadline_ticks.is_some(),
            &self.workload,
        )
    }

    /// One call of the guest's workload.
    pub fn call(
        &self,
        store: &mut Store<Host>,
        instance: &wasmtime::Instance,
    ) -> wasmtime::Result<()> {
        self.workload.call(store, instance)
    }

    /// Arms the per-call deadline (if any): call right before each guest call.
    #[inline]
    pub fn arm_deadline(&self, store: &mut Store<Host>) {
        if let Some(ticks) = self.deadline_ticks {
            store.set_epoch_deadline(ticks);
        }
    }
}

/// A new store: host state, `memory_limit` (a grow beyond it traps), and
/// epoch-deadline traps when `deadlines` is set.
pub fn new_store(
    engine: &Engine,
    memory_limit: Option<usize>,
    deadlines: bool,
    workload: &Workload,
) -> Store<Host> {
    let wasi = workload.needs_wasi();
    let (ctx, stdout, stderr) = if wasi {
        let out = MemoryOutputPipe::new(crate::guest::workload::OUTPUT_CAPACITY);
        let err = MemoryOutputPipe::new(crate::guest::workload::OUTPUT_CAPACITY);
        let mut b = WasiCtxBuilder::new();
        b.stdout(out.clone()).stderr(err.clone());
        let _ = workload.wasi_ctx(&mut b);
        let ctx = b.build_p1();
        (Some(ctx), Some(out), Some(err))
    } else {
        (None, None, None)
    };
    let host = Host {
        limits: StoreLimitsBuilder::new()
            .memory_size(memory_limit.unwrap_or(usize::MAX))
            .trap_on_grow_failure(true)
            .build(),
        wasi: ctx,
        stdout,
        stderr,
        stdout_seen: 0,
        stderr_seen: 0,
        initialized: false,
        entry: None,
    };
    let mut store = Store::new(engine, host);
    // Only a configured limit installs the limiter: it is a boxed callback
    // that every memory grow (instantiation included) goes through, which
    // production without limits does not pay.
    if memory_limit.is_some() {
        store.limiter(|h| &mut h.limits);
    }
    if deadlines {
        store.epoch_deadline_trap();
    }
    store
}

/// Advances an engine's epoch every millisecond until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.clone(), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                    e.increment_epoch();
                }
            })?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What kind of guest fault an error from a guest call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A wasm trap (unreachable, out of bounds, ...).
    Trap,
    /// The per-call deadline stopped the call.
    Deadline,
    /// A memory grow beyond `[guest] memory_limit`.
    MemoryLimit,
    /// Anything else.
    Other,
}

/// Classifies an error returned by a guest call.
pub fn classify(e: &wasmtime::Error) -> FaultKind {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => FaultKind::Deadline,
        Some(_) => FaultKind::Trap,
        None if format!("{e:#}").contains("forcing trap when growing memory") => {
            FaultKind::MemoryLimit
        }
        None => FaultKind::Other,
    }
}

/// Guest faults counted over a scenario's calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuestFaults {
    /// Calls that trapped.
    pub traps: u64,
    /// Calls stopped by the per-call deadline.
    pub deadlines: u64,
    /// Calls that grew memory past `[guest] memory_limit`.
    pub memory_limits: u64,
    /// Calls that failed otherwise.
    pub other: u64,
    /// The first fault's message.
    pub first: Option<String>,
}

impl GuestFaults {
    /// Counts one fault.
    pub fn record(&mut self, e: &wasmtime::Error) {
        match classify(e) {
            FaultKind::Trap => self.traps += 1,
            FaultKind::Deadline => self.deadlines += 1,
            FaultKind::MemoryLimit => self.memory_limits += 1,
            FaultKind::Other => self.other += 1,
        }
        if self.first.is_none() {
            // The root cause names the fault; the context above it is a
            // backtrace of the synthetic module, the same for every fault.
            self.first = Some(match e.downcast_ref::<wasmtime::Trap>() {
                Some(trap) => trap.to_string(),
                None => e.root_cause().to_string(),
            });
        }
    }

    /// Adds another count (per-thread counts merged).
    pub fn add(&mut self, o: &GuestFaults) {
        self.traps += o.traps;
        self.deadlines += o.deadlines;
        self.memory_limits += o.memory_limits;
        self.other += o.other;
        if self.first.is_none() {
            self.first.clone_from(&o.first);
        }
    }

    /// All faults.
    pub fn total(&self) -> u64 {
        self.traps + self.deadlines + self.memory_limits + self.other
    }
}

/// Builds the engine for `variant`.
pub fn engine(variant: &Variant) -> Result<Engine> {
    Engine::new(&variant.wasmtime_config()).wt_context(|| "creating the engine")
}

/// Loads and links the guest for `variant` into `engine`.
pub fn prepare(engine: Engine, variant: &Variant, artifact: Option<&Path>) -> Result<Prepared> {
    let wasm = guest::guest_wasm(&variant.guest)?;
    let t = Instant::now();
    let module = guest::load_module(&engine, variant.guest.load, &wasm, artifact)?;
    let load_ns = t.elapsed().as_nanos() as u64;
    drop(wasm);
    let workload = Arc::new(guest::workload(&variant.guest));
    let mut linker = Linker::new(&engine);
    add_host_imports(&mut linker, &workload)?;
    let pre = linker
        .instantiate_pre(&module)
        .wt_context(|| "linking the guest")?;
    let deadline_ticks =
        (variant.scenario.call_deadline_ms > 0).then_some(variant.scenario.call_deadline_ms);
    let ticker = match deadline_ticks {
        Some(_) => Some(EpochTicker::start(&engine)?),
        None => None,
    };
    Ok(Prepared {
        engine,
        module,
        pre,
        workload,
        load_ns,
        memory_limit: (variant.guest.memory_limit.0 > 0)
            .then(|| usize::try_from(variant.guest.memory_limit.0).unwrap_or(usize::MAX)),
        deadline_ticks,
        _ticker: ticker,
    })
}

/// Defines what the guest may import: WASI preview1 for WASI guests and, for
/// Python, a refused `host.call`. Checks that Python's stdlib is in place.
pub fn add_host_imports(linker: &mut Linker<Host>, workload: &Workload) -> Result<()> {
    if workload.needs_wasi() {
        wasmtime_wasi::p1::add_to_linker_sync(linker, |h: &mut Host| {
            // Stores of WASI guests are always made with a context (new_store).
            h.wasi
                .as_mut()
                .expect("a WASI guest's store has a WASI context")
        })
        .wt_context(|| "adding WASI to the linker")?;
    }
    if let Workload::Python(py, _) = workload {
        // The guest's door to host tools: pooling-lab offers none, so every
        // call is refused (-1); a program that needs it fails visibly.
        linker
            .func_wrap(
                "host",
                "call",
                |_: wasmtime::Caller<'_, Host>, _: i32, _: i32, _: i32, _: i32| -> i32 { -1 },
            )
            .wt_context(|| "defining host.call")?;
        if !py.lib.join("python315.zip").is_file() {
            anyhow::bail!(
                "{} has no python315.zip ([guest] python_lib): run `scripts/fetch-guests.sh --only python`",
                py.lib.display()
            );
        }
    }
    Ok(())
}

/// Whether a variant needs a precompiled artifact prepared by the parent.
pub fn needs_artifact(variant: &Variant) -> bool {
    variant.guest.load != Load::Compile
}

/// One timed phase's latency and where its full histogram was saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhaseLatency {
    /// Phase name (`instantiate`, `call`, `drop`, `cycle`, `acquire`, ...).
    pub phase: String,
    /// Percentiles over all threads.
    pub summary: LatencySummary,
    /// The `.hlog` interval log (V2 deflate, base64), relative to the JSON file's folder.
    pub hlog_path: Option<String>,
    /// The `.hgrm` percentile distribution (microseconds), relative to the JSON file's folder.
    pub hgrm_path: Option<String>,
}

impl PhaseLatency {
    /// A phase summarised from its histogram; the paths are set when it is saved.
    pub fn of(phase: &str, h: &Hist) -> PhaseLatency {
        PhaseLatency {
            phase: phase.to_string(),
            summary: LatencySummary::of(h),
            hlog_path: None,
            hgrm_path: None,
        }
    }
}

/// The merged histograms of a run, to be saved next to the result.
pub struct Histograms {
    /// Phase name and histogram, in report order.
    pub named: Vec<(String, Hist)>,
    /// When the timed part started.
    pub started: SystemTime,
    /// Length of the timed part.
    pub wall: Duration,
}
