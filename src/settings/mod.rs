//! Experiment settings: the TOML schema, validation, and `Settings -> wasmtime::Config`.
//!
//! This is the part production code reuses: load a tuned file with
//! [`Experiment::load`] (or build an [`EngineSettings`] + [`PoolingSettings`]
//! by hand) and call [`wasmtime_config`]. The lab itself loads with
//! `pooling_lab::scenario::load`, which adds each scenario's own checks.
//!
//! One job per file: `schema` declares every key of the sections that
//! expand into variants; `experiment` reads a file and expands it into
//! [`Variant`]s (`variant`); `keys` knows every key (docs, unknown keys,
//! where a key is written); `validate` holds the checks every scenario
//! shares; `tune` is `[tune]`; `byte_checks` parses the output checks' text forms; `engine` builds the `wasmtime::Config`. This
//! file only re-exports.

pub mod byte_checks;
mod engine;
mod error;
mod experiment;
mod keys;
mod schema;
mod size;
pub mod trace;
mod tune;
mod validate;
#[cfg(test)]
mod validate_tests;
mod value;
mod variant;

pub use engine::{effective_settings, wasmtime_config};
pub use error::ConfigError;
pub use experiment::{Experiment, ExperimentMeta, MAX_ROUNDS, MAX_VARIANTS};
pub use keys::{all_keys, default_as_toml};
pub use schema::{
    Allocator, DirGrant, EngineSettings, FileExpect, GuestFault, GuestKind, GuestSettings, KeyDoc,
    KindKeys, Load, LoadGenerator, OptLevel, PlanArg, PlanCall, PlanResult, PoolRecycle,
    PoolingSettings, Prefault, ReleaseIdle, ScenarioKind, ScenarioSettings, ServeServer, Sharing,
    SnapshotPoint, SoakMode, TenantMix, Toggle, WasmtimeFlags,
};
pub use size::ByteSize;
pub use tune::{Objective, TuneSettings};
pub use validate::{MAX_THREADS, NoScenario, Problem, ScenarioRules, synthetic_min_memory};
pub use value::OneOrMany;
pub use variant::{LAB_BUILD_THIS, LabBuild, Variant};
