//! SIGINT halfway through a run leaves a valid result marked incomplete,
//! with the interrupted variant named, and exit code 130; the private /tmp
//! folders of the killed child are removed all the same.

use pooling_lab::report;
use pooling_lab::result::VariantStatus;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

const QJS: &str = "guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm";

/// Starts `pooling-lab run --quiet <config>` with results and cache under `dir`.
fn spawn_run(config: &std::path::Path, dir: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .args(["run", "--quiet"])
        .arg(config)
        .arg("--results-dir")
        .arg(dir.join("results"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigint_halfway_writes_a_loadable_incomplete_result() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("long.toml");
    // Three variants of a few seconds each: copying an 8 MiB image per cycle.
    std::fs::write(
        &config,
        r#"
[engine]
allocator = "on-demand"
memory_init_cow = false
[guest]
image_size = "8MiB"
dirty_per_call = "64KiB"
[scenario]
kind = "churn"
iterations = [1500, 1501, 1502]
warmup = 10
"#,
    )
    .unwrap();
    let results = dir.path().join("results");
    let mut child = spawn_run(&config, dir.path());
    // Wait until the first variant has been written, then interrupt.
    let folder = results.join("long");
    let deadline = Instant::now() + Duration::from_secs(120);
    let json = loop {
        let found = std::fs::read_dir(&folder).ok().and_then(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.extension().is_some_and(|e| e == "json"))
        });
        if let Some(j) = found {
            break j;
        }
        assert!(Instant::now() < deadline, "no result file appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    let r = report::json::read(&json).unwrap();
    assert!(!r.complete);
    // The variants measured before the signal keep their figures; the one
    // being measured is recorded as failed by the interruption; none after
    // it was started.
    let (interrupted, before) = r.variants.split_last().expect("no variant recorded");
    let statuses: Vec<_> = r.variants.iter().map(|v| (&v.name, &v.status)).collect();
    assert!((1..3).contains(&before.len()), "{statuses:?}");
    for v in before {
        assert_eq!(v.status, VariantStatus::Ok, "{}", v.name);
        let c = v
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .expect("figures of a measured variant kept");
        assert!(c.total_cycles > 0 && c.cycles_per_sec > 0.0, "{c:?}");
    }
    let VariantStatus::Failed { reason } = &interrupted.status else {
        panic!("the last variant recorded was not failed by the interruption: {statuses:?}")
    };
    assert!(reason.contains("interrupted"), "{reason}");
    let md = std::fs::read_to_string(json.with_extension("md")).unwrap();
    assert!(md.contains("**Incomplete**"), "{md}");
}

#[test]
fn an_interrupted_child_leaves_no_private_tmp_behind() {
    common::require_guest("qjs", &[QJS]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tmp-sweep.toml");
    let qjs = std::fs::canonicalize(QJS).unwrap();
    std::fs::write(
        &config,
        format!(
            r#"
[engine]
allocator = "on-demand"
[guest]
kind = "wasi-reactor"
wasm = "{}"
private_tmp = true
[scenario]
kind = "churn"
iterations = 10000000
warmup = 1
"#,
            qjs.display()
        ),
    )
    .unwrap();
    let mut child = spawn_run(&config, dir.path());
    // The measuring child names its private /tmp root after its parent.
    let prefix = format!("pooling-lab-tmp-{}-", child.id());
    let roots = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while roots().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the child made no private /tmp root"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(roots(), Vec::<std::path::PathBuf>::new());
}
