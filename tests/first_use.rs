//! A new user's first reports and first production run (issue 23): the
//! Markdown names every fault kind the JSON counts and says "0 faults" when
//! there were none; a scaling report shows the call latency; the production
//! example honours a tuned file's fuel and epoch settings.

use pooling_lab::report::{self, markdown};
use std::path::Path;

/// A committed churn result (ten variants, no faults).
const CHURN: &str = "results/churn/20261202T195131Z.json";
/// The committed result of configs/quick.toml (scaling).
const QUICK: &str = "results/quick/20261127T185142Z.json";

#[test]
fn the_fault_table_has_every_kind_checks_included() {
    let mut r = report::json::read(Path::new(CHURN)).unwrap();
    let f = &mut r.variants[0].churn.as_mut().unwrap().faults;
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
    let step = &r.variants[0].scaling.as_ref().unwrap().steps[0];
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
    assert!(served.metrics.hits + served.metrics.misses >= 20);
}
