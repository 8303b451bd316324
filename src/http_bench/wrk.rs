//! wrk, the HTTP benchmarking tool many users already run (Debian package
//! `wrk`, installed by `scripts/install-load-generator.sh`), as the load
//! generator: a closed loop over keep-alive connections for a fixed time, so
//! a reader can reproduce a serve table with a tool they know.
//!
//! What wrk measures, and how it differs from pooling-lab's own load:
//! * Closed loop only (wrk sends the next request on a connection when the
//!   previous one is answered); latency runs from each request's send to its
//!   answer, which is what pooling-lab's closed loop reports as `request`.
//! * Bounded in time (`-d`), not in requests; the request count is wrk's.
//! * Status codes outside 2xx/3xx are wrk's `status` errors; response bodies
//!   are not checked (a Lua `response()` hook would slow every request).
//! * The figures come from wrk itself: a generated Lua `done()` hook prints
//!   its summary (requests, duration, errors by kind) and its latency
//!   statistics (microsecond resolution: min, mean, stdev, p50/p90/p99/p99.9,
//!   max) as one JSON line, parsed by [`parse`].

use crate::guest::http::RequestSpec;
use crate::measure::latency::LatencySummary;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// Marks the line the generated `done()` hook prints.
const MARK: &str = "POOLING_LAB_WRK ";

/// One wrk run.
#[derive(Debug, Clone)]
pub struct WrkSpec {
    /// The wrk binary (a path, or a name looked up on PATH).
    pub wrk: String,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// Keep-alive connections (`-c`).
    pub connections: u32,
    /// wrk threads (`-t`), at most `connections`.
    pub threads: u32,
    /// How long the load runs (`-d`).
    pub duration: Duration,
    /// A request unanswered after this is a timeout (`--timeout`, rounded up
    /// to whole seconds: wrk reads no finer unit).
    pub timeout: Duration,
    /// The request sent.
    pub request: RequestSpec,
}

/// What wrk measured.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkResult {
    /// The command line it ran.
    pub command: Vec<String>,
    /// Responses received (any status).
    pub requests: u64,
    /// Length of the run as wrk timed it.
    pub duration: Duration,
    /// Errors by kind (connect, read, write, status, timeout), zeros left out.
    pub errors: BTreeMap<String, u64>,
    /// wrk's latency statistics, in nanoseconds.
    pub latency: LatencySummary,
}

impl WrkResult {
    /// Responses with a 2xx/3xx status.
    pub fn ok(&self) -> u64 {
        self.requests
            .saturating_sub(self.errors.get("status").copied().unwrap_or(0))
    }

    /// Answered-as-expected requests per second.
    pub fn requests_per_sec(&self) -> f64 {
        self.ok() as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// `s` as a Lua string literal (any bytes: non-printable ones as `\ddd`).
fn lua_string(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// The Lua script wrk runs: sets the request and prints the summary line.
pub fn script(request: &RequestSpec) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "wrk.method = {}\n",
        lua_string(request.method.as_str().as_bytes())
    ));
    s.push_str(&format!(
        "wrk.path = {}\n",
        lua_string(request.path.as_bytes())
    ));
    if !request.body.is_empty() {
        s.push_str(&format!("wrk.body = {}\n", lua_string(&request.body)));
    }
    for (name, value) in &request.headers {
        s.push_str(&format!(
            "wrk.headers[{}] = {}\n",
            lua_string(name.as_str().as_bytes()),
            lua_string(value.as_bytes())
        ));
    }
    s.push_str(&format!(
        r#"done = function(summary, latency, requests)
  local e = summary.errors
  local n = summary.requests
  local mean, stdev = 0, 0
  if n > 0 then mean, stdev = latency.mean, latency.stdev end
  io.write(string.format('{MARK}{{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"min_us":%d,"mean_us":%.3f,"stdev_us":%.3f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}}\n',
    n, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    n > 0 and latency.min or 0, mean, stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), n > 0 and latency.max or 0))
end
"#
    ));
    s
}

#[derive(Deserialize)]
struct Line {
    requests: u64,
    duration_us: u64,
    connect: u64,
    read: u64,
    write: u64,
    status: u64,
    timeout: u64,
    min_us: u64,
    mean_us: f64,
    stdev_us: f64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
}

/// Reads the summary line the generated script printed among wrk's output.
pub fn parse(stdout: &str) -> Result<WrkResult> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(MARK))
        .with_context(|| {
            format!(
                "wrk printed no summary line (is it wrk 4.x with Lua scripting?); its output: {}",
                stdout.trim()
            )
        })?;
    let l: Line = serde_json::from_str(line)
        .with_context(|| format!("wrk's summary line is not what the script prints: {line}"))?;
    let errors = [
        ("connect", l.connect),
        ("read", l.read),
        ("write", l.write),
        ("status", l.status),
        ("timeout", l.timeout),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    let ns = |us: u64| us.saturating_mul(1000);
    Ok(WrkResult {
        command: Vec::new(),
        requests: l.requests,
        duration: Duration::from_micros(l.duration_us),
        errors,
        latency: LatencySummary {
            count: l.requests,
            min_ns: ns(l.min_us),
            mean_ns: l.mean_us * 1000.0,
            stdev_ns: l.stdev_us * 1000.0,
            p50_ns: ns(l.p50_us),
            p90_ns: ns(l.p90_us),
            p99_ns: ns(l.p99_us),
            p999_ns: ns(l.p999_us),
            max_ns: ns(l.max_us),
        },
    })
}

/// Runs wrk against `spec.addr` and returns its figures. wrk stops by itself
/// after `spec.duration`; it is killed if it has not exited 30 s later.
pub fn run(spec: &WrkSpec) -> Result<WrkResult> {
    let mut script_file = tempfile::Builder::new()
        .prefix("pooling-lab-wrk-")
        .suffix(".lua")
        .tempfile()?;
    script_file.write_all(script(&spec.request).as_bytes())?;
    script_file.flush()?;
    let threads = spec.threads.clamp(1, spec.connections.max(1));
    let url = format!("http://{}{}", spec.addr, spec.request.path);
    let args = vec![
        "-t".to_string(),
        threads.to_string(),
        "-c".into(),
        spec.connections.max(1).to_string(),
        "-d".into(),
        format!("{}s", spec.duration.as_secs().max(1)),
        "--timeout".into(),
        // wrk reads whole seconds (`2s`), not milliseconds.
        format!("{}s", spec.timeout.as_millis().div_ceil(1000).max(1)),
        "-s".into(),
        script_file.path().display().to_string(),
        url,
    ];
    let mut command = vec![spec.wrk.clone()];
    command.extend(args.iter().cloned());
    let child = Command::new(&spec.wrk)
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "wrk not found at `{}`: run scripts/install-load-generator.sh (apt-get install wrk), \
             or set [scenario] wrk = \"/path/to/wrk\", or use load_generator = \"pooling-lab\"",
            spec.wrk
        ),
        Err(e) => return Err(e).with_context(|| format!("starting `{}`", spec.wrk)),
    };
    let deadline = spec.duration + Duration::from_secs(30);
    let output = wait_with_deadline(child, deadline)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {} {}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut r = parse(&stdout)?;
    r.command = command;
    Ok(r)
}

/// Waits for `child`'s output, killing it after `deadline`.
fn wait_with_deadline(
    mut child: std::process::Child,
    deadline: Duration,
) -> Result<std::process::Output> {
    let start = std::time::Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("wrk did not stop within {deadline:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_strings_escape_quotes_and_bytes() {
        assert_eq!(lua_string(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(lua_string(b"\n\x00\xff"), r#""\010\000\255""#);
    }

    #[test]
    fn the_summary_line_is_found_among_wrks_output() {
        let out = "Running 1s test @ http://127.0.0.1:1/\n  2 threads and 16 connections\n\
                   POOLING_LAB_WRK {\"requests\":1000,\"duration_us\":2000000,\"connect\":0,\"read\":0,\"write\":0,\"status\":10,\"timeout\":2,\"min_us\":100,\"mean_us\":1500.5,\"stdev_us\":20.0,\"p50_us\":1400,\"p90_us\":2000,\"p99_us\":3000,\"p999_us\":4000,\"max_us\":5000}\n";
        let r = parse(out).unwrap();
        assert_eq!(r.requests, 1000);
        assert_eq!(r.ok(), 990);
        assert_eq!(r.requests_per_sec(), 495.0);
        assert_eq!(r.errors.len(), 2, "zeros are left out: {:?}", r.errors);
        assert_eq!(r.latency.p99_ns, 3_000_000);
        assert_eq!(r.latency.mean_ns, 1_500_500.0);
        assert!(parse("no line").is_err());
    }
}
