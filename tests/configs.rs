//! Broken configs fail before measuring with file:line, key and fix; the
//! committed configs all parse and build their engines.

use pooling_lab::settings::ConfigError;
use std::path::Path;

fn parse(src: &str) -> ConfigError {
    pooling_lab::scenario::parse(Path::new("configs/broken.toml"), src)
        .expect_err("config should be rejected")
}

#[test]
fn unknown_key() {
    let e = parse("[pooling]\ntotal_memories = 10\nmax_memroy_size = \"1GiB\"\n");
    assert_eq!(e.location, Some((3, 1)));
    assert_eq!(e.key.as_deref(), Some("pooling.max_memroy_size"));
    let text = e.to_string();
    assert!(
        text.starts_with("configs/broken.toml:3:1: `pooling.max_memroy_size`: unknown key"),
        "{text}"
    );
    assert!(text.contains("did you mean `max_memory_size`?"), "{text}");
}

#[test]
fn wrong_type() {
    let e = parse("[engine]\nallocator = \"pooling\"\n\n[pooling]\ntotal_memories = \"lots\"\n");
    assert_eq!(e.location.map(|l| l.0), Some(5), "{e}");
    assert_eq!(e.key.as_deref(), Some("pooling.total_memories"));
    assert!(
        e.message.contains("u32") || e.message.contains("integer"),
        "{e}"
    );
    assert!(e.fix.as_deref().unwrap_or("").contains("u32"), "{e}");
}

#[test]
fn wrong_type_inside_a_variant() {
    let e =
        parse("[[variant]]\nname = \"a\"\n[variant.pooling]\nlinear_memory_keep_resident = true\n");
    assert_eq!(e.location.map(|l| l.0), Some(4), "{e}");
    assert_eq!(
        e.key.as_deref(),
        Some("variant.pooling.linear_memory_keep_resident")
    );
    assert!(e.fix.as_deref().unwrap_or("").contains("ByteSize"), "{e}");
}

#[test]
fn pool_smaller_than_largest_count() {
    let e = parse(
        "[engine]\nallocator = [\"on-demand\", \"pooling\"]\n[pooling]\ntotal_core_instances = 64\n[scenario]\ncounts = [1, 10, 100]\n",
    );
    assert_eq!(e.location.map(|l| l.0), Some(4), "{e}");
    assert_eq!(e.key.as_deref(), Some("pooling.total_core_instances"));
    assert!(e.message.contains("variant `allocator=pooling`"), "{e}");
    assert!(e.fix.as_deref().unwrap().contains("at least 100"), "{e}");
}

#[test]
fn wasmtime_rejections_are_caught_before_measuring() {
    // pooling max_memory_size above the reservation is legal TOML and passes our
    // checks, but wasmtime refuses the engine: check_engines must say so.
    let exp = pooling_lab::scenario::parse(
        Path::new("x.toml"),
        "[engine]\nallocator = \"pooling\"\nmemory_reservation = \"16MiB\"\n[pooling]\nmax_memory_size = \"64MiB\"\ntotal_memories = 4\ntotal_core_instances = 4\ntotal_tables = 4\n[guest]\nimage_size = \"64KiB\"\n[scenario]\ncounts = [1]\n",
    )
    .unwrap();
    let e = exp.check_engines().unwrap_err();
    assert!(e.message.contains("wasmtime rejects"), "{e}");
}

#[test]
fn committed_configs_are_valid() {
    let mut n = 0;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let exp = pooling_lab::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            exp.check_engines().unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn each_scenario_checks_its_own_keys_and_the_shared_load_does_not() {
    use pooling_lab::settings::Experiment;
    let cases = [
        ("[scenario]\ncounts = []\n", "scenario.counts"),
        (
            "[scenario]\nkind = \"churn\"\nthreads = 0\n",
            "scenario.threads",
        ),
        (
            "[scenario]\nkind = \"churn\"\niterations = 0\n",
            "scenario.iterations",
        ),
        (
            "[scenario]\nkind = \"pool\"\npool_capacity = 0\n",
            "scenario.pool_capacity",
        ),
        ("[scenario]\nkind = \"serve\"\n", "scenario.kind"),
    ];
    for (src, key) in cases {
        let err = pooling_lab::scenario::parse(Path::new("t.toml"), src).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{src}: {err}");
        assert!(err.location.is_some(), "{err}");
        // The shared-keys load (production's) leaves the scenario's keys alone.
        Experiment::parse(Path::new("t.toml"), src).unwrap();
    }
    // Shared keys are checked by both.
    let src = "[scenario]\nkind = \"churn\"\nbackground_load = 5000\n";
    for err in [
        Experiment::parse(Path::new("t.toml"), src).unwrap_err(),
        pooling_lab::scenario::parse(Path::new("t.toml"), src).unwrap_err(),
    ] {
        assert_eq!(
            err.key.as_deref(),
            Some("scenario.background_load"),
            "{err}"
        );
    }
    // The pool's slots against the live count need the scenario (its key
    // names the count): scenario's load checks it, production's cannot.
    for (kind, live_key, live) in [
        ("churn", "threads", "threads = 4"),
        ("tenants", "live", "live = 4\ntenants = 2"),
        ("scaling", "counts", "counts = [1, 4]"),
    ] {
        let src = format!(
            "[engine]\nallocator = \"pooling\"\n[pooling]\ntotal_memories = 2\n[scenario]\nkind = \"{kind}\"\n{live}\n"
        );
        let err = pooling_lab::scenario::parse(Path::new("t.toml"), &src).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("pooling.total_memories"), "{err}");
        assert_eq!(err.location.map(|l| l.0), Some(4), "{err}");
        assert!(
            err.message.contains(&format!("{live_key}: 4")),
            "{kind}: {err}"
        );
        let fix = err.fix.as_deref().unwrap_or_default();
        assert!(fix.contains("at least 4"), "{kind}: {err}");
        assert!(
            fix.contains(&format!("[scenario] {live_key}")),
            "{kind}: {err}"
        );
        Experiment::parse(Path::new("t.toml"), &src).unwrap();
        // The same pool is fine for on-demand variants, which do not use it.
        let on_demand = src.replace("\"pooling\"", "\"on-demand\"");
        pooling_lab::scenario::parse(Path::new("t.toml"), &on_demand).unwrap();
    }
    // A key only churn reads is refused in another scenario.
    let err = pooling_lab::scenario::parse(
        Path::new("t.toml"),
        "[scenario]\nkind = \"pool\"\ntrace_major_faults = true\n",
    )
    .unwrap_err();
    assert_eq!(
        err.key.as_deref(),
        Some("scenario.trace_major_faults"),
        "{err}"
    );
    assert!(err.to_string().contains("churn scenario only"), "{err}");
}
