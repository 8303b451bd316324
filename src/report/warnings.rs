//! Reasons not to trust a figure, the way hyperfine warns about outliers:
//! kept out of the measuring code, computed from the result afterwards.

use crate::measure::disturbance::Disturbance;
use crate::scenario::churn::ChurnResult;

/// `max / p50` of whole cycles above which a variant is flagged for outliers.
pub const MAX_OVER_P50: f64 = 50.0;
/// `p99 / p50` of whole cycles above which the spread is flagged.
pub const P99_OVER_P50: f64 = 10.0;
/// Relative change of the cycle median between the first and second half of
/// the run above which the variant is flagged as not steady.
pub const HALF_DRIFT: f64 = 0.25;
/// Fewer timed cycles than this make the tail percentiles a handful of samples.
pub const MIN_CYCLES: u64 = 200;
/// A phase median closer than this factor to the clock's own cost is flagged.
pub const TIMER_FLOOR_FACTOR: f64 = 10.0;

/// Warnings for one churn result (empty when its figures look trustworthy).
pub fn churn(c: &ChurnResult) -> Vec<String> {
    let mut out = Vec::new();
    let f = &c.faults;
    if f.total() > 0 {
        out.push(format!(
            "guest faults: {} of {} timed cycles faulted (traps {}, deadline {}, memory limit {}, other {}); first: {}. \
             Their cycles are timed like the others, so the latency figures describe faulting sandboxes.",
            f.total(),
            c.total_cycles,
            f.traps,
            f.deadlines,
            f.memory_limits,
            f.other,
            f.first.as_deref().unwrap_or("-")
        ));
    }
    if let Some(d) = &c.dirty_regions {
        out.extend(d.warnings());
    }
    let Some(cycle) = c.phases.iter().find(|p| p.phase == "cycle") else {
        return out;
    };
    let s = &cycle.summary;
    let p50 = s.p50_ns.max(1) as f64;
    if s.max_ns as f64 / p50 > MAX_OVER_P50 {
        out.push(format!(
            "outliers: the slowest cycle took {:.0}x the median; a few cycles were interrupted \
             (scheduler, page reclaim, another process). Read p99.9 rather than max, or rerun on a quieter machine.",
            s.max_ns as f64 / p50
        ));
    }
    if s.p99_ns as f64 / p50 > P99_OVER_P50 {
        out.push(format!(
            "wide spread: p99 is {:.0}x the median, so the median alone misrepresents this variant.",
            s.p99_ns as f64 / p50
        ));
    }
    let (a, b) = (c.cycle_first_half.p50_ns, c.cycle_second_half.p50_ns);
    if a > 0 && b > 0 {
        let drift = (b as f64 - a as f64) / a as f64;
        if drift.abs() > HALF_DRIFT {
            out.push(format!(
                "not steady: the median cycle {} by {:.0}% from the first half of the run to the second; \
                 raise warmup or iterations (or look for a leak: Pss {:+.0} KiB per 1,000 cycles).",
                if drift > 0.0 { "grew" } else { "shrank" },
                drift.abs() * 100.0,
                c.pss_growth_per_1000_cycles_bytes / 1024.0
            ));
        }
    }
    if c.total_cycles < MIN_CYCLES {
        out.push(format!(
            "few samples: {} timed cycles, so p99.9 and max are single cycles.",
            c.total_cycles
        ));
    }
    let floor = c.timer_floor.p50_ns.max(1) as f64;
    for p in &c.phases {
        if p.summary.count > 0 && (p.summary.p50_ns as f64) < floor * TIMER_FLOOR_FACTOR {
            out.push(format!(
                "near the timer floor: {} p50 is {} ns, within {TIMER_FLOOR_FACTOR:.0}x of a clock read ({} ns); \
                 treat it as 'under {} ns'.",
                p.phase,
                p.summary.p50_ns,
                c.timer_floor.p50_ns,
                (floor * TIMER_FLOOR_FACTOR) as u64
            ));
        }
    }
    out
}

/// The warning of a variant measured while the machine was busy: the worst
/// round's figures, and in how many of the counted rounds it happened.
pub fn disturbed(d: &Disturbance, disturbed_rounds: usize, rounds: usize) -> String {
    format!(
        "disturbed{}: {}; its figures describe a disturbed machine, and `compare` gives it no verdict. \
         Rerun on a quiet machine.",
        if rounds > 1 {
            format!(" in {disturbed_rounds} of {rounds} rounds")
        } else {
            String::new()
        },
        d.describe()
    )
}

/// The warning for a snapshot whose initialisation read entropy or clocks:
/// every sandbox made from it starts with those same values. `None` when it
/// read neither.
pub fn snapshot_frozen(s: &crate::result::PreinitSnapshot) -> Option<String> {
    if s.frozen.is_empty() {
        return None;
    }
    Some(format!(
        "the snapshot froze nondeterministic values: its initialisation read {}. Every sandbox \
         started from it begins with the same values: hash seeds (hash-flooding protection), map \
         and PRNG seeds, start times. Before shipping this snapshot, check what the guest derived \
         from them, and re-seed after restore where it matters (e.g. Python: PYTHONHASHSEED is \
         fixed at init; Go: the runtime's hash seed).",
        s.frozen.describe().join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::latency::{LatencySummary, TimerFloor};
    use crate::scenario::churn::PhaseLatency;

    fn summary(p50: u64, p99: u64, max: u64) -> LatencySummary {
        LatencySummary {
            count: 1000,
            min_ns: p50,
            mean_ns: p50 as f64,
            stdev_ns: 0.0,
            p50_ns: p50,
            p90_ns: p50,
            p99_ns: p99,
            p999_ns: p99,
            max_ns: max,
        }
    }

    fn result(cycle: LatencySummary, first: u64, second: u64, cycles: u64) -> ChurnResult {
        ChurnResult {
            threads: 1,
            iterations_per_thread: cycles,
            warmup_per_thread: 0,
            total_cycles: cycles,
            wall_ns: 1,
            cycles_per_sec: 1.0,
            module_load_ns: 0,
            phases: vec![PhaseLatency {
                phase: "cycle".into(),
                summary: cycle,
                hlog_path: None,
                hgrm_path: None,
            }],
            cycle_first_half: summary(first, first, first),
            cycle_second_half: summary(second, second, second),
            memory_before: Default::default(),
            memory_after: Default::default(),
            minor_faults_per_cycle: 0.0,
            major_faults_per_cycle: 0.0,
            pss_growth_per_1000_cycles_bytes: 0.0,
            rss_growth_per_1000_cycles_bytes: 0.0,
            timer_floor: TimerFloor {
                samples: 1,
                min_ns: 20,
                p50_ns: 20,
                p99_ns: 30,
            },
            faults: Default::default(),
            warmup_faults: Default::default(),
            background_load: 0,
            contention: None,
            major_fault_sites: None,
            dirty_regions: None,
        }
    }

    #[test]
    fn steady_tight_run_has_no_warning() {
        let c = result(summary(10_000, 20_000, 40_000), 10_000, 10_400, 2000);
        assert!(churn(&c).is_empty(), "{:?}", churn(&c));
    }

    #[test]
    fn each_problem_is_named() {
        let w = churn(&result(
            summary(10_000, 200_000, 5_000_000),
            10_000,
            10_000,
            2000,
        ));
        assert!(w.iter().any(|w| w.starts_with("outliers")), "{w:?}");
        assert!(w.iter().any(|w| w.starts_with("wide spread")), "{w:?}");
        let w = churn(&result(
            summary(10_000, 10_000, 10_000),
            8_000,
            12_000,
            2000,
        ));
        assert!(w.iter().any(|w| w.contains("grew by 50%")), "{w:?}");
        let w = churn(&result(summary(100, 100, 100), 100, 100, 50));
        assert!(w.iter().any(|w| w.starts_with("few samples")), "{w:?}");
        assert!(
            w.iter().any(|w| w.starts_with("near the timer floor")),
            "{w:?}"
        );
    }
}
