//! configs/faults.toml: a trapping guest, a guest that never returns and one
//! that allocates past its limit are each counted by name; the healthy
//! variants beside them are measured normally and the run finishes.

use pooling_lab::report;
use pooling_lab::result::VariantStatus;
use std::process::Command;

#[test]
fn faulting_guests_are_counted_by_name_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let out = Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .args(["run", "--quiet", "configs/faults.toml", "--results-dir"])
        .arg(&results)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_dir(results.join("faults"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let r = report::json::read(&json).unwrap();
    assert!(r.complete);
    let get = |name: &str| {
        let v = r.variants.iter().find(|v| v.name == name).unwrap();
        assert_eq!(v.status, VariantStatus::Ok, "{name}");
        v.churn.as_ref().unwrap()
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
