//! Where the kernel refuses a facility pooling-lab reads (PAGEMAP_SCAN for
//! the dirty-region diagnostic, perf_event_open for fault sites), a run goes
//! on and its report says why, instead of failing or showing empty figures.
//! The refusal is made with the switches of [`pooling_lab::testing`], so the
//! fallback is exercised on every machine, and the same run without them is
//! the control: there, both facilities are read.

use pooling_lab::measure::{dirty, faults};
use pooling_lab::scenario::churn::ChurnResult;
use pooling_lab::testing::{NO_PAGEMAP_SCAN, NO_PERF_EVENTS};

mod common;

const CONFIG: &str = r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 4
total_memories = 4
total_tables = 4
max_memory_size = "16MiB"
linear_memory_keep_resident = "1MiB"
pagemap_scan = "yes"
[guest]
image_size = "256KiB"
dirty_per_call = "64KiB"
load = "compile"
[scenario]
kind = "churn"
iterations = 30
warmup = 3
trace_major_faults = true
"#;

/// Runs CONFIG with `env`; returns its churn result and Markdown report.
fn run(env: &[(&str, &str)]) -> (ChurnResult, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("unavailable.toml");
    std::fs::write(&config, CONFIG).unwrap();
    common::run_churn(&config, dir.path(), env)
}

#[test]
fn without_pagemap_scan_and_perf_events_the_run_reports_why_and_goes_on() {
    let (c, md) = run(&[(NO_PAGEMAP_SCAN, "1"), (NO_PERF_EVENTS, "1")]);
    // The cycles were measured all the same.
    assert_eq!(c.faults.total(), 0, "{:?}", c.faults);
    assert_eq!(c.phases[0].summary.count, c.total_cycles);
    let d = c.dirty_regions.as_ref().expect("a dirty-region entry");
    let why = d.unavailable.as_deref().expect("the reason it is missing");
    assert!(
        why.contains(&format!("hidden by {NO_PAGEMAP_SCAN}=1")),
        "{why}"
    );
    assert_eq!(d.samples, 0, "{d:?}");
    assert!(md.contains("not scanned: "), "{md}");
    let f = c.major_fault_sites.as_ref().expect("a fault-site entry");
    let why = f.unavailable.as_deref().expect("the reason it is missing");
    assert!(
        why.contains(&format!("hidden by {NO_PERF_EVENTS}=1")),
        "{why}"
    );
}

#[test]
fn with_both_facilities_the_same_run_reads_them() {
    if let Err(e) = dirty::available() {
        return common::skip(&format!("PAGEMAP_SCAN unavailable ({e})"));
    }
    if let Err(e) = faults::MajorFaultTrace::open() {
        return common::skip(&format!("perf_event_open refused ({e})"));
    }
    let (c, _) = run(&[]);
    let d = c.dirty_regions.as_ref().expect("a dirty-region entry");
    assert_eq!(d.unavailable, None, "{d:?}");
    assert_eq!(d.samples, pooling_lab::scenario::churn::DIRTY_SAMPLES);
    // 64 KiB written by every call, in one run of pages.
    assert_eq!(d.written_pages_median, (64 << 10) / dirty::page_size());
    let f = c.major_fault_sites.as_ref().expect("a fault-site entry");
    assert_eq!(f.unavailable, None, "{f:?}");
}
