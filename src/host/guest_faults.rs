//! Guest faults: what went wrong in a guest call, counted per variant.
//!
//! A fault is a result, not an error: the call is complete and timed. Only a
//! failure to make a sandbox at all stops a scenario.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A guest call that ran but whose result was wrong: a non-zero exit status
/// or return value, output on stderr, a body or stdout without the expected
/// text, an HTTP status other than the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailed(pub String);

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckFailed {}

/// A [`CheckFailed`] error with `message`.
pub fn check_failed(message: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(CheckFailed(message.into()))
}

/// How a guest call's error names what the guest wrote to stderr (a
/// context the call site adds; [`GuestFaults::record`] keeps it in the first
/// fault's text).
pub const STDERR_CONTEXT: &str = "the guest's stderr: ";

/// What kind of guest fault an error from a guest call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A wasm trap (unreachable, out of bounds, ...).
    Trap,
    /// The per-call deadline stopped the call.
    Deadline,
    /// A memory grow beyond `[guest] memory_limit`.
    MemoryLimit,
    /// The call returned, but its result failed the check ([`CheckFailed`]).
    Check,
    /// Anything else.
    Other,
}

/// Classifies an error returned by a guest call.
pub fn classify(e: &wasmtime::Error) -> FaultKind {
    if e.downcast_ref::<CheckFailed>().is_some() {
        return FaultKind::Check;
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => FaultKind::Deadline,
        Some(_) => FaultKind::Trap,
        None if format!("{e:#}").contains("forcing trap when growing memory") => {
            FaultKind::MemoryLimit
        }
        None => FaultKind::Other,
    }
}

/// Guest faults counted over a scenario's calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuestFaults {
    /// Calls that trapped.
    pub traps: u64,
    /// Calls stopped by the per-call deadline.
    pub deadlines: u64,
    /// Calls that grew memory past `[guest] memory_limit`.
    pub memory_limits: u64,
    /// Calls that returned a wrong result (status, return value, output, body).
    #[serde(default)]
    pub checks: u64,
    /// Calls that failed otherwise.
    pub other: u64,
    /// The first fault's message.
    pub first: Option<String>,
}

impl GuestFaults {
    /// Counts one fault.
    pub fn record(&mut self, e: &wasmtime::Error) {
        match classify(e) {
            FaultKind::Trap => self.traps += 1,
            FaultKind::Deadline => self.deadlines += 1,
            FaultKind::MemoryLimit => self.memory_limits += 1,
            FaultKind::Check => self.checks += 1,
            FaultKind::Other => self.other += 1,
        }
        if self.first.is_none() {
            // The root cause names the fault; the context above it is a
            // backtrace of the guest, the same for every fault.
            let cause = match e.downcast_ref::<wasmtime::Trap>() {
                Some(trap) => trap.to_string(),
                None => e.root_cause().to_string(),
            };
            // What the guest wrote to stderr, when the call site added it
            // (bounded and escaped there: `guest::check::after_call`).
            let all = format!("{e:#}");
            self.first = Some(match all.find(STDERR_CONTEXT) {
                Some(at) if !cause.contains(STDERR_CONTEXT) => {
                    let stderr = all[at..]
                        .split(": error while executing")
                        .next()
                        .unwrap_or("");
                    format!("{cause}; {}", stderr.lines().next().unwrap_or(""))
                }
                _ => cause,
            });
        }
    }

    /// Adds another count (per-thread counts merged).
    pub fn add(&mut self, o: &GuestFaults) {
        self.traps += o.traps;
        self.deadlines += o.deadlines;
        self.memory_limits += o.memory_limits;
        self.checks += o.checks;
        self.other += o.other;
        if self.first.is_none() {
            self.first.clone_from(&o.first);
        }
    }

    /// All faults.
    pub fn total(&self) -> u64 {
        self.traps + self.deadlines + self.memory_limits + self.checks + self.other
    }

    /// Whether every one of `calls` (> 0) faulted: a rate or a ratio of
    /// such a run measures failing, not the workload, and is not shown.
    pub fn every(&self, calls: u64) -> bool {
        calls > 0 && self.total() >= calls
    }

    /// The count of each kind, in words; the kinds add up to [`Self::total`].
    pub fn breakdown(&self) -> String {
        format!(
            "traps {}, deadline {}, memory limit {}, failed checks {}, other {}",
            self.traps, self.deadlines, self.memory_limits, self.checks, self.other
        )
    }
}
