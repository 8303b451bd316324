//! `pooling-lab compare A.json B.json`: every metric of every variant the two
//! results share, side by side, with a verdict that respects the noise each
//! result itself measured. A change smaller than the spread of the figure
//! (or than a small floor) is "no change".

use super::{duration, mib};
use crate::measure::latency::LatencySummary;
use crate::result::{ResultFile, VariantResult, VariantStatus};
use crate::scenario::PhaseLatency;
use std::fmt::Write as _;

/// Relative change below which nothing is called a change, whatever the spread.
pub const MIN_RELATIVE: f64 = 0.05;
/// Change of a whole-process memory reading below which nothing is called a
/// change: two processes of the same binary differ by tens of KiB (heap
/// layout, lazily mapped library pages). Per-instance figures divide it by N.
pub const MIN_PROCESS_BYTES: f64 = 256.0 * 1024.0;

/// Which direction is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Less is better (latency, memory).
    Lower,
    /// More is better (throughput).
    Higher,
}

/// What the change means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the measured spread (or below the floors).
    NoChange,
    /// B is better than A beyond the spread.
    Better,
    /// B is worse than A beyond the spread.
    Worse,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::NoChange => "no change",
            Verdict::Better => "better",
            Verdict::Worse => "worse",
        })
    }
}

/// How a metric's values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes (shown in MiB).
    Bytes,
    /// Nanoseconds.
    Nanos,
    /// Per second.
    PerSec,
}

/// One metric of one variant in both results.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDelta {
    /// Variant (as `A-name` or `A-name vs B-name` when paired across names).
    pub variant: String,
    /// Metric name.
    pub metric: String,
    /// Value in A.
    pub a: f64,
    /// Value in B.
    pub b: f64,
    /// Unit of both.
    pub unit: Unit,
    /// Direction of improvement.
    pub better: Better,
    /// Change beyond which the verdict is not "no change", in the metric's unit.
    pub threshold: f64,
    /// The verdict.
    pub verdict: Verdict,
}

impl MetricDelta {
    fn new(
        variant: &str,
        metric: String,
        (a, b): (f64, f64),
        unit: Unit,
        better: Better,
        threshold: f64,
    ) -> MetricDelta {
        let d = b - a;
        let verdict = if d.abs() <= threshold {
            Verdict::NoChange
        } else if (d < 0.0) == (better == Better::Lower) {
            Verdict::Better
        } else {
            Verdict::Worse
        };
        MetricDelta {
            variant: variant.to_string(),
            metric,
            a,
            b,
            unit,
            better,
            threshold,
            verdict,
        }
    }
}

/// The spread of a median: (p90 - p50) / p50, at least [`MIN_RELATIVE`].
fn p50_spread(s: &LatencySummary) -> f64 {
    let p50 = s.p50_ns.max(1) as f64;
    ((s.p90_ns as f64 - p50) / p50).max(MIN_RELATIVE)
}

/// The spread of a p99: (p99.9 - p99) / p99, at least [`MIN_RELATIVE`].
fn p99_spread(s: &LatencySummary) -> f64 {
    let p99 = s.p99_ns.max(1) as f64;
    ((s.p999_ns as f64 - p99) / p99).max(MIN_RELATIVE)
}

fn phase_deltas(name: &str, a: &[PhaseLatency], b: &[PhaseLatency], out: &mut Vec<MetricDelta>) {
    for pa in a {
        let Some(pb) = b.iter().find(|p| p.phase == pa.phase) else {
            continue;
        };
        let (sa, sb) = (&pa.summary, &pb.summary);
        let rel = p50_spread(sa).max(p50_spread(sb));
        let (va, vb) = (sa.p50_ns as f64, sb.p50_ns as f64);
        out.push(MetricDelta::new(
            name,
            format!("{} p50", pa.phase),
            (va, vb),
            Unit::Nanos,
            Better::Lower,
            rel * va.max(vb),
        ));
        let rel = p99_spread(sa).max(p99_spread(sb));
        let (va, vb) = (sa.p99_ns as f64, sb.p99_ns as f64);
        out.push(MetricDelta::new(
            name,
            format!("{} p99", pa.phase),
            (va, vb),
            Unit::Nanos,
            Better::Lower,
            rel * va.max(vb),
        ));
    }
}

fn variant_deltas(name: &str, a: &VariantResult, b: &VariantResult) -> Vec<MetricDelta> {
    let mut out = Vec::new();
    if let (Some(sa), Some(sb)) = (&a.scaling, &b.scaling) {
        for st in &sa.steps {
            let Some(sb_st) = sb
                .steps
                .iter()
                .find(|s| s.live_instances == st.live_instances)
            else {
                continue;
            };
            let n = st.live_instances;
            for (metric, va, vb) in [
                (
                    "Pss / instance",
                    st.per_instance.pss_bytes,
                    sb_st.per_instance.pss_bytes,
                ),
                (
                    "Private_Dirty / instance",
                    st.per_instance.private_dirty_bytes,
                    sb_st.per_instance.private_dirty_bytes,
                ),
            ] {
                out.push(MetricDelta::new(
                    name,
                    format!("{metric} @ N={n}"),
                    (va, vb),
                    Unit::Bytes,
                    Better::Lower,
                    (MIN_RELATIVE * va.abs().max(vb.abs()))
                        .max(MIN_PROCESS_BYTES / f64::from(n.max(1))),
                ));
            }
        }
    }
    if let (Some(ca), Some(cb)) = (&a.churn, &b.churn) {
        phase_deltas(name, &ca.phases, &cb.phases, &mut out);
        let spread = |c: &crate::scenario::churn::ChurnResult| {
            c.phases
                .iter()
                .find(|p| p.phase == "cycle")
                .map_or(MIN_RELATIVE, |p| p50_spread(&p.summary))
        };
        let rel = spread(ca).max(spread(cb));
        out.push(MetricDelta::new(
            name,
            "cycles / s".into(),
            (ca.cycles_per_sec, cb.cycles_per_sec),
            Unit::PerSec,
            Better::Higher,
            rel * ca.cycles_per_sec.max(cb.cycles_per_sec),
        ));
    }
    if let (Some(pa), Some(pb)) = (&a.pool, &b.pool) {
        phase_deltas(name, &pa.phases, &pb.phases, &mut out);
    }
    if let (Some(sa), Some(sb)) = (&a.session, &b.session) {
        phase_deltas(name, &sa.phases, &sb.phases, &mut out);
    }
    out
}

/// Every shared metric of every variant pair. Variants are paired by name; if
/// no name is shared and each result has exactly one variant, those two are
/// paired (e.g. two runs of one config that differ in one setting).
pub fn diff(a: &ResultFile, b: &ResultFile) -> Vec<MetricDelta> {
    let ok = |v: &&VariantResult| v.status == VariantStatus::Ok;
    let mut pairs: Vec<(String, &VariantResult, &VariantResult)> = a
        .variants
        .iter()
        .filter(ok)
        .filter_map(|va| {
            b.variants
                .iter()
                .filter(ok)
                .find(|vb| vb.name == va.name)
                .map(|vb| (va.name.clone(), va, vb))
        })
        .collect();
    if pairs.is_empty() && a.variants.len() == 1 && b.variants.len() == 1 {
        let (va, vb) = (&a.variants[0], &b.variants[0]);
        if va.status == VariantStatus::Ok && vb.status == VariantStatus::Ok {
            pairs.push((format!("{} vs {}", va.name, vb.name), va, vb));
        }
    }
    pairs
        .into_iter()
        .flat_map(|(name, va, vb)| variant_deltas(&name, va, vb))
        .collect()
}

fn show(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => mib(v),
        Unit::Nanos => duration(v),
        Unit::PerSec => format!("{v:.0}/s"),
    }
}

/// The comparison as a Markdown table plus a one-line summary.
pub fn render(a_name: &str, b_name: &str, deltas: &[MetricDelta]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A = {a_name}\nB = {b_name}\n");
    if deltas.is_empty() {
        out.push_str("No variant and metric in common: nothing to compare.\n");
        return out;
    }
    out.push_str("| variant | metric | A | B | change | noise threshold | verdict |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---|\n");
    for d in deltas {
        let rel = if d.a != 0.0 {
            format!("{:+.1}%", (d.b - d.a) / d.a.abs() * 100.0)
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | ±{} | {} |",
            d.variant,
            d.metric,
            show(d.a, d.unit),
            show(d.b, d.unit),
            rel,
            show(d.threshold, d.unit),
            if d.verdict == Verdict::NoChange {
                d.verdict.to_string()
            } else {
                format!("**{}**", d.verdict)
            }
        );
    }
    let count = |v: Verdict| deltas.iter().filter(|d| d.verdict == v).count();
    let _ = writeln!(
        out,
        "\n{} metrics: {} better, {} worse, {} no change (within the spread each run measured).",
        deltas.len(),
        count(Verdict::Better),
        count(Verdict::Worse),
        count(Verdict::NoChange)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_respects_direction_and_threshold() {
        let d = |a, b, better| MetricDelta::new("v", "m".into(), (a, b), Unit::Nanos, better, 10.0);
        assert_eq!(d(100.0, 105.0, Better::Lower).verdict, Verdict::NoChange);
        assert_eq!(d(100.0, 150.0, Better::Lower).verdict, Verdict::Worse);
        assert_eq!(d(100.0, 50.0, Better::Lower).verdict, Verdict::Better);
        assert_eq!(d(100.0, 150.0, Better::Higher).verdict, Verdict::Better);
        assert_eq!(d(100.0, 50.0, Better::Higher).verdict, Verdict::Worse);
    }
}
