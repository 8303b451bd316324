//! `compare` on committed results and on results derived from them with one
//! figure scaled: a memory figure made larger is worse and smaller is better,
//! a throughput 3x higher is better and 3x lower is worse, in each direction;
//! the expected figures and verdicts are computed from the fixtures. The
//! serve table's ratios to the baseline are the ones computed from the
//! requests/s and Pss given to two variants.

use pooling_lab::report::compare::{self, MIN_PROCESS_BYTES, MIN_RELATIVE, MetricDelta, Verdict};
use pooling_lab::report::{json, vs_baseline};
use pooling_lab::result::ResultFile;
use std::path::Path;
use std::process::Command;

const QUICK: &str = "results/quick/20261127T185142Z.json";
const CHURN: &str = "results/churn/20261127T163124Z.json";
/// A committed serve result with rounds (its baseline a closed loop).
const SERVE: &str = "results/serve/20261203T011424Z.json";

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
    for st in &mut b.variants[i]
        .result
        .as_mut()
        .and_then(|r| r.scaling_mut())
        .unwrap()
        .steps
    {
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
    let d = compare::diff(&a, &b);
    // Every variant's per-instance Pss and Private_Dirty at each count.
    let metrics: usize = a
        .variants
        .iter()
        .map(|v| {
            2 * v
                .result
                .as_ref()
                .and_then(|r| r.scaling())
                .unwrap()
                .steps
                .len()
        })
        .sum();
    assert_eq!(d.len(), metrics);
    for m in &d {
        let f = factor_of(&m.variant);
        assert_eq!(m.a, fixture_figure(QUICK, &m.variant, &m.metric), "{m:?}");
        assert!((m.b - m.a * f).abs() <= 1e-6 * m.a, "{m:?}");
        assert_eq!(m.verdict, memory_verdict(m, f), "{m:?}");
    }
    // B -> A: every verdict turns round.
    for m in compare::diff(&b, &a) {
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
            .map(|(_, v)| {
                2 * v
                    .result
                    .as_ref()
                    .and_then(|r| r.scaling())
                    .unwrap()
                    .steps
                    .len()
            })
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
    let before = one.variants[0]
        .result
        .as_ref()
        .and_then(|r| r.churn())
        .unwrap()
        .cycles_per_sec;
    for (factor, verdict) in [(3.0, Verdict::Better), (1.0 / 3.0, Verdict::Worse)] {
        let mut b = one.clone();
        b.variants[0]
            .result
            .as_mut()
            .and_then(|r| r.churn_mut())
            .unwrap()
            .cycles_per_sec *= factor;
        let d = compare::diff(&one, &b);
        let cps = d.iter().find(|m| m.metric == "cycles / s").unwrap();
        assert_eq!((cps.a, cps.b), (before, before * factor), "{cps:?}");
        // One round per side: a timing is judged only beyond 2x, and 3x is.
        assert!(factor.max(1.0 / factor) >= compare::SINGLE_ROUND_FACTOR);
        assert_eq!(cps.verdict, verdict, "{cps:?}");
        let back = compare::diff(&b, &one);
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
        let base_cps = base.variants[0]
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap()
            .cycles_per_sec;
        let c = vs_baseline::compare(&base.variants[0], &b.variants[0]).unwrap();
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
    let d = compare::diff(&on, &off);
    assert!(!d.is_empty());
    for m in &d {
        // Each side is the fixture's figure of its variant.
        assert_eq!(m.a, fixture_figure(QUICK, on_name, &m.metric), "{m:?}");
        assert_eq!(m.b, fixture_figure(QUICK, off_name, &m.metric), "{m:?}");
        assert_eq!(m.verdict, memory_verdict(m, m.b / m.a), "{m:?}");
    }
    // Without CoW each instance copies the image: every figure larger.
    assert!(d.iter().all(|m| m.verdict == Verdict::Worse), "{d:?}");
    let text = compare::render("on", "off", &d);
    assert!(text.contains("**worse**"), "{text}");
    // And the other way round it is better.
    for m in compare::diff(&off, &on) {
        assert_eq!(m.verdict, Verdict::Better, "{m:?}");
    }
}

/// A ratio as the Markdown report prints it.
fn shown_ratio(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}x")
    } else {
        format!("{x:.2}x")
    }
}

/// The cells of `name`'s row in the Markdown table with header `header`,
/// keyed by column name.
fn table_row(md: &str, header: &str, name: &str) -> std::collections::BTreeMap<String, String> {
    let cells = |l: &str| -> Vec<String> {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut lines = md.lines().skip_while(|l| !l.starts_with(header));
    let columns = cells(lines.next().unwrap_or_else(|| panic!("no table in {md}")));
    let row = lines
        .take_while(|l| l.starts_with('|'))
        .find(|l| l.starts_with(&format!("| {name} |")))
        .unwrap_or_else(|| panic!("no row for {name} in {md}"));
    columns.into_iter().zip(cells(row)).collect()
}

/// The median of `xs` and their range.
fn median_and_range(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    (median, xs[0], xs[n - 1])
}

#[test]
fn the_serve_table_shows_requests_per_second_and_pss_against_the_baseline() {
    let committed = json::read(Path::new(SERVE)).unwrap();
    let name = "pooling-lab/tuned/rate=0.0";
    let mut r = committed.clone();
    r.variants
        .retain(|v| v.name == committed.baseline || v.name == name);
    assert_eq!(r.variants.len(), 2);
    let base_at = r
        .variants
        .iter()
        .position(|v| v.name == r.baseline)
        .unwrap();
    let v_at = 1 - base_at;
    // Per round, requests/s and server Pss of the baseline and the variant.
    let base_rps = [1000.0, 1200.0, 900.0];
    let v_rps = [2500.0, 2400.0, 3150.0];
    let base_pss = [40u64 << 20, 44 << 20, 42 << 20];
    let v_pss = [80u64 << 20, 88 << 20, 63 << 20];
    for (at, rps, pss) in [(base_at, base_rps, base_pss), (v_at, v_rps, v_pss)] {
        let v = &mut r.variants[at];
        v.rounds.retain(pooling_lab::rounds::counts);
        assert_eq!(v.rounds.len(), 3, "{}", v.name);
        for (k, rec) in v.rounds.iter_mut().enumerate() {
            let s = rec.result.as_mut().and_then(|r| r.serve_mut()).unwrap();
            assert_eq!(s.rate, 0.0, "closed loop");
            s.requests_per_sec = rps[k];
            s.memory_after.pss_bytes = pss[k];
        }
    }
    let round_of = |v: &pooling_lab::result::VariantResult, k: usize| v.rounds[k].round;
    for k in 0..3 {
        assert_eq!(round_of(&r.variants[0], k), round_of(&r.variants[1], k));
    }
    vs_baseline::fill(&mut r);
    let md = pooling_lab::report::markdown::render(&r);
    let header = "| variant | server | load | requests/s |";
    let (rps, lo, hi) = median_and_range((0..3).map(|k| v_rps[k] / base_rps[k]).collect());
    let (pss, _, _) = median_and_range(
        (0..3)
            .map(|k| base_pss[k] as f64 / v_pss[k] as f64)
            .collect(),
    );
    assert_ne!(rps, 1.0);
    let row = table_row(&md, header, name);
    assert_eq!(
        row["requests/s vs baseline"],
        format!(
            "{} ({}-{})",
            shown_ratio(rps),
            shown_ratio(lo),
            shown_ratio(hi)
        ),
        "{md}"
    );
    assert_eq!(
        row["server Pss vs baseline (baseline / this)"],
        shown_ratio(pss),
        "{md}"
    );
    let base_row = table_row(&md, header, &r.baseline);
    assert_eq!(base_row["requests/s vs baseline"], "baseline", "{md}");
    assert_eq!(
        base_row["server Pss vs baseline (baseline / this)"], "baseline",
        "{md}"
    );

    // Without rounds the ratios are those of the two variants' own figures.
    for (at, rps, pss) in [(base_at, 1500.0, 50u64 << 20), (v_at, 4200.0, 70 << 20)] {
        let v = &mut r.variants[at];
        v.rounds.clear();
        let s = v.result.as_mut().and_then(|r| r.serve_mut()).unwrap();
        s.requests_per_sec = rps;
        s.memory_after.pss_bytes = pss;
    }
    vs_baseline::fill(&mut r);
    let md = pooling_lab::report::markdown::render(&r);
    let (b, v) = (
        r.variants[base_at]
            .result
            .as_ref()
            .and_then(|r| r.serve())
            .unwrap(),
        r.variants[v_at]
            .result
            .as_ref()
            .and_then(|r| r.serve())
            .unwrap(),
    );
    let row = table_row(&md, header, name);
    assert_eq!(
        row["requests/s vs baseline"],
        shown_ratio(v.requests_per_sec / b.requests_per_sec),
        "{md}"
    );
    assert_eq!(
        row["server Pss vs baseline (baseline / this)"],
        shown_ratio(b.memory_after.pss_bytes as f64 / v.memory_after.pss_bytes as f64),
        "{md}"
    );
}
