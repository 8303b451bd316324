//! The load generator: HTTP/1.1 keep-alive connections to a server on
//! loopback, each sending its share of the requests one after another.
//!
//! * **Open loop** (`rate > 0`): request *i* is due at `start + i / rate`
//!   and goes to connection `i mod connections`; its latency is counted from
//!   when it was due, not from when it could be sent, so a stalled server is
//!   charged for every request queued behind the stall (coordinated omission
//!   corrected, as wrk2 does). A dispatcher thread releases each request at
//!   its due time (sleep, then a short spin: a tokio timer fires up to a
//!   millisecond late, which would be charged to the server).
//! * **Closed loop** (`rate = 0`): every connection sends its next request
//!   when the last one is answered; latency is counted from the send.
//!
//! A request counts as an error by kind (connect, io, timeout, status,
//! body), never as a fast request; its latency is not recorded.

use crate::guest::http::RequestSpec;
use crate::measure::latency::{self, Hist};
use anyhow::{Context, Result};
use http_body_util::BodyExt;
use hyper::client::conn::http1;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What load to send.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The server.
    pub addr: SocketAddr,
    /// Keep-alive connections.
    pub connections: usize,
    /// Requests per second over all connections (0 = closed loop).
    pub rate: f64,
    /// Timed requests.
    pub requests: u64,
    /// Untimed requests before them (same schedule).
    pub warmup: u64,
    /// A request not answered within this is a timeout error.
    pub timeout: Duration,
    /// The whole run stops after this, whatever is left unsent.
    pub max_duration: Duration,
    /// The request and what its response must be.
    pub request: RequestSpec,
}

/// What the load measured.
#[derive(Debug)]
pub struct LoadResult {
    /// Latency of each timed successful request (ns; from its due time in
    /// open loop, from its send in closed loop).
    pub latency: Hist,
    /// Time from send to answer of the same requests (the server's service
    /// time as the client sees it).
    pub service: Hist,
    /// Timed requests answered as expected.
    pub ok: u64,
    /// Timed requests that failed, by kind.
    pub errors: BTreeMap<String, u64>,
    /// The first error's message.
    pub first_error: Option<String>,
    /// Timed requests never sent (the time bound was reached).
    pub unsent: u64,
    /// Wall time of the timed requests.
    pub wall: Duration,
}

struct ConnOutcome {
    latency: Hist,
    service: Hist,
    ok: u64,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    unsent: u64,
}

/// Runs the warmup, then the timed requests; returns what was measured.
pub fn run(spec: &LoadSpec) -> Result<LoadResult> {
    if spec.warmup > 0 {
        let mut w = spec.clone();
        w.requests = spec.warmup;
        w.warmup = 0;
        run_phase(&w).context("warmup requests")?;
    }
    run_phase(spec)
}

fn run_phase(spec: &LoadSpec) -> Result<LoadResult> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the load generator's runtime")?;
    let conns = spec.connections.max(1);
    let spec = Arc::new(spec.clone());
    let start = Instant::now() + Duration::from_millis(20);
    let deadline = start + spec.max_duration;
    // Open loop: a dispatcher releases each request at its due time.
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..conns {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        senders.push(tx);
        receivers.push(rx);
    }
    let dispatcher = (spec.rate > 0.0).then(|| {
        let (n, rate) = (spec.requests, spec.rate);
        std::thread::Builder::new()
            .name("load-dispatch".into())
            .spawn(move || {
                for i in 0..n {
                    let due = start + Duration::from_secs_f64(i as f64 / rate);
                    if due > deadline {
                        break;
                    }
                    latency::wait_until(due, Duration::from_micros(60));
                    if senders[(i % senders.len() as u64) as usize]
                        .send(due)
                        .is_err()
                    {
                        break;
                    }
                }
            })
    });
    let wall_start = Instant::now();
    let outcomes: Vec<ConnOutcome> = rt.block_on(async {
        let mut tasks = Vec::new();
        for (c, rx) in receivers.into_iter().enumerate() {
            let spec = Arc::clone(&spec);
            let share =
                spec.requests / conns as u64 + u64::from((c as u64) < spec.requests % conns as u64);
            tasks.push(tokio::spawn(connection(spec, share, rx, start, deadline)));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(
                t.await
                    .map_err(|e| anyhow::anyhow!("a load connection panicked: {e}"))?,
            );
        }
        anyhow::Ok(out)
    })?;
    if let Some(d) = dispatcher {
        let _ = d?.join();
    }
    let wall = wall_start
        .elapsed()
        .saturating_sub(start.saturating_duration_since(wall_start));
    let mut result = LoadResult {
        latency: latency::merge(outcomes.iter().map(|o| &o.latency))?,
        service: latency::merge(outcomes.iter().map(|o| &o.service))?,
        ok: outcomes.iter().map(|o| o.ok).sum(),
        errors: BTreeMap::new(),
        first_error: outcomes.iter().find_map(|o| o.first_error.clone()),
        unsent: outcomes.iter().map(|o| o.unsent).sum(),
        wall,
    };
    for o in &outcomes {
        for (k, v) in &o.errors {
            *result.errors.entry(k.clone()).or_default() += v;
        }
    }
    Ok(result)
}

/// One keep-alive connection sending `share` requests (closed loop) or the
/// requests the dispatcher releases to it (open loop).
async fn connection(
    spec: Arc<LoadSpec>,
    share: u64,
    mut due: tokio::sync::mpsc::UnboundedReceiver<Instant>,
    start: Instant,
    deadline: Instant,
) -> ConnOutcome {
    let mut o = ConnOutcome {
        latency: latency::new_histogram(),
        service: latency::new_histogram(),
        ok: 0,
        errors: BTreeMap::new(),
        first_error: None,
        unsent: 0,
    };
    let fail = |o: &mut ConnOutcome, kind: &str, msg: String| {
        *o.errors.entry(kind.to_string()).or_default() += 1;
        o.first_error.get_or_insert(msg);
    };
    let mut sender: Option<http1::SendRequest<http_body_util::Full<bytes::Bytes>>> = None;
    tokio::time::sleep_until(start.into()).await;
    for _ in 0..share {
        let scheduled = if spec.rate > 0.0 {
            match due.recv().await {
                Some(t) => t,
                None => {
                    o.unsent += 1;
                    continue;
                }
            }
        } else {
            Instant::now()
        };
        if Instant::now() > deadline {
            o.unsent += 1;
            continue;
        }
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            match connect(spec.addr).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    fail(
                        &mut o,
                        "connect",
                        format!("connecting to {}: {e:#}", spec.addr),
                    );
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let request = match spec.request.build() {
            Ok(r) => r,
            Err(e) => {
                fail(&mut o, "request", format!("{e:#}"));
                continue;
            }
        };
        let sent = Instant::now();
        let answer = tokio::time::timeout(spec.timeout, async {
            let _ = s.ready().await;
            let resp = s.send_request(request).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        })
        .await;
        let done = Instant::now();
        match answer {
            Err(_) => {
                fail(
                    &mut o,
                    "timeout",
                    format!("no answer within {:?}", spec.timeout),
                );
                sender = None;
            }
            Ok(Err(e)) => {
                fail(&mut o, "io", format!("{e:#}"));
                sender = None;
            }
            Ok(Ok((status, body))) => {
                if status != spec.request.expect_status {
                    fail(
                        &mut o,
                        "status",
                        format!(
                            "status {status}, expected {}: {}",
                            spec.request.expect_status,
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        ),
                    );
                } else if !spec.request.expect_body.is_empty()
                    && !String::from_utf8_lossy(&body).contains(&spec.request.expect_body)
                {
                    fail(
                        &mut o,
                        "body",
                        format!(
                            "body lacks `{}`: {}",
                            spec.request.expect_body,
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        ),
                    );
                } else {
                    o.ok += 1;
                    o.latency
                        .saturating_record(done.duration_since(scheduled).as_nanos().max(1) as u64);
                    o.service
                        .saturating_record(done.duration_since(sent).as_nanos().max(1) as u64);
                }
            }
        }
    }
    o
}

async fn connect(
    addr: SocketAddr,
) -> Result<http1::SendRequest<http_body_util::Full<bytes::Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
