//! The Markdown report: the side-by-side table, host facts and how to read them.

#[allow(unused_imports)]
use super::{churn_of, pool_of, scaling_of, serve_of, session_of, soak_of, tenants_of};
use super::{duration, gib, mib};
use crate::result::{ResultFile, VariantResult, VariantStatus};
use crate::rounds::{RoundStat, Unit};
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

/// What the scaling table's two latency columns time; printed under it.
pub const SCALING_LATENCY: &str = "\
Latency, mean over the instances added in that step: instantiate = \
`InstancePre::instantiate` of a new sandbox; first call = its first workload \
call, which includes the guest's own start-up (a reactor's `_initialize`, a \
plan's `init` calls) unless it starts from a snapshot. For percentiles, run \
the churn scenario.";

/// A variant's name in a table, marked when it was measured on a disturbed machine.
pub fn label(v: &VariantResult) -> String {
    if v.disturbed {
        format!("{} (**disturbed**)", v.name)
    } else {
        v.name.clone()
    }
}

/// `value (min-max)` of a metric over a variant's rounds, or `value` alone.
fn with_range(
    v: &VariantResult,
    metric: &str,
    value: String,
    show: impl Fn(f64) -> String,
) -> String {
    match v.between_rounds.iter().find(|s| s.metric == metric) {
        Some(s) => format!("{} ({}-{})", show(s.median), show(s.min), show(s.max)),
        None => value,
    }
}

/// The side-by-side table of per-instance memory, grouped by live-instance count.
pub fn scaling_table(r: &ResultFile) -> String {
    let mut counts: Vec<u32> = r
        .variants
        .iter()
        .filter_map(|v| scaling_of(v))
        .flat_map(|s| s.steps.iter().map(|st| st.live_instances))
        .collect();
    counts.sort_unstable();
    counts.dedup();
    let mut out = String::new();
    out.push_str("| N | variant | Pss / inst | Private_Dirty / inst | VmRSS / inst | minor faults / inst | total Pss | VmSize | instantiate (mean) | first call (mean) |\n");
    out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for n in counts {
        for v in &r.variants {
            let Some(step) =
                scaling_of(v).and_then(|s| s.steps.iter().find(|s| s.live_instances == n))
            else {
                continue;
            };
            let p = &step.per_instance;
            let _ = writeln!(
                out,
                "| {n} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
                label(v),
                mib(p.pss_bytes),
                mib(p.private_dirty_bytes),
                mib(p.vm_rss_bytes),
                p.minor_faults,
                mib(step.memory.pss_bytes as f64),
                gib(step.memory.vm_size_bytes as f64),
                duration(step.instantiate_mean_ns),
                first_call(v, step.call_mean_ns),
            );
        }
    }
    out
}

/// A scaling step's mean first-call time, or "not called" when the
/// scenario holds its instances idle (`[scenario] idle`).
fn first_call(v: &VariantResult, call_mean_ns: f64) -> String {
    if v.settings.scenario.idle {
        "not called".into()
    } else {
        duration(call_mean_ns)
    }
}

/// Least-squares fit of total Pss against live instances, per variant.
pub fn fit_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | slope: Pss per instance | intercept: shared Pss | R² |\n");
    out.push_str("|---|---:|---:|---:|\n");
    for (name, f) in super::plot::scaling_fits(r) {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {:.4} |",
            mib(f.slope),
            mib(f.intercept),
            f.r2
        );
    }
    out
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

/// Fixed (shared) costs per variant: engine and module before any instance.
pub fn fixed_cost_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str(
        "| variant | engine: Pss | engine: VmSize | module loaded: Pss | module load time |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|\n");
    for v in &r.variants {
        let Some(s) = scaling_of(v) else { continue };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            label(v),
            mib(s.after_engine.pss_bytes as f64 - s.process_start.pss_bytes as f64),
            gib(s.after_engine.vm_size_bytes as f64 - s.process_start.vm_size_bytes as f64),
            mib(s.after_module.pss_bytes as f64 - s.after_engine.pss_bytes as f64),
            duration(s.module_load_ns as f64),
        );
    }
    out
}

/// Formats a ratio to the baseline (`"12.3x"`), or `"baseline"` / `"-"`.
fn times(r: &ResultFile, name: &str, value: Option<f64>) -> String {
    if name == r.baseline {
        return "baseline".into();
    }
    match value {
        Some(x) if x >= 10.0 => format!("{x:.0}x"),
        Some(x) => format!("{x:.2}x"),
        None => "-".into(),
    }
}

/// Churn throughput, faults and memory drift, one row per variant.
pub fn churn_throughput_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | threads | timed cycles | cycles/s | vs baseline | minor faults / cycle | major faults / cycle | Pss change / 1000 cycles | VmRSS change / 1000 cycles |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for v in &r.variants {
        let Some(c) = churn_of(v) else { continue };
        let ratio = throughput_with_range(r, v);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {} |",
            label(v),
            c.threads,
            c.total_cycles,
            with_range(v, "cycles / s", format!("{:.0}", c.cycles_per_sec), |x| {
                format!("{x:.0}")
            }),
            ratio,
            c.minor_faults_per_cycle,
            c.major_faults_per_cycle,
            kib_signed(c.pss_growth_per_1000_cycles_bytes),
            kib_signed(c.rss_growth_per_1000_cycles_bytes),
        );
    }
    out
}

/// `v`'s throughput ratio to the baseline (cycles/s, or a closed loop's
/// requests/s), with the per-round range when it rests on rounds.
fn throughput_with_range(r: &ResultFile, v: &VariantResult) -> String {
    let cmp = v.vs_baseline.as_ref();
    let median = times(r, &v.name, cmp.and_then(|b| b.throughput_ratio));
    match cmp.and_then(|b| b.throughput_ratio_range) {
        Some((lo, hi)) => format!(
            "{median} ({}-{})",
            times(r, &v.name, Some(lo)),
            times(r, &v.name, Some(hi))
        ),
        None => median,
    }
}

fn kib_signed(bytes: f64) -> String {
    format!("{:+.0} KiB", bytes / 1024.0)
}

/// Churn: the measuring threads' faults, context switches and storage reads
/// over the timed cycles, and where traced major faults landed.
pub fn churn_contention_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | threads | background load | minor faults / cycle | major faults / cycle | voluntary switches / cycle | involuntary switches / cycle | read from storage |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut sites = String::new();
    for v in &r.variants {
        let Some(c) = churn_of(v) else { continue };
        let Some(k) = &c.contention else { continue };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            label(v),
            c.threads,
            c.background_load,
            k.minor_faults_per_cycle,
            k.major_faults_per_cycle,
            k.voluntary_switches_per_cycle,
            k.involuntary_switches_per_cycle,
            mib(k.io_read_bytes as f64),
        );
        if let Some(f) = &c.major_fault_sites {
            let top = |xs: &[(String, u64)]| {
                xs.iter()
                    .take(4)
                    .map(|(m, n)| format!("{m}: {n}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(
                sites,
                "| {} | {} | {} | {} | {} | {} |",
                v.name,
                f.sampled,
                f.lost,
                f.distinct_pages,
                f.unavailable.clone().unwrap_or_else(|| top(&f.by_mapping)),
                top(&f.by_code)
            );
        }
    }
    if !sites.is_empty() {
        out.push_str("\nMajor faults of the timed cycles, sampled one by one (perf): the mapping each faulting address lies in, and the code that took it.\n\n");
        out.push_str("| variant | sampled | lost | distinct pages | landed in | taken by code in |\n|---|---:|---:|---:|---|---|\n");
        out.push_str(&sites);
    }
    out
}

/// Churn: the dirty page regions a request leaves for the slot's reset, and
/// what the variant's wasmtime does with them.
pub fn churn_dirty_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | samples | regions a request wrote (median / max) | pages a request wrote (median / max) | dirty after the call: regions / pages (median) | pages a wasmtime 50 scan calls dirty (median / max) | reset by PAGEMAP_SCAN | keep_resident | what the reset does |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---|---:|---|\n");
    let mut rows = 0;
    for v in &r.variants {
        let Some(d) = churn_of(v).and_then(|c| c.dirty_regions.as_ref()) else {
            continue;
        };
        rows += 1;
        if let Some(why) = &d.unavailable {
            let _ = writeln!(
                out,
                "| {} | - | - | - | - | - | - | - | not scanned: {why} |",
                label(v)
            );
            continue;
        }
        let warnings = d.warnings();
        let verdict = if !d.reset_by_scan {
            "no scan: the reset does not look at dirty pages".to_string()
        } else if warnings.is_empty() {
            "resets every dirty page in place".to_string()
        } else {
            warnings.join("; ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} / {} | {} / {} | {} / {} | {} | {} | {} |",
            label(v),
            d.samples,
            d.written_regions_median,
            d.written_regions_max,
            d.written_pages_median,
            d.written_pages_max,
            d.regions_median,
            d.pages_median,
            d.reset_pages_median,
            d.reset_pages_max,
            if d.reset_by_scan { "yes" } else { "no" },
            mib(d.keep_resident_bytes as f64),
            verdict,
        );
    }
    if rows == 0 { String::new() } else { out }
}

/// Churn latency percentiles, one row per variant and phase.
pub fn churn_latency_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | phase | p50 | p90 | p99 | p99.9 | max | mean | p50 vs baseline |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for v in &r.variants {
        let Some(c) = churn_of(v) else { continue };
        for p in &c.phases {
            let s = &p.summary;
            let d = |ns: u64| duration(ns as f64);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                label(v),
                p.phase,
                d(s.p50_ns),
                d(s.p90_ns),
                d(s.p99_ns),
                d(s.p999_ns),
                d(s.max_ns),
                duration(s.mean_ns),
                times(
                    r,
                    &v.name,
                    v.vs_baseline
                        .as_ref()
                        .and_then(|b| b.p50_speedup.get(&p.phase).copied())
                ),
            );
        }
    }
    out
}

fn phase<'a>(
    phases: &'a [crate::scenario::PhaseLatency],
    name: &str,
) -> Option<&'a crate::measure::latency::LatencySummary> {
    phases.iter().find(|p| p.phase == name).map(|p| &p.summary)
}

fn p999_max(s: Option<&crate::measure::latency::LatencySummary>) -> String {
    s.map_or("-".into(), |s| {
        format!(
            "{} / {}",
            duration(s.p999_ns as f64),
            duration(s.max_ns as f64)
        )
    })
}

fn p50_p99(s: Option<&crate::measure::latency::LatencySummary>) -> String {
    s.map_or("-".into(), |s| {
        format!(
            "{} / {}",
            duration(s.p50_ns as f64),
            duration(s.p99_ns as f64)
        )
    })
}

/// Pool scenario: per-request instantiation vs a prewarmed pool, one row per variant.
pub fn pool_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | threads | rate | requests | inline ready p50 / p99 | pooled acquire p50 / p99 | ready p99 / acquire p99 | inline request p50 / p99 | pooled request p50 / p99 | pooled acquire p99.9 / max | pooled start late p99.9 / max | pooled req/s | hits / misses / exhausted | refill lag p99 | Pss of prewarmed pool | Pss left after pool dropped (engine alive) |\n");
    out.push_str(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for v in &r.variants {
        let Some(p) = pool_of(v) else { continue };
        let c = &p.counters;
        let base = p.memory_before_pool.pss_bytes as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0}x | {} | {} | {} | {} | {:.0} | {} / {} / {} | {} | {} | {} |",
            label(v),
            p.threads,
            if p.rate > 0.0 {
                format!("{:.0}/s", p.rate)
            } else {
                "closed".into()
            },
            p.requests,
            p50_p99(phase(&p.phases, "inline-ready")),
            p50_p99(phase(&p.phases, "pooled-acquire")),
            p.ready_p99_over_acquire_p99,
            p50_p99(phase(&p.phases, "inline-request")),
            p50_p99(phase(&p.phases, "pooled-request")),
            p999_max(phase(&p.phases, "pooled-acquire")),
            p999_max(phase(&p.phases, "pooled-start-late")),
            p.pooled_requests_per_sec,
            c.counts.hits,
            c.counts.misses,
            c.counts.exhausted,
            duration(c.refill_lag_p99_ns as f64),
            mib(p.memory_after_prewarm.pss_bytes as f64 - base),
            mib(p.memory_after_pool_dropped.pss_bytes as f64 - base),
        );
    }
    out
}

/// Session scenario: one sandbox for K executions vs K fresh ones.
pub fn session_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | executions | session exec p50 / p99 | session exec p50 vs baseline | fresh exec p50 / p99 | fresh exec p50 vs baseline | fresh / session (p50) | faults / exec: session | faults / exec: fresh | session Pss growth / exec (2nd half) |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for v in &r.variants {
        let Some(s) = session_of(v) else { continue };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0}x | {:.1} | {:.1} | {:+.0} B |",
            label(v),
            s.executions,
            p50_p99(phase(&s.phases, "session-exec")),
            speedup_with_range(r, v, "session-exec"),
            p50_p99(phase(&s.phases, "fresh-exec")),
            speedup_with_range(r, v, "fresh-exec"),
            s.fresh_over_session_p50,
            s.session_minor_faults_per_exec,
            s.fresh_minor_faults_per_exec,
            s.session_pss_growth_per_exec_bytes,
        );
    }
    out
}

/// `v`'s p50 speedup over the baseline in `phase` (baseline p50 / its
/// own), with the per-round range when it rests on rounds.
fn speedup_with_range(r: &ResultFile, v: &crate::result::VariantResult, phase: &str) -> String {
    let cmp = v.vs_baseline.as_ref();
    let median = times(
        r,
        &v.name,
        cmp.and_then(|b| b.p50_speedup.get(phase).copied()),
    );
    match cmp.and_then(|b| b.p50_speedup_range.get(phase)) {
        Some(&(lo, hi)) => format!(
            "{median} ({}-{})",
            times(r, &v.name, Some(lo)),
            times(r, &v.name, Some(hi))
        ),
        None => median,
    }
}

/// The clock's own cost across the churn variants' processes.
pub fn timer_floor_line(r: &ResultFile) -> Option<String> {
    let floors: Vec<_> = r
        .variants
        .iter()
        .filter_map(|v| churn_of(v).map(|c| c.timer_floor))
        .collect();
    let lo = floors.iter().map(|f| f.p50_ns).min()?;
    let hi = floors.iter().map(|f| f.p50_ns).max()?;
    let min = floors.iter().map(|f| f.min_ns).min()?;
    let range = if lo == hi {
        format!("{lo} ns")
    } else {
        format!("{lo}-{hi} ns")
    };
    Some(format!(
        "Timer floor: one clock read costs {range} (median of back-to-back `Instant::now()` pairs; \
         fastest {min} ns), so every figure above carries that much of the clock itself."
    ))
}

/// Where the full histograms of each churn variant were saved.
pub fn histogram_files(r: &ResultFile) -> String {
    let mut out = String::new();
    for v in &r.variants {
        let Some(c) = churn_of(v) else { continue };
        let Some(dir) = c
            .phases
            .iter()
            .find_map(|p| p.hlog_path.as_deref())
            .and_then(|p| std::path::Path::new(p).parent())
        else {
            continue;
        };
        let _ = writeln!(
            out,
            "- {}: `{}/` ({})",
            v.name,
            dir.display(),
            c.phases
                .iter()
                .map(|p| p.phase.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

/// Histogram folders of the pool and session variants.
fn other_histogram_files(r: &ResultFile) -> String {
    let mut out = String::new();
    for v in &r.variants {
        let phases = match (pool_of(v), session_of(v), tenants_of(v)) {
            (Some(p), _, _) => &p.phases,
            (None, Some(s), _) => &s.phases,
            (None, None, Some(t)) => &t.phases,
            _ => continue,
        };
        if let Some(dir) = phases
            .iter()
            .find_map(|p| p.hlog_path.as_deref())
            .and_then(|p| std::path::Path::new(p).parent())
        {
            let _ = writeln!(out, "- {}: `{}/`", v.name, dir.display());
        }
    }
    out
}

/// Tenants: affine hit rate and the instantiate latency split by affinity.
pub fn tenants_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | tenants | live | mix | requests | affine hit rate | affine / non-affine / cold | instantiate p50 / p99 | affine p50 / p99 | non-affine p50 / p99 | faults / req: affine | faults / req: non-affine | distinct slots | requests/s |\n");
    out.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for v in &r.variants {
        let Some(t) = tenants_of(v) else { continue };
        let mix = match t.mix {
            crate::settings::TenantMix::Uniform => "uniform".to_string(),
            crate::settings::TenantMix::Zipf => format!("zipf {}", t.zipf_exponent),
            crate::settings::TenantMix::Trace => "trace".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {} | {:.1} | {:.1} | {} | {:.0} |",
            label(v),
            t.tenants,
            t.live,
            mix,
            t.requests,
            t.affine_hit_rate
                .map_or("- (no pool)".into(), |x| format!("{:.1}%", x * 100.0)),
            t.affine,
            t.non_affine_warm,
            t.cold,
            p50_p99(phase(&t.phases, "instantiate")),
            p50_p99(phase(&t.phases, "instantiate-affine").filter(|s| s.count > 0)),
            p50_p99(phase(&t.phases, "instantiate-non-affine").filter(|s| s.count > 0)),
            t.faults_per_affine_request,
            t.faults_per_non_affine_request,
            t.distinct_slots,
            t.requests_per_sec,
        );
    }
    out
}

/// Tenants: memory over the run against the bound the settings imply, and
/// what dropping tenants returned.
pub fn tenants_memory_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | Pss after load | peak Pss over load | implied bound (warm slots x kept + live x memory + code) | within bound | unused warm slots / bytes they keep (wasmtime, last sample) | Pss slope / 1000 req (R²) | Private_Dirty slope / 1000 req | Rss slope / 1000 req | 2nd-half Private_Dirty growth | levels off | returned by replacements (Pss) | returned by dropping all tenants (Pss) | retained after all dropped (Pss) |\n");
    out.push_str("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n");
    for v in &r.variants {
        let Some(t) = tenants_of(v) else { continue };
        let b = &t.bound;
        let replaced: i64 = t
            .replacements
            .iter()
            .map(|d| d.pss_before_bytes as i64 - d.pss_after_drop_bytes as i64)
            .sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({} x {} + {} x {}{} + {}) | {} | {} | {} ({:.2}) | {} | {} | {} | {} | {} | {} | {} |",
            label(v),
            mib(t.drop_all.after_load.pss_bytes as f64),
            mib(t.peak_over_load_pss_bytes as f64),
            mib(b.bound_bytes as f64),
            b.warm_slots,
            mib(b.per_warm_slot_bytes as f64),
            b.live,
            mib(b.per_live_bytes as f64),
            if b.per_live_observed { "" } else { " declared" },
            mib(b.code_bytes as f64),
            match (t.within_bound, b.per_live_observed) {
                (true, _) => "yes",
                (false, true) => "**no**",
                (false, false) => "no (component memory growth unseen)",
            },
            t.samples
                .last()
                .and_then(|x| x
                    .pool_unused_warm_memories
                    .zip(x.pool_unused_resident_bytes))
                .map_or("-".to_string(), |(n, b)| format!("{n} / {}", mib(b as f64))),
            kib_signed(t.pss_slope_per_1000_bytes),
            t.pss_fit_r2,
            kib_signed(t.private_dirty_slope_per_1000_bytes),
            kib_signed(t.rss_slope_per_1000_bytes),
            mib(t.second_half_private_dirty_growth_bytes),
            if t.levels_off { "yes" } else { "**no**" },
            if t.replacements.is_empty() {
                "-".to_string()
            } else {
                format!("{} over {}", mib(replaced as f64), t.replacements.len())
            },
            mib(t.drop_all.returned_pss_bytes as f64),
            mib(t.drop_all.retained_pss_bytes as f64),
        );
    }
    out
}

/// Soak: fitted Pss growth per 1,000 cycles against the bound.
pub fn soak_table(r: &ResultFile) -> String {
    let mut out = String::new();
    out.push_str("| variant | mode | cycles | samples | Pss slope / 1000 cycles | R² | VmRSS slope / 1000 cycles | bound | verdict |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for v in &r.variants {
        let Some(k) = soak_of(v) else { continue };
        let _ = writeln!(
            out,
            "| {} | {:?} | {} | {} | {} | {:.2} | {} | {} | {} |",
            v.name,
            k.mode,
            k.cycles,
            k.samples.len(),
            kib_signed(k.pss_slope_per_1000_bytes),
            k.pss_fit_r2,
            kib_signed(k.rss_slope_per_1000_bytes),
            if k.max_growth_per_1000_bytes > 0 {
                format!("{} KiB", k.max_growth_per_1000_bytes / 1024)
            } else {
                "none".into()
            },
            if k.exceeded { "**leaking**" } else { "ok" }
        );
    }
    out
}

/// The guest faults each variant counted (churn, soak and tenants count
/// them; other scenarios stop at a failed call): the variant, its timed
/// calls and the counts.
fn counted_faults(r: &ResultFile) -> Vec<(&str, u64, &crate::scenario::GuestFaults)> {
    let mut rows = Vec::new();
    for v in &r.variants {
        if let Some(c) = churn_of(v) {
            rows.push((v.name.as_str(), c.total_cycles, &c.faults));
        }
        if let Some(s) = soak_of(v) {
            rows.push((v.name.as_str(), s.cycles, &s.faults));
        }
        if let Some(t) = tenants_of(v) {
            rows.push((v.name.as_str(), t.requests, &t.faults));
        }
    }
    rows
}

/// Guest faults per variant that had any, by every kind the JSON counts;
/// "0 faults" in words when the result counts faults and there were none;
/// empty when no variant counts faults.
pub fn faults_table(r: &ResultFile) -> String {
    let rows = counted_faults(r);
    let faulted: Vec<_> = rows.iter().filter(|(_, _, f)| f.total() > 0).collect();
    if faulted.is_empty() {
        return if rows.is_empty() {
            String::new()
        } else {
            "0 faults: no timed call trapped, hit its deadline or memory limit, returned a wrong result or failed otherwise.\n".into()
        };
    }
    let mut out = String::from(
        "| variant | timed calls | faults | traps | deadline exceeded | memory limit | checks (wrong result) | other | first fault |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for (name, calls, f) in faulted {
        let _ = writeln!(
            out,
            "| {name} | {calls} | {} | {} | {} | {} | {} | {} | {} |",
            f.total(),
            f.traps,
            f.deadlines,
            f.memory_limits,
            f.checks,
            f.other,
            f.first
                .as_deref()
                .unwrap_or("-")
                .replace('|', "/")
                .replace('\n', " ")
        );
    }
    out
}

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

/// What `pooling-lab run` prints on stdout: the main table of each scenario
/// and the warnings (the full report is in the Markdown file).
pub fn summary(r: &ResultFile) -> String {
    let mut out = String::new();
    if r.variants.iter().any(|v| scaling_of(v).is_some()) {
        out.push_str(&scaling_table(r));
    }
    if r.variants.iter().any(|v| churn_of(v).is_some()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&churn_throughput_table(r));
    }
    if r.variants.iter().any(|v| pool_of(v).is_some()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&pool_table(r));
    }
    if r.variants.iter().any(|v| session_of(v).is_some()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&session_table(r));
    }
    if r.variants.iter().any(|v| soak_of(v).is_some()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&soak_table(r));
    }
    if r.variants.iter().any(|v| tenants_of(v).is_some()) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&tenants_table(r));
        out.push('\n');
        out.push_str(&tenants_memory_table(r));
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

/// The snapshot table (one row per variant that starts from a snapshot, or
/// whose component its toolchain pre-initialised), then what each froze.
pub fn preinit_lines(r: &ResultFile) -> String {
    let mut out = String::new();
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let rows: Vec<_> = r
        .variants
        .iter()
        .filter_map(|v| v.preinit_snapshot.as_ref().map(|p| (v, p)))
        .collect();
    if rows.is_empty() {
        return out;
    }
    out.push_str("| variant | snapshot point | made by | build (s) | module MiB (before -> after) | data image MiB (before -> after) | frozen reads |\n|---|---|---|---:|---|---|---|\n");
    for (v, p) in &rows {
        let point = p.point.as_deref().unwrap_or("after-init");
        let made_by = match (&p.toolchain, v.settings.guest.preinit.is_empty()) {
            (Some(t), _) => format!("its toolchain ({t})"),
            (None, false) => format!(
                "wasmtime-wizer, preinit `{}`",
                v.settings
                    .guest
                    .preinit
                    .replace('`', "'")
                    .replace('|', "\\|")
            ),
            (None, true) => "wasmtime-wizer".to_string(),
        };
        let frozen = if p.frozen.is_empty() {
            "none".to_string()
        } else {
            p.frozen.describe().join("; ")
        };
        let _ = writeln!(
            out,
            "| {} | {point} | {made_by} | {} | {:.2} -> {:.2} | {:.2} -> {:.2} | {frozen} |",
            v.name,
            if p.build_ms > 0.0 {
                format!("{:.1}", p.build_ms / 1e3)
            } else {
                "-".into()
            },
            mib(p.original_bytes),
            mib(p.wasm_bytes),
            mib(p.original_data_image_bytes),
            mib(p.data_image_bytes),
        );
    }
    out.push('\n');
    for (v, p) in &rows {
        if let Some(w) = crate::report::warnings::snapshot_frozen(p) {
            let _ = writeln!(out, "- **{}**: {w}", v.name);
        }
    }
    out
}

/// "Measured with ... on ...; commit ...; Config: ..." for a report's header.
pub fn host_line(h: &crate::result::HostInfo, config_path: &str) -> String {
    format!(
        "Measured with pooling-lab {} on wasmtime {}, Linux {}, {} ({} CPUs, {} RAM); \
         memory protection keys: {}; PAGEMAP_SCAN: {}; commit {}{}. Config: `{}`. \
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
        config_path,
    )
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
    if r.variants.iter().any(|v| scaling_of(v).is_some()) {
        out.push_str("## Per-instance memory\n\n");
        out.push_str(&scaling_table(r));
        let _ = writeln!(out, "\n{READING_GUIDE}\n\n{SCALING_LATENCY}\n");
        out.push_str("## Fixed cost (before any instance)\n\n");
        out.push_str(&fixed_cost_table(r));
        out.push_str(
            "\n## Does it scale linearly?\n\nLeast-squares line through total Pss at each N: \
             the slope is what one more instance costs, the intercept what all share, \
             R² how straight the line is.\n\n",
        );
        out.push_str(&fit_table(r));
    }
    if r.variants.iter().any(|v| churn_of(v).is_some()) {
        let _ = writeln!(
            out,
            "## Churn: throughput, faults, memory drift\n\nBaseline: `{}`. Ratios above 1 are better than the baseline.\n",
            r.baseline
        );
        out.push_str(&churn_throughput_table(r));
        out.push_str("\n## Churn: latency per phase\n\n");
        out.push_str(
            "instantiate = `Store::new` + `InstancePre::instantiate`; call = the fresh \
             sandbox's only call, its start-up included: `_initialize` when the module exports \
             it (reactor, python, core) and, for a `core` plan, its `init` calls before its \
             `calls` (a command's start-up is inside `_start`; the host calls no initialiser \
             of a component); from a snapshot neither runs (wizer dropped `_initialize`, \
             `init` ran before the snapshot), so call is the workload alone; drop = \
             dropping the store (teardown, slot reset); cycle = all three.\n\n",
        );
        out.push_str(&churn_latency_table(r));
        let dirty = churn_dirty_table(r);
        if !dirty.is_empty() {
            out.push_str(
                "\n## Churn: what a request leaves for the slot's reset\n\n\
                 Dirty page regions (disjoint runs of written, private pages) in the sandbox's \
                 linear memory right after its call, read with PAGEMAP_SCAN the way wasmtime's \
                 reset reads them, in untimed cycles after the timed ones. With keep-resident \
                 memory they include the pages kept from earlier sandboxes in the slot: what the \
                 next reset scans. Up to wasmtime 49 one reset handles 32 regions and decommits \
                 the rest; wasmtime 50 resumes the scan until `linear_memory_keep_resident` is \
                 spent, and asks for written pages whether present or not, which the kernel also \
                 reports for never-touched pages in a page table the guest touched (the column \
                 \"pages a wasmtime 50 scan calls dirty\").\n\n",
            );
            out.push_str(&dirty);
        }
        let contention = churn_contention_table(r);
        if contention.lines().count() > 2 {
            out.push_str(
                "\n## Churn: faults and waits of the measuring threads\n\n\
                 Per timed cycle, the measuring threads' own figures (getrusage per thread): a \
                 voluntary switch is a thread going to sleep (a lock, I/O), an involuntary one \
                 the scheduler preempting it. Linux counts a retried fault (one that waited for \
                 a locked page) as major; \"read from storage\" tells real page-ins apart.\n\n",
            );
            out.push_str(&contention);
        }
        if let Some(line) = timer_floor_line(r) {
            let _ = writeln!(out, "\n{line}");
        }
        let files = histogram_files(r);
        if !files.is_empty() {
            out.push_str(
                "\nFull histograms, relative to this file: `.hlog` (HdrHistogram interval log, \
                 V2 compressed) and `.hgrm` (percentile distribution in microseconds, for \
                 HdrHistogram's plotter):\n\n",
            );
            out.push_str(&files);
        }
    }
    if r.variants.iter().any(|v| pool_of(v).is_some()) {
        out.push_str(
            "\n## Pool: per-request instantiation vs a prewarmed sandbox pool\n\n\
             inline ready = instantiate + the guest's first call on the request's thread; \
             pooled acquire = taking a ready (already initialised) sandbox from the pool. \
             In an open loop (a fixed rate) every latency counts from the request's scheduled time.\n\n",
        );
        out.push_str(&pool_table(r));
    }
    if r.variants.iter().any(|v| session_of(v).is_some()) {
        out.push_str(
            "\n## Session: one sandbox for many executions vs a fresh sandbox each\n\n\
             session exec = one call in a sandbox that has already run; fresh exec = \
             instantiate + call + drop.\n\n",
        );
        out.push_str(&session_table(r));
    }
    if r.variants.iter().any(|v| serve_of(v).is_some()) {
        let _ = write!(
            out,
            "\n## Serve: a wasi:http component under HTTP load\n\n\
             request = from each request's scheduled send time to its answer (open loop: \
             coordinated omission corrected) or from its send (closed loop); service = send to answer. \
             Either server is a process of its own, started from a precompiled component (`wasmtime serve` with \
             `--allow-precompiled`): its Pss, faults and CPU per request are that process's alone, none of the load \
             generator's; start = from starting it until it accepted a connection. \
             A load marked wrk was generated by wrk (closed loop, wrk's own latency figures, status checked, bodies not).\n\n\
             Baseline: `{}`. Ratios above 1 are better than the baseline: requests/s is this variant's over the \
             baseline's, compared only between two closed loops (an open loop's rate is its schedule); server Pss \
             (after the timed requests) is the baseline's over this variant's (2.00x = half the memory).\n\n",
            r.baseline
        );
        out.push_str(&serve_table(r));
        for v in &r.variants {
            if let Some(c) = serve_of(v).and_then(|s| s.command.as_ref()) {
                out.push_str(&format!("\n`{}`: `{c}`\n", v.name));
            }
            if let Some(c) = serve_of(v).and_then(|s| s.load_command.as_ref()) {
                out.push_str(&format!("\n`{}` load: `{c}`\n", v.name));
            }
        }
    }
    if r.variants.iter().any(|v| tenants_of(v).is_some()) {
        out.push_str(
            "\n## Tenants: many modules through one pool\n\n\
             Each request drops the oldest live sandbox, instantiates one for its tenant and calls it. \
             **Affine** = the instance's linear memory landed in a pool slot (named by its base address, \
             `Memory::data_ptr`) whose previous user was the same module, so its image was still mapped; \
             **non-affine** = the slot was last used by another module or by a dropped tenant (purged); \
             **cold** = a slot never used before in the process (counted as non-affine). \
             Component tenants (memories invisible to the host) are classified from the process's file-backed \
             mappings read before and after each instantiation: unchanged = affine (no image re-mapped), \
             an image mapped at a new address = cold, otherwise non-affine (on-demand component variants read the \
             mappings too, unused, so that pooled and on-demand pay for the reading alike). \
             Faults are the measuring thread's minor faults over instantiate + call. \
             Requests/s leaves out the scenario's own readings (memory samples, replacements, image mappings). \
             On-demand has no slots, so every request counts as non-affine.\n\n",
        );
        out.push_str(&tenants_table(r));
        out.push_str(
            "\nMemory is sampled every `sample_every` requests (smaps_rollup). The bound is what the \
             settings imply over the level right after every tenant was loaded: \
             live sandboxes x the largest tenant memory + warm slots (min(max_unused_warm_slots, slots - live)) \
             x what one keeps resident (min(linear_memory_keep_resident, largest tenant memory)) + the tenants' \
             compiled code when loaded from files (it faults in as tenants run); within bound \
             allows 4 MiB for instance bookkeeping. A component's memories are invisible to the host: its \
             memory is the declared initial size (\"declared\"), so growth past it is not in the bound. Levels off = the fitted Private_Dirty growth over the second half of \
             the samples (what slots keep resident and the heap, without the tenants' file-backed module pages, \
             which move by steps at each replacement) is under 1 MiB or 5% of its level.\n\n",
        );
        out.push_str(&tenants_memory_table(r));
    }
    let files = if r.variants.iter().any(|v| churn_of(v).is_none()) {
        other_histogram_files(r)
    } else {
        String::new()
    };
    if !files.is_empty() {
        out.push_str("\nFull histograms (`.hlog`, `.hgrm`), relative to this file:\n\n");
        out.push_str(&files);
    }
    if r.variants.iter().any(|v| soak_of(v).is_some()) {
        out.push_str("\n## Soak: memory growth\n\nLeast-squares slope of Pss over the samples; R² near 0 means no trend (noise), near 1 a steady growth.\n\n");
        out.push_str(&soak_table(r));
    }
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

/// Serve variants: requests/s, latency, errors, server memory.
pub fn serve_table(r: &ResultFile) -> String {
    let mut out = String::from(
        "| variant | server | load | requests/s | requests/s vs baseline | request p50 / p99 / p99.9 | service p50 / p99 | errors | server Pss (after / peak) | server Pss vs baseline (baseline / this) | VmRSS peak | VmSize | minor faults / request | server CPU / request | server start |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for v in &r.variants {
        let Some(s) = serve_of(v) else { continue };
        let get = |name: &str| {
            s.phases
                .iter()
                .find(|p| p.phase == name)
                .map(|p| &p.summary)
        };
        let (req, svc) = (get("request"), get("service"));
        let load = if s.rate > 0.0 {
            format!("{:.0}/s open, {} conn", s.rate, s.connections)
        } else {
            format!("closed, {} conn", s.connections)
        };
        let load = if s.load_generator == "pooling-lab" {
            load
        } else {
            format!("{load}, {}", s.load_generator)
        };
        let errors: u64 = s.errors.values().sum();
        let errors = if errors == 0 {
            "0".to_string()
        } else {
            s.errors
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| {} | {} | {load} | {:.0} | {} | {} | {} | {errors} | {} / {} | {} | {} | {} | {:.1} | {} | {} |\n",
            label(v),
            s.server,
            s.requests_per_sec,
            throughput_with_range(r, v),
            req.map_or("-".into(), |l| format!(
                "{} / {} / {}",
                duration(l.p50_ns as f64),
                duration(l.p99_ns as f64),
                duration(l.p999_ns as f64)
            )),
            svc.map_or("-".into(), |l| format!(
                "{} / {}",
                duration(l.p50_ns as f64),
                duration(l.p99_ns as f64)
            )),
            mib(s.memory_after.pss_bytes as f64),
            mib(s.peak_pss_bytes as f64),
            times(
                r,
                &v.name,
                v.vs_baseline.as_ref().and_then(|b| b.server_pss_ratio)
            ),
            mib(s.peak_rss_bytes as f64),
            gib(s.memory_after.vm_size_bytes as f64),
            s.minor_faults_per_request,
            // Results from before these were measured read 0.
            if s.server_cpu_us_per_request > 0.0 {
                duration(s.server_cpu_us_per_request * 1e3)
            } else {
                "-".into()
            },
            if s.server_start_ms > 0.0 {
                duration(s.server_start_ms * 1e6)
            } else {
                "-".into()
            },
        ));
    }
    out
}

/// Writes the report next to the JSON.
pub fn write(path: &Path, r: &ResultFile) -> Result<()> {
    super::json::write_atomic(path, render(r).as_bytes())
}
