//! Scenario `session` (the seed's scenario C): one sandbox running K
//! executions against K fresh sandboxes running one each.
//!
//! * **session**: instantiate once and run once (setup), then K calls of the
//!   workload in the same store. Per-execution latency, page faults and memory growth (state that
//!   accumulates in a reused sandbox shows up here).
//! * **fresh**: K times instantiate -> call -> drop. Per-execution latency
//!   includes instantiation and teardown: the price of a clean slate.

use crate::measure::latency;
use crate::measure::latency::{Histograms, PhaseLatency};
use crate::measure::memory::{self, MemorySample};
use crate::metric::{Comparison, Headline, p50_speedups, phase_headlines};
use crate::settings::Variant;
use anyhow::{Result, anyhow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Instant, SystemTime};

/// Phase names, in report order.
pub const PHASES: [&str; 2] = ["session-exec", "fresh-exec"];

/// Result of the session scenario for one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionResult {
    /// Executions in each mode.
    pub executions: u64,
    /// Instantiating the session's one sandbox and its first (untimed) execution.
    pub session_setup_ns: u64,
    /// `session-exec` (one call in the reused sandbox) and `fresh-exec`
    /// (instantiate + call + drop).
    pub phases: Vec<PhaseLatency>,
    /// fresh p50 / session p50: what reusing a sandbox saves per execution.
    pub fresh_over_session_p50: f64,
    /// Minor page faults per execution in the session.
    pub session_minor_faults_per_exec: f64,
    /// Minor page faults per fresh execution.
    pub fresh_minor_faults_per_exec: f64,
    /// Memory after the session's sandbox was made and ran once (before the K timed executions).
    pub session_memory_before: MemorySample,
    /// Memory after its K executions, sandbox still alive.
    pub session_memory_after: MemorySample,
    /// Pss growth per execution over the second half of the session's
    /// executions: the slope, free of one-time effects (code paths and
    /// buffers first touched in the first half). The leak signal.
    pub session_pss_growth_per_exec_bytes: f64,
    /// Memory before the fresh executions.
    pub fresh_memory_before: MemorySample,
    /// Memory after them.
    pub fresh_memory_after: MemorySample,
}

/// Runs the session scenario in this process.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<(SessionResult, Histograms)> {
    let engine = crate::guest::engine(variant)?;
    let p = crate::guest::prepare(engine, variant, artifact)?;
    let k = variant.scenario.iterations;
    let started = SystemTime::now();
    let wall = Instant::now();

    // Session: one sandbox, K executions.
    let t = Instant::now();
    let mut store = p.new_store();
    let mut sandbox = p
        .instantiate(&mut store)
        .map_err(|e| anyhow!("instantiating the session sandbox: {e:#}"))?;
    // The first execution is part of setting the session up: it is where
    // the sandbox's working set is first touched.
    p.call(&mut store, &mut sandbox)
        .map_err(|e| anyhow!("session first execution: {e:#}"))?;
    let session_setup_ns = t.elapsed().as_nanos() as u64;
    let session_memory_before = memory::sample()?;
    crate::progress::set_total(k, "session executions");
    let mut session_h = latency::new_histogram();
    let half = k / 2;
    let mut session_memory_mid = session_memory_before;
    for i in 0..k {
        if i == half {
            session_memory_mid = memory::sample()?;
        }
        let t = Instant::now();
        p.call(&mut store, &mut sandbox)
            .map_err(|e| anyhow!("session execution {i}: {e:#}"))?;
        session_h.saturating_record(t.elapsed().as_nanos().max(1) as u64);
        crate::progress::tick(1);
    }
    let session_memory_after = memory::sample()?;
    p.teardown(store, sandbox);

    // Fresh: K sandboxes, one execution each.
    crate::progress::set_total(k, "fresh executions");
    let fresh_memory_before = memory::sample()?;
    let mut fresh_h = latency::new_histogram();
    for i in 0..k {
        let t = Instant::now();
        let mut store = p.new_store();
        let mut sandbox = p
            .instantiate(&mut store)
            .map_err(|e| anyhow!("fresh execution {i}: instantiating: {e:#}"))?;
        p.call(&mut store, &mut sandbox)
            .map_err(|e| anyhow!("fresh execution {i}: {e:#}"))?;
        p.teardown(store, sandbox);
        fresh_h.saturating_record(t.elapsed().as_nanos().max(1) as u64);
        crate::progress::tick(1);
    }
    let fresh_memory_after = memory::sample()?;

    let n = k.max(1) as f64;
    let faults = |a: &MemorySample, b: &MemorySample| {
        b.minor_faults.saturating_sub(a.minor_faults) as f64 / n
    };
    let result = SessionResult {
        executions: k,
        session_setup_ns,
        phases: vec![
            PhaseLatency::of(PHASES[0], &session_h),
            PhaseLatency::of(PHASES[1], &fresh_h),
        ],
        fresh_over_session_p50: fresh_h.value_at_quantile(0.5).max(1) as f64
            / session_h.value_at_quantile(0.5).max(1) as f64,
        session_minor_faults_per_exec: faults(&session_memory_before, &session_memory_after),
        fresh_minor_faults_per_exec: faults(&fresh_memory_before, &fresh_memory_after),
        session_pss_growth_per_exec_bytes: (session_memory_after.pss_bytes as f64
            - session_memory_mid.pss_bytes as f64)
            / (k - half).max(1) as f64,
        session_memory_before,
        session_memory_after,
        fresh_memory_before,
        fresh_memory_after,
    };
    Ok((
        result,
        Histograms {
            named: vec![
                (PHASES[0].to_string(), session_h),
                (PHASES[1].to_string(), fresh_h),
            ],
            started,
            wall: wall.elapsed(),
        },
    ))
}

/// One sandbox for K executions vs K fresh ones, one row per variant.
fn session_table(
    rows: &[super::interface::Row<'_, SessionResult>],
    ctx: &super::interface::ReportContext<'_>,
) -> String {
    use super::interface::{p50_p99, phase_summary as phase};
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("| variant | executions | session exec p50 / p99 | session exec p50 vs baseline | fresh exec p50 / p99 | fresh exec p50 vs baseline | fresh / session (p50) | faults / exec: session | faults / exec: fresh | session Pss growth / exec (2nd half) |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let s = row.result;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0}x | {:.1} | {:.1} | {:+.0} B |",
            row.label,
            s.executions,
            p50_p99(phase(&s.phases, "session-exec")),
            row.speedup_vs_baseline(ctx, "session-exec"),
            p50_p99(phase(&s.phases, "fresh-exec")),
            row.speedup_vs_baseline(ctx, "fresh-exec"),
            s.fresh_over_session_p50,
            s.session_minor_faults_per_exec,
            s.fresh_minor_faults_per_exec,
            s.session_pss_growth_per_exec_bytes,
        );
    }
    out
}

/// The session scenario: one sandbox for many executions vs a fresh one each.
pub struct Session;

impl super::interface::Scenario for Session {
    type Result = SessionResult;
    const KIND: crate::settings::ScenarioKind = crate::settings::ScenarioKind::Session;

    /// One sandbox, called again and again.
    fn max_live(_s: &crate::settings::ScenarioSettings) -> (u32, &'static str) {
        (1, "kind")
    }

    /// `iterations` and `threads` within bounds; a guest that can be reused.
    fn validate(v: &Variant) -> std::result::Result<(), crate::settings::Problem> {
        super::interface::check_iterations_and_threads(&v.scenario)?;
        super::interface::reusable_guest(v, "kind", "session runs many calls in one sandbox")
    }

    fn run(v: &Variant, artifact: Option<&Path>) -> Result<(SessionResult, Option<Histograms>)> {
        let (r, h) = run(v, artifact)?;
        Ok((r, Some(h)))
    }

    fn phases(r: &SessionResult) -> &[PhaseLatency] {
        &r.phases
    }

    fn phases_mut(r: &mut SessionResult) -> Option<&mut Vec<PhaseLatency>> {
        Some(&mut r.phases)
    }

    fn charted_phases() -> &'static [&'static str] {
        &["session-exec", "fresh-exec"]
    }

    fn headlines(s: &SessionResult) -> Vec<Headline> {
        let mut out = Vec::new();
        phase_headlines(&s.phases, &mut out);
        out
    }

    /// The fresh execution's p50.
    fn primary(s: &SessionResult) -> Option<f64> {
        s.phases
            .iter()
            .find(|p| p.phase == "fresh-exec")
            .map(|p| p.summary.p50_ns as f64)
    }

    fn vs_baseline(b: &SessionResult, x: &SessionResult, c: &mut Comparison) {
        p50_speedups(&b.phases, &x.phases, &mut c.p50_speedup);
    }

    /// The session table and where the histograms are.
    fn report(
        rows: &[super::interface::Row<'_, SessionResult>],
        ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        let mut out = String::from(
            "\n## Session: one sandbox for many executions vs a fresh sandbox each\n\n\
             session exec = one call in a sandbox that has already run; fresh exec = \
             instantiate + call + drop.\n\n",
        );
        out.push_str(&session_table(rows, ctx));
        out.push_str(&super::interface::histogram_folders::<Self>(rows));
        out
    }

    /// The session table.
    fn summary(
        rows: &[super::interface::Row<'_, SessionResult>],
        ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        session_table(rows, ctx)
    }
}
