//! `wasi:http/proxy` components (`http-component`, `synthetic-http`),
//! served the way `wasmtime serve` serves them: linked once with WASI
//! preview2 and wasi:http (async), pre-instantiated as a `ProxyPre`, and one
//! call is one request: a `hyper` request built in memory from `[guest]`
//! (method, path, headers, body) handed to `wasi:http/incoming-handler`,
//! whose response status and body are checked.

use super::sandbox::{Guest, Sandbox, grants};
use crate::WasmtimeContext;
use crate::host::guest_faults::check_failed;
use crate::host::wasi::WasiSpec;
use crate::host::{Host, WasiLevel};
use crate::settings::GuestSettings;
use anyhow::{Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// The export a proxy component must have.
pub const HANDLER_EXPORT: &str = "wasi:http/incoming-handler@0.2";

/// The request a call sends, and what its response must be.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// HTTP method.
    pub method: http::Method,
    /// Path and query (`/` by default).
    pub path: String,
    /// `http://localhost` + path, parsed once (a request copies it).
    pub uri: http::Uri,
    /// Headers.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Request body.
    pub body: Bytes,
    /// Expected response status.
    pub expect_status: u16,
    /// Text the response body must contain ("" = not checked).
    pub expect_body: String,
}

impl RequestSpec {
    /// The request `[guest]` describes; a malformed method or header is an error naming the key.
    pub fn from_settings(g: &GuestSettings) -> Result<RequestSpec> {
        let method = http::Method::from_bytes(g.http_method.as_bytes()).map_err(|_| {
            super::plan::ExportMismatch {
                key: "http_method",
                message: format!("`{}` is not an HTTP method", g.http_method),
            }
        })?;
        let mut headers = Vec::new();
        for h in &g.http_headers {
            let bad = || super::plan::ExportMismatch {
                key: "http_headers",
                message: format!("`{h}` is not a header: write \"Name: value\""),
            };
            let (k, v) = h.split_once(':').ok_or_else(bad)?;
            let k = http::HeaderName::from_bytes(k.trim().as_bytes()).map_err(|_| bad())?;
            let v = http::HeaderValue::from_str(v.trim()).map_err(|_| bad())?;
            headers.push((k, v));
        }
        if !g.http_path.starts_with('/') {
            bail!(super::plan::ExportMismatch {
                key: "http_path",
                message: format!("`{}` must start with `/`", g.http_path),
            });
        }
        let uri = format!("http://localhost{}", g.http_path)
            .parse()
            .map_err(|e| super::plan::ExportMismatch {
                key: "http_path",
                message: format!("`{}` is not a path and query: {e}", g.http_path),
            })?;
        Ok(RequestSpec {
            method,
            uri,
            path: g.http_path.clone(),
            headers,
            body: Bytes::from(g.http_body.clone().into_bytes()),
            expect_status: g.expect_status,
            expect_body: g.expect_body.clone(),
        })
    }

    /// The request as hyper builds it: copies of what [`RequestSpec::from_settings`]
    /// parsed (nothing is formatted or parsed per request).
    pub fn build(&self) -> wasmtime::Result<hyper::Request<Full<Bytes>>> {
        let mut request = hyper::Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.reserve(self.headers.len());
        for (k, v) in &self.headers {
            headers.append(k.clone(), v.clone());
        }
        Ok(request)
    }
}

/// The proxy guest.
pub struct HttpGuest {
    pre: ProxyPre<Host>,
    request: RequestSpec,
    wasi: WasiSpec,
}

/// Links `component` the way `wasmtime serve` does (WASI preview2 proxy
/// interfaces and wasi:http, async) and wraps it in a `ProxyPre`.
pub fn proxy_pre(component: &Component) -> Result<ProxyPre<Host>> {
    let names = super::component::export_names(component);
    if !names.iter().any(|n| n.starts_with(HANDLER_EXPORT)) {
        bail!(super::plan::ExportMismatch {
            key: "kind",
            message: format!(
                "a wasi:http proxy exports `{HANDLER_EXPORT}.x`; this component exports: {}",
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names.join(", ")
                }
            ),
        });
    }
    let mut linker = Linker::new(component.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .wt_context(|| "adding WASI preview2 to the linker")?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .wt_context(|| "adding wasi:http to the linker")?;
    let pre = linker.instantiate_pre(component).wt_context(|| {
        "linking the component (pooling-lab offers what `wasmtime serve` offers: WASI preview2 and wasi:http)"
    })?;
    ProxyPre::new(pre).wt_context(|| "the component is not a wasi:http proxy")
}

impl HttpGuest {
    /// The pre-instantiated proxy (what a server instantiates per request).
    pub fn proxy_pre(&self) -> &ProxyPre<Host> {
        &self.pre
    }

    /// Links the component and reads the request from `[guest]`.
    pub fn new(component: Component, g: &GuestSettings) -> Result<HttpGuest> {
        Ok(HttpGuest {
            pre: proxy_pre(&component)?,
            request: RequestSpec::from_settings(g)?,
            wasi: grants(g),
        })
    }
}

/// Serves one request on a proxy instance; returns the status and the
/// collected body. The handler and the body collection run concurrently (a
/// guest may stream its body after setting the response).
pub async fn handle(
    store: &mut Store<Host>,
    proxy: &wasmtime_wasi_http::p2::bindings::Proxy,
    request: hyper::Request<Full<Bytes>>,
) -> wasmtime::Result<(u16, Bytes)> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, request)?;
    let out = store.data_mut().http().new_response_outparam(sender)?;
    let call = proxy
        .wasi_http_incoming_handler()
        .call_handle(&mut *store, req, out);
    let response = async {
        match receiver.await {
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| wasmtime::format_err!("reading the response body: {e:?}"))?
                    .to_bytes();
                Ok(Some((status, body)))
            }
            Ok(Err(code)) => Err(check_failed(format!(
                "the handler answered with the error {code:?}"
            ))),
            // The handler returned (or trapped) without setting a response.
            Err(_) => Ok(None),
        }
    };
    let (called, response) = tokio::join!(call, response);
    called?;
    match response? {
        Some(r) => Ok(r),
        None => Err(check_failed(
            "the handler returned without setting a response (`response-outparam.set`)",
        )),
    }
}

impl Guest for HttpGuest {
    fn as_http(&self) -> Option<&ProxyPre<Host>> {
        Some(&self.pre)
    }

    fn wasi(&self) -> (WasiLevel, WasiSpec) {
        (WasiLevel::P2, self.wasi.clone())
    }

    fn instantiate(&self, store: &mut Store<Host>) -> Result<Sandbox> {
        let proxy = crate::host::block_on(self.pre.instantiate_async(store))
            .wt_context(|| "instantiating")?;
        Ok(Sandbox::Proxy(Box::new(proxy)))
    }

    fn call(&self, store: &mut Store<Host>, sandbox: &mut Sandbox) -> wasmtime::Result<()> {
        let Sandbox::Proxy(proxy) = sandbox else {
            return Err(wasmtime::format_err!("not a proxy instance"));
        };
        let request = self.request.build()?;
        let (status, body) = crate::host::block_on(handle(store, proxy, request))?;
        if status != self.request.expect_status {
            return Err(check_failed(format!(
                "the response status is {status}, expected {}; body: {}",
                self.request.expect_status,
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )));
        }
        super::check::bytes(
            || "the response body".into(),
            &body,
            &self.request.expect_body,
            "",
            None,
        )?;
        // Whatever the handler wrote to stderr fails the request too.
        super::check::output(store, 0, "handle", &super::check::Outputs::NONE)
    }
}
