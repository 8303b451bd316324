//! `compare` on committed results and on results derived from them with one
//! figure scaled: a memory figure made larger is worse and smaller is better,
//! a throughput 3x higher is better and 3x lower is worse, in each direction;
//! the expected figures and verdicts are computed from the fixtures.

use pooling_lab::report::delta::{self, MIN_PROCESS_BYTES, MIN_RELATIVE, MetricDelta, Verdict};
use pooling_lab::report::{compare, json};
use pooling_lab::result::ResultFile;
use std::path::Path;
use std::process::Command;

const QUICK: &str = "results/quick/20261127T185142Z.json";
const CHURN: &str = "results/churn/20261127T163124Z.json";

fn only(r: &ResultFile, name: &str) -> ResultFile {
    let mut one = r.clone();
    one.variants.retain(|v| v.name == name);
    assert_eq!(one.variants.len(), 1, "{name}");
    one
}

/// `r` with every per-instance memory figure of variant `i` multiplied by
/// `factor`.
fn memory_scaled(r: &ResultFile, i: usize, factor: f64) -> ResultFile {
    let mut b = r.clone();
    for st in &mut b.variants[i].scaling.as_mut().unwrap().steps {
        st.per_instance.pss_bytes *= factor;
        st.per_instance.private_dirty_bytes *= factor;
    }
    b
}

/// The per-instance figure `metric` (`Pss / instance @ N=10`) of variant
/// `name`, read from the result file's JSON text.
fn fixture_figure(path: &str, name: &str, metric: &str) -> f64 {
    let text = std::fs::read_to_string(path).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (what, n) = metric.split_once(" / instance @ N=").unwrap();
    let key = match what {
        "Pss" => "pss_bytes",
        "Private_Dirty" => "private_dirty_bytes",
        other => panic!("not a memory metric: {other}"),
    };
    let v = r["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap();
    v["scaling"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["live_instances"].as_u64() == n.parse().ok())
        .unwrap()["per_instance"][key]
        .as_f64()
        .unwrap()
}

/// The verdict a memory change from `a` to `b` must get: beyond the 5% and
/// per-process floors (checked here, so the inputs really differ by more),
/// lower is better.
fn memory_verdict(d: &MetricDelta, factor: f64) -> Verdict {
    if factor == 1.0 {
        return Verdict::NoChange;
    }
    let n: f64 = d.metric.rsplit('=').next().unwrap().parse().unwrap();
    let floor = (MIN_RELATIVE * d.a.max(d.b)).max(MIN_PROCESS_BYTES / n);
    assert!((d.b - d.a).abs() > floor, "{d:?}: within the floor");
    if d.b > d.a {
        Verdict::Worse
    } else {
        Verdict::Better
    }
}

#[test]
fn memory_figures_scaled_up_are_worse_and_scaled_down_better_in_each_direction() {
    let a = json::read(Path::new(QUICK)).unwrap();
    // Variant 0 takes 4x the memory in B, variant 2 a quarter, the others
    // the same.
    let factors = [4.0, 1.0, 0.25, 1.0];
    assert_eq!(a.variants.len(), factors.len());
    let mut b = a.clone();
    for (i, f) in factors.iter().enumerate() {
        b = memory_scaled(&b, i, *f);
    }
    let factor_of =
        |variant: &str| factors[a.variants.iter().position(|v| v.name == variant).unwrap()];
    let d = delta::diff(&a, &b);
    // Every variant's per-instance Pss and Private_Dirty at each count.
    let metrics: usize = a
        .variants
        .iter()
        .map(|v| 2 * v.scaling.as_ref().unwrap().steps.len())
        .sum();
    assert_eq!(d.len(), metrics);
    for m in &d {
        let f = factor_of(&m.variant);
        assert_eq!(m.a, fixture_figure(QUICK, &m.variant, &m.metric), "{m:?}");
        assert!((m.b - m.a * f).abs() <= 1e-6 * m.a, "{m:?}");
        assert_eq!(m.verdict, memory_verdict(m, f), "{m:?}");
    }
    // B -> A: every verdict turns round.
    for m in delta::diff(&b, &a) {
        let f = 1.0 / factor_of(&m.variant);
        assert_eq!(m.verdict, memory_verdict(&m, f), "{m:?}");
    }

    // Through the binary, both ways round.
    let dir = tempfile::tempdir().unwrap();
    let b_path = dir.path().join("b.json");
    json::write(&b_path, &b).unwrap();
    let per_variant = |f: f64| {
        factors
            .iter()
            .zip(&a.variants)
            .filter(|(x, _)| **x == f)
            .map(|(_, v)| 2 * v.scaling.as_ref().unwrap().steps.len())
            .sum::<usize>()
    };
    let (up, same, down) = (per_variant(4.0), per_variant(1.0), per_variant(0.25));
    for (args, better, worse) in [([QUICK, "b"], down, up), (["b", QUICK], up, down)] {
        let args = args.map(|p| if p == "b" { b_path.clone() } else { p.into() });
        let out = Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
            .arg("compare")
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!(
                "{metrics} metrics: {better} better, {worse} worse, {same} no change"
            )),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn a_throughput_three_times_higher_is_better_and_three_times_lower_worse() {
    let a = json::read(Path::new(CHURN)).unwrap();
    let name = "pooling/defaults/threads=1";
    let base = only(&a, &a.baseline);
    let one = only(&a, name);
    let before = one.variants[0].churn.as_ref().unwrap().cycles_per_sec;
    for (factor, verdict) in [(3.0, Verdict::Better), (1.0 / 3.0, Verdict::Worse)] {
        let mut b = one.clone();
        b.variants[0].churn.as_mut().unwrap().cycles_per_sec *= factor;
        let d = delta::diff(&one, &b);
        let cps = d.iter().find(|m| m.metric == "cycles / s").unwrap();
        assert_eq!((cps.a, cps.b), (before, before * factor), "{cps:?}");
        // One round per side: a timing is judged only beyond 2x, and 3x is.
        assert!(factor.max(1.0 / factor) >= delta::SINGLE_ROUND_FACTOR);
        assert_eq!(cps.verdict, verdict, "{cps:?}");
        let back = delta::diff(&b, &one);
        let cps_back = back.iter().find(|m| m.metric == "cycles / s").unwrap();
        let reverse = if verdict == Verdict::Better {
            Verdict::Worse
        } else {
            Verdict::Better
        };
        assert_eq!(cps_back.verdict, reverse, "{cps_back:?}");
        // Nothing else changed.
        assert!(
            d.iter()
                .filter(|m| m.metric != "cycles / s")
                .all(|m| m.verdict == Verdict::NoChange),
            "{d:?}"
        );
        // The ratio to the baseline follows the figure.
        let base_cps = base.variants[0].churn.as_ref().unwrap().cycles_per_sec;
        let c = compare::compare(&base.variants[0], &b.variants[0]).unwrap();
        let ratio = c.throughput_ratio.unwrap();
        let expected = before * factor / base_cps;
        assert!(
            (ratio - expected).abs() <= 1e-9 * expected,
            "{ratio} vs {expected}"
        );
    }
}

#[test]
fn cow_on_against_cow_off_shows_the_memory_difference() {
    let r = json::read(Path::new(QUICK)).unwrap();
    let (on_name, off_name) = (
        "allocator=pooling,memory_init_cow=true",
        "allocator=pooling,memory_init_cow=false",
    );
    let on = only(&r, on_name);
    let off = only(&r, off_name);
    let d = delta::diff(&on, &off);
    assert!(!d.is_empty());
    for m in &d {
        // Each side is the fixture's figure of its variant.
        assert_eq!(m.a, fixture_figure(QUICK, on_name, &m.metric), "{m:?}");
        assert_eq!(m.b, fixture_figure(QUICK, off_name, &m.metric), "{m:?}");
        assert_eq!(m.verdict, memory_verdict(m, m.b / m.a), "{m:?}");
    }
    // Without CoW each instance copies the image: every figure larger.
    assert!(d.iter().all(|m| m.verdict == Verdict::Worse), "{d:?}");
    let text = delta::render("on", "off", &d);
    assert!(text.contains("**worse**"), "{text}");
    // And the other way round it is better.
    for m in delta::diff(&off, &on) {
        assert_eq!(m.verdict, Verdict::Better, "{m:?}");
    }
}
