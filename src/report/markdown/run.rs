//! The run's own parts of the report: the host line, the measurement
//! conditions, every headline metric between rounds, warnings and failures.

use crate::report::{duration, gib, mib};
use crate::result::{ResultFile, VariantResult, VariantStatus};
use crate::rounds::{RoundStat, Unit};
use std::fmt::Write as _;

/// A variant's name in a table, marked when it was measured on a disturbed machine.
pub fn label(v: &VariantResult) -> String {
    if v.disturbed {
        format!("{} (**disturbed**)", v.name)
    } else {
        v.name.clone()
    }
}

/// "Measured with ... on ...; commit ...; Config: ..." for a report's header.
pub fn host_line(h: &crate::result::HostInfo, config_path: &str) -> String {
    format!(
        "Measured with pooling-lab {} on wasmtime {}, Linux {}, {} ({} CPUs, {} RAM); \
         memory protection keys: {}; PAGEMAP_SCAN: {}; commit {}{}{}. Config: `{}`. \
         Each variant ran in its own process.",
        h.pooling_lab_version,
        h.wasmtime_version,
        h.kernel,
        h.cpu_model,
        h.cpus,
        gib(h.mem_total_bytes as f64),
        if h.mpk_available {
            "available"
        } else {
            "not available"
        },
        if h.pagemap_scan_available {
            "available"
        } else {
            "not available"
        },
        h.git_commit
            .as_deref()
            .map_or("unknown", |c| &c[..c.len().min(12)]),
        if h.git_dirty == Some(true) {
            " (dirty)"
        } else {
            ""
        },
        match (&h.build_commit, &h.git_commit) {
            (Some(b), Some(c)) if b != c => format!(
                " (the binary was built at {}: its figures are that build's)",
                &b[..b.len().min(12)]
            ),
            _ => String::new(),
        },
        config_path,
    )
}

/// A between-rounds figure in its unit.
fn show_stat(x: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => mib(x),
        Unit::Nanos => duration(x),
        Unit::PerSec => format!("{x:.0}/s"),
        Unit::Count => format!("{x:.2}"),
    }
}

/// Every headline metric over each variant's rounds: median, min-max and the
/// order-statistic confidence interval of the median.
pub fn between_rounds_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str(
        "| variant | metric | median | min-max | interval of the median (confidence) | rounds |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|\n");
    for v in &r.variants {
        for RoundStat {
            metric,
            unit,
            values,
            median,
            min,
            max,
            ci_low,
            ci_high,
            ci_level,
            ..
        } in &v.between_rounds
        {
            let u = *unit;
            let _ = writeln!(
                out,
                "| {} | {metric} | {} | {}-{} | {}-{} ({:.0}%) | {} |",
                label(v),
                show_stat(*median, u),
                show_stat(*min, u),
                show_stat(*max, u),
                show_stat(*ci_low, u),
                show_stat(*ci_high, u),
                ci_level * 100.0,
                values.len()
            );
        }
    }
    out
}

/// A share of the machine's CPUs (or a pressure) as a percentage, or `-`.
fn share(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.0}%", x * 100.0))
}

/// What else the machine did while each variant measured.
pub fn conditions_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | rounds counted (re-run) | shown round | window | other processes' CPU | steal | own CPU | run queue mean / max | CPU pressure | memory pressure | major faults | verdict |\n");
    out.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for v in &r.variants {
        let counted = v.rounds.iter().filter(|x| crate::rounds::counts(x)).count();
        let reruns = v.rounds.iter().filter(|x| x.rerun).count();
        let rounds = if v.rounds.is_empty() {
            "1".to_string()
        } else {
            format!("{counted} ({reruns})")
        };
        let shown = if v.shown_round > 0 {
            v.shown_round.to_string()
        } else {
            "-".into()
        };
        match &v.disturbance {
            Some(d) => {
                let _ = writeln!(
                    out,
                    "| {} | {rounds} | {shown} | {} {:.1} s | {} | {} | {} | {:.1} / {} | {} | {} | {} | {} |",
                    v.name,
                    d.window,
                    d.window_s,
                    share(Some(d.other_cpu_share)),
                    share(Some(d.steal_share)),
                    share(Some(d.own_cpu_share)),
                    d.procs_running_mean,
                    d.procs_running_max,
                    share(d.cpu_pressure),
                    share(d.memory_pressure),
                    d.major_faults,
                    if v.disturbed {
                        "**disturbed**"
                    } else {
                        "quiet"
                    }
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "| {} | {rounds} | {shown} | - | - | - | - | - | - | - | - | not sampled |",
                    v.name
                );
            }
        }
    }
    out
}

/// Warnings of every variant.
pub fn warnings(r: &ResultFile) -> String {
    let mut out = String::new();
    for v in &r.variants {
        for w in &v.warnings {
            let _ = writeln!(out, "- **{}**: {w}", v.name);
        }
    }
    out
}

/// Lines for variants that were not measured.
pub fn failures(r: &ResultFile) -> String {
    let mut out = String::new();
    for v in &r.variants {
        if let VariantStatus::Failed { reason } = &v.status {
            let _ = writeln!(out, "- **{}** failed: {reason}", v.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::host_line;

    #[test]
    fn host_line_names_a_build_other_than_the_checkout() {
        let mut h = crate::result::HostInfo::detect();
        h.git_commit = Some("a".repeat(40));
        h.git_dirty = Some(false);
        h.build_commit = h.git_commit.clone();
        let same = host_line(&h, "configs/quick.toml");
        assert!(!same.contains("binary was built"), "{same}");
        assert!(
            same.contains(&format!("commit {}.", "a".repeat(12))),
            "{same}"
        );
        h.build_commit = Some("b".repeat(40));
        let other = host_line(&h, "configs/quick.toml");
        assert!(
            other.contains(&format!("binary was built at {}", "b".repeat(12))),
            "{other}"
        );
        // Older results (no build recorded) read as before.
        h.build_commit = None;
        assert_eq!(host_line(&h, "configs/quick.toml"), same);
    }
}
