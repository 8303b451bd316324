//! Every knob of [engine] and [pooling] goes from TOML through the parser and
//! `wasmtime_config` into wasmtime, and wasmtime's own getters read it back.
//! A knob that is parsed but not applied fails here.

use pooling_lab::settings::{EngineSettings, PoolingSettings};
use std::path::Path;
use wasmtime::{Config, Engine, PoolingAllocationConfig};

/// Parses `section` (serialized to TOML) as an experiment and returns its engine.
fn engine_from_toml(extra: &str) -> Engine {
    let src = format!("{extra}\n[guest]\nimage_size = \"64KiB\"\n[scenario]\ncounts = [1]\n");
    let exp = pooling_lab::scenario::parse(Path::new("probe.toml"), &src)
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

/// The source of the linked wasmtime's `config.rs`, found through `cargo
/// metadata` (the registry copy Cargo.lock resolved).
fn linked_wasmtime_config_rs() -> (String, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        // Only this host's dependencies: the others may not be downloaded.
        .args(["--filter-platform", &host_triple()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wasmtime")
        .expect("wasmtime in cargo metadata");
    let version = pkg["version"].as_str().unwrap().to_string();
    assert_eq!(version, env!("POOLING_LAB_WASMTIME_VERSION"));
    let manifest = Path::new(pkg["manifest_path"].as_str().unwrap());
    let src = std::fs::read_to_string(manifest.parent().unwrap().join("src/config.rs"))
        .expect("reading wasmtime's src/config.rs");
    (version, src)
}

/// This host's target triple, as `rustc -vV` prints it.
fn host_triple() -> String {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("a host line in rustc -vV")
        .to_string()
}

/// The `pub fn NAME(&mut self, ...)` setters of the block that starts with `header`.
fn setters(src: &str, header: &str) -> Vec<String> {
    let start = src.find(header).unwrap_or_else(|| panic!("no `{header}`"));
    let mut depth = 0i32;
    let mut end = src.len();
    for (i, ch) in src[start..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = start + i;
                    break;
                }
            }
            _ => {}
        }
    }
    src[start..end]
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("pub fn ")?;
            let (name, args) = rest.split_once('(')?;
            args.starts_with("&mut self")
                .then(|| name.trim().to_string())
        })
        .collect()
}

/// Setters of the linked wasmtime that pooling-lab deliberately has no key
/// for, and why. Anything else missing fails the test below.
const NOT_KEYS: &[(&str, &str)] = &[
    (
        "with_host_memory",
        "takes a Rust MemoryCreator, not a value a file can hold",
    ),
    (
        "shared_memory",
        "a wasm proposal switch (threads), not an allocator setting",
    ),
    (
        "metadata_for_gc_heap_corruption",
        "trap metadata in compiled code (defense in depth), not a memory or allocator cost; matched only by its name",
    ),
    (
        "force_memory_init_memfd",
        "no getter on Engine (so no test could prove it applied) and no wasmtime CLI flag (so it could not be exported)",
    ),
];

#[test]
fn every_pooling_and_memory_setter_of_the_linked_wasmtime_is_a_key() {
    let (version, src) = linked_wasmtime_config_rs();
    let pooling = setters(&src, "impl PoolingAllocationConfig {");
    let config = setters(&src, "impl Config {");
    assert!(pooling.len() > 15, "parsed only {pooling:?}");
    // The memory-shaped `Config` setters: linear memories, GC heaps, tables,
    // guards, images, traps.
    let memory: Vec<String> = config
        .into_iter()
        .filter(|s| {
            [
                "memory",
                "gc_heap",
                "guard",
                "table_",
                "signals_based_traps",
            ]
            .iter()
            .any(|w| s.contains(w))
                && !s.starts_with("wasm_")
        })
        .collect();
    assert!(memory.len() > 8, "parsed only {memory:?}");
    let keys =
        |k: &[pooling_lab::settings::KeyDoc]| -> Vec<&str> { k.iter().map(|d| d.key).collect() };
    let pooling_keys = keys(PoolingSettings::KEYS);
    let engine_keys = keys(EngineSettings::KEYS);
    let excused = |s: &str| NOT_KEYS.iter().any(|(n, _)| *n == s);
    let missing: Vec<String> = pooling
        .iter()
        .filter(|s| !pooling_keys.contains(&s.as_str()) && !excused(s))
        .map(|s| format!("PoolingAllocationConfig::{s} -> [pooling] {s}"))
        .chain(
            memory
                .iter()
                .filter(|s| !engine_keys.contains(&s.as_str()) && !excused(s))
                .map(|s| format!("Config::{s} -> [engine] {s}")),
        )
        .collect();
    assert!(
        missing.is_empty(),
        "wasmtime {version} has setters the schema does not know; add them to src/settings/schema.rs \
         (with probe, apply and get) or to NOT_KEYS with the reason:\n{}",
        missing.join("\n")
    );
    // The exclusions still name setters that exist.
    for (name, _) in NOT_KEYS {
        assert!(
            pooling.contains(&name.to_string()) || src.contains(&format!("pub fn {name}(")),
            "NOT_KEYS names {name}, which wasmtime {version} no longer has"
        );
    }
}
