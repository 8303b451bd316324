//! Scenario `serve`: a `wasi:http/proxy` component served over HTTP/1.1 on
//! loopback under load this process generates ([`crate::serve`]), by
//! pooling-lab's own server (the variant's engine and pool, the request path
//! of `wasmtime serve`) or by `wasmtime serve` itself (the variant's
//! settings as `-O` flags, or its defaults).
//!
//! Per variant: requests/s, request latency percentiles (HDR, saved like
//! churn's), errors by kind, the server process's Pss/RSS/VmSize sampled
//! over the run and its page faults per request. With pooling-lab's server
//! the process also runs the load generator (as wrk shares a machine with
//! its server); its own memory is small next to the server's and is
//! included.

use super::{Histograms, PhaseLatency};
use crate::guest::http::RequestSpec;
use crate::measure::memory::{self, MemorySample};
use crate::serve::{external, load, server, wrk};
use crate::settings::{LoadGenerator, ServeServer, Variant};
use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// Result of the serve scenario for one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServeResult {
    /// `pooling-lab` or `wasmtime serve`.
    pub server: String,
    /// Who generated the load: `pooling-lab` or `wrk`.
    #[serde(default = "pooling_lab")]
    pub load_generator: String,
    /// The wrk command line, when wrk generated the load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_command: Option<String>,
    /// The `wasmtime serve` command line, when it was the server.
    pub command: Option<String>,
    /// What that CLI's `--version` printed (which release served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// Keep-alive connections of the load.
    pub connections: u32,
    /// Requests per second sent (0 = closed loop).
    pub rate: f64,
    /// Timed requests.
    pub requests: u64,
    /// Timed requests answered as expected.
    pub ok: u64,
    /// Timed requests that failed, by kind (connect, io, timeout, status, body).
    pub errors: BTreeMap<String, u64>,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// Timed requests never sent because the time bound was reached.
    pub unsent: u64,
    /// Requests answered as expected per second of the timed part.
    pub requests_per_sec: f64,
    /// `request` (from each request's due time: coordinated omission
    /// corrected; from its send in closed loop) and `service` (send to answer).
    pub phases: Vec<PhaseLatency>,
    /// The server process after the warmup requests.
    pub memory_before: MemorySample,
    /// The server process after the timed requests.
    pub memory_after: MemorySample,
    /// Highest Pss sampled (every 100 ms) during the timed requests.
    pub peak_pss_bytes: u64,
    /// Highest VmRSS sampled during the timed requests.
    pub peak_rss_bytes: u64,
    /// Minor page faults of the server process per timed request.
    pub minor_faults_per_request: f64,
    /// Major page faults of the server process per timed request.
    pub major_faults_per_request: f64,
    /// Failures inside pooling-lab's server (instantiation, trap, no response).
    pub server_failures: u64,
    /// The first failure inside pooling-lab's server (e.g. the handler's
    /// trap), which the client only sees as a closed connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_first_failure: Option<String>,
    /// Set when the server died during the run.
    pub server_died: Option<String>,
}

fn pooling_lab() -> String {
    "pooling-lab".into()
}

/// The `-O`/`-W` flags `wasmtime serve` gets for `v` (`wasmtime_flags = "variant"`).
pub fn wasmtime_flags(v: &Variant) -> Result<Vec<String>> {
    Ok(crate::export::cli::CliExport::of(v)?.args().to_vec())
}

/// The component file `wasmtime serve` loads: the guest's file, or the
/// generated proxy written to a temporary file.
fn component_file(v: &Variant) -> Result<(std::path::PathBuf, Option<tempfile::TempPath>)> {
    if v.guest.kind == crate::settings::GuestKind::HttpComponent {
        return Ok((v.guest.wasm.clone().into(), None));
    }
    let bytes = crate::guest::guest_wasm(&v.guest)?;
    let mut f = tempfile::Builder::new().suffix(".wasm").tempfile()?;
    std::io::Write::write_all(&mut f, &bytes)?;
    let path = f.into_temp_path();
    Ok((path.to_path_buf(), Some(path)))
}

/// Runs the serve scenario in this process.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<(ServeResult, Histograms)> {
    let s = &variant.scenario;
    let request = RequestSpec::from_settings(&variant.guest)?;
    // The server: this process (pooling-lab) or a child (wasmtime serve).
    let mut ours = None;
    let mut theirs = None;
    let mut _component_file = None;
    let (addr, pid) = match s.server {
        ServeServer::PoolingLab => {
            let engine = super::engine(variant)?;
            let prepared = Arc::new(super::prepare(engine, variant, artifact)?);
            let srv = server::start(prepared, s.server_threads as usize)?;
            let addr = srv.addr;
            ours = Some(srv);
            (addr, "self".to_string())
        }
        ServeServer::WasmtimeServe => {
            let flags = if s.wasmtime_flags == crate::settings::WasmtimeFlags::Variant {
                wasmtime_flags(variant)?
            } else {
                Vec::new()
            };
            let cli = if s.wasmtime_cli.is_empty() {
                external::default_cli_path()
            } else {
                s.wasmtime_cli.clone()
            };
            let (file, keep) = component_file(variant)?;
            let ext = external::start(&cli, &flags, &file)?;
            _component_file = keep;
            let addr = ext.addr;
            let pid = ext.child.id().to_string();
            theirs = Some(ext);
            (addr, pid)
        }
    };
    let spec = load::LoadSpec {
        addr,
        connections: s.connections.max(1) as usize,
        rate: s.rate,
        requests: s.iterations,
        warmup: 0,
        timeout: Duration::from_millis(s.request_timeout_ms.max(1)),
        max_duration: Duration::from_secs(s.max_duration_s.max(1)),
        request,
    };
    if s.warmup > 0 {
        let mut w = spec.clone();
        w.requests = s.warmup;
        crate::progress::set_total(s.warmup, "warmup requests");
        load::run(&w).context("warmup requests")?;
    }
    let memory_before = memory::sample_of(&pid)?;
    // Memory is sampled while the load runs (off the request path: its own thread).
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, pid) = (Arc::clone(&stop), pid.clone());
        std::thread::Builder::new()
            .name("serve-memory".into())
            .spawn(move || {
                let (mut pss, mut rss) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(m) = memory::sample_of(&pid) {
                        pss = pss.max(m.pss_bytes);
                        rss = rss.max(m.vm_rss_bytes);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                (pss, rss)
            })?
    };
    crate::progress::set_total(s.iterations, "requests");
    let started = SystemTime::now();
    let measured = match s.load_generator {
        LoadGenerator::PoolingLab => load::run(&spec).map(Measured::Ours),
        LoadGenerator::Wrk => wrk::run(&wrk::WrkSpec {
            wrk: if s.wrk.is_empty() {
                "wrk".into()
            } else {
                s.wrk.clone()
            },
            addr,
            connections: s.connections.max(1),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get() as u32),
            duration: Duration::from_secs(s.load_duration_s.max(1)),
            timeout: spec.timeout,
            request: spec.request.clone(),
        })
        .map(Measured::Wrk),
    };
    stop.store(true, Ordering::Relaxed);
    let (peak_pss, peak_rss) = sampler.join().unwrap_or((0, 0));
    let mut server_died = theirs.as_mut().and_then(|e| e.exited());
    if let Some(d) = &mut server_died
        && let Some(e) = &theirs
    {
        d.push_str(&format!("; stderr: {}", e.stderr_text()));
    }
    let memory_after = memory::sample_of(&pid).unwrap_or(memory_before);
    let m = measured?;
    let (requests, n) = match &m {
        Measured::Ours(_) => (s.iterations, s.iterations.max(1) as f64),
        Measured::Wrk(w) => (w.requests, w.requests.max(1) as f64),
    };
    let result = ServeResult {
        server: match s.server {
            ServeServer::PoolingLab => "pooling-lab".into(),
            ServeServer::WasmtimeServe => "wasmtime serve".into(),
        },
        load_generator: match s.load_generator {
            LoadGenerator::PoolingLab => "pooling-lab".into(),
            LoadGenerator::Wrk => "wrk".into(),
        },
        load_command: match &m {
            Measured::Wrk(w) => Some(w.command.join(" ")),
            Measured::Ours(_) => None,
        },
        command: theirs.as_ref().map(|e| e.command.join(" ")),
        server_version: theirs.as_ref().map(|e| e.version.clone()),
        connections: s.connections,
        rate: s.rate,
        requests,
        ok: m.ok(),
        errors: m.errors().clone(),
        first_error: match &m {
            Measured::Ours(r) => r.first_error.clone(),
            Measured::Wrk(_) => None,
        },
        unsent: match &m {
            Measured::Ours(r) => r.unsent,
            Measured::Wrk(_) => 0,
        },
        requests_per_sec: m.requests_per_sec(),
        phases: match &m {
            Measured::Ours(r) => vec![
                PhaseLatency::of("request", &r.latency),
                PhaseLatency::of("service", &r.service),
            ],
            Measured::Wrk(w) => vec![PhaseLatency {
                phase: "request".into(),
                summary: w.latency,
                hlog_path: None,
                hgrm_path: None,
            }],
        },
        minor_faults_per_request: memory_after
            .minor_faults
            .saturating_sub(memory_before.minor_faults) as f64
            / n,
        major_faults_per_request: memory_after
            .major_faults
            .saturating_sub(memory_before.major_faults) as f64
            / n,
        memory_before,
        memory_after,
        peak_pss_bytes: peak_pss,
        peak_rss_bytes: peak_rss,
        server_failures: ours
            .as_ref()
            .map_or(0, |o| o.counters.failures.load(Ordering::Relaxed)),
        server_first_failure: ours.as_ref().and_then(|o| o.first_failure.lock().clone()),
        server_died,
    };
    drop(ours);
    drop(theirs);
    let histograms = match m {
        Measured::Ours(r) => Histograms {
            named: vec![("request".into(), r.latency), ("service".into(), r.service)],
            started,
            wall: r.wall,
        },
        // wrk keeps its histogram to itself: its percentiles are in the summary.
        Measured::Wrk(w) => Histograms {
            named: Vec::new(),
            started,
            wall: w.duration,
        },
    };
    Ok((result, histograms))
}

/// The timed load's figures, from either generator.
enum Measured {
    Ours(load::LoadResult),
    Wrk(wrk::WrkResult),
}

impl Measured {
    fn ok(&self) -> u64 {
        match self {
            Measured::Ours(r) => r.ok,
            Measured::Wrk(w) => w.ok(),
        }
    }

    fn errors(&self) -> &BTreeMap<String, u64> {
        match self {
            Measured::Ours(r) => &r.errors,
            Measured::Wrk(w) => &w.errors,
        }
    }

    fn requests_per_sec(&self) -> f64 {
        match self {
            Measured::Ours(r) => r.ok as f64 / r.wall.as_secs_f64().max(1e-9),
            Measured::Wrk(w) => w.requests_per_sec(),
        }
    }
}
