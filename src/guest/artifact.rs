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

pub use super::loaded::Loaded;

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
    /// The measured call's outputs that vary between fresh sandboxes of the
    /// un-snapshotted guest (or that `[guest] nondeterministic` lists), and
    /// whether the snapshot froze each (absent: every output was the same in
    /// every sandbox, and the snapshot's equal to it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub varying_outputs: Vec<VaryingOutput>,
}

/// An output of the measured call that is not the same in every fresh
/// sandbox of the un-snapshotted guest: the guest's own nondeterminism (a
/// salt, an id, a time), which the snapshot's check does not hold against
/// the snapshot. What the snapshot does to it is recorded: sandboxes started
/// from it may all give the same value (the entropy is frozen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VaryingOutput {
    /// Which output (`the result of `redact``, `the stdout of `turn``).
    pub label: String,
    /// Its values in two fresh sandboxes of the un-snapshotted guest
    /// (escaped, shortened); equal only when it is listed in `[guest]
    /// nondeterministic` and happened not to vary this time.
    pub without_snapshot: [String; 2],
    /// Its values in two fresh sandboxes started from the snapshot.
    pub from_snapshot: [String; 2],
    /// Listed in `[guest] nondeterministic` (the variation is expected).
    pub declared: bool,
    /// The un-snapshotted guest's values differed, and the snapshot's two did
    /// not: every sandbox from the snapshot now gives one value.
    pub frozen: bool,
}
