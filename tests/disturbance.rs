//! A busy machine is detected, a quiet run is not called disturbed, and
//! `compare` does not cry wolf over the busy one.
//!
//! The same small churn experiment is run twice with `--rounds 3`; during
//! the second run this test keeps every CPU busy with shell loops of its
//! own. The second result must mark every variant disturbed (with the
//! figure), re-run each disturbed round once, and `compare` must give none of
//! its rows a verdict of better or worse. The first must mark none disturbed
//! and re-run nothing.
//!
//! The two runs differ in what the test controls: its own loops, and the
//! share of the CPU other processes may take before a variant is disturbed.
//! The busy run allows 10%, and the test's loops alone take about half. The
//! quiet run cannot be made quiet on a shared machine: eight CPU-bound
//! loops in other sessions took 90% of two CPUs from a measurement here,
//! and still 20-45% with the measurement at the highest priority (nice -20
//! and its session's autogroup at -20, as root). So it allows 95%: only a
//! measurement left less than 5% of the machine, or a detection that marks
//! what it should not, is disturbed there.
//!
//! Both runs write their pages past the guest's 8 MiB image: with two
//! threads writing the same pages of the file-mapped image, this machine's
//! kernel (6.18) counts some of those copy-on-write faults as major faults
//! though no page is read from disk (about 0.6 a cycle), which would mark
//! even the quiet run disturbed (more than 64 major faults).
//!
//! Without the detection this test fails: set
//! `POOLING_LAB_TEST_DISTURBED_SHARE=1.0` (a threshold no machine exceeds) and
//! `compare` calls the busy run's throughput and latencies worse.

use pooling_lab::report::{compare, json};
use pooling_lab::result::VariantStatus;
use std::process::{Child, Command};

mod common;

/// Shell loops that burn one CPU each until dropped.
struct Burners(Vec<Child>);

impl Burners {
    fn start(n: usize) -> Burners {
        Burners(
            (0..n)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("starting a CPU-burning shell loop")
                })
                .collect(),
        )
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The share of the CPU other processes may take in the quiet run.
const QUIET_SHARE: f64 = 0.95;

#[test]
fn a_busy_machine_is_marked_disturbed_and_compare_gives_it_no_verdict() {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threshold: f64 = std::env::var("POOLING_LAB_TEST_DISTURBED_SHARE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.10);
    let dir = tempfile::tempdir().unwrap();
    // As many churn threads as CPUs: alone they have the machine to
    // themselves; next to as many burning loops they get about half of it.
    let config = |sub: &str, share: f64| {
        let path = dir.path().join(format!("{sub}.toml"));
        std::fs::write(
            &path,
            format!(
                r#"
[experiment]
name = "busy"
disturbed_cpu_share = {share:?}
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 16
total_memories = 16
total_tables = 16
max_memory_size = "16MiB"
[guest]
image_size = "8MiB"
dirty_per_call = "256KiB"
dirty_offset = "8MiB"
[scenario]
kind = "churn"
iterations = 1500
warmup = 100
threads = {cpus}

[[variant]]
name = "pooling"

[[variant]]
name = "on-demand"
[variant.engine]
allocator = "on-demand"
"#
            ),
        )
        .unwrap();
        path
    };
    let run = |sub: &str, share: f64| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
            .args(["run", "--quiet", "--rounds", "3"])
            .arg(config(sub, share))
            .arg("--results-dir")
            .arg(dir.path().join(sub))
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .output()
            .unwrap();
        common::expect_success(&out);
        let folder = dir.path().join(sub).join("busy");
        let json = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .unwrap();
        json::read(&json).unwrap()
    };
    let quiet = run("a", QUIET_SHARE);
    let busy = {
        let _burn = Burners::start(cpus);
        run("b", threshold)
    };

    // The quiet run: measured, and no variant disturbed; no round re-run.
    assert_eq!(quiet.rounds, 3);
    assert_eq!(quiet.disturbed_cpu_share, Some(QUIET_SHARE));
    for v in &quiet.variants {
        assert_eq!(v.status, VariantStatus::Ok, "{}", v.name);
        let d = v.disturbance.as_ref().unwrap();
        assert!(
            !v.disturbed,
            "{} marked disturbed in the quiet run: {}",
            v.name,
            d.describe()
        );
        assert!(
            !v.warnings.iter().any(|w| w.starts_with("disturbed")),
            "{}: {:?}",
            v.name,
            v.warnings
        );
        assert!(
            v.rounds.iter().all(|r| !r.rerun && !r.replaced),
            "{}: a quiet round was re-run: {:#?}",
            v.name,
            v.rounds
        );
    }

    // compare: no verdict of better or worse for a variant measured on the
    // busy machine.
    let deltas = compare::diff(&quiet, &busy);
    assert!(!deltas.is_empty());
    let judged: Vec<String> = deltas
        .iter()
        .filter(|d| {
            matches!(
                d.verdict,
                compare::Verdict::Better | compare::Verdict::Worse
            )
        })
        .map(|d| {
            format!(
                "{} {}: {} ({} -> {})",
                d.variant, d.metric, d.verdict, d.a, d.b
            )
        })
        .collect();
    assert!(
        judged.is_empty(),
        "compare judged a busy run: {judged:#?}\n{}",
        compare::render("quiet", "busy", &deltas)
    );
    let text = compare::render("quiet", "busy", &deltas);
    assert!(text.contains("disturbed: no verdict"), "{text}");

    // The busy run's variants are marked, with the figure, in JSON and Markdown.
    assert_eq!(busy.rounds, 3);
    assert_eq!(busy.disturbed_cpu_share, Some(threshold));
    for v in &busy.variants {
        assert_eq!(v.status, VariantStatus::Ok, "{}", v.name);
        assert!(
            v.disturbed,
            "{} not marked disturbed: {:?}",
            v.name, v.disturbance
        );
        let d = v.disturbance.as_ref().unwrap();
        assert!(d.other_cpu_share > threshold, "{d:?}");
        assert!(
            v.warnings.iter().any(|w| w.starts_with("disturbed")),
            "{:?}",
            v.warnings
        );
        // Each disturbed round was re-run once (and the re-runs were busy too).
        let reruns = v.rounds.iter().filter(|r| r.rerun).count();
        let replaced = v.rounds.iter().filter(|r| r.replaced).count();
        assert_eq!(reruns, 3, "{}: {:#?}", v.name, v.rounds);
        assert_eq!(replaced, 3);
        assert!(v.rounds.iter().all(|r| !(r.rerun && r.replaced)));
        assert_eq!(
            v.between_rounds.iter().map(|s| s.values.len()).max(),
            Some(3)
        );
    }
    let md = std::fs::read_to_string(
        std::fs::read_dir(dir.path().join("b/busy"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "md"))
            .unwrap(),
    )
    .unwrap();
    assert!(md.contains("(**disturbed**)"), "{md}");
    assert!(md.contains("## Measurement conditions"), "{md}");
    assert!(md.contains("## Between rounds"), "{md}");
}
