//! A new user's first reports and first production run (issue 23): the
//! Markdown names every fault kind the JSON counts and says "0 faults" when
//! there were none; a scaling report shows the call latency; the production
//! example honours a tuned file's fuel and epoch settings.

mod common;

use pooling_lab::report::{self, markdown};
use std::path::Path;

/// A committed churn result (ten variants, no faults).
const CHURN: &str = "results/churn/20261202T195131Z.json";
/// The committed result of configs/quick.toml (scaling).
const QUICK: &str = "results/quick/20261127T185142Z.json";

#[test]
fn the_fault_table_has_every_kind_checks_included() {
    let mut r = report::json::read(Path::new(CHURN)).unwrap();
    let f = &mut r.variants[0]
        .result
        .as_mut()
        .and_then(|r| r.churn_mut())
        .unwrap()
        .faults;
    f.checks = 300;
    f.first = Some("the result is 4, expected 5".into());
    let md = markdown::render(&r);
    assert!(
        md.contains("| variant | timed calls | faults | traps | deadline exceeded | memory limit | checks (wrong result) | other | first fault |"),
        "{md}"
    );
    let row = md
        .lines()
        .find(|l| l.starts_with(&format!("| {} |", r.variants[0].name)) && l.contains("expected 5"))
        .unwrap_or_else(|| panic!("no fault row in {md}"));
    assert!(row.contains("| 300 | 0 | 0 | 0 | 300 | 0 |"), "{row}");
    assert!(!md.contains("0 faults:"), "{md}");
}

#[test]
fn a_clean_run_states_0_faults() {
    let r = report::json::read(Path::new(CHURN)).unwrap();
    let md = markdown::render(&r);
    assert!(md.contains("## Guest faults"), "{md}");
    assert!(md.contains("\n0 faults: "), "{md}");
    assert!(markdown::summary(&r).contains("Guest faults: 0 faults"));
}

#[test]
fn the_scaling_report_shows_the_call_latency() {
    let r = report::json::read(Path::new(QUICK)).unwrap();
    let md = markdown::render(&r);
    assert!(
        md.contains("| instantiate (mean) | first call (mean) |"),
        "{md}"
    );
    let step = &r.variants[0]
        .result
        .as_ref()
        .and_then(|r| r.scaling())
        .unwrap()
        .steps[0];
    let call = report::duration(step.call_mean_ns);
    let row = md
        .lines()
        .find(|l| l.starts_with(&format!("| 1 | {} |", r.variants[0].name)))
        .unwrap();
    assert!(row.ends_with(&format!("| {call} |")), "{row} (call {call})");
    assert!(markdown::summary(&r).contains("first call (mean)"));
}

#[allow(dead_code)] // its `main` is the example's, not this test's
#[path = "../examples/production.rs"]
mod production;

#[test]
fn the_production_example_honours_fuel_and_epochs() {
    let (_, v) = pooling_lab::tune::load_tuned(Path::new("tests/fixtures/tuned.toml")).unwrap();
    assert_eq!(v.engine.consume_fuel, Some(true));
    assert_eq!(v.engine.epoch_interruption, Some(true));
    let served = production::serve(Path::new("tests/fixtures/tuned.toml"), 20)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(served.requests, 20);
    assert!(served.metrics.counts.hits + served.metrics.counts.misses >= 20);
    // The fixture keeps 4 MiB of each slot resident: once the pool is
    // dropped, the release gives back what the used slots kept (each
    // request's writes, reset in place by PAGEMAP_SCAN).
    assert!(
        served.released_bytes > 0,
        "nothing released although linear_memory_keep_resident = 4MiB"
    );
}

/// A variant whose engine meters fuel or checks epochs is measured, not
/// trapped at its first instruction: its stores get all the fuel there is
/// and, without a `call_deadline_ms`, a deadline out of reach.
#[test]
fn fuel_and_epoch_variants_measure_without_faults() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("metered.toml");
    std::fs::write(
        &cfg,
        r#"[engine]
allocator = "pooling"
consume_fuel = [true, false]
epoch_interruption = [true, false]
[pooling]
total_core_instances = 8
total_memories = 8
total_tables = 8
total_stacks = 8
max_memory_size = "4MiB"
[guest]
image_size = "64KiB"
dirty_per_call = "16KiB"
[scenario]
kind = "churn"
iterations = 20
warmup = 2
"#,
    )
    .unwrap();
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    common::expect_success(&out);
    let r = report::json::read(&common::result_json(dir.path(), "metered")).unwrap();
    assert_eq!(r.variants.len(), 4);
    for v in &r.variants {
        let churn = v
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap_or_else(|| panic!("{} not measured", v.name));
        assert_eq!(churn.faults.total(), 0, "{}: {:?}", v.name, churn.faults);
        assert_eq!(churn.total_cycles, 20, "{}", v.name);
    }
}
