//! Snapshots (`[guest] snapshot`, python `preinit`): run a guest's
//! initialisation once, before any sandbox exists, and write the resulting
//! state into a new module with `wasmtime-wizer`, so that every sandbox
//! starts initialised.
//!
//! wasmtime-wizer's split API is used, with WASI linked (its one-shot `run`
//! calls a nullary init export, which cannot pass the arguments a plan's
//! `init` calls take):
//! 1. [`Wizer::instrument`] the module (it refuses what it cannot snapshot:
//!    imported globals, tables or memories; code that could mutate a table
//!    or a GC object; mutable reference globals);
//! 2. instantiate the instrumented module as the guest kind itself would,
//!    and run the kind's own initialisation, step by step (a trap names its
//!    step): `_initialize`; `wizer.initialize` when the module exports it
//!    (wizer's convention; the plain Python interpreter does); python: then
//!    `preinit` followed by `gc.collect(); gc.freeze()` (so
//!    the imported objects stay out of later collections and their pages
//!    stay shared); core: the plan's `init` calls;
//! 3. `after-warmup`: `snapshot_warmup_calls` calls of the warm-up workload,
//!    which the config keeps apart from the measured one;
//! 4. [`Wizer::snapshot`] memories and mutable globals (wizer drops
//!    `_initialize` from the exports: a restored sandbox must not run it
//!    again).
//!
//! Snapshots are cached by everything they depend on except the measured
//! workload, so variants that differ only in it share one. Each is checked
//! once per measured workload (a stamp beside it): a fresh instance of the un-snapshotted
//! guest (initialised, never warmed up) and a fresh instance of the snapshot
//! each make the measured call once, and every output the config can see
//! (returned bytes and integers, stdout) must be equal; a difference is a
//! config error naming the call. While the snapshot's initialisation runs,
//! its random and clock reads are counted ([`Recorder`]): a snapshot
//! freezes those values into every sandbox, and the result lists them.
//!
//! State outside the module is not carried over: open host files, the
//! host's WASI tables. wasi-libc's table of preopened folders lives in
//! linear memory, so a restored sandbox must see its folders at the same
//! descriptors: the snapshot is made with the variant's own grants, which
//! are part of the cache key.
//!
//! Components are not snapshotted here: componentize-py and ComponentizeJS
//! pre-initialise every component they build, and [`toolchain_preinit`]
//! reports that from the component's `producers` sections.

use crate::WasmtimeContext;
use crate::host::nondeterminism::{Reads, Recorder};
use crate::host::{Host, StoreSpec};
use crate::settings::{GuestKind, GuestSettings, SnapshotPoint};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;
use wasmtime::{Engine, Instance, Module, Store};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::artifact::{PreinitSnapshot, VaryingOutput, ensure_artifact, write_cached};
use super::loaded::Loaded;
use super::prepared::guest_for;
use super::sandbox::{Guest, Sandbox};

/// The export the plain Python interpreter offers for snapshotting.
pub const INIT_EXPORT: &str = "wizer.initialize";

/// Appended to the `preinit` code and run after a Python warm-up: collect,
/// then move every surviving object to the permanent generation (as the
/// guest's own snapshot does), so later collections in a sandbox do not
/// write to the snapshot's pages.
const FREEZE: &str = "\nimport gc as __pl_gc\n__pl_gc.collect()\n__pl_gc.freeze()\ndel __pl_gc\n";

/// Bumped when the way snapshots are made changes (part of the cache key).
const RECIPE: &str = concat!(
    "pooling-lab snapshot v4; wasmtime-wizer ",
    env!("POOLING_LAB_WASMTIME_VERSION")
);

/// A snapshot that cannot be made, or that does not behave as the guest
/// does: a config error naming the `[guest]` key and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError {
    /// The `[guest]` key at fault.
    pub key: &'static str,
    /// What went wrong.
    pub message: String,
    /// What to change.
    pub fix: String,
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[guest] {}: {} (fix: {})",
            self.key, self.message, self.fix
        )
    }
}

impl std::error::Error for SnapshotError {}

fn error(key: &'static str, message: String, fix: &str) -> anyhow::Error {
    SnapshotError {
        key,
        message,
        fix: fix.to_string(),
    }
    .into()
}

/// What building a snapshot recorded; cached beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Built {
    /// Instrument, compile (or load the instrumented guest's cached
    /// artifact, when the same guest was snapshotted before on the same
    /// engine settings), initialise, warm up and snapshot, in ms.
    pub build_ms: f64,
    /// The random and clock reads of the snapshot's initialisation and
    /// warm-up, now frozen into every sandbox.
    pub frozen: Reads,
}

/// The `[guest]` keys of the measured workload: a snapshot does not depend
/// on them (variants that differ only in them share one), but its check does.
const MEASURED_WORKLOAD: &[&str] = &[
    "code",
    "argv",
    "calls",
    "expect_stdout",
    "not_expect_stdout",
    "stdin",
    "nondeterministic",
];

/// Where the snapshot of `wasm` under `g` is cached, keyed by everything it
/// depends on: the module, the kind's keys (init plan, preinit, warm-up,
/// grants; not the measured workload), the Python stdlib.
pub fn snapshot_path(cache_dir: &Path, wasm: &[u8], g: &GuestSettings) -> Result<PathBuf> {
    let mut keys = serde_json::to_value(crate::settings::KindKeys(g))?;
    if let serde_json::Value::Object(map) = &mut keys {
        for k in [
            "load",
            "sharing",
            "memory_limit",
            "prefault",
            "wasm",
            "python_wasm",
        ]
        .iter()
        .chain(MEASURED_WORKLOAD)
        {
            map.remove(*k);
        }
        map.insert(
            "point".into(),
            serde_json::Value::from(g.snapshot_point().name()),
        );
    }
    let env: Vec<(String, String)> = g
        .grant_env
        .iter()
        .map(|n| (n.clone(), std::env::var(n).unwrap_or_default()))
        .collect();
    let mut h = Sha256::new();
    let keys = keys.to_string();
    let env = format!("{env:?}");
    let stdlib = match g.kind {
        GuestKind::Python => {
            let zip = Path::new(&g.python_lib).join("python315.zip");
            std::fs::read(&zip).with_context(|| format!("reading the stdlib {}", zip.display()))?
        }
        _ => Vec::new(),
    };
    for part in [
        RECIPE.as_bytes(),
        wasm,
        keys.as_bytes(),
        env.as_bytes(),
        &stdlib,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let hex: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(cache_dir.join(format!("snapshot-{hex}.wasm")))
}

/// A snapshot ready to measure: where it is cached and what building and
/// checking it found.
#[derive(Debug, Clone)]
pub struct Ensured {
    /// The snapshot module.
    pub path: PathBuf,
    /// What building it recorded.
    pub built: Built,
    /// Whether it was built now (not found in the cache).
    pub fresh: bool,
    /// The measured call's outputs that vary between fresh sandboxes, and
    /// whether the snapshot froze them ([`verify`]).
    pub varying: Vec<VaryingOutput>,
}

/// Returns the cached snapshot (and what building and checking it
/// recorded), building and checking it first if needed.
pub fn ensure_snapshot(
    cache_dir: &Path,
    engine: &Engine,
    wasm: &[u8],
    g: &GuestSettings,
) -> Result<Ensured> {
    let path = snapshot_path(cache_dir, wasm, g)?;
    let sidecar = path.with_extension("json");
    let cached = path
        .exists()
        .then(|| std::fs::read(&sidecar).ok())
        .flatten()
        .and_then(|b| serde_json::from_slice::<Built>(&b).ok());
    let (built, fresh) = match cached {
        Some(built) => (built, false),
        None => {
            let (snapshot, built) = build(cache_dir, engine, wasm, g)?;
            write_cached(cache_dir, &path, &snapshot)?;
            write_cached(cache_dir, &sidecar, &serde_json::to_vec_pretty(&built)?)?;
            (built, true)
        }
    };
    // Checked once per measured workload (the stamp names it, and keeps
    // what the check found about outputs that vary).
    let stamp = verified_path(&path, g)?;
    let checked = std::fs::read(&stamp)
        .ok()
        .and_then(|b| serde_json::from_slice::<Vec<VaryingOutput>>(&b).ok());
    let varying = match checked {
        Some(varying) => varying,
        None => {
            let snapshot =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let varying = verify(cache_dir, engine, wasm, &snapshot, g)?;
            write_cached(cache_dir, &stamp, &serde_json::to_vec_pretty(&varying)?)?;
            varying
        }
    };
    Ok(Ensured {
        path,
        built,
        fresh,
        varying,
    })
}

/// The stamp that says the snapshot at `path` gives the un-snapshotted
/// guest's outputs on `g`'s measured workload.
fn verified_path(path: &Path, g: &GuestSettings) -> Result<PathBuf> {
    let all = serde_json::to_value(crate::settings::KindKeys(g))?;
    let workload: Vec<_> = MEASURED_WORKLOAD.iter().map(|k| all.get(*k)).collect();
    let digest = Sha256::digest(serde_json::to_vec(&workload)?);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(path.with_extension(format!("checked-{hex}")))
}

/// The settings a sandbox runs from the snapshot at `path` with: the module
/// replaced, and what the snapshot already ran (`preinit`, the plan's
/// `init`) removed.
pub fn from_snapshot(g: &GuestSettings, path: &Path) -> GuestSettings {
    let mut s = g.clone();
    match g.kind {
        GuestKind::Python => {
            s.python_wasm = path.display().to_string();
            s.preinit.clear();
        }
        _ => {
            s.wasm = path.display().to_string();
            s.init.clear();
        }
    }
    s.snapshot = SnapshotPoint::None;
    s
}

/// The settings the warm-up calls run with: the warm-up workload in place
/// of the measured one, unchecked (its own plan's checks excepted).
fn warmup_settings(g: &GuestSettings) -> GuestSettings {
    let mut s = g.clone();
    s.expect_stdout.clear();
    s.not_expect_stdout.clear();
    match g.kind {
        GuestKind::Python => s.code = g.snapshot_warmup_code.clone(),
        GuestKind::WasiReactor => s.argv = g.snapshot_warmup_argv.clone(),
        _ => s.calls = g.snapshot_warmup_plan.clone(),
    }
    s
}

/// One call's outputs, as [`Host::transcript`] records them.
type Transcript = Vec<(String, Vec<u8>)>;

/// Builds the snapshot of `wasm` (a core module) as `g` says. Returns it
/// and what building it recorded.
/// The instrumented module is compiled through the artifact cache under
/// `cache_dir` (instrumenting is deterministic: a rebuilt snapshot of the
/// same guest compiles nothing new).
pub fn build(
    cache_dir: &Path,
    engine: &Engine,
    wasm: &[u8],
    g: &GuestSettings,
) -> Result<(Vec<u8>, Built)> {
    let t = Instant::now();
    let point = g.snapshot_point();
    let mut wizer = Wizer::new();
    // An init export by wizer's convention is run (see `initialise`) and
    // dropped from the snapshot: a restored guest must not bootstrap again.
    if exports_func(wasm, INIT_EXPORT)? {
        wizer.init_func(INIT_EXPORT);
    }
    let (cx, instrumented) = wizer.instrument(wasm).map_err(|e| refused(&e))?;
    let module = load(cache_dir, engine, &instrumented)
        .context("compiling the instrumented guest for the snapshot")?;
    let guest = guest_for(g, Loaded::Module(module.clone()))?;
    let recorder = Recorder::new();
    let (mut store, mut sandbox) = fresh(engine, guest.as_ref(), Some(recorder.clone()))?;
    initialise(g, guest.as_ref(), &mut store, &mut sandbox)?;
    if point == SnapshotPoint::AfterWarmup {
        let warm = guest_for(&warmup_settings(g), Loaded::Module(module.clone()))
            .context("preparing the warm-up workload (snapshot_warmup_*)")?;
        let n = g.snapshot_warmup_calls;
        for i in 1..=n {
            warm.call(&mut store, &mut sandbox).map_err(|e| {
                error(
                    warmup_key(g.kind),
                    format!("warm-up call {i} of {n} failed before the snapshot: {e:#}"),
                    "make the warm-up workload one the guest runs without error (run it as the measured workload once to see)",
                )
            })?;
        }
        if g.kind == GuestKind::Python {
            let instance = *sandbox.core()?;
            super::python::turn(&mut store, &instance, FREEZE, &super::check::Outputs::NONE)
                .map_err(|e| step_failed("the gc.freeze() after the warm-up", &e))?;
        }
    }
    let instance = *sandbox.core()?;
    let mut state = Snapshotted {
        store: &mut store,
        instance,
    };
    let snapshot =
        block_on(wizer.snapshot(&cx, &mut state)).wt_context(|| "snapshotting the guest")?;
    let snapshot = drop_empty_passive_segments(&snapshot)?;
    let built = Built {
        build_ms: t.elapsed().as_secs_f64() * 1e3,
        frozen: recorder.reads(),
    };
    drop(sandbox);
    drop(store);
    crate::host::wasi::remove_private_tmp();
    Ok((snapshot, built))
}

/// `wasm` compiled by `engine`, through the artifact cache (the guest and
/// its snapshot are compiled once, and the runner reuses the artifacts).
fn load(cache_dir: &Path, engine: &Engine, wasm: &[u8]) -> Result<Module> {
    let (path, _) = ensure_artifact(cache_dir, engine, wasm)?;
    // SAFETY: the artifact was produced by `Engine::precompile_module` of an
    // engine with this one's compatibility hash and written by this crate.
    unsafe { Module::deserialize_file(engine, &path) }
        .wt_context(|| format!("loading {}", path.display()))
}

/// One fresh sandbox's outputs of the measured call: of the un-snapshotted
/// guest (initialised as the snapshot was, never warmed up) when `g` has a
/// snapshot point, or of the snapshot (`g` from [`from_snapshot`]).
fn transcript_of(
    engine: &Engine,
    module: &Module,
    g: &GuestSettings,
) -> Result<std::result::Result<Transcript, wasmtime::Error>> {
    let guest = guest_for(g, Loaded::Module(module.clone()))?;
    let (mut store, mut sandbox) = fresh(engine, guest.as_ref(), None)?;
    if g.snapshot_point() != SnapshotPoint::None {
        initialise(g, guest.as_ref(), &mut store, &mut sandbox)?;
    }
    store.data_mut().transcript = Some(Vec::new());
    let outcome = guest.call(&mut store, &mut sandbox);
    let got = store.data_mut().transcript.take().unwrap_or_default();
    drop(sandbox);
    drop(store);
    crate::host::wasi::remove_private_tmp();
    Ok(outcome.map(|()| got))
}

/// Checks that fresh sandboxes of `snapshot` make the measured call with
/// the outputs of fresh, initialised sandboxes of the un-snapshotted guest
/// `original` (never warmed up). Two sandboxes of each are run: an output
/// that differs between the original's two (or that `[guest]
/// nondeterministic` lists) is the guest's own nondeterminism, not held
/// against the snapshot but returned, with whether the snapshot's two
/// sandboxes agree on it (the entropy the snapshot froze). Every other
/// output must be equal; a difference is a config error naming it.
pub fn verify(
    cache_dir: &Path,
    engine: &Engine,
    original: &[u8],
    snapshot: &[u8],
    g: &GuestSettings,
) -> Result<Vec<VaryingOutput>> {
    let point = g.snapshot_point().name();
    let module = load(cache_dir, engine, original)?;
    let mut reference = Vec::with_capacity(2);
    for _ in 0..2 {
        reference.push(transcript_of(engine, &module, g)?.map_err(|e| {
            error(
                "snapshot",
                format!("the un-snapshotted guest fails the measured call, so there is nothing to check the snapshot against: {e:#}"),
                "fix the measured workload first (run it with snapshot = \"none\")",
            )
        })?);
    }
    let s = from_snapshot(g, Path::new("(snapshot)"));
    let module = load(cache_dir, engine, snapshot)?;
    let mut got = Vec::with_capacity(2);
    for _ in 0..2 {
        got.push(transcript_of(engine, &module, &s)?.map_err(|e| {
            error(
                "snapshot",
                format!(
                    "a sandbox started from the {point} snapshot fails the measured call that the un-snapshotted guest passes: {e:#}"
                ),
                &differs_fix(g, None),
            )
        })?);
    }
    fn value(t: &Transcript, i: usize) -> Option<&[u8]> {
        t.get(i).map(|(_, b)| b.as_slice())
    }
    let show = |b: Option<&[u8]>| b.map_or("missing".to_string(), excerpt);
    let mut varying = Vec::new();
    for (i, (label, want)) in reference[0].iter().enumerate() {
        let declared = g
            .nondeterministic
            .iter()
            .any(|n| label.contains(&format!("`{n}`")));
        let varies = value(&reference[1], i) != Some(want.as_slice());
        let (a, b) = (value(&got[0], i), value(&got[1], i));
        // A declared output that happened not to vary is listed only when
        // the snapshot's differs (otherwise there is nothing to say).
        if varies || (declared && a != Some(want.as_slice())) {
            varying.push(VaryingOutput {
                label: label.clone(),
                without_snapshot: [excerpt(want), show(value(&reference[1], i))],
                from_snapshot: [show(a), show(b)],
                declared,
                frozen: varies && a.is_some() && a == b,
            });
            continue;
        }
        let have = a;
        if have != Some(want.as_slice()) {
            return Err(error(
                "snapshot",
                format!(
                    "{label} differs: the un-snapshotted guest's is {:?}, the {point} snapshot's is {} (two fresh sandboxes of the un-snapshotted guest agree on it, so the snapshot changed it)",
                    shorten(want),
                    have.map_or("missing".to_string(), |b| format!("{:?}", shorten(b)))
                ),
                &differs_fix(g, Some(label)),
            ));
        }
    }
    if got[0].len() > reference[0].len() {
        return Err(error(
            "snapshot",
            format!(
                "the snapshot's measured call has outputs the un-snapshotted guest's has not ({} against {})",
                got[0].len(),
                reference[0].len()
            ),
            &differs_fix(g, None),
        ));
    }
    Ok(varying)
}

/// The fix for a snapshot whose sandboxes answer otherwise than the
/// un-snapshotted guest's (`label`: the output that differs), by where the
/// snapshot was taken: only an `after-warmup` snapshot has an earlier point.
fn differs_fix(g: &GuestSettings, label: Option<&String>) -> String {
    let declare = label
        .and_then(|l| l.split('`').nth(1))
        .map(|export| {
            format!(
                "; if this output may differ from one sandbox to the next, list it: [guest] nondeterministic = [\"{export}\"]"
            )
        })
        .unwrap_or_default();
    match g.snapshot_point() {
        SnapshotPoint::AfterWarmup => format!(
            "snapshot at an earlier point (after-init, or none), or change the warm-up so that it leaves nothing the measured call's output depends on{declare}"
        ),
        _ => format!(
            "the guest's initialisation leaves state that a restored sandbox answers otherwise with: measure it with snapshot = \"none\", or change its init{declare}"
        ),
    }
}

fn shorten(b: &[u8]) -> String {
    super::check::shorten(&String::from_utf8_lossy(b))
}

/// An output as a report shows it: escaped (no raw control bytes), shortened.
fn excerpt(b: &[u8]) -> String {
    super::check::shorten(&String::from_utf8_lossy(b).escape_debug().to_string())
}

/// The warm-up workload's key for `kind`.
fn warmup_key(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Python => "snapshot_warmup_code",
        GuestKind::WasiReactor => "snapshot_warmup_argv",
        _ => "snapshot_warmup_plan",
    }
}

/// A fresh store and sandbox of `guest`, recording WASI reads into `record`.
fn fresh(
    engine: &Engine,
    guest: &dyn Guest,
    record: Option<Recorder>,
) -> Result<(Store<Host>, Sandbox)> {
    let (wasi_level, mut wasi) = guest.wasi();
    wasi.record = record.clone();
    let spec = StoreSpec {
        memory_limit: None,
        deadlines: false,
        // The snapshot's engine neither meters fuel nor checks epochs
        // (artifact::snapshot_variant turns both off).
        epochs: false,
        fuel: false,
        wasi_level,
        wasi,
    };
    let mut store = crate::host::new_store(engine, &spec);
    if let Some(rec) = record {
        store.call_hook(move |_, hook| {
            if matches!(hook, wasmtime::CallHook::CallingHost) {
                rec.host_call();
            }
            Ok(())
        });
    }
    let sandbox = guest
        .instantiate(&mut store)
        .context("instantiating the guest to snapshot it")?;
    Ok((store, sandbox))
}

/// Runs the kind's own initialisation in `sandbox`, one named step at a time.
fn initialise(
    g: &GuestSettings,
    guest: &dyn Guest,
    store: &mut Store<Host>,
    sandbox: &mut Sandbox,
) -> Result<()> {
    let instance = *sandbox.core()?;
    super::init::initialize_once(store, &instance)
        .map_err(|e| step_failed("the guest's `_initialize`", &e))?;
    // wizer's convention: the module's own init export, when it has one.
    if let Some(init) = instance.get_func(&mut *store, INIT_EXPORT) {
        init.typed::<(), ()>(&*store)
            .and_then(|f| f.call(&mut *store, ()))
            .map_err(|e| step_failed(&format!("the guest's `{INIT_EXPORT}`"), &e))?;
    }
    match g.kind {
        GuestKind::Python => {
            if !g.preinit.is_empty() {
                super::python::turn(
                    store,
                    &instance,
                    &format!("{}{FREEZE}", g.preinit),
                    &super::check::Outputs::NONE,
                )
                .map_err(|e| {
                    error(
                        "preinit",
                        format!(
                            "the preinit code {:?} failed in the snapshot's initialisation: {e:#}",
                            g.preinit
                        ),
                        "make the preinit code run without error in a fresh interpreter",
                    )
                })?;
            }
        }
        GuestKind::Core => {
            guest.initialise(store, sandbox).map_err(|e| {
                error(
                    "init",
                    format!("the plan's `init` calls failed in the snapshot's initialisation: {e:#}"),
                    "make the init calls succeed on a fresh instance (run the config with snapshot = \"none\" to see the same failure per sandbox)",
                )
            })?;
        }
        _ => {
            guest
                .initialise(store, sandbox)
                .map_err(|e| step_failed("the guest's initialisation", &e))?;
        }
    }
    Ok(())
}

fn step_failed(step: &str, e: &wasmtime::Error) -> anyhow::Error {
    error(
        "snapshot",
        format!("{step} trapped while the snapshot was being initialised: {e:#}"),
        "the guest cannot start in this configuration: run it with snapshot = \"none\" to see the same failure in every sandbox, or remove snapshot",
    )
}

/// What wasmtime-wizer refused, with the fix.
fn refused(e: &wasmtime::Error) -> anyhow::Error {
    let msg = format!("{e:#}");
    let fix = if msg.contains("imported") {
        "wizer snapshots only what a module defines itself: build the guest so that it defines its memory, tables and globals (no --import-memory / --import-table), or measure it with snapshot = \"none\""
    } else if msg.contains("table.") || msg.contains("elem.drop") || msg.contains("data.drop") {
        "wizer cannot record table changes or dropped segments: build the guest without reference types and bulk-memory table ops (e.g. clang -mno-reference-types; check with `wasm-tools print | grep table.`), or measure it with snapshot = \"none\""
    } else if msg.contains("struct.") || msg.contains("array.") || msg.contains("reference type") {
        "wizer cannot snapshot GC objects or reference-typed globals: a guest compiled to wasm GC (Kotlin, Dart, OCaml, ...) cannot be snapshotted; measure it with snapshot = \"none\""
    } else {
        "measure the guest with snapshot = \"none\""
    };
    error(
        "snapshot",
        format!("wasmtime-wizer cannot snapshot this module: {msg}"),
        fix,
    )
}

/// Removes the empty passive data segments wasmtime-wizer leaves in a
/// snapshot, when nothing in the module can name a data segment.
///
/// wizer turns every active data segment of the original (already applied)
/// into an empty passive one, so that data indices stay valid. wasmtime
/// gives every passive segment a length and a base pointer in each
/// instance's `VMContext` (12 bytes, written at every instantiation): a Go
/// module's 53,027 segments become ~0.6 MiB of private memory and ~160 page
/// faults per sandbox, before it runs a single instruction. Only
/// `memory.init` and `data.drop` name segments (wizer refuses `data.drop`),
/// so a module without `memory.init` loses nothing by dropping them. A
/// module with `memory.init` is returned unchanged.
pub fn drop_empty_passive_segments(wasm: &[u8]) -> Result<Vec<u8>> {
    use wasmparser::{Operator, Payload};
    let mut empty = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.context("reading the snapshot")? {
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    if let Operator::MemoryInit { .. } = ops.read()? {
                        return Ok(wasm.to_vec());
                    }
                }
            }
            Payload::DataSection(data) => {
                for d in data {
                    let d = d?;
                    if matches!(d.kind, wasmparser::DataKind::Passive) && d.data.is_empty() {
                        empty += 1;
                    }
                }
            }
            _ => {}
        }
    }
    if empty == 0 {
        return Ok(wasm.to_vec());
    }
    let mut module = wasm_encoder::Module::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::DataCountSection { count, .. } => {
                module.section(&wasm_encoder::DataCountSection {
                    count: count - empty,
                });
            }
            Payload::DataSection(data) => {
                let mut section = wasm_encoder::DataSection::new();
                for d in data.clone() {
                    let d = d?;
                    if !(matches!(d.kind, wasmparser::DataKind::Passive) && d.data.is_empty()) {
                        let r = usize::try_from(d.range.start)?..usize::try_from(d.range.end)?;
                        section.raw(&wasm[r]);
                    }
                }
                module.section(&section);
            }
            other => {
                if let Some((id, range)) = other.as_section() {
                    let range = usize::try_from(range.start)?..usize::try_from(range.end)?;
                    module.section(&wasm_encoder::RawSection {
                        id,
                        data: &wasm[range],
                    });
                }
            }
        }
    }
    let out = module.finish();
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&out)
        .context("the snapshot without its empty data segments does not validate")?;
    Ok(out)
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

/// Bytes of a module's data segments: the memory image a snapshot adds to
/// (what CoW maps, or every instance copies without it).
pub fn data_image_bytes(wasm: &[u8]) -> u64 {
    let mut total = 0u64;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::DataSection(data)) = payload {
            for d in data.into_iter().flatten() {
                total += d.data.len() as u64;
            }
        }
    }
    total
}

/// The tools that pre-initialised a component, from the `processed-by`
/// fields of its modules' `producers` sections (componentize-py's
/// `component-init-transform`, `ComponentizeJS`, `wizer`); `None` when no
/// pre-initialiser processed it.
pub fn toolchain_preinit(wasm: &[u8]) -> Option<String> {
    // The pre-initialisers themselves, and the toolchains that always run
    // one (ComponentizeJS evaluates the JS source in StarlingMonkey under
    // wizer at build time and records only its own name).
    const PREINITIALISERS: &[&str] = &[
        "wizer",
        "component-init",
        "weval",
        "ComponentizeJS",
        "componentize-py",
    ];
    let mut found: Vec<String> = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(wasmparser::Payload::CustomSection(c)) = payload else {
            continue;
        };
        let wasmparser::KnownCustom::Producers(reader) = c.as_known() else {
            continue;
        };
        for field in reader.into_iter().flatten() {
            if field.name != "processed-by" {
                continue;
            }
            for v in field.values.into_iter().flatten() {
                let tool = format!("{} {}", v.name, v.version);
                if PREINITIALISERS.iter().any(|p| v.name.contains(p)) && !found.contains(&tool) {
                    found.push(tool);
                }
            }
        }
    }
    (!found.is_empty()).then(|| found.join(", "))
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

/// The variant as measured when it starts from a snapshot (`[guest]
/// snapshot`, python `preinit`): its module replaced by the snapshot (built,
/// checked and cached under `cache_dir` first if needed, see
/// this module), with what the snapshot describes. `None` when the
/// variant has no snapshot point. The last value says whether the snapshot
/// was built now. A component that its toolchain pre-initialised is measured
/// as it is, and reported as such.
///
/// The snapshotting instance runs on the variant's engine settings with the
/// on-demand allocator (one instance; the pool's limits are for the sandboxes).
pub fn resolve_preinit(
    v: &crate::settings::Variant,
    cache_dir: &Path,
) -> Result<Option<(crate::settings::Variant, PreinitSnapshot, bool)>> {
    let point = v.guest.snapshot_point();
    if point == crate::settings::SnapshotPoint::None {
        return Ok(None);
    }
    let wasm = super::artifact::guest_wasm(&v.guest)?;
    if v.guest.kind.is_component() {
        let Some(tools) = toolchain_preinit(&wasm) else {
            return Err(SnapshotError {
                key: "snapshot",
                message: format!(
                    "{} was not pre-initialised by its toolchain (no wizer or component-init in its producers sections), and pooling-lab snapshots core modules only: a component has no init export it could run before the snapshot",
                    v.guest.wasm
                ),
                fix: "pre-initialise it with its toolchain (componentize-py and ComponentizeJS do it for every component they build; `wasmtime wizer --init-func <export>` for a component with an init export), or use snapshot = \"none\"".into(),
            }
            .into());
        };
        let report = PreinitSnapshot {
            path: v.guest.wasm.clone(),
            wasm_bytes: wasm.len() as u64,
            point: Some("toolchain".into()),
            original_bytes: wasm.len() as u64,
            data_image_bytes: data_image_bytes(&wasm),
            original_data_image_bytes: data_image_bytes(&wasm),
            build_ms: 0.0,
            frozen: Default::default(),
            toolchain: Some(tools),
            varying_outputs: Vec::new(),
        };
        let mut measured = v.clone();
        measured.guest.snapshot = crate::settings::SnapshotPoint::None;
        return Ok(Some((measured, report, false)));
    }
    let mut engine_settings = v.engine.clone();
    engine_settings.allocator = Some(crate::settings::Allocator::OnDemand);
    // Building a snapshot needs no instruction budget or interruption: the
    // snapshot is wasm, whatever engine later runs it.
    engine_settings.consume_fuel = None;
    engine_settings.epoch_interruption = None;
    let config = crate::settings::wasmtime_config(&engine_settings, &v.pooling);
    let engine =
        Engine::new(&config).wt_context(|| "creating the engine to pre-initialise the guest")?;
    let Ensured {
        path,
        built,
        fresh,
        varying,
    } = ensure_snapshot(cache_dir, &engine, &wasm, &v.guest)?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let report = PreinitSnapshot {
        path: path.display().to_string(),
        wasm_bytes: bytes.len() as u64,
        point: Some(point.name().to_string()),
        original_bytes: wasm.len() as u64,
        data_image_bytes: data_image_bytes(&bytes),
        original_data_image_bytes: data_image_bytes(&wasm),
        build_ms: built.build_ms,
        frozen: built.frozen,
        toolchain: None,
        varying_outputs: varying,
    };
    let mut measured = v.clone();
    measured.guest = from_snapshot(&v.guest, &path);
    Ok(Some((measured, report, fresh)))
}
