//! Scenario `serve`: a `wasi:http/proxy` component served over HTTP/1.1 on
//! loopback under load this process generates ([`crate::http_bench`]), by
//! pooling-lab's own server (the variant's engine and pool, the request path
//! of `wasmtime serve`) or by `wasmtime serve` itself (the variant's
//! settings as `-O` flags, or its defaults).
//!
//! Either server runs in a process of its own, started from a precompiled
//! component as production starts one (pooling-lab's from the variant's
//! cached artifact, `wasmtime serve` from the `.cwasm` its own `compile`
//! made, with `--allow-precompiled`); the load generator (pooling-lab's or
//! wrk) runs in, or is started by, this measuring process. So the server's
//! start, Pss/RSS/VmSize (sampled over the run), page faults and CPU time
//! per request are the server's alone.
//!
//! Per variant: requests/s, request latency percentiles (HDR, saved like
//! churn's), errors by kind, and those server figures.

use crate::guest::http::RequestSpec;
use crate::http_bench::server::Bind;
use crate::http_bench::{external, load, process, tools, wrk};
use crate::measure::latency::{Histograms, PhaseLatency};
use crate::measure::memory::{self, MemorySample};
use crate::metric::{
    Better, Comparison, Headline, MIN_PROCESS_BYTES, MIN_RELATIVE, Unit, count, p50_speedups,
    p50_spread, phase_headlines, rate, ratio,
};
use crate::settings::{LoadGenerator, ServeServer, Variant};
use crate::settings::{Objective, TuneSettings};
use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
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
    /// From starting the server process until it accepted a connection
    /// (milliseconds): loading the precompiled component and reserving the
    /// pool.
    #[serde(default)]
    pub server_start_ms: f64,
    /// How long `wasmtime compile` took to precompile the component for
    /// `wasmtime serve` (milliseconds), when this run compiled it (absent:
    /// it was cached, or pooling-lab served). Not part of any other figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precompile_ms: Option<f64>,
    /// CPU time (user + system) of the server process per timed request
    /// (microseconds): everything the server did for the load, handlers and
    /// HTTP included, none of the load generator's.
    #[serde(default)]
    pub server_cpu_us_per_request: f64,
    /// The server process after the warmup requests.
    pub memory_before: MemorySample,
    /// The server process after the timed requests.
    pub memory_after: MemorySample,
    /// The measuring process after the timed requests: it runs pooling-lab's
    /// load generator (or waits for wrk) and is none of the server's
    /// figures; here to show what the load side holds.
    #[serde(default)]
    pub measuring_process_memory: MemorySample,
    /// Highest Pss sampled (every 100 ms) during the timed requests.
    pub peak_pss_bytes: u64,
    /// Highest VmRSS sampled during the timed requests.
    pub peak_rss_bytes: u64,
    /// Minor page faults of the server process per timed request.
    pub minor_faults_per_request: f64,
    /// Context switches of the server processes' threads per timed request,
    /// `(voluntary, involuntary)`: a voluntary one is a thread going to
    /// sleep (waiting for a connection, a lock), an involuntary one a
    /// preemption. Threads that end during the timed requests are not
    /// counted. Absent in results made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_switches_per_request: Option<(f64, f64)>,
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
    /// Server processes (`[scenario] processes`): pooling-lab's server as
    /// that many processes on one port (SO_REUSEPORT), each with
    /// `server_threads` threads and its own engine and pool. The server
    /// figures above (Pss, Rss, Private_Dirty, faults, CPU, peaks) are
    /// summed over them; Pss counts a page they share (the component's
    /// code) once in the sum.
    #[serde(default = "one_process")]
    pub processes: u32,
    /// With several server processes: the requests each answered (warmup
    /// included), in start order; the kernel spreads the load's
    /// connections among them by a hash of their addresses, so this shows
    /// how evenly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses_per_process: Vec<u64>,
}

fn pooling_lab() -> String {
    "pooling-lab".into()
}

fn one_process() -> u32 {
    1
}

/// The `-O`/`-W` flags `wasmtime serve` gets for `v` (`wasmtime_flags = "variant"`).
pub fn wasmtime_flags(v: &Variant) -> Result<Vec<String>> {
    Ok(crate::export::cli_options::CliExport::of(v)?
        .args()
        .to_vec())
}

/// The component file `wasmtime serve` precompiles: the guest's file, or
/// the generated proxy written to a temporary file.
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

/// The server under load, in its own process (or processes).
enum Running {
    /// pooling-lab's server (`pooling-lab __serve`): one process, or
    /// `[scenario] processes` of them on one port (SO_REUSEPORT).
    Ours(Vec<process::ServerProcess>),
    /// `wasmtime serve`.
    Theirs(external::External),
}

impl Running {
    /// The server processes' ids.
    fn pids(&self) -> Vec<String> {
        match self {
            Running::Ours(ps) => ps.iter().map(|p| p.pid().to_string()).collect(),
            Running::Theirs(e) => vec![e.child.id().to_string()],
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Running::Ours(ps) => ps
                .first()
                .map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |p| p.addr),
            Running::Theirs(e) => e.addr,
        }
    }

    /// `Some(reason, with its stderr)` if a server process exited.
    fn died(&mut self) -> Option<String> {
        let (reason, stderr) = match self {
            Running::Ours(ps) => ps
                .iter_mut()
                .find_map(|p| Some((p.exited()?, p.stderr_text())))?,
            Running::Theirs(e) => (e.exited()?, e.stderr_text()),
        };
        Some(format!("{reason}; stderr: {stderr}"))
    }
}

/// Starts the variant's server from its precompiled component: pooling-lab's
/// from `artifact` (`[scenario] processes` of them, the first on a port the
/// kernel picks, the others on the same port, all with SO_REUSEPORT when
/// there are several), `wasmtime serve` from the `.cwasm` its CLI compiles
/// into the artifact's cache folder.
fn start_server(variant: &Variant, artifact: Option<&Path>) -> Result<Running> {
    let s = &variant.scenario;
    Ok(match s.server {
        ServeServer::PoolingLab => {
            let exe = std::env::current_exe().context("finding this binary to start the server")?;
            let reuse_port = s.processes > 1;
            let first = process::start(
                &exe,
                variant,
                artifact,
                Bind {
                    port: 0,
                    reuse_port,
                },
            )?;
            let port = first.addr.port();
            let mut all = vec![first];
            for i in 1..s.processes {
                all.push(
                    process::start(&exe, variant, artifact, Bind { port, reuse_port })
                        .with_context(|| format!("server process {}", i + 1))?,
                );
            }
            Running::Ours(all)
        }
        ServeServer::WasmtimeServe => {
            let flags = if s.wasmtime_flags == crate::settings::WasmtimeFlags::Variant {
                wasmtime_flags(variant)?
            } else {
                Vec::new()
            };
            let (file, _keep) = component_file(variant)?;
            let cache = artifact.and_then(Path::parent);
            Running::Theirs(external::start(
                &tools::wasmtime_cli(&s.wasmtime_cli),
                &flags,
                &file,
                cache,
            )?)
        }
    })
}

/// The server processes' memory, summed (Pss counts a page they share once
/// in all; Rss counts it in each).
fn memory_of(pids: &[String]) -> Result<MemorySample> {
    let samples = pids
        .iter()
        .map(|p| memory::sample_of(p))
        .collect::<Result<Vec<_>>>()?;
    Ok(MemorySample::sum(samples.iter()))
}

/// The server processes' threads' context switches now, per process.
fn switches_of(pids: &[String]) -> Vec<std::collections::BTreeMap<u32, (u64, u64)>> {
    pids.iter()
        .map(|p| crate::measure::faults::thread_switches_of(p).unwrap_or_default())
        .collect()
}

/// The server processes' CPU time (user + system), summed.
fn cpu_ns_of(pids: &[String]) -> Result<u64> {
    pids.iter().map(|p| memory::cpu_ns_of(p)).sum()
}

/// Runs the serve scenario: the server in a child process, the load from
/// this one.
pub fn run(variant: &Variant, artifact: Option<&Path>) -> Result<(ServeResult, Histograms)> {
    let s = &variant.scenario;
    let request = RequestSpec::from_settings(&variant.guest)?;
    let mut server = start_server(variant, artifact)?;
    let (addr, pids) = (server.addr(), server.pids());
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
    let memory_before = memory_of(&pids)?;
    let cpu_before = cpu_ns_of(&pids)?;
    let switches_before = switches_of(&pids);
    // Memory is sampled while the load runs (off the request path: its own thread).
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, pids) = (Arc::clone(&stop), pids.clone());
        std::thread::Builder::new()
            .name("serve-memory".into())
            .spawn(move || {
                let (mut pss, mut rss) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(m) = memory_of(&pids) {
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
        LoadGenerator::PoolingLab => load::run(&spec).map(LoadFigures::Ours),
        LoadGenerator::Wrk => wrk::run(&wrk::WrkSpec {
            wrk: tools::wrk(variant).display().to_string(),
            addr,
            connections: s.connections.max(1),
            threads: if s.wrk_threads == 0 {
                std::thread::available_parallelism().map_or(2, |n| n.get() as u32)
            } else {
                s.wrk_threads
            },
            duration: Duration::from_secs(s.load_duration_s.max(1)),
            timeout: spec.timeout,
            request: spec.request.clone(),
        })
        .map(LoadFigures::Wrk),
    };
    stop.store(true, Ordering::Relaxed);
    let (peak_pss, peak_rss) = sampler.join().unwrap_or((0, 0));
    let server_died = server.died();
    let memory_after = memory_of(&pids).unwrap_or(memory_before);
    let cpu_after = cpu_ns_of(&pids).unwrap_or(cpu_before);
    let switches = switches_before
        .iter()
        .zip(switches_of(&pids))
        .map(|(b, a)| crate::measure::faults::switches_between(b, &a))
        .fold((0, 0), |(v, i), (dv, di)| (v + dv, i + di));
    let measuring_process_memory = memory::sample_of("self").unwrap_or_default();
    let m = measured?;
    let (requests, n) = match &m {
        LoadFigures::Ours(_) => (s.iterations, s.iterations.max(1) as f64),
        LoadFigures::Wrk(w) => (w.requests, w.requests.max(1) as f64),
    };
    let (command, server_version, server_start, precompile) = match &server {
        // Several processes: the last to listen (they start one by one).
        Running::Ours(ps) => (
            None,
            None,
            ps.iter().map(|p| p.start).max().unwrap_or_default(),
            None,
        ),
        Running::Theirs(e) => (
            Some(e.command.join(" ")),
            Some(e.version.clone()),
            e.start,
            e.precompiled.1,
        ),
    };
    let stopped: Vec<process::Stopped> = match server {
        Running::Ours(ps) => ps.into_iter().map(process::ServerProcess::stop).collect(),
        Running::Theirs(e) => {
            drop(e);
            vec![process::Stopped::default()]
        }
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
            LoadFigures::Wrk(w) => Some(w.command.join(" ")),
            LoadFigures::Ours(_) => None,
        },
        command,
        server_version,
        connections: s.connections,
        rate: s.rate,
        requests,
        ok: m.ok(),
        errors: m.errors().clone(),
        first_error: match &m {
            LoadFigures::Ours(r) => r.first_error.clone(),
            LoadFigures::Wrk(_) => None,
        },
        unsent: match &m {
            LoadFigures::Ours(r) => r.unsent,
            LoadFigures::Wrk(_) => 0,
        },
        requests_per_sec: m.requests_per_sec(),
        phases: match &m {
            LoadFigures::Ours(r) => vec![
                PhaseLatency::of("request", &r.latency),
                PhaseLatency::of("service", &r.service),
            ],
            LoadFigures::Wrk(w) => vec![PhaseLatency {
                phase: "request".into(),
                summary: w.latency,
                hlog_path: None,
                hgrm_path: None,
            }],
        },
        server_start_ms: server_start.as_secs_f64() * 1e3,
        precompile_ms: precompile.map(|d| d.as_secs_f64() * 1e3),
        server_cpu_us_per_request: cpu_after.saturating_sub(cpu_before) as f64 / 1e3 / n,
        minor_faults_per_request: memory_after
            .minor_faults
            .saturating_sub(memory_before.minor_faults) as f64
            / n,
        server_switches_per_request: Some((switches.0 as f64 / n, switches.1 as f64 / n)),
        major_faults_per_request: memory_after
            .major_faults
            .saturating_sub(memory_before.major_faults) as f64
            / n,
        memory_before,
        memory_after,
        measuring_process_memory,
        peak_pss_bytes: peak_pss,
        peak_rss_bytes: peak_rss,
        server_failures: stopped.iter().map(|p| p.failures).sum(),
        server_first_failure: stopped.iter().find_map(|p| p.first_failure.clone()),
        processes: stopped.len() as u32,
        responses_per_process: if stopped.len() > 1 {
            stopped.iter().map(|p| p.responses).collect()
        } else {
            Vec::new()
        },
        server_died,
    };
    let histograms = match m {
        LoadFigures::Ours(r) => Histograms {
            named: vec![("request".into(), r.latency), ("service".into(), r.service)],
            started,
            wall: r.wall,
        },
        // wrk keeps its histogram to itself: its percentiles are in the summary.
        LoadFigures::Wrk(w) => Histograms {
            named: Vec::new(),
            started,
            wall: w.duration,
        },
    };
    Ok((result, histograms))
}

/// The timed load's figures, from either generator.
enum LoadFigures {
    Ours(load::LoadResult),
    Wrk(wrk::WrkResult),
}

impl LoadFigures {
    fn ok(&self) -> u64 {
        match self {
            LoadFigures::Ours(r) => r.ok,
            LoadFigures::Wrk(w) => w.ok(),
        }
    }

    fn errors(&self) -> &BTreeMap<String, u64> {
        match self {
            LoadFigures::Ours(r) => &r.errors,
            LoadFigures::Wrk(w) => &w.errors,
        }
    }

    fn requests_per_sec(&self) -> f64 {
        match self {
            LoadFigures::Ours(r) => r.ok as f64 / r.wall.as_secs_f64().max(1e-9),
            LoadFigures::Wrk(w) => w.requests_per_sec(),
        }
    }
}

/// Requests/s, latency, errors and server memory, one row per variant.
fn serve_table(
    rows: &[super::interface::Row<'_, ServeResult>],
    ctx: &super::interface::ReportContext<'_>,
) -> String {
    use super::interface::phase_summary;
    use crate::units::{duration, gib, mib};
    let mut out = String::from(
        "| variant | server | load | requests/s | requests/s vs baseline | request p50 / p99 / p99.9 | service p50 / p99 | errors | server Pss (after / peak) | server Pss vs baseline (baseline / this) | VmRSS peak | VmSize | minor faults / request | server context switches / request (voluntary / involuntary) | server CPU / request | server start |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let s = row.result;
        let (req, svc) = (
            phase_summary(&s.phases, "request"),
            phase_summary(&s.phases, "service"),
        );
        let load = if s.rate > 0.0 {
            format!("{:.0}/s open, {} conn", s.rate, s.connections)
        } else {
            format!("closed, {} conn", s.connections)
        };
        let load = if s.load_generator == "pooling-lab" {
            load
        } else {
            format!("{load}, {}", s.load_generator)
        };
        let errors: u64 = s.errors.values().sum();
        let errors = if errors == 0 {
            "0".to_string()
        } else {
            s.errors
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| {} | {} | {load} | {:.0} | {} | {} | {} | {errors} | {} / {} | {} | {} | {} | {:.1} | {} | {} | {} |\n",
            row.label,
            if s.processes > 1 {
                format!("{} x {} processes", s.server, s.processes)
            } else {
                s.server.clone()
            },
            s.requests_per_sec,
            row.throughput_vs_baseline(ctx),
            req.map_or("-".into(), |l| format!(
                "{} / {} / {}",
                duration(l.p50_ns as f64),
                duration(l.p99_ns as f64),
                duration(l.p999_ns as f64)
            )),
            svc.map_or("-".into(), |l| format!(
                "{} / {}",
                duration(l.p50_ns as f64),
                duration(l.p99_ns as f64)
            )),
            mib(s.memory_after.pss_bytes as f64),
            mib(s.peak_pss_bytes as f64),
            row.times(ctx, row.vs_baseline.and_then(|b| b.server_pss_ratio)),
            mib(s.peak_rss_bytes as f64),
            gib(s.memory_after.vm_size_bytes as f64),
            s.minor_faults_per_request,
            s.server_switches_per_request
                .map_or("-".into(), |(v, i)| format!("{v:.2} / {i:.2}")),
            // Results from before these were measured read 0.
            if s.server_cpu_us_per_request > 0.0 {
                duration(s.server_cpu_us_per_request * 1e3)
            } else {
                "-".into()
            },
            if s.server_start_ms > 0.0 {
                duration(s.server_start_ms * 1e6)
            } else {
                "-".into()
            },
        ));
    }
    out
}

/// The serve scenario: a wasi:http component under HTTP load, its server in
/// a process of its own.
pub struct Serve;

impl super::interface::Scenario for Serve {
    type Result = ServeResult;
    const KIND: crate::settings::ScenarioKind = crate::settings::ScenarioKind::Serve;
    const PROCESSES: bool = true;

    /// One sandbox per open connection's request in flight.
    fn max_live(s: &crate::settings::ScenarioSettings) -> (u32, &'static str) {
        (s.connections, "connections")
    }

    /// A dozen requests of pooling-lab's load, one second of wrk's.
    fn replay_cut(s: &mut crate::settings::ScenarioSettings) {
        s.iterations = s.iterations.min(super::interface::REPLAY_CALLS);
        s.warmup = s.warmup.min(super::interface::REPLAY_WARMUP);
        s.load_duration_s = 1;
    }

    /// `iterations`, `threads` within bounds; a wasi:http component to serve,
    /// with connections, server threads, rate and load generator within bounds.
    fn validate(v: &Variant) -> std::result::Result<(), crate::settings::Problem> {
        use crate::settings::{GuestKind, Problem};
        super::interface::check_iterations_and_threads(&v.scenario)?;
        let s = &v.scenario;
        if !matches!(
            v.guest.kind,
            GuestKind::HttpComponent | GuestKind::SyntheticHttp
        ) {
            return Err(Problem {
                section: "scenario",
                key: "kind",
                message: format!(
                    "serve serves a wasi:http/proxy component; this guest is kind = \"{}\"",
                    v.guest.kind.name()
                ),
                fix:
                    "use [guest] kind = \"http-component\" (with wasm = \"...\") or \"synthetic-http\""
                        .into(),
            });
        }
        if s.connections == 0 || s.connections > 4096 {
            return Err(Problem {
                section: "scenario",
                key: "connections",
                message: format!("connections = {} is outside 1..=4096", s.connections),
                fix: "e.g. connections = 16".into(),
            });
        }
        super::interface::check_processes(s)?;
        if s.processes > 1 && s.server == ServeServer::WasmtimeServe {
            return Err(Problem {
                section: "scenario",
                key: "processes",
                message: format!(
                    "processes = {} with server = \"wasmtime-serve\": wasmtime serve binds its \
                     address with SO_REUSEADDR only (not SO_REUSEPORT), so several of its \
                     processes cannot listen on one port",
                    s.processes
                ),
                fix: "use server = \"pooling-lab\" for several processes (they share the port \
                      with SO_REUSEPORT), or processes = 1"
                    .into(),
            });
        }
        if s.server_threads == 0 || s.server_threads > 256 {
            return Err(Problem {
                section: "scenario",
                key: "server_threads",
                message: format!("server_threads = {} is outside 1..=256", s.server_threads),
                fix: "use about one per core".into(),
            });
        }
        if !s.rate.is_finite() || s.rate < 0.0 {
            return Err(Problem {
                section: "scenario",
                key: "rate",
                message: format!("rate = {} is not a request rate", s.rate),
                fix: "give requests per second (e.g. 2000.0), or 0 for a closed loop".into(),
            });
        }
        if s.load_generator == crate::settings::LoadGenerator::Wrk {
            if s.rate > 0.0 {
                return Err(Problem {
                    section: "scenario",
                    key: "load_generator",
                    message: format!(
                        "wrk runs a closed loop (the next request when the last is answered), but rate = {}",
                        s.rate
                    ),
                    fix:
                        "use rate = 0.0 with wrk, or load_generator = \"pooling-lab\" for an open loop"
                            .into(),
                });
            }
            if s.load_duration_s == 0 || s.load_duration_s > s.max_duration_s {
                return Err(Problem {
                    section: "scenario",
                    key: "load_duration_s",
                    message: format!(
                        "load_duration_s = {} is outside 1..=max_duration_s ({})",
                        s.load_duration_s, s.max_duration_s
                    ),
                    fix: "e.g. load_duration_s = 10".into(),
                });
            }
        }
        Ok(())
    }

    fn run(v: &Variant, artifact: Option<&Path>) -> Result<(ServeResult, Option<Histograms>)> {
        let (r, h) = run(v, artifact)?;
        Ok((r, Some(h)))
    }

    fn phases(r: &ServeResult) -> &[PhaseLatency] {
        &r.phases
    }

    fn phases_mut(r: &mut ServeResult) -> Option<&mut Vec<PhaseLatency>> {
        Some(&mut r.phases)
    }

    /// Phase p50/p99, requests/s (judged in a closed loop only), the
    /// server's Pss and its faults per request.
    fn headlines(s: &ServeResult) -> Vec<Headline> {
        let mut out = Vec::new();
        phase_headlines(&s.phases, &mut out);
        let request = s
            .phases
            .iter()
            .find(|p| p.phase == "request")
            .map_or(MIN_RELATIVE, |p| p50_spread(&p.summary));
        let mut r = rate("requests / s", s.requests_per_sec, request);
        // In an open loop the rate is the schedule's, not a measurement.
        r.judged = s.rate == 0.0;
        out.push(r);
        out.push(Headline {
            metric: "server Pss".into(),
            value: s.memory_after.pss_bytes as f64,
            unit: Unit::Bytes,
            better: Better::Lower,
            within_rel: MIN_RELATIVE,
            floor_abs: MIN_PROCESS_BYTES,
            timing: false,
            judged: true,
        });
        out.push(count("minor faults / request", s.minor_faults_per_request));
        out
    }

    /// Closed loop: the throughput; open loop (the rate is the schedule's):
    /// the request p99.
    fn primary(s: &ServeResult) -> Option<f64> {
        if s.rate > 0.0 {
            s.phases
                .iter()
                .find(|p| p.phase == "request")
                .map(|p| p.summary.p99_ns as f64)
        } else {
            Some(s.requests_per_sec)
        }
    }

    /// Phase p50 speedups, requests/s between two closed loops, server Pss.
    fn vs_baseline(b: &ServeResult, x: &ServeResult, c: &mut Comparison) {
        p50_speedups(&b.phases, &x.phases, &mut c.p50_speedup);
        // Requests/s compare only between two closed loops (an open loop's
        // rate is its schedule).
        if b.rate == 0.0 && x.rate == 0.0 {
            c.throughput_ratio = ratio(x.requests_per_sec, b.requests_per_sec);
        }
        c.server_pss_ratio = ratio(
            b.memory_after.pss_bytes as f64,
            x.memory_after.pss_bytes as f64,
        );
    }

    /// `server`: pooling-lab's own or `wasmtime serve`.
    fn server(v: &Variant) -> Option<ServeServer> {
        Some(v.scenario.server)
    }

    /// The wasmtime CLI for `server = "wasmtime-serve"`, wrk for
    /// `load_generator = "wrk"` ([`tools::check`]).
    fn check_programs(v: &Variant) -> std::result::Result<(), crate::settings::Problem> {
        tools::check(v)
    }

    /// The server died mid-run (the figures up to then are kept), or no
    /// request was answered as expected.
    fn failure(_v: &Variant, s: &ServeResult) -> Option<String> {
        match &s.server_died {
            Some(d) => Some(format!(
                "the server died mid-run ({} of {} requests answered): {d}",
                s.ok, s.requests
            )),
            None if s.ok == 0 => Some(format!(
                "no request of {} was answered as expected; the first error: {}{}",
                s.requests,
                s.first_error.as_deref().unwrap_or("?"),
                s.server_first_failure
                    .as_deref()
                    .map_or_else(String::new, |f| format!("; in the server: {f}"))
            )),
            None => None,
        }
    }

    fn objectives() -> &'static [Objective] {
        &[Objective::RequestsPerSecond]
    }

    /// Requests per second, with the request p99 at or under the target.
    fn score(t: &TuneSettings, s: &ServeResult) -> Result<super::interface::Score, String> {
        let req = s
            .phases
            .iter()
            .find(|p| p.phase == "request")
            .ok_or("no request latency")?
            .summary;
        if s.ok == 0 {
            return Err(format!(
                "no request answered: {}",
                s.first_error.as_deref().unwrap_or("?")
            ));
        }
        let target = (t.p99_target_ms * 1e6) as u64;
        if target > 0 && req.p99_ns > target {
            return Err(format!(
                "request p99 {} is over the target {}",
                crate::units::duration(req.p99_ns as f64),
                crate::units::duration(target as f64)
            ));
        }
        Ok(super::interface::Score {
            value: s.requests_per_sec,
            rate: s.requests_per_sec,
            latency: req,
            memory_bytes: Some(s.memory_after.pss_bytes as f64),
        })
    }

    /// The serve table and each variant's server and load commands.
    fn report(
        rows: &[super::interface::Row<'_, ServeResult>],
        ctx: &super::interface::ReportContext<'_>,
    ) -> String {
        let mut out = format!(
            "\n## Serve: a wasi:http component under HTTP load\n\n\
             request = from each request's scheduled send time to its answer (open loop: \
             coordinated omission corrected) or from its send (closed loop); service = send to answer. \
             Either server is a process of its own, started from a precompiled component (`wasmtime serve` with \
             `--allow-precompiled`): its Pss, faults and CPU per request are that process's alone, none of the load \
             generator's; start = from starting it until it accepted a connection. \
             A load marked wrk was generated by wrk (closed loop, wrk's own latency figures, status checked, bodies not).\n\n\
             Baseline: `{}`. Ratios above 1 are better than the baseline: requests/s is this variant's over the \
             baseline's, compared only between two closed loops (an open loop's rate is its schedule); server Pss \
             (after the timed requests) is the baseline's over this variant's (2.00x = half the memory).\n\n",
            ctx.baseline
        );
        if rows.iter().any(|r| r.result.processes > 1) {
            out.push_str(
                "A server of N processes is pooling-lab's, run as N processes listening on one port \
                 (SO_REUSEPORT: the kernel spreads the connections among them by their addresses' hash), \
                 each with its own engine, pool and `server_threads` threads; its Pss, VmRSS, faults and \
                 CPU are summed over them (Pss counts the pages they share, such as the component's \
                 code, once in the sum; VmRSS counts them in each). \
                 Below the table: the requests each process answered.\n\n",
            );
        }
        out.push_str(&serve_table(rows, ctx));
        for row in rows {
            let r = row.result;
            if !r.responses_per_process.is_empty() {
                out.push_str(&format!(
                    "\n`{}`: requests answered per server process: {}\n",
                    row.name,
                    r.responses_per_process
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if let Some(c) = &row.result.command {
                out.push_str(&format!("\n`{}`: `{c}`\n", row.name));
            }
            if let Some(c) = &row.result.load_command {
                out.push_str(&format!("\n`{}` load: `{c}`\n", row.name));
            }
        }
        out
    }
}
