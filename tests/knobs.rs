//! Every knob of [engine] and [pooling] goes from TOML through the parser and
//! `wasmtime_config` into wasmtime, and wasmtime's own getters read it back.
//! A knob that is parsed but not applied fails here.

use pooling_lab::settings::{EngineSettings, Experiment, PoolingSettings};
use std::path::Path;
use wasmtime::{Config, Engine, PoolingAllocationConfig};

/// Parses `section` (serialized to TOML) as an experiment and returns its engine.
fn engine_from_toml(extra: &str) -> Engine {
    let src = format!("{extra}\n[guest]\nimage_size = \"64KiB\"\n[scenario]\ncounts = [1]\n");
    let exp = Experiment::parse(Path::new("probe.toml"), &src)
        .unwrap_or_else(|e| panic!("probe config rejected: {e}\n{src}"));
    assert_eq!(exp.variants.len(), 1);
    Engine::new(&exp.variants[0].wasmtime_config())
        .unwrap_or_else(|e| panic!("engine rejected probe: {e:#}\n{src}"))
}

fn toml_section(name: &str, value: &impl serde::Serialize) -> String {
    let mut doc = toml::Table::new();
    doc.insert(name.into(), toml::Value::try_from(value).unwrap());
    toml::to_string(&doc).unwrap()
}

#[test]
fn every_engine_knob_is_applied() {
    let defaults = EngineSettings::effective(&Engine::new(&Config::new()).unwrap());
    let probes = EngineSettings::probes();
    assert_eq!(probes.len(), EngineSettings::KEYS.len());
    for (key, section, probe) in probes {
        assert_ne!(
            defaults[key], probe,
            "the probe for engine.{key} equals wasmtime's default, so this test could not see it applied"
        );
        let engine = engine_from_toml(&toml_section("engine", &section));
        let got = &EngineSettings::effective(&engine)[key];
        assert_eq!(got, &probe, "engine.{key} is parsed but not applied");
    }
}

#[test]
fn every_pooling_knob_is_applied() {
    let defaults = PoolingSettings::effective(&PoolingAllocationConfig::default());
    let probes = PoolingSettings::probes();
    assert_eq!(probes.len(), PoolingSettings::KEYS.len());
    for (key, section, probe) in probes {
        assert_ne!(
            defaults[key], probe,
            "the probe for pooling.{key} equals wasmtime's default, so this test could not see it applied"
        );
        let src = format!(
            "[engine]\nallocator = \"pooling\"\n{}",
            toml_section("pooling", &section)
        );
        let engine = engine_from_toml(&src);
        let pooling = engine.get_pooling_config().expect("pooling engine");
        let got = &PoolingSettings::effective(pooling)[key];
        assert_eq!(got, &probe, "pooling.{key} is parsed but not applied");
    }
}

#[test]
fn pooling_keys_are_ignored_by_on_demand_engines() {
    let engine = engine_from_toml("[pooling]\ntotal_memories = 7\n");
    assert!(engine.get_pooling_config().is_none());
}
