//! `wasi-command`: a WASI preview1 command module (`_start`), run the way
//! `wasmtime run` runs it: argv, granted environment, stdin bytes from the
//! config, and the exit status checked (`proc_exit(0)` or a plain return is
//! success; any other status is a fault naming it), then stdout/stderr. An
//! instance runs `_start` once: every call needs a fresh instance.

use super::check;
use super::plan::expect_func;
use super::sandbox::{Guest, Sandbox, grants, instantiate_core};
use crate::WasmtimeContext;
use crate::host::guest_faults::check_failed;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::GuestSettings;
use anyhow::Result;
use wasmtime::{InstancePre, Linker, Module, Store, format_err};

/// The command guest.
pub struct Command {
    pre: InstancePre<Host>,
    expect: super::check::Outputs,
    wasi: WasiSpec,
}

/// Per-store marker: `_start` has run in this instance.
struct Started;

impl Command {
    /// Links the module against WASI preview1 and checks its `_start`.
    pub fn new(module: Module, g: &GuestSettings) -> Result<Command> {
        expect_func(&module, "kind", "_start", &[], &[])?;
        let mut linker = Linker::new(module.engine());
        crate::host::add_wasi_p1(&mut linker).wt_context(|| "adding WASI to the linker")?;
        let pre = linker.instantiate_pre(&module).wt_context(
            || "linking the guest (kind = \"wasi-command\" offers WASI preview1 and nothing else)",
        )?;
        let mut wasi = grants(g);
        wasi.args = g.argv.clone();
        wasi.stdin = g.stdin.as_bytes().to_vec();
        Ok(Command {
            pre,
            expect: super::check::Outputs::from_settings(g)?,
            wasi,
        })
    }
}

/// The exit status of a finished command: `Ok(status)` for a return or a
/// `proc_exit`, `Err` for a trap or another failure.
pub fn exit_status(r: wasmtime::Result<()>) -> wasmtime::Result<i32> {
    match r {
        Ok(()) => Ok(0),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => Err(e),
        },
    }
}

/// Checks a finished command: a non-zero exit status fails (naming it, with
/// stderr), then stderr and stdout are checked as any WASI call's.
pub fn check_exit(
    store: &mut Store<Host>,
    status: i32,
    what: &str,
    want: &check::Outputs,
) -> wasmtime::Result<()> {
    if status != 0 {
        let err = store
            .data_mut()
            .output
            .as_mut()
            .map(|o| o.new_stderr().bytes)
            .unwrap_or_default();
        return Err(check_failed(format!(
            "the command exited with status {status}; stderr: {}",
            crate::host::capture::excerpt(&err, 400)
        )));
    }
    check::output(store, 0, what, want)
}

impl Guest for Command {
    fn wasi(&self) -> (WasiLevel, WasiSpec) {
        (WasiLevel::P1, self.wasi.clone())
    }

    fn instantiate(&self, store: &mut Store<Host>) -> Result<Sandbox> {
        instantiate_core(&self.pre, store)
    }

    fn reusable(&self) -> bool {
        false
    }

    fn call(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        if store.data().state.contains::<Started>() {
            return Err(format_err!(
                "a command's `_start` runs once per instance: this scenario reuses sandboxes, which a WASI command cannot serve"
            ));
        }
        store.data_mut().state.insert(Started);
        let instance = *sandbox.core()?;
        let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
        let r = exit_status(start.call(&mut *store, ()));
        let status = check::after_call(store, r)?;
        check_exit(store, status, "_start", &self.expect)
    }
}
