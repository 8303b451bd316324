//! `wasmtime serve` itself as the server: the wasmtime CLI at the version in
//! Cargo.lock (installed by `scripts/install-wasmtime-cli.sh` into the
//! git-ignored `.cache/tools`), started on a free loopback port with the
//! variant's settings as `-O` flags (or none, for its defaults), stopped when
//! the load is done.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `scripts/install-wasmtime-cli.sh` puts the CLI for this wasmtime version.
pub fn default_cli_path() -> String {
    format!(
        ".cache/tools/wasmtime-{0}/bin/wasmtime",
        env!("POOLING_LAB_WASMTIME_VERSION")
    )
}

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

/// Starts `cli serve` on 127.0.0.1 with `flags` for `component`, and waits
/// (at most 60 s: it compiles the component first) until it accepts
/// connections.
pub fn start(cli: &str, flags: &[String], component: &Path) -> Result<External> {
    if !Path::new(cli).is_file() {
        bail!(
            "the wasmtime CLI is not at `{cli}` ([scenario] wasmtime_cli): run `scripts/install-wasmtime-cli.sh` (cargo install --locked, ~20 min once)"
        );
    }
    // A CLI that cannot say its version is still started (its own failure
    // to serve is the better message); its flags are checked only when its
    // release is known and differs from the parser that wrote them.
    let version = version(cli).unwrap_or_else(|e| format!("unknown ({e:#})"));
    if let Some(r) = release(&version)
        && !flags.is_empty()
        && r != env!("POOLING_LAB_CLI_FLAGS_VERSION")
    {
        check_flags(cli, &version, flags, component)?;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
        l.local_addr()?.port()
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut command = vec![
        cli.to_string(),
        "serve".into(),
        "--addr".into(),
        addr.to_string(),
        // The components link wasi:cli too (as pooling-lab's server does).
        "-S".into(),
        "cli=y".into(),
        // No compilation cache in the user's home: every run compiles alike.
        "-C".into(),
        "cache=n".into(),
    ];
    command.extend(flags.iter().cloned());
    command.push(component.display().to_string());
    let stderr = tempfile::NamedTempFile::new().context("a file for wasmtime serve's stderr")?;
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
    };
    let t = Instant::now();
    loop {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
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
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What `cli --version` prints, e.g. `wasmtime 48.0.8 (5ab2f5ba3 2026-...)`.
pub fn version(cli: &str) -> Result<String> {
    let out = Command::new(cli)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{cli} --version`"))?;
    if !out.status.success() {
        bail!(
            "`{cli} --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The release number in a `wasmtime --version` line (`48.0.8`).
pub fn release(version_line: &str) -> Option<&str> {
    let mut words = version_line.split_whitespace();
    (words.next() == Some("wasmtime")).then_some(())?;
    words
        .next()
        .filter(|v| v.split('.').all(|p| p.parse::<u32>().is_ok()))
}

/// Checks `flags` with the CLI's own flag parser, for a CLI of another
/// release than the wasmtime-cli-flags pooling-lab links (whose parser
/// checked them when they were written): `cli compile` parses and applies
/// the same `-O`/`-W`/`-C` options to an engine as `serve` does, so a flag
/// that release does not know, or a value it rejects, fails here, before
/// anything is measured, with that release's own message.
pub fn check_flags(cli: &str, version: &str, flags: &[String], component: &Path) -> Result<()> {
    let out_file = tempfile::NamedTempFile::new().context("a file for `wasmtime compile`")?;
    let out = Command::new(cli)
        .arg("compile")
        .args(flags)
        .arg("-o")
        .arg(out_file.path())
        .arg(component)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{cli} compile` to check the flags"))?;
    if !out.status.success() {
        bail!(
            "{version} rejects the variant's flags ({}): {}\n  fix: remove or change the [pooling]/[engine] keys \
             this release does not know, or give this variant another [scenario] wasmtime_cli",
            flags.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
