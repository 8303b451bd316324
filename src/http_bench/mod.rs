//! Serving a `wasi:http/proxy` component over HTTP/1.1 on loopback, and the
//! load that measures it.
//!
//! * [`server`]: pooling-lab's own server, the stack `wasmtime serve` uses
//!   (hyper + wasmtime-wasi-http, one fresh instance per request from a
//!   `ProxyPre`), on the variant's engine and pool.
//! * [`process`]: that server in a process of its own (`pooling-lab
//!   __serve`), so its memory, faults and CPU are measured as a server's.
//! * [`external`]: `wasmtime serve` itself, started as a child process with
//!   the variant's settings as `-O` flags (or none: its defaults), on the
//!   component precompiled by that CLI.
//! * [`tools`]: where the wasmtime CLI and wrk are, checked before measuring.
//! * [`load`]: the load generator: open loop at a fixed rate (latency
//!   counted from each request's scheduled send time, so a server that
//!   stalls cannot hide the requests queued behind it, as wrk2 does) or
//!   closed loop at a fixed number of connections.
//!
//! Nothing listens beyond 127.0.0.1; every run is bounded in requests and
//! time and stops by itself.

pub mod external;
pub mod load;
pub mod process;
pub mod server;
pub mod tools;
pub mod wrk;
