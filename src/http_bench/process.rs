//! pooling-lab's server ([`super::server`]) in a process of its own, so that
//! what is measured of it (Pss, RSS, page faults, CPU time per request) is
//! the server's alone, as `wasmtime serve`'s is: the load generator runs in
//! the measuring process, the server in `pooling-lab __serve`, a child of it.
//!
//! Protocol (one JSON line each way, then stdin is held open):
//! 1. the measuring process writes a [`ServerJob`] line on the child's stdin;
//! 2. the child loads the guest from the precompiled artifact, starts the
//!    server and prints a [`Ready`] line (its address) on stdout;
//! 3. when the load is done the measuring process closes stdin; the child
//!    prints a [`Stopped`] line (its counters) and exits.
//!
//! A child that dies before step 2 is named with its stderr; one that dies
//! after it is noticed as `wasmtime serve`'s death is ([`ServerProcess::exited`]).

use super::server::Bind;
use crate::settings::Variant;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The hidden subcommand that runs the server.
pub const SERVER_COMMAND: &str = "__serve";

/// What the server process serves.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServerJob {
    /// The variant (its engine, pool, guest and `server_threads`).
    pub variant: Variant,
    /// Its precompiled artifact.
    pub artifact: Option<PathBuf>,
    /// Where it listens (a port shared with the variant's other server
    /// processes, with `[scenario] processes` above 1).
    #[serde(default)]
    pub bind: Bind,
}

/// Printed once the server listens.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ready {
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Printed when told to stop: the server's own counters.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Stopped {
    /// Requests whose handler returned a response.
    pub responses: u64,
    /// Requests that failed in the server (instantiation, trap, no response).
    pub failures: u64,
    /// The first failure's message.
    pub first_failure: Option<String>,
}

/// A running server process; killed when dropped unless stopped.
pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: tempfile::NamedTempFile,
    /// Where it listens.
    pub addr: SocketAddr,
    /// From its start until it listened (guest loaded, pool reserved).
    pub start: Duration,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far (the last 2,000 bytes).
    pub fn stderr_text(&self) -> String {
        let text = std::fs::read(self.stderr.path()).unwrap_or_default();
        let tail = &text[text.len().saturating_sub(2000)..];
        String::from_utf8_lossy(tail).trim().to_string()
    }

    /// `Some(reason)` if the server exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("pooling-lab's server exited: {status}")),
            _ => None,
        }
    }

    /// Tells it to stop and returns its counters (default counters when it
    /// died first: its death is reported by [`Self::exited`]).
    pub fn stop(mut self) -> Stopped {
        drop(self.stdin.take());
        let mut line = String::new();
        let stopped = match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => serde_json::from_str(&line).unwrap_or_default(),
            _ => Stopped::default(),
        };
        let _ = self.child.wait();
        stopped
    }
}

/// Starts `exe __serve` for `variant` (loaded from `artifact`) at `bind`
/// and waits until it listens.
pub fn start(
    exe: &Path,
    variant: &Variant,
    artifact: Option<&Path>,
    bind: Bind,
) -> Result<ServerProcess> {
    let job = serde_json::to_string(&ServerJob {
        variant: variant.clone(),
        artifact: artifact.map(Path::to_path_buf),
        bind,
    })?;
    let stderr = tempfile::NamedTempFile::new().context("a file for the server's stderr")?;
    let t = Instant::now();
    let mut child = Command::new(exe)
        .arg(SERVER_COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr.reopen()?))
        .spawn()
        .with_context(|| format!("starting {} {SERVER_COMMAND}", exe.display()))?;
    let mut stdin = child.stdin.take().context("the server's stdin")?;
    let stdout = BufReader::new(child.stdout.take().context("the server's stdout")?);
    let mut p = ServerProcess {
        child,
        stdin: None,
        stdout,
        stderr,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        start: Duration::ZERO,
    };
    stdin
        .write_all(job.as_bytes())
        .and_then(|()| stdin.write_all(b"\n"))
        .and_then(|()| stdin.flush())
        .context("sending the server its job")?;
    p.stdin = Some(stdin);
    let mut line = String::new();
    let n = p
        .stdout
        .read_line(&mut line)
        .context("reading the server's address")?;
    if n == 0 {
        let _ = p.child.wait();
        bail!(
            "pooling-lab's server stopped before listening: {}",
            p.stderr_text()
        );
    }
    let ready: Ready = serde_json::from_str(&line)
        .with_context(|| format!("the server's first line is not its address: {line}"))?;
    p.addr = ready.addr;
    p.start = t.elapsed();
    Ok(p)
}

/// Body of `pooling-lab __serve`: reads a [`ServerJob`] line on stdin, serves
/// until stdin closes, prints [`Ready`] and then [`Stopped`] on stdout.
pub fn main() -> Result<()> {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut line = String::new();
    input.read_line(&mut line).context("reading the job")?;
    let job: ServerJob = serde_json::from_str(&line).context("decoding the job")?;
    let v = &job.variant;
    let engine = crate::guest::engine(v)?;
    let prepared = Arc::new(crate::guest::prepare(engine, v, job.artifact.as_deref())?);
    let srv = super::server::start(prepared, v.scenario.server_threads as usize, job.bind)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &Ready { addr: srv.addr })?;
    out.write_all(b"\n")?;
    out.flush()?;
    // Serve until the measuring process closes stdin (or dies).
    let mut rest = Vec::new();
    let _ = input.read_to_end(&mut rest);
    let stopped = Stopped {
        responses: srv.counters.responses.load(Ordering::Relaxed),
        failures: srv.counters.failures.load(Ordering::Relaxed),
        first_failure: srv.first_failure.lock().clone(),
    };
    drop(srv);
    serde_json::to_writer(&mut out, &stopped)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
