//! The tuner's outputs: tuned.toml loads back into the same wasmtime
//! settings; an impossible target ends with a message naming the limit; a
//! small tune runs end to end, its summary names the host and commit, and it
//! writes the exports (checked in tests/export.rs); a serving and a tenants
//! tune pick the candidate their measured figures say is best (read from the
//! summary's table) and write its settings to tuned.toml. The memory budget
//! bounds what a pool keeps resident by its memory slots, not by the live
//! sandboxes (pure check and through a tune); finalists within the
//! between-round noise of the best are decided by what they keep resident,
//! then by measured memory; a serving tune's references are measured in its
//! candidates' server (`wasmtime serve`'s defaults when it serves them).

use pooling_lab::settings::{
    Allocator, ByteSize, EngineSettings, Experiment, Objective, PoolingSettings, ServeServer,
    TuneSettings, Variant, WasmtimeFlags,
};
use pooling_lab::tune;
use std::path::Path;

mod common;

#[test]
fn tuned_toml_round_trips_to_the_same_wasmtime_settings() {
    let exp = pooling_lab::scenario::parse(
        Path::new("t.toml"),
        r#"
[engine]
allocator = "pooling"
memory_init_cow = true
memory_guard_size = "64MiB"
[pooling]
total_core_instances = 24
total_memories = 24
total_tables = 24
max_memory_size = "128MiB"
linear_memory_keep_resident = "16MiB"
pagemap_scan = "yes"
decommit_batch_size = 8
max_unused_warm_slots = 4
[scenario]
kind = "churn"
"#,
    )
    .unwrap();
    let winner = &exp.variants[0];
    let t = TuneSettings {
        objective: pooling_lab::settings::Objective::SandboxesPerSecond,
        live_instances: 16,
        memory_budget: pooling_lab::settings::ByteSize(1 << 30),
        finalists: 1,
        rounds: 1,
        p99_target_ms: 0.0,
        idle_share: 0.0,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tuned.toml");
    std::fs::write(
        &path,
        tune::tuned_toml_text(&exp, winner, &t, None).unwrap(),
    )
    .unwrap();
    let (config, back) = tune::load_tuned(&path).unwrap();
    assert_eq!(back.engine, winner.engine);
    assert_eq!(back.pooling, winner.pooling);
    // And through wasmtime's own getters.
    let engine = wasmtime::Engine::new(&config).unwrap();
    let p = engine.get_pooling_config().expect("pooling engine");
    assert_eq!(p.get_memory_keep_resident(), 16 << 20);
    assert_eq!(p.get_decommit_batch_size(), 8);
    assert_eq!(p.get_max_unused_warm_slots(), 4);
    assert_eq!(p.get_total_memories(), 24);
    assert_eq!(p.get_max_memory_size(), 128 << 20);
    // The Rust and wasmtime CLI forms name the same knobs (tests/export.rs
    // checks them with wasmtime's own parser).
    let code = pooling_lab::export::builder::code(winner).unwrap();
    assert!(
        code.contains("pool.linear_memory_keep_resident(16_777_216); // 16MiB"),
        "{code}"
    );
    assert!(
        code.contains("pool.pagemap_scan(wasmtime::Enabled::Yes);"),
        "{code}"
    );
    assert!(
        code.contains("config.memory_guard_size(67_108_864);"),
        "{code}"
    );
    let cli = pooling_lab::export::cli_options::CliExport::of(winner).unwrap();
    let flags = cli.args().join(" ");
    assert!(flags.contains("-O pooling-allocator=y"), "{flags}");
    assert!(
        flags.contains("-O pooling-memory-keep-resident=16777216"),
        "{flags}"
    );
    assert!(flags.contains("-O pooling-pagemap-scan=y"), "{flags}");
    assert!(cli.inexpressible.is_empty(), "{:?}", cli.inexpressible);
}

#[test]
fn an_impossible_target_ends_with_a_message_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("impossible.toml");
    std::fs::write(
        &config,
        r#"
[tune]
live_instances = 64
memory_budget = "64MiB"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = [16, 128]
total_memories = 128
total_tables = 128
max_memory_size = "128MiB"
linear_memory_keep_resident = "64MiB"
[guest]
image_size = "4MiB"
[scenario]
kind = "churn"
iterations = 20
warmup = 2
"#,
    )
    .unwrap();
    let out = common::run_quiet("tune", &config, dir.path(), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no candidate can meet the target"), "{err}");
    // Each candidate's limit is named: too few slots, too much kept resident.
    assert!(
        err.contains("16 pool slots cannot hold live_instances = 64"),
        "{err}"
    );
    assert!(err.contains("exceeds the memory budget"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_small_tune_writes_outputs_that_say_where_and_on_what_they_were_measured() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny-tune.toml");
    std::fs::write(
        &config,
        r#"
[tune]
objective = "sandboxes-per-second"
live_instances = 8
memory_budget = "2GiB"
finalists = 1
rounds = 1
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 16
total_memories = 16
total_tables = 16
max_memory_size = "16MiB"
linear_memory_keep_resident = ["0", "4MiB"]
[guest]
kind = "synthetic"
image_size = "4MiB"
dirty_per_call = "64KiB"
[scenario]
kind = "churn"
iterations = 50
warmup = 10
"#,
    )
    .unwrap();
    common::expect_success(&common::run_quiet("tune", &config, dir.path(), &[]));
    let out = std::fs::read_dir(dir.path().join("results/tiny-tune"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-tune"))
        .expect("a <stamp>-tune folder");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let host = pooling_lab::result::HostInfo::detect();
    assert!(
        summary.contains(&format!("on wasmtime {}", host.wasmtime_version)),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("{} CPUs", host.cpus)),
        "{summary}"
    );
    assert!(summary.contains("commit "), "{summary}");
    assert!(summary.contains("**Winner: `"), "{summary}");
    tune::load_tuned(&out.join("tuned.toml")).unwrap();
    for f in pooling_lab::export::FILES {
        assert!(out.join(f).is_file(), "{f} not written");
    }
    let serve = std::fs::read_to_string(out.join("wasmtime-serve.txt")).unwrap();
    assert!(serve.contains("-O pooling-allocator=y"), "{serve}");
}

#[test]
fn a_serving_tune_picks_by_requests_per_second_within_the_p99_target() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve-tune.toml");
    std::fs::write(
        &config,
        r#"
[tune]
objective = "requests-per-second"
p99_target_ms = 1000.0
live_instances = 8
memory_budget = "2GiB"
finalists = 2
rounds = 1
[engine]
allocator = "pooling"
memory_init_cow = [true, false]
[pooling]
total_component_instances = 16
total_core_instances = 64
total_memories = 16
total_tables = 64
total_stacks = 16
max_memory_size = "32MiB"
[guest]
kind = "synthetic-http"
image_size = "16MiB"
dirty_per_call = "16KiB"
[scenario]
kind = "serve"
iterations = 200
warmup = 20
connections = 4
"#,
    )
    .unwrap();
    common::expect_success(&common::run_quiet("tune", &config, dir.path(), &[]));
    let (out, summary) = tune_output(dir.path(), "serve-tune");
    assert!(summary.contains("RequestsPerSecond"), "{summary}");
    // Both candidates are finalists, re-measured in the round. Their order
    // is known from how they are built: without copy-on-write every request
    // copies the 16 MiB image into its memory; with it, the image is mapped
    // and a request touches 16 KiB. The winner is that one, it is the
    // measured candidate with the most requests/s, and its request p99 is
    // within the target.
    assert_eq!(winner_name(&summary), "memory_init_cow=true", "{summary}");
    assert_eq!(
        measurements(&summary, "memory_init_cow=false"),
        2,
        "{summary}"
    );
    let rows = measured_candidates(&summary);
    assert_eq!(rows.len(), 2, "{summary}");
    let rps = |figure: &str| leading_number(figure);
    let best = rows.iter().map(|(_, f)| rps(f)).fold(f64::MIN, f64::max);
    let winner = winner_name(&summary);
    let (_, figure) = rows
        .iter()
        .find(|(n, _)| *n == winner)
        .unwrap_or_else(|| panic!("winner {winner} not among the measured candidates"));
    assert_eq!(rps(figure), best, "{winner} is not the fastest:\n{summary}");
    let p99 = duration_ns(figure.split("request p99 ").nth(1).unwrap());
    assert!(p99 <= 1000.0 * 1e6, "{figure}");
    expect_tuned(&out, &winner);

    // A p99 target no server meets prunes every candidate, with the reason.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("p99_target_ms = 1000.0", "p99_target_ms = 0.000001");
    let err = tune_fails(&config, &text, dir.path());
    assert!(err.contains("over the target"), "{err}");
}

#[test]
fn a_tenants_tune_picks_by_instantiate_p99_within_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tenants-tune.toml");
    std::fs::write(
        &config,
        r#"
[tune]
objective = "tenants-p99-instantiate"
live_instances = 4
memory_budget = "2GiB"
finalists = 2
rounds = 1
[engine]
allocator = "pooling"
memory_init_cow = [true, false]
[pooling]
total_core_instances = 32
total_memories = 32
max_memory_size = "16MiB"
[guest]
kind = "synthetic"
image_size = "8MiB"
dirty_per_call = "16KiB"
[scenario]
kind = "tenants"
tenants = 8
live = 4
iterations = 2000
warmup = 200
sample_every = 500
"#,
    )
    .unwrap();
    common::expect_success(&common::run_quiet("tune", &config, dir.path(), &[]));
    let (out, summary) = tune_output(dir.path(), "tenants-tune");
    assert!(summary.contains("TenantsP99Instantiate"), "{summary}");
    // Both candidates are finalists. Without copy-on-write an instantiation
    // copies the 8 MiB image; with it, the image is mapped: the winner is
    // the copy-on-write one, the measured candidate with the lowest
    // instantiate p99, and its peak Pss is within the budget.
    assert_eq!(winner_name(&summary), "memory_init_cow=true", "{summary}");
    assert_eq!(
        measurements(&summary, "memory_init_cow=false"),
        2,
        "{summary}"
    );
    let rows = measured_candidates(&summary);
    assert_eq!(rows.len(), 2, "{summary}");
    let p99 = |figure: &str| duration_ns(figure.trim_start_matches("p99 instantiate "));
    let best = rows.iter().map(|(_, f)| p99(f)).fold(f64::MAX, f64::min);
    let winner = winner_name(&summary);
    let (_, figure) = rows
        .iter()
        .find(|(n, _)| *n == winner)
        .unwrap_or_else(|| panic!("winner {winner} not among the measured candidates"));
    assert_eq!(p99(figure), best, "{winner} is not the fastest:\n{summary}");
    let peak_mib = leading_number(figure.split("peak Pss ").nth(1).unwrap());
    assert!(peak_mib > 0.0 && peak_mib <= 2048.0, "{figure}");
    expect_tuned(&out, &winner);

    // A budget below what the engine and tenants take prunes every
    // candidate, with the reason.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("memory_budget = \"2GiB\"", "memory_budget = \"1MiB\"");
    let err = tune_fails(&config, &text, dir.path());
    assert!(err.contains("over the memory budget"), "{err}");
}

#[test]
fn a_tunes_tuned_toml_runs_again_and_its_exports_build_the_winners_engine() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("e2e-tune.toml");
    std::fs::write(
        &config,
        r#"
[tune]
objective = "sandboxes-per-second"
live_instances = 4
memory_budget = "2GiB"
finalists = 2
rounds = 2
[engine]
allocator = "pooling"
memory_init_cow = [true, false]
[pooling]
total_core_instances = 8
total_memories = 8
total_tables = 8
max_memory_size = "32MiB"
[guest]
kind = "synthetic"
image_size = "16MiB"
dirty_per_call = "64KiB"
[scenario]
kind = "churn"
iterations = 40
warmup = 5
"#,
    )
    .unwrap();
    common::expect_success(&common::run_quiet("tune", &config, dir.path(), &[]));
    let (out, summary) = tune_output(dir.path(), "e2e-tune");
    // Two finalists whose order is known from how they are built: without
    // copy-on-write every sandbox copies the 16 MiB image, with it the image
    // is mapped and a sandbox writes 64 KiB.
    let (winner, loser) = ("memory_init_cow=true", "memory_init_cow=false");
    assert_eq!(winner_name(&summary), winner, "{summary}");
    for name in [winner, loser] {
        assert_eq!(measurements(&summary, name), 3, "{name}: {summary}");
    }
    let figure = |name: &str| {
        measured_candidates(&summary)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| leading_number(&f))
            .unwrap_or_else(|| panic!("{name} not measured:\n{summary}"))
    };
    let (won, lost) = (figure(winner), figure(loser));
    assert!(won > 2.0 * lost, "{winner} {won}/s vs {loser} {lost}/s");

    // tuned.toml loads through the settings loader as the winner alone...
    let tuned = out.join("tuned.toml");
    let exp = pooling_lab::settings::Experiment::load(&tuned).unwrap();
    assert_eq!(exp.variants.len(), 1);
    assert_eq!(exp.variants[0].engine.memory_init_cow, Some(true));
    // ... and `run` of it measures the winner's figure again: nearer the
    // winner's than the loser's (the geometric middle between the two).
    common::expect_success(&common::run_quiet("run", &tuned, dir.path(), &[]));
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "tuned")).unwrap();
    let again = r.variants[0]
        .result
        .as_ref()
        .and_then(|r| r.churn())
        .unwrap()
        .cycles_per_sec;
    assert!(
        again > (won * lost).sqrt(),
        "tuned.toml ran at {again}/s; the tune measured {winner} {won}/s and {loser} {lost}/s"
    );

    // The exports configure the same engine as tuned.toml, read by
    // wasmtime's own parser: the serve flags and the --config file...
    let want = pooling_lab::settings::effective_settings(
        &wasmtime::Engine::new(&exp.variants[0].wasmtime_config()).unwrap(),
    );
    let serve = std::fs::read_to_string(out.join(pooling_lab::export::SERVE_FILE)).unwrap();
    let args = serve_command_args(&serve);
    let mut flags = <wasmtime_cli_flags::CommonOptions as clap::Parser>::try_parse_from(
        std::iter::once("wasmtime".to_string()).chain(args),
    )
    .unwrap_or_else(|e| panic!("wasmtime's parser rejects the flags: {e}\n{serve}"));
    let file = out.join(pooling_lab::export::CONFIG_FILE);
    let mut from_file = wasmtime_cli_flags::CommonOptions::from_file(&file).unwrap();
    for (what, opts) in [("serve flags", &mut flags), ("config file", &mut from_file)] {
        let engine = wasmtime::Engine::new(&opts.config(None).unwrap()).unwrap();
        let got = pooling_lab::settings::effective_settings(&engine);
        assert_eq!(got["engine"], want["engine"], "{what}");
        assert_eq!(got["pooling"], want["pooling"], "{what}");
        assert!(engine.get_memory_init_cow(), "{what}");
    }
    // ... and builder.rs is the code `pooling-lab export` writes for
    // tuned.toml (compiled and checked against wasmtime in tests/export.rs),
    // setting the winning knob.
    let exported = tempfile::tempdir().unwrap();
    pooling_lab::export::export_file(&tuned, exported.path()).unwrap();
    let builder = std::fs::read_to_string(out.join(pooling_lab::export::BUILDER_FILE)).unwrap();
    let again =
        std::fs::read_to_string(exported.path().join(pooling_lab::export::BUILDER_FILE)).unwrap();
    // The same code; only the header names its source (the candidate, or
    // the file export read).
    let code = |text: &str| text.split_once("/// The tuned").map(|(_, c)| c.to_string());
    assert_eq!(code(&builder), code(&again), "{builder}\n{again}");
    assert!(code(&builder).is_some(), "{builder}");
    assert!(
        builder.contains("config.memory_init_cow(true);"),
        "{builder}"
    );
}

#[test]
fn a_tune_of_a_command_exports_wasmtime_run_flags_that_wasmtimes_parser_reads() {
    let dir = tempfile::tempdir().unwrap();
    // The copier (tests/fixtures/command) with a 2 MiB image: without
    // copy-on-write every sandbox copies it, with it the image is mapped.
    let wat = include_str!("fixtures/command/copier.wat").replace(
        "(memory (export \"memory\") 2)",
        &format!(
            "(memory (export \"memory\") 40)\n  (data (i32.const 131072) \"{}\")",
            "\\01".repeat(2 << 20)
        ),
    );
    std::fs::write(dir.path().join("copier.wat"), wat).unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(
        "tests/fixtures/command/in/input.txt",
        input.join("input.txt"),
    )
    .unwrap();
    let config = dir.path().join("command-tune.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[tune]
objective = "sandboxes-per-second"
live_instances = 4
memory_budget = "2GiB"
finalists = 2
rounds = 2
[engine]
allocator = "pooling"
memory_init_cow = [true, false]
[pooling]
total_core_instances = 8
total_memories = 8
total_tables = 8
max_memory_size = "32MiB"
[guest]
kind = "wasi-command"
wasm = "{}"
argv = ["copier"]
dirs = [{{ host = "{}", guest = "/in" }}, {{ guest = "/out", writable = true }}]
expect_files = [{{ path = "/out/out.txt", contains = "second line" }}]
[scenario]
kind = "churn"
iterations = 40
warmup = 5
"#,
            dir.path().join("copier.wat").display(),
            input.display()
        ),
    )
    .unwrap();
    common::expect_success(&common::run_quiet("tune", &config, dir.path(), &[]));
    let (out, summary) = tune_output(dir.path(), "command-tune");
    assert_eq!(winner_name(&summary), "memory_init_cow=true", "{summary}");
    // A command is run, not served: wasmtime-run.txt, no serve file.
    assert!(!out.join(pooling_lab::export::SERVE_FILE).exists());
    let run = std::fs::read_to_string(out.join(pooling_lab::export::RUN_FILE)).unwrap();
    let flags: Vec<String> = run
        .lines()
        .skip_while(|l| !l.starts_with("wasmtime run"))
        .skip(1)
        .flat_map(|l| {
            l.trim_end_matches('\\')
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .take_while(|w| w != "--dir")
        .collect();
    assert!(flags.contains(&"memory-init-cow=y".to_string()), "{run}");
    let mut opts = <wasmtime_cli_flags::CommonOptions as clap::Parser>::try_parse_from(
        std::iter::once("wasmtime".to_string()).chain(flags),
    )
    .unwrap_or_else(|e| panic!("wasmtime's parser rejects the flags: {e}\n{run}"));
    let engine = wasmtime::Engine::new(&opts.config(None).unwrap()).unwrap();
    assert!(engine.get_memory_init_cow());
    // "Which knobs did it" lists a knob only with a figure below the
    // winner's (the rule itself: which_knobs_did_it_lists_only_...).
    let won = measured_candidates(&summary)
        .into_iter()
        .find(|(n, _)| n == "memory_init_cow=true")
        .map(|(_, f)| leading_number(&f))
        .unwrap();
    let section = summary
        .split("## Which knobs did it")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    for row in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| key"))
    {
        let cells: Vec<&str> = row.split(" | ").collect();
        if cells[0] == "| (none beyond the noise)" {
            continue;
        }
        let figure = leading_number(cells[3]);
        assert!(
            figure < won,
            "{row} listed, the winner measured {won}: {summary}"
        );
    }
}

/// The arguments of the `wasmtime serve \` command in wasmtime-serve.txt.
fn serve_command_args(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("wasmtime serve"))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("<component.wasm>"))
        .flat_map(|l| l.trim_end_matches('\\').split_whitespace())
        .map(String::from)
        .collect()
}

/// The `<stamp>-tune` folder a tune of experiment `name` wrote under `dir`,
/// and its summary.
fn tune_output(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let out = std::fs::read_dir(dir.join("results").join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-tune"))
        .expect("a <stamp>-tune folder");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    (out, summary)
}

/// Writes `text` to `config`, tunes it, expects the tune to fail and
/// returns its stderr.
fn tune_fails(config: &std::path::Path, text: &str, dir: &std::path::Path) -> String {
    std::fs::write(config, text).unwrap();
    let out = common::run_quiet("tune", config, dir, &[]);
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The non-reference candidates the summary's "Every candidate" table lists
/// as measured: (name, objective figure).
fn measured_candidates(summary: &str) -> Vec<(String, String)> {
    summary
        .split("## Every candidate")
        .nth(1)
        .expect("an Every candidate table")
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (cells.len() == 3 && cells[2] == "measured" && !cells[0].starts_with("reference:"))
                .then(|| (cells[0].to_string(), cells[1].to_string()))
        })
        .collect()
}

/// How many measurements of candidate `name` the summary's first table
/// counts (1 + rounds for a finalist).
fn measurements(summary: &str, name: &str) -> u32 {
    let row = summary
        .lines()
        .find(|l| {
            l.starts_with(&format!("| {name} |")) || l.starts_with(&format!("| {name} (winner) |"))
        })
        .unwrap_or_else(|| panic!("no row for {name} in\n{summary}"));
    let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
    cells[2].parse().unwrap_or_else(|_| panic!("{row}"))
}

/// The name in the summary's `**Winner: `name`**` line.
fn winner_name(summary: &str) -> String {
    let rest = summary.split("**Winner: `").nth(1).expect("a winner line");
    rest[..rest.find('`').unwrap()].to_string()
}

/// The number `text` starts with.
fn leading_number(text: &str) -> f64 {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text[..end]
        .parse()
        .unwrap_or_else(|_| panic!("no number at the start of {text:?}"))
}

/// Nanoseconds of a duration as the report writes it (`12.3 µs`).
fn duration_ns(text: &str) -> f64 {
    let n = leading_number(text);
    let unit = text.split_whitespace().nth(1).unwrap_or("");
    let scale = match unit.trim_end_matches([',', ')']) {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        other => panic!("unknown unit {other:?} in {text:?}"),
    };
    n * scale
}

/// tuned.toml loads and holds the candidate `winner`'s setting: its name is
/// `memory_init_cow=<bool>`, the key the tune's candidates differ in.
fn expect_tuned(out: &std::path::Path, winner: &str) {
    let (_, tuned) = tune::load_tuned(&out.join("tuned.toml")).unwrap();
    let cow: bool = winner
        .strip_prefix("memory_init_cow=")
        .unwrap_or_else(|| panic!("candidate name {winner}"))
        .parse()
        .unwrap();
    assert_eq!(
        tuned.engine.memory_init_cow,
        Some(cow),
        "tuned.toml of {winner}"
    );
}

/// The tune settings of the pure-function tests below.
fn target(objective: Objective, live_instances: u32, budget: u64) -> TuneSettings {
    TuneSettings {
        objective,
        live_instances,
        memory_budget: ByteSize(budget),
        finalists: 2,
        rounds: 2,
        p99_target_ms: 0.0,
        idle_share: 0.0,
    }
}

/// The variant named `name` of `exp`.
fn variant<'a>(exp: &'a Experiment, name: &str) -> &'a Variant {
    exp.variants
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no variant {name}"))
}

#[test]
fn kept_resident_memory_is_bounded_by_memory_slots_not_live_instances() {
    let exp = pooling_lab::scenario::parse(
        Path::new("t.toml"),
        r#"
[engine]
allocator = "pooling"
[scenario]
kind = "churn"
[[variant]]
name = "big"
[variant.pooling]
total_core_instances = 1000
total_memories = 1000
linear_memory_keep_resident = "256MiB"
[[variant]]
name = "small"
[variant.pooling]
total_core_instances = 128
total_memories = 128
linear_memory_keep_resident = "16MiB"
[[variant]]
name = "default-slots"
[variant.pooling]
linear_memory_keep_resident = "1MiB"
"#,
    )
    .unwrap();
    // 64 live sandboxes: keep_resident x live_instances of `big` is 16 GiB,
    // not over the budget, but its 1,000 slots may keep 250 GiB resident.
    let t = target(Objective::SandboxesPerSecond, 64, 16 << 30);
    let default_slots =
        u64::from(wasmtime::PoolingAllocationConfig::default().get_total_memories());
    assert_eq!(
        tune::memory_slots(variant(&exp, "default-slots")),
        default_slots
    );
    let mut pruned = Vec::new();
    for v in &exp.variants {
        let keep = v.pooling.linear_memory_keep_resident.unwrap().0;
        let slots = v.pooling.total_memories.map_or(default_slots, u64::from);
        let bound = keep * slots;
        assert_eq!(tune::kept_resident_bound(v), bound, "{}", v.name);
        let over = bound > t.memory_budget.0;
        let why = tune::prune_before_measuring(v, &t);
        assert_eq!(why.is_some(), over, "{}: {why:?}", v.name);
        if let Some(why) = why {
            // The message names the numbers and the fix.
            let gib = |b: u64| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64);
            for part in [
                format!("{slots}"),
                gib(bound),
                gib(t.memory_budget.0),
                "lower linear_memory_keep_resident or total_memories, or raise memory_budget"
                    .into(),
            ] {
                assert!(why.contains(&part), "{part:?} not in {why}");
            }
            pruned.push(v.name.as_str());
        }
    }
    // What the inputs were chosen for: the old keep_resident x live bound
    // would not prune `big`, this one does; `small` stays.
    let big = variant(&exp, "big");
    assert!(
        big.pooling.linear_memory_keep_resident.unwrap().0 * u64::from(t.live_instances)
            <= t.memory_budget.0
    );
    assert_eq!(pruned, ["big"]);
}

#[test]
fn references_are_measured_in_the_candidates_server() {
    let text = r#"
[engine]
allocator = "pooling"
max_wasm_stack = "1MiB"
[pooling]
total_component_instances = 32
total_core_instances = 64
total_memories = 32
total_tables = 64
total_stacks = 32
max_memory_size = "16MiB"
linear_memory_keep_resident = "1MiB"
[guest]
kind = "synthetic-http"
image_size = "1MiB"
[scenario]
kind = "serve"
server = "SERVER"
"#;
    // wasmtime serve: the main reference is its defaults, no flags.
    let exp = pooling_lab::scenario::parse(
        Path::new("t.toml"),
        &text.replace("SERVER", "wasmtime-serve"),
    )
    .unwrap();
    let first = &exp.variants[0];
    assert_eq!(first.scenario.wasmtime_flags, WasmtimeFlags::Variant);
    let refs = tune::references(first);
    assert_eq!(refs.len(), 2);
    let (main, on_demand) = (&refs[0], &refs[1]);
    assert_eq!(main.name, tune::WASMTIME_SERVE_DEFAULTS);
    assert_eq!(main.scenario.server, ServeServer::WasmtimeServe);
    assert_eq!(main.scenario.wasmtime_flags, WasmtimeFlags::None);
    assert_eq!(main.engine, EngineSettings::default());
    assert_eq!(main.pooling, PoolingSettings::default());
    assert_eq!(main.guest, first.guest);
    assert_eq!(on_demand.name, tune::ON_DEMAND);
    assert_eq!(on_demand.scenario.server, ServeServer::WasmtimeServe);
    assert_eq!(on_demand.scenario.wasmtime_flags, WasmtimeFlags::Variant);
    assert_eq!(on_demand.engine.allocator, Some(Allocator::OnDemand));
    assert_eq!(on_demand.engine.max_wasm_stack, first.engine.max_wasm_stack);
    // wasmtime serve pools by default: on-demand is said with a flag.
    let flags = pooling_lab::scenario::serve::wasmtime_flags(on_demand)
        .unwrap()
        .join(" ");
    assert!(flags.contains("-O pooling-allocator=n"), "{flags}");

    // pooling-lab's server: both references in it, as before.
    let exp =
        pooling_lab::scenario::parse(Path::new("t.toml"), &text.replace("SERVER", "pooling-lab"))
            .unwrap();
    let first = &exp.variants[0];
    let refs = tune::references(first);
    assert_eq!(refs.len(), 2);
    let (main, on_demand) = (&refs[0], &refs[1]);
    assert_eq!(main.name, tune::WASMTIME_DEFAULT_POOLING);
    assert_eq!(main.scenario, first.scenario);
    assert_eq!(main.engine.allocator, Some(Allocator::Pooling));
    assert_eq!(main.engine.max_wasm_stack, first.engine.max_wasm_stack);
    assert_eq!(
        main.pooling,
        PoolingSettings {
            total_core_instances: first.pooling.total_core_instances,
            total_memories: first.pooling.total_memories,
            total_tables: first.pooling.total_tables,
            max_memory_size: first.pooling.max_memory_size,
            ..PoolingSettings::default()
        }
    );
    assert_eq!(on_demand.name, tune::ON_DEMAND);
    assert_eq!(on_demand.scenario, first.scenario);
    assert_eq!(on_demand.engine.allocator, Some(Allocator::OnDemand));
}

/// Two finalists (`a`, `b`) of the experiment `toml` with these scores,
/// and the tune's candidates.
fn finalists(toml: &str, a: &[f64], b: &[f64]) -> Vec<tune::Candidate> {
    let exp = pooling_lab::scenario::parse(Path::new("t.toml"), toml).unwrap();
    ["a", "b"]
        .iter()
        .zip([a, b])
        .map(|(name, scores)| {
            let mut c = tune::Candidate::new(variant(&exp, name).clone(), false);
            c.scores = scores.to_vec();
            c
        })
        .collect()
}

fn overlap(x: &tune::Candidate, y: &tune::Candidate) -> bool {
    let (xl, xh) = x.score_range().unwrap();
    let (yl, yh) = y.score_range().unwrap();
    xl <= yh && yl <= xh
}

/// `a` keeps 64 MiB resident per slot, `b` 4 MiB, in 64 slots each.
const KEEPS: &str = r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 64
total_memories = 64
[scenario]
kind = "churn"
[[variant]]
name = "a"
[variant.pooling]
linear_memory_keep_resident = "64MiB"
[[variant]]
name = "b"
[variant.pooling]
linear_memory_keep_resident = "4MiB"
"#;

#[test]
fn finalists_within_noise_are_decided_by_what_they_keep_resident() {
    let t = target(Objective::SandboxesPerSecond, 16, 8 << 30);
    let median = |c: &tune::Candidate| c.median().unwrap();
    let bound = |c: &tune::Candidate| tune::kept_resident_bound(&c.variant);

    // (a) Overlapping ranges; the better median keeps more resident: the
    // other one wins, and the tie is reported.
    let cands = finalists(KEEPS, &[1000.0, 1100.0, 1200.0], &[950.0, 1050.0, 1150.0]);
    assert!(overlap(&cands[0], &cands[1]));
    let best = if median(&cands[0]) >= median(&cands[1]) {
        0
    } else {
        1
    };
    let other = 1 - best;
    assert!(bound(&cands[best]) > bound(&cands[other]));
    let pick = tune::pick_winner(&t, &cands, &[0, 1]).unwrap();
    assert_eq!(pick.best, best);
    assert_eq!(pick.winner, other, "{pick:?}");
    assert_eq!(pick.tied, vec![best, other]);
    let reason = pick.reason.unwrap();
    assert!(
        reason.starts_with(&format!("chose `{}`", cands[other].variant.name)),
        "{reason}"
    );
    let mib = |b: u64| format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64);
    let gib = |b: u64| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64);
    assert!(reason.contains(&mib(bound(&cands[other]))), "{reason}");
    assert!(reason.contains(&gib(bound(&cands[best]))), "{reason}");

    // (b) The same finalists, ranges apart: the better median wins, no tie.
    let cands = finalists(KEEPS, &[1000.0, 1100.0, 1200.0], &[700.0, 750.0, 800.0]);
    assert!(!overlap(&cands[0], &cands[1]));
    let best = if median(&cands[0]) >= median(&cands[1]) {
        0
    } else {
        1
    };
    let pick = tune::pick_winner(&t, &cands, &[0, 1]).unwrap();
    assert_eq!(pick.winner, best, "{pick:?}");
    assert!(pick.tied.is_empty(), "{pick:?}");
    assert_eq!(pick.reason, None);
}

/// Two finalists with the same keep_resident and slots, differing in
/// another knob, their scores overlapping (a tie on the objective).
const SAME_BOUND: &str = r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 64
total_memories = 64
linear_memory_keep_resident = "4MiB"
[scenario]
kind = "churn"
[[variant]]
name = "a"
[variant.pooling]
decommit_batch_size = 1
[[variant]]
name = "b"
[variant.pooling]
decommit_batch_size = 16
"#;

#[test]
fn a_tie_between_equal_bounds_is_decided_by_memory_only_beyond_its_noise() {
    let t = target(Objective::RequestsPerSecond, 16, 8 << 30);
    let mut cands = finalists(
        SAME_BOUND,
        &[1000.0, 1100.0, 1200.0],
        &[950.0, 1050.0, 1150.0],
    );
    assert!(overlap(&cands[0], &cands[1]));
    assert_eq!(
        tune::kept_resident_bound(&cands[0].variant),
        tune::kept_resident_bound(&cands[1].variant)
    );
    let best = if cands[0].median() >= cands[1].median() {
        0
    } else {
        1
    };
    let other = 1 - best;

    // (a) The other one measured less memory in every run, its range apart
    // from the best's: it wins, and the reason gives both ranges.
    cands[best].run_memories = vec![200e6, 210e6, 205e6];
    cands[other].run_memories = vec![100e6, 110e6, 105e6];
    let pick = tune::pick_winner(&t, &cands, &[0, 1]).unwrap();
    assert_eq!(pick.winner, other, "{pick:?}");
    let reason = pick.reason.unwrap();
    assert!(
        reason.starts_with(&format!("chose `{}`", cands[other].variant.name)),
        "{reason}"
    );
    assert!(reason.contains("beyond its noise"), "{reason}");

    // (b) Less on the median, but the ranges overlap: a tie on memory, and
    // the best median wins, saying so.
    cands[best].run_memories = vec![100e6, 210e6, 205e6];
    cands[other].run_memories = vec![104e6, 110e6, 105e6];
    assert!(cands[other].measured_memory(16) < cands[best].measured_memory(16));
    let pick = tune::pick_winner(&t, &cands, &[0, 1]).unwrap();
    assert_eq!(pick.winner, best, "{pick:?}");
    let reason = pick.reason.unwrap();
    assert!(reason.contains("memory is a tie"), "{reason}");

    // (c) Measured once each (the churn finalists' memory probe): its noise
    // is unknown, so even a large difference is no tie-break.
    let t = target(Objective::SandboxesPerSecond, 16, 8 << 30);
    cands[best].run_memories.clear();
    cands[other].run_memories.clear();
    cands[best].memory = Some((60e6, 3e6));
    cands[other].memory = Some((50e6, 2e6));
    let pick = tune::pick_winner(&t, &cands, &[0, 1]).unwrap();
    assert_eq!(pick.winner, best, "{pick:?}");
    assert!(
        pick.reason
            .as_deref()
            .is_some_and(|r| r.contains("measured once: its noise is unknown")),
        "{pick:?}"
    );
}

#[test]
fn which_knobs_did_it_lists_only_knobs_whose_removal_lowered_the_objective_beyond_the_noise() {
    // `a` is the winner; `b` differs from it in one knob.
    let w = |b: &[f64]| finalists(SAME_BOUND, &[1000.0, 1100.0, 1200.0], b);
    // Every measurement of `b` below every one of the winner: it helped.
    let cands = w(&[700.0, 750.0, 800.0]);
    let (helped, none) = tune::knob_effects(&cands, &cands[0]);
    assert_eq!(helped.len(), 1);
    assert!(none.is_empty());
    assert_eq!(helped[0].0, "pooling.decommit_batch_size");
    // Overlapping ranges (a lower median, within the noise): no effect.
    let cands = w(&[950.0, 1050.0, 1150.0]);
    let (helped, none) = tune::knob_effects(&cands, &cands[0]);
    assert!(
        helped.is_empty(),
        "{:?}",
        helped.iter().map(|h| &h.0).collect::<Vec<_>>()
    );
    assert_eq!(none.len(), 1);
    // Putting the knob back scored better: not a knob that did it.
    let cands = w(&[1300.0, 1350.0, 1400.0]);
    let (helped, none) = tune::knob_effects(&cands, &cands[0]);
    assert!(helped.is_empty());
    assert_eq!(none.len(), 1);
}

#[test]
fn a_candidate_whose_slots_keep_more_than_the_budget_is_pruned_and_never_wins() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kept-tune.toml");
    // 16 slots x 32 MiB = 512 MiB may stay resident, over 384 MiB; 8 live
    // x 32 MiB (256 MiB) would not be.
    std::fs::write(
        &config,
        r#"
[tune]
objective = "sandboxes-per-second"
live_instances = 8
memory_budget = "384MiB"
finalists = 2
rounds = 1
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 16
total_memories = 16
total_tables = 16
max_memory_size = "64MiB"
linear_memory_keep_resident = ["0", "32MiB"]
[guest]
kind = "synthetic"
image_size = "4MiB"
dirty_per_call = "64KiB"
[scenario]
kind = "churn"
iterations = 50
warmup = 10
"#,
    )
    .unwrap();
    common::expect_success(&common::run_quiet("tune", &config, dir.path(), &[]));
    let (out, summary) = tune_output(dir.path(), "kept-tune");
    let over = "linear_memory_keep_resident=33554432";
    let row = summary
        .split("## Every candidate")
        .nth(1)
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&format!("| {over} |")))
        .unwrap_or_else(|| panic!("no row for {over}:\n{summary}"));
    assert!(row.contains("exceeds the memory budget"), "{row}");
    assert!(row.contains("lower linear_memory_keep_resident"), "{row}");
    assert_ne!(winner_name(&summary), over, "{summary}");
    let (_, tuned) = tune::load_tuned(&out.join("tuned.toml")).unwrap();
    assert_eq!(
        tuned.pooling.linear_memory_keep_resident.map_or(0, |b| b.0),
        0
    );
}

#[test]
fn a_serving_tune_over_two_servers_is_refused_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("two-servers.toml");
    let err = tune_fails(
        &config,
        r#"
[tune]
objective = "requests-per-second"
live_instances = 4
[engine]
allocator = "pooling"
[guest]
kind = "synthetic-http"
[scenario]
kind = "serve"
server = ["pooling-lab", "wasmtime-serve"]
"#,
        dir.path(),
    );
    assert!(err.contains("the same [scenario] server"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A burst tune (`[scenario] kind = "burst"`) of keep-resident 0 or 4 MiB,
/// the 4 MiB one released never or once idle: without `idle_share` the
/// fastest peak wins (the 4 MiB slots take no faults at the peak); with 90%
/// of the day idle and a budget between the two 4 MiB candidates' day
/// averages (computed from a run of the same config), the one that never
/// releases is over it and the one that releases wins, and tuned.toml,
/// the summary and builder.rs state the policy and what it cost.
#[test]
fn a_burst_tune_with_an_idle_share_and_a_budget_picks_the_release_policy() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("burst-tune.toml");
    let body = r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 16
total_memories = 16
total_tables = 16
max_memory_size = "16MiB"
[guest]
kind = "synthetic"
load = "compile"
image_size = "1MiB"
memory_min = "8MiB"
dirty_per_call = "4MiB"
[scenario]
kind = "burst"
threads = 2
peak = 8
ramp_steps = 2
peak_waves = 5
idle_s = 0.3
idle_every_ms = 0
probe_requests = 3
[[variant]]
name = "keep-0"
[[variant]]
name = "keep-4MiB"
[variant.pooling]
linear_memory_keep_resident = "4MiB"
[variant.scenario]
release_idle = ["never", "after-idle"]
"#;
    const NEVER: &str = "keep-4MiB/release_idle=never";
    const RELEASE: &str = "keep-4MiB/release_idle=after-idle";
    const IDLE_SHARE: f64 = 0.9;

    // The day's averages, measured.
    std::fs::write(&config, body).unwrap();
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let r =
        pooling_lab::report::json::read(&common::result_json(dir.path(), "burst-tune")).unwrap();
    let average = |name: &str| {
        r.variants
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.result.as_ref())
            .and_then(|x| x.burst())
            .and_then(|b| b.day_average_pss(IDLE_SHARE))
            .unwrap_or_else(|| panic!("no burst result for {name}"))
    };
    let (never, release) = (average(NEVER), average(RELEASE));
    // 8 slots x 4 MiB kept, 90% of the day: the release saves ~29 MiB.
    let saved = IDLE_SHARE * 8.0 * f64::from(4u32 << 20);
    assert!(
        never - release > saved / 2.0,
        "never {never} vs after-idle {release}: the release saved less than half of {saved}"
    );
    let budget = ((never + release) / 2.0) as u64;

    // Without them: the fastest peak, a 4 MiB candidate.
    let tune_head = "[tune]\nobjective = \"sandboxes-per-second\"\nlive_instances = 8\nfinalists = 3\nrounds = 1\n";
    std::fs::write(&config, format!("{tune_head}{body}")).unwrap();
    common::expect_success(&common::run_quiet("tune", &config, dir.path(), &[]));
    let (out, summary) = tune_output(dir.path(), "burst-tune");
    let plain = winner_name(&summary);
    assert!(plain.starts_with("keep-4MiB/"), "{summary}");
    std::fs::remove_dir_all(&out).unwrap();

    // With them: never is over the budget, the release wins.
    std::fs::write(
        &config,
        format!("{tune_head}idle_share = {IDLE_SHARE}\nmemory_budget = {budget}\n{body}"),
    )
    .unwrap();
    common::expect_success(&common::run_quiet("tune", &config, dir.path(), &[]));
    let (out, summary) = tune_output(dir.path(), "burst-tune");
    assert_eq!(winner_name(&summary), RELEASE, "{summary}");
    let never_row = summary
        .lines()
        .find(|l| l.starts_with(&format!("| {NEVER} |")) && l.contains("above the memory budget"))
        .unwrap_or_else(|| panic!("{NEVER} not dropped for the budget:\n{summary}"));
    assert!(never_row.contains("day's average Pss"), "{never_row}");
    assert!(
        summary.contains("Measured with the winner: [scenario] release_idle = \"after-idle\""),
        "{summary}"
    );
    let tuned = std::fs::read_to_string(out.join("tuned.toml")).unwrap();
    assert!(tuned.contains("release_idle = \"after-idle\""), "{tuned}");
    assert!(
        tuned.contains("# [scenario] release_idle = \"after-idle\"")
            && tuned.contains("page faults"),
        "tuned.toml's header states the policy and its cost:\n{tuned}"
    );
    let builder = std::fs::read_to_string(out.join("builder.rs")).unwrap();
    assert!(
        builder.contains("pub fn release_idle_memory(engine: &wasmtime::Engine) -> usize")
            && builder.contains("engine.release_idle_pool_memory()"),
        "{builder}"
    );
}
