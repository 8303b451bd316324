//! `wasmtime serve` itself as the server: the wasmtime CLI at the version in
//! Cargo.lock (installed by `scripts/install-wasmtime-cli.sh` into the
//! git-ignored `.cache/tools`, see [`super::tools`]), started on a free
//! loopback port with the variant's settings as `-O` flags (or none, for its
//! defaults), stopped when the load is done.
//!
//! As production runs it: the component is first precompiled by that CLI's
//! own `wasmtime compile` with the same flags (so the artifact matches the
//! engine `serve` builds from them), cached by CLI version, flags and
//! component, and `serve` is started on the `.cwasm` with
//! `--allow-precompiled`. Its start, memory and faults are then the
//! settings' own, not those of compiling a component in the server (a
//! CPython component: 5 s to ready and ~350 MB Pss compiling, 0.1 s and
//! ~40 MB from the artifact).

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `wasmtime serve`; killed when dropped.
pub struct External {
    /// Its process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The command line it was started with (for the result).
    pub command: Vec<String>,
    /// What `wasmtime --version` printed (`wasmtime 50.0.1 (...)`).
    pub version: String,
    /// Its stderr, in a file (a pipe nobody reads would block it).
    pub stderr: tempfile::NamedTempFile,
    /// From its start until it accepted a connection.
    pub start: Duration,
    /// The precompiled component it serves, and how long `wasmtime compile`
    /// took to make it (`None`: it was in the cache).
    pub precompiled: (PathBuf, Option<Duration>),
}

impl Drop for External {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl External {
    /// What it wrote to stderr so far (the last 2,000 bytes).
    pub fn stderr_text(&self) -> String {
        let text = std::fs::read(self.stderr.path()).unwrap_or_default();
        let tail = &text[text.len().saturating_sub(2000)..];
        String::from_utf8_lossy(tail).trim().to_string()
    }

    /// `Some(reason)` if the server exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("wasmtime serve exited: {status}")),
            _ => None,
        }
    }
}

/// Starts `cli serve` on 127.0.0.1 with `flags` for `component`,
/// precompiled first ([`precompile`], into `cache_dir`, or a temporary
/// folder when there is none), and waits (at most 60 s) until it accepts
/// connections.
pub fn start(
    cli: &Path,
    flags: &[String],
    component: &Path,
    cache_dir: Option<&Path>,
) -> Result<External> {
    if !cli.is_file() {
        bail!(
            "the wasmtime CLI is not at `{}` ([scenario] wasmtime_cli): run `scripts/install-wasmtime-cli.sh` (cargo install --locked, ~20 min once)",
            cli.display()
        );
    }
    // A CLI that cannot say its version is still started (its own failure
    // to serve is the better message).
    let version = version(cli).unwrap_or_else(|e| format!("unknown ({e:#})"));
    let scratch;
    let cache_dir = match cache_dir {
        Some(d) => d,
        None => {
            scratch = tempfile::tempdir().context("a folder for the precompiled component")?;
            scratch.path()
        }
    };
    let precompiled = precompile(cli, &version, flags, component, cache_dir)?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
        l.local_addr()?.port()
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut command = vec![
        cli.display().to_string(),
        "serve".into(),
        "--addr".into(),
        addr.to_string(),
        // The components link wasi:cli too (as pooling-lab's server does).
        "-S".into(),
        "cli=y".into(),
        // No compilation cache in the user's home: the artifact is ours.
        "-C".into(),
        "cache=n".into(),
        "--allow-precompiled".into(),
    ];
    command.extend(flags.iter().cloned());
    command.push(precompiled.0.display().to_string());
    let stderr = tempfile::NamedTempFile::new().context("a file for wasmtime serve's stderr")?;
    let t = Instant::now();
    let child = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr.reopen()?))
        .spawn()
        .with_context(|| format!("starting {}", command.join(" ")))?;
    let mut ext = External {
        child,
        addr,
        command,
        version,
        stderr,
        start: Duration::ZERO,
        precompiled,
    };
    loop {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            ext.start = t.elapsed();
            return Ok(ext);
        }
        if let Some(reason) = ext.exited() {
            let stderr = ext.stderr_text();
            bail!(
                "{reason} before listening: {}\n  command: {}",
                stderr.trim(),
                ext.command.join(" ")
            );
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!(
                "wasmtime serve did not listen on {addr} within 60 s: {}",
                ext.command.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The component precompiled by `cli compile` with `flags` (the `-O`/`-W`
/// options `serve` gets: the artifact must match the engine they build),
/// cached in `cache_dir` under a name made of the CLI's version line, the
/// flags and the component's bytes; with how long compiling took (`None`
/// when cached). `compile` parses and applies the options as `serve` does,
/// so a flag this release does not know, or a value it rejects, fails here,
/// before anything is started, in that release's own words.
pub fn precompile(
    cli: &Path,
    version: &str,
    flags: &[String],
    component: &Path,
    cache_dir: &Path,
) -> Result<(PathBuf, Option<Duration>)> {
    let bytes = std::fs::read(component)
        .with_context(|| format!("reading the component {}", component.display()))?;
    let mut key = Sha256::new();
    key.update(version.as_bytes());
    for f in flags {
        key.update([0]);
        key.update(f.as_bytes());
    }
    key.update([1]);
    key.update(&bytes);
    let hex: String = key.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = cache_dir.join(format!("wasmtime-serve-{hex}.cwasm"));
    if path.is_file() {
        return Ok((path, None));
    }
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating the artifact cache {}", cache_dir.display()))?;
    let tmp = tempfile::Builder::new()
        .suffix(".cwasm")
        .tempfile_in(cache_dir)
        .with_context(|| format!("writing to the artifact cache {}", cache_dir.display()))?;
    let t = Instant::now();
    let out = Command::new(cli)
        .arg("compile")
        .args(flags)
        .arg("-o")
        .arg(tmp.path())
        .arg(component)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{} compile`", cli.display()))?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!(
            "{version} rejects the variant's flags or component: `wasmtime compile {}` failed ({}): {}\n  fix: remove or \
             change the [pooling]/[engine] keys this release does not know, or give this variant another [scenario] wasmtime_cli",
            flags.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // Written back before it is served: its pages are clean page cache.
    std::fs::File::open(tmp.path())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", tmp.path().display()))?;
    tmp.persist(&path)
        .with_context(|| format!("saving {}", path.display()))?;
    Ok((path, Some(took)))
}

/// What `cli --version` prints, e.g. `wasmtime 48.0.8 (5ab2f5ba3 2026-...)`.
pub fn version(cli: &Path) -> Result<String> {
    let out = Command::new(cli)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{} --version`", cli.display()))?;
    if !out.status.success() {
        bail!(
            "`{} --version` failed ({}): {}",
            cli.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
