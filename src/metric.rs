//! Metrics: the headline figures a scenario reports, their units and
//! direction, their spread between rounds, and ratios to the baseline.
//! Every scenario states its figures in these terms ([`crate::scenario`]);
//! rounds, `compare`, the reports and `tune` read them without knowing the
//! scenario.

use crate::measure::latency::{LatencySummary, PhaseLatency};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Relative change below which nothing is called a change, whatever the spread.
pub const MIN_RELATIVE: f64 = 0.05;

/// Change of a whole-process memory reading below which nothing is called a
/// change: two processes of the same binary differ by tens of KiB (heap
/// layout, lazily mapped library pages). Per-instance figures divide it by N.
pub const MIN_PROCESS_BYTES: f64 = 256.0 * 1024.0;

/// One headline figure of one measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// Metric name (`cycles / s`, `instantiate p50`, `Pss / instance @ N=100`).
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// Unit.
    pub unit: Unit,
    /// Direction of improvement.
    pub better: Better,
    /// Relative spread the measurement itself showed (p90 over p50 for a
    /// median, p99.9 over p99 for a p99), at least [`MIN_RELATIVE`]: the
    /// noise threshold when there are no rounds.
    pub within_rel: f64,
    /// Absolute change below which nothing is a change.
    pub floor_abs: f64,
    /// A timing: it varies between processes more than within one, so a
    /// single round cannot resolve small changes of it.
    pub timing: bool,
    /// Whether `compare` gives it a verdict (faults per cycle and the soak
    /// slope are reported, not judged).
    pub judged: bool,
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
    /// Metric name (as in a scenario's headlines).
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
/// The spread of a median: (p90 - p50) / p50, at least [`MIN_RELATIVE`].
pub fn p50_spread(s: &LatencySummary) -> f64 {
    let p50 = s.p50_ns.max(1) as f64;
    ((s.p90_ns as f64 - p50) / p50).max(MIN_RELATIVE)
}

/// The spread of a p99: (p99.9 - p99) / p99, at least [`MIN_RELATIVE`].
pub fn p99_spread(s: &LatencySummary) -> f64 {
    let p99 = s.p99_ns.max(1) as f64;
    ((s.p999_ns as f64 - p99) / p99).max(MIN_RELATIVE)
}

/// Each phase's p50 and p99 as headlines (timings, judged).
pub fn phase_headlines(phases: &[PhaseLatency], out: &mut Vec<Headline>) {
    for p in phases {
        let s = &p.summary;
        for (q, value, within_rel) in [
            ("p50", s.p50_ns, p50_spread(s)),
            ("p99", s.p99_ns, p99_spread(s)),
        ] {
            out.push(Headline {
                metric: format!("{} {q}", p.phase),
                value: value as f64,
                unit: Unit::Nanos,
                better: Better::Lower,
                within_rel,
                floor_abs: 0.0,
                timing: true,
                judged: true,
            });
        }
    }
}

/// A rate (higher is better, a timing) whose own spread is `within_rel`.
pub fn rate(metric: &str, value: f64, within_rel: f64) -> Headline {
    Headline {
        metric: metric.to_string(),
        value,
        unit: Unit::PerSec,
        better: Better::Higher,
        within_rel,
        floor_abs: 0.0,
        timing: true,
        judged: true,
    }
}

/// A count (faults per cycle): reported between rounds, never judged.
pub fn count(metric: &str, value: f64) -> Headline {
    Headline {
        metric: metric.to_string(),
        value,
        unit: Unit::Count,
        better: Better::Lower,
        within_rel: MIN_RELATIVE,
        floor_abs: 0.0,
        timing: false,
        judged: false,
    }
}

fn one() -> u32 {
    1
}

/// `numerator / denominator`, or `None` when it is not a finite positive number
/// (a zero reading has no meaningful ratio).
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    let r = numerator / denominator;
    (numerator > 0.0 && denominator > 0.0 && r.is_finite()).then_some(r)
}

/// Baseline p50 / variant p50 for every phase both measured (a zero p50 has
/// no ratio).
pub fn p50_speedups(base: &[PhaseLatency], v: &[PhaseLatency], out: &mut BTreeMap<String, f64>) {
    for bp in base {
        let Some(xp) = v.iter().find(|p| p.phase == bp.phase) else {
            continue;
        };
        if let Some(r) = ratio(bp.summary.p50_ns as f64, xp.summary.p50_ns as f64) {
            out.insert(bp.phase.clone(), r);
        }
    }
}

impl Comparison {
    /// No ratio yet, against `baseline`, from one measurement each.
    pub fn empty(baseline: &str) -> Comparison {
        Comparison {
            baseline: baseline.to_string(),
            p50_speedup: BTreeMap::new(),
            throughput_ratio: None,
            pss_per_instance_ratio: None,
            rounds: 1,
            throughput_ratio_range: None,
            p50_speedup_range: BTreeMap::new(),
            server_pss_ratio: None,
        }
    }

    /// Whether no ratio was set.
    pub fn is_empty(&self) -> bool {
        self.p50_speedup.is_empty()
            && self.throughput_ratio.is_none()
            && self.pss_per_instance_ratio.is_none()
            && self.server_pss_ratio.is_none()
    }
}
