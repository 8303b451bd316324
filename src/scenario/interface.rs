//! The interface every scenario implements ([`Scenario`]) and what its
//! report section and checks are made of ([`Row`], [`ReportContext`], the
//! table helpers). The scenarios' modules import it; it imports none of them.

use crate::host::guest_faults::GuestFaults;
use crate::measure::latency::{Histograms, LatencySummary, PhaseLatency};
use crate::measure::memory::{MemorySample, PerInstance};
use crate::metric::{Comparison, Headline, RoundStat};
use crate::settings::{
    Objective, Problem, ScenarioKind, ScenarioSettings, ServeServer, TuneSettings, Variant,
};
use crate::units::duration;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// A scenario: what a child measures, and everything the lab says about it.
///
/// Implemented by a unit type per scenario (`churn::Churn`, ...); every
/// function is associated (no state), so the registry dispatches on the
/// [`super::ScenarioResult`] variant or the [`ScenarioKind`].
pub trait Scenario {
    /// The figures one child measures (one round of one variant).
    type Result: Clone
        + std::fmt::Debug
        + PartialEq
        + Serialize
        + DeserializeOwned
        + JsonSchema
        + Send
        + 'static;

    /// The `[scenario] kind` that selects it.
    const KIND: ScenarioKind;

    /// Whether it measures a variant in `[scenario] processes` processes at
    /// once (the registry refuses `processes` above 1 elsewhere); its
    /// [`Scenario::validate`] checks the bound with [`check_processes`].
    const PROCESSES: bool = false;

    /// Checks the keys it reads in `v`, before anything is measured (beyond
    /// what every scenario shares, checked in [`crate::settings`]).
    fn validate(_v: &Variant) -> Result<(), Problem> {
        Ok(())
    }

    /// Precompiles what its child will only deserialize beyond the variant's
    /// own guest (the tenants' modules); returns how many were compiled now.
    fn precompile(_v: &Variant, _cache_dir: &Path) -> anyhow::Result<usize> {
        Ok(0)
    }

    /// Measures `v` in this (child) process, from the precompiled `artifact`
    /// when there is one: its figures and, when it times phases, their
    /// histograms.
    fn run(
        v: &Variant,
        artifact: Option<&Path>,
    ) -> anyhow::Result<(Self::Result, Option<Histograms>)>;

    /// Its timed phases (histograms are saved for them), in report order.
    fn phases(_r: &Self::Result) -> &[PhaseLatency] {
        &[]
    }

    /// [`Scenario::phases`], to set where their histograms were saved.
    fn phases_mut(_r: &mut Self::Result) -> Option<&mut Vec<PhaseLatency>> {
        None
    }

    /// The phases its latency chart draws.
    fn charted_phases() -> &'static [&'static str] {
        &[]
    }

    /// Its headline metrics, in report order: what rounds summarise,
    /// `compare` judges, and the JSON's `between_rounds` holds.
    fn headlines(r: &Self::Result) -> Vec<Headline>;

    /// The one figure that picks a variant's median round.
    fn primary(r: &Self::Result) -> Option<f64>;

    /// Sets the ratios of `x` to the baseline's `base` in `c` (oriented so
    /// that above 1 is better).
    fn vs_baseline(_base: &Self::Result, _x: &Self::Result, _c: &mut Comparison) {}

    /// The timed calls and their guest faults, for the judgement that a
    /// variant whose every call faulted measured nothing.
    fn calls(_r: &Self::Result) -> Option<(&GuestFaults, u64)> {
        None
    }

    /// The most sandboxes it holds at once in `s`, and the `[scenario]` key
    /// that sets it: the pool must have a slot for each (checked before
    /// measuring, with the guest's shape for a component).
    fn max_live(s: &ScenarioSettings) -> (u32, &'static str) {
        (s.threads, "threads")
    }

    /// Cuts `s`'s measured amounts (calls, live counts, durations, samples)
    /// to the least that still runs every setting, for `run --replay`: the
    /// replay of committed configs checks that each still runs, not what it
    /// measures. Allocator, engine and guest settings are never touched.
    fn replay_cut(s: &mut ScenarioSettings) {
        s.iterations = s.iterations.min(REPLAY_CALLS);
        s.warmup = s.warmup.min(REPLAY_WARMUP);
    }

    /// The keys only it reads that `s` sets: every other scenario rejects
    /// them (they would measure nothing there).
    fn own_keys_set(_s: &ScenarioSettings) -> Vec<&'static str> {
        Vec::new()
    }

    /// The HTTP server that answers `v`'s requests, when the scenario
    /// serves HTTP (tune measures its references in that server).
    fn server(_v: &Variant) -> Option<ServeServer> {
        None
    }

    /// Checks that the programs the scenario starts for `v` (a server, a load
    /// generator) can be run, before anything is measured; a missing one is
    /// a [`Problem`] naming the key and how to install it.
    fn check_programs(_v: &Variant) -> Result<(), Problem> {
        Ok(())
    }

    /// Why the variant fails although its child finished (a leak above its
    /// bound, a server that died), if it does.
    fn failure(_v: &Variant, _r: &Self::Result) -> Option<String> {
        None
    }

    /// Reasons not to trust some of its figures.
    fn warnings(_r: &Self::Result) -> Vec<String> {
        Vec::new()
    }

    /// Per-instance memory at each live-instance count, when it measures it.
    fn memory_steps(_r: &Self::Result) -> Vec<MemoryStep<'_>> {
        Vec::new()
    }

    /// Memory of the module before any instance and per instance at the
    /// largest count, when it measures them (`tune`'s memory probe).
    fn memory_cost(_r: &Self::Result) -> Option<MemoryCost> {
        None
    }

    /// One sentence production needs beside the tuned settings, about what
    /// this run measured (a burst's release policy and what it cost the
    /// first requests after it): written into tuned.toml and the tune's
    /// summary. `None` when there is nothing beyond the settings.
    fn production_note(_v: &Variant, _r: &Self::Result) -> Option<String> {
        None
    }

    /// Whether its run measures the memory a tune judges against
    /// `memory_budget` itself (in [`Scenario::score`]), so that the tune
    /// needs no separate memory probe of its finalists.
    fn measures_own_memory() -> bool {
        false
    }

    /// The objectives of `pooling-lab tune` it can be scored on.
    fn objectives() -> &'static [Objective] {
        &[]
    }

    /// Its score on `t.objective` (higher is better), or why the candidate
    /// is out (over the latency target, over the memory budget).
    fn score(_t: &TuneSettings, _r: &Self::Result) -> Result<Score, String> {
        Err("this scenario has no score for the objective".into())
    }

    /// Its section of the Markdown report, over every variant it measured.
    fn report(rows: &[Row<'_, Self::Result>], ctx: &ReportContext<'_>) -> String;

    /// Its main table(s) for what `pooling-lab run` prints on stdout, over
    /// every variant it measured; empty when it prints none.
    fn summary(_rows: &[Row<'_, Self::Result>], _ctx: &ReportContext<'_>) -> String {
        String::new()
    }
}

/// One reading of a scenario that holds instances alive.
pub struct MemoryStep<'a> {
    /// Live instances.
    pub live_instances: u32,
    /// The process's reading.
    pub total: &'a MemorySample,
    /// Per instance above the module's reading.
    pub per_instance: &'a PerInstance,
}

/// What a fixed module and each of its instances cost (`tune`'s memory probe).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryCost {
    /// Pss after the module was loaded, before any instance.
    pub fixed_pss_bytes: f64,
    /// Pss per instance at the largest live-instance count.
    pub per_instance_pss_bytes: f64,
}

/// A candidate's standing on a tune objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The objective as a number where higher is better.
    pub value: f64,
    /// The throughput it ran at (cycles or requests per second).
    pub rate: f64,
    /// The latency the objective is about (instantiate; a served request).
    pub latency: crate::measure::latency::LatencySummary,
    /// The memory the run measured of itself (a server's Pss, a tenants
    /// run's peak Pss), which ties are resolved by.
    pub memory_bytes: Option<f64>,
}

/// One measured variant, as a scenario's report section sees it.
pub struct Row<'a, R> {
    /// Variant name.
    pub name: &'a str,
    /// The name as a table shows it (marked when measured while disturbed).
    pub label: String,
    /// Its settings.
    pub settings: &'a Variant,
    /// Its figures (the median round's with rounds).
    pub result: &'a R,
    /// Ratios to the baseline (absent for the baseline).
    pub vs_baseline: Option<&'a Comparison>,
    /// Headline metrics between rounds (empty without rounds).
    pub between_rounds: &'a [RoundStat],
}

/// What a report section knows of the run beyond its rows.
pub struct ReportContext<'a> {
    /// Name of the baseline variant.
    pub baseline: &'a str,
    /// Experiment name.
    pub experiment: &'a str,
}

impl<'a, R> Row<'a, R> {
    /// The same row over other figures (its scenario's own, for its section).
    pub fn with_result<'b, T>(&self, result: &'b T) -> Row<'b, T>
    where
        'a: 'b,
    {
        Row {
            name: self.name,
            label: self.label.clone(),
            settings: self.settings,
            result,
            vs_baseline: self.vs_baseline,
            between_rounds: self.between_rounds,
        }
    }

    /// `value (min-max)` of `metric` over the rounds, or `value` alone.
    pub fn with_range(&self, metric: &str, value: String, show: impl Fn(f64) -> String) -> String {
        match self.between_rounds.iter().find(|s| s.metric == metric) {
            Some(s) => format!("{} ({}-{})", show(s.median), show(s.min), show(s.max)),
            None => value,
        }
    }

    /// A ratio to the baseline as a table shows it: `baseline` for the
    /// baseline itself, `12x`, `1.23x`, or `-`.
    pub fn times(&self, ctx: &ReportContext<'_>, value: Option<f64>) -> String {
        if self.name == ctx.baseline {
            return "baseline".into();
        }
        times(value)
    }

    /// The throughput ratio to the baseline, with its per-round range.
    pub fn throughput_vs_baseline(&self, ctx: &ReportContext<'_>) -> String {
        let cmp = self.vs_baseline;
        let median = self.times(ctx, cmp.and_then(|b| b.throughput_ratio));
        match cmp.and_then(|b| b.throughput_ratio_range) {
            Some((lo, hi)) if self.name != ctx.baseline => {
                format!("{median} ({}-{})", times(Some(lo)), times(Some(hi)))
            }
            _ => median,
        }
    }

    /// The p50 speedup over the baseline in `phase`, with its per-round range.
    pub fn speedup_vs_baseline(&self, ctx: &ReportContext<'_>, phase: &str) -> String {
        let cmp = self.vs_baseline;
        let median = self.times(ctx, cmp.and_then(|b| b.p50_speedup.get(phase).copied()));
        match cmp.and_then(|b| b.p50_speedup_range.get(phase)) {
            Some(&(lo, hi)) if self.name != ctx.baseline => {
                format!("{median} ({}-{})", times(Some(lo)), times(Some(hi)))
            }
            _ => median,
        }
    }
}

/// A ratio as a table shows it (`12x`, `1.23x`, `-`).
pub fn times(value: Option<f64>) -> String {
    match value {
        Some(x) if x >= 10.0 => format!("{x:.0}x"),
        Some(x) => format!("{x:.2}x"),
        None => "-".into(),
    }
}

/// The latency summary of the phase called `name`, if `phases` has it.
pub fn phase_summary<'a>(phases: &'a [PhaseLatency], name: &str) -> Option<&'a LatencySummary> {
    phases.iter().find(|p| p.phase == name).map(|p| &p.summary)
}

/// `p50 / p99` of a latency summary as a table shows it, or `-`.
pub fn p50_p99(s: Option<&LatencySummary>) -> String {
    s.map_or("-".into(), |s| {
        format!(
            "{} / {}",
            duration(s.p50_ns as f64),
            duration(s.p99_ns as f64)
        )
    })
}

/// `p99.9 / max` of a latency summary as a table shows it, or `-`.
pub fn p999_max(s: Option<&LatencySummary>) -> String {
    s.map_or("-".into(), |s| {
        format!(
            "{} / {}",
            duration(s.p999_ns as f64),
            duration(s.max_ns as f64)
        )
    })
}

/// The folders the full histograms of `S`'s variants were saved in, as a
/// Markdown paragraph and list (empty when none was saved).
pub fn histogram_folders<S: Scenario>(rows: &[Row<'_, S::Result>]) -> String {
    use std::fmt::Write as _;
    let mut list = String::new();
    for row in rows {
        if let Some(dir) = S::phases(row.result)
            .iter()
            .find_map(|p| p.hlog_path.as_deref())
            .and_then(|p| Path::new(p).parent())
        {
            let _ = writeln!(list, "- {}: `{}/`", row.name, dir.display());
        }
    }
    if list.is_empty() {
        return list;
    }
    format!("\nFull histograms (`.hlog`, `.hgrm`), relative to this file:\n\n{list}")
}

/// Timed calls (requests, cycles, repetitions) a replayed variant makes at most.
pub const REPLAY_CALLS: u64 = 12;
/// Warm-up calls a replayed variant makes at most.
pub const REPLAY_WARMUP: u64 = 2;

/// Checks `[scenario] iterations` and `threads`, which every scenario that
/// runs calls on threads reads (all but scaling).
pub(super) fn check_iterations_and_threads(
    s: &crate::settings::ScenarioSettings,
) -> Result<(), Problem> {
    use crate::settings::MAX_THREADS;
    if s.iterations == 0 {
        return Err(Problem {
            section: "scenario",
            key: "iterations",
            message: "iterations must be at least 1".into(),
            fix: "e.g. iterations = 2000".into(),
        });
    }
    if s.threads == 0 || s.threads > MAX_THREADS {
        return Err(Problem {
            section: "scenario",
            key: "threads",
            message: format!("threads = {} is outside 1..={MAX_THREADS}", s.threads),
            fix: "use 1 up to a few times the host's cores".into(),
        });
    }
    Ok(())
}

/// `[scenario] processes` within `1..=`[`crate::workers::MAX_PROCESSES`].
pub(super) fn check_processes(s: &crate::settings::ScenarioSettings) -> Result<(), Problem> {
    use crate::workers::MAX_PROCESSES;
    if s.processes == 0 || s.processes > MAX_PROCESSES {
        return Err(Problem {
            section: "scenario",
            key: "processes",
            message: format!("processes = {} is outside 1..={MAX_PROCESSES}", s.processes),
            fix: "e.g. processes = 2 with threads = 1, against processes = 1 with threads = 2"
                .into(),
        });
    }
    Ok(())
}

/// Rejects a command guest (it runs once per instance, as `wasmtime run`
/// does) in a scenario that runs many calls in one sandbox: `key` is the key
/// that asks for that and `what` says how.
pub(super) fn reusable_guest(v: &Variant, key: &'static str, what: &str) -> Result<(), Problem> {
    let g = &v.guest;
    if g.kind.reusable() {
        return Ok(());
    }
    Err(Problem {
        section: "scenario",
        key,
        message: format!(
            "{what}, but kind = \"{}\" is a command: it runs once per instance, as `wasmtime run` does",
            g.kind.name()
        ),
        fix: "measure commands with a fresh instance per call (kind = \"churn\", \"scaling\", \"pool\" with pool_recycle = \"discard\", or soak_mode = \"fresh\")".into(),
    })
}
