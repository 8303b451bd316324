//! Host plumbing beneath every guest kind: the store's host state, WASI
//! contexts (preview1 for core modules, preview2 + wasi:http for
//! components), captured output, store limits and per-call deadlines.
//!
//! Nothing here knows a particular guest kind: a kind describes what its
//! sandboxes may see with a [`wasi::WasiSpec`] and keeps its own per-store
//! state in [`Host::state`], under its own type. Guest kinds (`crate::guest`) sit above this
//! module and scenarios above both; this module imports neither.

pub mod capture;
pub mod guest_faults;
pub mod nondeterminism;
pub mod pagemap;
pub mod prefault;
pub mod store_state;
pub mod ticker;
pub mod wasi;

pub use store_state::StoreState;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Stdout (and, separately, stderr) a call may write when `[guest]
/// output_limit` is not set: 64 MiB, room for real outputs (an image, a
/// rendered page); a guest writing more gets write errors, and the fault
/// names the limit ([`capture`]). Memory is taken only as a call writes.
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 << 20;

/// The WASI state of a store, by the WASI generation its guest imports.
pub enum Wasi {
    /// The guest imports no WASI (the synthetic module, a plain component).
    None,
    /// WASI preview1 (`wasi_snapshot_preview1`), for core modules.
    P1(WasiP1Ctx),
    /// WASI preview2 (`wasi:cli`, `wasi:io`, ...) and `wasi:http`, for components.
    P2 {
        /// The WASI context.
        ctx: WasiCtx,
        /// Resources the guest holds (streams, requests, responses).
        table: ResourceTable,
        /// wasi:http state.
        http: WasiHttpCtx,
    },
}

/// A store's captured stdout and stderr, each kept per call up to the
/// guest's output limit ([`capture::CapturePipe`]).
pub struct Output {
    /// The guest's stdout.
    pub stdout: capture::CapturePipe,
    /// The guest's stderr.
    pub stderr: capture::CapturePipe,
}

impl Output {
    /// Empty pipes keeping up to `limit` bytes each per call.
    pub fn new(limit: usize) -> Output {
        Output {
            stdout: capture::CapturePipe::new(limit),
            stderr: capture::CapturePipe::new(limit),
        }
    }

    /// What the guest wrote to stderr since the last take (emptied).
    pub fn new_stderr(&mut self) -> capture::Taken {
        self.stderr.take()
    }

    /// What the guest wrote to stdout since the last take (emptied).
    pub fn new_stdout(&mut self) -> capture::Taken {
        self.stdout.take()
    }
}

/// Host state of every store pooling-lab makes.
pub struct Host {
    /// Store limits (`[guest] memory_limit`; installed only when set).
    pub limits: StoreLimits,
    /// WASI context. It grants only what the guest kind's
    /// [`wasi::WasiSpec`] names: no host files, environment or arguments
    /// otherwise.
    pub wasi: Wasi,
    /// Captured stdout/stderr, when the guest has WASI.
    pub output: Option<Output>,
    /// The folders the guest was granted; its fresh ones are removed when
    /// the store (and this) is dropped.
    pub folders: wasi::SandboxFolders,
    /// Per-store state of the layers above (a reactor's init marker, a
    /// kind's exports looked up once, a command's start), one value per
    /// type, so that no layer replaces another's. This layer does not
    /// interpret it.
    pub state: StoreState,
    /// When set, each call's outputs (a label naming the call, and the bytes
    /// it returned or wrote to stdout) are appended here, to compare one
    /// guest's outputs with another's (a snapshot's with the original's).
    /// `None` in measured stores: nothing is copied.
    pub transcript: Option<Vec<(String, Vec<u8>)>>,
}

impl Host {
    /// Where the guest's file `path` is on the host, through the folders
    /// this store was granted (`None`: under none of them).
    pub fn host_path(&self, path: &str) -> Option<std::path::PathBuf> {
        self.folders.host_path(path)
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        match &mut self.wasi {
            Wasi::P2 { ctx, table, .. } => WasiCtxView { ctx, table },
            // Only components are linked against preview2, and their stores
            // are always made with a preview2 context (StoreSpec::wasi).
            _ => panic!("a preview2 guest's store was made without a preview2 context"),
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        match &mut self.wasi {
            Wasi::P2 { http, table, .. } => WasiHttpCtxView {
                ctx: http,
                table,
                hooks: Default::default(),
            },
            _ => panic!("a wasi:http guest's store was made without a preview2 context"),
        }
    }
}

/// Which WASI a store gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasiLevel {
    /// None.
    None,
    /// Preview1, for core modules.
    P1,
    /// Preview2 with wasi:http, for components.
    P2,
}

/// Everything a new store needs: limits, deadlines and WASI.
#[derive(Debug, Clone)]
pub struct StoreSpec {
    /// Most linear memory the store may grow to (`None`: no limiter installed).
    pub memory_limit: Option<usize>,
    /// Trap when the epoch deadline passes.
    pub deadlines: bool,
    /// The engine checks epochs (`epoch_interruption`) but no deadline is
    /// armed: the store's deadline is put out of reach, or its first
    /// instruction would trap (a store starts with its deadline reached).
    pub epochs: bool,
    /// The engine meters fuel (`consume_fuel`): the store gets all the fuel
    /// there is, so metering costs what it costs and never stops a call (a
    /// store starts with none, and its first instruction would trap).
    pub fuel: bool,
    /// Which WASI the guest imports.
    pub wasi_level: WasiLevel,
    /// What the guest may see through WASI.
    pub wasi: wasi::WasiSpec,
}

/// A new store: host state, `memory_limit` (a grow beyond it traps), epoch
/// deadline traps when `deadlines` is set, and the WASI the spec grants. A
/// grant that fails (a folder vanished after the variant was prepared) is
/// left out, and the guest then fails its imports, which is recorded as a
/// fault of that call.
pub fn new_store(engine: &Engine, spec: &StoreSpec) -> Store<Host> {
    let mut folders = wasi::SandboxFolders::default();
    let (wasi, output) = match spec.wasi_level {
        WasiLevel::None => (Wasi::None, None),
        level => {
            let output = Output::new(spec.wasi.output_limit.unwrap_or(DEFAULT_OUTPUT_LIMIT));
            let mut b = wasmtime_wasi::WasiCtxBuilder::new();
            b.stdout(output.stdout.clone())
                .stderr(output.stderr.clone());
            folders = spec.wasi.apply(&mut b).0;
            let wasi = if level == WasiLevel::P1 {
                Wasi::P1(b.build_p1())
            } else {
                Wasi::P2 {
                    ctx: b.build(),
                    table: ResourceTable::new(),
                    http: WasiHttpCtx::new(),
                }
            };
            (wasi, Some(output))
        }
    };
    let host = Host {
        limits: StoreLimitsBuilder::new()
            .memory_size(spec.memory_limit.unwrap_or(usize::MAX))
            .trap_on_grow_failure(true)
            .build(),
        wasi,
        output,
        folders,
        state: StoreState::new(),
        transcript: None,
    };
    let mut store = Store::new(engine, host);
    // Only a configured limit installs the limiter: it is a boxed callback
    // that every memory grow (instantiation included) goes through, which
    // production without limits does not pay.
    if spec.memory_limit.is_some() {
        store.limiter(|h| &mut h.limits);
    }
    if spec.deadlines {
        store.epoch_deadline_trap();
    } else if spec.epochs {
        // Nothing advances the epoch without a deadline (no ticker runs).
        store.set_epoch_deadline(u64::MAX / 2);
    }
    if spec.fuel {
        // Cannot fail: `fuel` is set only for an engine that meters it.
        let _ = store.set_fuel(u64::MAX);
    }
    store
}

/// Adds WASI preview1 to a core-module linker (for guests that import it).
pub fn add_wasi_p1(linker: &mut wasmtime::Linker<Host>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |h: &mut Host| match &mut h.wasi {
        Wasi::P1(ctx) => ctx,
        // Stores of preview1 guests are always made with a preview1 context.
        _ => panic!("a preview1 guest's store was made without a preview1 context"),
    })
}

thread_local! {
    /// A current-thread tokio runtime per measuring thread, for guests whose
    /// host side is async (wasi:http): no runtime thread of its own, so a
    /// call runs on the thread that times it.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a current-thread tokio runtime");
}

/// Runs `f` to completion on this thread's runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(f))
}
