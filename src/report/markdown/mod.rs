//! The Markdown report: the side-by-side tables, host facts and how to read
//! them, and the summary `pooling-lab run` prints on stdout.
//!
//! Each scenario writes its own section ([`crate::scenario::Scenario::report`],
//! in registry order); the parts here are the run's own: the header and
//! host line ([`run`]), the snapshots ([`snapshots`]), the guest faults
//! ([`faults`]), every headline metric between rounds, the measurement
//! conditions, the charts, warnings and failures.

pub mod faults;
pub mod run;
pub mod snapshots;

pub use faults::faults_table;
pub use run::{between_rounds_table, conditions_table, failures, host_line, label, warnings};
pub use snapshots::preinit_lines;

use crate::result::ResultFile;
use crate::scenario::{ReportContext, Row, ScenarioResult};
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// Every measured variant of `r` as a scenario's report section sees it
/// (failed variants, which have no figures, are left out).
pub fn rows(r: &ResultFile) -> Vec<Row<'_, ScenarioResult>> {
    r.variants
        .iter()
        .filter_map(|v| {
            Some(Row {
                name: &v.name,
                label: label(v),
                settings: &v.settings,
                result: v.result.as_ref()?,
                vs_baseline: v.vs_baseline.as_ref(),
                between_rounds: &v.between_rounds,
            })
        })
        .collect()
}

/// What a scenario's report section knows of `r` beyond its rows.
pub fn context(r: &ResultFile) -> ReportContext<'_> {
    ReportContext {
        baseline: &r.baseline,
        experiment: &r.experiment,
    }
}

/// Links to the charts (SVG shown, PNG linked).
pub fn plots(r: &ResultFile) -> String {
    let mut out = String::new();
    for svg in r.plots.iter().filter(|p| p.ends_with(".svg")) {
        let name = std::path::Path::new(svg)
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let png = svg.trim_end_matches(".svg").to_string() + ".png";
        let _ = writeln!(out, "![{name}]({svg})\n\n[{name} as PNG]({png})\n");
    }
    out
}

/// The whole report.
pub fn render(r: &ResultFile) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {} ({})\n", r.experiment, r.started_at);
    if let Some(d) = &r.description {
        let _ = writeln!(out, "{d}\n");
    }
    if !r.complete {
        out.push_str("**Incomplete**: not every variant has run.\n\n");
    }
    let _ = writeln!(out, "{}\n", host_line(&r.host, &r.config_path));
    if r.rounds > 1 {
        let _ = writeln!(
            out,
            "Rounds: {} per variant, each in its own process, interleaved (round r measures the \
             variants in an order rotated by r, so drift touches every variant alike). The tables \
             show each variant's median round; \"Between rounds\" gives every headline metric's \
             median, min-max and the confidence interval of the median; ratios to the baseline \
             are medians of the ratios within each round.\n",
            r.rounds
        );
    }
    let pre = preinit_lines(r);
    if !pre.is_empty() {
        out.push_str("## Snapshots\n\n");
        out.push_str(&pre);
        out.push('\n');
    }
    out.push_str(&crate::scenario::report_sections(&rows(r), &context(r)));
    let faults = faults_table(r);
    if !faults.is_empty() {
        out.push_str("\n## Guest faults\n\nCounted, not fatal: each faulting cycle completed (the store was dropped and the slot reset) and is timed with the others. A check is a call that returned a wrong result (status, return value, output, body).\n\n");
        out.push_str(&faults);
    }
    if r.variants.iter().any(|v| !v.between_rounds.is_empty()) {
        out.push_str("\n## Between rounds\n\nEach headline metric over the counted rounds (a re-run replaces a disturbed round). The interval of the median is [x(k), x(n+1-k)] of the sorted rounds, distribution-free; with 3 rounds it is min-max at 75% confidence, from 5 rounds on it reaches 90%.\n\n");
        out.push_str(&between_rounds_table(r));
    }
    if r.variants.iter().any(|v| v.disturbance.is_some()) {
        let _ = writeln!(
            out,
            "\n## Measurement conditions\n\nSampled by the runner every 100 ms while each variant's process ran, over its timed part (widened to at least 1 s) or its whole life: CPU time of other processes (machine busy time from /proc/stat minus the measuring process's and the runner's own), time stolen by the hypervisor, the run queue (procs_running, the measuring threads included), pressure stall information and the measuring process's major faults. Shares are of all {} CPUs. A variant is disturbed when others and steal used more than {:.0}% (`[experiment] disturbed_cpu_share`) or the measuring process took more than {} major faults; with rounds, the worst counted round is shown.\n",
            r.host.cpus,
            r.disturbed_cpu_share
                .unwrap_or(crate::measure::disturbance::DEFAULT_THRESHOLD)
                * 100.0,
            crate::measure::disturbance::MAJOR_FAULTS_DISTURBED
        );
        out.push_str(&conditions_table(r));
    }
    let p = plots(r);
    if !p.is_empty() {
        out.push_str("\n## Plots\n\n");
        out.push_str(&p);
    }
    let w = warnings(r);
    if !w.is_empty() {
        out.push_str("\n## Warnings\n\n");
        out.push_str(&w);
    }
    let f = failures(r);
    if !f.is_empty() {
        out.push_str("\n## Failed variants\n\n");
        out.push_str(&f);
    }
    out
}

/// What `pooling-lab run` prints on stdout: the main table of each scenario
/// and the warnings (the full report is in the Markdown file).
pub fn summary(r: &ResultFile) -> String {
    let mut out = String::new();
    for table in crate::scenario::summary_tables(&rows(r), &context(r)) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&table);
    }
    let faults = faults_table(r);
    if faults.starts_with('|') {
        out.push_str("\nGuest faults:\n");
        out.push_str(&faults);
    } else if !faults.is_empty() {
        out.push_str("\nGuest faults: ");
        out.push_str(&faults);
    }
    let w = warnings(r);
    if !w.is_empty() {
        out.push_str("\nWarnings:\n");
        out.push_str(&w);
    }
    out
}

/// Writes the report next to the JSON.
pub fn write(path: &Path, r: &ResultFile) -> Result<()> {
    super::json::write_atomic(path, render(r).as_bytes())
}
