//! Scenarios: what a variant's child process does and measures.

pub mod churn;
pub mod pool;
pub mod scaling;
pub mod serve;
pub mod session;
pub mod soak;
pub mod tenants;

pub use crate::guest::{Prepared, engine, needs_artifact, prepare};
pub use crate::host::guest_faults::{FaultKind, GuestFaults, classify};

use crate::measure::latency::{Hist, LatencySummary};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// What the parent precompiled for a variant's child ([`ensure_artifacts`]).
pub struct Artifacts {
    /// The variant's own guest artifact.
    pub path: std::path::PathBuf,
    /// Whether it was compiled now (not found in the cache).
    pub fresh: bool,
    /// Tenants compiled now (tenants scenario; 0 when all were cached).
    pub tenants_compiled: usize,
}

/// Precompiles into `cache_dir` everything the child of `v` will only
/// deserialize: the variant's guest and, for the tenants scenario, every
/// tenant the run loads. `None` when the child compiles (`load = "compile"`).
pub fn ensure_artifacts(
    v: &crate::settings::Variant,
    cache_dir: &std::path::Path,
) -> anyhow::Result<Option<Artifacts>> {
    if !needs_artifact(v) {
        return Ok(None);
    }
    let engine = engine(v)?;
    let wasm = crate::guest::guest_wasm(&v.guest)?;
    let (path, fresh) = crate::guest::ensure_artifact(cache_dir, &engine, &wasm)?;
    let tenants_compiled = match v.scenario.kind {
        crate::settings::ScenarioKind::Tenants => tenants::precompile(v, cache_dir)?,
        _ => 0,
    };
    Ok(Some(Artifacts {
        path,
        fresh,
        tenants_compiled,
    }))
}

/// Why a variant fails when every one of its timed calls faulted: a
/// configuration mistake (a wrong export, argument or expected output)
/// looks exactly like that, and must not be reported as a measurement.
/// `None` when some call succeeded, or when the config says faults are
/// expected (`[scenario] expect_faults`, or a synthetic guest told to fault).
pub fn all_calls_faulted(
    v: &crate::settings::Variant,
    churn: Option<&churn::ChurnResult>,
    soak: Option<&soak::SoakResult>,
    tenants: Option<&tenants::TenantsResult>,
) -> Option<String> {
    use crate::settings::GuestFault;
    let told_to_fault = matches!(
        v.guest.fault,
        GuestFault::Trap | GuestFault::Loop | GuestFault::Grow
    );
    if v.scenario.expect_faults || told_to_fault {
        return None;
    }
    let (faults, calls) = match (churn, soak) {
        (Some(c), _) => (&c.faults, c.total_cycles),
        (_, Some(s)) => (&s.faults, s.cycles),
        _ => tenants.map(|t| (&t.faults, t.requests))?,
    };
    (calls > 0 && faults.total() >= calls).then(|| {
        format!(
            "every one of the {calls} timed calls faulted, so nothing was measured; the first: {} (if the faults are what this experiment measures, set [scenario] expect_faults = true)",
            faults.first.as_deref().unwrap_or("?")
        )
    })
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
