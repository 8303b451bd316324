//! Scenarios: what a variant's child process does and measures.

pub mod churn;
pub mod scaling;

use crate::WasmtimeContext;
use crate::guest;
use crate::settings::{Load, Variant};
use anyhow::Result;
use std::path::Path;
use std::time::Instant;
use wasmtime::{Engine, InstancePre, Linker, Module};

/// An engine with the guest loaded and linked, ready to instantiate.
pub struct Prepared {
    /// The variant's engine.
    pub engine: Engine,
    /// The loaded module.
    pub module: Module,
    /// Linked and type-checked once, so instantiation timing excludes linking.
    pub pre: InstancePre<()>,
    /// Name of the workload export.
    pub entry: &'static str,
    /// Time spent loading the module (compile, deserialize or deserialize_file).
    pub load_ns: u64,
}

/// Builds the engine for `variant`.
pub fn engine(variant: &Variant) -> Result<Engine> {
    Engine::new(&variant.wasmtime_config()).wt_context(|| "creating the engine")
}

/// Loads and links the guest for `variant` into `engine`.
pub fn prepare(engine: Engine, variant: &Variant, artifact: Option<&Path>) -> Result<Prepared> {
    let wasm = guest::guest_wasm(&variant.guest)?;
    let t = Instant::now();
    let module = guest::load_module(&engine, variant.guest.load, &wasm, artifact)?;
    let load_ns = t.elapsed().as_nanos() as u64;
    drop(wasm);
    let linker = Linker::new(&engine);
    let pre = linker
        .instantiate_pre(&module)
        .wt_context(|| "linking the guest")?;
    Ok(Prepared {
        engine,
        module,
        pre,
        entry: guest::entry_point(&variant.guest),
        load_ns,
    })
}

/// Whether a variant needs a precompiled artifact prepared by the parent.
pub fn needs_artifact(variant: &Variant) -> bool {
    variant.guest.load != Load::Compile
}
