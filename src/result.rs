//! The result file: a stable, versioned JSON contract for downstream tools.
//!
//! Units are in the field names (`_bytes`, `_ns`). The JSON Schema generated
//! from these types is committed as `results/schema/result-v2.json`; a test
//! fails when the types and the committed schema disagree.

use crate::measure::disturbance::Disturbance;
use crate::scenario::ScenarioResult;
use crate::settings::Variant;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::guest::{PreinitSnapshot, VaryingOutput};
pub use crate::metric::{Better, Comparison, RoundStat, Unit};

/// Version of the result layout. Bump on any incompatible change, and teach
/// [`upgrade`] to convert the older layout.
///
/// 2: a variant's and a round's figures are one `result` tagged with its
/// scenario (`{"scenario": "churn", ...}`); 1 had one optional field per
/// scenario (`scaling`, `churn`, `pool`, `session`, `soak`, `serve`, `tenants`).
pub const SCHEMA_VERSION: u32 = 2;

/// The per-scenario fields of layout 1, each the name of its scenario.
const V1_SCENARIO_FIELDS: &[&str] = &[
    "scaling", "churn", "pool", "session", "soak", "serve", "tenants",
];

/// Converts a measurement's figures (a variant, a round, or a child's
/// answer) from layout 1's per-scenario fields to layout 2's tagged
/// `result`, in place; a measurement already in layout 2 is left alone.
pub fn upgrade_measurement(m: &mut serde_json::Map<String, serde_json::Value>) {
    let mut found = None;
    for key in V1_SCENARIO_FIELDS {
        match m.remove(*key) {
            Some(serde_json::Value::Object(mut fields)) if found.is_none() => {
                fields.insert("scenario".into(), serde_json::Value::String((*key).into()));
                found = Some(serde_json::Value::Object(fields));
            }
            _ => {}
        }
    }
    if let Some(result) = found {
        m.insert("result".into(), result);
    }
}

/// Converts a result file's JSON of any older layout to [`SCHEMA_VERSION`],
/// in place. Errors name the layout it cannot read.
pub fn upgrade(doc: &mut serde_json::Value) -> Result<(), String> {
    let version = doc
        .get("schema_version")
        .and_then(|v| v.as_u64())
        .ok_or("no schema_version")?;
    if version > u64::from(SCHEMA_VERSION) {
        return Err(format!(
            "schema_version {version} is newer than this pooling-lab reads ({SCHEMA_VERSION}): use a newer build"
        ));
    }
    if version < 2
        && let Some(variants) = doc.get_mut("variants").and_then(|v| v.as_array_mut())
    {
        for v in variants.iter_mut().filter_map(|v| v.as_object_mut()) {
            upgrade_measurement(v);
            if let Some(rounds) = v.get_mut("rounds").and_then(|r| r.as_array_mut()) {
                for r in rounds.iter_mut().filter_map(|r| r.as_object_mut()) {
                    upgrade_measurement(r);
                }
            }
        }
    }
    doc["schema_version"] = serde_json::Value::from(SCHEMA_VERSION);
    Ok(())
}

/// One experiment run: every variant, side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResultFile {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Experiment name.
    pub experiment: String,
    /// `[experiment] description`.
    pub description: Option<String>,
    /// Path of the config file as given.
    pub config_path: String,
    /// Full text of the config file.
    pub config_source: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// When the file was last written (RFC 3339, UTC).
    pub updated_at: String,
    /// `false` while variants are still running (or if the run was stopped).
    pub complete: bool,
    /// The machine and build that measured.
    pub host: HostInfo,
    /// The keys given as lists (`section.key`) and their alternatives.
    pub axes: Vec<AxisResult>,
    /// Name of the variant the others are compared with.
    #[serde(default)]
    pub baseline: String,
    /// One entry per variant, in expansion order.
    pub variants: Vec<VariantResult>,
    /// Charts written next to the result (SVG and PNG), relative to this file's folder.
    #[serde(default)]
    pub plots: Vec<String>,
    /// Rounds asked for (`run --rounds`, `[experiment] rounds`): each variant
    /// measured in this many separate processes, interleaved. 1 in results
    /// written before rounds existed.
    #[serde(default = "one")]
    pub rounds: u32,
    /// Share of all CPUs other processes could use before a variant was
    /// marked disturbed (`[experiment] disturbed_cpu_share`); absent in
    /// results written before disturbances were detected.
    #[serde(default)]
    pub disturbed_cpu_share: Option<f64>,
}

fn one() -> u32 {
    1
}

/// A key given as a list of alternatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AxisResult {
    /// `section.key`.
    pub key: String,
    /// Label of each alternative.
    pub values: Vec<String>,
}

/// One variant's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VariantResult {
    /// Variant name (the keys that differ).
    pub name: String,
    /// The resolved settings the variant ran with.
    pub settings: Variant,
    /// Settings read back from the built engine (wasmtime's getters), defaults included.
    pub effective: serde_json::Value,
    /// Whether it was measured.
    pub status: VariantStatus,
    /// Wall time of the variant's process.
    pub wall_ns: u64,
    /// Its scenario's figures, tagged with the scenario (with rounds: the
    /// median round's; kept when the variant failed after measuring, e.g. a
    /// soak above its growth bound or a server that died mid-run).
    #[serde(default)]
    pub result: Option<ScenarioResult>,
    /// This variant against the baseline (absent for the baseline itself, or
    /// until the baseline has been measured).
    pub vs_baseline: Option<Comparison>,
    /// Reasons not to trust some figures (spread, drift, timer floor).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// With `[guest] preinit`: the pre-initialised module the sandboxes were
    /// made from (`settings` keep the interpreter and the code it was made with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preinit_snapshot: Option<PreinitSnapshot>,
    /// With rounds: every round's figures, in the order measured (a round
    /// re-run because it was disturbed is kept, marked `replaced`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<RoundRecord>,
    /// With rounds: the round whose figures fill this variant's scenario
    /// fields (the median round of its primary figure, see
    /// [`crate::scenario::Scenario::primary`]); 0 without rounds.
    #[serde(default)]
    pub shown_round: u32,
    /// With rounds: every headline metric's median, min-max and confidence
    /// interval over the counted rounds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub between_rounds: Vec<RoundStat>,
    /// What else the machine did while it measured (with rounds: the most
    /// disturbed counted round); absent if it could not be sampled.
    #[serde(default)]
    pub disturbance: Option<Disturbance>,
    /// Other processes used more than the stated share of the CPU while it
    /// measured (with rounds: in any counted round). `compare` never calls a
    /// disturbed variant better or worse.
    #[serde(default)]
    pub disturbed: bool,
}

/// One round of one variant: the figures of one child process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoundRecord {
    /// Round number, from 1.
    pub round: u32,
    /// Place in that round's order (1 = measured first in the round).
    pub position: u32,
    /// This is the re-run of a round that was disturbed.
    #[serde(default)]
    pub rerun: bool,
    /// Superseded by its re-run (kept for the record, not counted).
    #[serde(default)]
    pub replaced: bool,
    /// Whether it was measured.
    pub status: VariantStatus,
    /// When the child started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time of the child process.
    pub wall_ns: u64,
    /// What else the machine did meanwhile.
    #[serde(default)]
    pub disturbance: Option<Disturbance>,
    /// This round's figures, tagged with the scenario.
    #[serde(default)]
    pub result: Option<ScenarioResult>,
}

/// Outcome of a variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum VariantStatus {
    /// Measured.
    Ok,
    /// Not measured; the reason says why (error, or the signal that killed its process).
    Failed {
        /// What happened.
        reason: String,
    },
}

/// The machine and build a result was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostInfo {
    /// pooling-lab version.
    pub pooling_lab_version: String,
    /// wasmtime version the binary was built with.
    pub wasmtime_version: String,
    /// `git rev-parse HEAD` of the working tree, if any.
    pub git_commit: Option<String>,
    /// Whether the working tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// `git rev-parse HEAD` of the checkout the binary was built from (when
    /// it differs from `git_commit`, the figures are the build's, not the
    /// checkout's). `None`: not built from a checkout, or an older result.
    #[serde(default)]
    pub build_commit: Option<String>,
    /// Kernel release.
    pub kernel: String,
    /// CPU model name.
    pub cpu_model: String,
    /// CPUs available to the process.
    pub cpus: usize,
    /// `MemTotal`.
    pub mem_total_bytes: u64,
    /// Host page size.
    pub page_size_bytes: u64,
    /// Whether the CPU reports `pku` (memory protection keys).
    pub cpu_has_pku: bool,
    /// Whether wasmtime can use memory protection keys here.
    pub mpk_available: bool,
    /// Whether wasmtime can use the PAGEMAP_SCAN ioctl here (Linux 6.7+).
    pub pagemap_scan_available: bool,
}

impl HostInfo {
    /// Describes the current machine.
    pub fn detect() -> HostInfo {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        };
        let flags = cpu_field("flags").unwrap_or_default();
        let mem_total_bytes = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        use crate::git::git;
        let git_commit = git(&["rev-parse", "HEAD"]);
        let git_dirty = git_commit
            .as_ref()
            .and_then(|_| git(&["status", "--porcelain", "--untracked-files=no"]))
            .map(|s| !s.is_empty());
        HostInfo {
            pooling_lab_version: env!("CARGO_PKG_VERSION").to_string(),
            wasmtime_version: env!("POOLING_LAB_WASMTIME_VERSION").to_string(),
            git_commit,
            git_dirty,
            build_commit: Some(env!("POOLING_LAB_BUILD_COMMIT"))
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            cpu_model: cpu_field("model name").unwrap_or_else(|| "unknown".into()),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total_bytes,
            // SAFETY: sysconf has no preconditions.
            page_size_bytes: unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64,
            cpu_has_pku: flags.split_whitespace().any(|f| f == "pku"),
            mpk_available: wasmtime::PoolingAllocationConfig::are_memory_protection_keys_available(
            ),
            pagemap_scan_available: wasmtime::PoolingAllocationConfig::is_pagemap_scan_available(),
        }
    }
}

/// The JSON Schema of [`ResultFile`].
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ResultFile)).unwrap_or_default()
}
