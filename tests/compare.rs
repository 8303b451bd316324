//! `compare` on committed results: a result against itself is "no change"
//! everywhere; CoW on against CoW off shows the memory difference.

use pooling_lab::report::delta::{self, Verdict};
use pooling_lab::report::json;
use pooling_lab::result::ResultFile;
use std::path::Path;
use std::process::Command;

const QUICK: &str = "results/quick/20261127T185142Z.json";

fn only(r: &ResultFile, name: &str) -> ResultFile {
    let mut one = r.clone();
    one.variants.retain(|v| v.name == name);
    assert_eq!(one.variants.len(), 1, "{name}");
    one
}

#[test]
fn a_result_against_itself_is_no_change_everywhere() {
    let r = json::read(Path::new(QUICK)).unwrap();
    let d = delta::diff(&r, &r);
    // 4 variants x 3 counts x 2 memory metrics.
    assert_eq!(d.len(), 24);
    assert!(d.iter().all(|m| m.verdict == Verdict::NoChange));
    let churn = json::read(Path::new("results/churn/20261127T163124Z.json")).unwrap();
    let d = delta::diff(&churn, &churn);
    assert!(!d.is_empty());
    assert!(d.iter().all(|m| m.verdict == Verdict::NoChange));

    // Through the binary.
    let out = Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .args(["compare", QUICK, QUICK])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("24 metrics: 0 better, 0 worse, 24 no change"),
        "{text}"
    );
}

#[test]
fn cow_on_against_cow_off_shows_the_memory_difference() {
    let r = json::read(Path::new(QUICK)).unwrap();
    let on = only(&r, "allocator=pooling,memory_init_cow=true");
    let off = only(&r, "allocator=pooling,memory_init_cow=false");
    let d = delta::diff(&on, &off);
    let pss100 = d
        .iter()
        .find(|m| m.metric == "Pss / instance @ N=100")
        .unwrap();
    assert_eq!(pss100.verdict, Verdict::Worse);
    // About 1 MiB with CoW vs about 64 MiB without.
    assert!(
        pss100.a < 2.0 * 1048576.0 && pss100.b > 60.0 * 1048576.0,
        "{pss100:?}"
    );
    assert!(
        d.iter()
            .filter(|m| m.metric.starts_with("Pss"))
            .all(|m| m.verdict == Verdict::Worse)
    );
    let text = delta::render("on", "off", &d);
    assert!(text.contains("**worse**"), "{text}");
    // And the other way round it is better.
    assert!(
        delta::diff(&off, &on)
            .iter()
            .filter(|m| m.metric.starts_with("Pss"))
            .all(|m| m.verdict == Verdict::Better)
    );
}
