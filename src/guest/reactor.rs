//! `wasi-reactor`: a WASI preview1 reactor driven through an argv export.
//!
//! On a fresh instance `_initialize` runs once; each call writes `argv` into
//! guest memory (the guest's `malloc`), calls the argv export
//! (`qjs_init_argv(argc, argv)` for QuickJS), frees the strings, calls the
//! teardown export (`qjs_destroy`) and checks status and output.

use super::check;
use super::init::initialize_once;
use super::sandbox::{Guest, Sandbox, grants, instantiate_core};
use crate::WasmtimeContext;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::GuestSettings;
use anyhow::Result;
use wasmtime::{
    Extern, Instance, InstancePre, Linker, Module, ModuleExport, Store, TypedFunc, format_err,
};

/// The reactor guest.
pub struct Reactor {
    pre: InstancePre<Host>,
    /// `memory`, `malloc`, `free`, the argv export, the teardown export
    /// (when set), resolved once so that a call looks nothing up by name.
    exports: [Option<ModuleExport>; 5],
    argv_export: String,
    /// The argument strings, NUL-terminated.
    argv: Vec<Vec<u8>>,
    expect: super::check::Outputs,
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
        let exports = [
            "memory",
            "malloc",
            "free",
            g.argv_export.as_str(),
            g.teardown_export.as_str(),
        ]
        .map(|n| {
            (!n.is_empty())
                .then(|| module.get_export_index(n))
                .flatten()
        });
        let mut linker = Linker::new(module.engine());
        crate::host::add_wasi_p1(&mut linker).wt_context(|| "adding WASI to the linker")?;
        let pre = linker
            .instantiate_pre(&module)
            .wt_context(|| "linking the guest")?;
        Ok(Reactor {
            pre,
            exports,
            argv_export: g.argv_export.clone(),
            argv: g
                .argv
                .iter()
                .map(|a| [a.as_bytes(), &[0]].concat())
                .collect(),
            expect: super::check::Outputs::from_settings(g)?,
            wasi: grants(g),
        })
    }

    /// The store's exports, typed, resolved through the indexes found at
    /// link time (once per store: [`ReactorState`]).
    fn resolve(
        &self,
        store: &mut Store<Host>,
        instance: &Instance,
    ) -> wasmtime::Result<ReactorState> {
        let mut get = |i: usize| -> wasmtime::Result<Option<Extern>> {
            match &self.exports[i] {
                Some(e) => Ok(Some(
                    instance.get_module_export(&mut *store, e).ok_or_else(|| {
                        format_err!("an export resolved when the guest was prepared is missing")
                    })?,
                )),
                None => Ok(None),
            }
        };
        let memory = get(0)?.and_then(Extern::into_memory);
        let [malloc, free, run, teardown] =
            [1, 2, 3, 4].map(|i| get(i).map(|e| e.and_then(Extern::into_func)));
        let (malloc, free, run, teardown) = (malloc?, free?, run?, teardown?);
        let missing = |what: &str| format_err!("the guest exports no `{what}`");
        Ok(ReactorState {
            memory: memory.ok_or_else(|| missing("memory"))?,
            malloc: malloc.ok_or_else(|| missing("malloc"))?.typed(&*store)?,
            free: free.ok_or_else(|| missing("free"))?.typed(&*store)?,
            run: run
                .ok_or_else(|| missing(&self.argv_export))?
                .typed(&*store)?,
            teardown: teardown.map(|f| f.typed(&*store)).transpose()?,
            ptrs: Vec::with_capacity(self.argv.len() + 1),
            table: Vec::with_capacity(self.argv.len() * 4),
        })
    }

    /// One evaluation with the store's resolved exports.
    fn run(&self, store: &mut Store<Host>, st: &mut ReactorState) -> wasmtime::Result<()> {
        // The strings (NUL-terminated), then the pointer array.
        st.ptrs.clear();
        st.table.clear();
        for bytes in &self.argv {
            let p = st.malloc.call(&mut *store, bytes.len() as i32)?;
            if p == 0 {
                return Err(format_err!("guest malloc returned NULL"));
            }
            st.memory.write(&mut *store, p as u32 as usize, bytes)?;
            st.ptrs.push(p);
            st.table.extend_from_slice(&p.to_le_bytes());
        }
        let argv = st.malloc.call(&mut *store, st.table.len().max(4) as i32)?;
        if argv == 0 {
            return Err(format_err!("guest malloc returned NULL"));
        }
        st.memory
            .write(&mut *store, argv as u32 as usize, &st.table)?;
        let r = st.run.call(&mut *store, (st.ptrs.len() as i32, argv));
        let rc = check::after_call(store, r)?;
        st.ptrs.push(argv);
        for &p in &st.ptrs {
            st.free.call(&mut *store, p)?;
        }
        if let Some(teardown) = &st.teardown {
            teardown.call(&mut *store, ())?;
        }
        check::output(store, rc, &self.argv_export, &self.expect)
    }
}

/// Per-store state of a reactor: `_initialize` has run, the exports are
/// typed, and the buffers a call fills are kept.
struct ReactorState {
    memory: wasmtime::Memory,
    malloc: TypedFunc<i32, i32>,
    free: TypedFunc<i32, ()>,
    run: TypedFunc<(i32, i32), i32>,
    teardown: Option<TypedFunc<(), ()>>,
    ptrs: Vec<i32>,
    table: Vec<u8>,
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
        instantiate_core(&self.pre, store)
    }

    fn initialise(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        initialize_once(store, sandbox.core()?)
    }

    fn call(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        let instance = *sandbox.core()?;
        let mut state = match store.data_mut().state.take::<ReactorState>() {
            // (Another reactor of the same module, a snapshot's warm-up,
            // resolves the same exports: only argv, kept here, differs.)
            Some(state) => state,
            None => {
                // A fresh store: `_initialize` once (the init marker is
                // its own entry), then the exports resolved for this store.
                initialize_once(store, &instance)?;
                self.resolve(store, &instance)?
            }
        };
        let out = self.run(store, &mut state);
        store.data_mut().state.insert(state);
        out
    }
}
