//! Rounds: each variant measured in several separate processes, and what
//! the spread *between* them says.
//!
//! Variation between process invocations (address-space layout, page-cache
//! and allocator state, what else the machine does at that moment) is larger
//! than the spread within one process and cannot be seen from inside it
//! (Georges, Buytaert, Eeckhout, OOPSLA 2007; hyperfine and criterion sample
//! it by repeating invocations). `run --rounds N` measures every variant in N
//! child processes, interleaved: round r runs the variants in an order
//! rotated by r, so slow drift of the machine touches every variant alike.
//!
//! For every headline metric ([`crate::scenario::Scenario::headlines`]) a result keeps each round's
//! value and reports the median with the between-round spread ([`RoundStat`]):
//! min-max and a distribution-free confidence interval of the median from
//! order statistics ([`median_ci`]). Two results are told apart by an exact
//! rank test over their rounds ([`rank_test_p`]).

pub use crate::metric::{Better, Headline, MIN_PROCESS_BYTES, MIN_RELATIVE, RoundStat, Unit};
use crate::result::{RoundRecord, VariantStatus};
use crate::scenario::ScenarioResult;

/// Most rounds a run may ask for (declared with `[experiment] rounds`).
pub use crate::settings::MAX_ROUNDS;

/// Confidence the median's interval aims for (the interval from order
/// statistics reaches it from 5 rounds on; below, min-max is given with the
/// confidence it has: 75% for 3 rounds).
pub const CI_LEVEL: f64 = 0.90;

/// Whether a round counts: measured, and not superseded by its re-run.
pub fn counts(r: &RoundRecord) -> bool {
    r.status == VariantStatus::Ok && !r.replaced
}

/// Index (into `rounds`) of the counted round whose [`crate::scenario::Scenario::primary`] figure is the
/// median (the lower of the two middle ones for an even count).
pub fn median_round(rounds: &[RoundRecord]) -> Option<usize> {
    let mut v: Vec<(f64, usize)> = rounds
        .iter()
        .enumerate()
        .filter(|(_, r)| counts(r))
        .filter_map(|(i, r)| Some((r.result.as_ref()?.primary()?, i)))
        .collect();
    if v.is_empty() {
        return rounds.iter().position(counts);
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Some(v[(v.len() - 1) / 2].1)
}

/// Median of a non-empty sorted slice (mean of the middle two for an even count).
pub fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// `P(X <= k)` for `X ~ Binomial(n, 1/2)`.
fn binom_half_cdf(n: usize, k: usize) -> f64 {
    let mut c = 1.0f64; // C(n, 0)
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        if i > 0 {
            c = c * (n - i + 1) as f64 / i as f64;
        }
        sum += c;
    }
    sum / 2f64.powi(n as i32)
}

/// Distribution-free confidence interval of the median of `sorted`:
/// `[x(k), x(n+1-k)]` (1-based order statistics) with the largest `k` whose
/// coverage `1 - 2 P(Bin(n, 1/2) <= k-1)` is at least `level`; min-max (k = 1)
/// when no interval reaches it. Returns `(low, high, coverage)`.
pub fn median_ci(sorted: &[f64], level: f64) -> (f64, f64, f64) {
    let n = sorted.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, 0.0);
    }
    let coverage = |k: usize| 1.0 - 2.0 * binom_half_cdf(n, k - 1);
    let mut k = 1;
    while k < n.div_ceil(2) && coverage(k + 1) >= level {
        k += 1;
    }
    (sorted[k - 1], sorted[n - k], coverage(k).max(0.0))
}

/// Summarises one metric's values over rounds.
pub fn stat(metric: &str, unit: Unit, better: Better, values: Vec<f64>) -> RoundStat {
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let (ci_low, ci_high, ci_level) = median_ci(&sorted, CI_LEVEL);
    RoundStat {
        metric: metric.to_string(),
        unit,
        better,
        median: median_sorted(&sorted),
        min: sorted.first().copied().unwrap_or(f64::NAN),
        max: sorted.last().copied().unwrap_or(f64::NAN),
        ci_low,
        ci_high,
        ci_level,
        values,
    }
}

/// Every headline metric over the counted rounds, in the order of the first
/// counted round's metrics. Empty when fewer than two rounds count.
pub fn round_stats(rounds: &[RoundRecord]) -> Vec<RoundStat> {
    let mut counted: Vec<&RoundRecord> = rounds.iter().filter(|r| counts(r)).collect();
    if counted.len() < 2 {
        return Vec::new();
    }
    counted.sort_by_key(|r| r.round);
    let per_round: Vec<Vec<Headline>> = counted
        .iter()
        .map(|r| {
            r.result
                .as_ref()
                .map(ScenarioResult::headlines)
                .unwrap_or_default()
        })
        .collect();
    per_round[0]
        .iter()
        .map(|h| {
            let values: Vec<f64> = per_round
                .iter()
                .filter_map(|hs| hs.iter().find(|x| x.metric == h.metric).map(|x| x.value))
                .collect();
            stat(&h.metric, h.unit, h.better, values)
        })
        .collect()
}

/// Number of arrangements of `m` + `n` distinct values in which the Mann-Whitney
/// statistic of the first group is `u`, for every `u` in `0..=m*n`, as f64.
fn mann_whitney_counts(m: usize, n: usize) -> Vec<f64> {
    // f[i][j][u]: counts for group sizes i, j; built up with the recurrence
    // f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u).
    let mut prev: Vec<Vec<f64>> = (0..=n).map(|_| vec![1.0]).collect(); // i = 0
    for i in 1..=m {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
        cur.push(vec![1.0]); // j = 0
        for j in 1..=n {
            let mut f = vec![0.0; i * j + 1];
            for (u, slot) in f.iter_mut().enumerate() {
                let a = if u >= j {
                    prev[j].get(u - j).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                let b = cur[j - 1].get(u).copied().unwrap_or(0.0);
                *slot = a + b;
            }
            cur.push(f);
        }
        prev = cur;
    }
    prev.pop().unwrap_or_default()
}

/// Two-sided p-value of the Mann-Whitney rank test that `a` and `b` come from
/// the same distribution (ties count one half). Exact for `len(a) * len(b)`
/// up to 400, normal approximation above. 1.0 when either side is empty.
pub fn rank_test_p(a: &[f64], b: &[f64]) -> f64 {
    let (m, n) = (a.len(), b.len());
    if m == 0 || n == 0 {
        return 1.0;
    }
    let mut u: f64 = 0.0;
    for x in a {
        for y in b {
            u += if x > y {
                1.0
            } else if x == y {
                0.5
            } else {
                0.0
            };
        }
    }
    let mn = (m * n) as f64;
    let u_small = u.min(mn - u);
    if m * n <= 400 {
        let counts = mann_whitney_counts(m, n);
        let total: f64 = counts.iter().sum();
        let tail: f64 = counts
            .iter()
            .take(u_small.floor() as usize + 1)
            .sum::<f64>();
        (2.0 * tail / total).min(1.0)
    } else {
        let mean = mn / 2.0;
        let sd = (mn * (m + n + 1) as f64 / 12.0).sqrt();
        let z = (mean - u_small - 0.5).max(0.0) / sd;
        (2.0 * normal_upper_tail(z)).min(1.0)
    }
}

/// `P(Z > z)` for a standard normal `Z` (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7).
fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    let erf = if x >= 0.0 { y } else { -y };
    0.5 * (1.0 - erf)
}

/// The smallest p-value a rank test over `m` and `n` rounds can reach: two
/// over the number of ways to split the rounds (0.1 for 3 against 3, 0.33 for
/// 2 against 2).
pub fn best_possible_p(m: usize, n: usize) -> f64 {
    if m == 0 || n == 0 {
        return 1.0;
    }
    let mut c = 1.0f64;
    for i in 0..m.min(n) {
        c = c * (m + n - i) as f64 / (i + 1) as f64;
    }
    (2.0 / c).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_its_order_statistic_interval() {
        assert_eq!(median_sorted(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median_sorted(&[1.0, 2.0, 4.0, 9.0]), 3.0);
        // 3 rounds: min-max covers the median with 1 - 2/8 = 75%.
        let (lo, hi, level) = median_ci(&[1.0, 2.0, 3.0], 0.90);
        assert_eq!((lo, hi), (1.0, 3.0));
        assert!((level - 0.75).abs() < 1e-12);
        // 5 rounds: min-max is 1 - 2/32 = 93.75%, the next one in only 62.5%.
        let (lo, hi, level) = median_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.90);
        assert_eq!((lo, hi), (1.0, 5.0));
        assert!((level - 0.9375).abs() < 1e-12);
        // 10 rounds: x(2)..x(9) has 1 - 2*11/1024 = 97.9%, x(3)..x(8) 89.1%.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let (lo, hi, level) = median_ci(&ten, 0.90);
        assert_eq!((lo, hi), (2.0, 9.0));
        assert!(level > 0.97 && level < 0.98, "{level}");
        let s = stat("m", Unit::Nanos, Better::Lower, vec![3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(s.values, [3.0, 1.0, 2.0], "round order is kept");
    }

    #[test]
    fn rank_test_is_exact_for_small_samples() {
        // 3 against 3, fully separated: 2 of the 20 splits are as extreme.
        let p = rank_test_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert!((p - 0.1).abs() < 1e-12, "{p}");
        assert!((best_possible_p(3, 3) - 0.1).abs() < 1e-12);
        assert!((best_possible_p(2, 2) - 1.0 / 3.0).abs() < 1e-12);
        // Interleaved: nothing to see.
        assert!(rank_test_p(&[1.0, 3.0, 5.0], &[2.0, 4.0, 6.0]) > 0.5);
        // 5 against 5 separated: 2 / 252.
        let p = rank_test_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        // The distribution sums to C(m+n, m).
        let c: f64 = mann_whitney_counts(4, 6).iter().sum();
        assert_eq!(c, 210.0);
        // Large samples use the normal approximation and still separate.
        let a: Vec<f64> = (0..30).map(f64::from).collect();
        let b: Vec<f64> = (100..130).map(f64::from).collect();
        assert!(rank_test_p(&a, &b) < 1e-6);
        assert!(rank_test_p(&a, &a) > 0.9);
        assert!((normal_upper_tail(1.96) - 0.025).abs() < 1e-3);
    }

    // The tests below were written for the mutation score
    // (scripts/mutants.sh): each pins a figure a wrong formula would change.

    /// Sets the pooled acquire's p99 (the pool scenario's primary figure).
    fn set_p99(result: &mut ScenarioResult, p99: u64) {
        for phase in result.phases_mut().unwrap() {
            if phase.phase == "pooled-acquire" {
                phase.summary.p99_ns = p99;
            }
        }
    }

    /// A committed pool result's first round, as round `round` with the
    /// pooled acquire's p99 (the pool's primary figure) set to `p99`.
    fn pool_round(round: u32, p99: u64, ok: bool, replaced: bool) -> RoundRecord {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/results/pool/20261128T041454Z.json"
        );
        // Read as report::json::read does (rounds may not import report,
        // which imports it).
        let mut doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        crate::result::upgrade(&mut doc).unwrap();
        let file: crate::result::ResultFile = serde_json::from_value(doc).unwrap();
        let mut r = file.variants[0].rounds[0].clone();
        r.round = round;
        r.replaced = replaced;
        if !ok {
            r.status = VariantStatus::Failed {
                reason: "killed".into(),
            };
        }
        set_p99(r.result.as_mut().unwrap(), p99);
        assert_eq!(r.result.as_ref().unwrap().primary(), Some(p99 as f64));
        r
    }

    #[test]
    fn a_round_counts_when_measured_and_not_replaced() {
        assert!(counts(&pool_round(1, 10, true, false)));
        assert!(!counts(&pool_round(1, 10, true, true)));
        assert!(!counts(&pool_round(1, 10, false, false)));
    }

    #[test]
    fn the_median_round_is_the_counted_round_with_the_middle_primary() {
        assert_eq!(median_round(&[]), None);
        // 30, 10, 20: the third round holds the median.
        let rounds = [
            pool_round(1, 30, true, false),
            pool_round(2, 10, true, false),
            pool_round(3, 20, true, false),
        ];
        assert_eq!(median_round(&rounds), Some(2));
        // Even count: the lower of the two middle ones (20 of 10, 20, 30, 40).
        let rounds = [
            pool_round(1, 40, true, false),
            pool_round(2, 10, true, false),
            pool_round(3, 30, true, false),
            pool_round(4, 20, true, false),
        ];
        assert_eq!(median_round(&rounds), Some(3));
        // A replaced round and a failed one do not count: of 50 (replaced),
        // 5 (failed), 30, 10, 20 the median is 20.
        let rounds = [
            pool_round(1, 50, true, true),
            pool_round(1, 5, false, false),
            pool_round(2, 30, true, false),
            pool_round(3, 10, true, false),
            pool_round(4, 20, true, false),
        ];
        assert_eq!(median_round(&rounds), Some(4));
        // Equal primaries: the earlier one.
        let rounds = [
            pool_round(1, 7, true, true),
            pool_round(1, 7, true, false),
            pool_round(2, 7, true, false),
            pool_round(3, 7, true, false),
        ];
        assert_eq!(median_round(&rounds), Some(2));
        // No figures: the first counted round.
        let mut rounds = [
            pool_round(1, 7, false, false),
            pool_round(2, 7, true, true),
            pool_round(3, 7, true, false),
            pool_round(4, 7, true, false),
        ];
        for r in &mut rounds {
            r.result = None;
        }
        assert_eq!(median_round(&rounds), Some(2));
    }

    #[test]
    fn round_stats_follow_the_counted_rounds_in_round_order() {
        let stat_of = |rounds: &[RoundRecord]| {
            round_stats(rounds)
                .into_iter()
                .find(|s| s.metric == "pooled-acquire p99")
        };
        // Fewer than two counted rounds: nothing to summarise.
        assert!(round_stats(&[pool_round(1, 10, true, false)]).is_empty());
        assert!(
            round_stats(&[
                pool_round(1, 10, true, false),
                pool_round(2, 20, true, true),
                pool_round(3, 30, false, false),
            ])
            .is_empty()
        );
        // Two counted rounds, given out of order, one replaced: the values
        // are in round order and the replaced one is left out.
        let s = stat_of(&[
            pool_round(2, 20, true, false),
            pool_round(1, 99, true, true),
            pool_round(1, 10, true, false),
        ])
        .unwrap();
        assert_eq!(s.values, [10.0, 20.0]);
        assert_eq!((s.median, s.min, s.max), (15.0, 10.0, 20.0));
        assert_eq!(s.unit, Unit::Nanos);
        assert_eq!(s.better, Better::Lower);
        // Every headline of the first counted round is summarised.
        let r = pool_round(1, 10, true, false);
        let names: Vec<String> = r
            .result
            .as_ref()
            .unwrap()
            .headlines()
            .into_iter()
            .map(|h| h.metric)
            .collect();
        let stats = round_stats(&[r, pool_round(2, 20, true, false)]);
        assert_eq!(
            stats.iter().map(|s| s.metric.clone()).collect::<Vec<_>>(),
            names
        );
    }

    #[test]
    fn the_median_of_nothing_is_not_a_number() {
        assert!(median_sorted(&[]).is_nan());
        assert_eq!(median_sorted(&[4.0]), 4.0);
        assert_eq!(median_sorted(&[4.0, 6.0]), 5.0);
        let (lo, hi, level) = median_ci(&[], 0.9);
        assert!(lo.is_nan() && hi.is_nan());
        assert_eq!(level, 0.0);
        let s = stat("m", Unit::Bytes, Better::Higher, Vec::new());
        assert!(s.median.is_nan() && s.min.is_nan() && s.max.is_nan());
    }

    #[test]
    fn binomial_tail_and_interval_at_their_edges() {
        // P(Bin(5, 1/2) <= k): 1, 6, 16, 26, 31, 32 over 32.
        for (k, want) in [
            (0, 1.0),
            (1, 6.0),
            (2, 16.0),
            (3, 26.0),
            (4, 31.0),
            (5, 32.0),
        ] {
            assert!(
                (binom_half_cdf(5, k) - want / 32.0).abs() < 1e-15,
                "k = {k}"
            );
        }
        // k beyond n is all of it.
        assert_eq!(binom_half_cdf(3, 7), 1.0);
        // 5 rounds at exactly the coverage of x(2)..x(4) (1 - 2 x 6/32 =
        // 0.625): that interval, not min-max.
        let five = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(median_ci(&five, 0.625), (2.0, 4.0, 0.625));
        // Any level at all (0 or below): the narrowest interval, the middle
        // order statistic, never an inverted one.
        assert_eq!(median_ci(&[1.0, 2.0, 3.0], -1.0), (2.0, 2.0, 0.0));
        let (lo, hi, _) = median_ci(&[1.0, 2.0, 3.0, 4.0], -1.0);
        assert_eq!((lo, hi), (2.0, 3.0));
        // One round: itself, with no confidence.
        assert_eq!(median_ci(&[7.0], 0.9), (7.0, 7.0, 0.0));
        // stat keeps the interval median_ci gives.
        let s = stat(
            "m",
            Unit::Count,
            Better::Lower,
            vec![5.0, 3.0, 1.0, 4.0, 2.0],
        );
        assert_eq!((s.ci_low, s.ci_high, s.ci_level), (1.0, 5.0, 0.9375));
        assert_eq!((s.min, s.max, s.median), (1.0, 5.0, 3.0));
    }

    #[test]
    fn rank_test_counts_ties_as_halves_and_is_symmetric() {
        // U = 1 (two ties at 2): 2 of the 20 splits have U <= 1, so
        // p = 2 x 2/20. Ties as 0 would give 0.1, as 1 give 0.4.
        let p = rank_test_p(&[1.0, 2.0, 2.0], &[2.0, 3.0, 4.0]);
        assert!((p - 0.2).abs() < 1e-12, "{p}");
        // The other way round, and B below A: the same p.
        let q = rank_test_p(&[2.0, 3.0, 4.0], &[1.0, 2.0, 2.0]);
        assert!((q - 0.2).abs() < 1e-12, "{q}");
        let p = rank_test_p(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]);
        assert!((p - 0.1).abs() < 1e-12, "{p}");
        // 2 against 3 (sizes differ), U = 1: counts 1, 1, 2, 2, 2, 1, 1;
        // p = 2 x 2/10.
        let p = rank_test_p(&[1.0, 3.0], &[2.0, 4.0, 5.0]);
        assert!((p - 0.4).abs() < 1e-12, "{p}");
        assert_eq!(
            mann_whitney_counts(2, 3),
            [1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0]
        );
        assert_eq!(
            mann_whitney_counts(3, 2),
            [1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0]
        );
        // An empty side: nothing to test.
        assert_eq!(rank_test_p(&[], &[1.0]), 1.0);
        assert_eq!(rank_test_p(&[1.0], &[]), 1.0);
        assert_eq!(best_possible_p(0, 3), 1.0);
        assert_eq!(best_possible_p(3, 0), 1.0);
        // 4 against 2: 2 / C(6, 2) = 2/15; 1 against 1: 2/2, capped at 1.
        assert!((best_possible_p(4, 2) - 2.0 / 15.0).abs() < 1e-12);
        assert!((best_possible_p(2, 4) - 2.0 / 15.0).abs() < 1e-12);
        assert!((best_possible_p(5, 5) - 2.0 / 252.0).abs() < 1e-12);
        assert_eq!(best_possible_p(1, 1), 1.0);
    }

    #[test]
    fn rank_test_is_exact_up_to_400_pairs_and_close_to_exact_above() {
        // The exact two-sided p for U = u over m x n pairs, from the counts.
        let exact = |m: usize, n: usize, u: usize| {
            let c = mann_whitney_counts(m, n);
            let total: f64 = c.iter().sum();
            2.0 * c[..=u].iter().sum::<f64>() / total
        };
        // 20 x 20 (400 pairs, the last exact size), U = 15 x 16 / 2 = 120:
        // exactly the counts' figure (the normal approximation is 0.0315).
        let a: Vec<f64> = (0..20).map(f64::from).collect();
        let b: Vec<f64> = (0..20).map(|j| f64::from(j) + 4.5).collect();
        let p = rank_test_p(&a, &b);
        assert!((p - exact(20, 20, 120)).abs() < 1e-12, "{p}");
        assert!((p - 0.030_411_256).abs() < 1e-8, "{p}");
        // 21 x 21, U = 17 x 18 / 2 = 153: the normal approximation with
        // continuity correction, sd = sqrt(m n (m + n + 1) / 12): 0.091905
        // (computed apart, with erfc), within 2e-4 of the exact 0.092097.
        let a: Vec<f64> = (0..21).map(f64::from).collect();
        let b: Vec<f64> = (0..21).map(|j| f64::from(j) + 3.5).collect();
        let p = rank_test_p(&a, &b);
        assert!((p - 0.091_904_703).abs() < 1e-6, "{p}");
        assert!((exact(21, 21, 153) - 0.092_097_361).abs() < 1e-8);
        let q = rank_test_p(&b, &a);
        assert!((q - p).abs() < 1e-12, "{q} {p}");
        // At the middle: p = 1.
        assert!(rank_test_p(&a, &a) > 0.999);
    }

    #[test]
    fn the_normal_tail_matches_erfc() {
        // P(Z > z) = erfc(z / sqrt 2) / 2 (reference values to 1e-10);
        // Abramowitz-Stegun 7.1.26 is within 1.5e-7 of them.
        for (z, want) in [
            (0.3, 0.382_088_577_8),
            (1.0, 0.158_655_253_9),
            (-1.0, 0.841_344_746_1),
            (1.96, 0.024_997_895_1),
            (2.5, 0.006_209_665_3),
            (-2.5, 0.993_790_334_7),
            (4.0, 0.000_031_671_2),
        ] {
            let got = normal_upper_tail(z);
            assert!((got - want).abs() < 1.5e-7, "z = {z}: {got} vs {want}");
        }
    }
}
