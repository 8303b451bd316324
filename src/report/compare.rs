//! `pooling-lab compare A.json B.json`: every metric of every variant the two
//! results share, side by side, with a verdict that respects the noise the
//! results measured.
//!
//! * Both with rounds: the spread *between* rounds decides. The noise
//!   threshold is the larger of the floors and either side's round-to-round
//!   range (min-max). A change within it, or one where each median lies
//!   inside the other's between-round interval, is "no change" (as
//!   criterion's "change within noise threshold": the rounds cannot tell it
//!   from the variation between processes); "better"/"worse" needs a change
//!   beyond the threshold *and* every round of one side beyond every round
//!   of the other (an exact rank test at p <= [`ALPHA`]); a change beyond
//!   the threshold without that is "not enough rounds to judge".
//! * Otherwise the spread within each run is the noise threshold, and a
//!   timing that differs by less than [`SINGLE_ROUND_FACTOR`] is "not enough
//!   rounds to judge": one process per side cannot show the variation
//!   between processes.
//! * A variant measured on a disturbed machine is never called better or worse.

use super::{duration, mib};
use crate::result::{ResultFile, VariantResult, VariantStatus};
use crate::rounds::{self, Headline};
use crate::scenario::ScenarioResult;
use std::fmt::Write as _;

pub use crate::rounds::{Better, MIN_PROCESS_BYTES, MIN_RELATIVE, Unit};

/// Largest p-value of the rank test over two results' rounds at which a
/// difference is called better or worse (3 rounds against 3 reach 0.1 when
/// every round of one lies beyond every round of the other).
pub const ALPHA: f64 = 0.10;

/// Without rounds on both sides, a timing that differs by less than this
/// factor is not judged: the variation between two processes of the same
/// build (address-space layout, page cache, the machine's load) reaches tens
/// of percent for medians and more for tails, and one round per side cannot
/// show it. Memory figures are nearly deterministic and keep their verdicts.
pub const SINGLE_ROUND_FACTOR: f64 = 2.0;

/// What the change means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the noise threshold (the floors and, with rounds, either
    /// side's round-to-round range), or each median lies within the other's
    /// between-round interval (without rounds: within the spread the runs
    /// measured).
    NoChange,
    /// B is better than A beyond the spread.
    Better,
    /// B is worse than A beyond the spread.
    Worse,
    /// A difference beyond the noise threshold that the rounds cannot
    /// resolve: too few rounds (or one per side), or rounds that overlap.
    NotEnoughRounds,
    /// A or B was measured while other processes used the CPU: no verdict.
    Disturbed,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::NoChange => "no change",
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NotEnoughRounds => "not enough rounds to judge",
            Verdict::Disturbed => "disturbed: no verdict",
        })
    }
}

/// One side of a comparison: a figure and what backs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// The median over rounds, or the single measurement.
    pub value: f64,
    /// Each counted round's value (empty without rounds).
    pub rounds: Vec<f64>,
    /// The measurement's own relative spread (used without rounds).
    pub within_rel: f64,
    /// The variant was measured on a disturbed machine.
    pub disturbed: bool,
}

impl Side {
    /// A single measurement.
    pub fn single(value: f64, within_rel: f64) -> Side {
        Side {
            value,
            rounds: Vec::new(),
            within_rel,
            disturbed: false,
        }
    }

    /// Rounds, summarised by their median.
    pub fn rounds(values: Vec<f64>) -> Side {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        Side {
            value: rounds::median_sorted(&sorted),
            rounds: values,
            within_rel: MIN_RELATIVE,
            disturbed: false,
        }
    }

    fn range(&self) -> Option<(f64, f64)> {
        let lo = self.rounds.iter().copied().reduce(f64::min)?;
        let hi = self.rounds.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    }
}

/// How a metric is judged (from its [`Headline`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Direction of improvement.
    pub better: Better,
    /// Absolute change below which nothing is a change.
    pub floor_abs: f64,
    /// A timing (single rounds cannot resolve small changes of it).
    pub timing: bool,
}

/// The verdict on A -> B, the threshold it used and the rank test's p-value
/// (with rounds on both sides).
pub fn judge(rule: Rule, a: &Side, b: &Side) -> (Verdict, f64, Option<f64>) {
    let scale = a.value.abs().max(b.value.abs());
    let floor = (MIN_RELATIVE * scale).max(rule.floor_abs);
    let d = b.value - a.value;
    let direction = if (d < 0.0) == (rule.better == Better::Lower) {
        Verdict::Better
    } else {
        Verdict::Worse
    };
    if a.rounds.len() >= 2 && b.rounds.len() >= 2 {
        let (Some((alo, ahi)), Some((blo, bhi))) = (a.range(), b.range()) else {
            return (Verdict::NotEnoughRounds, floor, None);
        };
        let mut sa = a.rounds.clone();
        let mut sb = b.rounds.clone();
        sa.sort_by(f64::total_cmp);
        sb.sort_by(f64::total_cmp);
        let (cia_lo, cia_hi, _) = rounds::median_ci(&sa, rounds::CI_LEVEL);
        let (cib_lo, cib_hi, _) = rounds::median_ci(&sb, rounds::CI_LEVEL);
        let threshold = floor.max(ahi - alo).max(bhi - blo);
        let p = rounds::rank_test_p(&a.rounds, &b.rounds);
        if a.disturbed || b.disturbed {
            return (Verdict::Disturbed, threshold, Some(p));
        }
        let mutual = (cib_lo..=cib_hi).contains(&a.value) && (cia_lo..=cia_hi).contains(&b.value);
        let disjoint = ahi < blo || bhi < alo;
        let verdict = if d.abs() <= threshold || mutual {
            Verdict::NoChange
        } else if disjoint && p <= ALPHA {
            direction
        } else {
            Verdict::NotEnoughRounds
        };
        return (verdict, threshold, Some(p));
    }
    let threshold = (a.within_rel.max(b.within_rel) * scale).max(floor);
    if a.disturbed || b.disturbed {
        return (Verdict::Disturbed, threshold, None);
    }
    let factor = scale / a.value.abs().min(b.value.abs()).max(f64::MIN_POSITIVE);
    let verdict = if d.abs() <= threshold {
        Verdict::NoChange
    } else if rule.timing && factor < SINGLE_ROUND_FACTOR {
        Verdict::NotEnoughRounds
    } else {
        direction
    };
    (verdict, threshold, None)
}

/// One metric of one variant in both results.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDelta {
    /// Variant (as `A-name` or `A-name vs B-name` when paired across names).
    pub variant: String,
    /// Metric name.
    pub metric: String,
    /// Value in A (the median with rounds).
    pub a: f64,
    /// Value in B.
    pub b: f64,
    /// Unit of both.
    pub unit: Unit,
    /// Direction of improvement.
    pub better: Better,
    /// Change beyond which the verdict could be better or worse, in the
    /// metric's unit (with rounds: the floors and each side's min-max range).
    pub threshold: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Rounds behind `a` (1 = a single measurement).
    pub a_rounds: u32,
    /// Rounds behind `b`.
    pub b_rounds: u32,
    /// Min and max over A's rounds.
    pub a_range: Option<(f64, f64)>,
    /// Min and max over B's rounds.
    pub b_range: Option<(f64, f64)>,
    /// Two-sided p-value of the rank test over the rounds (both with rounds).
    pub p_value: Option<f64>,
}

impl MetricDelta {
    /// Judges one metric (see [`judge`]).
    pub fn new(
        variant: &str,
        metric: String,
        unit: Unit,
        rule: Rule,
        a: &Side,
        b: &Side,
    ) -> MetricDelta {
        let (verdict, threshold, p_value) = judge(rule, a, b);
        MetricDelta {
            variant: variant.to_string(),
            metric,
            a: a.value,
            b: b.value,
            unit,
            better: rule.better,
            threshold,
            verdict,
            a_rounds: a.rounds.len().max(1) as u32,
            b_rounds: b.rounds.len().max(1) as u32,
            a_range: a.range(),
            b_range: b.range(),
            p_value,
        }
    }
}

/// A variant's judged headline metrics, each with its side: from the
/// between-round values when the variant has rounds, else its single figures.
fn sides(v: &VariantResult) -> Vec<(Headline, Side)> {
    let counted: Vec<_> = v.rounds.iter().filter(|r| rounds::counts(r)).collect();
    let main = v
        .result
        .as_ref()
        .map(ScenarioResult::headlines)
        .unwrap_or_default();
    main.into_iter()
        .filter(|h| h.judged)
        .map(|h| {
            let mut side = if counted.len() >= 2 {
                let values: Vec<f64> = counted
                    .iter()
                    .filter_map(|r| {
                        r.result
                            .as_ref()
                            .map(ScenarioResult::headlines)
                            .unwrap_or_default()
                            .into_iter()
                            .find(|x| x.metric == h.metric)
                            .map(|x| x.value)
                    })
                    .collect();
                if values.len() >= 2 {
                    Side::rounds(values)
                } else {
                    Side::single(h.value, h.within_rel)
                }
            } else {
                Side::single(h.value, h.within_rel)
            };
            side.disturbed = v.disturbed;
            (h, side)
        })
        .collect()
}

fn variant_deltas(name: &str, a: &VariantResult, b: &VariantResult) -> Vec<MetricDelta> {
    let sb = sides(b);
    sides(a)
        .into_iter()
        .filter_map(|(h, side_a)| {
            let (_, side_b) = sb.iter().find(|(x, _)| x.metric == h.metric)?;
            let rule = Rule {
                better: h.better,
                floor_abs: h.floor_abs,
                timing: h.timing,
            };
            Some(MetricDelta::new(
                name,
                h.metric.clone(),
                h.unit,
                rule,
                &side_a,
                side_b,
            ))
        })
        .collect()
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
        Unit::Count => format!("{v:.2}"),
    }
}

fn show_side(v: f64, range: Option<(f64, f64)>, unit: Unit) -> String {
    match range {
        Some((lo, hi)) => format!("{} ({}-{})", show(v, unit), show(lo, unit), show(hi, unit)),
        None => show(v, unit),
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
    let rounds = |f: fn(&MetricDelta) -> u32| {
        let lo = deltas.iter().map(f).min().unwrap_or(1);
        let hi = deltas.iter().map(f).max().unwrap_or(1);
        if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo}-{hi}")
        }
    };
    let _ = writeln!(
        out,
        "Rounds per variant: A {}, B {}. With rounds on both sides a figure is the median \
         (min-max over the rounds); a difference within the noise threshold (5% floor or \
         either side's round-to-round range, whichever is larger) is no change, and one \
         beyond it is called better or worse only when every round of one lies beyond every \
         round of the other (rank test p <= {ALPHA}). Without rounds, a timing that differs \
         by less than {SINGLE_ROUND_FACTOR}x is not judged.\n",
        rounds(|d| d.a_rounds),
        rounds(|d| d.b_rounds)
    );
    out.push_str("| variant | metric | A | B | change | noise threshold | verdict |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---|\n");
    for d in deltas {
        let rel = if d.a != 0.0 {
            format!("{:+.1}%", (d.b - d.a) / d.a.abs() * 100.0)
        } else {
            "-".into()
        };
        let verdict = match d.verdict {
            Verdict::Better | Verdict::Worse => format!("**{}**", d.verdict),
            _ => d.verdict.to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | ±{} | {}{} |",
            d.variant,
            d.metric,
            show_side(d.a, d.a_range, d.unit),
            show_side(d.b, d.b_range, d.unit),
            rel,
            show(d.threshold, d.unit),
            verdict,
            d.p_value
                .filter(|_| matches!(
                    d.verdict,
                    Verdict::Better | Verdict::Worse | Verdict::NotEnoughRounds
                ))
                .map_or_else(String::new, |p| format!(" (p = {p:.2})")),
        );
    }
    let count = |v: Verdict| deltas.iter().filter(|d| d.verdict == v).count();
    let _ = writeln!(
        out,
        "\n{} metrics: {} better, {} worse, {} no change, {} not enough rounds to judge, {} disturbed (no verdict).",
        deltas.len(),
        count(Verdict::Better),
        count(Verdict::Worse),
        count(Verdict::NoChange),
        count(Verdict::NotEnoughRounds),
        count(Verdict::Disturbed),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: Rule = Rule {
        better: Better::Lower,
        floor_abs: 0.0,
        timing: true,
    };

    #[test]
    fn rounds_apart_get_a_verdict_in_the_metrics_direction() {
        // Three rounds each, ranges apart (p = 0.1 at 3 against 3): a verdict.
        let a = Side::rounds(vec![10.0, 11.0, 12.0]);
        let b = Side::rounds(vec![20.0, 21.0, 22.0]);
        assert_eq!(judge(NS, &a, &b).0, Verdict::Worse);
        assert_eq!(judge(NS, &b, &a).0, Verdict::Better);
        let higher = Rule {
            better: Better::Higher,
            ..NS
        };
        assert_eq!(judge(higher, &a, &b).0, Verdict::Better);
        // The same medians with overlapping ranges: no verdict.
        let c = Side::rounds(vec![12.0, 21.0, 22.0]);
        assert_ne!(judge(NS, &a, &c).0, Verdict::Worse);
    }

    #[test]
    fn single_rounds_keep_direction_threshold_and_the_factor_rule() {
        let v = |a, b, better, timing| {
            let rule = Rule {
                better,
                floor_abs: 0.0,
                timing,
            };
            judge(rule, &Side::single(a, 0.1), &Side::single(b, 0.1)).0
        };
        // Within 10% of the larger value: no change.
        assert_eq!(v(100.0, 105.0, Better::Lower, true), Verdict::NoChange);
        // A timing 1.5x apart from one process per side: cannot tell.
        assert_eq!(
            v(100.0, 150.0, Better::Lower, true),
            Verdict::NotEnoughRounds
        );
        // The same for memory (nearly deterministic): a verdict.
        assert_eq!(v(100.0, 150.0, Better::Lower, false), Verdict::Worse);
        assert_eq!(v(100.0, 50.0, Better::Lower, false), Verdict::Better);
        // A timing 3x apart: a verdict, in the metric's direction.
        assert_eq!(v(100.0, 300.0, Better::Lower, true), Verdict::Worse);
        assert_eq!(v(100.0, 300.0, Better::Higher, true), Verdict::Better);
        assert_eq!(v(300.0, 100.0, Better::Higher, true), Verdict::Worse);
    }

    #[test]
    fn rounds_decide_with_their_spread() {
        let r = |v: &[f64]| Side::rounds(v.to_vec());
        // Separated rounds, shift far beyond either range: a verdict.
        let (verdict, threshold, p) =
            judge(NS, &r(&[100.0, 102.0, 101.0]), &r(&[150.0, 149.0, 152.0]));
        assert_eq!(verdict, Verdict::Worse);
        assert!((p.unwrap() - 0.1).abs() < 1e-12);
        assert!(
            (threshold - 7.5).abs() < 1e-9,
            "5% of the larger median, above either range"
        );
        // Each median inside the other's min-max: no change, even 10% apart.
        let (verdict, ..) = judge(NS, &r(&[90.0, 100.0, 120.0]), &r(&[95.0, 110.0, 125.0]));
        assert_eq!(verdict, Verdict::NoChange);
        // Apart by less than the rounds' own range (40), rounds overlapping:
        // within the noise threshold.
        let (verdict, threshold, _) =
            judge(NS, &r(&[100.0, 120.0, 140.0]), &r(&[130.0, 150.0, 170.0]));
        assert_eq!(verdict, Verdict::NoChange);
        assert!((threshold - 40.0).abs() < 1e-9);
        // Apart (39) by more than either range (30, 12), but the rounds
        // overlap: cannot tell.
        let (verdict, ..) = judge(NS, &r(&[100.0, 101.0, 130.0]), &r(&[129.0, 140.0, 141.0]));
        assert_eq!(verdict, Verdict::NotEnoughRounds);
        // Separated, but by less than one side's own round-to-round range:
        // the rank test alone (p = 0.1 happens by chance for one metric in
        // ten) does not make a change.
        let (verdict, ..) = judge(NS, &r(&[100.0, 130.0, 131.0]), &r(&[140.0, 141.0, 142.0]));
        assert_eq!(verdict, Verdict::NoChange);
        // Two rounds each can never reach p <= 0.1: cannot tell.
        let (verdict, _, p) = judge(NS, &r(&[100.0, 101.0]), &r(&[200.0, 201.0]));
        assert_eq!(verdict, Verdict::NotEnoughRounds);
        assert!(p.unwrap() > ALPHA);
        // Below the 5% floor: no change whatever the rounds.
        let (verdict, ..) = judge(NS, &r(&[100.0, 100.0, 100.0]), &r(&[104.0, 104.0, 104.0]));
        assert_eq!(verdict, Verdict::NoChange);
    }

    #[test]
    fn a_disturbed_side_gets_no_verdict() {
        let mut b = Side::rounds(vec![300.0, 301.0, 302.0]);
        b.disturbed = true;
        let a = Side::rounds(vec![100.0, 101.0, 102.0]);
        assert_eq!(judge(NS, &a, &b).0, Verdict::Disturbed);
        let mut single = Side::single(1000.0, 0.05);
        single.disturbed = true;
        assert_eq!(
            judge(NS, &Side::single(1.0, 0.05), &single).0,
            Verdict::Disturbed
        );
    }

    // The tests below were written for the mutation score
    // (scripts/mutants.sh): each pins a verdict or a threshold a wrong
    // comparison would change.

    #[test]
    fn the_noise_threshold_is_the_widest_of_the_floors_and_either_range() {
        let r = |v: &[f64]| Side::rounds(v.to_vec());
        // B's range (40) is the widest: beyond it, separated, p = 0.1.
        let (verdict, threshold, p) =
            judge(NS, &r(&[100.0, 101.0, 102.0]), &r(&[130.0, 150.0, 170.0]));
        assert_eq!(verdict, Verdict::Worse);
        assert!((threshold - 40.0).abs() < 1e-9, "{threshold}");
        assert!((p.unwrap() - 0.1).abs() < 1e-12);
        // The same, higher is better.
        let higher = Rule {
            better: Better::Higher,
            ..NS
        };
        let (verdict, ..) = judge(
            higher,
            &r(&[100.0, 101.0, 102.0]),
            &r(&[130.0, 150.0, 170.0]),
        );
        assert_eq!(verdict, Verdict::Better);
        // An absolute floor above everything else: no change.
        let floored = Rule {
            floor_abs: 500.0,
            ..NS
        };
        let (verdict, threshold, _) = judge(
            floored,
            &r(&[100.0, 101.0, 102.0]),
            &r(&[300.0, 301.0, 302.0]),
        );
        assert_eq!((verdict, threshold), (Verdict::NoChange, 500.0));
        let (verdict, threshold, p) = judge(
            floored,
            &Side::single(100.0, 0.1),
            &Side::single(300.0, 0.1),
        );
        assert_eq!((verdict, threshold, p), (Verdict::NoChange, 500.0, None));
        // Without rounds: the larger of the two spreads, of the larger value.
        let (verdict, threshold, p) =
            judge(NS, &Side::single(100.0, 0.1), &Side::single(105.0, 0.2));
        assert_eq!(verdict, Verdict::NoChange);
        assert!((threshold - 21.0).abs() < 1e-9, "{threshold}");
        assert_eq!(p, None);
        let (_, threshold, _) = judge(NS, &Side::single(100.0, 0.2), &Side::single(50.0, 0.1));
        assert!((threshold - 20.0).abs() < 1e-9, "{threshold}");
    }

    #[test]
    fn rounds_that_touch_are_not_separated() {
        let r = |v: &[f64]| Side::rounds(v.to_vec());
        // A's highest round equals B's lowest: beyond the threshold (95 >
        // 91) and p = 0.1 (the tie counts one half), but not every round of
        // one side lies beyond every round of the other.
        let (verdict, threshold, p) =
            judge(NS, &r(&[100.0, 105.0, 110.0]), &r(&[110.0, 200.0, 201.0]));
        assert_eq!(verdict, Verdict::NotEnoughRounds);
        assert!((threshold - 91.0).abs() < 1e-9, "{threshold}");
        assert!((p.unwrap() - 0.1).abs() < 1e-12);
        // The mirror image.
        let (verdict, ..) = judge(NS, &r(&[110.0, 200.0, 201.0]), &r(&[100.0, 105.0, 110.0]));
        assert_eq!(verdict, Verdict::NotEnoughRounds);
        // Apart by one: separated, a verdict each way.
        let (verdict, ..) = judge(NS, &r(&[100.0, 105.0, 110.0]), &r(&[111.0, 200.0, 201.0]));
        assert_eq!(verdict, Verdict::Worse);
        let (verdict, ..) = judge(NS, &r(&[111.0, 200.0, 201.0]), &r(&[100.0, 105.0, 110.0]));
        assert_eq!(verdict, Verdict::Better);
    }

    #[test]
    fn rounds_on_one_side_only_are_judged_as_single_figures() {
        let a = Side::rounds(vec![100.0, 101.0, 102.0]);
        // Timing 3x apart: a verdict from single figures (no p-value), where
        // rounds with a missing side would say "not enough rounds".
        let (verdict, threshold, p) = judge(NS, &a, &Side::single(303.0, 0.01));
        assert_eq!((verdict, p), (Verdict::Worse, None));
        assert!((threshold - 0.05 * 303.0).abs() < 1e-9, "{threshold}");
        let (verdict, _, p) = judge(NS, &Side::single(303.0, 0.01), &a);
        assert_eq!((verdict, p), (Verdict::Better, None));
    }

    #[test]
    fn a_timing_exactly_twice_apart_is_judged() {
        let single = |v| Side::single(v, 0.1);
        assert_eq!(judge(NS, &single(100.0), &single(200.0)).0, Verdict::Worse);
        assert_eq!(judge(NS, &single(200.0), &single(100.0)).0, Verdict::Better);
        assert_eq!(
            judge(NS, &single(100.0), &single(199.0)).0,
            Verdict::NotEnoughRounds
        );
        // A disturbed A without rounds: no verdict either.
        let mut a = single(100.0);
        a.disturbed = true;
        assert_eq!(judge(NS, &a, &single(1000.0)).0, Verdict::Disturbed);
        let mut a = Side::rounds(vec![100.0, 101.0, 102.0]);
        a.disturbed = true;
        let b = Side::rounds(vec![300.0, 301.0, 302.0]);
        assert_eq!(judge(NS, &a, &b).0, Verdict::Disturbed);
    }

    /// Sets the pooled acquire's p99 (the pool scenario's primary figure).
    fn set_p99(result: &mut Option<ScenarioResult>, p99: u64) {
        for phase in result.as_mut().unwrap().phases_mut().unwrap() {
            if phase.phase == "pooled-acquire" {
                phase.summary.p99_ns = p99;
            }
        }
    }

    /// A result holding one variant per `(name, rounds)`, each the first
    /// variant of a committed pool result with its pooled acquire p99 set:
    /// the rounds' figures, and as its own figure their median (or
    /// `single` without rounds).
    fn pool_result(variants: &[(&str, &[u64])], single: u64) -> ResultFile {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/results/pool/20261128T041454Z.json"
        );
        let mut file = crate::report::json::read(std::path::Path::new(path)).unwrap();
        let template = file.variants[0].clone();
        let round = template.rounds[0].clone();
        file.variants = variants
            .iter()
            .map(|(name, p99s)| {
                let mut v = template.clone();
                v.name = (*name).into();
                v.disturbed = false;
                let mut sorted = p99s.to_vec();
                sorted.sort();
                set_p99(
                    &mut v.result,
                    sorted.get(sorted.len() / 2).copied().unwrap_or(single),
                );
                v.rounds = p99s
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let mut r = round.clone();
                        r.round = i as u32 + 1;
                        r.replaced = false;
                        r.status = VariantStatus::Ok;
                        set_p99(&mut r.result, *p);
                        r
                    })
                    .collect();
                v
            })
            .collect();
        file
    }

    fn acquire_p99(deltas: &[MetricDelta]) -> Vec<&MetricDelta> {
        deltas
            .iter()
            .filter(|d| d.metric == "pooled-acquire p99")
            .collect()
    }

    #[test]
    fn a_result_with_rounds_is_judged_on_its_rounds() {
        let a = pool_result(&[("x", &[100, 101, 102])], 0);
        let b = pool_result(&[("x", &[300, 301, 302])], 0);
        let deltas = diff(&a, &b);
        let d = acquire_p99(&deltas);
        assert_eq!(d.len(), 1);
        let d = d[0];
        assert_eq!(d.variant, "x");
        assert_eq!((d.a, d.b), (101.0, 301.0));
        assert_eq!((d.a_rounds, d.b_rounds), (3, 3));
        assert_eq!(d.a_range, Some((100.0, 102.0)));
        assert_eq!(d.b_range, Some((300.0, 302.0)));
        assert_eq!(d.verdict, Verdict::Worse);
        assert!((d.p_value.unwrap() - 0.1).abs() < 1e-12);
        // Every judged headline of the variant is there, once.
        let judged = a.variants[0]
            .result
            .as_ref()
            .unwrap()
            .headlines()
            .into_iter()
            .filter(|h| h.judged)
            .count();
        assert_eq!(deltas.len(), judged);

        // One counted round (the other replaced): B is a single figure.
        let mut b = pool_result(&[("x", &[300, 301])], 0);
        b.variants[0].rounds[1].replaced = true;
        b.variants[0].rounds[1].result = None;
        let deltas = diff(&a, &b);
        let d = acquire_p99(&deltas)[0];
        assert_eq!(
            (d.b, d.b_rounds, d.b_range, d.p_value),
            (301.0, 1, None, None)
        );
        // Two counted rounds without figures: the variant's own figure.
        let mut b = pool_result(&[("x", &[300, 301])], 0);
        for r in &mut b.variants[0].rounds {
            r.result = None;
        }
        let d = diff(&a, &b);
        let d = acquire_p99(&d)[0];
        assert_eq!((d.b, d.b_rounds, d.b_range), (301.0, 1, None));
        // A disturbed variant: no verdict.
        let mut b = pool_result(&[("x", &[300, 301, 302])], 0);
        b.variants[0].disturbed = true;
        let d = diff(&a, &b);
        assert!(d.iter().all(|d| d.verdict == Verdict::Disturbed), "{d:?}");
        let d = diff(&b, &a);
        assert!(d.iter().all(|d| d.verdict == Verdict::Disturbed), "{d:?}");
    }

    #[test]
    fn variants_pair_by_name_or_as_the_only_two() {
        let failed = || VariantStatus::Failed {
            reason: "killed".into(),
        };
        let names = |deltas: &[MetricDelta]| {
            let mut v: Vec<String> = acquire_p99(deltas)
                .iter()
                .map(|d| format!("{} {} {}", d.variant, d.a, d.b))
                .collect();
            v.sort();
            v
        };
        // By name, whatever the order; a variant only one side has is left out.
        let a = pool_result(&[("x", &[]), ("y", &[])], 10);
        let b = pool_result(&[("y", &[]), ("z", &[]), ("x", &[])], 20);
        assert_eq!(names(&diff(&a, &b)), ["x 10 20", "y 10 20"]);
        // A failed variant is not compared.
        let mut b2 = b.clone();
        b2.variants[2].status = failed();
        assert_eq!(names(&diff(&a, &b2)), ["y 10 20"]);
        let mut a2 = a.clone();
        a2.variants[1].status = failed();
        assert_eq!(names(&diff(&a2, &b)), ["x 10 20"]);
        // One variant each, the same name: paired once.
        let one = |name: &str, p: u64| pool_result(&[(name, &[])], p);
        assert_eq!(names(&diff(&one("x", 10), &one("x", 20))), ["x 10 20"]);
        // One variant each, names differ: paired across names.
        assert_eq!(names(&diff(&one("x", 10), &one("w", 20))), ["x vs w 10 20"]);
        // ... unless one of them failed.
        let mut w = one("w", 20);
        w.variants[0].status = failed();
        assert!(diff(&one("x", 10), &w).is_empty());
        assert!(diff(&w, &one("x", 10)).is_empty());
        // The same name, failed on one side: not paired across names either.
        let mut x = one("x", 20);
        x.variants[0].status = failed();
        assert!(diff(&one("x", 10), &x).is_empty());
        // More than one variant on a side, no name shared: nothing.
        assert!(diff(&a, &one("w", 20)).is_empty());
        assert!(diff(&one("w", 20), &a).is_empty());
    }
}
