//! pooling-lab's HTTP server for a `wasi:http/proxy` component: the request
//! path of `wasmtime serve` (per request: a new store, the hyper request
//! turned into a `wasi:http` incoming request, a fresh instance from the
//! `ProxyPre`, `incoming-handler.handle` in a spawned task, the response
//! streamed back), on the variant's engine, pool and store limits.

use crate::guest::Prepared;
use crate::host::Host;
use anyhow::{Context, Result, anyhow};
use hyper::server::conn::http1;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Counters the server keeps (read after the load stopped).
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// Requests whose handler returned a response.
    pub responses: AtomicU64,
    /// Requests that failed in the server (instantiation, trap, no response).
    pub failures: AtomicU64,
}

/// A running server; dropping it stops it (the runtime shuts down).
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its counters.
    pub counters: Arc<ServerCounters>,
    /// The first failure's message.
    pub first_failure: Arc<parking_lot::Mutex<Option<String>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

/// Where a server listens on 127.0.0.1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// The port (0: one the kernel picks).
    pub port: u16,
    /// Sets `SO_REUSEPORT`, so that several server processes listen on one
    /// port and the kernel spreads new connections among them (by a hash of
    /// the connection's addresses), as production servers run N processes
    /// behind one address. `wasmtime serve` sets `SO_REUSEADDR` only.
    pub reuse_port: bool,
}

/// Starts serving `prepared` (an `http-component` or `synthetic-http`
/// guest) on 127.0.0.1 at `bind` with `threads` tokio worker threads.
pub fn start(prepared: Arc<Prepared>, threads: usize, bind: Bind) -> Result<Server> {
    if prepared.guest.as_http().is_none() {
        anyhow::bail!(
            "the serve scenario serves wasi:http components (kind = \"http-component\" or \"synthetic-http\")"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("serve")
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    let listener = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            // As `wasmtime serve` does: a restarted server rebinds at once.
            socket.set_reuseaddr(true)?;
            if bind.reuse_port {
                socket.set_reuseport(true)?;
            }
            socket.bind(SocketAddr::from(([127, 0, 0, 1], bind.port)))?;
            socket.listen(1024)
        })
        .with_context(|| {
            format!(
                "listening on 127.0.0.1:{}{}",
                bind.port,
                if bind.reuse_port {
                    " (SO_REUSEPORT)"
                } else {
                    ""
                }
            )
        })?;
    let addr = listener.local_addr()?;
    let counters = Arc::new(ServerCounters::default());
    let first_failure = Arc::new(parking_lot::Mutex::new(None));
    let (c, f) = (Arc::clone(&counters), Arc::clone(&first_failure));
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (p, c, f) = (Arc::clone(&prepared), Arc::clone(&c), Arc::clone(&f));
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let (p, c, f) = (Arc::clone(&p), Arc::clone(&c), Arc::clone(&f));
                    async move {
                        let r = handle(&p, req).await;
                        match &r {
                            Ok(_) => c.responses.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                f.lock().get_or_insert_with(|| format!("{e:#}"));
                                c.failures.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                        r
                    }
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Server {
        addr,
        counters,
        first_failure,
        runtime: Some(runtime),
    })
}

/// One request, as `wasmtime serve` handles it.
async fn handle(
    p: &Arc<Prepared>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>> {
    let http: &ProxyPre<Host> = p
        .guest
        .as_http()
        .ok_or_else(|| anyhow!("not a wasi:http guest"))?;
    let mut store = p.new_store();
    let (sender, receiver) = oneshot::channel();
    let req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .map_err(|e| anyhow!("{e:#}"))?;
    let out = store
        .data_mut()
        .http()
        .new_response_outparam(sender)
        .map_err(|e| anyhow!("{e:#}"))?;
    let pre = http.clone();
    let deadline = p.deadline_ticks;
    // The handler runs in its own task: it may go on streaming the body
    // after it set the response.
    let task = tokio::spawn(async move {
        if let Some(ticks) = deadline {
            store.set_epoch_deadline(ticks);
        }
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
    });
    match receiver.await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(code)) => Err(anyhow!("the handler answered with the error {code:?}")),
        Err(_) => match task.await {
            Ok(Ok(())) => Err(anyhow!("the handler returned without setting a response")),
            Ok(Err(e)) => Err(anyhow!("the handler failed: {e:#}")),
            Err(e) => Err(anyhow!("the handler task failed: {e}")),
        },
    }
}
