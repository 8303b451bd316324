//! Scenarios: what a variant's child process does and measures.
//!
//! Every scenario is one module behind one interface, as guests are
//! ([`crate::guest`]): it implements [`Scenario`] (its key checks, how a
//! child runs it, its result type, its headline metrics, its failure
//! judgement, its warnings and its report section), and the registry at the
//! end of this file lists it once. The runner, rounds, `compare`, `tune`
//! and the report writers work on [`ScenarioResult`] and [`Row`]s through
//! this interface and name no scenario.
//!
//! Adding a scenario: write its module, add its `kind` to
//! [`crate::settings::ScenarioKind`] and one line to [`registry!`]'s list
//! below, document it in the README and give it a config.

pub mod churn;
pub mod cold_start;
pub mod pool;
pub mod scaling;
pub mod serve;
pub mod session;
pub mod soak;
pub mod tenants;

pub use crate::guest::{Prepared, engine, needs_artifact, prepare};
pub use crate::host::guest_faults::{FaultKind, GuestFaults, classify};
pub use crate::measure::latency::{Histograms, PhaseLatency};

use crate::measure::latency::LatencySummary;
use crate::measure::memory::{MemorySample, PerInstance};
use crate::metric::{Comparison, Headline, RoundStat};
use crate::settings::{
    Objective, Problem, ScenarioKind, ScenarioSettings, ServeServer, TuneSettings, Variant,
};
use crate::units::duration;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A scenario: what a child measures, and everything the lab says about it.
///
/// Implemented by a unit type per scenario (`churn::Churn`, ...); every
/// function is associated (no state), so the registry dispatches on the
/// [`ScenarioResult`] variant or the [`ScenarioKind`].
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

/// What the parent precompiled for a variant's child ([`ensure_artifacts`]).
pub struct Artifacts {
    /// The variant's own guest artifact.
    pub path: std::path::PathBuf,
    /// Whether it was compiled now (not found in the cache).
    pub fresh: bool,
    /// Other modules its scenario loads, compiled now (0 when all were cached).
    pub scenario_compiled: usize,
}

/// Precompiles into `cache_dir` everything the child of `v` will only
/// deserialize: the variant's guest and what its scenario loads besides
/// ([`Scenario::precompile`]). `None` when the child compiles (`load = "compile"`).
pub fn ensure_artifacts(v: &Variant, cache_dir: &Path) -> anyhow::Result<Option<Artifacts>> {
    if !needs_artifact(v) {
        return Ok(None);
    }
    let engine = engine(v)?;
    let wasm = crate::guest::guest_wasm(&v.guest)?;
    let (path, fresh) = crate::guest::ensure_artifact(cache_dir, &engine, &wasm)?;
    let scenario_compiled = precompile(v, cache_dir)?;
    Ok(Some(Artifacts {
        path,
        fresh,
        scenario_compiled,
    }))
}

/// Why a variant fails when every one of its timed calls faulted: a
/// configuration mistake (a wrong export, argument or expected output)
/// looks exactly like that, and must not be reported as a measurement.
/// `None` when some call succeeded, or when the config says faults are
/// expected (`[scenario] expect_faults`, or a synthetic guest told to fault).
pub fn all_calls_faulted(v: &Variant, r: &ScenarioResult) -> Option<String> {
    use crate::settings::GuestFault;
    let told_to_fault = matches!(
        v.guest.fault,
        GuestFault::Trap | GuestFault::Loop | GuestFault::Grow
    );
    if v.scenario.expect_faults || told_to_fault {
        return None;
    }
    let (faults, calls) = r.calls()?;
    (calls > 0 && faults.total() >= calls).then(|| {
        format!(
            "every one of the {calls} timed calls faulted, so nothing was measured; the first: {} (if the faults are what this experiment measures, set [scenario] expect_faults = true)",
            faults.first.as_deref().unwrap_or("?")
        )
    })
}

/// `v` as the probe that measures what its module and each of `live`
/// sandboxes cost (`tune`'s finalist memory check).
pub fn memory_probe(v: &Variant, live: u32) -> Variant {
    scaling::probe(v, live)
}

/// The registered scenarios' answers to the checks every variant shares.
struct Rules;

impl crate::settings::ScenarioRules for Rules {
    fn check(&self, v: &Variant) -> Result<(), Problem> {
        validate(v)
    }

    fn max_live(&self, v: &Variant) -> Option<(u32, &'static str)> {
        Some(max_live(v))
    }
}

/// Reads and validates an experiment file: the keys every scenario shares
/// ([`crate::settings::Experiment::load`]) and, in each variant, its
/// scenario's own keys ([`validate`]).
pub fn load(path: &Path) -> Result<crate::settings::Experiment, crate::settings::ConfigError> {
    crate::settings::Experiment::load_with(path, &Rules)
}

/// [`load`] from experiment text; `path` names it in messages and gives the
/// default experiment name.
pub fn parse(
    path: &Path,
    source: &str,
) -> Result<crate::settings::Experiment, crate::settings::ConfigError> {
    crate::settings::Experiment::parse_with(path, source, &Rules)
}

/// Timed calls (requests, cycles, repetitions) a replayed variant makes at most.
pub const REPLAY_CALLS: u64 = 12;
/// Warm-up calls a replayed variant makes at most.
pub const REPLAY_WARMUP: u64 = 2;

/// A variant a replay leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// The variant's name (or how many, for a group).
    pub variant: String,
    /// Why it is not replayed.
    pub reason: String,
    /// The guest file it lacks and the fetch script's `--only` name that
    /// provides it, when a missing guest is the reason.
    pub missing_guest: Option<(String, Option<&'static str>)>,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.variant, self.reason)
    }
}

/// Cuts every variant of `exp` for a replay (`run --replay`): each
/// scenario's [`Scenario::replay_cut`], one round. Left out, and returned
/// for the run to say: variants of other lab builds (`[experiment] builds`
/// names binaries CI does not build), variants whose guest file is missing,
/// and variants whose programs (the wasmtime CLI, wrk) cannot be run. A cut
/// that breaks a scenario's own checks is an error naming the variant.
pub fn replay_cut(exp: &mut crate::settings::Experiment) -> anyhow::Result<Vec<LeftOut>> {
    let mut left_out = Vec::new();
    exp.meta.rounds = Some(1);
    let other_builds = exp
        .variants
        .iter()
        .filter(|v| v.lab_build.is_some())
        .count();
    if other_builds > 0 {
        left_out.push(LeftOut {
            variant: format!("{other_builds} variant(s) of other lab builds"),
            reason: "[experiment] builds names binaries a replay does not build; this build's variants are replayed".into(),
            missing_guest: None,
        });
        exp.meta.builds.clear();
    }
    exp.variants.retain(|v| {
        if v.lab_build.is_some() {
            return false;
        }
        if let Some((file, by)) = crate::guest::preflight::missing_file(v) {
            let reason = match by {
                Some(name) => format!(
                    "its guest {file} is missing (`{} --only {name}` provides it)",
                    crate::guest::FETCH_COMMAND
                ),
                None => format!("its guest {file} is missing"),
            };
            left_out.push(LeftOut {
                variant: v.name.clone(),
                reason,
                missing_guest: Some((file, by)),
            });
            return false;
        }
        if let Err(p) = check_programs(v) {
            left_out.push(LeftOut {
                variant: v.name.clone(),
                reason: format!("{} (fix: {})", p.message, p.fix),
                missing_guest: None,
            });
            return false;
        }
        true
    });
    if !exp.variants.iter().any(|v| v.name == exp.baseline)
        && let Some(first) = exp.variants.first()
    {
        exp.baseline = first.name.clone();
    }
    for v in &mut exp.variants {
        cut_variant(v);
        validate(v).map_err(|p| {
            anyhow::anyhow!(
                "the replay cut broke variant `{}`: [{}] {}: {}",
                v.name,
                p.section,
                p.key,
                p.message
            )
        })?;
    }
    Ok(left_out)
}

/// Checks `[scenario] iterations` and `threads`, which every scenario that
/// runs calls on threads reads (all but scaling).
fn check_iterations_and_threads(s: &crate::settings::ScenarioSettings) -> Result<(), Problem> {
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

/// Rejects a command guest (it runs once per instance, as `wasmtime run`
/// does) in a scenario that runs many calls in one sandbox: `key` is the key
/// that asks for that and `what` says how.
fn reusable_guest(v: &Variant, key: &'static str, what: &str) -> Result<(), Problem> {
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

impl ScenarioResult {
    /// Why the variant measured as `self` fails although its child finished:
    /// its scenario's own judgement, else every timed call faulted.
    pub fn failure(&self, v: &Variant) -> Option<String> {
        self.own_failure(v).or_else(|| all_calls_faulted(v, self))
    }
}

/// Scenario results for the unit tests of modules that name no scenario.
#[cfg(test)]
pub(crate) mod fixtures {
    pub(crate) use super::churn::fixture as churn;
}

/// Declares the registry: the one list of scenarios, the [`ScenarioResult`]
/// enum (one variant per scenario, tagged with its kind in JSON) and the
/// dispatch from it and from a [`ScenarioKind`] to each scenario's
/// [`Scenario`] functions.
macro_rules! registry {
    ($($Variant:ident ($get:ident, $get_mut:ident) => $module:ident :: $Type:ident),* $(,)?) => {
        /// One scenario's figures, tagged with its kind (`"scenario": "churn"`
        /// in the JSON, beside the figures).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(tag = "scenario", rename_all = "kebab-case")]
        pub enum ScenarioResult {
            $(
                #[doc = concat!("The `", stringify!($module), "` scenario's figures.")]
                $Variant(<$module::$Type as Scenario>::Result),
            )*
        }

        /// The `[scenario] kind` of every registered scenario, in registry order.
        pub const KINDS: &[ScenarioKind] = &[$(<$module::$Type as Scenario>::KIND),*];

        /// Checks `v`'s keys with its scenario's own checks, and that it
        /// sets no key only another scenario reads.
        pub fn validate(v: &Variant) -> Result<(), Problem> {
            $(if v.scenario.kind == <$module::$Type as Scenario>::KIND {
                <$module::$Type as Scenario>::validate(v)?;
            })*
            $(if v.scenario.kind != <$module::$Type as Scenario>::KIND {
                let kind = <$module::$Type as Scenario>::KIND.name();
                if let Some(key) = <$module::$Type as Scenario>::own_keys_set(&v.scenario).first().copied() {
                    return Err(Problem::new(
                        "scenario",
                        key,
                        format!("{key} is measured by the {kind} scenario only"),
                        format!("set [scenario] kind = \"{kind}\", or remove {key}"),
                    ));
                }
            })*
            Ok(())
        }

        /// Cuts `v`'s measured amounts with its scenario's
        /// [`Scenario::replay_cut`].
        fn cut_variant(v: &mut Variant) {
            $(if v.scenario.kind == <$module::$Type as Scenario>::KIND {
                <$module::$Type as Scenario>::replay_cut(&mut v.scenario);
            })*
        }

        /// The most sandboxes `v`'s scenario holds at once, and the key
        /// that sets it.
        pub fn max_live(v: &Variant) -> (u32, &'static str) {
            $(if v.scenario.kind == <$module::$Type as Scenario>::KIND {
                return <$module::$Type as Scenario>::max_live(&v.scenario);
            })*
            (v.scenario.threads, "threads")
        }

        /// The HTTP server answering `v`'s requests, if its scenario serves HTTP.
        pub fn server(v: &Variant) -> Option<ServeServer> {
            $(if v.scenario.kind == <$module::$Type as Scenario>::KIND {
                return <$module::$Type as Scenario>::server(v);
            })*
            None
        }

        /// Checks that the programs `v`'s scenario starts can be run.
        pub fn check_programs(v: &Variant) -> Result<(), Problem> {
            $(if v.scenario.kind == <$module::$Type as Scenario>::KIND {
                return <$module::$Type as Scenario>::check_programs(v);
            })*
            Ok(())
        }

        /// What `v`'s scenario precompiles beyond its guest.
        pub fn precompile(v: &Variant, cache_dir: &Path) -> anyhow::Result<usize> {
            $(if v.scenario.kind == <$module::$Type as Scenario>::KIND {
                return <$module::$Type as Scenario>::precompile(v, cache_dir);
            })*
            Ok(0)
        }

        /// Runs `v`'s scenario in this (child) process.
        pub fn run(
            v: &Variant,
            artifact: Option<&Path>,
        ) -> anyhow::Result<(ScenarioResult, Option<Histograms>)> {
            $(if v.scenario.kind == <$module::$Type as Scenario>::KIND {
                let (r, h) = <$module::$Type as Scenario>::run(v, artifact)?;
                return Ok((ScenarioResult::$Variant(r), h));
            })*
            anyhow::bail!("no scenario is registered for kind {:?}", v.scenario.kind)
        }

        /// The scenarios that can be scored on `objective`.
        pub fn kinds_for(objective: Objective) -> Vec<ScenarioKind> {
            let mut out = Vec::new();
            $(if <$module::$Type as Scenario>::objectives().contains(&objective) {
                out.push(<$module::$Type as Scenario>::KIND);
            })*
            out
        }

        /// Every scenario's report section, in registry order, over the rows
        /// of the variants it measured.
        pub fn report_sections(rows: &[Row<'_, ScenarioResult>], ctx: &ReportContext<'_>) -> String {
            let mut out = String::new();
            $(
                let mine: Vec<Row<'_, <$module::$Type as Scenario>::Result>> = rows
                    .iter()
                    .filter_map(|r| match r.result {
                        ScenarioResult::$Variant(x) => Some(r.with_result(x)),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    })
                    .collect();
                if !mine.is_empty() {
                    out.push_str(&<$module::$Type as Scenario>::report(&mine, ctx));
                }
            )*
            out
        }

        /// Every scenario's [`Scenario::summary`], in registry order, over
        /// the rows of the variants it measured (empty ones left out).
        pub fn summary_tables(rows: &[Row<'_, ScenarioResult>], ctx: &ReportContext<'_>) -> Vec<String> {
            let mut out = Vec::new();
            $(
                let mine: Vec<Row<'_, <$module::$Type as Scenario>::Result>> = rows
                    .iter()
                    .filter_map(|r| match r.result {
                        ScenarioResult::$Variant(x) => Some(r.with_result(x)),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    })
                    .collect();
                if !mine.is_empty() {
                    let table = <$module::$Type as Scenario>::summary(&mine, ctx);
                    if !table.is_empty() {
                        out.push(table);
                    }
                }
            )*
            out
        }

        impl ScenarioResult {
            $(
                #[doc = concat!("The `", stringify!($module), "` scenario's figures, if these are.")]
                pub fn $get(&self) -> Option<&<$module::$Type as Scenario>::Result> {
                    match self {
                        Self::$Variant(r) => Some(r),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }

                #[doc = concat!("The `", stringify!($module), "` scenario's figures, to change them.")]
                pub fn $get_mut(&mut self) -> Option<&mut <$module::$Type as Scenario>::Result> {
                    match self {
                        Self::$Variant(r) => Some(r),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            )*

            /// The kind of scenario that measured it.
            pub fn kind(&self) -> ScenarioKind {
                match self {
                    $(Self::$Variant(_) => <$module::$Type as Scenario>::KIND),*
                }
            }

            /// [`Scenario::headlines`].
            pub fn headlines(&self) -> Vec<Headline> {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::headlines(r)),*
                }
            }

            /// [`Scenario::primary`].
            pub fn primary(&self) -> Option<f64> {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::primary(r)),*
                }
            }

            /// [`Scenario::phases`].
            pub fn phases(&self) -> &[PhaseLatency] {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::phases(r)),*
                }
            }

            /// [`Scenario::phases_mut`].
            pub fn phases_mut(&mut self) -> Option<&mut Vec<PhaseLatency>> {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::phases_mut(r)),*
                }
            }

            /// The phases of [`Scenario::charted_phases`] it has.
            pub fn charted_phases(&self) -> Vec<&PhaseLatency> {
                match self {
                    $(Self::$Variant(r) => {
                        let wanted = <$module::$Type as Scenario>::charted_phases();
                        <$module::$Type as Scenario>::phases(r)
                            .iter()
                            .filter(|p| wanted.contains(&p.phase.as_str()))
                            .collect()
                    }),*
                }
            }

            /// Ratios of `self` to the baseline's `base`; `None` when they
            /// are of different scenarios or share no ratio.
            pub fn vs_baseline(&self, baseline: &str, base: &ScenarioResult) -> Option<Comparison> {
                let mut c = Comparison::empty(baseline);
                match (base, self) {
                    $((Self::$Variant(b), Self::$Variant(x)) => {
                        <$module::$Type as Scenario>::vs_baseline(b, x, &mut c)
                    }),*
                    #[allow(unreachable_patterns)]
                    _ => return None,
                }
                (!c.is_empty()).then_some(c)
            }

            /// [`Scenario::calls`].
            pub fn calls(&self) -> Option<(&GuestFaults, u64)> {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::calls(r)),*
                }
            }

            fn own_failure(&self, v: &Variant) -> Option<String> {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::failure(v, r)),*
                }
            }

            /// [`Scenario::warnings`].
            pub fn warnings(&self) -> Vec<String> {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::warnings(r)),*
                }
            }

            /// [`Scenario::memory_steps`].
            pub fn memory_steps(&self) -> Vec<MemoryStep<'_>> {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::memory_steps(r)),*
                }
            }

            /// [`Scenario::memory_cost`].
            pub fn memory_cost(&self) -> Option<MemoryCost> {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::memory_cost(r)),*
                }
            }

            /// [`Scenario::score`].
            pub fn score(&self, t: &TuneSettings) -> Result<Score, String> {
                match self {
                    $(Self::$Variant(r) => {
                        if !<$module::$Type as Scenario>::objectives().contains(&t.objective) {
                            return Err(format!("no figures for the objective {:?}", t.objective));
                        }
                        <$module::$Type as Scenario>::score(t, r)
                    }),*
                }
            }
        }
    };
}

registry! {
    Scaling(scaling, scaling_mut) => scaling::Scaling,
    Churn(churn, churn_mut) => churn::Churn,
    Pool(pool, pool_mut) => pool::Pool,
    Session(session, session_mut) => session::Session,
    Serve(serve, serve_mut) => serve::Serve,
    Tenants(tenants, tenants_mut) => tenants::Tenants,
    Soak(soak, soak_mut) => soak::Soak,
    ColdStart(cold_start, cold_start_mut) => cold_start::ColdStart,
}
