//! What every guest kind implements ([`Guest`]), the sandbox it
//! instantiates ([`Sandbox`]) and what the kinds share to do it. The kinds'
//! modules import it; it imports none of them.

use crate::WasmtimeContext;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::GuestSettings;
use anyhow::Result;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

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
/// (see [`super::prepare`]); the rest is per sandbox.
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

    /// The guest as a wasi:http proxy (its pre-instance), for the serve
    /// scenario's server.
    fn as_http(&self) -> Option<&ProxyPre<Host>> {
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

/// The WASI grants `[guest]` gives every WASI guest (`grant_env`,
/// `private_tmp`, `dirs`: host folders first, then fresh ones, each in the
/// config's order).
pub fn grants(g: &GuestSettings) -> WasiSpec {
    WasiSpec {
        grant_env: g.grant_env.clone(),
        private_tmp: g.private_tmp,
        preopens: g
            .dirs
            .iter()
            .filter(|d| !d.host.is_empty())
            .map(|d| {
                (
                    std::path::PathBuf::from(&d.host),
                    d.guest.clone(),
                    d.writable,
                )
            })
            .collect(),
        fresh: g
            .dirs
            .iter()
            .filter(|d| d.host.is_empty())
            .map(|d| d.guest.clone())
            .collect(),
        keep_fresh: g.keep_sandbox_dirs,
        output_limit: Some(usize::try_from(g.output_limit.0).unwrap_or(usize::MAX)),
        ..WasiSpec::default()
    }
}
