//! `pooling-lab tune`: a measured search for the best settings against a
//! target, and the settings handed back in forms production uses directly.
//!
//! 1. Candidates are the experiment's own variants (its lists are the search
//!    space). Two references are added ([`references`]): wasmtime's default
//!    pooling (only the slot counts and the limits of the first candidate:
//!    `max_memory_size`, `table_elements`, `max_core_instance_size`, its stack
//!    sizes) and on-demand (with its stack sizes). A serving tune whose
//!    candidates are served by `wasmtime serve` itself (`[scenario] server =
//!    "wasmtime-serve"`, each candidate's settings as `-O` flags) measures its
//!    references in `wasmtime serve` too: the main reference is `wasmtime
//!    serve` with its own defaults (no flags: what production compares
//!    against), and on-demand is `wasmtime serve -O pooling-allocator=n`. With
//!    pooling-lab's server both references are served by pooling-lab's server.
//!    Every gain the summary reports is the ratio of medians measured in that
//!    one server, in the same run.
//! 2. Pruned before measuring ([`prune_before_measuring`]): engines wasmtime
//!    rejects (e.g. the pool does not fit in the address space), pools with
//!    fewer slots than `live_instances`, and pools that may keep more resident
//!    than the budget: the pool keeps up to `linear_memory_keep_resident` in
//!    every memory slot that has served (any slot can end up holding it), so
//!    the bound is `linear_memory_keep_resident x memory slots`
//!    ([`kept_resident_bound`]; slots: `total_memories`, wasmtime's default
//!    when unset), whatever `live_instances` is.
//! 3. Every remaining candidate is measured (churn, in its own process).
//! 4. The best `finalists` have their memory measured (scaling) and are pruned
//!    if fixed cost + live x Pss per sandbox + the kept-resident bound exceeds
//!    the budget.
//! 5. Finalists and references are re-measured in `rounds` interleaved rounds;
//!    the best median wins, unless other finalists are within the
//!    between-round noise of it ([`pick_winner`]): a finalist is **tied** with
//!    the best median when the range of its scores over all its measurements
//!    (first pass and every round, min to max) overlaps the best one's range.
//!    Among the tied ones the winner is the one that keeps the least resident
//!    at most (the kept-resident bound), then, on equal bounds, the one with
//!    the least measured memory (a serving tune: the server's Pss after the
//!    timed requests; tenants: the run's peak Pss; churn: fixed + live x Pss
//!    per sandbox from step 4), then the best median. The summary names the
//!    tie and why the winner was chosen.
//! 6. Written: `tuned.toml` (loads with [`crate::settings::Experiment::load`]),
//!    `summary.md` (why it won, which knobs did it, capacity table), and
//!    [`crate::export`]'s `wasmtime-serve.txt` (`wasmtime serve` flags),
//!    `wasmtime-config.toml` (its `--config` file) and `builder.rs` (Rust).

use crate::guest;
use crate::measure::latency::LatencySummary;
use crate::report::{duration, mib};
use crate::runner;
use crate::scenario;
use crate::settings::{
    Allocator, EngineSettings, Experiment, Objective, PoolingSettings, ServeServer, TuneSettings,
    Variant, WasmtimeFlags,
};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where and how a tune writes.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// Results root; the tune goes to `<dir>/<experiment>/<stamp>-tune/`.
    pub results_dir: PathBuf,
    /// Precompiled artifact cache.
    pub cache_dir: PathBuf,
    /// This binary (runs `__measure`).
    pub exe: PathBuf,
    /// Print nothing but the outcome.
    pub quiet: bool,
}

/// One candidate and what was measured of it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its settings.
    pub variant: Variant,
    /// Objective values, one per measurement (first pass, then each round).
    pub scores: Vec<f64>,
    /// The last measurement's throughput and the latency its objective
    /// reads (instantiate; request for a serving tune).
    pub last: Option<(f64, LatencySummary)>,
    /// Measured fixed Pss (engine + module) and Pss per sandbox, for finalists.
    pub memory: Option<(f64, f64)>,
    /// The memory its last measurement measured of itself
    /// ([`crate::scenario::Score::memory_bytes`]): a serving tune's server
    /// Pss after the timed requests, a tenants run's peak Pss; one per
    /// measurement that measured it, in order.
    pub run_memories: Vec<f64>,
    /// What its last measurement says production needs beside the
    /// settings ([`crate::scenario::ScenarioResult::production_note`]).
    pub note: Option<String>,
    /// Why it was dropped, if it was.
    pub pruned: Option<String>,
    /// A reference (not a candidate).
    pub reference: bool,
    /// Measurements taken while other processes used more than
    /// [`crate::measure::disturbance::DEFAULT_THRESHOLD`] of the CPU.
    pub disturbed: u32,
}

impl Candidate {
    /// A candidate (or a reference) with nothing measured yet.
    pub fn new(variant: Variant, reference: bool) -> Candidate {
        Candidate {
            variant,
            scores: Vec::new(),
            last: None,
            memory: None,
            run_memories: Vec::new(),
            note: None,
            pruned: None,
            reference,
            disturbed: 0,
        }
    }

    /// Median of the scores (higher is better), if measured.
    pub fn median(&self) -> Option<f64> {
        let mut s = self.scores.clone();
        s.sort_by(f64::total_cmp);
        (!s.is_empty()).then(|| s[s.len() / 2])
    }

    /// The lowest and highest score over all its measurements (first pass
    /// and every round), if measured: its between-round noise.
    pub fn score_range(&self) -> Option<(f64, f64)> {
        let lo = self.scores.iter().copied().reduce(f64::min)?;
        let hi = self.scores.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    }

    /// The memory figures measured of it, which a tie between finalists
    /// is resolved by when their kept-resident bounds are equal: what each
    /// of its runs measured of itself ([`Candidate::run_memories`]: a
    /// server's Pss, a tenants run's peak Pss), else the finalist memory
    /// probe's fixed Pss + `live_instances` x Pss per sandbox
    /// ([`Candidate::memory`], measured once).
    pub fn memory_samples(&self, live_instances: u32) -> Vec<f64> {
        if !self.run_memories.is_empty() {
            return self.run_memories.clone();
        }
        self.memory
            .map(|(fixed, per)| fixed + f64::from(live_instances) * per)
            .into_iter()
            .collect()
    }

    /// The median of [`Candidate::memory_samples`], if any.
    pub fn measured_memory(&self, live_instances: u32) -> Option<f64> {
        let mut s = self.memory_samples(live_instances);
        s.sort_by(f64::total_cmp);
        (!s.is_empty()).then(|| s[s.len() / 2])
    }

    /// The lowest and highest of [`Candidate::memory_samples`] when there
    /// are at least two: the memory's own noise. `None` with one sample or
    /// none (its noise is unknown).
    pub fn memory_range(&self, live_instances: u32) -> Option<(f64, f64)> {
        let s = self.memory_samples(live_instances);
        if s.len() < 2 {
            return None;
        }
        let lo = s.iter().copied().reduce(f64::min)?;
        let hi = s.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    }
}

/// How two candidates' memory compares, beyond its noise: `Less` or
/// `Greater` when both have a [`Candidate::memory_range`] and the ranges do
/// not overlap; `Equal` (a tie) otherwise, including when either was
/// measured once.
pub fn memory_order(a: &Candidate, b: &Candidate, live_instances: u32) -> std::cmp::Ordering {
    match (
        a.memory_range(live_instances),
        b.memory_range(live_instances),
    ) {
        (Some((_, a_hi)), Some((b_lo, _))) if a_hi < b_lo => std::cmp::Ordering::Less,
        (Some((a_lo, _)), Some((_, b_hi))) if b_hi < a_lo => std::cmp::Ordering::Greater,
        _ => std::cmp::Ordering::Equal,
    }
}

/// What a tune produced.
pub struct TuneOutput {
    /// Every candidate and reference.
    pub candidates: Vec<Candidate>,
    /// Index of the winner in `candidates`.
    pub winner: usize,
    /// The output folder.
    pub dir: PathBuf,
    /// `tuned.toml`.
    pub tuned_toml: PathBuf,
}

fn keep_resident(v: &Variant) -> u64 {
    if v.is_pooling() {
        v.pooling.linear_memory_keep_resident.map_or(0, |b| b.0)
    } else {
        0
    }
}

/// Memory slots of `v`'s pool: `[pooling] total_memories`, or wasmtime's
/// default (`PoolingAllocationConfig::default().get_total_memories()`) when
/// unset, for a component guest too; 0 when `v` is not pooled.
pub fn memory_slots(v: &Variant) -> u64 {
    if !v.is_pooling() {
        return 0;
    }
    u64::from(
        v.pooling
            .total_memories
            .unwrap_or_else(|| wasmtime::PoolingAllocationConfig::default().get_total_memories()),
    )
}

/// The most memory `v`'s pool keeps resident between uses, in bytes:
/// `linear_memory_keep_resident` x [`memory_slots`]. The pool keeps up to
/// `linear_memory_keep_resident` in every memory slot that has served, and
/// any slot can end up holding it, so the bound does not depend on how many
/// sandboxes are live at once. 0 when `v` is not pooled.
pub fn kept_resident_bound(v: &Variant) -> u64 {
    keep_resident(v).saturating_mul(memory_slots(v))
}

/// Bytes as GiB from 1 GiB up, else MiB.
fn size(bytes: f64) -> String {
    if bytes >= (1u64 << 30) as f64 {
        crate::report::gib(bytes)
    } else {
        mib(bytes)
    }
}

/// Why candidate `v` cannot meet the target `t`, known before anything is
/// measured (`None`: it may): a pool with fewer slots than `live_instances`,
/// or a pool whose [`kept_resident_bound`] exceeds `memory_budget`. (Whether
/// wasmtime accepts the engine at all is checked by building it.)
pub fn prune_before_measuring(v: &Variant, t: &TuneSettings) -> Option<String> {
    let live = u64::from(t.live_instances);
    if v.is_pooling() {
        let d = wasmtime::PoolingAllocationConfig::default();
        let slots = v
            .pooling
            .total_core_instances
            .unwrap_or(d.get_total_core_instances())
            .min(v.pooling.total_memories.unwrap_or(d.get_total_memories()));
        if u64::from(slots) < live {
            return Some(format!(
                "{slots} pool slots cannot hold live_instances = {live}: raise total_core_instances / total_memories"
            ));
        }
    }
    // A run that measures its own memory with part of the day idle judges
    // the day's average, which a release policy can bring under the budget
    // although the peak is above it.
    if t.idle_share > 0.0 && crate::scenario::measures_own_memory(v) {
        return None;
    }
    let bound = kept_resident_bound(v);
    let budget = t.memory_budget.0;
    (bound > budget).then(|| {
        format!(
            "keep_resident x memory slots = {} x {} = {} exceeds the memory budget {} (the pool keeps up to linear_memory_keep_resident in every memory slot that has served): lower linear_memory_keep_resident or total_memories, or raise memory_budget",
            size(keep_resident(v) as f64),
            memory_slots(v),
            size(bound as f64),
            size(budget as f64)
        )
    })
}

/// Name of the main reference of a tune served by `wasmtime serve`.
pub const WASMTIME_SERVE_DEFAULTS: &str = "reference: wasmtime serve defaults";
/// Name of the main reference of every other tune.
pub const WASMTIME_DEFAULT_POOLING: &str = "reference: wasmtime default pooling";
/// Name of the on-demand reference.
pub const ON_DEMAND: &str = "reference: on-demand";

/// Whether `v` is served by `wasmtime serve` itself.
fn in_wasmtime_serve(v: &Variant) -> bool {
    crate::scenario::server(v) == Some(ServeServer::WasmtimeServe)
}

/// The references a tune measures next to its candidates, made from the
/// first candidate `first`, main reference first:
///
/// * Served by `wasmtime serve` (`[scenario] kind = "serve"`, `server =
///   "wasmtime-serve"`): [`WASMTIME_SERVE_DEFAULTS`], `wasmtime serve` with
///   its own defaults (`wasmtime_flags = "none"`, `[engine]` and `[pooling]`
///   at their defaults: nothing given), and [`ON_DEMAND`] in `wasmtime
///   serve` with the variant's flags (`-O pooling-allocator=n` and its stack
///   sizes).
/// * Otherwise (churn, tenants, or pooling-lab's server):
///   [`WASMTIME_DEFAULT_POOLING`], wasmtime's default pooling with only what
///   the guest needs from `first` (its slot counts, `max_memory_size`,
///   `table_elements`, `max_core_instance_size`, its stack sizes), and
///   [`ON_DEMAND`] with its stack sizes; both in `first`'s scenario.
pub fn references(first: &Variant) -> Vec<Variant> {
    // The references keep what the guest needs to run at all (its stack,
    // its table and instance sizes, GC heap slots), not what is tuned.
    let needs = EngineSettings {
        max_wasm_stack: first.engine.max_wasm_stack,
        async_stack_size: first.engine.async_stack_size,
        ..EngineSettings::default()
    };
    let mut on_demand = first.clone();
    on_demand.name = ON_DEMAND.into();
    on_demand.engine = EngineSettings {
        allocator: Some(Allocator::OnDemand),
        ..needs.clone()
    };
    on_demand.pooling = PoolingSettings::default();

    let mut main = first.clone();
    if in_wasmtime_serve(first) {
        // What production compares against: `wasmtime serve` as installed,
        // no flags.
        main.name = WASMTIME_SERVE_DEFAULTS.into();
        main.engine = EngineSettings::default();
        main.pooling = PoolingSettings::default();
        main.scenario.wasmtime_flags = WasmtimeFlags::None;
        // On-demand must be said with flags (`wasmtime serve` pools by default).
        on_demand.scenario.wasmtime_flags = WasmtimeFlags::Variant;
    } else {
        main.name = WASMTIME_DEFAULT_POOLING.into();
        main.engine = EngineSettings {
            allocator: Some(Allocator::Pooling),
            ..needs
        };
        main.pooling = PoolingSettings {
            total_core_instances: first.pooling.total_core_instances,
            total_memories: first.pooling.total_memories,
            total_tables: first.pooling.total_tables,
            total_gc_heaps: first.pooling.total_gc_heaps,
            max_memory_size: first.pooling.max_memory_size,
            table_elements: first.pooling.table_elements,
            max_core_instance_size: first.pooling.max_core_instance_size,
            ..PoolingSettings::default()
        };
    }
    vec![main, on_demand]
}

/// How the winner was picked among the finalists ([`pick_winner`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// Index of the winner in the candidates.
    pub winner: usize,
    /// Index of the finalist with the best median.
    pub best: usize,
    /// The finalists within the between-round noise of the best median, the
    /// best first, then in finalist order; empty when no other finalist is.
    pub tied: Vec<usize>,
    /// Why the winner was chosen among the tied ones (`None` without a tie).
    pub reason: Option<String>,
}

/// A score as the objective reads (scores are higher-is-better: the
/// latency objectives are negated nanoseconds).
fn score_text(objective: Objective, s: f64) -> String {
    match objective {
        Objective::SandboxesPerSecond => format!("{s:.0} sandboxes/s"),
        Objective::RequestsPerSecond => format!("{s:.0} requests/s"),
        Objective::P99TimeToReady => format!("p99 ready {}", duration(-s)),
        Objective::TenantsP99Instantiate => format!("p99 instantiate {}", duration(-s)),
    }
}

/// "A", "A and B", "A, B and C".
fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The winner among `finalists` (indices into `cands`) after the
/// interleaved rounds; `None` when none has a score and is not pruned.
///
/// The finalist with the best median is the winner unless other finalists
/// are **tied** with it: within the between-round noise, i.e. the range of a
/// finalist's scores over all its measurements (min to max, first pass and
/// every round, [`Candidate::score_range`]) overlaps the best one's range.
/// Among the tied ones (the best included) the winner is the one that keeps
/// the least resident at most ([`kept_resident_bound`]); on equal bounds,
/// the one that measured less memory beyond the memory's own noise
/// ([`memory_order`]: both measured at least twice, their ranges apart);
/// otherwise their memory is a tie, and the best median wins. `t` gives the objective (to word the
/// reason) and `live_instances` (for a churn finalist's memory).
pub fn pick_winner(t: &TuneSettings, cands: &[Candidate], finalists: &[usize]) -> Option<Pick> {
    let measured: Vec<usize> = finalists
        .iter()
        .copied()
        .filter(|&i| cands[i].pruned.is_none() && cands[i].median().is_some())
        .collect();
    let median = |i: usize| cands[i].median().unwrap_or(f64::MIN);
    let best = measured
        .iter()
        .copied()
        .reduce(|a, b| if median(b) > median(a) { b } else { a })?;
    let (lo, hi) = cands[best].score_range()?;
    let mut tied = vec![best];
    tied.extend(measured.iter().copied().filter(|&i| {
        i != best
            && cands[i]
                .score_range()
                .is_some_and(|(l, h)| l <= hi && lo <= h)
    }));
    if tied.len() < 2 {
        return Some(Pick {
            winner: best,
            best,
            tied: Vec::new(),
            reason: None,
        });
    }
    let bound = |i: usize| kept_resident_bound(&cands[i].variant);
    let memory = |i: usize| cands[i].measured_memory(t.live_instances);
    let winner = tied
        .iter()
        .copied()
        .reduce(|a, b| {
            let by_memory = memory_order(&cands[a], &cands[b], t.live_instances);
            let order = bound(a)
                .cmp(&bound(b))
                .then(by_memory)
                .then(median(b).total_cmp(&median(a)));
            if order.is_gt() { b } else { a }
        })
        .unwrap_or(best);
    let name = |i: usize| format!("`{}`", cands[i].variant.name);
    let noise = format!(
        "{}'s median {} (its {} measurements range {} to {})",
        name(best),
        score_text(t.objective, median(best)),
        cands[best].scores.len(),
        score_text(t.objective, lo),
        score_text(t.objective, hi)
    );
    let memory_text = |i: usize| match cands[i].memory_range(t.live_instances) {
        Some((lo, hi)) => format!(
            "{} (its {} measurements range {} to {})",
            memory(i).map_or("unmeasured".to_string(), size),
            cands[i].memory_samples(t.live_instances).len(),
            size(lo),
            size(hi)
        ),
        None => format!(
            "{} (measured once: its noise is unknown)",
            memory(i).map_or("unmeasured".to_string(), size)
        ),
    };
    let others: Vec<usize> = tied.iter().copied().filter(|&i| i != winner).collect();
    let reason = if winner == best {
        format!(
            "chose {}: the best median, {noise}; none of the tied ones keeps less resident at most ({}), and at the same bound memory is a tie (no one measured less beyond the memory's own noise: {})",
            name(best),
            size(bound(best) as f64),
            tied.iter()
                .map(|&i| format!("{} {}", name(i), memory_text(i)))
                .collect::<Vec<_>>()
                .join("; ")
        )
    } else if bound(winner) < bound(best) {
        format!(
            "chose {}: keeps {} resident at most against {} for {}, within noise of {noise}",
            name(winner),
            size(bound(winner) as f64),
            size(bound(best) as f64),
            name(best)
        )
    } else if memory_order(&cands[winner], &cands[best], t.live_instances).is_lt() {
        format!(
            "chose {}: keeps as much resident at most as {} ({}) and measured less memory beyond its noise, {} against {}, within noise of {noise}",
            name(winner),
            name(best),
            size(bound(best) as f64),
            memory_text(winner),
            memory_text(best)
        )
    } else {
        format!(
            "chose {}: within noise of {noise}, with the same memory as {}",
            name(winner),
            and_list(&others.iter().map(|&i| name(i)).collect::<Vec<_>>())
        )
    };
    Some(Pick {
        winner,
        best,
        tied,
        reason: Some(reason),
    })
}

/// One knob of the winner put back: its key, the winner's value, the
/// other value (`None`: unset) and the candidate measured with it.
pub type KnobEffect<'a> = (
    String,
    serde_json::Value,
    Option<serde_json::Value>,
    &'a Candidate,
);

/// The measured candidates that differ from winner `w` in one knob only,
/// split in two: those whose every measurement scored below every
/// measurement of the winner (the knob helped beyond the noise), and the
/// rest (no effect beyond the noise, or the other value scored as well).
pub fn knob_effects<'a>(
    cands: &'a [Candidate],
    w: &Candidate,
) -> (Vec<KnobEffect<'a>>, Vec<KnobEffect<'a>>) {
    let wk = set_knobs(&w.variant);
    let w_lo = w.score_range().map(|(lo, _)| lo);
    let (mut helped, mut none) = (Vec::new(), Vec::new());
    for c in cands
        .iter()
        .filter(|c| !c.reference && c.median().is_some())
    {
        let ck = set_knobs(&c.variant);
        if let Some((key, winner, other)) = one_knob_apart(&wk, &ck) {
            let below = matches!((c.score_range(), w_lo), (Some((_, c_hi)), Some(lo)) if c_hi < lo);
            let row = (key.to_string(), winner.clone(), other.cloned(), c);
            if below {
                helped.push(row);
            } else {
                none.push(row);
            }
        }
    }
    (helped, none)
}

/// Runs a tune.
pub fn run(exp: &Experiment, opts: &TuneOptions) -> Result<TuneOutput> {
    // Whatever private /tmp a child could not remove goes when this returns.
    let _tmp_sweep = crate::host::wasi::ChildTmpSweep;
    let t = exp.tune.clone().unwrap_or(TuneSettings {
        objective: Objective::SandboxesPerSecond,
        live_instances: 100,
        memory_budget: crate::settings::ByteSize(8 << 30),
        finalists: 3,
        rounds: 2,
        p99_target_ms: 0.0,
        idle_share: 0.0,
    });
    let wanted = crate::scenario::kinds_for(t.objective);
    if let Some(v) = exp
        .variants
        .iter()
        .find(|v| !wanted.contains(&v.scenario.kind))
    {
        let names: Vec<String> = wanted.iter().map(|k| format!("\"{}\"", k.name())).collect();
        bail!(
            "{}: objective = \"{}\" measures candidates with the {} scenario, not `{}`: set [scenario] kind = {}",
            exp.path.display(),
            serde_json::to_value(t.objective)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            names.join(" or "),
            v.scenario.kind.name(),
            names.join(" or ")
        );
    }
    // The references are measured in the candidates' server: one server per
    // tune, or a gain would compare two servers.
    let servers: std::collections::BTreeSet<String> = exp
        .variants
        .iter()
        .filter_map(crate::scenario::server)
        .map(|s| format!("{s:?}"))
        .collect();
    if servers.len() > 1 {
        bail!(
            "{}: a serving tune measures its candidates and references in one server: give every candidate the same [scenario] server",
            exp.path.display()
        );
    }
    runner::check_programs(exp)?;
    runner::install_interrupt_handlers();
    let progress = crate::progress::RunProgress::new(opts.quiet);
    let say = |m: &str| progress.say(m);
    let threshold = exp
        .meta
        .disturbed_cpu_share
        .unwrap_or(crate::measure::disturbance::DEFAULT_THRESHOLD);

    let mut cands: Vec<Candidate> = exp
        .variants
        .iter()
        .map(|v| Candidate::new(v.clone(), false))
        .collect();
    for r in references(&exp.variants[0]) {
        cands.push(Candidate::new(r, true));
    }

    // 2. Static pruning.
    let budget = t.memory_budget.0 as f64;
    let live = u64::from(t.live_instances);
    for c in cands.iter_mut() {
        let v = &c.variant;
        if let Err(e) = wasmtime::Engine::new(&v.wasmtime_config()) {
            c.pruned = Some(format!("wasmtime rejects it: {e:#}"));
            continue;
        }
        c.pruned = prune_before_measuring(v, &t);
    }
    if cands.iter().all(|c| c.reference || c.pruned.is_some()) {
        let reasons: Vec<String> = cands
            .iter()
            .filter(|c| !c.reference)
            .map(|c| {
                format!(
                    "  {}: {}",
                    c.variant.name,
                    c.pruned.as_deref().unwrap_or("")
                )
            })
            .collect();
        bail!(
            "no candidate can meet the target (live_instances = {live}, memory_budget = {}):\n{}",
            mib(budget),
            reasons.join("\n")
        );
    }

    // The variant as measured (a `preinit` guest replaced by its snapshot)
    // and its artifact, each built once and cached.
    let artifact = |v: &Variant| -> Result<(Variant, Option<PathBuf>)> {
        let v = match guest::resolve_preinit(v, &opts.cache_dir)? {
            Some((resolved, _, _)) => resolved,
            None => v.clone(),
        };
        let path = scenario::ensure_artifacts(&v, &opts.cache_dir)?.map(|a| a.path);
        Ok((v, path))
    };
    let measure = |c: &mut Candidate| -> Result<()> {
        if runner::interrupted() {
            bail!("interrupted");
        }
        let (run_as, a) = artifact(&c.variant)?;
        let (m, d) = runner::measure_variant_judged(&opts.exe, &run_as, a, threshold);
        if let Some(d) = d.filter(|d| d.disturbed) {
            c.disturbed += 1;
            say(&format!(
                "  {}: disturbed: {}",
                c.variant.name,
                d.describe()
            ));
        }
        match m {
            // A reference is measured whatever the latency target: the
            // winner's gain over it is what the summary reports.
            Ok(m) => match m.result.score(&TuneSettings {
                p99_target_ms: if c.reference { 0.0 } else { t.p99_target_ms },
                ..t.clone()
            }) {
                Ok(score) => {
                    c.scores.push(score.value);
                    c.last = Some((score.rate, score.latency));
                    c.run_memories.extend(score.memory_bytes);
                    c.note = m.result.production_note(&run_as);
                }
                Err(why) => c.pruned = Some(why),
            },
            Err(reason) => c.pruned = Some(format!("failed: {reason}")),
        }
        Ok(())
    };

    // 3. Measure every candidate.
    let total = cands.iter().filter(|c| c.pruned.is_none()).count();
    let bar = progress.bar(total as u64, "candidates");
    let mut done = 0;
    for c in cands.iter_mut().filter(|c| c.pruned.is_none()) {
        done += 1;
        if !progress.drawing() {
            say(&format!("[{done}/{total}] measuring {}", c.variant.name));
        }
        bar.set_message(c.variant.name.clone());
        measure(c)?;
        bar.inc(1);
        if let Some(r) = &c.pruned {
            say(&format!("  dropped {}: {r}", c.variant.name));
        }
    }
    bar.finish_and_clear();

    // 4. Finalists by first-pass score, then their memory.
    let mut order: Vec<usize> = (0..cands.len())
        .filter(|&i| !cands[i].reference && cands[i].pruned.is_none())
        .collect();
    order.sort_by(|&a, &b| cands[b].scores[0].total_cmp(&cands[a].scores[0]));
    let mut finalists: Vec<usize> = Vec::new();
    for i in order {
        if finalists.len() >= t.finalists.max(1) as usize {
            break;
        }
        let c = &mut cands[i];
        if t.objective == Objective::TenantsP99Instantiate
            || crate::scenario::measures_own_memory(&c.variant)
        {
            // The tenants run measured its own memory (peak Pss, checked
            // against the budget in `score`), as a burst did (the peak's
            // Pss, or the day's average with `idle_share`).
            finalists.push(i);
            continue;
        }
        let probe = crate::scenario::memory_probe(&c.variant, t.live_instances.clamp(2, 20));
        say(&format!("memory of finalist {}", c.variant.name));
        let (run_as, a) = artifact(&probe)?;
        match runner::measure_variant(&opts.exe, &run_as, a) {
            Ok(m) => {
                let cost = m.result.memory_cost().context("no memory figures")?;
                let fixed = cost.fixed_pss_bytes;
                let per = cost.per_instance_pss_bytes;
                c.memory = Some((fixed, per));
                let kept = kept_resident_bound(&c.variant) as f64;
                let need = fixed + live as f64 * per + kept;
                if need > budget {
                    c.pruned = Some(format!(
                        "needs {} for {live} live sandboxes ({} fixed + {live} x {} + up to {} kept resident = keep_resident {} x {} memory slots), over the memory budget {}: {}",
                        size(need),
                        mib(fixed),
                        mib(per),
                        size(kept),
                        size(keep_resident(&c.variant) as f64),
                        memory_slots(&c.variant),
                        size(budget),
                        if kept > 0.0 {
                            "lower linear_memory_keep_resident or total_memories, lower live_instances, or raise memory_budget"
                        } else {
                            "lower live_instances or raise memory_budget"
                        }
                    ));
                    say(&format!("  dropped: {}", c.pruned.as_deref().unwrap_or("")));
                    continue;
                }
            }
            Err(reason) => {
                c.pruned = Some(format!("memory probe failed: {reason}"));
                continue;
            }
        }
        finalists.push(i);
    }
    if finalists.is_empty() {
        let measured = cands
            .iter()
            .filter(|c| !c.reference && !c.scores.is_empty())
            .count();
        if measured == 0 {
            let reasons: Vec<String> = cands
                .iter()
                .filter(|c| !c.reference)
                .map(|c| {
                    format!(
                        "{}: {}",
                        c.variant.name,
                        c.pruned.as_deref().unwrap_or("not measured")
                    )
                })
                .collect();
            bail!(
                "no candidate meets the target; every one was dropped:\n  {}",
                reasons.join("\n  ")
            );
        }
        bail!(
            "no finalist fits the memory budget {} for live_instances = {live}; raise memory_budget or lower live_instances",
            mib(budget)
        );
    }

    // 5. Interleaved rounds: finalists and references, round-robin.
    let refs: Vec<usize> = (0..cands.len()).filter(|&i| cands[i].reference).collect();
    let per_round = finalists.len() + refs.len();
    let bar = progress.bar((per_round as u64) * u64::from(t.rounds), "re-measuring");
    for round in 0..t.rounds {
        if !progress.drawing() {
            say(&format!("round {}/{}", round + 1, t.rounds));
        }
        for &i in finalists.iter().chain(&refs) {
            bar.set_message(format!("round {}: {}", round + 1, cands[i].variant.name));
            if cands[i].pruned.is_none() {
                measure(&mut cands[i])?;
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let pick =
        pick_winner(&t, &cands, &finalists).context("every finalist failed its re-measurement")?;
    let winner = pick.winner;
    if let Some(r) = &pick.reason {
        say(&format!("tie: {r}"));
    }

    // 6. Outputs.
    let stamp = runner::file_stamp(&runner::now_rfc3339());
    let dir = opts
        .results_dir
        .join(&exp.name)
        .join(format!("{stamp}-tune"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let w = &cands[winner].variant;
    let tuned_toml = dir.join("tuned.toml");
    let note = cands[winner].note.as_deref();
    crate::files::write_atomic(&tuned_toml, tuned_toml_text(exp, w, &t, note)?.as_bytes())?;
    let summary = summary(exp, &t, &cands, &pick, &finalists);
    crate::files::write_atomic(&dir.join("summary.md"), summary.as_bytes())?;
    crate::export::write_all(w, &dir).with_context(|| {
        format!(
            "writing the exports (`pooling-lab export {}` writes them again)",
            tuned_toml.display()
        )
    })?;
    Ok(TuneOutput {
        candidates: cands,
        winner,
        dir,
        tuned_toml,
    })
}

/// `tuned.toml`: the winner's `[engine]` and `[pooling]` (only the keys it
/// sets), plus its guest, in the schema the library loads.
///
/// `note`, the winner's [`Candidate::note`], goes into the header.
pub fn tuned_toml_text(
    exp: &Experiment,
    w: &Variant,
    t: &TuneSettings,
    note: Option<&str>,
) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        engine: &'a EngineSettings,
        pooling: &'a PoolingSettings,
        guest: crate::settings::KindKeys<'a>,
        scenario: &'a crate::settings::ScenarioSettings,
    }
    let body = toml::to_string(&Out {
        engine: &w.engine,
        pooling: &w.pooling,
        guest: crate::settings::KindKeys(&w.guest),
        scenario: &w.scenario,
    })
    .context("writing tuned.toml")?;
    Ok(format!(
        "# Tuned by `pooling-lab tune {}` for objective {:?}, {} live sandboxes,\n\
         # memory budget {}. Winner: {}.\n\
         # Load it with pooling_lab::settings::Experiment::load and\n\
         # pooling_lab::settings::wasmtime_config (see examples/production.rs).\n{}\n\
         [experiment]\nname = \"tuned\"\n\n{body}",
        exp.path.display(),
        t.objective,
        t.live_instances,
        mib(t.memory_budget.0 as f64),
        w.name,
        note.map_or(String::new(), |n| format!("#\n# {}\n", wrap_comment(n)))
    ))
}

/// `text` as comment lines of at most about 90 characters (the first `# `
/// is the caller's).
fn wrap_comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + word.len() > 88 {
            out.push_str("\n# ");
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

/// The key in which candidate knobs `other` differ from the winner's `winner`
/// when it is the only one: its name, the winner's value and the other's
/// (`None`: unset there). Two candidates that differ in two keys, even with
/// one of them unset on each side, are not one knob apart.
fn one_knob_apart<'a>(
    winner: &'a [(String, serde_json::Value)],
    other: &'a [(String, serde_json::Value)],
) -> Option<(
    &'a str,
    &'a serde_json::Value,
    Option<&'a serde_json::Value>,
)> {
    let only_winner: Vec<_> = winner.iter().filter(|k| !other.contains(k)).collect();
    let only_other: Vec<_> = other.iter().filter(|k| !winner.contains(k)).collect();
    match (only_winner.as_slice(), only_other.as_slice()) {
        ([w], []) => Some((w.0.as_str(), &w.1, None)),
        ([w], [o]) if w.0 == o.0 => Some((w.0.as_str(), &w.1, Some(&o.1))),
        _ => None,
    }
}

/// Every key `v` sets, as `section.key` with its value: `[engine]`,
/// `[pooling]` (when pooled) and the `[guest]` keys of its kind (a host
/// setting such as `prefault` is a knob too).
fn set_knobs(v: &Variant) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&v.guest) {
        for (k, val) in map {
            if crate::settings::GuestSettings::applies(&k, v.guest.kind) {
                out.push((format!("guest.{k}"), val));
            }
        }
    }
    for (section, value) in [
        ("engine", serde_json::to_value(&v.engine)),
        ("pooling", serde_json::to_value(&v.pooling)),
    ] {
        if let Ok(serde_json::Value::Object(map)) = value {
            for (k, val) in map {
                if !val.is_null() && (section != "pooling" || v.is_pooling()) {
                    out.push((format!("{section}.{k}"), val));
                }
            }
        }
    }
    out
}

fn figure(c: &Candidate, objective: Objective) -> String {
    match (c.median(), objective) {
        (Some(m), Objective::SandboxesPerSecond) => format!("{m:.0} sandboxes/s"),
        (Some(m), Objective::P99TimeToReady) => format!("p99 ready {}", duration(-m)),
        (Some(m), Objective::RequestsPerSecond) => format!(
            "{m:.0} requests/s, request p99 {} (last measurement)",
            c.last
                .map_or("-".into(), |(_, l)| duration(l.p99_ns as f64))
        ),
        (Some(m), Objective::TenantsP99Instantiate) => format!(
            "p99 instantiate {}, peak Pss {}",
            duration(-m),
            c.run_memories.last().copied().map_or("-".into(), mib)
        ),
        (None, _) => "-".into(),
    }
}

fn summary(
    exp: &Experiment,
    t: &TuneSettings,
    cands: &[Candidate],
    pick: &Pick,
    finalists: &[usize],
) -> String {
    let winner = pick.winner;
    let w = &cands[winner];
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Tune of `{}` ({})\n\n{}\n\nObjective: {:?}; target: {} live sandboxes within {}.\n",
        exp.path.display(),
        runner::now_rfc3339(),
        crate::report::markdown::host_line(
            &crate::result::HostInfo::detect(),
            &exp.path.display().to_string()
        ),
        t.objective,
        t.live_instances,
        mib(t.memory_budget.0 as f64)
    );
    let _ = writeln!(
        s,
        "**Winner: `{}`** ({}, median of {} measurements{}).\n",
        w.variant.name,
        figure(w, t.objective),
        w.scores.len(),
        if pick.best == winner {
            ""
        } else {
            "; not the best median: see the tie below"
        }
    );
    if let Some(note) = &w.note {
        let _ = writeln!(s, "Measured with the winner: {note}\n");
    }
    if let Some(reason) = &pick.reason {
        let names: Vec<String> = pick
            .tied
            .iter()
            .map(|&i| format!("`{}`", cands[i].variant.name))
            .collect();
        let _ = writeln!(
            s,
            "Tie: {} are within the between-round noise: the range of each one's scores over all its measurements (first pass and every round, min to max) overlaps the range of the best median's. Among tied finalists the one that keeps the least resident at most (linear_memory_keep_resident x memory slots) wins, then the least measured memory, then the best median: {reason}.\n",
            and_list(&names)
        );
    }
    if let Some(server) = served_by(cands) {
        let _ = writeln!(s, "{server}\n");
    }
    s.push_str("| | objective (median) | measurements | disturbed | Pss per sandbox | fixed Pss |\n|---|---:|---:|---:|---:|---:|\n");
    for &i in finalists.iter().chain(
        (0..cands.len())
            .filter(|&i| cands[i].reference)
            .collect::<Vec<_>>()
            .iter(),
    ) {
        let c = &cands[i];
        let (fixed, per) = c
            .memory
            .map_or(("-".into(), "-".into()), |(f, p)| (mib(f), mib(p)));
        let _ = writeln!(
            s,
            "| {}{} | {} | {} | {} | {per} | {fixed} |",
            c.variant.name,
            if i == winner { " (winner)" } else { "" },
            figure(c, t.objective),
            c.scores.len(),
            c.disturbed
        );
    }
    let ratio = |name: &str| {
        cands
            .iter()
            .find(|c| c.variant.name == name)
            .and_then(|r| Some((w.median()?, r.median()?)))
            .map(|(a, b)| match t.objective {
                Objective::SandboxesPerSecond | Objective::RequestsPerSecond => a / b,
                Objective::P99TimeToReady | Objective::TenantsP99Instantiate => b / a,
            })
    };
    let disturbed: u32 = cands.iter().map(|c| c.disturbed).sum();
    let _ = writeln!(
        s,
        "\n{} of the measurements above were taken while other processes used more than {:.0}% of the CPU{}.",
        disturbed,
        exp.meta
            .disturbed_cpu_share
            .unwrap_or(crate::measure::disturbance::DEFAULT_THRESHOLD)
            * 100.0,
        if disturbed > 0 {
            " (the \"disturbed\" column): rerun the tune on a quiet machine before relying on close margins"
        } else {
            ""
        }
    );
    for r in cands.iter().filter(|c| c.reference) {
        if let Some(x) = ratio(&r.variant.name) {
            let _ = writeln!(
                s,
                "\nAgainst {}: **{x:.2}x** (same run, interleaved{}).",
                r.variant.name,
                if in_wasmtime_serve(&r.variant) {
                    ", both served by `wasmtime serve`"
                } else if crate::scenario::server(&r.variant) == Some(ServeServer::PoolingLab) {
                    ", both served by pooling-lab's server"
                } else {
                    ""
                }
            );
        }
    }
    // Which knobs did it: the winner with one knob put back, from the
    // candidates that were measured. A knob counts only when putting it
    // back lowered the objective beyond the noise: every measurement of
    // that candidate is below every measurement of the winner.
    let (helped, no_effect) = knob_effects(cands, w);
    s.push_str("\n## Which knobs did it\n\nEach row is a measured candidate that differs from the winner in one key only, and whose every measurement scored below every measurement of the winner (its range: the noise).\n\n| key | winner | other value | objective without it |\n|---|---|---|---:|\n");
    for (key, winner, other, c) in &helped {
        let _ = writeln!(
            s,
            "| {key} | {winner} | {} | {} |",
            other
                .as_ref()
                .map_or("(unset)".to_string(), |o| o.to_string()),
            figure(c, t.objective)
        );
    }
    if helped.is_empty() {
        s.push_str("| (none beyond the noise) | | | |\n");
    }
    if !no_effect.is_empty() {
        let _ = writeln!(
            s,
            "\nNo effect beyond the noise (the winner's measurements range {}): {}.",
            w.score_range().map_or("-".to_string(), |(lo, hi)| format!(
                "{} to {}",
                score_text(t.objective, lo),
                score_text(t.objective, hi)
            )),
            no_effect
                .iter()
                .map(|(key, winner, other, c)| format!(
                    "{key} = {winner} (with {}: {})",
                    other
                        .as_ref()
                        .map_or("(unset)".to_string(), |o| o.to_string()),
                    figure(c, t.objective)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    // Capacity planning from the winner's measured memory.
    if let Some((fixed, per)) = w.memory {
        let kept = kept_resident_bound(&w.variant) as f64;
        let _ = writeln!(
            s,
            "\n## Capacity\n\nFrom the winner's measured fixed Pss and Pss per sandbox, plus what its pool keeps resident at most ({} = linear_memory_keep_resident x {} memory slots, counted as fixed):\n\n| memory | sandboxes |\n|---:|---:|",
            size(kept),
            memory_slots(&w.variant)
        );
        for gib in [4u64, 8, 16] {
            let n = ((gib << 30) as f64 - fixed - kept).max(0.0) / per.max(1.0);
            let _ = writeln!(s, "| {gib} GiB | {:.0} |", n.floor());
        }
        if t.objective == Objective::RequestsPerSecond
            && let Some(m) = w.median()
        {
            let _ = writeln!(
                s,
                "\nRequests/s: {m:.0} measured on this host ({} CPUs), one fresh sandbox per request; a host of any memory size above serves as many as its CPUs allow, and the table bounds how many requests it can hold in flight at once (one live sandbox each).",
                std::thread::available_parallelism().map_or(0, |n| n.get())
            );
        }
        if w.variant.is_pooling() {
            let cfg = wasmtime::PoolingAllocationConfig::default();
            let slots = w
                .variant
                .pooling
                .total_memories
                .unwrap_or(cfg.get_total_memories());
            // wasmtime's defaults on 64-bit hosts (48 to 50): 4 GiB reservation, 32 MiB guard.
            let per_slot = w.variant.engine.memory_reservation.map_or(4 << 30, |b| b.0)
                + w.variant.engine.memory_guard_size.map_or(32 << 20, |b| b.0);
            let total = u64::from(slots) as f64 * per_slot as f64;
            let _ = writeln!(
                s,
                "\nAddress space: {slots} slots x {} (reservation + guard) = {:.1} TiB of the 128 TiB user address space, reserved when the Engine is created.",
                mib(per_slot as f64),
                total / (1u64 << 40) as f64
            );
        }
    }
    s.push_str(
        "\n## Every candidate\n\n| candidate | objective (median) | outcome |\n|---|---:|---|\n",
    );
    for c in cands {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            c.variant.name,
            figure(c, t.objective),
            c.pruned.as_deref().unwrap_or("measured")
        );
    }
    s
}

/// For a serving tune, which server measured the candidates and the
/// references, and what its gains are.
fn served_by(cands: &[Candidate]) -> Option<String> {
    let first = cands.iter().find(|c| !c.reference)?;
    let server = crate::scenario::server(&first.variant)?;
    Some(if server == ServeServer::WasmtimeServe {
        format!(
            "Server: candidates and references were all served by `wasmtime serve` itself (the wasmtime CLI{}): each candidate with its settings as `-O` flags, `{WASMTIME_SERVE_DEFAULTS}` with no flags (its own defaults, what production compares against) and `{ON_DEMAND}` with `-O pooling-allocator=n`. Each gain below is the ratio of medians measured in that server, in this run.",
            if first.variant.scenario.wasmtime_cli.is_empty() {
                String::new()
            } else {
                format!(" at `{}`", first.variant.scenario.wasmtime_cli)
            }
        )
    } else {
        format!(
            "Server: candidates and references were all served by pooling-lab's own server (the request path of `wasmtime serve` on each variant's engine and pool); `{WASMTIME_DEFAULT_POOLING}` is wasmtime's default pooling with the first candidate's slot counts and limits, not `wasmtime serve` itself. Each gain below is the ratio of medians measured in that server, in this run; `[scenario] server = \"wasmtime-serve\"` measures them in `wasmtime serve` against its defaults."
        )
    })
}

/// Reads the `[engine]` and `[pooling]` of a tuned file (or any experiment
/// file: its first variant) and builds the `wasmtime::Config` production uses.
pub fn load_tuned(path: &Path) -> Result<(wasmtime::Config, Variant)> {
    let exp = Experiment::load(path)?;
    let v = exp
        .variants
        .into_iter()
        .next()
        .context("the file expands to no variant")?;
    Ok((v.wasmtime_config(), v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn knobs(kv: &[(&str, serde_json::Value)]) -> Vec<(String, serde_json::Value)> {
        kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn candidates_are_one_knob_apart_only_in_the_same_key() {
        let w = knobs(&[
            ("guest.prefault", json!("untouched")),
            ("engine.a", json!(1)),
        ]);
        // The winner's knob unset in the other.
        let unset = knobs(&[("guest.prefault", json!("untouched"))]);
        assert_eq!(
            one_knob_apart(&w, &unset),
            Some(("engine.a", &json!(1), None))
        );
        // The same key with another value.
        let other = knobs(&[("guest.prefault", json!("all")), ("engine.a", json!(1))]);
        assert_eq!(
            one_knob_apart(&w, &other),
            Some(("guest.prefault", &json!("untouched"), Some(&json!("all"))))
        );
        // One key unset here and another set there: two knobs apart.
        let swapped = knobs(&[
            ("guest.prefault", json!("untouched")),
            ("engine.b", json!(8)),
        ]);
        assert_eq!(one_knob_apart(&w, &swapped), None);
        // A guest key and an engine key both differ: two knobs apart.
        let two = knobs(&[("guest.prefault", json!("none"))]);
        assert_eq!(one_knob_apart(&w, &two), None);
    }

    mod selection {
        //! The tune's candidate selection where a wrong comparison would pick the
        //! wrong winner silently (written for the mutation score, scripts/mutants.sh):
        //! a candidate's median and range, pruning at the edges of the slots and the
        //! memory budget, what the references keep of the first candidate, and which
        //! finalists are tied with the best median (ranges that touch are, ranges
        //! apart are not; pruned and unmeasured finalists never win). Nothing here
        //! measures.

        use crate::settings::{
            Allocator, ByteSize, Experiment, Objective, PoolingSettings, TuneSettings, Variant,
        };
        use crate::tune::{self, Candidate};
        use std::path::Path;

        fn experiment(toml: &str) -> Experiment {
            crate::scenario::parse(Path::new("t.toml"), toml).unwrap()
        }

        fn target(live_instances: u32, memory_budget: u64) -> TuneSettings {
            TuneSettings {
                objective: Objective::SandboxesPerSecond,
                live_instances,
                memory_budget: ByteSize(memory_budget),
                finalists: 3,
                rounds: 2,
                p99_target_ms: 0.0,
                idle_share: 0.0,
            }
        }

        fn variant<'a>(exp: &'a Experiment, name: &str) -> &'a Variant {
            exp.variants.iter().find(|v| v.name == name).unwrap()
        }

        fn scored(v: &Variant, scores: &[f64]) -> Candidate {
            let mut c = Candidate::new(v.clone(), false);
            c.scores = scores.to_vec();
            c
        }

        #[test]
        fn a_candidates_median_is_its_middle_score_and_its_range_min_to_max() {
            let exp = experiment("[scenario]\nkind = \"churn\"\n");
            let v = &exp.variants[0];
            let c = scored(v, &[30.0, 10.0, 20.0]);
            assert_eq!(c.median(), Some(20.0));
            assert_eq!(c.score_range(), Some((10.0, 30.0)));
            // Even count: the upper of the two middle scores (scores are higher-is-better).
            let c = scored(v, &[40.0, 10.0, 30.0, 20.0]);
            assert_eq!(c.median(), Some(30.0));
            assert_eq!(c.score_range(), Some((10.0, 40.0)));
            let c = scored(v, &[7.0]);
            assert_eq!((c.median(), c.score_range()), (Some(7.0), Some((7.0, 7.0))));
            let c = scored(v, &[]);
            assert_eq!((c.median(), c.score_range()), (None, None));
        }

        #[test]
        fn memory_samples_are_the_runs_own_else_the_probes_fixed_plus_live_times_per_sandbox() {
            let exp = experiment("[scenario]\nkind = \"churn\"\n");
            let v = &exp.variants[0];
            let mut c = scored(v, &[1.0]);
            assert!(c.memory_samples(10).is_empty());
            assert_eq!((c.measured_memory(10), c.memory_range(10)), (None, None));
            // The probe: fixed 100 + 10 live x 3 per sandbox, measured once:
            // a figure but no noise.
            c.memory = Some((100.0, 3.0));
            assert_eq!(c.memory_samples(10), vec![130.0]);
            assert_eq!(c.memory_samples(4), vec![112.0]);
            assert_eq!(c.measured_memory(10), Some(130.0));
            assert_eq!(c.memory_range(10), None);
            // The runs' own figures take precedence: median and min-max.
            c.run_memories = vec![50.0, 20.0, 40.0];
            assert_eq!(c.memory_samples(10), vec![50.0, 20.0, 40.0]);
            assert_eq!(c.measured_memory(10), Some(40.0));
            assert_eq!(c.memory_range(10), Some((20.0, 50.0)));
            c.run_memories = vec![60.0, 60.0];
            assert_eq!(c.memory_range(10), Some((60.0, 60.0)));
        }

        #[test]
        fn memory_orders_two_candidates_only_when_their_ranges_are_apart() {
            let exp = experiment("[scenario]\nkind = \"churn\"\n");
            let v = &exp.variants[0];
            let with = |mem: &[f64]| {
                let mut c = scored(v, &[1.0]);
                c.run_memories = mem.to_vec();
                c
            };
            use std::cmp::Ordering::{Equal, Greater, Less};
            let low = with(&[10.0, 12.0]);
            let high = with(&[20.0, 25.0]);
            assert_eq!(tune::memory_order(&low, &high, 1), Less);
            assert_eq!(tune::memory_order(&high, &low, 1), Greater);
            // Ranges that touch or overlap: a tie, either way round.
            let touching = with(&[12.0, 30.0]);
            assert_eq!(tune::memory_order(&low, &touching, 1), Equal);
            assert_eq!(tune::memory_order(&touching, &low, 1), Equal);
            let inside = with(&[21.0, 22.0]);
            assert_eq!(tune::memory_order(&high, &inside, 1), Equal);
            // Measured once: its noise is unknown, a tie however far apart.
            let once = with(&[100.0]);
            assert_eq!(tune::memory_order(&low, &once, 1), Equal);
            assert_eq!(tune::memory_order(&once, &low, 1), Equal);
        }

        const SLOTS: &str = r#"
        [engine]
        allocator = "pooling"
        [scenario]
        kind = "churn"
        [[variant]]
        name = "sixteen"
        [variant.pooling]
        total_core_instances = 16
        total_memories = 16
        [[variant]]
        name = "few-memories"
        [variant.pooling]
        total_core_instances = 100
        total_memories = 10
        [[variant]]
        name = "few-instances"
        [variant.pooling]
        total_core_instances = 10
        total_memories = 100
        [[variant]]
        name = "kept"
        [variant.pooling]
        total_core_instances = 16
        total_memories = 16
        linear_memory_keep_resident = "1MiB"
        [[variant]]
        name = "on-demand"
        [variant.engine]
        allocator = "on-demand"
        [variant.pooling]
        total_core_instances = 1
        total_memories = 1
        linear_memory_keep_resident = "1GiB"
        "#;

        #[test]
        fn pruning_holds_exactly_live_instances_and_exactly_the_budget() {
            let exp = experiment(SLOTS);
            let prune = |name: &str, live: u32, budget: u64| {
                tune::prune_before_measuring(variant(&exp, name), &target(live, budget))
            };
            // 16 slots hold 16 live sandboxes, not 17.
            assert_eq!(prune("sixteen", 16, 1 << 30), None);
            let why = prune("sixteen", 17, 1 << 30).unwrap();
            assert!(
                why.contains("16 pool slots cannot hold live_instances = 17"),
                "{why}"
            );
            // The fewer of instances and memories is the slot count.
            for name in ["few-memories", "few-instances"] {
                assert_eq!(prune(name, 10, 1 << 30), None, "{name}");
                let why = prune(name, 11, 1 << 30).unwrap();
                assert!(why.contains("10 pool slots"), "{name}: {why}");
            }
            // 16 slots x 1 MiB kept: exactly 16 MiB fits a 16 MiB budget.
            let kept = variant(&exp, "kept");
            assert_eq!(tune::memory_slots(kept), 16);
            assert_eq!(tune::kept_resident_bound(kept), 16 << 20);
            assert_eq!(prune("kept", 16, 16 << 20), None);
            let why = prune("kept", 16, (16 << 20) - 1).unwrap();
            assert!(why.contains("exceeds the memory budget"), "{why}");
            // Nothing kept: any budget.
            assert_eq!(tune::kept_resident_bound(variant(&exp, "sixteen")), 0);
            assert_eq!(prune("sixteen", 1, 0), None);
            // On-demand has no pool: no slots, nothing kept, whatever [pooling] says.
            let od = variant(&exp, "on-demand");
            assert_eq!(od.engine.allocator, Some(Allocator::OnDemand));
            assert_eq!(tune::memory_slots(od), 0);
            assert_eq!(tune::kept_resident_bound(od), 0);
            assert_eq!(prune("on-demand", 1000, 0), None);
        }

        #[test]
        fn references_keep_what_the_guest_needs_of_the_first_candidate() {
            let exp = experiment(
                r#"
        [engine]
        allocator = "pooling"
        max_wasm_stack = "1MiB"
        async_stack_size = "2MiB"
        memory_init_cow = false
        [pooling]
        total_core_instances = 48
        total_memories = 40
        total_tables = 44
        total_gc_heaps = 36
        max_memory_size = "128MiB"
        table_elements = 5000
        max_core_instance_size = "2MiB"
        linear_memory_keep_resident = "1MiB"
        decommit_batch_size = 4
        [scenario]
        kind = "churn"
        "#,
            );
            let first = &exp.variants[0];
            let refs = tune::references(first);
            assert_eq!(refs.len(), 2);
            let (main, on_demand) = (&refs[0], &refs[1]);
            assert_eq!(main.name, tune::WASMTIME_DEFAULT_POOLING);
            assert_eq!(main.engine.allocator, Some(Allocator::Pooling));
            // The guest's needs, kept.
            for e in [&main.engine, &on_demand.engine] {
                assert_eq!(e.max_wasm_stack, first.engine.max_wasm_stack);
                assert_eq!(e.async_stack_size, first.engine.async_stack_size);
                assert!(e.max_wasm_stack.is_some() && e.async_stack_size.is_some());
                // What is tuned, not.
                assert_eq!(e.memory_init_cow, None);
            }
            let p = &first.pooling;
            assert_eq!(
                main.pooling,
                PoolingSettings {
                    total_core_instances: p.total_core_instances,
                    total_memories: p.total_memories,
                    total_tables: p.total_tables,
                    total_gc_heaps: p.total_gc_heaps,
                    max_memory_size: p.max_memory_size,
                    table_elements: p.table_elements,
                    max_core_instance_size: p.max_core_instance_size,
                    ..PoolingSettings::default()
                }
            );
            assert!(
                p.total_gc_heaps.is_some()
                    && p.table_elements.is_some()
                    && p.max_core_instance_size.is_some()
            );
            assert_eq!(on_demand.name, tune::ON_DEMAND);
            assert_eq!(on_demand.engine.allocator, Some(Allocator::OnDemand));
            assert_eq!(on_demand.pooling, PoolingSettings::default());
        }

        /// `a` keeps 64 MiB resident in each of 64 slots, `b` 4 MiB, `c` nothing.
        const KEEPS: &str = r#"
        [engine]
        allocator = "pooling"
        [pooling]
        total_core_instances = 64
        total_memories = 64
        [scenario]
        kind = "churn"
        [[variant]]
        name = "a"
        [variant.pooling]
        linear_memory_keep_resident = "64MiB"
        [[variant]]
        name = "b"
        [variant.pooling]
        linear_memory_keep_resident = "4MiB"
        [[variant]]
        name = "c"
        "#;

        fn keeps(scores: [&[f64]; 3]) -> Vec<Candidate> {
            let exp = experiment(KEEPS);
            ["a", "b", "c"]
                .iter()
                .zip(scores)
                .map(|(name, s)| scored(variant(&exp, name), s))
                .collect()
        }

        #[test]
        fn ranges_that_touch_are_tied_and_ranges_apart_are_not() {
            let t = target(16, 8 << 30);
            // a is best (median 20, range 10-30); b's range ends at a's lowest
            // score (touching: tied); c's ends below it (apart), and c keeps the
            // least resident, but is not within noise of the best.
            let cands = keeps([&[10.0, 20.0, 30.0], &[5.0, 8.0, 10.0], &[1.0, 2.0, 9.0]]);
            let pick = tune::pick_winner(&t, &cands, &[0, 1, 2]).unwrap();
            assert_eq!(pick.best, 0);
            assert_eq!(pick.tied, [0, 1]);
            assert_eq!(pick.winner, 1, "{pick:?}");
            let reason = pick.reason.unwrap();
            assert!(reason.starts_with("chose `b`"), "{reason}");
            assert!(reason.contains("resident at most against"), "{reason}");
            // The finalists in another order: the same choice.
            let pick = tune::pick_winner(&t, &cands, &[2, 1, 0]).unwrap();
            assert_eq!((pick.best, pick.winner), (0, 1));
            assert_eq!(pick.tied, [0, 1]);

            // c's range reaches a's lowest score: three tied, c keeps least.
            let cands = keeps([&[10.0, 20.0, 30.0], &[5.0, 8.0, 10.0], &[1.0, 2.0, 10.0]]);
            let pick = tune::pick_winner(&t, &cands, &[0, 1, 2]).unwrap();
            assert_eq!((pick.best, pick.winner), (0, 2));
            assert_eq!(pick.tied, [0, 1, 2]);

            // The best one keeps the least: it wins, and says so.
            let cands = keeps([&[1.0, 2.0, 9.0], &[5.0, 8.0, 10.0], &[10.0, 20.0, 30.0]]);
            let pick = tune::pick_winner(&t, &cands, &[0, 1, 2]).unwrap();
            assert_eq!((pick.best, pick.winner), (2, 2));
            assert_eq!(pick.tied, [2, 1]);
            let reason = pick.reason.unwrap();
            assert!(reason.starts_with("chose `c`: the best median"), "{reason}");

            // Alone within its noise: the best median wins, no tie, no reason.
            let cands = keeps([&[10.0, 20.0, 30.0], &[5.0, 8.0, 9.0], &[1.0, 2.0, 9.5]]);
            let pick = tune::pick_winner(&t, &cands, &[0, 1, 2]).unwrap();
            assert_eq!((pick.best, pick.winner), (0, 0));
            assert!(pick.tied.is_empty());
            assert_eq!(pick.reason, None);
        }

        #[test]
        fn a_tie_at_the_same_bound_is_explained_by_memory_or_as_the_same_memory() {
            let t = target(16, 8 << 30);
            // c1 the best median; c2 tied with it, the same bound (nothing
            // kept by either).
            let exp = experiment(KEEPS);
            let mut c1 = scored(variant(&exp, "c"), &[20.0, 30.0, 40.0]);
            let mut c2 = scored(variant(&exp, "c"), &[10.0, 20.0, 25.0]);
            c2.variant.name = "c2".into();
            // c2 measured less memory beyond its noise: it wins, for that.
            c1.run_memories = vec![100.0, 110.0];
            c2.run_memories = vec![50.0, 60.0];
            let cands = vec![c1.clone(), c2.clone()];
            let pick = tune::pick_winner(&t, &cands, &[0, 1]).unwrap();
            assert_eq!((pick.best, pick.winner), (0, 1), "{pick:?}");
            let reason = pick.reason.unwrap();
            assert!(
                reason.starts_with("chose `c2`: keeps as much resident at most as `c`"),
                "{reason}"
            );
            assert!(
                reason.contains("measured less memory beyond its noise"),
                "{reason}"
            );
            // Memory within its noise: the best median wins and the reason
            // names the tied one with its memory.
            c2.run_memories = vec![95.0, 105.0];
            let cands = vec![c1, c2];
            let pick = tune::pick_winner(&t, &cands, &[0, 1]).unwrap();
            assert_eq!((pick.best, pick.winner), (0, 0), "{pick:?}");
            let reason = pick.reason.unwrap();
            assert!(reason.starts_with("chose `c`: the best median"), "{reason}");
            assert!(reason.contains("`c2` "), "{reason}");

            // Memory is compared pair by pair: X beats the best B on memory,
            // W ties X's memory with a better median, and W's memory ties B's.
            // W wins with the same memory as the other two, named.
            let with = |name: &str, scores: &[f64], mem: &[f64]| {
                let mut c = scored(variant(&exp, "c"), scores);
                c.variant.name = name.into();
                c.run_memories = mem.to_vec();
                c
            };
            let cands = vec![
                with("B", &[20.0, 30.0, 40.0], &[50.0, 60.0]),
                with("X", &[15.0, 20.0, 25.0], &[40.0, 49.0]),
                with("W", &[18.0, 25.0, 28.0], &[45.0, 52.0]),
            ];
            let pick = tune::pick_winner(&t, &cands, &[0, 1, 2]).unwrap();
            assert_eq!((pick.best, pick.winner), (0, 2), "{pick:?}");
            let reason = pick.reason.unwrap();
            assert!(
                reason.ends_with("with the same memory as `B` and `X`"),
                "{reason}"
            );
        }

        #[test]
        fn a_knob_helped_only_when_every_measurement_without_it_scored_below_the_winners() {
            let exp = experiment(KEEPS);
            let winner = scored(variant(&exp, "a"), &[100.0, 110.0]);
            let one_apart = |name: &str, scores: &[f64]| {
                let mut c = scored(variant(&exp, "a"), scores);
                c.variant.name = name.into();
                c.variant.pooling.linear_memory_keep_resident = None;
                c
            };
            let mut reference = one_apart("ref", &[10.0]);
            reference.reference = true;
            let cands = vec![
                winner.clone(),
                // Every score below the winner's lowest: helped.
                one_apart("below", &[50.0, 99.0]),
                // One score reaches the winner's lowest: no effect beyond noise.
                one_apart("touching", &[50.0, 100.0]),
                // Not measured, and a reference: neither list.
                one_apart("unmeasured", &[]),
                reference,
            ];
            let (helped, none) = tune::knob_effects(&cands, &winner);
            let names = |v: &[tune::KnobEffect<'_>]| {
                v.iter()
                    .map(|e| e.3.variant.name.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(names(&helped), ["below"]);
            assert_eq!(names(&none), ["touching"]);
            assert_eq!(helped[0].0, "pooling.linear_memory_keep_resident");
            assert_eq!(helped[0].2, None, "the other value is unset");
        }

        #[test]
        fn equal_medians_go_to_the_first_finalist_and_the_pruned_never_win() {
            let t = target(16, 8 << 30);
            // Two finalists with the same scores and the same bound (nothing
            // kept): the first among the finalists is the best, and wins.
            let exp = experiment(KEEPS);
            let c1 = scored(variant(&exp, "c"), &[10.0, 20.0, 30.0]);
            let mut c2 = scored(variant(&exp, "c"), &[10.0, 20.0, 30.0]);
            c2.variant.name = "c2".into();
            let cands = vec![c1, c2];
            let pick = tune::pick_winner(&t, &cands, &[0, 1]).unwrap();
            assert_eq!((pick.best, pick.winner), (0, 0), "{pick:?}");
            assert_eq!(pick.tied, [0, 1]);
            let pick = tune::pick_winner(&t, &cands, &[1, 0]).unwrap();
            assert_eq!((pick.best, pick.winner), (1, 1), "{pick:?}");

            // The best scores, but pruned: out of the running (and of any tie).
            let mut cands = keeps([
                &[100.0, 200.0, 300.0],
                &[10.0, 20.0, 30.0],
                &[1.0, 2.0, 3.0],
            ]);
            cands[0].pruned = Some("exceeds the memory budget".into());
            let pick = tune::pick_winner(&t, &cands, &[0, 1, 2]).unwrap();
            assert_eq!((pick.best, pick.winner), (1, 1));
            assert!(pick.tied.is_empty());
            // Not measured: out too.
            let cands = keeps([&[], &[10.0, 20.0, 30.0], &[1.0, 2.0, 3.0]]);
            let pick = tune::pick_winner(&t, &cands, &[0, 1, 2]).unwrap();
            assert_eq!((pick.best, pick.winner), (1, 1));
            // No finalist measured and unpruned: no winner.
            let mut cands = keeps([&[], &[10.0], &[]]);
            cands[1].pruned = Some("too slow".into());
            assert_eq!(tune::pick_winner(&t, &cands, &[0, 1, 2]), None);
            assert_eq!(tune::pick_winner(&t, &cands, &[]), None);
        }
    }
}
