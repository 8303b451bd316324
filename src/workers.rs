//! Worker processes: one variant measured by N processes at once
//! (`[scenario] processes`), the way a host runs N single-threaded servers
//! side by side instead of one server with N threads.
//!
//! The variant's own measuring process (the child the runner starts)
//! becomes a coordinator: it starts `processes` copies of itself
//! ([`CHILD_COMMAND`], each with the variant at `processes = 1`), which
//! load, link and warm up independently, then meet at a [`Rendezvous`] so
//! that their timed parts start together (within a millisecond), and answer
//! as any child does. The coordinator merges their figures (the scenario
//! says how) and loads no guest itself. Its disturbance sampler counts the
//! workers' CPU as the variant's own (they are its descendants).

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The most processes one variant is measured in at once (`[scenario]
/// processes`): each holds its own engine, pool and guest.
pub const MAX_PROCESSES: u32 = 64;

/// The hidden command a measuring process runs as (job on stdin, answer on
/// stdout).
pub const CHILD_COMMAND: &str = "__measure";

/// Where N workers of one variant meet before their timed parts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rendezvous {
    /// A folder only this variant's workers use.
    pub dir: PathBuf,
    /// This worker's index (0-based).
    pub index: u32,
}

static RENDEZVOUS: OnceLock<Rendezvous> = OnceLock::new();

/// Sets this process's rendezvous (a worker's job carries it).
pub fn set_rendezvous(r: Rendezvous) {
    let _ = RENDEZVOUS.set(r);
}

/// Longest a worker waits for the others (loading a large guest included).
pub const MEET_TIMEOUT: Duration = Duration::from_secs(600);

/// In a worker: says it is ready and waits until every worker is (the
/// coordinator's `go`). Returns at once in a process that is no worker.
/// Call it right before the timed part, outside every timed region.
pub fn rendezvous() -> Result<()> {
    let Some(r) = RENDEZVOUS.get() else {
        return Ok(());
    };
    std::fs::write(r.dir.join(format!("ready-{}", r.index)), b"")
        .with_context(|| format!("signalling ready in {}", r.dir.display()))?;
    let go = r.dir.join("go");
    let start = Instant::now();
    while !go.exists() {
        if start.elapsed() > MEET_TIMEOUT {
            bail!("worker {}: the other workers never got ready", r.index);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    Ok(())
}

/// One worker's answer: its scenario result (the JSON of the scenario's
/// figures, tagged as in result files) and its encoded histograms.
pub struct WorkerAnswer {
    /// `ChildOutput::Ok.result`.
    pub result: serde_json::Value,
    /// `ChildOutput::Ok.histograms.phases`: phase name, base64 histogram.
    pub histograms: Vec<(String, String)>,
    /// `ChildOutput::Ok.histograms.started_unix_s`.
    pub started_unix_s: f64,
}

/// Runs `n` workers of `variant` (its JSON, with `processes` set to 1 by
/// the caller) on `artifact`: each a copy of this executable, all released
/// together once every one is ready. Returns their answers in worker order,
/// or the first failure.
pub fn run(
    variant: &serde_json::Value,
    artifact: Option<&Path>,
    n: u32,
) -> Result<Vec<WorkerAnswer>> {
    let dir = tempfile::Builder::new()
        .prefix("pooling-lab-workers-")
        .tempdir()
        .context("making the workers' rendezvous folder")?;
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut children = Vec::with_capacity(n as usize);
    for index in 0..n {
        let job = serde_json::json!({
            "variant": variant,
            "artifact": artifact,
            "progress": false,
            "rendezvous": Rendezvous { dir: dir.path().to_path_buf(), index },
        });
        let mut child = Command::new(&exe)
            .arg(CHILD_COMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting worker {index}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(&serde_json::to_vec(&job)?)
                .with_context(|| format!("sending worker {index} its job"))?;
        }
        children.push(child);
    }
    // Every worker ready (or one gone): go.
    let start = Instant::now();
    loop {
        let ready = (0..n)
            .filter(|i| dir.path().join(format!("ready-{i}")).exists())
            .count() as u32;
        if ready == n {
            break;
        }
        if let Some(i) = children
            .iter_mut()
            .position(|c| c.try_wait().ok().flatten().is_some())
        {
            bail!(
                "worker {i} ended before the timed part: {}",
                answer_text(&mut children[i])
            );
        }
        if start.elapsed() > MEET_TIMEOUT {
            bail!("only {ready} of {n} workers got ready in {MEET_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    std::fs::write(dir.path().join("go"), b"").context("releasing the workers")?;
    let mut answers = Vec::with_capacity(n as usize);
    for (i, mut child) in children.into_iter().enumerate() {
        let mut out = Vec::new();
        if let Some(mut stdout) = child.stdout.take() {
            let _ = stdout.read_to_end(&mut out);
        }
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        let _ = child.wait();
        answers.push(decode(&out).with_context(|| format!("worker {i}: {}", err.trim()))?);
    }
    Ok(answers)
}

/// What N workers answered, read back: their results as the scenario's
/// type, each phase's histogram merged over them, and when the earliest
/// worker's timed part started.
pub struct Merged<R> {
    /// Each worker's result, in worker order.
    pub results: Vec<R>,
    /// Per phase, in the order asked for: every worker's histogram merged.
    pub histograms: Vec<crate::measure::latency::Hist>,
    /// When the earliest worker's timed part started.
    pub started: std::time::SystemTime,
}

/// Reads the workers' `answers` as `R` (the result file's `scenario` tag
/// removed; `what` names the scenario in errors) and merges their
/// histograms of `phases`.
pub fn merged<R: serde::de::DeserializeOwned>(
    answers: &[WorkerAnswer],
    phases: &[&str],
    what: &str,
) -> Result<Merged<R>> {
    use crate::measure::latency;
    let mut results = Vec::with_capacity(answers.len());
    let mut per_worker = Vec::with_capacity(answers.len());
    for (i, a) in answers.iter().enumerate() {
        let mut r = a.result.clone();
        if let Some(o) = r.as_object_mut() {
            o.remove("scenario");
        }
        results.push(
            serde_json::from_value(r)
                .with_context(|| format!("worker {i}: not a {what} result"))?,
        );
        let own = phases
            .iter()
            .map(|phase| {
                let (_, text) = a
                    .histograms
                    .iter()
                    .find(|(p, _)| p == phase)
                    .with_context(|| format!("worker {i} sent no {phase} histogram"))?;
                latency::decode(text)
            })
            .collect::<Result<Vec<_>>>()?;
        per_worker.push(own);
    }
    let histograms = (0..phases.len())
        .map(|k| latency::merge(per_worker.iter().map(|h: &Vec<_>| &h[k])))
        .collect::<Result<_>>()?;
    let started = answers
        .iter()
        .map(|a| a.started_unix_s)
        .fold(f64::INFINITY, f64::min);
    let started = if started.is_finite() {
        std::time::SystemTime::UNIX_EPOCH + Duration::from_secs_f64(started.max(0.0))
    } else {
        std::time::SystemTime::now()
    };
    Ok(Merged {
        results,
        histograms,
        started,
    })
}

/// A worker that ended early: what it said.
fn answer_text(child: &mut std::process::Child) -> String {
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    format!("{} {}", out.trim(), err.trim())
}

fn decode(out: &[u8]) -> Result<WorkerAnswer> {
    let doc: serde_json::Value =
        serde_json::from_slice(out).context("reading the worker's answer")?;
    if let Some(reason) = doc.pointer("/Err/reason").and_then(|r| r.as_str()) {
        return Err(anyhow!("{reason}"));
    }
    let ok = doc.get("Ok").ok_or_else(|| anyhow!("no result in {doc}"))?;
    let result = ok
        .get("result")
        .cloned()
        .ok_or_else(|| anyhow!("no result in the worker's answer"))?;
    let hists = ok.get("histograms");
    let histograms = hists
        .and_then(|h| h.get("phases"))
        .map(|p| serde_json::from_value(p.clone()))
        .transpose()
        .context("the worker's histograms")?
        .unwrap_or_default();
    let started_unix_s = hists
        .and_then(|h| h.get("started_unix_s"))
        .and_then(|s| s.as_f64())
        .unwrap_or(0.0);
    Ok(WorkerAnswer {
        result,
        histograms,
        started_unix_s,
    })
}
