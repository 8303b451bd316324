//! What one "call of the guest's workload" means for each guest kind.
//!
//! * synthetic: call the export `run` (dirties its pages, maybe faults).
//! * wasi-reactor: on a fresh instance call its `_initialize` once; then write
//!   `argv` into guest memory (the guest's `malloc`), call the argv export
//!   (`qjs_init_argv(argc, argv)` for QuickJS), free the strings, call the
//!   teardown export (`qjs_destroy`), and check the result: a non-zero return,
//!   output on stderr, or stdout without the expected text is a fault (a
//!   sandbox that printed an error is a failed sample, not a fast one).

use crate::scenario::Host;
use wasmtime::{Instance, Store, format_err};

/// Stdout/stderr kept per store; a guest writing more gets write errors.
pub const OUTPUT_CAPACITY: usize = 64 << 10;

/// How a WASI reactor guest is driven.
#[derive(Debug, Clone, PartialEq)]
pub struct ReactorCall {
    /// Export taking `(argc: i32, argv: i32) -> i32`.
    pub argv_export: String,
    /// The argument vector, `argv[0]` first.
    pub argv: Vec<String>,
    /// Export called after each evaluation (`""` = none).
    pub teardown_export: String,
    /// Text stdout must contain after a call (`""` = not checked).
    pub expect_stdout: String,
}

/// The workload of a guest.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// The synthetic module's `run` export.
    Synthetic,
    /// A WASI preview1 reactor driven through an argv export.
    Reactor(ReactorCall),
}

impl Workload {
    /// Whether the guest imports WASI (its stores need a WASI context).
    pub fn needs_wasi(&self) -> bool {
        matches!(self, Workload::Reactor(_))
    }

    /// One call of the workload on `instance`.
    pub fn call(&self, store: &mut Store<Host>, instance: &Instance) -> wasmtime::Result<()> {
        match self {
            Workload::Synthetic => instance
                .get_typed_func::<(), ()>(&mut *store, crate::guest::synthetic::ENTRY)?
                .call(&mut *store, ()),
            Workload::Reactor(r) => reactor_call(r, store, instance),
        }
    }
}

fn reactor_call(
    r: &ReactorCall,
    store: &mut Store<Host>,
    instance: &Instance,
) -> wasmtime::Result<()> {
    if !store.data().initialized {
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut *store, "_initialize") {
            init.call(&mut *store, ())?;
        }
        store.data_mut().initialized = true;
    }
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| format_err!("the guest exports no `memory`"))?;
    let malloc = instance.get_typed_func::<i32, i32>(&mut *store, "malloc")?;
    let free = instance.get_typed_func::<i32, ()>(&mut *store, "free")?;
    // The strings (NUL-terminated), then the pointer array.
    let mut ptrs = Vec::with_capacity(r.argv.len());
    for a in &r.argv {
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
    let run = instance.get_typed_func::<(i32, i32), i32>(&mut *store, r.argv_export.as_str())?;
    let rc = run.call(&mut *store, (ptrs.len() as i32, argv))?;
    for p in ptrs.into_iter().chain([argv]) {
        free.call(&mut *store, p)?;
    }
    if !r.teardown_export.is_empty() {
        instance
            .get_typed_func::<(), ()>(&mut *store, r.teardown_export.as_str())?
            .call(&mut *store, ())?;
    }
    let h = store.data();
    let stderr = h.stderr.as_ref().map(|p| p.contents()).unwrap_or_default();
    if rc != 0 {
        return Err(format_err!(
            "`{}` returned {rc}; stderr: {}",
            r.argv_export,
            String::from_utf8_lossy(&stderr).trim()
        ));
    }
    if !stderr.is_empty() {
        return Err(format_err!(
            "the guest wrote to stderr: {}",
            String::from_utf8_lossy(&stderr).trim()
        ));
    }
    if !r.expect_stdout.is_empty() {
        let out = h.stdout.as_ref().map(|p| p.contents()).unwrap_or_default();
        if !String::from_utf8_lossy(&out).contains(r.expect_stdout.as_str()) {
            return Err(format_err!(
                "stdout lacks the expected `{}`: {}",
                r.expect_stdout,
                String::from_utf8_lossy(&out).trim()
            ));
        }
    }
    Ok(())
}
