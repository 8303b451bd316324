//! Scenarios: what a variant's child process does and measures.

pub mod churn;
pub mod pool;
pub mod scaling;
pub mod session;

use crate::WasmtimeContext;
use crate::guest;
use crate::measure::latency::{Hist, LatencySummary};
use crate::settings::{Load, Variant};
use anyhow::Result;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
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

/// One timed phase's latency and where its full histogram was saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhaseLatency {
    /// Phase name (`instantiate`, `call`, `drop`, `cycle`, `acquire`, ...).
    pub phase: String,
    /// Percentiles over all threads.
    pub summary: LatencySummary,
    /// The `.hlog` interval log (V2 deflate, base64), relative to the JSON file's folder.
    pub hlog_path: Option<String>,
    /// The `.hgrm` percentile distribution (microseconds), relative to the JSON file's folder.
    pub hgrm_path: Option<String>,
}

impl PhaseLatency {
    /// A phase summarised from its histogram; the paths are set when it is saved.
    pub fn of(phase: &str, h: &Hist) -> PhaseLatency {
        PhaseLatency {
            phase: phase.to_string(),
            summary: LatencySummary::of(h),
            hlog_path: None,
            hgrm_path: None,
        }
    }
}

/// The merged histograms of a run, to be saved next to the result.
pub struct Histograms {
    /// Phase name and histogram, in report order.
    pub named: Vec<(String, Hist)>,
    /// When the timed part started.
    pub started: SystemTime,
    /// Length of the timed part.
    pub wall: Duration,
}
