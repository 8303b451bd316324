//! configs/faults.toml: a trapping guest, a guest that never returns and one
//! that allocates past its limit are each counted by name; the healthy
//! variants beside them are measured normally and the run finishes.

use pooling_lab::report;
use pooling_lab::result::VariantStatus;
use std::path::Path;

mod common;

#[test]
fn faulting_guests_are_counted_by_name_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_quiet("run", Path::new("configs/faults.toml"), dir.path(), &[]);
    let stdout = common::expect_success(&out);
    let json = common::result_json(dir.path(), "faults");
    let r = report::json::read(&json).unwrap();
    assert!(r.complete);
    let get = |name: &str| {
        let v = r.variants.iter().find(|v| v.name == name).unwrap();
        assert_eq!(v.status, VariantStatus::Ok, "{name}");
        v.result.as_ref().and_then(|r| r.churn()).unwrap()
    };
    for healthy in ["healthy", "healthy-on-demand"] {
        let c = get(healthy);
        assert_eq!(c.faults.total(), 0, "{healthy}: {:?}", c.faults);
        assert_eq!(c.phases[0].summary.count, c.total_cycles);
    }
    let traps = get("traps");
    assert_eq!(traps.faults.traps, traps.total_cycles);
    assert!(
        traps
            .faults
            .first
            .as_deref()
            .unwrap()
            .contains("unreachable")
    );
    let loops = get("loops-forever");
    assert_eq!(loops.faults.deadlines, loops.total_cycles);
    assert!(loops.faults.first.as_deref().unwrap().contains("interrupt"));
    // Each looping call was stopped near its 20 ms deadline, not left running.
    let call = &loops
        .phases
        .iter()
        .find(|p| p.phase == "call")
        .unwrap()
        .summary;
    assert!(
        call.p50_ns >= 15_000_000 && call.p50_ns < 2_000_000_000,
        "{call:?}"
    );
    let grows = get("grows-past-limit");
    assert_eq!(grows.faults.memory_limits, grows.total_cycles);
    assert!(
        grows
            .faults
            .first
            .as_deref()
            .unwrap()
            .contains("growing memory")
    );
    // The report names all three.
    assert!(stdout.contains("| traps | 200 | 200 |"), "{stdout}");
    assert!(stdout.contains("| loops-forever |"), "{stdout}");
    assert!(stdout.contains("| grows-past-limit |"), "{stdout}");
}

/// Runs a config (exit status not checked) and returns its output and result.
fn run_config(config: &Path, dir: &Path) -> (std::process::Output, std::path::PathBuf) {
    let out = common::run_quiet("run", config, dir, &[]);
    let name = config.file_stem().unwrap().to_string_lossy();
    (out, common::result_json(dir, &name))
}

#[test]
fn soak_fails_the_leaking_variant_and_keeps_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (out, json) = run_config(Path::new("configs/soak.toml"), dir.path());
    // A failed variant makes the run exit non-zero, after writing everything.
    assert!(!out.status.success());
    let r = report::json::read(&json).unwrap();
    assert!(r.complete);
    for name in ["fresh", "reuse"] {
        let v = r.variants.iter().find(|v| v.name == name).unwrap();
        assert_eq!(v.status, VariantStatus::Ok, "{name}");
        let k = v.result.as_ref().and_then(|r| r.soak()).unwrap();
        assert!(!k.exceeded, "{name}: {k:?}");
        assert_eq!(k.samples.len(), 11);
    }
    let leaky = r.variants.iter().find(|v| v.name == "leaky-guest").unwrap();
    let VariantStatus::Failed { reason } = &leaky.status else {
        panic!("leaky guest not caught: {:?}", leaky.status)
    };
    assert!(reason.starts_with("leak: Pss grows"), "{reason}");
    let k = leaky.result.as_ref().and_then(|r| r.soak()).unwrap();
    // One 4 KiB page per call: ~4 MiB per 1,000 calls, on a straight line.
    assert!(k.pss_slope_per_1000_bytes > 3.0 * 1048576.0, "{k:?}");
    assert!(k.pss_fit_r2 > 0.99, "{k:?}");
}

#[test]
fn memory_budget_stops_a_variant_by_name_and_the_rest_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("budget.toml");
    std::fs::write(
        &config,
        r#"
[engine]
allocator = "on-demand"
memory_init_cow = false
[guest]
image_size = "16MiB"
dirty_per_call = "64KiB"
[scenario]
counts = [1, 100]
max_rss = "256MiB"
[[variant]]
name = "over-budget"
[[variant]]
name = "within-budget"
[variant.scenario]
counts = [1, 4]
"#,
    )
    .unwrap();
    let (out, json) = run_config(&config, dir.path());
    assert!(!out.status.success());
    let r = report::json::read(&json).unwrap();
    let over = &r.variants[0];
    let VariantStatus::Failed { reason } = &over.status else {
        panic!("{:?}", over.status)
    };
    assert!(reason.starts_with("memory budget exceeded"), "{reason}");
    assert!(reason.contains("max_rss = 256 MiB"), "{reason}");
    assert_eq!(r.variants[1].status, VariantStatus::Ok);
}
