//! Guest workloads: every kind of sandbox pooling-lab can measure, behind one
//! interface ([`Guest`]).
//!
//! A kind is loaded and linked once per variant ([`prepare`]), then each
//! sandbox is instantiated ([`Guest::instantiate`]), initialised on its
//! first call ([`Guest::initialise`]), called any number of times
//! ([`Guest::call`], which checks the result: a wrong result is a fault) and
//! torn down by dropping its store. The host plumbing (stores, WASI
//! contexts, limits, deadlines, output pipes) is in [`crate::host`], beneath
//! this module; scenarios sit above it.
//!
//! | kind | what it is | one call |
//! |---|---|---|
//! | `synthetic` | a generated core module | `run()` |
//! | `synthetic-component` | a generated component | `run()` |
//! | `synthetic-http` | a generated `wasi:http/proxy` component | one HTTP request |
//! | `wasi-reactor` | a WASI p1 reactor driven through an argv export (QuickJS) | `argv_export(argc, argv)` |
//! | `python` | CPython for wasm32-wasip1 | one `turn` |
//! | `wasi-command` | a WASI p1 command module | `_start` (once per instance) |
//! | `core` | a core module with its own ABI | the `[guest] calls` plan |
//! | `cli-component` | a `wasi:cli/run` component | `run` (once per instance) |
//! | `http-component` | a `wasi:http/proxy` component | one HTTP request |

pub mod artifact;
pub mod check;
pub mod command;
pub mod component;
pub mod fetched;
pub mod http;
mod init;
mod loaded;
pub mod plan;
pub mod preflight;
pub mod python;
pub mod reactor;
pub mod shape;
pub mod snapshot;
pub mod synthetic;
pub mod synthetic_component;
pub mod wasm_file;

pub use artifact::{
    PreinitSnapshot, VaryingOutput, artifact_path, ensure_artifact, guest_wasm, write_cached,
};
pub use fetched::FETCH_COMMAND;
pub use snapshot::resolve_preinit;

use crate::WasmtimeContext;
use crate::host::ticker::EpochTicker;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, StoreSpec, WasiLevel};
use crate::settings::{GuestKind, GuestSettings, Load, Prefault, Variant};
use anyhow::Result;
use std::path::Path;
use std::time::Instant;
use wasmtime::{Engine, Store};

/// A live sandbox's instance, by what was instantiated.
pub enum Sandbox {
    /// A core module instance.
    Core(wasmtime::Instance),
    /// A component instance.
    Component(wasmtime::component::Instance),
    /// A `wasi:http/proxy` component instance with its handler bindings.
    Proxy(Box<wasmtime_wasi_http::p2::bindings::Proxy>),
}

impl Sandbox {
    /// The core instance (for core-module kinds).
    pub fn core(&self) -> wasmtime::Result<&wasmtime::Instance> {
        match self {
            Sandbox::Core(i) => Ok(i),
            _ => Err(wasmtime::format_err!(
                "this sandbox is not a core module instance"
            )),
        }
    }

    /// The linear memory of a core sandbox: its export `memory`, else the
    /// first memory it exports (`None` for components, whose memories the
    /// host cannot see). Looks exports up by name: call it outside timed
    /// regions.
    pub fn core_memory(&self, store: &mut Store<Host>) -> Option<wasmtime::Memory> {
        let name = self.core_memory_name(store)?;
        self.core().ok()?.get_memory(&mut *store, &name)
    }

    /// The linear memory `export` (from [`memory_export`]) resolves to in
    /// this sandbox: no name lookup, for timed regions. `None` for
    /// components.
    pub fn core_memory_at(
        &self,
        store: &mut Store<Host>,
        export: &wasmtime::ModuleExport,
    ) -> Option<wasmtime::Memory> {
        self.core()
            .ok()?
            .get_module_export(&mut *store, export)
            .and_then(wasmtime::Extern::into_memory)
    }

    /// The name of the export [`Sandbox::core_memory`] picks.
    pub fn core_memory_name(&self, store: &mut Store<Host>) -> Option<String> {
        let instance = self.core().ok()?;
        if instance.get_memory(&mut *store, "memory").is_some() {
            return Some("memory".to_string());
        }
        instance
            .exports(&mut *store)
            .find(|e| e.clone().into_extern().into_memory().is_some())
            .map(|e| e.name().to_string())
    }
}

/// The memory export [`Sandbox::core_memory`] picks in instances of
/// `module` (`memory`, else the first exported memory), resolved to an
/// index once so that a timed region looks nothing up by name.
pub fn memory_export(module: &wasmtime::Module) -> Option<wasmtime::ModuleExport> {
    let name = match module.get_export("memory") {
        Some(wasmtime::ExternType::Memory(_)) => "memory".to_string(),
        _ => module
            .exports()
            .find(|e| e.ty().memory().is_some())?
            .name()
            .to_string(),
    };
    module.get_export_index(&name)
}

/// What every guest kind implements: load and link happen when it is made
/// (see [`prepare`]); the rest is per sandbox.
pub trait Guest: Send + Sync {
    /// What a store of this guest needs: its WASI level and grants.
    fn wasi(&self) -> (WasiLevel, WasiSpec);

    /// Instantiates one sandbox into `store` (linking was done once, before).
    fn instantiate(&self, store: &mut Store<Host>) -> Result<Sandbox>;

    /// Runs the guest's once-per-instance initialisation (a reactor's
    /// `_initialize`, a plan's `init` calls). Idempotent: the first call of
    /// [`Guest::call`] runs it if nobody did.
    fn initialise(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        let _ = (store, sandbox);
        Ok(())
    }

    /// One call of the workload, checked: a wrong result is an error
    /// ([`crate::host::guest_faults::CheckFailed`]), counted as a fault.
    fn call(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()>;

    /// Whether one instance may serve more than one call (a command's
    /// `_start` runs once per instance, as `wasmtime run` does).
    fn reusable(&self) -> bool {
        true
    }

    /// The guest as a wasi:http proxy, for the serve scenario's server.
    fn as_http(&self) -> Option<&http::HttpGuest> {
        None
    }

    /// Tears a sandbox down. Dropping the store frees the instance and
    /// returns its slot to the pool; a kind with host resources to release
    /// first overrides this.
    fn teardown(&self, store: Store<Host>, sandbox: Sandbox) {
        drop(sandbox);
        drop(store);
    }
}

/// Instantiates a linked core module into `store` (the core-module kinds).
pub fn instantiate_core(
    pre: &wasmtime::InstancePre<Host>,
    store: &mut Store<Host>,
) -> Result<Sandbox> {
    pre.instantiate(store)
        .map(Sandbox::Core)
        .wt_context(|| "instantiating")
}

/// An engine with the guest loaded and linked, ready to instantiate.
pub struct Prepared {
    /// The variant's engine.
    pub engine: Engine,
    /// The guest.
    pub guest: Box<dyn Guest>,
    /// What each new store gets.
    pub store_spec: StoreSpec,
    /// Time spent loading the module or component (compile, deserialize or
    /// deserialize_file).
    pub load_ns: u64,
    /// `[scenario] call_deadline_ms` in epoch ticks (1 ms), if set.
    pub deadline_ticks: Option<u64>,
    /// `[guest] prefault`, when not `none`, with the slots it has populated.
    pub prefault: Option<(Prefault, crate::host::prefault::Prefaulter)>,
    /// The memory export [`Sandbox::core_memory`] picks, resolved to an index
    /// on the first sandbox so that the timed phases look nothing up by name.
    memory_export: std::sync::OnceLock<Option<wasmtime::ModuleExport>>,
    _ticker: Option<EpochTicker>,
}

impl Prepared {
    /// A new store with the variant's limits and the guest's WASI.
    pub fn new_store(&self) -> Store<Host> {
        crate::host::new_store(&self.engine, &self.store_spec)
    }

    /// Instantiates a sandbox into `store`.
    pub fn instantiate(&self, store: &mut Store<Host>) -> Result<Sandbox> {
        let sandbox = self.guest.instantiate(store)?;
        if let Some((Prefault::All, p)) = &self.prefault
            && let Some(m) = self.memory_of(store, &sandbox)
        {
            p.all(m.data_ptr(&*store), m.data_size(&*store))
                .map_err(|e| anyhow::anyhow!("prefaulting the sandbox's memory: {e}"))?;
        }
        Ok(sandbox)
    }

    /// Tears a sandbox down (its slot returns to the pool), after
    /// `[guest] prefault = "untouched"` has populated what is due. A failure
    /// to populate changes nothing the next sandbox sees: it is ignored.
    pub fn teardown(&self, mut store: Store<Host>, sandbox: Sandbox) {
        if let Some((Prefault::Untouched, p)) = &self.prefault
            && let Some(m) = self.memory_of(&mut store, &sandbox)
        {
            let _ = p.untouched(m.data_ptr(&store), m.data_size(&store));
        }
        self.guest.teardown(store, sandbox);
    }

    /// The sandbox's linear memory as [`Sandbox::core_memory`] picks it,
    /// through an export index resolved once (a sandbox of another module,
    /// `sharing = "module-per-sandbox"`, falls back to the name lookup).
    fn memory_of(&self, store: &mut Store<Host>, sandbox: &Sandbox) -> Option<wasmtime::Memory> {
        let instance = sandbox.core().ok()?;
        let export = self.memory_export.get_or_init(|| {
            let name = sandbox.core_memory_name(store)?;
            instance.module(&*store).get_export_index(&name)
        });
        export
            .as_ref()
            .and_then(|e| instance.get_module_export(&mut *store, e))
            .and_then(wasmtime::Extern::into_memory)
            .or_else(|| sandbox.core_memory(store))
    }

    /// One call of the guest's workload (arms the deadline first).
    pub fn call(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        self.arm_deadline(store);
        self.guest.call(store, sandbox)
    }

    /// Arms the per-call deadline (if any): call right before each guest call.
    #[inline]
    pub fn arm_deadline(&self, store: &mut Store<Host>) {
        if let Some(ticks) = self.deadline_ticks {
            store.set_epoch_deadline(ticks);
        }
    }
}

/// Builds the engine for `variant`.
pub fn engine(variant: &Variant) -> Result<Engine> {
    Engine::new(&variant.wasmtime_config()).wt_context(|| "creating the engine")
}

/// Whether a variant needs a precompiled artifact prepared by the parent.
pub fn needs_artifact(variant: &Variant) -> bool {
    variant.guest.load != Load::Compile
}

/// Loads and links the guest for `variant` into `engine`: every export the
/// kind or its plan names is looked up and type-checked here, so a mistake
/// is an error before any sandbox exists.
pub fn prepare(engine: Engine, variant: &Variant, artifact: Option<&Path>) -> Result<Prepared> {
    let g = &variant.guest;
    let wasm = guest_wasm(g)?;
    let t = Instant::now();
    let loaded = artifact::load(&engine, g.load, &wasm, artifact)?;
    let load_ns = t.elapsed().as_nanos() as u64;
    drop(wasm);
    let guest = guest_for(g, loaded)?;
    let deadline_ticks =
        (variant.scenario.call_deadline_ms > 0).then_some(variant.scenario.call_deadline_ms);
    let ticker = match deadline_ticks {
        Some(_) => Some(EpochTicker::start(&engine)?),
        None => None,
    };
    let (wasi_level, wasi) = guest.wasi();
    Ok(Prepared {
        store_spec: StoreSpec {
            memory_limit: (g.memory_limit.0 > 0)
                .then(|| usize::try_from(g.memory_limit.0).unwrap_or(usize::MAX)),
            deadlines: deadline_ticks.is_some(),
            epochs: variant.engine.epoch_interruption == Some(true),
            fuel: variant.engine.consume_fuel == Some(true),
            wasi_level,
            wasi,
        },
        engine,
        guest,
        load_ns,
        deadline_ticks,
        prefault: (g.prefault != Prefault::None)
            .then(|| (g.prefault, crate::host::prefault::Prefaulter::new())),
        memory_export: std::sync::OnceLock::new(),
        _ticker: ticker,
    })
}

/// The guest of kind `[guest] kind` over a loaded module or component:
/// links it (every export the kind or its plan names is looked up and
/// type-checked here) and pre-instantiates it.
pub fn guest_for(g: &GuestSettings, loaded: artifact::Loaded) -> Result<Box<dyn Guest>> {
    Ok(match g.kind {
        GuestKind::Synthetic => Box::new(synthetic::SyntheticGuest::new(loaded.module()?)?),
        GuestKind::WasiReactor => Box::new(reactor::Reactor::new(loaded.module()?, g)?),
        GuestKind::Python => Box::new(python::Python::new(loaded.module()?, g)?),
        GuestKind::WasiCommand => Box::new(command::Command::new(loaded.module()?, g)?),
        GuestKind::Core => Box::new(plan::PlanGuest::new(loaded.module()?, g)?),
        GuestKind::SyntheticComponent | GuestKind::CliComponent => {
            Box::new(component::ComponentGuest::new(loaded.component()?, g)?)
        }
        GuestKind::SyntheticHttp | GuestKind::HttpComponent => {
            Box::new(http::HttpGuest::new(loaded.component()?, g)?)
        }
    })
}

/// The WASI grants `[guest]` gives every WASI guest (`grant_env`, `private_tmp`).
pub fn grants(g: &GuestSettings) -> WasiSpec {
    WasiSpec {
        grant_env: g.grant_env.clone(),
        private_tmp: g.private_tmp,
        ..WasiSpec::default()
    }
}
