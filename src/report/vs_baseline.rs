//! Each variant against the experiment's baseline, as ratios measured in the
//! same run (timings on a shared machine drift; ratios of neighbours don't).
//! With rounds, each ratio is taken within a round (the two processes ran
//! close in time) and the median over the rounds is reported, with the range.

pub use crate::result::Comparison;
use crate::result::{ResultFile, RoundRecord, VariantResult, VariantStatus};
use crate::rounds::{self, Figures};
use std::collections::BTreeMap;

/// `numerator / denominator`, or `None` when it is not a finite positive number
/// (a zero reading has no meaningful ratio).
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    let r = numerator / denominator;
    (numerator > 0.0 && denominator > 0.0 && r.is_finite()).then_some(r)
}

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
            compare_figures(&base.name, &Figures::of_round(b), &Figures::of_round(x))
        })
        .collect();
    if per_round.len() < 2 {
        return compare_figures(
            &base.name,
            &Figures::of_variant(base),
            &Figures::of_variant(v),
        );
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

/// Ratios of one measurement of `v` against one of the baseline.
fn compare_figures(baseline: &str, b: &Figures<'_>, x: &Figures<'_>) -> Option<Comparison> {
    let mut c = Comparison {
        baseline: baseline.to_string(),
        p50_speedup: BTreeMap::new(),
        throughput_ratio: None,
        pss_per_instance_ratio: None,
        rounds: 1,
        throughput_ratio_range: None,
        p50_speedup_range: BTreeMap::new(),
        server_pss_ratio: None,
    };
    if let (Some(b), Some(x)) = (b.churn, x.churn) {
        p50_speedups(&b.phases, &x.phases, &mut c.p50_speedup);
        c.throughput_ratio = ratio(x.cycles_per_sec, b.cycles_per_sec);
    }
    if let (Some(b), Some(x)) = (b.session, x.session) {
        p50_speedups(&b.phases, &x.phases, &mut c.p50_speedup);
    }
    if let (Some(b), Some(x)) = (b.serve, x.serve) {
        p50_speedups(&b.phases, &x.phases, &mut c.p50_speedup);
        // Requests/s compare only between two closed loops (an open loop's
        // rate is its schedule).
        if b.rate == 0.0 && x.rate == 0.0 {
            c.throughput_ratio = ratio(x.requests_per_sec, b.requests_per_sec);
        }
        c.server_pss_ratio = ratio(
            b.memory_after.pss_bytes as f64,
            x.memory_after.pss_bytes as f64,
        );
    }
    if let (Some(b), Some(x)) = (b.scaling, x.scaling) {
        let common = x.steps.iter().rev().find_map(|xs| {
            b.steps
                .iter()
                .find(|bs| bs.live_instances == xs.live_instances)
                .map(|bs| (bs, xs))
        });
        if let Some((bs, xs)) = common {
            c.pss_per_instance_ratio = ratio(bs.per_instance.pss_bytes, xs.per_instance.pss_bytes);
        }
    }
    let empty = c.p50_speedup.is_empty()
        && c.throughput_ratio.is_none()
        && c.pss_per_instance_ratio.is_none()
        && c.server_pss_ratio.is_none();
    (!empty).then_some(c)
}

/// Baseline p50 / variant p50 for every phase both measured (a zero p50 has
/// no ratio).
fn p50_speedups(
    base: &[crate::scenario::PhaseLatency],
    v: &[crate::scenario::PhaseLatency],
    out: &mut BTreeMap<String, f64>,
) {
    for bp in base {
        let Some(xp) = v.iter().find(|p| p.phase == bp.phase) else {
            continue;
        };
        if let Some(r) = ratio(bp.summary.p50_ns as f64, xp.summary.p50_ns as f64) {
            out.insert(bp.phase.clone(), r);
        }
    }
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
    use crate::measure::latency::{LatencySummary, TimerFloor};
    use crate::measure::memory::MemorySample;
    use crate::scenario::churn::{ChurnResult, PhaseLatency};

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

    fn churn(inst_p50: u64, cps: f64) -> ChurnResult {
        ChurnResult {
            threads: 1,
            iterations_per_thread: 10,
            warmup_per_thread: 0,
            total_cycles: 10,
            wall_ns: 1,
            cycles_per_sec: cps,
            module_load_ns: 0,
            phases: ["instantiate", "cycle"]
                .iter()
                .map(|p| PhaseLatency {
                    phase: p.to_string(),
                    summary: summary(if *p == "instantiate" { inst_p50 } else { 0 }),
                    hlog_path: None,
                    hgrm_path: None,
                })
                .collect(),
            cycle_first_half: summary(1),
            cycle_second_half: summary(1),
            memory_before: MemorySample::default(),
            memory_after: MemorySample::default(),
            minor_faults_per_cycle: 0.0,
            major_faults_per_cycle: 0.0,
            pss_growth_per_1000_cycles_bytes: 0.0,
            rss_growth_per_1000_cycles_bytes: 0.0,
            timer_floor: TimerFloor {
                samples: 1,
                min_ns: 1,
                p50_ns: 1,
                p99_ns: 1,
            },
            faults: Default::default(),
            warmup_faults: Default::default(),
            background_load: 0,
            contention: None,
            major_fault_sites: None,
            dirty_regions: None,
        }
    }

    fn variant(name: &str, c: ChurnResult, status: VariantStatus) -> VariantResult {
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
            scaling: None,
            churn: Some(c),
            pool: None,
            session: None,
            soak: None,
            serve: None,
            tenants: None,
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

    fn round(n: u32, c: ChurnResult) -> RoundRecord {
        RoundRecord {
            round: n,
            position: 1,
            rerun: false,
            replaced: false,
            status: VariantStatus::Ok,
            started_at: String::new(),
            wall_ns: 0,
            disturbance: None,
            scaling: None,
            churn: Some(c),
            pool: None,
            session: None,
            soak: None,
            serve: None,
            tenants: None,
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
