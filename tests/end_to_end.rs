//! One small experiment through the real binary: variants in child processes,
//! JSON + Markdown written, and the physics of CoW visible in the figures.

use pooling_lab::report;
use pooling_lab::result::VariantStatus;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pooling-lab");

mod common;

#[test]
fn small_run_writes_results_and_shows_cow_sharing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("e2e.toml");
    std::fs::write(
        &config,
        r#"
[engine]
allocator = ["on-demand", "pooling"]
memory_init_cow = [true, false]
[pooling]
total_core_instances = 16
total_memories = 16
total_tables = 16
max_memory_size = "16MiB"
[guest]
image_size = "8MiB"
dirty_per_call = "256KiB"
[scenario]
counts = [1, 8]
"#,
    )
    .unwrap();
    let stdout = common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    assert!(
        // (followed by " (**disturbed**)" when the machine was busy)
        stdout.contains("| 8 | allocator=pooling,memory_init_cow=true "),
        "{stdout}"
    );

    let results = dir.path().join("results/e2e");
    let files: Vec<_> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let json = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("json result");
    assert!(
        files
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "md"))
    );
    let r = report::json::read(json).unwrap();
    assert!(r.complete);
    // The charts were drawn next to the result and are listed in it.
    assert_eq!(r.plots.len(), 4, "{:?}", r.plots);
    for p in &r.plots {
        assert!(results.join(p).is_file(), "{p}");
    }
    let md = std::fs::read_to_string(json.with_extension("md")).unwrap();
    assert!(md.contains("memory-per-instance.svg"), "{md}");
    assert!(md.contains("Does it scale linearly?"));
    assert_eq!(r.variants.len(), 4);
    let mib = 1048576.0;
    for v in &r.variants {
        assert_eq!(v.status, VariantStatus::Ok, "{}", v.name);
        let s = v.result.as_ref().and_then(|r| r.scaling()).unwrap();
        let at8 = s.steps.iter().find(|s| s.live_instances == 8).unwrap();
        let pss = at8.per_instance.pss_bytes;
        let cow = v.settings.engine.memory_init_cow.unwrap();
        if cow {
            // Each instance costs about what it wrote (256 KiB), far below the 8 MiB image.
            assert!(pss < 1.0 * mib, "{}: {pss}", v.name);
        } else {
            // Each instance copies the 8 MiB image.
            assert!(pss > 6.0 * mib, "{}: {pss}", v.name);
        }
        // Effective settings were read back from the engine.
        assert_eq!(
            v.effective["engine"]["memory_init_cow"],
            serde_json::json!(cow)
        );
        assert_eq!(
            v.effective.get("pooling").is_some(),
            v.name.contains("pooling")
        );
    }
}

#[test]
fn broken_config_fails_before_measuring_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.toml");
    std::fs::write(
        &config,
        "[engine]\nallocator = \"pooling\"\n[pooling]\ntotal_memories = 5\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("run")
        .arg(&config)
        .arg("--results-dir")
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.toml:4:"), "{stderr}");
    assert!(stderr.contains("pooling.total_memories"), "{stderr}");
    assert!(stderr.contains("fix:"), "{stderr}");
    assert!(
        !dir.path().join("results").exists(),
        "nothing may be written for a rejected config"
    );
}
