//! Experiment settings: the TOML schema, validation, and `Settings -> wasmtime::Config`.
//!
//! This is the part production code reuses: load a tuned file with
//! [`Experiment::load`] (or build an [`EngineSettings`] + [`PoolingSettings`]
//! by hand) and call [`wasmtime_config`].

mod error;
mod parse;
mod schema;
mod size;
pub mod trace;
mod value;

pub use error::ConfigError;
pub use parse::{
    Experiment, ExperimentMeta, MAX_VARIANTS, Objective, Problem, TuneSettings, all_keys, max_live,
    synthetic_min_memory,
};
pub use schema::{
    Allocator, EngineSettings, GuestFault, GuestKind, GuestSettings, KeyDoc, KindKeys, Load,
    LoadGenerator, OptLevel, PlanArg, PlanCall, PlanResult, PoolRecycle, PoolingSettings, Prefault,
    ScenarioKind, ScenarioSettings, ServeServer, Sharing, SnapshotPoint, SoakMode, TenantMix,
    Toggle, WasmtimeFlags,
};
pub use size::ByteSize;
pub use value::OneOrMany;

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

/// Builds the `wasmtime::Config` for engine and pooling settings.
///
/// Every key that is set is applied; unset keys keep wasmtime's defaults. The
/// pooling keys are applied only when `engine.allocator` is `pooling`.
pub fn wasmtime_config(engine: &EngineSettings, pooling: &PoolingSettings) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    engine.apply_to(&mut config);
    if engine.allocator == Some(Allocator::Pooling) {
        let mut p = wasmtime::PoolingAllocationConfig::new();
        pooling.apply_to(&mut p);
        config.allocation_strategy(p);
    }
    config
}

/// The effective engine settings read back from a built engine, for the result file.
pub fn effective_settings(engine: &wasmtime::Engine) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert(
        "engine".into(),
        serde_json::to_value(EngineSettings::effective(engine)).unwrap_or_default(),
    );
    if let Some(p) = engine.get_pooling_config() {
        out.insert(
            "pooling".into(),
            serde_json::to_value(PoolingSettings::effective(p)).unwrap_or_default(),
        );
    }
    serde_json::Value::Object(out)
}

/// The default of a `[guest]` or `[scenario]` key as it would be written in
/// TOML (`"pass"`, `"64MiB"`, `["qjs", "-e", ...]`); `None` for the
/// wasmtime-applied sections (their default is wasmtime's own) and unknown keys.
pub fn default_as_toml(section: &str, key: &str) -> Option<String> {
    let table = match section {
        "guest" => serde_json::to_value(GuestSettings::default()).ok()?,
        "scenario" => serde_json::to_value(ScenarioSettings::default()).ok()?,
        _ => return None,
    };
    let value = table.get(key)?;
    let unit = all_keys()
        .into_iter()
        .find(|k| k.section == section && k.key == key)?
        .unit;
    Some(match value {
        serde_json::Value::Number(n) if unit == "bytes" => {
            format!("\"{}\"", ByteSize(n.as_u64()?))
        }
        other => other.to_string(),
    })
}
