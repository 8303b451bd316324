//! The cold-start scenario through the real binary: compiling the guest at
//! start costs far more than deserializing its precompiled artifact, every
//! phase is timed once per repetition, and the report section shows every
//! variant.

use pooling_lab::report;
use pooling_lab::result::{ResultFile, VariantStatus};
use pooling_lab::scenario::cold_start::ColdStartResult;
use pooling_lab::scenario::{ReportContext, Row, report_sections};
use std::path::Path;

mod common;

const ITERATIONS: u64 = 12;

/// Two variants that differ only in how the guest is loaded: compiled in
/// the measuring process vs `deserialize_file` of the precompiled artifact.
fn config() -> String {
    format!(
        r#"
[experiment]
baseline = "load=compile"
[engine]
allocator = "on-demand"
[guest]
kind = "synthetic"
load = ["compile", "file"]
image_size = "1MiB"
dirty_per_call = "64KiB"
functions = 200
[scenario]
kind = "cold-start"
iterations = {ITERATIONS}
warmup = 1
"#
    )
}

fn run(dir: &Path) -> (ResultFile, std::path::PathBuf) {
    let path = dir.join("cold.toml");
    std::fs::write(&path, config()).unwrap();
    common::expect_success(&common::run_quiet("run", &path, dir, &[]));
    let json = common::result_json(dir, "cold");
    let md = json.with_extension("md");
    (report::json::read(&json).unwrap(), md)
}

fn cold(r: &ResultFile, name: &str) -> ColdStartResult {
    let v = r
        .variants
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no variant {name}"));
    assert_eq!(v.status, VariantStatus::Ok, "{name}");
    v.result
        .as_ref()
        .and_then(|r| r.cold_start())
        .unwrap_or_else(|| panic!("{name} has no cold-start result"))
        .clone()
}

fn p50(r: &ColdStartResult, phase: &str) -> u64 {
    r.phases
        .iter()
        .find(|p| p.phase == phase)
        .unwrap_or_else(|| panic!("no phase {phase}"))
        .summary
        .p50_ns
}

/// The cold-start section as the report writers get it from the registry.
fn section(r: &ResultFile) -> String {
    let rows: Vec<Row<'_, _>> = r
        .variants
        .iter()
        .map(|v| Row {
            name: &v.name,
            label: v.name.clone(),
            settings: &v.settings,
            result: v.result.as_ref().unwrap(),
            vs_baseline: v.vs_baseline.as_ref(),
            between_rounds: &v.between_rounds,
        })
        .collect();
    let ctx = ReportContext {
        baseline: &r.baseline,
        experiment: &r.experiment,
    };
    report_sections(&rows, &ctx)
}

#[test]
fn compiling_at_start_costs_more_than_loading_a_precompiled_file() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _md) = run(dir.path());
    let names: Vec<&str> = r.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["load=compile", "load=file"]);
    let (compile, file) = (cold(&r, "load=compile"), cold(&r, "load=file"));

    for (name, c) in [("load=compile", &compile), ("load=file", &file)] {
        assert_eq!(c.iterations, ITERATIONS);
        let phases: Vec<&str> = c.phases.iter().map(|p| p.phase.as_str()).collect();
        assert_eq!(
            phases,
            ["engine", "load", "instantiate", "first-call", "total"]
        );
        for p in &c.phases {
            assert_eq!(p.summary.count, ITERATIONS, "{}", p.phase);
            assert!(p.hlog_path.is_some(), "{} histogram not saved", p.phase);
        }
        assert_eq!(c.module_load.count, ITERATIONS);
        // Every repetition's total is its four phases, timed between the
        // same five clock reads, so the totals' mean is the sum of the
        // phases' means. A phase left out of the total, or timed over
        // another span (an empty one included), moves the sum by its
        // share; with load=file every share is several times the tolerance
        // (0.1%): engine, the smallest, is about 0.6% of a total here.
        let mean = |phase: &str| {
            let p = c.phases.iter().find(|p| p.phase == phase).unwrap();
            (p.phase.as_str(), p.summary.mean_ns)
        };
        common::assert_mean_is_sum(
            mean("total"),
            &[
                mean("engine"),
                mean("load"),
                mean("instantiate"),
                mean("first-call"),
            ],
            name,
        );
        // A cold host holds at least its engine, loaded guest and sandbox.
        assert!(c.first_request_pss_bytes > 0.0, "{c:?}");
    }

    // Compiling 200 functions with Cranelift vs mapping the precompiled
    // code: an order of magnitude apart on any machine; 3x is a safe floor.
    let (lc, lf) = (p50(&compile, "load"), p50(&file, "load"));
    assert!(
        lc as f64 > 3.0 * lf as f64,
        "load p50: compile {lc} ns is not clearly above file {lf} ns"
    );
    assert!(
        compile.module_load.p50_ns as f64 > 3.0 * file.module_load.p50_ns as f64,
        "compile/deserialize alone: {:?} vs {:?}",
        compile.module_load,
        file.module_load
    );
    let vs = r.variants[1].vs_baseline.as_ref().unwrap();
    assert!(vs.p50_speedup["load"] > 3.0, "{vs:?}");

    let s = section(&r);
    assert!(
        s.contains("## Cold start: a new host's first request"),
        "{s}"
    );
    for name in ["load=compile", "load=file"] {
        assert!(s.contains(&format!("### {name}")), "{s}");
    }
    assert!(s.contains("| total |"), "{s}");
}

/// The run's Markdown (`scenario::report_sections`) shows this section with
/// both variants.
#[test]
fn the_markdown_report_has_the_section_with_both_variants() {
    let dir = tempfile::tempdir().unwrap();
    let (_r, md) = run(dir.path());
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("## Cold start: a new host's first request"),
        "{md}"
    );
    for name in ["load=compile", "load=file"] {
        assert!(md.contains(&format!("### {name}")), "{md}");
    }
}

/// `run` prints the variants side by side (as the README says it does):
/// one row each, whose total p50 is the result's, as the report writes it.
#[test]
fn run_prints_the_side_by_side_table_with_each_variants_total() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cold.toml");
    std::fs::write(&path, config()).unwrap();
    let stdout = common::expect_success(&common::run_quiet("run", &path, dir.path(), &[]));
    let r = report::json::read(&common::result_json(dir.path(), "cold")).unwrap();
    assert!(
        stdout.contains("| variant | engine p50 | load p50 |"),
        "{stdout}"
    );
    for name in ["load=compile", "load=file"] {
        let total = pooling_lab::units::duration(p50(&cold(&r, name), "total") as f64);
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"));
        let cells: Vec<&str> = row.split(" | ").collect();
        // variant, engine, load, instantiate, first-call, total, ...
        assert_eq!(cells[5], total, "{row}");
    }
}

#[test]
fn zero_iterations_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zero.toml");
    std::fs::write(
        &path,
        "[scenario]\nkind = \"cold-start\"\niterations = 0\n[guest]\nload = \"compile\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("iterations"), "{err}");
    assert!(err.contains("at least 1"), "{err}");
}
