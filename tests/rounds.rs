//! `run --rounds N`: every variant measured in N processes, rounds
//! interleaved with the order rotated, each round's figures kept, the median
//! round shown, every headline metric summarised between rounds.

use pooling_lab::report;
use pooling_lab::result::VariantStatus;
use pooling_lab::rounds;

mod common;

const CONFIG: &str = r#"
[experiment]
baseline = "on-demand"
rounds = 2
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 8
total_memories = 8
total_tables = 8
max_memory_size = "16MiB"
[guest]
image_size = "4MiB"
dirty_per_call = "64KiB"
[scenario]
kind = "churn"
iterations = 300
warmup = 20

[[variant]]
name = "on-demand"
[variant.engine]
allocator = "on-demand"

[[variant]]
name = "pooling"

[[variant]]
name = "pooling/keep-resident"
[variant.pooling]
linear_memory_keep_resident = "4MiB"
"#;

fn run(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let config = dir.join("rounds.toml");
    std::fs::write(&config, CONFIG).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .args(["run", "--quiet"])
        .args(extra)
        .arg(&config)
        .arg("--results-dir")
        .arg(dir.join("results"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .output()
        .unwrap()
}

#[test]
fn rounds_are_interleaved_kept_and_summarised() {
    let dir = tempfile::tempdir().unwrap();
    // --rounds overrides [experiment] rounds = 2.
    common::expect_success(&run(dir.path(), &["--rounds", "3"]));
    let json = common::result_json(dir.path(), "rounds");
    let r = report::json::read(&json).unwrap();
    assert_eq!(r.rounds, 3);
    assert!(r.complete);
    let n = r.variants.len();
    assert_eq!(n, 3);
    let names: Vec<&str> = r.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["on-demand", "pooling", "pooling/keep-resident"]);
    for (i, v) in r.variants.iter().enumerate() {
        assert_eq!(v.status, VariantStatus::Ok, "{}", v.name);
        let first: Vec<_> = v.rounds.iter().filter(|x| !x.rerun).collect();
        assert_eq!(first.len(), 3, "{}: {:?}", v.name, v.rounds);
        for x in &first {
            // Round r runs the variants in an order rotated by r - 1.
            let expected = (i + n - (x.round as usize - 1) % n) % n + 1;
            assert_eq!(
                x.position as usize, expected,
                "{} round {}",
                v.name, x.round
            );
        }
        // Every counted round is kept in full, and three count.
        let counted: Vec<_> = v.rounds.iter().filter(|x| rounds::counts(x)).collect();
        assert_eq!(counted.len(), 3, "{}", v.name);
        assert!(counted.iter().all(|x| x.churn.is_some()));
        // The shown figures are the median round's.
        let shown = v
            .rounds
            .iter()
            .find(|x| x.round == v.shown_round && rounds::counts(x))
            .unwrap();
        let c = v.churn.as_ref().unwrap();
        assert_eq!(
            shown.churn.as_ref().unwrap().cycles_per_sec,
            c.cycles_per_sec
        );
        let cps = v
            .between_rounds
            .iter()
            .find(|s| s.metric == "cycles / s")
            .unwrap();
        assert_eq!(cps.values.len(), 3);
        assert_eq!(cps.median, c.cycles_per_sec, "odd count: the median round");
        assert!(cps.min <= cps.median && cps.median <= cps.max);
        assert!((cps.ci_level - 0.75).abs() < 1e-9);
        for metric in ["instantiate p50", "cycle p99", "major faults / cycle"] {
            assert!(
                v.between_rounds.iter().any(|s| s.metric == metric),
                "{metric}"
            );
        }
        // Its histograms were saved.
        for p in &c.phases {
            let hlog = json.parent().unwrap().join(p.hlog_path.as_ref().unwrap());
            assert!(hlog.is_file(), "{}", hlog.display());
        }
        // Ratios to the baseline are per round, then the median.
        if v.name != "on-demand" {
            let cmp = v.vs_baseline.as_ref().unwrap();
            assert_eq!(cmp.rounds, 3);
            let (lo, hi) = cmp.throughput_ratio_range.unwrap();
            let mid = cmp.throughput_ratio.unwrap();
            assert!(lo <= mid && mid <= hi, "{cmp:?}");
        }
        assert!(v.disturbance.is_some(), "the machine was sampled");
    }
    let md = std::fs::read_to_string(json.with_extension("md")).unwrap();
    assert!(md.contains("Rounds: 3 per variant"), "{md}");
    assert!(md.contains("## Between rounds"), "{md}");
    assert!(
        md.lines()
            .any(|l| l.starts_with("| pooling ") && l.contains(" | cycles / s | ")),
        "{md}"
    );

    // A result against itself: no change everywhere, with the rounds shown.
    let d = report::delta::diff(&r, &r);
    assert!(d.iter().all(|m| m.a_rounds == 3 && m.b_rounds == 3));
    assert!(
        d.iter().all(|m| matches!(
            m.verdict,
            report::delta::Verdict::NoChange | report::delta::Verdict::Disturbed
        )),
        "{d:?}"
    );
}

#[test]
fn rounds_out_of_range_are_refused_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--rounds", "0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--rounds"), "{err}");
    assert!(!dir.path().join("results").exists());
}
