//! pooling-lab: which wasmtime allocator settings should production use, and
//! what does each sandbox really cost?
//!
//! An experiment is a TOML file ([`settings`]); every key may be a list, and the
//! experiment expands into the cartesian product of variants. The [`runner`]
//! measures each variant in a fresh process ([`scenario`], [`measure`]) and
//! writes a versioned JSON result plus a Markdown table ([`report`], [`result`]).
//! With rounds, every variant is measured in several interleaved processes
//! and reported with its between-round spread ([`rounds`]); what else the
//! machine did meanwhile is sampled and a disturbed variant marked
//! ([`measure::disturbance`]).
//!
//! Production code reuses [`settings`]: load a file with
//! [`settings::Experiment::load`] and build the engine from
//! [`settings::wasmtime_config`]; [`export`] writes the same settings as
//! `wasmtime serve` flags, a wasmtime CLI config file and builder code.

pub mod background;
pub mod export;
pub mod files;
pub mod git;
pub mod guest;
pub mod host;
pub mod http_bench;
pub mod measure;
pub mod metric;
pub mod progress;
pub mod report;
pub mod result;
pub mod rounds;
pub mod runner;
pub mod scenario;
pub mod settings;
pub mod slot_pool;
#[doc(hidden)]
pub mod testing;
pub mod tune;
pub mod units;
pub mod workers;

/// `anyhow` context for `wasmtime::Result` (wasmtime has its own error type since 48).
pub(crate) trait WasmtimeContext<T> {
    /// Converts to `anyhow` and adds `context`.
    fn wt_context<C: std::fmt::Display + Send + Sync + 'static>(
        self,
        context: impl FnOnce() -> C,
    ) -> anyhow::Result<T>;
}

impl<T> WasmtimeContext<T> for wasmtime::Result<T> {
    fn wt_context<C: std::fmt::Display + Send + Sync + 'static>(
        self,
        context: impl FnOnce() -> C,
    ) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::from(e).context(context()))
    }
}
