//! Scenario `soak`: many cycles, Pss sampled every `soak_sample_every`
//! cycles, a least-squares slope per 1,000 cycles as the leak signal.
//!
//! `fresh` mode makes a sandbox per cycle (host, runtime and allocator leaks);
//! `reuse` mode calls one sandbox over and over (leaks inside a long-lived
//! sandbox). A slope above `soak_max_growth_per_1000` fails the variant, with
//! the figures kept in the result.

use crate::host::guest_faults::GuestFaults;
use crate::measure::fit::linear_fit;
use crate::measure::memory;
use crate::metric::{Better, Headline, MIN_PROCESS_BYTES, MIN_RELATIVE, Unit};
use crate::settings::{SoakMode, Variant};
use anyhow::{Result, anyhow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// One memory sample of a soak.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SoakSample {
    /// Cycles completed when the sample was taken.
    pub cycles: u64,
    /// Pss then.
    pub pss_bytes: u64,
    /// VmRSS then.
    pub vm_rss_bytes: u64,
}

/// Result of the soak scenario for one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SoakResult {
    /// `fresh` or `reuse`.
    pub mode: SoakMode,
    /// Cycles run after warmup.
    pub cycles: u64,
    /// Wall time of those cycles.
    pub wall_ns: u64,
    /// The samples, first at cycle 0 (after warmup).
    pub samples: Vec<SoakSample>,
    /// Fitted Pss growth per 1,000 cycles.
    pub pss_slope_per_1000_bytes: f64,
    /// How well a line fits the samples (R²; near 0 = no trend, noise only).
    pub pss_fit_r2: f64,
    /// Fitted VmRSS growth per 1,000 cycles.
    pub rss_slope_per_1000_bytes: f64,
    /// The configured bound (0 = none).
    pub max_growth_per_1000_bytes: u64,
    /// Whether the slope exceeded the bound.
    pub exceeded: bool,
    /// Guest faults over the cycles.
    pub faults: GuestFaults,
}

/// Runs the soak scenario in this process.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<SoakResult> {
    let engine = crate::guest::engine(variant)?;
    let p = crate::guest::prepare(engine, variant, artifact)?;
    let s = &variant.scenario;
    let mut faults = GuestFaults::default();
    let mut session = match s.soak_mode {
        SoakMode::Reuse => {
            let mut store = p.new_store();
            let sandbox = p
                .instantiate(&mut store)
                .map_err(|e| anyhow!("instantiating: {e:#}"))?;
            Some((store, sandbox))
        }
        SoakMode::Fresh => None,
    };
    let mut one = |faults: &mut GuestFaults| -> Result<()> {
        let outcome = match &mut session {
            Some((store, sandbox)) => p.call(store, sandbox),
            None => {
                let mut store = p.new_store();
                let mut sandbox = p
                    .instantiate(&mut store)
                    .map_err(|e| anyhow!("instantiating: {e:#}"))?;
                let r = p.call(&mut store, &mut sandbox);
                p.teardown(store, sandbox);
                r
            }
        };
        if let Err(e) = outcome {
            faults.record(&e);
        }
        Ok(())
    };
    let mut warm = GuestFaults::default();
    for _ in 0..s.warmup {
        one(&mut warm)?;
    }
    crate::progress::set_total(s.iterations, "soak cycles");
    let every = s.soak_sample_every.max(1);
    let mut samples = Vec::with_capacity((s.iterations / every + 2) as usize);
    let sample = |cycles: u64| -> Result<SoakSample> {
        let m = memory::sample()?;
        Ok(SoakSample {
            cycles,
            pss_bytes: m.pss_bytes,
            vm_rss_bytes: m.vm_rss_bytes,
        })
    };
    samples.push(sample(0)?);
    let t = Instant::now();
    for i in 1..=s.iterations {
        one(&mut faults)?;
        if i % every == 0 {
            samples.push(sample(i)?);
            crate::progress::tick(every);
        }
    }
    let wall_ns = t.elapsed().as_nanos() as u64;
    let fit = |f: &dyn Fn(&SoakSample) -> u64| {
        let pts: Vec<(f64, f64)> = samples
            .iter()
            .map(|x| (x.cycles as f64 / 1000.0, f(x) as f64))
            .collect();
        linear_fit(&pts)
    };
    let pss = fit(&|x| x.pss_bytes).ok_or_else(|| anyhow!("too few samples to fit"))?;
    let rss = fit(&|x| x.vm_rss_bytes).ok_or_else(|| anyhow!("too few samples to fit"))?;
    let bound = s.soak_max_growth_per_1000.0;
    Ok(SoakResult {
        mode: s.soak_mode,
        cycles: s.iterations,
        wall_ns,
        samples,
        pss_slope_per_1000_bytes: pss.slope,
        pss_fit_r2: pss.r2,
        rss_slope_per_1000_bytes: rss.slope,
        max_growth_per_1000_bytes: bound,
        exceeded: bound > 0 && pss.slope > bound as f64,
        faults,
    })
}

/// Fitted Pss growth per 1,000 cycles against the bound, one row per variant.
fn soak_table(rows: &[super::interface::Row<'_, SoakResult>]) -> String {
    use crate::units::kib_signed;
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | mode | cycles | samples | Pss slope / 1000 cycles | R² | VmRSS slope / 1000 cycles | bound | verdict |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for row in rows {
        let k = row.result;
        let _ = writeln!(
            out,
            "| {} | {:?} | {} | {} | {} | {:.2} | {} | {} | {} |",
            row.name,
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

/// The soak scenario: many cycles in one process, Pss sampled, its growth fitted.
pub struct Soak;

impl super::interface::Scenario for Soak {
    type Result = SoakResult;
    const KIND: crate::settings::ScenarioKind = crate::settings::ScenarioKind::Soak;

    /// One sandbox at a time.
    fn max_live(_s: &crate::settings::ScenarioSettings) -> (u32, &'static str) {
        (1, "kind")
    }

    /// A few dozen cycles, sampled three times (the fewest the slope takes),
    /// and no leak bound: a slope over a few dozen cycles is the allocator's
    /// first growth, not a leak (the replay checks that the soak runs).
    fn replay_cut(s: &mut crate::settings::ScenarioSettings) {
        s.iterations = s.iterations.min(3 * super::interface::REPLAY_CALLS);
        s.warmup = s.warmup.min(super::interface::REPLAY_WARMUP);
        s.soak_sample_every = s.soak_sample_every.min(s.iterations / 3).max(1);
        s.soak_max_growth_per_1000 = crate::settings::ByteSize(0);
    }

    /// `iterations`, `threads` within bounds; at least 3 memory samples; a
    /// guest that can be reused when `soak_mode = "reuse"`.
    fn validate(v: &Variant) -> std::result::Result<(), crate::settings::Problem> {
        use crate::settings::Problem;
        super::interface::check_iterations_and_threads(&v.scenario)?;
        let s = &v.scenario;
        if s.soak_sample_every == 0 || s.soak_sample_every > s.iterations / 2 {
            return Err(Problem {
                section: "scenario",
                key: "soak_sample_every",
                message: format!(
                    "soak_sample_every = {} gives fewer than 3 samples over {} iterations",
                    s.soak_sample_every, s.iterations
                ),
                fix: "sample at least 3 times: soak_sample_every <= iterations / 2 (10+ samples fit a slope well)".into(),
            });
        }
        if s.soak_mode == crate::settings::SoakMode::Reuse {
            super::interface::reusable_guest(
                v,
                "soak_mode",
                "soak_mode = \"reuse\" runs every call in one sandbox",
            )?;
        }
        Ok(())
    }

    fn run(
        v: &Variant,
        artifact: Option<&Path>,
    ) -> Result<(SoakResult, Option<crate::measure::latency::Histograms>)> {
        Ok((run(v, artifact)?, None))
    }

    /// The Pss slope (reported, not judged).
    fn headlines(k: &SoakResult) -> Vec<Headline> {
        vec![Headline {
            metric: "Pss slope / 1000 cycles".into(),
            value: k.pss_slope_per_1000_bytes,
            unit: Unit::Bytes,
            better: Better::Lower,
            within_rel: MIN_RELATIVE,
            floor_abs: MIN_PROCESS_BYTES,
            timing: false,
            judged: false,
        }]
    }

    fn primary(k: &SoakResult) -> Option<f64> {
        Some(k.pss_slope_per_1000_bytes)
    }

    fn calls(k: &SoakResult) -> Option<(&GuestFaults, u64)> {
        Some((&k.faults, k.cycles))
    }

    /// A leak: Pss grew faster than `soak_max_growth_per_1000`.
    fn failure(_v: &Variant, k: &SoakResult) -> Option<String> {
        k.exceeded.then(|| {
            format!(
                "leak: Pss grows {:.0} KiB per 1,000 cycles (fitted over {} samples, R² {:.2}), above [scenario] soak_max_growth_per_1000 = {} KiB",
                k.pss_slope_per_1000_bytes / 1024.0,
                k.samples.len(),
                k.pss_fit_r2,
                k.max_growth_per_1000_bytes / 1024
            )
        })
    }

    /// The memory growth table.
    fn report(
        rows: &[super::interface::Row<'_, SoakResult>],
        _ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        let mut out = String::from(
            "\n## Soak: memory growth\n\nLeast-squares slope of Pss over the samples; R² near 0 means no trend (noise), near 1 a steady growth.\n\n",
        );
        out.push_str(&soak_table(rows));
        out
    }

    /// The memory growth table.
    fn summary(
        rows: &[super::interface::Row<'_, SoakResult>],
        _ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        soak_table(rows)
    }
}
