//! `[experiment] builds`: another build of pooling-lab measures every
//! variant beside this one, in the same run.

mod common;

use pooling_lab::report;
use std::os::unix::fs::PermissionsExt;

const BODY: &str = r#"[engine]
allocator = "pooling"
[pooling]
total_core_instances = 8
total_memories = 8
total_tables = 8
total_stacks = 8
max_memory_size = "4MiB"
[guest]
image_size = "64KiB"
[scenario]
kind = "churn"
iterations = 20
warmup = 2
"#;

/// A "build" that is this build behind a wrapper which leaves a mark for
/// each child it starts: proof that the other build's child measured.
fn wrapper(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mark = dir.join("marks");
    let exe = dir.join("other-build");
    std::fs::write(
        &exe,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\ntee '{}/job-'$$ | '{}' \"$@\"\n",
            mark.display(),
            dir.display(),
            env!("CARGO_BIN_EXE_pooling-lab")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    (exe, mark)
}

#[test]
fn every_variant_is_measured_by_each_build_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let (exe, mark) = wrapper(dir.path());
    let cfg = dir.path().join("builds.toml");
    std::fs::write(
        &cfg,
        format!(
            "[experiment]\nbuilds = {{ other = \"{}\" }}\n{}",
            exe.display(),
            BODY.replace(
                "allocator = \"pooling\"",
                "allocator = \"pooling\"\nmemory_init_cow = [true, false]"
            )
        ),
    )
    .unwrap();
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    common::expect_success(&out);
    let r = report::json::read(&common::result_json(dir.path(), "builds")).unwrap();
    let names: Vec<&str> = r.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "memory_init_cow=true/build=this",
            "memory_init_cow=true/build=other",
            "memory_init_cow=false/build=this",
            "memory_init_cow=false/build=other",
        ]
    );
    for v in &r.variants {
        let churn = v.result.as_ref().and_then(|r| r.churn()).expect("measured");
        assert!(churn.total_cycles > 0, "{}", v.name);
        let other = v.name.ends_with("build=other");
        assert_eq!(v.settings.lab_build.is_some(), other, "{}", v.name);
    }
    // The other build started exactly one child per variant of its own.
    let marks = std::fs::read_to_string(&mark).unwrap_or_default();
    assert_eq!(
        marks.lines().filter(|l| !l.is_empty()).count(),
        2,
        "{marks}"
    );
    // Its jobs carry only the keys set away from their defaults (a build
    // older than a key still reads them).
    let jobs: Vec<serde_json::Value> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("job-"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        let guest = job["variant"]["guest"].as_object().unwrap();
        assert!(guest.contains_key("image_size"), "{guest:?}");
        assert!(!guest.contains_key("not_expect_stdout"), "{guest:?}");
        assert!(!guest.contains_key("dirty_per_call"), "{guest:?}");
        assert!(job["variant"].get("lab_build").is_none(), "{job}");
    }
}

#[test]
fn a_build_that_is_not_an_executable_is_a_config_error_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nobuild.toml");
    std::fs::write(
        &cfg,
        format!("[experiment]\nbuilds = {{ old = \"/nonexistent/pooling-lab\" }}\n{BODY}"),
    )
    .unwrap();
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nobuild.toml:2:"), "{err}");
    assert!(err.contains("`experiment.builds`"), "{err}");
    assert!(err.contains("not an executable file"), "{err}");
    assert!(!dir.path().join("results").exists(), "nothing measured");
}

#[test]
fn session_speedups_over_the_baseline_build_are_medians_of_per_round_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let (exe, _) = wrapper(dir.path());
    let cfg = dir.path().join("session.toml");
    std::fs::write(
        &cfg,
        format!(
            "[experiment]\nbaseline = \"build=other\"\nrounds = 3\nbuilds = {{ other = \"{}\" }}\n{}",
            exe.display(),
            BODY.replace("kind = \"churn\"", "kind = \"session\"")
        ),
    )
    .unwrap();
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    common::expect_success(&out);
    let r = report::json::read(&common::result_json(dir.path(), "session")).unwrap();
    let (this, base) = (&r.variants[0], &r.variants[1]);
    assert_eq!(base.name, "build=other");
    let cmp = this
        .vs_baseline
        .as_ref()
        .expect("compared with the baseline");
    assert_eq!(cmp.rounds, 3);
    for phase in ["session-exec", "fresh-exec"] {
        let p50 = |v: &pooling_lab::result::VariantResult, round: u32| {
            let rec = v
                .rounds
                .iter()
                .find(|x| x.round == round && pooling_lab::rounds::counts(x))
                .unwrap();
            let s = rec.result.as_ref().and_then(|r| r.session()).unwrap();
            s.phases
                .iter()
                .find(|p| p.phase == phase)
                .unwrap()
                .summary
                .p50_ns as f64
        };
        let mut ratios: Vec<f64> = (1..=3)
            .map(|round| p50(base, round) / p50(this, round))
            .collect();
        ratios.sort_by(f64::total_cmp);
        assert_eq!(cmp.p50_speedup.get(phase), Some(&ratios[1]), "{phase}");
        assert_eq!(
            cmp.p50_speedup_range.get(phase),
            Some(&(ratios[0], ratios[2])),
            "{phase}"
        );
    }
    let md =
        std::fs::read_to_string(common::result_json(dir.path(), "session").with_extension("md"))
            .unwrap();
    assert!(md.contains("session exec p50 vs baseline"), "{md}");
}
