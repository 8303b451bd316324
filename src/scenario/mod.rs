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

pub mod burst;
pub mod churn;
pub mod cold_start;
mod interface;
pub mod pool;
pub mod scaling;
pub mod serve;
pub mod session;
pub mod soak;
pub mod tenants;

pub use crate::guest::{Prepared, engine, needs_artifact, prepare};
pub use crate::host::guest_faults::{FaultKind, GuestFaults, classify};
pub use crate::measure::latency::{Histograms, PhaseLatency};
pub use interface::{
    MemoryCost, MemoryStep, REPLAY_CALLS, REPLAY_WARMUP, ReportContext, Row, Scenario, Score,
    histogram_folders, p50_p99, p999_max, phase_summary, times,
};

use crate::metric::{Comparison, Headline};
use crate::settings::{Objective, Problem, ScenarioKind, ServeServer, TuneSettings, Variant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
            if v.scenario.processes != 1 {
                let runs = [$((<$module::$Type as Scenario>::KIND, <$module::$Type as Scenario>::PROCESSES)),*];
                if !runs.iter().any(|(k, p)| *k == v.scenario.kind && *p) {
                    let mut names: Vec<String> =
                        runs.iter().filter(|(_, p)| *p).map(|(k, _)| k.name()).collect();
                    names.sort();
                    let last = names.pop().unwrap_or_default();
                    let names = if names.is_empty() {
                        vec![last]
                    } else {
                        vec![names.join(", "), last]
                    };
                    return Err(Problem::new(
                        "scenario",
                        "processes",
                        format!(
                            "processes = {} is measured by the {} scenarios only",
                            v.scenario.processes,
                            names.join(" and ")
                        ),
                        "set [scenario] kind to one of them, or remove processes".into(),
                    ));
                }
            }
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

        /// [`Scenario::measures_own_memory`] of `v`'s scenario.
        pub fn measures_own_memory(v: &Variant) -> bool {
            $(if v.scenario.kind == <$module::$Type as Scenario>::KIND {
                return <$module::$Type as Scenario>::measures_own_memory();
            })*
            false
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

            /// [`Scenario::production_note`] of these figures, measured with `v`.
            pub fn production_note(&self, v: &Variant) -> Option<String> {
                match self {
                    $(Self::$Variant(r) => <$module::$Type as Scenario>::production_note(v, r)),*
                }
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
    Burst(burst, burst_mut) => burst::Burst,
}
