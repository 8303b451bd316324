//! `[tune]`: what `pooling-lab tune` optimises and within which bounds.

use super::size::ByteSize;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `pooling-lab tune` optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Most fresh sandboxes (instantiate -> call -> drop) per second.
    SandboxesPerSecond,
    /// Lowest p99 time until a fresh sandbox is ready (instantiate).
    P99TimeToReady,
    /// Most requests per second served (`[scenario] kind = "serve"`) with the
    /// request p99 at or under `[tune] p99_target_ms`.
    RequestsPerSecond,
    /// Lowest instantiate p99 over the requests of a tenants run
    /// (`[scenario] kind = "tenants"`), with the run's peak Pss within
    /// `[tune] memory_budget`.
    TenantsP99Instantiate,
}

/// `[tune]`: the target of `pooling-lab tune`. The search space is the
/// experiment's own lists (every variant is a candidate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TuneSettings {
    /// What to optimise.
    #[serde(default = "default_objective")]
    pub objective: Objective,
    /// Live sandboxes production must hold at once.
    #[serde(default = "default_live")]
    pub live_instances: u32,
    /// Memory the sandboxes may use in all (fixed cost + live x per sandbox +
    /// what the pool keeps resident at most: `linear_memory_keep_resident` x
    /// memory slots).
    #[serde(default = "default_budget")]
    pub memory_budget: ByteSize,
    /// Candidates re-measured against each other (and against the references:
    /// wasmtime's default pooling, or `wasmtime serve`'s defaults for a tune
    /// served by `wasmtime serve`, and on-demand) to rule out noise.
    #[serde(default = "default_finalists")]
    pub finalists: u32,
    /// Interleaved re-measurement rounds of the finalists.
    #[serde(default = "default_rounds")]
    pub rounds: u32,
    /// `requests-per-second`: a candidate whose request p99 is above this
    /// (milliseconds) is out (0 = no latency target).
    #[serde(default)]
    pub p99_target_ms: f64,
    /// `[scenario] kind = "burst"`: the share of the day the host sits idle
    /// after its peak (0 to 1). A candidate's memory is then the day's
    /// average, `(1 - idle_share) x Pss at the peak + idle_share x Pss after
    /// the release point` (the idle level where the policy never
    /// releases), and `memory_budget` bounds that average: a large
    /// keep-resident budget that holds its peak all night can lose to a
    /// release policy. 0 = the memory at the peak.
    #[serde(default)]
    pub idle_share: f64,
}

fn default_objective() -> Objective {
    Objective::SandboxesPerSecond
}
fn default_live() -> u32 {
    100
}
fn default_budget() -> ByteSize {
    ByteSize(8 << 30)
}
fn default_finalists() -> u32 {
    3
}
fn default_rounds() -> u32 {
    2
}
