//! `wasi-reactor`: a WASI preview1 reactor driven through an argv export.
//!
//! On a fresh instance `_initialize` runs once; each call writes `argv` into
//! guest memory (the guest's `malloc`), calls the argv export
//! (`qjs_init_argv(argc, argv)` for QuickJS), frees the strings, calls the
//! teardown export (`qjs_destroy`) and checks status and output.

use super::{Guest, Sandbox, check, grants};
use crate::WasmtimeContext;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::GuestSettings;
use anyhow::Result;
use wasmtime::{Instance, InstancePre, Linker, Module, Store, format_err};

/// The reactor guest.
pub struct Reactor {
    pre: InstancePre<Host>,
    argv_export: String,
    argv: Vec<String>,
    teardown_export: String,
    expect_stdout: String,
    wasi: WasiSpec,
}

impl Reactor {
    /// Links the module against WASI preview1 and checks the exports it needs.
    pub fn new(module: Module, g: &GuestSettings) -> Result<Reactor> {
        use super::plan::{I32, expect_func};
        expect_func(&module, "argv_export", &g.argv_export, &[I32, I32], &[I32])?;
        expect_func(&module, "kind", "malloc", &[I32], &[I32])?;
        expect_func(&module, "kind", "free", &[I32], &[])?;
        if !g.teardown_export.is_empty() {
            expect_func(&module, "teardown_export", &g.teardown_export, &[], &[])?;
        }
        let mut linker = Linker::new(module.engine());
        crate::host::add_wasi_p1(&mut linker).wt_context(|| "adding WASI to the linker")?;
        let pre = linker
            .instantiate_pre(&module)
            .wt_context(|| "linking the guest")?;
        Ok(Reactor {
            pre,
            argv_export: g.argv_export.clone(),
            argv: g.argv.clone(),
            teardown_export: g.teardown_export.clone(),
            expect_stdout: g.expect_stdout.clone(),
            wasi: grants(g),
        })
    }
}

/// Per-store marker: the instance's `_initialize` has run.
struct Initialised;

/// Calls a WASI reactor's `_initialize` (if it has one) the first time a
/// store's instance is used; later calls find the store initialised.
pub(crate) fn initialize_once(
    store: &mut Store<Host>,
    instance: &Instance,
) -> wasmtime::Result<()> {
    let done = store
        .data()
        .guest
        .as_ref()
        .is_some_and(|g| g.is::<Initialised>());
    if !done {
        // `get_func`, not `get_typed_func`: a module without `_initialize`
        // (a wizer snapshot) is the common case of a fresh Python sandbox,
        // and a failed typed lookup builds an error message every time.
        if let Some(init) = instance.get_func(&mut *store, "_initialize") {
            init.typed::<(), ()>(&*store)?.call(&mut *store, ())?;
        }
        store.data_mut().guest = Some(Box::new(Initialised));
    }
    Ok(())
}

/// The guest's exported linear memory.
pub(crate) fn guest_memory(
    store: &mut Store<Host>,
    instance: &Instance,
) -> wasmtime::Result<wasmtime::Memory> {
    instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| format_err!("the guest exports no `memory`"))
}

impl Guest for Reactor {
    fn wasi(&self) -> (WasiLevel, WasiSpec) {
        (WasiLevel::P1, self.wasi.clone())
    }

    fn instantiate(&self, store: &mut Store<Host>) -> Result<Sandbox> {
        super::instantiate_core(&self.pre, store)
    }

    fn initialise(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        initialize_once(store, sandbox.core()?)
    }

    fn call(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        let instance = *sandbox.core()?;
        initialize_once(store, &instance)?;
        let memory = guest_memory(store, &instance)?;
        let malloc = instance.get_typed_func::<i32, i32>(&mut *store, "malloc")?;
        let free = instance.get_typed_func::<i32, ()>(&mut *store, "free")?;
        // The strings (NUL-terminated), then the pointer array.
        let mut ptrs = Vec::with_capacity(self.argv.len());
        for a in &self.argv {
            let bytes = [a.as_bytes(), &[0]].concat();
            let p = malloc.call(&mut *store, bytes.len() as i32)?;
            if p == 0 {
                return Err(format_err!("guest malloc returned NULL"));
            }
            memory.write(&mut *store, p as u32 as usize, &bytes)?;
            ptrs.push(p);
        }
        let table: Vec<u8> = ptrs.iter().flat_map(|p| p.to_le_bytes()).collect();
        let argv = malloc.call(&mut *store, table.len().max(4) as i32)?;
        memory.write(&mut *store, argv as u32 as usize, &table)?;
        let run =
            instance.get_typed_func::<(i32, i32), i32>(&mut *store, self.argv_export.as_str())?;
        let rc = run.call(&mut *store, (ptrs.len() as i32, argv))?;
        for p in ptrs.into_iter().chain([argv]) {
            free.call(&mut *store, p)?;
        }
        if !self.teardown_export.is_empty() {
            instance
                .get_typed_func::<(), ()>(&mut *store, self.teardown_export.as_str())?
                .call(&mut *store, ())?;
        }
        check::output(store, rc, &self.argv_export, &self.expect_stdout)
    }
}
