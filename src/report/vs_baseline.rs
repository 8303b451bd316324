//! Each variant against the experiment's baseline, as ratios measured in the
//! same run (timings on a shared machine drift; ratios of neighbours don't).
//! With rounds, each ratio is taken within a round (the two processes ran
//! close in time) and the median over the rounds is reported, with the range.

pub use crate::metric::{Comparison, ratio};
use crate::result::{ResultFile, RoundRecord, VariantResult, VariantStatus};
use crate::rounds;
use crate::scenario::ScenarioResult;
use std::collections::BTreeMap;

/// Compares `v` with `base`; `None` if either was not measured or they share
/// no scenario. With rounds on both sides, ratios are per round, then the median.
pub fn compare(base: &VariantResult, v: &VariantResult) -> Option<Comparison> {
    if base.status != VariantStatus::Ok || v.status != VariantStatus::Ok {
        return None;
    }
    let counted = |rs: &'_ [RoundRecord]| -> Vec<RoundRecord> {
        rs.iter().filter(|r| rounds::counts(r)).cloned().collect()
    };
    let (br, vr) = (counted(&base.rounds), counted(&v.rounds));
    let per_round: Vec<Comparison> = br
        .iter()
        .filter_map(|b| {
            let x = vr.iter().find(|x| x.round == b.round)?;
            compare_figures(&base.name, b.result.as_ref(), x.result.as_ref())
        })
        .collect();
    if per_round.len() < 2 {
        return compare_figures(&base.name, base.result.as_ref(), v.result.as_ref());
    }
    let med = |xs: Vec<f64>| {
        let mut xs = xs;
        xs.sort_by(f64::total_cmp);
        (!xs.is_empty()).then(|| rounds::median_sorted(&xs))
    };
    let mut c = Comparison {
        baseline: base.name.clone(),
        p50_speedup: BTreeMap::new(),
        throughput_ratio: None,
        pss_per_instance_ratio: None,
        rounds: per_round.len() as u32,
        throughput_ratio_range: None,
        p50_speedup_range: BTreeMap::new(),
        server_pss_ratio: None,
    };
    let phases: std::collections::BTreeSet<&String> = per_round
        .iter()
        .flat_map(|r| r.p50_speedup.keys())
        .collect();
    for phase in phases {
        let xs: Vec<f64> = per_round
            .iter()
            .filter_map(|r| r.p50_speedup.get(phase).copied())
            .collect();
        if let Some(range) = min_max(&xs) {
            c.p50_speedup_range.insert(phase.clone(), range);
        }
        if let Some(m) = med(xs) {
            c.p50_speedup.insert(phase.clone(), m);
        }
    }
    let tp: Vec<f64> = per_round
        .iter()
        .filter_map(|r| r.throughput_ratio)
        .collect();
    c.throughput_ratio_range = min_max(&tp);
    c.throughput_ratio = med(tp);
    c.pss_per_instance_ratio = med(per_round
        .iter()
        .filter_map(|r| r.pss_per_instance_ratio)
        .collect());
    c.server_pss_ratio = med(per_round
        .iter()
        .filter_map(|r| r.server_pss_ratio)
        .collect());
    Some(c)
}

/// The smallest and largest of `xs` (`None` when empty).
fn min_max(xs: &[f64]) -> Option<(f64, f64)> {
    xs.iter().copied().fold(None, |acc: Option<(f64, f64)>, x| {
        Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
    })
}

/// Ratios of one measurement of `v` against one of the baseline (its
/// scenario's [`crate::scenario::Scenario::vs_baseline`]).
fn compare_figures(
    baseline: &str,
    b: Option<&ScenarioResult>,
    x: Option<&ScenarioResult>,
) -> Option<Comparison> {
    x?.vs_baseline(baseline, b?)
}

/// Sets `vs_baseline` on every variant but the baseline (cleared when the
/// baseline has not been measured yet).
pub fn fill(result: &mut ResultFile) {
    let base = result
        .variants
        .iter()
        .find(|v| v.name == result.baseline)
        .cloned();
    for v in &mut result.variants {
        v.vs_baseline = match &base {
            Some(b) if b.name != v.name => compare(b, v),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::latency::LatencySummary;

    fn summary(p50: u64) -> LatencySummary {
        LatencySummary {
            count: 10,
            min_ns: p50 / 2,
            mean_ns: p50 as f64,
            stdev_ns: 1.0,
            p50_ns: p50,
            p90_ns: p50,
            p99_ns: p50,
            p999_ns: p50,
            max_ns: p50,
        }
    }

    fn churn(inst_p50: u64, cps: f64) -> ScenarioResult {
        crate::scenario::fixtures::churn(
            &[("instantiate", summary(inst_p50)), ("cycle", summary(0))],
            10,
            cps,
        )
    }

    fn variant(name: &str, c: ScenarioResult, status: VariantStatus) -> VariantResult {
        VariantResult {
            name: name.into(),
            settings: crate::settings::Variant {
                name: name.into(),
                engine: Default::default(),
                pooling: Default::default(),
                guest: Default::default(),
                scenario: Default::default(),
                lab_build: None,
            },
            effective: serde_json::Value::Null,
            status,
            wall_ns: 0,
            result: Some(c),
            vs_baseline: None,
            warnings: Vec::new(),
            preinit_snapshot: None,
            rounds: Vec::new(),
            shown_round: 0,
            between_rounds: Vec::new(),
            disturbance: None,
            disturbed: false,
        }
    }

    fn round(n: u32, c: ScenarioResult) -> RoundRecord {
        RoundRecord {
            round: n,
            position: 1,
            rerun: false,
            replaced: false,
            status: VariantStatus::Ok,
            started_at: String::new(),
            wall_ns: 0,
            disturbance: None,
            result: Some(c),
        }
    }

    #[test]
    fn with_rounds_ratios_are_taken_within_each_round() {
        // The machine slowed in round 2: both variants halved, their ratio did not.
        let mut base = variant("b", churn(4_000, 100.0), VariantStatus::Ok);
        base.rounds = vec![
            round(1, churn(4_000, 100.0)),
            round(2, churn(8_000, 50.0)),
            round(3, churn(4_000, 110.0)),
        ];
        let mut v = variant("v", churn(1_000, 400.0), VariantStatus::Ok);
        v.rounds = vec![
            round(1, churn(1_000, 400.0)),
            round(2, churn(2_000, 200.0)),
            round(3, churn(1_000, 330.0)),
        ];
        let c = compare(&base, &v).unwrap();
        assert_eq!(c.rounds, 3);
        assert_eq!(c.throughput_ratio, Some(4.0));
        assert_eq!(c.throughput_ratio_range, Some((3.0, 4.0)));
        assert_eq!(c.p50_speedup["instantiate"], 4.0);
        // A replaced round does not count: rounds 1 and 3 give 4 and 3.
        v.rounds[1].replaced = true;
        let c = compare(&base, &v).unwrap();
        assert_eq!(c.rounds, 2);
        assert_eq!(c.throughput_ratio, Some(3.5));
        // One round pair left: the variants' own figures, as without rounds.
        v.rounds[2].replaced = true;
        let c = compare(&base, &v).unwrap();
        assert_eq!(c.rounds, 1);
        assert_eq!(c.throughput_ratio, Some(4.0));
    }

    #[test]
    fn ratios_are_oriented_so_above_one_is_better() {
        let base = variant("slow", churn(40_000, 100.0), VariantStatus::Ok);
        let fast = variant("fast", churn(2_000, 900.0), VariantStatus::Ok);
        let c = compare(&base, &fast).unwrap();
        assert_eq!(c.baseline, "slow");
        assert_eq!(c.p50_speedup["instantiate"], 20.0);
        assert_eq!(c.throughput_ratio, Some(9.0));
        // A zero p50 (the cycle phase here) has no ratio rather than infinity.
        assert!(!c.p50_speedup.contains_key("cycle"));
        let back = compare(&fast, &base).unwrap();
        assert_eq!(back.p50_speedup["instantiate"], 0.05);
    }

    #[test]
    fn ratio_rejects_zero_and_non_finite() {
        assert_eq!(ratio(10.0, 4.0), Some(2.5));
        assert_eq!(ratio(10.0, 0.0), None);
        assert_eq!(ratio(0.0, 4.0), None);
        assert_eq!(ratio(f64::NAN, 4.0), None);
    }

    #[test]
    fn fill_uses_the_named_baseline_and_skips_failures() {
        let mut r = ResultFile {
            schema_version: 1,
            experiment: "t".into(),
            description: None,
            config_path: String::new(),
            config_source: String::new(),
            started_at: String::new(),
            updated_at: String::new(),
            complete: true,
            host: crate::result::HostInfo::detect(),
            axes: vec![],
            baseline: "b".into(),
            variants: vec![
                variant("a", churn(1_000, 10.0), VariantStatus::Ok),
                variant("b", churn(4_000, 5.0), VariantStatus::Ok),
                variant(
                    "c",
                    churn(1, 1.0),
                    VariantStatus::Failed { reason: "x".into() },
                ),
            ],
            plots: Vec::new(),
            rounds: 1,
            disturbed_cpu_share: None,
        };
        fill(&mut r);
        let a = r.variants[0].vs_baseline.as_ref().unwrap();
        assert_eq!(a.baseline, "b");
        assert_eq!(a.p50_speedup["instantiate"], 4.0);
        assert_eq!(a.throughput_ratio, Some(2.0));
        assert!(r.variants[1].vs_baseline.is_none(), "baseline vs itself");
        assert!(r.variants[2].vs_baseline.is_none(), "failed variant");
        // Baseline not measured yet: nothing to compare with.
        r.variants.remove(1);
        fill(&mut r);
        assert!(r.variants.iter().all(|v| v.vs_baseline.is_none()));
    }
}
