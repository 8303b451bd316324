//! Scenario `scaling`: hold N live instances and measure memory at each N.
//!
//! Each instance has its own `Store` and has run its workload once. Readings:
//! at process start, after the engine is built, after the module is loaded
//! (the base for per-instance figures), and after each step of `counts`.
//! Per-instance cost = (reading after N - reading after module load) / N.

use crate::guest::Prepared;
use crate::guest::Sandbox;
use crate::host::Host;
use crate::measure::memory::{self, MemorySample, PerInstance};
use crate::metric::{Better, Comparison, Headline, MIN_PROCESS_BYTES, MIN_RELATIVE, Unit, ratio};
use crate::settings::{Sharing, Variant};
use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use wasmtime::Store;

/// Memory after one step of the scaling scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScalingStep {
    /// Live instances held when this reading was taken.
    pub live_instances: u32,
    /// The reading.
    pub memory: MemorySample,
    /// (this reading - `after_module`) / `live_instances`.
    pub per_instance: PerInstance,
    /// Mean time of `InstancePre::instantiate` over the instances added in this step.
    pub instantiate_mean_ns: f64,
    /// Mean time of the first workload call over the instances added in this step.
    pub call_mean_ns: f64,
}

/// Result of the scaling scenario for one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScalingResult {
    /// Reading when the measuring process started.
    pub process_start: MemorySample,
    /// Reading after the engine was built (pooling reserves its slots here).
    pub after_engine: MemorySample,
    /// Reading after the module was loaded and linked: the base of per-instance figures.
    pub after_module: MemorySample,
    /// Time to load the module (compile, deserialize or deserialize_file).
    pub module_load_ns: u64,
    /// One entry per count, ascending.
    pub steps: Vec<ScalingStep>,
}

/// Runs the scaling scenario in this process.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<ScalingResult> {
    let process_start = memory::sample()?;
    let engine = crate::guest::engine(variant)?;
    let after_engine = memory::sample()?;
    let prepared = crate::guest::prepare(engine, variant, artifact)?;
    let after_module = memory::sample()?;

    let max = variant.scenario.counts.last().copied().unwrap_or(0) as usize;
    // Each sandbox's own engine and module, when `sharing` is not `shared`.
    let mut live: Vec<(Store<Host>, Sandbox, Option<Prepared>)> = Vec::with_capacity(max);
    let mut steps = Vec::with_capacity(variant.scenario.counts.len());
    crate::progress::set_total(max as u64, "live instances");
    for &count in &variant.scenario.counts {
        let added = (count as usize).saturating_sub(live.len());
        let (mut inst_ns, mut call_ns) = (0u128, 0u128);
        while live.len() < count as usize {
            let own = match variant.guest.sharing {
                Sharing::Shared => None,
                Sharing::ModulePerSandbox => Some(crate::guest::prepare(
                    prepared.engine.clone(),
                    variant,
                    artifact,
                )?),
                Sharing::EnginePerSandbox => Some(crate::guest::prepare(
                    crate::guest::engine(variant)?,
                    variant,
                    artifact,
                )?),
            };
            let (store, instance, i, c) =
                instantiate_and_call(own.as_ref().unwrap_or(&prepared), !variant.scenario.idle)
                    .with_context(|| format!("creating instance #{}", live.len() + 1))?;
            inst_ns += i;
            call_ns += c;
            live.push((store, instance, own));
            crate::progress::tick(1);
        }
        let reading = memory::sample()?;
        let n = added.max(1) as f64;
        steps.push(ScalingStep {
            live_instances: count,
            memory: reading,
            per_instance: PerInstance::between(&after_module, &reading, u64::from(count)),
            instantiate_mean_ns: inst_ns as f64 / n,
            call_mean_ns: call_ns as f64 / n,
        });
    }
    drop(live);
    Ok(ScalingResult {
        process_start,
        after_engine,
        after_module,
        module_load_ns: prepared.load_ns,
        steps,
    })
}

/// One sandbox: instantiated, then (when `call`) called once. Returns the
/// time of each (the call's 0 when not called).
fn instantiate_and_call(p: &Prepared, call: bool) -> Result<(Store<Host>, Sandbox, u128, u128)> {
    let mut store = p.new_store();
    let t = Instant::now();
    let mut sandbox = p.instantiate(&mut store)?;
    let inst_ns = t.elapsed().as_nanos();
    if !call {
        return Ok((store, sandbox, inst_ns, 0));
    }
    let t = Instant::now();
    p.call(&mut store, &mut sandbox)
        .map_err(|e| anyhow::anyhow!("calling the guest: {e:#}"))?;
    let call_ns = t.elapsed().as_nanos();
    Ok((store, sandbox, inst_ns, call_ns))
}

/// `v` measuring memory with one and with `live` instances alive.
pub fn probe(v: &Variant, live: u32) -> Variant {
    let mut probe = v.clone();
    probe.scenario.kind = crate::settings::ScenarioKind::Scaling;
    probe.scenario.counts = vec![1, live];
    probe
}

/// How to read the memory columns; printed under the per-instance table.
const READING_GUIDE: &str = "\
Trust **Pss** (and Private_Dirty). VmRSS counts a page once per mapping, so N \
instances mapping one copy-on-write image each count the whole image: VmRSS per \
instance overstates what an extra sandbox costs. Pss divides shared pages among \
their sharers; Private_Dirty is what each instance wrote. Per-instance = \
(reading after N live instances - reading after the module was loaded) / N.";

/// What the per-instance table's two latency columns time; printed under it.
const SCALING_LATENCY: &str = "\
Latency, mean over the instances added in that step: instantiate = \
`InstancePre::instantiate` of a new sandbox; first call = its first workload \
call, which includes the guest's own start-up (a reactor's `_initialize`, a \
plan's `init` calls) unless it starts from a snapshot. For percentiles, run \
the churn scenario.";

/// The side-by-side table of per-instance memory, grouped by live-instance count.
fn memory_table(rows: &[super::interface::Row<'_, ScalingResult>]) -> String {
    use crate::units::{duration, gib, mib};
    use std::fmt::Write as _;
    let mut counts: Vec<u32> = rows
        .iter()
        .flat_map(|r| r.result.steps.iter().map(|st| st.live_instances))
        .collect();
    counts.sort_unstable();
    counts.dedup();
    let mut out = String::new();
    out.push_str("| N | variant | Pss / inst | Private_Dirty / inst | VmRSS / inst | minor faults / inst | total Pss | VmSize | instantiate (mean) | first call (mean) |\n");
    out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for n in counts {
        for row in rows {
            let Some(step) = row.result.steps.iter().find(|s| s.live_instances == n) else {
                continue;
            };
            let p = &step.per_instance;
            // An idle scenario holds its instances without calling them.
            let first_call = if row.settings.scenario.idle {
                "not called".into()
            } else {
                duration(step.call_mean_ns)
            };
            let _ = writeln!(
                out,
                "| {n} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {first_call} |",
                row.label,
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
fn fixed_cost_table(rows: &[super::interface::Row<'_, ScalingResult>]) -> String {
    use crate::units::{duration, gib, mib};
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str(
        "| variant | engine: Pss added | engine: VmSize added | module loaded: Pss added | module load time |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|\n");
    for row in rows {
        let s = row.result;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.label,
            mib(s.after_engine.pss_bytes as f64 - s.process_start.pss_bytes as f64),
            gib(s.after_engine.vm_size_bytes as f64 - s.process_start.vm_size_bytes as f64),
            mib(s.after_module.pss_bytes as f64 - s.after_engine.pss_bytes as f64),
            duration(s.module_load_ns as f64),
        );
    }
    out
}

/// Least-squares fit of total Pss against live instances, per variant.
fn fit_table(rows: &[super::interface::Row<'_, ScalingResult>]) -> String {
    use crate::units::mib;
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | slope: Pss per instance | intercept: shared Pss | R² |\n");
    out.push_str("|---|---:|---:|---:|\n");
    for row in rows {
        let points: Vec<(f64, f64)> = row
            .result
            .steps
            .iter()
            .map(|st| (f64::from(st.live_instances), st.memory.pss_bytes as f64))
            .collect();
        let Some(f) = crate::measure::fit::linear_fit(&points) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.4} |",
            row.name,
            mib(f.slope),
            mib(f.intercept),
            f.r2
        );
    }
    out
}

/// The scaling scenario: N live instances held at once, memory read at each N.
pub struct Scaling;

impl super::interface::Scenario for Scaling {
    type Result = ScalingResult;
    const KIND: crate::settings::ScenarioKind = crate::settings::ScenarioKind::Scaling;

    /// The largest of `counts`.
    fn max_live(s: &crate::settings::ScenarioSettings) -> (u32, &'static str) {
        (s.counts.last().copied().unwrap_or(1), "counts")
    }

    /// The two smallest counts, each at most 4: two steps, so the
    /// per-instance slope is still computed.
    fn replay_cut(s: &mut crate::settings::ScenarioSettings) {
        let mut counts: Vec<u32> = s.counts.iter().map(|&c| c.min(4)).collect();
        counts.dedup();
        counts.truncate(2);
        s.counts = counts;
    }

    /// `counts`: at least one live-instance count, each at least 1; no
    /// engine per sandbox with the pooling allocator beyond one sandbox.
    fn validate(v: &Variant) -> std::result::Result<(), crate::settings::Problem> {
        use crate::settings::{Allocator, Problem, Sharing};
        let s = &v.scenario;
        if s.counts.is_empty() || s.counts[0] == 0 {
            return Err(Problem {
                section: "scenario",
                key: "counts",
                message: "counts must list at least one live-instance count, each at least 1"
                    .into(),
                fix: "e.g. counts = [1, 10, 100]".into(),
            });
        }
        let (max_count, _) = Self::max_live(s);
        if v.guest.sharing == Sharing::EnginePerSandbox
            && v.engine.allocator == Some(Allocator::Pooling)
            && max_count > 1
        {
            return Err(Problem {
                section: "guest",
                key: "sharing",
                message: format!(
                    "engine-per-sandbox with the pooling allocator makes {max_count} engines, and each reserves a whole pool of its own (total_memories slots of address space, ~4 TiB with the defaults): the kernel refuses after a few"
                ),
                fix: "measure this anti-pattern with [engine] allocator = \"on-demand\", or use sharing = \"shared\" with pooling".into(),
            });
        }
        Ok(())
    }

    fn run(
        v: &Variant,
        artifact: Option<&Path>,
    ) -> Result<(ScalingResult, Option<crate::measure::latency::Histograms>)> {
        Ok((run(v, artifact)?, None))
    }

    /// Per-instance Pss and Private_Dirty at every N.
    fn headlines(s: &ScalingResult) -> Vec<Headline> {
        let mut out = Vec::new();
        for st in &s.steps {
            let n = st.live_instances;
            for (metric, value) in [
                ("Pss / instance", st.per_instance.pss_bytes),
                (
                    "Private_Dirty / instance",
                    st.per_instance.private_dirty_bytes,
                ),
            ] {
                out.push(Headline {
                    metric: format!("{metric} @ N={n}"),
                    value,
                    unit: Unit::Bytes,
                    better: Better::Lower,
                    within_rel: MIN_RELATIVE,
                    floor_abs: MIN_PROCESS_BYTES / f64::from(n.max(1)),
                    timing: false,
                    judged: true,
                });
            }
        }
        out
    }

    /// Pss per instance at the largest N.
    fn primary(s: &ScalingResult) -> Option<f64> {
        s.steps.last().map(|st| st.per_instance.pss_bytes)
    }

    /// Baseline Pss per instance / this variant's, at the largest N both measured.
    fn vs_baseline(b: &ScalingResult, x: &ScalingResult, c: &mut Comparison) {
        let common = x.steps.iter().rev().find_map(|xs| {
            b.steps
                .iter()
                .find(|bs| bs.live_instances == xs.live_instances)
                .map(|bs| (bs, xs))
        });
        if let Some((bs, xs)) = common {
            c.pss_per_instance_ratio = ratio(bs.per_instance.pss_bytes, xs.per_instance.pss_bytes);
        }
    }

    fn memory_steps(s: &ScalingResult) -> Vec<super::interface::MemoryStep<'_>> {
        s.steps
            .iter()
            .map(|st| super::interface::MemoryStep {
                live_instances: st.live_instances,
                total: &st.memory,
                per_instance: &st.per_instance,
            })
            .collect()
    }

    fn memory_cost(s: &ScalingResult) -> Option<super::interface::MemoryCost> {
        let step = s.steps.last()?;
        Some(super::interface::MemoryCost {
            fixed_pss_bytes: s.after_module.pss_bytes as f64,
            per_instance_pss_bytes: step.per_instance.pss_bytes,
        })
    }

    /// Per-instance memory at every N, the fixed costs and the linear fit.
    fn report(
        rows: &[super::interface::Row<'_, ScalingResult>],
        _ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        let mut out = String::from("## Per-instance memory\n\n");
        out.push_str(&memory_table(rows));
        out.push_str(&format!("\n{READING_GUIDE}\n\n{SCALING_LATENCY}\n\n"));
        out.push_str("## Fixed cost (before any instance)\n\nEach figure is a change: what making the engine added to the process (its Pss and its address space, VmSize: a pool's reservation shows here), then what loading the module added on top.\n\n");
        out.push_str(&fixed_cost_table(rows));
        out.push_str(
            "\n## Does it scale linearly?\n\nLeast-squares line through total Pss at each N: \
             the slope is what one more instance costs, the intercept what all share, \
             R² how straight the line is.\n\n",
        );
        out.push_str(&fit_table(rows));
        out
    }

    /// The per-instance table.
    fn summary(
        rows: &[super::interface::Row<'_, ScalingResult>],
        _ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        memory_table(rows)
    }
}
