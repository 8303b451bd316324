//! `[guest] prefault` through the real binary: a generated guest that writes
//! one page every 64 KiB over 4 MiB leaves page tables full of never-touched
//! pages. wasmtime 50's `pagemap_scan` reset takes those for written (the
//! diagnostic's "pages a wasmtime 50 scan calls dirty"); with the host's
//! prefault, `all` or `untouched`, the scan finds only the pages that hold a
//! guest's writes, and the report stops warning.

use pooling_lab::measure::dirty;
use pooling_lab::report;

mod common;

const CONFIG: &str = r#"
[experiment]
baseline = "none"
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
dirty_stride = "64KiB"
load = "compile"
[scenario]
kind = "churn"
iterations = 50
warmup = 5

[[variant]]
name = "none"

[[variant]]
name = "prefault"
[variant.guest]
prefault = ["all", "untouched"]
"#;

#[test]
fn with_prefault_the_reset_scan_finds_only_the_pages_guests_wrote() {
    if let Err(e) = dirty::available() {
        return common::skip(&format!(
            "PAGEMAP_SCAN unavailable ({e}); Linux 6.7+ has it"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prefault.toml");
    std::fs::write(&config, CONFIG).unwrap();
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let r = report::json::read(&common::result_json(dir.path(), "prefault")).unwrap();
    let region = |name: &str| {
        let v = r
            .variants
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no variant {name}"));
        v.result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap()
            .dirty_regions
            .clone()
            .unwrap()
    };
    // 256 KiB of 4 KiB pages, 64 KiB apart: one page per 64 KiB of 4 MiB.
    let written = (256 * 1024) / dirty::page_size();
    let spanned = (4 << 20) / dirty::page_size();
    let none = region("none");
    assert_eq!(none.written_pages_median, written, "{none:?}");
    let untouched_scanned = dirty::reset_scans_untouched_pages(&none.wasmtime_version);
    if untouched_scanned {
        // The page tables under the writes are full of untouched pages, and
        // the reset scan takes them all for written.
        assert!(
            none.reset_pages_median >= spanned - written,
            "{none:?} (spanned {spanned})"
        );
        assert!(
            none.warnings()
                .iter()
                .any(|w| w.contains("no request changed")),
            "{:?}",
            none.warnings()
        );
    } else {
        eprintln!(
            "wasmtime {} does not scan untouched pages: only the prefault side is checked",
            none.wasmtime_version
        );
    }
    for name in ["prefault/prefault=all", "prefault/prefault=untouched"] {
        let p = region(name);
        assert_eq!(p.written_pages_median, written, "{name}: {p:?}");
        // Only the pages that hold data remain for the reset: what is dirty
        // after the call (this request's writes and the pages kept resident).
        assert_eq!(p.reset_pages_median, p.pages_median, "{name}: {p:?}");
        assert!(p.reset_pages_median < spanned / 4, "{name}: {p:?}");
        assert!(
            !p.warnings()
                .iter()
                .any(|w| w.contains("no request changed")),
            "{name}: {:?}",
            p.warnings()
        );
    }
}
