//! Charts render from committed results (fixtures): SVG and PNG, with the
//! fitted per-instance cost in the legend and percentile curves from the
//! saved histograms. The expected fits are computed here from the fixtures'
//! figures.

use pooling_lab::report::{json, markdown, mib, plot};
use std::path::Path;

const QUICK: &str = "results/quick/20261127T185142Z.json";
const CHURN: &str = "results/churn/20261127T163124Z.json";

#[test]
fn renders_memory_fit_and_latency_charts_from_fixtures() {
    let out = tempfile::tempdir().unwrap();
    let quick = json::read(Path::new(QUICK)).unwrap();
    let files = plot::write_all(Path::new("results/quick"), out.path(), &quick).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "memory-per-instance.svg",
            "memory-per-instance.png",
            "total-pss.svg",
            "total-pss.png"
        ]
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        if f.extension().unwrap() == "png" {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            assert!(bytes.len() > 10_000, "an empty picture is ~5 KB");
        } else {
            let svg = String::from_utf8(bytes).unwrap();
            assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        }
    }
    let total = std::fs::read_to_string(out.path().join("total-pss.svg")).unwrap();
    // Each variant's fit is in the legend, as computed here from the
    // fixture's figures.
    for (name, fit) in fixture_fits(QUICK) {
        let legend = format!(
            "{name}: {}/inst + {} shared, R²={:.4}",
            mib(fit.slope),
            mib(fit.intercept),
            fit.r2
        );
        assert!(total.contains(&legend), "{legend} missing from the legend");
    }
    let per = std::fs::read_to_string(out.path().join("memory-per-instance.svg")).unwrap();
    assert!(per.contains("VmRSS") && per.contains("Pss"));

    // Latency curves from the churn result's saved .hlog files, one per
    // variant of the fixture.
    let churn = json::read(Path::new(CHURN)).unwrap();
    let files = plot::write_all(Path::new("results/churn"), out.path(), &churn).unwrap();
    assert_eq!(files.len(), 2);
    let svg = std::fs::read_to_string(out.path().join("latency.svg")).unwrap();
    for v in &churn.variants {
        assert!(svg.contains(&v.name), "{} missing from latency.svg", v.name);
    }
    assert!(svg.contains("p99.9"));
}

#[test]
fn fits_match_the_markdown_figures() {
    let quick = json::read(Path::new(QUICK)).unwrap();
    let fits = plot::scaling_fits(&quick);
    let expected = fixture_fits(QUICK);
    assert_eq!(fits.len(), expected.len());
    let md = std::fs::read_to_string(Path::new(QUICK).with_extension("md")).unwrap();
    let table = markdown::render(&quick);
    for ((name, f), (want_name, want)) in fits.iter().zip(&expected) {
        assert_eq!(name, want_name);
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y.abs().max(1.0);
        assert!(
            close(f.slope, want.slope) && close(f.intercept, want.intercept),
            "{name}: {f:?} vs {want:?}"
        );
        assert!((f.r2 - want.r2).abs() < 1e-9, "{name}: {f:?} vs {want:?}");
        // The rendered row and the committed Markdown, written with the JSON,
        // show the same figures.
        let row = format!(
            "| {name} | {} | {} | {:.4} |",
            mib(want.slope),
            mib(want.intercept),
            want.r2
        );
        assert!(table.contains(&row), "{row} not in\n{table}");
        assert!(md.contains(&row), "{row} not in the committed Markdown");
    }
}

/// Total Pss against live instances, fitted per variant by least squares
/// from the result's JSON (normal equations; R² as the squared correlation).
fn fixture_fits(path: &str) -> Vec<(String, plot::Fit)> {
    let text = std::fs::read_to_string(path).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    r["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let pts: Vec<(f64, f64)> = v["scaling"]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["live_instances"].as_f64().unwrap(),
                        s["memory"]["pss_bytes"].as_f64().unwrap(),
                    )
                })
                .collect();
            let n = pts.len() as f64;
            let (sx, sy) = (
                pts.iter().map(|p| p.0).sum::<f64>(),
                pts.iter().map(|p| p.1).sum::<f64>(),
            );
            let sxx = pts.iter().map(|p| p.0 * p.0).sum::<f64>();
            let syy = pts.iter().map(|p| p.1 * p.1).sum::<f64>();
            let sxy = pts.iter().map(|p| p.0 * p.1).sum::<f64>();
            let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
            let corr = (n * sxy - sx * sy) / ((n * sxx - sx * sx) * (n * syy - sy * sy)).sqrt();
            let fit = plot::Fit {
                slope,
                intercept: (sy - slope * sx) / n,
                r2: corr * corr,
            };
            (v["name"].as_str().unwrap().to_string(), fit)
        })
        .collect()
}
