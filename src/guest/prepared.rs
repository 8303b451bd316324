//! A variant's guest loaded, linked and ready to instantiate ([`Prepared`]):
//! the engine, the kind's [`Guest`] over the loaded module or component, and
//! what each store gets.

use super::loaded::Loaded;
use super::sandbox::{Guest, Sandbox};
use super::{command, component, http, plan, python, reactor, synthetic};
use crate::WasmtimeContext;
use crate::host::ticker::EpochTicker;
use crate::host::{Host, StoreSpec};
use crate::settings::{GuestKind, GuestSettings, Load, Prefault, Variant};
use anyhow::Result;
use std::path::Path;
use std::time::Instant;
use wasmtime::{Engine, Store};

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
    let wasm = super::artifact::guest_wasm(g)?;
    let t = Instant::now();
    let loaded = super::artifact::load(&engine, g.load, &wasm, artifact)?;
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
pub fn guest_for(g: &GuestSettings, loaded: Loaded) -> Result<Box<dyn Guest>> {
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
