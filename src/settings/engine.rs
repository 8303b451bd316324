//! Settings to `wasmtime::Config`, and the effective settings read back
//! from a built engine.

use super::schema::{Allocator, EngineSettings, PoolingSettings};

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
