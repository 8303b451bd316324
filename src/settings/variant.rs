//! One fully resolved variant of an experiment, and the other builds of the
//! lab that may measure it.

use super::engine::wasmtime_config;
use super::schema::{
    self, Allocator, EngineSettings, GuestSettings, PoolingSettings, ScenarioSettings,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One fully resolved variant of an experiment: a single value for every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Variant {
    /// Name made of the keys that differ between variants (`allocator=pooling,memory_init_cow=false`).
    pub name: String,
    /// `[engine]` knobs.
    pub engine: EngineSettings,
    /// `[pooling]` knobs (used only when `engine.allocator` is pooling).
    pub pooling: PoolingSettings,
    /// `[guest]` keys (serialized with only the keys of its kind).
    #[serde(serialize_with = "schema::serialize_guest")]
    pub guest: GuestSettings,
    /// `[scenario]` keys.
    pub scenario: ScenarioSettings,
    /// The other build of pooling-lab that measures this variant
    /// (`[experiment] builds`); `None` = the running build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab_build: Option<LabBuild>,
}

/// The label of the running build in variant names (`build=this`).
pub const LAB_BUILD_THIS: &str = "this";

/// Another build of pooling-lab whose child measures a variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LabBuild {
    /// Its label in `[experiment] builds` (variant names say `build=<label>`).
    pub label: String,
    /// Path of its `pooling-lab` binary.
    pub exe: PathBuf,
}

impl Variant {
    /// Whether this variant uses the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.engine.allocator == Some(Allocator::Pooling)
    }

    /// The `wasmtime::Config` this variant measures.
    pub fn wasmtime_config(&self) -> wasmtime::Config {
        wasmtime_config(&self.engine, &self.pooling)
    }
}
