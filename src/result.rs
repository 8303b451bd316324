//! The result file: a stable, versioned JSON contract for downstream tools.
//!
//! Units are in the field names (`_bytes`, `_ns`). The JSON Schema generated
//! from these types is committed as `results/schema/result-v1.json`; a test
//! fails when the types and the committed schema disagree.

use crate::measure::disturbance::Disturbance;
use crate::scenario::churn::ChurnResult;
use crate::scenario::pool::PoolResult;
use crate::scenario::scaling::ScalingResult;
use crate::scenario::session::SessionResult;
use crate::scenario::soak::SoakResult;
use crate::settings::Variant;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the result layout. Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

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
    /// Scaling scenario figures.
    pub scaling: Option<ScalingResult>,
    /// Churn scenario figures.
    pub churn: Option<ChurnResult>,
    /// Pool scenario figures.
    #[serde(default)]
    pub pool: Option<PoolResult>,
    /// Session scenario figures.
    #[serde(default)]
    pub session: Option<SessionResult>,
    /// Soak scenario figures (kept when the variant failed its growth bound).
    #[serde(default)]
    pub soak: Option<SoakResult>,
    /// Serve scenario figures (kept when the server died mid-run).
    #[serde(default)]
    pub serve: Option<crate::scenario::serve::ServeResult>,
    /// Tenants scenario figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<crate::scenario::tenants::TenantsResult>,
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
    /// [`crate::rounds::primary`]); 0 without rounds.
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
    /// Scaling figures.
    #[serde(default)]
    pub scaling: Option<ScalingResult>,
    /// Churn figures.
    #[serde(default)]
    pub churn: Option<ChurnResult>,
    /// Pool figures.
    #[serde(default)]
    pub pool: Option<PoolResult>,
    /// Session figures.
    #[serde(default)]
    pub session: Option<SessionResult>,
    /// Soak figures.
    #[serde(default)]
    pub soak: Option<SoakResult>,
    /// Serve figures of this round.
    #[serde(default)]
    pub serve: Option<crate::scenario::serve::ServeResult>,
    /// Tenants figures of this round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<crate::scenario::tenants::TenantsResult>,
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
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
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

/// Which direction is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Better {
    /// Less is better (latency, memory).
    Lower,
    /// More is better (throughput).
    Higher,
}

/// How a metric's values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Bytes (shown in MiB).
    Bytes,
    /// Nanoseconds.
    Nanos,
    /// Per second.
    PerSec,
    /// A count (faults per cycle).
    Count,
}

/// One metric over a variant's rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoundStat {
    /// Metric name (as in [`headlines`]).
    pub metric: String,
    /// Unit of every value.
    pub unit: Unit,
    /// Direction of improvement.
    pub better: Better,
    /// One value per counted round, in round order.
    pub values: Vec<f64>,
    /// Median of `values`.
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Lower end of the median's confidence interval (an order statistic).
    pub ci_low: f64,
    /// Upper end.
    pub ci_high: f64,
    /// Confidence of `[ci_low, ci_high]` (0.75 for min-max of 3 rounds).
    pub ci_level: f64,
}

/// A variant against the baseline. Every ratio is oriented so that above 1
/// means "better than the baseline".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    /// Name of the baseline variant.
    pub baseline: String,
    /// Churn, session and serve, per phase: baseline p50 / this variant's
    /// p50 (2.0 = twice as fast).
    pub p50_speedup: BTreeMap<String, f64>,
    /// Churn: this variant's cycles per second / the baseline's; serve, when
    /// both ran a closed loop: its requests per second / the baseline's.
    pub throughput_ratio: Option<f64>,
    /// Scaling: baseline Pss per instance / this variant's, at the largest
    /// live-instance count both measured (2.0 = half the memory per instance).
    pub pss_per_instance_ratio: Option<f64>,
    /// Rounds the ratios rest on: with rounds, every ratio above is the
    /// median over the rounds both measured of the ratio within each round.
    #[serde(default = "one")]
    pub rounds: u32,
    /// With rounds: the smallest and largest per-round throughput ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_ratio_range: Option<(f64, f64)>,
    /// With rounds, per phase: the smallest and largest per-round p50 speedup.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub p50_speedup_range: BTreeMap<String, (f64, f64)>,
    /// Serve: the baseline's server Pss after the timed requests / this
    /// variant's (2.0 = half the memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_pss_ratio: Option<f64>,
}
