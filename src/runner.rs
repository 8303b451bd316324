//! Runs an experiment: every variant in a fresh child process, results written
//! after each variant so that nothing measured is lost.
//!
//! The parent validates the experiment, precompiles artifacts (so compile time
//! and compiler memory never appear in a measuring process), then re-executes
//! this binary as `pooling-lab __measure` once per variant: glibc arenas, the
//! pooling allocator's warm slots and page-cache state of one variant cannot
//! leak into the next.

use crate::guest;
use crate::measure::disturbance::{self, Disturbance, Sample, Sampler};
use crate::measure::latency;
use crate::progress::RunProgress;
use crate::report;
use crate::result::{
    AxisResult, HostInfo, PreinitSnapshot, ResultFile, RoundRecord, VariantResult, VariantStatus,
};
use crate::scenario::{self, ScenarioResult};
use crate::scenario::{Histograms, PhaseLatency};
use crate::settings::{Experiment, Variant};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Instant, SystemTime};

/// Hidden subcommand the runner re-executes itself with.
pub use crate::workers::CHILD_COMMAND;

/// Where and how a run writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Results root; files go to `<results_dir>/<experiment>/<timestamp>.{json,md}`.
    pub results_dir: PathBuf,
    /// Precompiled artifact cache.
    pub cache_dir: PathBuf,
    /// Binary that measures a variant when run as `<exe> __measure`.
    pub exe: PathBuf,
    /// Print nothing but errors on stderr.
    pub quiet: bool,
    /// Rounds (separate processes per variant, interleaved); `None` = the
    /// experiment's `[experiment] rounds` (default 1).
    pub rounds: Option<u32>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// The result.
    pub result: ResultFile,
    /// Path of the JSON result.
    pub json_path: PathBuf,
    /// Path of the Markdown report.
    pub markdown_path: PathBuf,
}

/// The job the parent hands a child on stdin.
#[derive(Debug, Serialize, Deserialize)]
pub struct Job {
    /// The variant to measure.
    pub variant: Variant,
    /// Precompiled artifact, for `load = "bytes" | "file"`.
    pub artifact: Option<PathBuf>,
    /// Report progress on stderr (the parent draws it).
    #[serde(default)]
    pub progress: bool,
    /// Where the child copies the fresh folders it kept (`[guest]
    /// keep_sandbox_dirs`) when it is done; `None`: kept nowhere.
    #[serde(default)]
    pub keep_dirs: Option<PathBuf>,
    /// A worker of a variant measured by several processes (`[scenario]
    /// processes`): where it meets the others before its timed part.
    #[serde(default)]
    pub rendezvous: Option<crate::workers::Rendezvous>,
}

/// What a child prints on stdout.
#[derive(Debug, Serialize, Deserialize)]
pub enum ChildOutput {
    /// Measured.
    Ok(Box<Measured>),
    /// The variant could not be measured.
    Err {
        /// Why (the full error chain).
        reason: String,
    },
}

/// What a child measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct Measured {
    /// Settings read back from the engine.
    pub effective: serde_json::Value,
    /// The scenario's figures.
    pub result: ScenarioResult,
    /// Latency histograms, for the parent to save.
    pub histograms: Option<EncodedHistograms>,
}

/// Latency histograms on their way from child to parent.
#[derive(Debug, Serialize, Deserialize)]
pub struct EncodedHistograms {
    /// When the timed cycles started, in seconds since the Unix epoch.
    pub started_unix_s: f64,
    /// Length of the timed cycles.
    pub wall_ns: u64,
    /// Phase name and its histogram as base64 V2 deflate ([`latency::encode`]).
    pub phases: Vec<(String, String)>,
}

impl EncodedHistograms {
    fn new(h: &Histograms) -> Result<EncodedHistograms> {
        Ok(EncodedHistograms {
            started_unix_s: h
                .started
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            wall_ns: h.wall.as_nanos() as u64,
            phases: h
                .named
                .iter()
                .map(|(name, h)| Ok((name.clone(), latency::encode(h)?)))
                .collect::<Result<_>>()?,
        })
    }
}

/// File-name form of a variant name: `NN-` plus its letters, digits, `.` and `-`.
pub fn variant_slug(index: usize, name: &str) -> String {
    let mut slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    slug.truncate(100);
    format!("{:02}-{slug}", index + 1)
}

/// Saves one variant's histograms as `<phase>.hlog` and `<phase>.hgrm`
/// under `<results>/<experiment>/<stamp>/<slug>/`, and records their paths
/// (relative to the JSON file's folder) in `phases`.
fn save_histograms(
    json_dir: &Path,
    sub: &Path,
    experiment: &str,
    variant: &str,
    enc: &EncodedHistograms,
    phases: &mut [PhaseLatency],
) -> Result<()> {
    let folder = json_dir.join(sub);
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(enc.started_unix_s);
    let wall = std::time::Duration::from_nanos(enc.wall_ns);
    for (phase, text) in &enc.phases {
        let h = latency::decode(text)?;
        let log = latency::write_interval_log(
            &[format!(
                "pooling-lab: experiment {experiment}, variant {variant}, phase {phase}"
            )],
            start,
            &[latency::LogInterval {
                tag: phase,
                start: std::time::Duration::ZERO,
                duration: wall,
                histogram: &h,
            }],
        )?;
        let hlog = sub.join(format!("{phase}.hlog"));
        let hgrm = sub.join(format!("{phase}.hgrm"));
        report::json::write_atomic(&json_dir.join(&hlog), &log)?;
        report::json::write_atomic(
            &json_dir.join(&hgrm),
            latency::percentile_distribution(&h, 1000.0, 5).as_bytes(),
        )?;
        if let Some(p) = phases.iter_mut().find(|p| p.phase == *phase) {
            p.hlog_path = Some(hlog.display().to_string());
            p.hgrm_path = Some(hgrm.display().to_string());
        }
    }
    Ok(())
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static CHILD_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_interrupt(_sig: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe; the pid is our own child's.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// Makes SIGINT and SIGTERM stop the run after writing what was measured:
/// the current variant's child is terminated, the result is written marked
/// incomplete, and [`run`] returns [`Interrupted`].
pub fn install_interrupt_handlers() {
    // SAFETY: the handler only stores to atomics and calls kill(2), both
    // async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_interrupt as *const () as libc::sighandler_t,
        );
    }
}

/// The run was stopped by SIGINT or SIGTERM; what was measured has been written.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: {measured} of {total} variants measured; partial result written to {}", json.display())]
pub struct Interrupted {
    /// Variants measured before the interruption.
    pub measured: usize,
    /// Variants in the experiment.
    pub total: usize,
    /// The (incomplete) result file.
    pub json: PathBuf,
}

/// `2026-11-27T16:31:24Z` -> `20261127T163124Z`, the name of a run's files.
pub fn file_stamp(rfc3339: &str) -> String {
    rfc3339
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// The current UTC time, RFC 3339, seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Variant `i` of `exp` as its sandboxes start: from its snapshot (built,
/// checked and cached first if needed; see [`guest::resolve_preinit`]), or
/// `None` when it has no snapshot point. A snapshot that cannot be made or
/// does not behave as the guest does is a [`crate::settings::ConfigError`]
/// naming the file, the variant's `[guest]` key and the fix.
pub fn snapshot_variant(
    exp: &Experiment,
    i: usize,
    cache_dir: &Path,
) -> Result<Option<(Variant, PreinitSnapshot, bool)>> {
    let v = &exp.variants[i];
    guest::resolve_preinit(v, cache_dir).map_err(|e| {
        match e.downcast::<guest::snapshot::SnapshotError>() {
            Ok(s) => exp.error_at(i, "guest", s.key, s.message, s.fix).into(),
            Err(e) => e.context(format!(
                "{}: variant `{}`: snapshotting the guest",
                exp.path.display(),
                v.name
            )),
        }
    })
}

/// Reads every guest file of `variants` (variant `i` of `exp` each, see
/// [`guest::preflight::check_file`]): the first problem is a
/// [`crate::settings::ConfigError`] naming the file's key and line.
fn check_files<'a>(exp: &Experiment, variants: impl Iterator<Item = &'a Variant>) -> Result<()> {
    for (i, v) in variants.enumerate() {
        if let Err(p) = guest::preflight::check_file(v) {
            return Err(exp.error_at(i, p.section, p.key, p.message, p.fix).into());
        }
        if let Err(p) = crate::scenario::check_programs(v) {
            return Err(exp.error_at(i, p.section, p.key, p.message, p.fix).into());
        }
    }
    Ok(())
}

/// Checks that the programs every variant of `exp` starts are there (the
/// wasmtime CLI, wrk: [`crate::scenario::check_programs`]): a missing one is a
/// [`crate::settings::ConfigError`] naming its key and line, before
/// anything is measured.
pub fn check_programs(exp: &Experiment) -> Result<()> {
    for (i, v) in exp.variants.iter().enumerate() {
        if let Err(p) = crate::scenario::check_programs(v) {
            return Err(exp.error_at(i, p.section, p.key, p.message, p.fix).into());
        }
    }
    Ok(())
}

/// Loads and links variant `i` of `exp` as `v` (with its precompiled
/// `artifact`) as its measuring child will (see
/// [`guest::preflight::check`]): a configuration mistake is a
/// [`crate::settings::ConfigError`] naming the key and line.
fn link_check(exp: &Experiment, i: usize, v: &Variant, artifact: Option<&Path>) -> Result<()> {
    match guest::preflight::check(v, artifact, crate::scenario::max_live(v))
        .with_context(|| format!("preparing the guest of variant `{}`", v.name))?
    {
        Ok(_) => Ok(()),
        Err(p) => Err(exp.error_at(i, p.section, p.key, p.message, p.fix).into()),
    }
}

/// `pooling-lab check`: every check [`run`] makes before it measures,
/// measuring nothing: the engines, each guest file, then each guest loaded
/// and linked as its measuring child would (every export the kind or its
/// plan names, with its signature; a component's fit in the pool). A
/// variant that starts from a snapshot is checked on its un-snapshotted
/// guest (`run` builds the snapshot from it, then checks the snapshot too).
/// Artifacts are precompiled into `cache_dir`, where `run` finds them.
pub fn preflight(exp: &Experiment, cache_dir: &Path) -> Result<()> {
    exp.check_engines()?;
    exp.check_builds()?;
    check_files(exp, exp.variants.iter())?;
    for (i, v) in exp.variants.iter().enumerate() {
        let artifact = precompiled(v, cache_dir)
            .with_context(|| format!("{}: variant `{}`", exp.path.display(), v.name))?;
        link_check(exp, i, v, artifact.as_deref())?;
    }
    Ok(())
}

/// The cached artifact of `v`'s own guest (precompiled now if needed), or
/// `None` when it is compiled on load.
fn precompiled(v: &Variant, cache_dir: &Path) -> Result<Option<PathBuf>> {
    if !guest::needs_artifact(v) {
        return Ok(None);
    }
    let engine = guest::engine(v)?;
    let wasm = guest::guest_wasm(&v.guest)?;
    Ok(Some(guest::ensure_artifact(cache_dir, &engine, &wasm)?.0))
}

/// Runs every variant of `exp` and writes the result files.
pub fn run(exp: &Experiment, opts: &RunOptions) -> Result<RunOutput> {
    // Whatever private /tmp a child could not remove goes when this returns.
    let _tmp_sweep = crate::host::wasi::ChildTmpSweep;
    exp.check_engines()?;
    exp.check_builds()?;
    install_interrupt_handlers();
    let started_at = now_rfc3339();
    let stamp = file_stamp(&started_at);
    let dir = opts.results_dir.join(&exp.name);
    let json_path = dir.join(format!("{stamp}.json"));
    let markdown_path = dir.join(format!("{stamp}.md"));
    let progress = RunProgress::new(opts.quiet);
    let say = |msg: &str| progress.say(msg);

    let prepared = prepare_variants(exp, &opts.cache_dir, &progress)?;
    let mut result = new_result(exp, opts, started_at);

    let total = exp.variants.len();
    let rounds = result.rounds;
    let threshold = result
        .disturbed_cpu_share
        .unwrap_or(disturbance::DEFAULT_THRESHOLD);
    let mut runs_as: Vec<(Variant, Option<PathBuf>)> = Vec::with_capacity(total);
    let mut so_far: Vec<VariantRounds> = Vec::with_capacity(total);
    for p in prepared {
        runs_as.push((p.run_as, p.artifact));
        so_far.push(VariantRounds {
            records: Vec::new(),
            effective: serde_json::Value::Null,
            preinit_snapshot: p.snapshot,
            saved: None,
        });
    }
    let mut count = crate::progress::MeasurementCount::new(total as u64, u64::from(rounds));
    let variants_bar = progress.bar(count.total(), "variants");
    'rounds: for round in 1..=rounds {
        // Round r measures the variants in an order rotated by r - 1.
        let order: Vec<usize> = (0..total)
            .map(|k| (k + round as usize - 1) % total)
            .collect();
        let mut position = 0u32;
        let mut queue: Vec<(usize, bool)> = order.iter().map(|&i| (i, false)).collect();
        let mut next = 0;
        while next < queue.len() {
            let (i, rerun) = queue[next];
            next += 1;
            if INTERRUPTED.load(Ordering::SeqCst) {
                break 'rounds;
            }
            position += 1;
            let v = &exp.variants[i];
            let label = if rounds > 1 {
                format!(
                    "round {round}/{rounds}{}: {}",
                    if rerun { " (re-run)" } else { "" },
                    v.name
                )
            } else {
                v.name.clone()
            };
            let counted = count.start();
            if !progress.drawing() {
                // (A hidden bar has no length to read: count here.)
                say(&format!("{counted} {label}"));
            }
            variants_bar.set_message(label);
            let inner = progress.bar(0, "measuring");
            let started_at = now_rfc3339();
            let t = Instant::now();
            let (run_as, artifact) = &runs_as[i];
            let keep_dirs = (v.guest.keep_sandbox_dirs > 0).then(|| {
                dir.join(&stamp)
                    .join(variant_slug(i, &v.name))
                    .join("sandboxes")
                    .join(format!("round-{round}"))
            });
            let (outcome, samples) = measure_in_child(
                &opts.exe,
                run_as,
                artifact.clone(),
                keep_dirs.clone(),
                &progress,
                &inner,
            );
            if let Some(k) = keep_dirs.filter(|k| k.is_dir()) {
                say(&format!(
                    "{}: the last {} sandboxes' folders are in {}",
                    v.name,
                    v.guest.keep_sandbox_dirs,
                    k.display()
                ));
            }
            inner.finish_and_clear();
            variants_bar.inc(1);
            let wall_ns = t.elapsed().as_nanos() as u64;
            let rounds_of = &mut so_far[i];
            let mut record = RoundRecord {
                round,
                position,
                rerun,
                replaced: false,
                status: VariantStatus::Ok,
                started_at,
                wall_ns,
                disturbance: None,
                result: None,
            };
            let mut histograms = None;
            match outcome {
                Ok(ChildOutput::Ok(m)) => {
                    let Measured {
                        effective,
                        result: figures,
                        histograms: h,
                    } = *m;
                    let window = h
                        .as_ref()
                        .map(|h| (h.started_unix_s, h.started_unix_s + h.wall_ns as f64 / 1e9));
                    record.disturbance = disturbance::assess(&samples, window, threshold);
                    rounds_of.effective = effective;
                    record.result = Some(figures);
                    histograms = h;
                }
                Ok(ChildOutput::Err { reason }) | Err(ChildFailure(reason)) => {
                    let reason = if INTERRUPTED.load(Ordering::SeqCst) {
                        format!("interrupted (SIGINT/SIGTERM) while measuring: {reason}")
                    } else {
                        reason
                    };
                    say(&format!("  variant failed: {reason}"));
                    record.disturbance = disturbance::assess(&samples, None, threshold);
                    record.status = VariantStatus::Failed { reason };
                }
            }
            if let Some(d) = record.disturbance.as_ref().filter(|d| d.disturbed) {
                let again = rounds > 1 && !rerun && record.status == VariantStatus::Ok;
                say(&format!(
                    "  disturbed: {}{}",
                    d.describe(),
                    if again {
                        "; re-running it at the end of this round"
                    } else {
                        ""
                    }
                ));
                if again {
                    queue.push((i, true));
                    count.rerun_scheduled();
                    variants_bar.inc_length(1);
                }
            }
            if rerun
                && let Some(old) = rounds_of
                    .records
                    .iter_mut()
                    .rev()
                    .find(|(r, _)| r.round == round && !r.rerun)
            {
                old.0.replaced = true;
            }
            for w in record
                .result
                .as_ref()
                .map(ScenarioResult::warnings)
                .unwrap_or_default()
            {
                say(&format!("  warning: {w}"));
            }
            rounds_of.records.push((record, histograms));
            let Some(vr) = assemble(v, rounds_of, rounds, &dir, &stamp, &exp.name, i, &say) else {
                continue;
            };
            match result.variants.iter_mut().find(|x| x.name == vr.name) {
                Some(x) => *x = vr,
                None => {
                    result.variants.push(vr);
                    // Expansion order, whatever order the rounds measured in.
                    result
                        .variants
                        .sort_by_key(|x| exp.variants.iter().position(|e| e.name == x.name));
                }
            }
            result.updated_at = now_rfc3339();
            result.complete =
                round == rounds && next == queue.len() && !INTERRUPTED.load(Ordering::SeqCst);
            report::vs_baseline::fill(&mut result);
            report::json::write(&json_path, &result)?;
        }
    }
    variants_bar.finish_and_clear();
    if INTERRUPTED.load(Ordering::SeqCst) {
        result.complete = false;
        report::json::write(&json_path, &result)?;
        report::markdown::write(&markdown_path, &result)?;
        let measured = result
            .variants
            .iter()
            .filter(|v| v.status == VariantStatus::Ok)
            .count();
        return Err(Interrupted {
            measured,
            total,
            json: json_path,
        }
        .into());
    }
    match report::plot::write_all(&dir, &dir.join(&stamp), &result) {
        Ok(plots) => {
            result.plots = plots
                .iter()
                .map(|p| p.strip_prefix(&dir).unwrap_or(p).display().to_string())
                .collect();
            report::json::write(&json_path, &result)?;
        }
        Err(e) => say(&format!("warning: plots not written: {e:#}")),
    }
    report::markdown::write(&markdown_path, &result)?;
    Ok(RunOutput {
        result,
        json_path,
        markdown_path,
    })
}

/// A variant as its child measures it.
struct PreparedVariant {
    /// The variant the child runs (a `preinit` or `snapshot` variant's guest
    /// replaced by its snapshot).
    run_as: Variant,
    /// The snapshot it starts from, if any.
    snapshot: Option<PreinitSnapshot>,
    /// Its precompiled artifact, when the child deserializes.
    artifact: Option<PathBuf>,
}

/// Everything before the first measurement: the user's files checked,
/// snapshots made, guests precompiled, and every guest loaded and linked
/// once as its child will (a missing export or a pool too small stops the
/// run here, with the key and line).
fn prepare_variants(
    exp: &Experiment,
    cache_dir: &Path,
    progress: &RunProgress,
) -> Result<Vec<PreparedVariant>> {
    // Pre-initialise and precompile before any variant runs. `measured[i]` is
    // the variant as its child runs it (a `preinit` variant's interpreter
    // replaced by the snapshot); the result records `exp.variants[i]`.
    let mut measured: Vec<(Variant, Option<crate::result::PreinitSnapshot>)> =
        Vec::with_capacity(exp.variants.len());
    // The user's own files first: a file that is missing or cut short is
    // named before anything is snapshotted or compiled from it.
    check_files(exp, exp.variants.iter())?;
    for (i, v) in exp.variants.iter().enumerate() {
        if v.guest.snapshot_point() == crate::settings::SnapshotPoint::None {
            measured.push((v.clone(), None));
            continue;
        }
        let t = Instant::now();
        let spinner = progress.spinner(&format!(
            "snapshotting the guest for `{}` (wasmtime-wizer)",
            v.name
        ));
        let resolved = snapshot_variant(exp, i, cache_dir);
        spinner.finish_and_clear();
        let resolved = resolved?;
        measured.push(match resolved {
            Some((r, snapshot, fresh)) => {
                if fresh {
                    progress.say(&format!(
                        "snapshotted `{}` {} ({:.1}s, checked against the un-snapshotted guest)",
                        v.name,
                        snapshot.point.as_deref().unwrap_or(""),
                        t.elapsed().as_secs_f64()
                    ));
                }
                (r, Some(snapshot))
            }
            None => (v.clone(), None),
        });
    }
    check_files(exp, measured.iter().map(|(v, _)| v))?;
    let mut artifacts: Vec<Option<PathBuf>> = Vec::with_capacity(exp.variants.len());
    for (v, _) in &measured {
        let t = Instant::now();
        let spinner = progress.spinner(&format!("precompiling the guest for `{}`", v.name));
        let made = scenario::ensure_artifacts(v, cache_dir)
            .with_context(|| format!("{}: variant `{}`", exp.path.display(), v.name))?;
        spinner.finish_and_clear();
        if let Some(a) = &made {
            let what = match (a.fresh, a.scenario_compiled) {
                (false, 0) => None,
                (true, 0) => Some(a.path.display().to_string()),
                (false, n) => Some(format!("{n} modules the scenario of `{}` loads", v.name)),
                (true, n) => Some(format!(
                    "{} and {n} modules the scenario of `{}` loads",
                    a.path.display(),
                    v.name
                )),
            };
            if let Some(what) = what {
                progress.say(&format!(
                    "precompiled {what} ({:.1}s)",
                    t.elapsed().as_secs_f64()
                ));
            }
        }
        artifacts.push(made.map(|a| a.path));
    }
    // Load and link every variant's guest once, as its child will: a
    // missing or mistyped export, a file that is not WebAssembly or a pool
    // too small for a component stops the run here, with the key and line.
    for (i, ((run_as, _), artifact)) in measured.iter().zip(&artifacts).enumerate() {
        link_check(exp, i, run_as, artifact.as_deref())?;
    }

    Ok(measured
        .into_iter()
        .zip(artifacts)
        .map(|((run_as, snapshot), artifact)| PreparedVariant {
            run_as,
            snapshot,
            artifact,
        })
        .collect())
}

/// The result file of a run that starts now: no variant measured yet.
fn new_result(exp: &Experiment, opts: &RunOptions, started_at: String) -> ResultFile {
    ResultFile {
        schema_version: crate::result::SCHEMA_VERSION,
        experiment: exp.name.clone(),
        description: exp.meta.description.clone(),
        config_path: exp.path.display().to_string(),
        config_source: std::fs::read_to_string(&exp.path).unwrap_or_default(),
        started_at,
        updated_at: now_rfc3339(),
        complete: false,
        host: HostInfo::detect(),
        baseline: exp.baseline.clone(),
        axes: exp
            .axes
            .iter()
            .map(|(key, values)| AxisResult {
                key: key.clone(),
                values: values.clone(),
            })
            .collect(),
        variants: Vec::with_capacity(exp.variants.len()),
        plots: Vec::new(),
        rounds: opts
            .rounds
            .or(exp.meta.rounds)
            .unwrap_or(1)
            .clamp(1, crate::rounds::MAX_ROUNDS),
        disturbed_cpu_share: Some(
            exp.meta
                .disturbed_cpu_share
                .unwrap_or(disturbance::DEFAULT_THRESHOLD),
        ),
    }
}

/// One variant's rounds so far.
struct VariantRounds {
    /// Each round's record, with its histograms (saved for the shown round).
    records: Vec<(RoundRecord, Option<EncodedHistograms>)>,
    /// Settings read back from the engine (the same in every round).
    effective: serde_json::Value,
    /// The pre-initialised module, if any.
    preinit_snapshot: Option<PreinitSnapshot>,
    /// `(round, rerun)` of the record whose histograms are on disk.
    saved: Option<(u32, bool)>,
}

/// The variant's result from its rounds so far: the median round's figures
/// (see [`crate::rounds::median_round`]; the only round without rounds),
/// the between-round statistics and the disturbance figures. The shown
/// round's histograms are saved under `<dir>/<stamp>/<slug>/`.
#[allow(clippy::too_many_arguments)]
fn assemble(
    v: &Variant,
    rounds_of: &mut VariantRounds,
    rounds: u32,
    dir: &Path,
    stamp: &str,
    experiment: &str,
    index: usize,
    say: &dyn Fn(&str),
) -> Option<VariantResult> {
    let plain: Vec<RoundRecord> = rounds_of.records.iter().map(|(r, _)| r.clone()).collect();
    let shown = if rounds > 1 {
        crate::rounds::median_round(&plain)
    } else {
        None
    }
    .unwrap_or(rounds_of.records.len().saturating_sub(1));
    if let Some((rec, Some(enc))) = rounds_of.records.get_mut(shown) {
        let key = (rec.round, rec.rerun);
        let phases: Option<&mut Vec<PhaseLatency>> =
            rec.result.as_mut().and_then(ScenarioResult::phases_mut);
        if let Some(phases) = phases
            && rounds_of.saved != Some(key)
        {
            let sub = Path::new(stamp).join(variant_slug(index, &v.name));
            match save_histograms(dir, &sub, experiment, &v.name, enc, phases) {
                Ok(()) => rounds_of.saved = Some(key),
                Err(e) => say(&format!("  warning: histograms not saved: {e:#}")),
            }
        }
    }
    let mut rounds_kept: Vec<RoundRecord> =
        rounds_of.records.iter().map(|(r, _)| r.clone()).collect();
    let rec = rounds_kept.get(shown).cloned()?;
    let counted: Vec<&RoundRecord> = rounds_kept
        .iter()
        .filter(|r| crate::rounds::counts(r))
        .collect();
    let worst = |rs: &[&RoundRecord]| {
        rs.iter()
            .filter_map(|r| r.disturbance.clone())
            .max_by(|a, b| {
                (a.other_cpu_share + a.steal_share).total_cmp(&(b.other_cpu_share + b.steal_share))
            })
    };
    let (disturbance, disturbed_rounds) = if rounds > 1 {
        (
            worst(&counted).or_else(|| rec.disturbance.clone()),
            counted
                .iter()
                .filter(|r| r.disturbance.as_ref().is_some_and(|d| d.disturbed))
                .count(),
        )
    } else {
        (
            rec.disturbance.clone(),
            usize::from(rec.disturbance.as_ref().is_some_and(|d| d.disturbed)),
        )
    };
    let mut warnings = rec
        .result
        .as_ref()
        .map(ScenarioResult::warnings)
        .unwrap_or_default();
    if let Some(d) = &disturbance
        && disturbed_rounds > 0
    {
        warnings.push(report::warnings::disturbed(
            d,
            disturbed_rounds,
            counted.len().max(1),
        ));
    }
    if rounds > 1 {
        let failed = rounds_kept
            .iter()
            .filter(|r| r.status != VariantStatus::Ok)
            .count();
        if failed > 0 {
            warnings.push(format!(
                "{failed} of {} rounds failed; the figures rest on the {} that were measured",
                rounds_kept.len(),
                counted.len()
            ));
        }
    }
    let failure = rec.result.as_ref().and_then(|r| r.failure(v));
    let status = match (&rec.status, failure) {
        (VariantStatus::Ok, Some(reason)) => {
            say(&format!("  variant failed: {reason}"));
            VariantStatus::Failed { reason }
        }
        (s, _) => s.clone(),
    };
    let between_rounds = if rounds > 1 {
        crate::rounds::round_stats(&rounds_kept)
    } else {
        Vec::new()
    };
    if rounds <= 1 {
        rounds_kept.clear();
    }
    let measured = rec.status == VariantStatus::Ok;
    Some(VariantResult {
        name: v.name.clone(),
        settings: v.clone(),
        effective: if measured {
            rounds_of.effective.clone()
        } else {
            serde_json::Value::Null
        },
        status,
        wall_ns: rec.wall_ns,
        result: rec.result,
        vs_baseline: None,
        warnings,
        preinit_snapshot: rounds_of.preinit_snapshot.clone(),
        shown_round: if rounds > 1 { rec.round } else { 0 },
        rounds: rounds_kept,
        between_rounds,
        disturbed: disturbed_rounds > 0,
        disturbance,
    })
}

/// `v` as a job for another build of pooling-lab (`[experiment] builds`):
/// only the keys that differ from their defaults, so that a build older than
/// a key it does not know (left at its default here) still reads the job;
/// every key left out takes that build's own default.
fn portable_variant(v: &Variant) -> serde_json::Value {
    let defaults = Variant {
        name: v.name.clone(),
        engine: Default::default(),
        pooling: Default::default(),
        guest: crate::settings::GuestSettings {
            kind: v.guest.kind,
            ..Default::default()
        },
        scenario: Default::default(),
        lab_build: None,
    };
    let (Ok(mut value), Ok(defaults)) = (serde_json::to_value(v), serde_json::to_value(&defaults))
    else {
        return serde_json::Value::Null;
    };
    for section in ["engine", "pooling", "guest", "scenario"] {
        if let (Some(keys), Some(default)) = (
            value.get_mut(section).and_then(|s| s.as_object_mut()),
            defaults.get(section),
        ) {
            keys.retain(|k, x| k == "kind" || default.get(k) != Some(x));
        }
    }
    if let Some(o) = value.as_object_mut() {
        o.remove("lab_build");
    }
    value
}

/// Measures one variant in a fresh child process (no progress drawn): the
/// building block of `tune`. The error is the child's reason.
pub fn measure_variant(
    exe: &Path,
    variant: &Variant,
    artifact: Option<PathBuf>,
) -> Result<Measured, String> {
    measure_variant_judged(exe, variant, artifact, disturbance::DEFAULT_THRESHOLD).0
}

/// [`measure_variant`], and what else the machine did meanwhile (judged
/// against `threshold`, a share of all CPUs), over the child's timed part
/// when it reports one.
pub fn measure_variant_judged(
    exe: &Path,
    variant: &Variant,
    artifact: Option<PathBuf>,
    threshold: f64,
) -> (Result<Measured, String>, Option<Disturbance>) {
    let progress = RunProgress::new(true);
    let bar = indicatif::ProgressBar::hidden();
    let (out, samples) = measure_in_child(exe, variant, artifact, None, &progress, &bar);
    match out {
        Ok(ChildOutput::Ok(m)) => {
            let window = m
                .histograms
                .as_ref()
                .map(|h| (h.started_unix_s, h.started_unix_s + h.wall_ns as f64 / 1e9));
            let d = disturbance::assess(&samples, window, threshold);
            (Ok(*m), d)
        }
        Ok(ChildOutput::Err { reason }) | Err(ChildFailure(reason)) => {
            (Err(reason), disturbance::assess(&samples, None, threshold))
        }
    }
}

/// Whether SIGINT/SIGTERM arrived (after [`install_interrupt_handlers`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A child that did not produce an answer.
struct ChildFailure(String);

/// Measures `variant` in a child while the parent samples the machine
/// ([`disturbance::Sampler`]); returns the child's answer and the samples.
fn measure_in_child(
    exe: &Path,
    variant: &Variant,
    artifact: Option<PathBuf>,
    keep_dirs: Option<PathBuf>,
    progress: &RunProgress,
    bar: &indicatif::ProgressBar,
) -> (Result<ChildOutput, ChildFailure>, Vec<Sample>) {
    let mut samples = Vec::new();
    let out = run_child(
        exe,
        variant,
        artifact,
        keep_dirs,
        progress,
        bar,
        &mut samples,
    );
    (out, samples)
}

fn run_child(
    exe: &Path,
    variant: &Variant,
    artifact: Option<PathBuf>,
    keep_dirs: Option<PathBuf>,
    progress: &RunProgress,
    bar: &indicatif::ProgressBar,
    samples: &mut Vec<Sample>,
) -> Result<ChildOutput, ChildFailure> {
    // `[experiment] builds`: another build's child measures this variant.
    let exe = variant.lab_build.as_ref().map_or(exe, |b| b.exe.as_path());
    let job = serde_json::to_value(&Job {
        variant: variant.clone(),
        artifact,
        // Always reported: the parent shows it only when drawing, but keeps
        // the last figure to say how far a crashed child got.
        progress: true,
        keep_dirs,
        rendezvous: None,
    })
    .map(|mut job| {
        if variant.lab_build.is_some() {
            job["variant"] = portable_variant(variant);
        }
        job
    })
    .and_then(|job| serde_json::to_vec(&job))
    .map_err(|e| ChildFailure(format!("encoding the job: {e}")))?;
    let mut child = Command::new(exe)
        .arg(CHILD_COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ChildFailure(format!("starting {} {CHILD_COMMAND}: {e}", exe.display())))?;
    CHILD_PID.store(child.id() as i32, Ordering::SeqCst);
    let sampler = Sampler::start(child.id());
    if INTERRUPTED.load(Ordering::SeqCst) {
        // The signal came between the loop's check and the spawn.
        let _ = child.kill();
    }
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&job)
            .map_err(|e| ChildFailure(format!("sending the job: {e}")))?;
    }
    let stderr = child.stderr.take();
    let mut out = Vec::new();
    let (status, last_progress) = std::thread::scope(|s| {
        // The child's stderr: progress markers move the bar, anything else is shown.
        let follower = stderr.map(|stderr| s.spawn(move || progress.follow_child(stderr, bar)));
        if let Some(mut stdout) = child.stdout.take() {
            let _ = stdout.read_to_end(&mut out);
        }
        // The child has answered: the last sample still sees its CPU time.
        *samples = sampler.finish();
        let status = child.wait();
        let last = follower.and_then(|f| f.join().ok().flatten());
        (status, last)
    });
    CHILD_PID.store(0, Ordering::SeqCst);
    let status = status.map_err(|e| ChildFailure(format!("waiting for the child: {e}")))?;
    match decode_child_output(&out) {
        Ok(o) => Ok(o),
        Err(_) => {
            use std::os::unix::process::ExitStatusExt;
            let how = match status.signal() {
                Some(sig) => format!("killed by signal {sig} ({})", signal_name(sig)),
                None => format!("exited with {status} without a result"),
            };
            let at = last_progress.map_or_else(String::new, |p| format!(" at {p}"));
            Err(ChildFailure(format!("the measuring process {how}{at}")))
        }
    }
}

/// A child's answer; an older build's (`[experiment] builds`) in the layout
/// of its time is converted ([`crate::result::upgrade_measurement`]).
fn decode_child_output(out: &[u8]) -> serde_json::Result<ChildOutput> {
    let mut doc: serde_json::Value = serde_json::from_slice(out)?;
    if let Some(m) = doc.get_mut("Ok").and_then(|m| m.as_object_mut()) {
        crate::result::upgrade_measurement(m);
    }
    serde_json::from_value(doc)
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL: often the OOM killer",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// Body of `pooling-lab __measure`: reads a [`Job`] on stdin, prints a [`ChildOutput`].
pub fn child_main() -> Result<()> {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    let job: Job = serde_json::from_slice(&input).context("decoding the job from stdin")?;
    drop(input);
    if job.progress {
        crate::progress::start_reporter();
    }
    if let Some(r) = job.rendezvous.clone() {
        crate::workers::set_rendezvous(r);
    }
    let budget = job.variant.scenario.max_rss.0;
    if budget > 0 {
        start_rss_guard(budget);
    }
    let mut output = match measure(&job) {
        Ok(m) => ChildOutput::Ok(Box::new(m)),
        Err(e) => ChildOutput::Err {
            reason: explain_failure(&format!("{e:#}")),
        },
    };
    if let Some(dest) = &job.keep_dirs
        && let Err(e) = crate::host::wasi::keep_sandbox_dirs_in(dest)
        && let ChildOutput::Ok(_) = output
    {
        output = ChildOutput::Err {
            reason: format!("{e:#} (fix: free disk space, or lower [guest] keep_sandbox_dirs)"),
        };
    }
    crate::host::wasi::remove_private_tmp();
    let failed = matches!(output, ChildOutput::Err { .. });
    emit(&output)?;
    if failed {
        bail!("variant failed");
    }
    Ok(())
}

/// Set by whichever of the measuring thread and the RSS guard answers first;
/// the other stays silent, so the parent always reads exactly one answer.
static ANSWERED: AtomicBool = AtomicBool::new(false);

fn emit(output: &ChildOutput) -> Result<()> {
    if ANSWERED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, output)?;
    stdout.flush()?;
    Ok(())
}

/// Stops the variant before it exhausts the machine: samples VmRSS every
/// 20 ms and, above `budget` bytes, answers the parent with a failure and
/// exits. Memory the scenario was about to use is never taken.
fn start_rss_guard(budget: u64) {
    let _ = std::thread::Builder::new()
        .name("rss-guard".into())
        .spawn(move || {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
            loop {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let rss = std::fs::read_to_string("/proc/self/statm")
                    .ok()
                    .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .map_or(0, |pages| pages * page);
                if rss > budget {
                    let reason = format!(
                        "memory budget exceeded: VmRSS reached {} MiB, above [scenario] max_rss = {} MiB; \
                         the variant was stopped before the machine ran out of memory (fix: raise max_rss, \
                         or lower the instance count or image size)",
                        rss >> 20,
                        budget >> 20
                    );
                    let _ = emit(&ChildOutput::Err { reason });
                    crate::host::wasi::remove_private_tmp();
                    std::process::exit(3);
                }
            }
        });
}

/// Adds the fix to failures wasmtime reports in its own words.
pub fn explain_failure(msg: &str) -> String {
    let m = msg.to_ascii_lowercase();
    let fix = if m.contains("concurrent") && m.contains("fibers") {
        Some(
            "the pool's async stacks ran out: every live store that made an async call (a wasi:http \
             request) keeps one fiber stack until it is dropped; raise [pooling] total_stacks above the most \
             such sandboxes alive at once",
        )
    } else if m.contains("concurrent") && m.contains("limit") {
        Some(
            "wasmtime's pooling allocator ran out of slots: raise [pooling] total_core_instances / total_memories \
             (and total_tables, total_stacks) above the most instances alive at once",
        )
    } else if m.contains("cannot allocate memory") || m.contains("mmap failed") {
        Some(
            "the kernel refused memory or address space: lower [pooling] total_memories or [engine] memory_reservation, \
             or set [scenario] max_rss to stop earlier",
        )
    } else {
        None
    };
    match fix {
        Some(f) => format!("{msg} (fix: {f})"),
        None => msg.to_string(),
    }
}

fn measure(job: &Job) -> Result<Measured> {
    let v = &job.variant;
    let (result, hists) = scenario::run(v, job.artifact.as_deref())?;
    Ok(Measured {
        effective: crate::settings::effective_settings(&scenario::engine(v)?),
        result,
        histograms: hists.as_ref().map(EncodedHistograms::new).transpose()?,
    })
}
