//! The Markdown report: the side-by-side table, host facts and how to read them.

use super::{duration, gib, mib};
use crate::result::{ResultFile, VariantStatus};
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// How to read the memory columns; printed under every table.
pub const READING_GUIDE: &str = "\
Trust **Pss** (and Private_Dirty). VmRSS counts a page once per mapping, so N \
instances mapping one copy-on-write image each count the whole image: VmRSS per \
instance overstates what an extra sandbox costs. Pss divides shared pages among \
their sharers; Private_Dirty is what each instance wrote. Per-instance = \
(reading after N live instances - reading after the module was loaded) / N.";

/// The side-by-side table of per-instance memory, grouped by live-instance count.
pub fn scaling_table(r: &ResultFile) -> String {
    let mut counts: Vec<u32> = r
        .variants
        .iter()
        .filter_map(|v| v.scaling.as_ref())
        .flat_map(|s| s.steps.iter().map(|st| st.live_instances))
        .collect();
    counts.sort_unstable();
    counts.dedup();
    let mut out = String::new();
    out.push_str("| N | variant | Pss / inst | Private_Dirty / inst | VmRSS / inst | minor faults / inst | total Pss | VmSize | instantiate (mean) |\n");
    out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for n in counts {
        for v in &r.variants {
            let Some(step) = v
                .scaling
                .as_ref()
                .and_then(|s| s.steps.iter().find(|s| s.live_instances == n))
            else {
                continue;
            };
            let p = &step.per_instance;
            let _ = writeln!(
                out,
                "| {n} | {} | {} | {} | {} | {:.0} | {} | {} | {} |",
                v.name,
                mib(p.pss_bytes),
                mib(p.private_dirty_bytes),
                mib(p.vm_rss_bytes),
                p.minor_faults,
                mib(step.memory.pss_bytes as f64),
                gib(step.memory.vm_size_bytes as f64),
                duration(step.instantiate_mean_ns),
            );
        }
    }
    out
}

/// Fixed (shared) costs per variant: engine and module before any instance.
pub fn fixed_cost_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str(
        "| variant | engine: Pss | engine: VmSize | module loaded: Pss | module load time |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|\n");
    for v in &r.variants {
        let Some(s) = &v.scaling else { continue };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            v.name,
            mib(s.after_engine.pss_bytes as f64 - s.process_start.pss_bytes as f64),
            gib(s.after_engine.vm_size_bytes as f64 - s.process_start.vm_size_bytes as f64),
            mib(s.after_module.pss_bytes as f64 - s.after_engine.pss_bytes as f64),
            duration(s.module_load_ns as f64),
        );
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
    let h = &r.host;
    let _ = writeln!(
        out,
        "Measured with pooling-lab {} on wasmtime {}, Linux {}, {} ({} CPUs, {} RAM); \
         memory protection keys: {}; PAGEMAP_SCAN: {}; commit {}{}. Config: `{}`. \
         Each variant ran in its own process.\n",
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
        r.config_path,
    );
    out.push_str("## Per-instance memory\n\n");
    out.push_str(&scaling_table(r));
    let _ = writeln!(out, "\n{READING_GUIDE}\n");
    out.push_str("## Fixed cost (before any instance)\n\n");
    out.push_str(&fixed_cost_table(r));
    let f = failures(r);
    if !f.is_empty() {
        out.push_str("\n## Failed variants\n\n");
        out.push_str(&f);
    }
    out
}

/// Writes the report next to the JSON.
pub fn write(path: &Path, r: &ResultFile) -> Result<()> {
    super::json::write_atomic(path, render(r).as_bytes())
}
