//! Charts render from committed results (fixtures): SVG and PNG, with the
//! fitted per-instance cost in the legend and percentile curves from the
//! saved histograms.

use pooling_lab::report::{json, plot};
use std::path::Path;

#[test]
fn renders_memory_fit_and_latency_charts_from_fixtures() {
    let out = tempfile::tempdir().unwrap();
    let quick = json::read(Path::new("results/quick/20261127T185142Z.json")).unwrap();
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
    // The fit is in the legend: ~1.01 MiB per CoW instance, R² of a straight line.
    assert!(total.contains("1.01 MiB/inst"), "fit missing from legend");
    assert!(total.contains("R²=1.0000"));
    let per = std::fs::read_to_string(out.path().join("memory-per-instance.svg")).unwrap();
    assert!(per.contains("VmRSS") && per.contains("Pss"));

    // Latency curves from the churn result's saved .hlog files.
    let churn = json::read(Path::new("results/churn/20261127T163124Z.json")).unwrap();
    let files = plot::write_all(Path::new("results/churn"), out.path(), &churn).unwrap();
    assert_eq!(files.len(), 2);
    let svg = std::fs::read_to_string(out.path().join("latency.svg")).unwrap();
    assert!(svg.contains("pooling/keep-resident+scan/threads=1"));
    assert!(svg.contains("p99.9"));
}

#[test]
fn fits_match_the_markdown_figures() {
    let quick = json::read(Path::new("results/quick/20261127T185142Z.json")).unwrap();
    let fits = plot::scaling_fits(&quick);
    assert_eq!(fits.len(), 4);
    for (name, f) in fits {
        let cow = name.ends_with("memory_init_cow=true");
        let per_mib = f.slope / 1048576.0;
        if cow {
            assert!((0.9..1.2).contains(&per_mib), "{name}: {per_mib}");
        } else {
            assert!((63.0..66.0).contains(&per_mib), "{name}: {per_mib}");
        }
        assert!(f.r2 > 0.999, "{name}: {f:?}");
    }
}
