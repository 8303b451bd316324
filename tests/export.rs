//! The settings handed to production are verified by wasmtime's own parser:
//! the `wasmtime serve` flags as written in wasmtime-serve.txt are parsed by
//! wasmtime-cli-flags' clap parser, wasmtime-config.toml is read by
//! `CommonOptions::from_file`, each configures an engine (`CommonOptions::config`,
//! as `wasmtime serve` does) whose every tuned knob is read back from
//! wasmtime; builder.rs is compared with the committed fixture, which is
//! `include!`d here, compiled, and checked the same way.

use clap::Parser as _;
use pooling_lab::export::{self, cli_options};
use pooling_lab::settings::{Variant, effective_settings};
use std::path::Path;
use wasmtime_cli_flags::CommonOptions;

mod common;

/// A tuned file setting every knob (see its header).
const FIXTURE: &str = "tests/fixtures/tuned.toml";
const BUILDER_FIXTURE: &str = "tests/fixtures/builder.rs";

mod fixture {
    include!("fixtures/builder.rs");
}

/// Exports the fixture with `pooling-lab export`'s code into a temporary folder.
fn exported() -> (tempfile::TempDir, Variant, cli_options::CliExport) {
    let dir = tempfile::tempdir().unwrap();
    let (v, paths, cli) = export::export_file(Path::new(FIXTURE), dir.path()).unwrap();
    assert_eq!(paths.len(), 3);
    (dir, v, cli)
}

/// Keys the fixture sets that wasmtime's CLI cannot express.
const INEXPRESSIBLE: &[&str] = &["engine.consume_fuel"];

/// Every knob `v` sets has its tuned value in `engine` (skipping `skip`), and
/// every other effective setting equals the tuned engine's.
fn assert_tuned(engine: &wasmtime::Engine, v: &Variant, skip: &[&str], what: &str) {
    let got = effective_settings(engine);
    let set = export::set_keys(v);
    assert!(set.len() > 40, "the fixture should set every knob");
    for (doc, want) in &set {
        let key = export::full_key(doc);
        if skip.contains(&key.as_str()) {
            continue;
        }
        let g = &got[doc.section][doc.key];
        assert_eq!(
            g, want,
            "{what}: {key} did not take effect (tuned {want}, wasmtime has {g})"
        );
    }
    let tuned = effective_settings(&wasmtime::Engine::new(&v.wasmtime_config()).unwrap());
    for section in ["engine", "pooling"] {
        for (key, want) in tuned[section].as_object().unwrap() {
            if skip.contains(&format!("{section}.{key}").as_str()) {
                continue;
            }
            assert_eq!(
                &got[section][key], want,
                "{what}: {section}.{key} differs from the tuned engine"
            );
        }
    }
    // The knobs the serve flags used to get wrong, through wasmtime's getters.
    let p = engine.get_pooling_config().expect("a pooling engine");
    assert_eq!(p.get_pagemap_scan(), wasmtime::Enabled::Yes, "{what}");
    assert_eq!(p.get_memory_keep_resident(), 4 << 20, "{what}");
    assert_eq!(p.get_total_component_instances(), 32, "{what}");
    assert_eq!(p.get_max_core_instances_per_component(), 4, "{what}");
    assert_eq!(p.get_max_memories_per_component(), 2, "{what}");
    assert_eq!(p.get_max_component_instance_size(), 256 << 10, "{what}");
    assert_eq!(p.get_total_stacks(), 32, "{what}");
    assert!(!engine.get_memory_init_cow(), "{what}");
}

/// The arguments of the `wasmtime serve \` command in wasmtime-serve.txt.
fn serve_args(text: &str) -> Vec<String> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("wasmtime serve"));
    assert_eq!(lines.next(), Some("wasmtime serve \\"), "{text}");
    lines
        .take_while(|l| !l.trim_start().starts_with("<component.wasm>"))
        .flat_map(|l| l.trim_end_matches('\\').split_whitespace())
        .map(String::from)
        .collect()
}

#[test]
fn serve_flags_parsed_by_wasmtime_build_the_tuned_engine() {
    let (dir, v, _) = exported();
    let text = std::fs::read_to_string(dir.path().join(export::SERVE_FILE)).unwrap();
    let args = serve_args(&text);
    for flag in [
        "pooling-allocator=y",
        "pooling-pagemap-scan=y",
        "pooling-memory-keep-resident=4194304",
        "pooling-total-component-instances=32",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing:\n{text}");
    }
    // As `wasmtime serve` does: its default (pooling where the address space
    // allows it) and without one.
    for default in [Some(true), None] {
        let mut opts = CommonOptions::try_parse_from(
            std::iter::once("wasmtime".to_string()).chain(args.clone()),
        )
        .unwrap_or_else(|e| panic!("wasmtime's parser rejects the flags: {e}\n{text}"));
        let config = opts
            .config(default)
            .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let engine = wasmtime::Engine::new(&config).unwrap();
        assert_tuned(&engine, &v, INEXPRESSIBLE, "wasmtime-serve.txt");
    }
    // What cannot be expressed is named with what to do instead.
    assert!(text.contains("NOT EXPRESSIBLE"), "{text}");
    assert!(
        text.contains("engine.consume_fuel = true: wasmtime's CLI turns fuel metering on only with a budget: add `-W fuel=N`"),
        "{text}"
    );
    assert!(!text.contains("no -O flag"), "{text}");
    // Component-aware sizing: 2 core instances and 2 memories per request.
    assert!(
        text.contains("wasmtime serve. It instantiates one component per request"),
        "{text}"
    );
    assert!(
        text.contains("at most 24 requests in flight (pooling-total-core-instances binds)"),
        "{text}"
    );
    assert!(
        text.contains("pooling-max-core-instances-per-component = 4"),
        "{text}"
    );
}

#[test]
fn config_file_read_by_wasmtime_builds_the_tuned_engine() {
    let (dir, v, _) = exported();
    let path = dir.path().join(export::CONFIG_FILE);
    let mut opts = CommonOptions::from_file(&path)
        .unwrap_or_else(|e| panic!("wasmtime cannot read {}: {e:?}", path.display()));
    let config = opts.config(None).unwrap();
    let engine = wasmtime::Engine::new(&config).unwrap();
    assert_tuned(&engine, &v, INEXPRESSIBLE, "wasmtime-config.toml");
    // `wasmtime serve --config FILE` reads it through the same flag.
    let mut opts =
        CommonOptions::try_parse_from(["wasmtime".as_ref(), "--config".as_ref(), path.as_os_str()])
            .unwrap();
    let engine = wasmtime::Engine::new(&opts.config(Some(true)).unwrap()).unwrap();
    assert_tuned(&engine, &v, INEXPRESSIBLE, "--config wasmtime-config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[optimize]\n"), "{text}");
    assert!(text.contains("pooling-pagemap-scan = \"y\""), "{text}");
    assert!(text.contains("NOT EXPRESSIBLE"), "{text}");
}

#[test]
fn builder_fixture_is_what_export_writes_and_builds_the_tuned_engine() {
    let (dir, v, _) = exported();
    let generated = std::fs::read_to_string(dir.path().join(export::BUILDER_FILE)).unwrap();
    if std::env::var_os("POOLING_LAB_BLESS").is_some() {
        std::fs::write(BUILDER_FIXTURE, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(BUILDER_FIXTURE).unwrap();
    assert_eq!(
        committed, generated,
        "{BUILDER_FIXTURE} is not what `pooling-lab export {FIXTURE}` writes; if the change is \
         intended, regenerate it with `POOLING_LAB_BLESS=1 cargo test --release --test export` \
         and run the tests again (the fixture is compiled into this test)"
    );
    // The fixture, compiled into this test, builds the tuned engine; nothing
    // is inexpressible in Rust.
    let engine = wasmtime::Engine::new(&fixture::tuned_config()).unwrap();
    assert_tuned(&engine, &v, &[], "builder.rs");
}

#[test]
fn every_knob_has_a_cli_option_or_says_what_to_do() {
    let names = cli_options::cli_names().unwrap();
    let all: Vec<String> = pooling_lab::settings::all_keys()
        .into_iter()
        .filter(|k| matches!(k.section, "engine" | "pooling"))
        .map(export::full_key)
        .collect();
    let missing: Vec<&String> = all.iter().filter(|k| !names.contains_key(*k)).collect();
    assert_eq!(
        missing,
        INEXPRESSIBLE.to_vec(),
        "keys without a wasmtime CLI option: {names:#?}"
    );
    // Names wasmtime's CLI really has (the old hand-kept list said there was
    // no flag for pagemap_scan).
    for (key, flag) in [
        ("engine.allocator", "-O pooling-allocator"),
        ("pooling.pagemap_scan", "-O pooling-pagemap-scan"),
        (
            "pooling.linear_memory_keep_resident",
            "-O pooling-memory-keep-resident",
        ),
        (
            "pooling.total_component_instances",
            "-O pooling-total-component-instances",
        ),
        ("engine.cranelift_opt_level", "-O opt-level"),
        ("engine.max_wasm_stack", "-W max-wasm-stack"),
        ("engine.async_stack_zeroing", "-W async-stack-zeroing"),
        ("engine.epoch_interruption", "-W epoch-interruption"),
        ("engine.parallel_compilation", "-C parallel-compilation"),
        ("engine.generate_address_map", "-D address-map"),
    ] {
        assert_eq!(names[key].to_string(), flag, "{key}");
    }
}

#[test]
fn each_knob_alone_round_trips_through_the_flags_and_the_file() {
    let base = |src: &str| {
        pooling_lab::scenario::parse(Path::new("probe.toml"), src)
            .unwrap()
            .variants
            .remove(0)
    };
    let mut probes: Vec<(String, Variant, serde_json::Value)> = Vec::new();
    // Engine knobs on wasmtime's default (on-demand) engine, pooling knobs on
    // a pooling one, as tests/knobs.rs applies them.
    for (key, engine, value) in pooling_lab::settings::EngineSettings::probes() {
        let mut v = base("");
        v.engine = engine;
        probes.push((format!("engine.{key}"), v, value));
    }
    for (key, pooling, value) in pooling_lab::settings::PoolingSettings::probes() {
        let mut v = base("[engine]\nallocator = \"pooling\"\n");
        v.pooling = pooling;
        probes.push((format!("pooling.{key}"), v, value));
    }
    for (key, v, want) in probes {
        let cli = cli_options::CliExport::of(&v).unwrap_or_else(|e| panic!("{key}: {e:#}"));
        let (section, k) = key.split_once('.').unwrap();
        if INEXPRESSIBLE.contains(&key.as_str()) {
            assert_eq!(cli.inexpressible.len(), 1, "{key}");
            assert_eq!(cli.inexpressible[0].key, key);
            continue;
        }
        assert!(
            cli.inexpressible.is_empty(),
            "{key}: {:?}",
            cli.inexpressible
        );
        let from_flags = cli_options::flags_engine_settings(cli.args()).unwrap();
        let from_file = cli_options::file_engine_settings(cli.toml()).unwrap();
        assert_eq!(
            from_flags[section][k],
            want,
            "{key} through {:?}",
            cli.args()
        );
        assert_eq!(from_file[section][k], want, "{key} through\n{}", cli.toml());
    }
}

#[test]
fn export_command_writes_the_three_files_and_refuses_a_file_with_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .args(["export", FIXTURE, "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = common::expect_success(&out);
    assert!(
        stdout.contains("not expressible with wasmtime's CLI: engine.consume_fuel"),
        "{stdout}"
    );
    for f in export::FILES {
        assert!(dir.path().join(f).is_file(), "{f} not written:\n{stdout}");
    }
    let lists = dir.path().join("lists.toml");
    std::fs::write(&lists, "[engine]\nmemory_init_cow = [true, false]\n").unwrap();
    for bad in [lists.as_path(), &dir.path().join("missing.toml")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
            .arg("export")
            .arg(bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .arg("export")
        .arg(&lists)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expands to 2 variants"), "{err}");
}

/// The committed tuned files of real guests export cleanly: every knob they
/// set is expressible, and the `wasmtime serve` flags and the config file,
/// read by wasmtime's own parsers, configure an engine with the tuned values.
#[test]
fn committed_tuned_files_export_cleanly() {
    let mut files = Vec::new();
    for dir in ["results/tune-python"] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let f = e.path().join("tuned.toml");
            if f.is_file() {
                files.push(f);
            }
        }
    }
    assert!(!files.is_empty(), "no committed tuned.toml found");
    for f in files {
        let out = tempfile::tempdir().unwrap();
        let (v, _, cli) = export::export_file(&f, out.path())
            .unwrap_or_else(|e| panic!("{}: {e:#}", f.display()));
        assert!(
            cli.inexpressible.is_empty(),
            "{}: {:?}",
            f.display(),
            cli.inexpressible
        );
        let from_flags = cli_options::flags_engine_settings(cli.args()).unwrap();
        let from_file = cli_options::file_engine_settings(cli.toml()).unwrap();
        for (doc, want) in export::set_keys(&v) {
            for (what, got) in [("flags", &from_flags), ("config file", &from_file)] {
                assert_eq!(
                    got[doc.section][doc.key],
                    want,
                    "{}: {} through the {what}",
                    f.display(),
                    export::full_key(doc)
                );
            }
        }
    }
}

const PREFAULT_FIXTURE: &str = "tests/fixtures/tuned-prefault.toml";
const PREFAULT_BUILDER_FIXTURE: &str = "tests/fixtures/builder-prefault.rs";

#[allow(dead_code)] // the exported code has both modes; this test runs one
mod prefault_fixture {
    include!("fixtures/builder-prefault.rs");
}

#[test]
fn the_hosts_prefault_is_exported_as_code_that_runs_and_named_inexpressible_for_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _, _) = export::export_file(Path::new(PREFAULT_FIXTURE), dir.path()).unwrap();
    let generated = std::fs::read_to_string(dir.path().join(export::BUILDER_FILE)).unwrap();
    if std::env::var_os("POOLING_LAB_BLESS").is_some() {
        std::fs::write(PREFAULT_BUILDER_FIXTURE, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(PREFAULT_BUILDER_FIXTURE).unwrap();
    assert_eq!(
        committed, generated,
        "{PREFAULT_BUILDER_FIXTURE} is not what `pooling-lab export {PREFAULT_FIXTURE}` writes; \
         regenerate it with `POOLING_LAB_BLESS=1 cargo test --release --test export`"
    );
    // The CLI forms say the prefault is not theirs to express.
    let serve = std::fs::read_to_string(dir.path().join(export::SERVE_FILE)).unwrap();
    assert!(
        serve.contains("[guest] prefault: NOT EXPRESSIBLE"),
        "{serve}"
    );
    // The exported code, compiled into this test, populates the untouched
    // pages of the page tables a sandbox wrote into, under the tuned engine.
    let engine = wasmtime::Engine::new(&prefault_fixture::tuned_config()).unwrap();
    let g = &v.guest;
    let module =
        wasmtime::Module::new(&engine, pooling_lab::guest::synthetic::module_bytes(g)).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    instance
        .get_typed_func::<(), ()>(&mut store, pooling_lab::guest::synthetic::ENTRY)
        .unwrap()
        .call(&mut store, ())
        .unwrap();
    let p = prefault_fixture::prefault::Prefaulter::new();
    let first = p
        .untouched(memory.data_ptr(&store), memory.data_size(&store))
        .unwrap();
    assert!(
        matches!(first, prefault_fixture::prefault::Populated::Now(n) if n > 0),
        "{first:?}"
    );
    // The check that found pages is due again at the next drop, and finds
    // none left: they were populated, not only counted.
    let second = p
        .untouched(memory.data_ptr(&store), memory.data_size(&store))
        .unwrap();
    assert_eq!(second, prefault_fixture::prefault::Populated::Now(0));
}

/// Where the comments of the exported CLI files point ("above", "below",
/// the other file) is where that text is: the options of each file, and the
/// sizing, which only wasmtime-serve.txt has.
#[test]
fn the_exported_comments_point_where_the_text_is() {
    let dir = tempfile::tempdir().unwrap();
    // Pooling without the sizing keys (the export adds them, with a note),
    // every knob expressible; and the fixture (a knob not expressible).
    let small = dir.path().join("small.toml");
    std::fs::write(
        &small,
        "[experiment]\nname = \"small\"\n\n[engine]\nallocator = \"pooling\"\nmemory_init_cow = false\n",
    )
    .unwrap();
    const SIZING: &str = "# Sizing for wasmtime serve.";
    let mut seen = std::collections::BTreeSet::new();
    for (k, tuned) in [small.as_path(), Path::new(FIXTURE)]
        .into_iter()
        .enumerate()
    {
        let out = dir.path().join(format!("out{k}"));
        export::export_file(tuned, &out).unwrap();
        let serve = std::fs::read_to_string(out.join(export::SERVE_FILE)).unwrap();
        let config = std::fs::read_to_string(out.join(export::CONFIG_FILE)).unwrap();
        let command = serve.find("wasmtime serve \\\n").expect("the command");
        let sizing = serve.find(SIZING).expect("the sizing");
        let settings = config.find("\n[").expect("the settings") + 1;
        assert!(!config.contains(SIZING), "{config}");
        for (file, text) in [(export::SERVE_FILE, &serve), (export::CONFIG_FILE, &config)] {
            let mut at = 0;
            for line in text.lines() {
                let here = at;
                at += line.len() + 1;
                let pointer = [
                    "expressed in the command above",
                    "expressed in the settings below",
                    "(sizing below)",
                    "(sizing in wasmtime-serve.txt)",
                    "The sizing for wasmtime serve is in wasmtime-serve.txt",
                ]
                .into_iter()
                .find(|p| line.contains(p));
                let Some(pointer) = pointer else {
                    // Any other "above" or "below" is not a pointer to text.
                    let unchecked = (line.contains("above") || line.contains("below"))
                        && !line.contains("a component above them");
                    assert!(!unchecked, "{file}: unchecked pointer {line:?}\n{text}");
                    continue;
                };
                let fine = match pointer {
                    "expressed in the command above" => {
                        file == export::SERVE_FILE && command < here
                    }
                    "expressed in the settings below" => {
                        file == export::CONFIG_FILE && here < settings
                    }
                    "(sizing below)" => file == export::SERVE_FILE && here < sizing,
                    _ => file == export::CONFIG_FILE,
                };
                assert!(
                    fine,
                    "{file}: {line:?} does not point where the text is\n{text}"
                );
                seen.insert(pointer);
            }
        }
    }
    // Each kind of pointer was checked at least once.
    assert_eq!(seen.len(), 5, "{seen:?}");
}
