//! The dirty-region diagnostic through the real binary: a generated guest
//! that dirties `dirty_per_call / 4KiB` pages `dirty_stride` apart leaves
//! exactly that many disjoint regions in a slot, the report says what the
//! linked wasmtime's reset does with them, and a result recorded by
//! wasmtime 48 is warned about where one of 50 is not.

use pooling_lab::measure::dirty;
use pooling_lab::report;

mod common;

const CONFIG: &str = r#"
[experiment]
baseline = "contiguous"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 4
total_memories = 4
total_tables = 4
max_memory_size = "16MiB"
linear_memory_keep_resident = "8MiB"
pagemap_scan = "yes"
[guest]
image_size = "1MiB"
dirty_per_call = "256KiB"
dirty_offset = "1MiB"
load = "compile"
[scenario]
kind = "churn"
iterations = 50
warmup = 5

[[variant]]
name = "contiguous"

[[variant]]
name = "every-other-page"
[variant.guest]
dirty_stride = "8KiB"

[[variant]]
name = "every-other-page/small-budget"
[variant.guest]
dirty_stride = "8KiB"
[variant.pooling]
linear_memory_keep_resident = "64KiB"
"#;

#[test]
fn a_strided_guest_leaves_one_region_per_page_and_the_report_says_what_the_reset_keeps() {
    if let Err(e) = dirty::available() {
        return common::skip(&format!(
            "PAGEMAP_SCAN unavailable ({e}); Linux 6.7+ has it"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dirty-regions.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let stdout = common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let r = report::json::read(&common::result_json(dir.path(), "dirty-regions")).unwrap();
    let region = |name: &str| {
        let v = r.variants.iter().find(|v| v.name == name).unwrap();
        v.result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap()
            .dirty_regions
            .clone()
            .unwrap()
    };
    // 256 KiB of 4 KiB pages: 64 pages, written by every call.
    let pages = (256 * 1024) / dirty::page_size();
    let contiguous = region("contiguous");
    assert_eq!(contiguous.unavailable, None);
    assert_eq!(
        contiguous.samples,
        pooling_lab::scenario::churn::DIRTY_SAMPLES
    );
    assert!(contiguous.reset_by_scan);
    assert_eq!(contiguous.written_regions_max, 1, "{contiguous:?}");
    assert_eq!(contiguous.written_pages_median, pages);
    let strided = region("every-other-page");
    assert_eq!(strided.written_regions_median, pages, "{strided:?}");
    assert_eq!(strided.written_regions_max, pages, "{strided:?}");
    assert_eq!(strided.written_pages_median, pages);
    // Both variants keep the same pages from earlier sandboxes; the strided
    // one's 64 never-written gaps are kept too where the linked release's
    // reset takes untouched pages for written and writes them back (50.0.0
    // to 50.0.2: `dirty::reset_scans_untouched_pages`).
    let gaps = if dirty::reset_scans_untouched_pages(&strided.wasmtime_version) {
        pages
    } else {
        0
    };
    assert_eq!(
        strided.pages_median,
        contiguous.pages_median + gaps,
        "{strided:?} {contiguous:?}"
    );
    // wasmtime 50 resets all 64 regions in place: no region warning.
    assert_eq!(
        strided.wasmtime_version,
        env!("POOLING_LAB_WASMTIME_VERSION")
    );
    if dirty::reset_region_limit(&strided.wasmtime_version).is_none() {
        assert!(
            !strided.warnings().iter().any(|w| w.contains("stops at")),
            "{:?}",
            strided.warnings()
        );
    }
    // The same figures, had wasmtime 48 reset them: the 32-region warning.
    let as_48 = dirty::DirtyRegions {
        wasmtime_version: "48.0.8".into(),
        ..strided.clone()
    };
    let w = as_48.warnings();
    assert!(
        w.iter().any(
            |w| w.contains(&format!("leaves {pages} disjoint dirty regions"))
                && w.contains("stops at 32")
        ),
        "{w:?}"
    );
    // A budget below what a request dirties is named whatever the release.
    let small = region("every-other-page/small-budget");
    assert!(
        small
            .warnings()
            .iter()
            .any(|w| w.contains("more than linear_memory_keep_resident")),
        "{small:?}"
    );
    // The Markdown carries the table with the verdicts.
    let md = std::fs::read_to_string(
        common::result_json(dir.path(), "dirty-regions").with_extension("md"),
    )
    .unwrap();
    let section = md
        .split("## Churn: what a request leaves for the slot's reset")
        .nth(1)
        .unwrap_or_else(|| panic!("no dirty-region section in\n{md}"));
    let row = section
        .lines()
        .find(|l| l.starts_with("| every-other-page/small-budget "))
        .unwrap_or_else(|| panic!("no row in\n{md}"));
    assert!(
        row.contains(&format!("| {pages} / {pages} | {pages} / {pages} |")),
        "{row}"
    );
    assert!(
        row.contains("more than linear_memory_keep_resident"),
        "{row}"
    );
    let _ = stdout;
}
