//! `run --rounds N`: every variant measured in N processes, rounds
//! interleaved with the order rotated, each round's figures kept, the median
//! round shown, every headline metric summarised between rounds; ratios to
//! the baseline and `compare` verdicts follow the rounds' figures.

use pooling_lab::report;
use pooling_lab::report::compare::{self, MetricDelta, Verdict};
use pooling_lab::report::vs_baseline;
use pooling_lab::result::{ResultFile, VariantResult, VariantStatus};
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
        assert!(
            counted
                .iter()
                .all(|x| x.result.as_ref().and_then(|r| r.churn()).is_some())
        );
        // The shown figures are the median round's.
        let shown = v
            .rounds
            .iter()
            .find(|x| x.round == v.shown_round && rounds::counts(x))
            .unwrap();
        let c = v.result.as_ref().and_then(|r| r.churn()).unwrap();
        assert_eq!(
            shown
                .result
                .as_ref()
                .and_then(|r| r.churn())
                .unwrap()
                .cycles_per_sec,
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
        // Ratios to the baseline are per round, then the median: computed
        // here from each round's figures.
        if v.name != "on-demand" {
            let cmp = v.vs_baseline.as_ref().unwrap();
            assert_eq!(cmp.rounds, 3);
            let ratios = per_round_throughput_ratios(&r.variants[0], v);
            assert_eq!(ratios.len(), 3, "{ratios:?}");
            assert_eq!(cmp.throughput_ratio, Some(ratios[1]), "{cmp:?}");
            assert_eq!(
                cmp.throughput_ratio_range,
                Some((ratios[0], ratios[2])),
                "{cmp:?}"
            );
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

    compare_with_a_scaled_copy(&r);
}

/// `compare` of the measured result against a copy with one variant's
/// throughput in every round multiplied by 10 and another's divided by 10:
/// better and worse, the other way round too, and no change for the rest.
fn compare_with_a_scaled_copy(measured: &ResultFile) {
    let mut a = measured.clone();
    // Whether the machine was busy is judged elsewhere: here the verdict.
    for v in &mut a.variants {
        v.disturbed = false;
    }
    let mut b = a.clone();
    let (faster, slower) = (1, 2);
    scale_throughput(&mut b.variants[faster], 10.0);
    scale_throughput(&mut b.variants[slower], 0.1);
    let cps = |d: &[MetricDelta], name: &str| {
        d.iter()
            .find(|m| m.variant == name && m.metric == "cycles / s")
            .unwrap()
            .clone()
    };
    let (fast, slow) = (&a.variants[faster].name, &a.variants[slower].name);
    let d = compare::diff(&a, &b);
    assert!(d.iter().all(|m| m.a_rounds == 3 && m.b_rounds == 3));
    // A 10x shift: each round of B beyond every round of A (unless A's own
    // rounds spread 10x, checked here), by more than the noise threshold.
    for v in [&a.variants[faster], &a.variants[slower]] {
        let values = round_values(v);
        let (lo, hi) = (values[0], values[2]);
        assert!(
            10.0 * (hi - lo) < 9.0 * values[1] && hi < 10.0 * lo,
            "{}: rounds too spread to judge a 10x shift: {values:?}",
            v.name
        );
    }
    assert_eq!(cps(&d, fast).verdict, Verdict::Better, "{d:?}");
    assert_eq!(cps(&d, slow).verdict, Verdict::Worse, "{d:?}");
    let back = compare::diff(&b, &a);
    assert_eq!(cps(&back, fast).verdict, Verdict::Worse, "{back:?}");
    assert_eq!(cps(&back, slow).verdict, Verdict::Better, "{back:?}");
    // The medians are the rounds' medians, scaled.
    let m = cps(&d, fast);
    let median = round_values(&a.variants[faster])[1];
    assert_eq!(m.a, median);
    assert!((m.b - 10.0 * median).abs() <= 1e-9 * m.b, "{m:?}");
    // Every figure not scaled is the same on both sides: no change.
    for m in &d {
        if m.metric != "cycles / s" || (m.variant != *fast && m.variant != *slow) {
            assert_eq!(m.verdict, Verdict::NoChange, "{m:?}");
        }
    }
    // The ratio to the baseline follows: 10x the measured one.
    let before = vs_baseline::compare(&a.variants[0], &a.variants[faster]).unwrap();
    let after = vs_baseline::compare(&b.variants[0], &b.variants[faster]).unwrap();
    let (x, y) = (
        before.throughput_ratio.unwrap(),
        after.throughput_ratio.unwrap(),
    );
    assert!((y - 10.0 * x).abs() <= 1e-9 * y, "{x} -> {y}");
}

/// Multiplies the throughput of every round of `v` by `factor`.
fn scale_throughput(v: &mut VariantResult, factor: f64) {
    for r in &mut v.rounds {
        if let Some(c) = r.result.as_mut().and_then(|r| r.churn_mut()) {
            c.cycles_per_sec *= factor;
        }
    }
}

/// The throughput of each counted round of `v`, sorted.
fn round_values(v: &VariantResult) -> Vec<f64> {
    let mut values: Vec<f64> = v
        .rounds
        .iter()
        .filter(|r| rounds::counts(r))
        .map(|r| {
            r.result
                .as_ref()
                .and_then(|r| r.churn())
                .unwrap()
                .cycles_per_sec
        })
        .collect();
    values.sort_by(f64::total_cmp);
    values
}

/// `v`'s throughput over `base`'s, round by round (counted rounds of the
/// same number), sorted.
fn per_round_throughput_ratios(base: &VariantResult, v: &VariantResult) -> Vec<f64> {
    let cps = |x: &VariantResult, round: u32| {
        x.rounds
            .iter()
            .find(|r| r.round == round && rounds::counts(r))
            .map(|r| {
                r.result
                    .as_ref()
                    .and_then(|r| r.churn())
                    .unwrap()
                    .cycles_per_sec
            })
    };
    let mut ratios: Vec<f64> = v
        .rounds
        .iter()
        .filter(|r| rounds::counts(r))
        .filter_map(|r| Some(cps(v, r.round)? / cps(base, r.round)?))
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
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
