//! The exports of a command guest (`kind = "wasi-command"`): no serve file
//! and no serve sizing, but `wasmtime-run.txt`, whose engine flags wasmtime's
//! own parser (wasmtime-cli-flags) reads into the tuned engine and whose
//! `--dir`/`--env` grants are the guest's; and builder.rs's `command`
//! module, compared with the committed fixture, `include!`d here, and run:
//! it runs the command per request in a fresh sandbox with the guest's
//! folders, as the lab measured it.

use clap::Parser as _;
use pooling_lab::export;
use std::path::Path;

/// The tuned file of a command guest (see its header).
const FIXTURE: &str = "tests/fixtures/tuned-command.toml";
const BUILDER_FIXTURE: &str = "tests/fixtures/builder-command.rs";

mod fixture {
    include!("fixtures/builder-command.rs");
}

/// The same for a `wasi:cli/run` component (see its tuned file).
const CLI_FIXTURE: &str = "tests/fixtures/tuned-cli-component.toml";
const CLI_BUILDER_FIXTURE: &str = "tests/fixtures/builder-cli-component.rs";

mod cli_fixture {
    include!("fixtures/builder-cli-component.rs");
}

/// The exports of the fixture, written by `pooling-lab export`'s code.
fn exported() -> (tempfile::TempDir, pooling_lab::settings::Variant) {
    let dir = tempfile::tempdir().unwrap();
    let (v, paths, _) = export::export_file(Path::new(FIXTURE), dir.path()).unwrap();
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, export::COMMAND_FILES.to_vec());
    (dir, v)
}

/// The words of the `wasmtime run \` command in wasmtime-run.txt (shell
/// quotes kept).
fn run_words(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("wasmtime run"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .flat_map(|l| {
            // Single-quoted words may hold spaces.
            let mut words = Vec::new();
            let mut rest = l.trim().trim_end_matches('\\').trim();
            while !rest.is_empty() {
                let (word, tail) = if let Some(q) = rest.strip_prefix('\'') {
                    let end = q.find('\'').unwrap();
                    (format!("'{}'", &q[..end]), &q[end + 1..])
                } else {
                    let end = rest.find(' ').unwrap_or(rest.len());
                    (rest[..end].to_string(), &rest[end..])
                };
                words.push(word);
                rest = tail.trim_start();
            }
            words
        })
        .collect()
}

#[test]
fn a_command_exports_wasmtime_run_whose_flags_wasmtimes_parser_reads_into_the_tuned_engine() {
    let (dir, v) = exported();
    assert!(!dir.path().join(export::SERVE_FILE).exists());
    let text = std::fs::read_to_string(dir.path().join(export::RUN_FILE)).unwrap();
    // No serve sizing for a command.
    assert!(!text.contains("Sizing"), "{text}");
    assert!(
        !text.contains("pooling-total-component-instances"),
        "{text}"
    );
    let words = run_words(&text);
    // The engine flags: every `-X value` pair before the first `--dir`.
    let engine_end = words.iter().position(|w| w == "--dir").unwrap();
    let flags = &words[..engine_end];
    assert!(
        flags
            .chunks(2)
            .all(|p| p[0].len() == 2 && p[0].starts_with('-')),
        "{flags:?}"
    );
    let opts = wasmtime_cli_flags::CommonOptions::try_parse_from(
        std::iter::once("wasmtime".to_string()).chain(flags.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("wasmtime's parser rejects the flags: {e}\n{text}"));
    let mut opts = opts;
    let engine = wasmtime::Engine::new(&opts.config(None).unwrap()).unwrap();
    let want = pooling_lab::settings::effective_settings(
        &wasmtime::Engine::new(&v.wasmtime_config()).unwrap(),
    );
    let got = pooling_lab::settings::effective_settings(&engine);
    assert_eq!(got["engine"], want["engine"]);
    assert_eq!(got["pooling"], want["pooling"]);
    // Then the grants, as wasmtime-cli's `--dir HOST::GUEST` and `--env NAME`
    // read them, the module and the arguments after argv[0].
    assert_eq!(
        &words[engine_end..],
        [
            "--dir",
            "tests/fixtures/command/in::/in",
            "--dir",
            "\"$OUT_DIR\"::/out",
            "--env",
            "LANG",
            "tests/fixtures/command/copier.wat",
            "'a b'",
        ],
        "{text}"
    );
    // The fresh folder is made before the command, and the read-only grant
    // that `--dir` cannot express is named.
    let mktemp = text.find("OUT_DIR=$(mktemp -d)").expect(&text);
    assert!(mktemp < text.find("\nwasmtime run \\\n").unwrap(), "{text}");
    assert!(text.contains("no read-only form"), "{text}");
}

#[test]
fn builder_command_fixture_is_what_export_writes_and_runs_the_command_per_request() {
    let (dir, _) = exported();
    let generated = std::fs::read_to_string(dir.path().join(export::BUILDER_FILE)).unwrap();
    if std::env::var_os("POOLING_LAB_BLESS").is_some() {
        std::fs::write(BUILDER_FIXTURE, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(BUILDER_FIXTURE).unwrap();
    assert_eq!(
        committed, generated,
        "{BUILDER_FIXTURE} is not what `pooling-lab export {FIXTURE}` writes; if the change is \
         intended, regenerate it with `POOLING_LAB_BLESS=1 cargo test --release --test command_export` \
         and run the tests again (the fixture is compiled into this test)"
    );
    let engine = wasmtime::Engine::new(&fixture::tuned_config()).unwrap();
    assert!(engine.get_memory_init_cow());
    let wasm = std::fs::read("tests/fixtures/command/copier.wat").unwrap();
    let command = fixture::command::Command::new(&engine, &wasm).unwrap();
    let input = std::fs::read("tests/fixtures/command/in/input.txt").unwrap();
    // Two requests, each with its own fresh folder: each copies the input
    // and finds no mark of the other.
    for _ in 0..2 {
        let out = tempfile::tempdir().unwrap();
        let ran = command.run(b"", &[out.path()]).unwrap();
        assert_eq!(ran.status, 0, "{}", String::from_utf8_lossy(&ran.stderr));
        assert!(ran.stdout.is_empty());
        assert_eq!(std::fs::read(out.path().join("out.txt")).unwrap(), input);
    }
    // The same folder twice: the second run finds the first one's mark and
    // exits with 3 (the isolation the fresh folders give).
    let shared = tempfile::tempdir().unwrap();
    assert_eq!(command.run(b"", &[shared.path()]).unwrap().status, 0);
    assert_eq!(command.run(b"", &[shared.path()]).unwrap().status, 3);
}

#[test]
fn builder_cli_component_fixture_is_what_export_writes_and_runs_the_component_per_request() {
    let dir = tempfile::tempdir().unwrap();
    export::export_file(Path::new(CLI_FIXTURE), dir.path()).unwrap();
    let generated = std::fs::read_to_string(dir.path().join(export::BUILDER_FILE)).unwrap();
    if std::env::var_os("POOLING_LAB_BLESS").is_some() {
        std::fs::write(CLI_BUILDER_FIXTURE, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(CLI_BUILDER_FIXTURE).unwrap();
    assert_eq!(
        committed, generated,
        "{CLI_BUILDER_FIXTURE} is not what `pooling-lab export {CLI_FIXTURE}` writes; if the change \
         is intended, regenerate it with `POOLING_LAB_BLESS=1 cargo test --release --test command_export`"
    );
    let engine = wasmtime::Engine::new(&cli_fixture::tuned_config()).unwrap();
    let wasm = std::fs::read("tests/fixtures/command/run.wat").unwrap();
    let command = cli_fixture::command::Command::new(&engine, &wasm).unwrap();
    // The component's `run` returns ok: status 0, per request, each with
    // its own folder; a missing folder is an error, not a panic.
    for _ in 0..2 {
        let out = tempfile::tempdir().unwrap();
        let ran = command.run(b"", &[out.path()]).unwrap();
        assert_eq!(ran.status, 0);
        assert!(ran.stdout.is_empty() && ran.stderr.is_empty());
    }
    let err = command.run(b"", &[]).err().unwrap();
    assert!(
        err.to_string()
            .contains("1 fresh folders expected, 0 given"),
        "{err}"
    );
}
