//! Guest workloads and how their modules are loaded.
//!
//! Precompiled artifacts are cached on disk, keyed by the guest's hash and the
//! engine's compatibility hash (a `.cwasm` only loads into an engine whose
//! compilation settings match), written atomically and fsync'd so that a fresh
//! artifact's dirty page-cache pages do not skew the next memory reading.

pub mod preinit;
pub mod synthetic;
pub mod workload;

use workload::Workload;

use crate::WasmtimeContext;
use crate::settings::{GuestKind, GuestSettings, Load};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::{Engine, Module};

/// Where the project's fetch script puts downloaded guests.
pub const FETCH_COMMAND: &str = "scripts/fetch-guests.sh";

/// The wasm bytes of a guest.
pub fn guest_wasm(g: &GuestSettings) -> Result<Vec<u8>> {
    match g.kind {
        GuestKind::Synthetic => Ok(synthetic::module_bytes(g)),
        GuestKind::Python => std::fs::read(&g.python_wasm).with_context(|| {
            format!(
                "reading the guest `{}` ([guest] python_wasm); downloaded guests are not committed: run `{FETCH_COMMAND} --only python` first",
                g.python_wasm
            )
        }),
        GuestKind::WasiReactor => std::fs::read(&g.wasm).with_context(|| {
            format!(
                "reading the guest `{}` ([guest] wasm); downloaded guests are not committed: run `{FETCH_COMMAND}` first",
                g.wasm
            )
        }),
    }
}

fn grants(g: &GuestSettings) -> workload::Grants {
    workload::Grants {
        env: g.grant_env.clone(),
        private_tmp: g.private_tmp,
    }
}

/// What one call of the guest's workload does.
pub fn workload(g: &GuestSettings) -> Workload {
    match g.kind {
        GuestKind::Synthetic => Workload::Synthetic,
        GuestKind::WasiReactor => Workload::Reactor(
            workload::ReactorCall {
                argv_export: g.argv_export.clone(),
                argv: g.argv.clone(),
                teardown_export: g.teardown_export.clone(),
                expect_stdout: g.expect_stdout.clone(),
            },
            grants(g),
        ),
        GuestKind::Python => Workload::Python(
            workload::PythonCall {
                code: g.code.clone(),
                lib: g.python_lib.clone().into(),
                expect_stdout: g.expect_stdout.clone(),
            },
            grants(g),
        ),
    }
}

/// The variant as measured when `[guest] preinit` is set: its interpreter
/// pre-initialised (built and cached under `cache_dir` first if needed, see
/// [`preinit`]) and `python_wasm` pointing at the snapshot. `None` when the
/// variant has no `preinit`. The second value says whether the snapshot was
/// built now.
///
/// The snapshotting instance runs on the variant's engine settings with the
/// on-demand allocator (one instance; the pool's limits are for the sandboxes).
pub fn resolve_preinit(
    v: &crate::settings::Variant,
    cache_dir: &Path,
) -> Result<Option<(crate::settings::Variant, bool)>> {
    if v.guest.preinit.is_empty() {
        return Ok(None);
    }
    let wasm = guest_wasm(&v.guest)?;
    let mut engine_settings = v.engine.clone();
    engine_settings.allocator = Some(crate::settings::Allocator::OnDemand);
    let config = crate::settings::wasmtime_config(&engine_settings, &v.pooling);
    let engine =
        Engine::new(&config).wt_context(|| "creating the engine to pre-initialise the guest")?;
    let (path, fresh) = preinit::ensure_snapshot(
        cache_dir,
        &engine,
        &wasm,
        &v.guest.preinit,
        &workload(&v.guest),
    )
    .with_context(|| {
        format!(
            "pre-initialising `{}` with [guest] preinit = {:?}",
            v.guest.python_wasm, v.guest.preinit
        )
    })?;
    let mut resolved = v.clone();
    resolved.guest.python_wasm = path.display().to_string();
    Ok(Some((resolved, fresh)))
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
    let bytes = engine
        .precompile_module(wasm)
        .wt_context(|| "precompiling the guest")?;
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

/// Loads a module the way `load` says. `artifact` is required for `bytes` and `file`.
pub fn load_module(
    engine: &Engine,
    load: Load,
    wasm: &[u8],
    artifact: Option<&Path>,
) -> Result<Module> {
    match load {
        Load::Compile => Module::new(engine, wasm).wt_context(|| "compiling the guest"),
        Load::Bytes | Load::File => {
            let path = artifact.context("no precompiled artifact was prepared for this variant")?;
            if load == Load::Bytes {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                // SAFETY: the artifact was produced by `Engine::precompile_module` of a
                // compatible engine and written by this crate; wasmtime checks the header.
                unsafe { Module::deserialize(engine, &bytes) }
                    .wt_context(|| format!("deserializing {}", path.display()))
            } else {
                // SAFETY: as above; the file is not modified while mapped (the cache
                // only ever renames complete files into place).
                unsafe { Module::deserialize_file(engine, path) }
                    .wt_context(|| format!("deserializing {}", path.display()))
            }
        }
    }
}
