//! One process or several (`[scenario] processes`): a churn variant run by
//! two worker processes counts both processes' cycles, merges their
//! histograms (every cycle in them) and sums their memory (two runtimes are
//! more than one); a serve variant's two server processes share one port and
//! both answer; a burst of two processes splits the peak between them and
//! sums their memory and their releases; the key is checked before
//! measuring and refused by the scenarios (and the server) that do not run
//! it.

use std::path::Path;

mod common;

/// The result of variant `processes={processes}` in `r`, through `pick`
/// (the scenario's accessor).
fn by_processes<T: Clone>(
    r: &pooling_lab::result::ResultFile,
    processes: u32,
    pick: impl Fn(&pooling_lab::scenario::ScenarioResult) -> Option<&T>,
) -> T {
    r.variants
        .iter()
        .find(|v| v.name == format!("processes={processes}"))
        .and_then(|v| v.result.as_ref())
        .and_then(pick)
        .cloned()
        .unwrap_or_else(|| panic!("no result for processes={processes}"))
}

#[test]
fn two_processes_count_both_processes_cycles_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("processes.toml");
    const ITERATIONS: u64 = 300;
    std::fs::write(
        &config,
        format!(
            r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 4
total_memories = 4
total_tables = 4
max_memory_size = "8MiB"
[guest]
kind = "synthetic"
load = "file"
image_size = "1MiB"
dirty_per_call = "64KiB"
[scenario]
kind = "churn"
iterations = {ITERATIONS}
warmup = 20
threads = 1
processes = [1, 2]
"#
        ),
    )
    .unwrap();
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "processes")).unwrap();
    let churn = |processes: u32| by_processes(&r, processes, |x| x.churn());
    let (one, two) = (churn(1), churn(2));
    assert_eq!((one.processes, two.processes), (1, 2));
    assert_eq!(one.total_cycles, ITERATIONS);
    assert_eq!(two.total_cycles, 2 * ITERATIONS);
    for phase in &two.phases {
        assert_eq!(
            phase.summary.count,
            2 * ITERATIONS,
            "{}: the merged histogram holds every cycle of both processes",
            phase.phase
        );
    }
    // Two engines, two runtimes, two pools: summed, more than one process.
    assert!(
        two.memory_after.pss_bytes > one.memory_after.pss_bytes,
        "two processes' Pss {} not above one's {}",
        two.memory_after.pss_bytes,
        one.memory_after.pss_bytes
    );
    assert!(two.cycles_per_sec > 0.0 && two.faults.total() == 0);
}

#[test]
fn processes_is_checked_and_only_churn_serve_and_burst_run_it() {
    let parse = |text: &str| pooling_lab::scenario::parse(Path::new("p.toml"), text);
    let err = parse("[scenario]\nkind = \"churn\"\nprocesses = 0\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("scenario.processes"), "{err}");
    assert!(err.location.is_some(), "{err}");
    let err = parse("[scenario]\nkind = \"churn\"\nprocesses = 2\ntrace_major_faults = true\n")
        .unwrap_err();
    assert_eq!(
        err.key.as_deref(),
        Some("scenario.trace_major_faults"),
        "{err}"
    );
    let err = parse("[scenario]\nkind = \"pool\"\nprocesses = 2\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("scenario.processes"), "{err}");
    assert!(err.to_string().contains("burst, churn and serve"), "{err}");
    parse("[scenario]\nkind = \"churn\"\nprocesses = 2\n").unwrap();
    let serve = "[guest]\nkind = \"synthetic-http\"\n[scenario]\nkind = \"serve\"\n";
    parse(&format!("{serve}processes = 2\n")).unwrap();
    let err = parse(&format!("{serve}processes = 65\n")).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("scenario.processes"), "{err}");
    let err = parse(&format!(
        "{serve}processes = 2\nserver = \"wasmtime-serve\"\n"
    ))
    .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("scenario.processes"), "{err}");
    assert!(err.to_string().contains("SO_REUSEPORT"), "{err}");
}

#[test]
fn two_server_processes_share_the_port_and_both_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve-processes.toml");
    const REQUESTS: u64 = 400;
    const WARMUP: u64 = 40;
    std::fs::write(
        &config,
        format!(
            r#"
[engine]
allocator = "pooling"
[pooling]
total_component_instances = 32
total_core_instances = 128
total_memories = 32
total_tables = 128
total_stacks = 32
max_memory_size = "64MiB"
[guest]
kind = "synthetic-http"
image_size = "256KiB"
dirty_per_call = "16KiB"
response_body = "served"
expect_body = "served"
[scenario]
kind = "serve"
iterations = {REQUESTS}
warmup = {WARMUP}
# 32 connections hashed between two processes: all on one process has
# odds of 2 in 2^32.
connections = 32
server_threads = 1
processes = [1, 2]
"#
        ),
    )
    .unwrap();
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "serve-processes"))
        .unwrap();
    let serve = |processes: u32| by_processes(&r, processes, |x| x.serve());
    let (one, two) = (serve(1), serve(2));
    assert_eq!((one.processes, two.processes), (1, 2));
    assert!(one.responses_per_process.is_empty());
    assert_eq!(two.ok, REQUESTS, "{:?}", two.first_error);
    assert_eq!(two.server_failures, 0);
    assert_eq!(
        two.responses_per_process.len(),
        2,
        "one count per server process"
    );
    assert!(
        two.responses_per_process.iter().all(|&n| n > 0),
        "both processes answered through the shared port: {:?}",
        two.responses_per_process
    );
    assert_eq!(
        two.responses_per_process.iter().sum::<u64>(),
        REQUESTS + WARMUP,
        "every request answered by one of the two"
    );
    // Two engines, two runtimes, two pools: summed, more than one process.
    assert!(
        two.memory_after.pss_bytes > one.memory_after.pss_bytes,
        "two server processes' Pss {} not above one's {}",
        two.memory_after.pss_bytes,
        one.memory_after.pss_bytes
    );
}

#[test]
fn two_burst_processes_split_the_peak_and_sum_their_memory_and_releases() {
    use pooling_lab::scenario::burst::{AFTER_RELEASE, LOADED, PEAK};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("burst-processes.toml");
    const PEAK_SANDBOXES: u32 = 4;
    const WAVES: u64 = 2;
    const PROBES: u64 = 3;
    std::fs::write(
        &config,
        format!(
            r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 8
total_memories = 8
total_tables = 8
max_memory_size = "8MiB"
linear_memory_keep_resident = "1MiB"
[guest]
kind = "synthetic"
load = "file"
image_size = "1MiB"
dirty_per_call = "256KiB"
[scenario]
kind = "burst"
threads = 1
peak = {PEAK_SANDBOXES}
ramp_steps = 2
peak_waves = {WAVES}
idle_s = 0.2
idle_every_ms = 50
release_idle = "after-idle"
probe_requests = {PROBES}
processes = [1, 2]
"#
        ),
    )
    .unwrap();
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "burst-processes"))
        .unwrap();
    let burst = |processes: u32| by_processes(&r, processes, |x| x.burst());
    let (one, two) = (burst(1), burst(2));
    assert_eq!((one.processes, two.processes), (1, 2));
    // The host's peak is the same: split between the processes.
    for b in [&one, &two] {
        assert_eq!(b.peak, PEAK_SANDBOXES);
        assert_eq!(b.peak_requests, u64::from(PEAK_SANDBOXES) * WAVES);
        assert_eq!(b.at(PEAK).map(|m| m.live), Some(PEAK_SANDBOXES), "{b:#?}");
        let instantiate = b.phases.iter().find(|p| p.phase == "peak-instantiate");
        assert_eq!(
            instantiate.map(|p| p.summary.count),
            Some(u64::from(PEAK_SANDBOXES) * WAVES),
            "the merged histogram holds every peak sandbox"
        );
    }
    // Each process probes the release point itself.
    assert_eq!(one.after.requests, PROBES);
    assert_eq!(two.after.requests, 2 * PROBES);
    // Both processes released their warm slots: the bytes are summed, and
    // so is the Pss around the call.
    let release = two.final_release().expect("two processes released");
    assert!(release.bytes_released > 0, "{two:#?}");
    assert!(
        release.pss_before_bytes > release.pss_after_bytes,
        "{release:?}"
    );
    assert!(two.at(AFTER_RELEASE).is_some());
    // Two runtimes hold twice the private memory of one before any sandbox.
    let private = |b: &pooling_lab::scenario::burst::BurstResult| {
        b.at(LOADED).map_or(0, |m| m.private_dirty_bytes) as f64
    };
    assert!(
        private(&two) > 1.5 * private(&one),
        "two processes' Private_Dirty when loaded {} is not about twice one's {}",
        private(&two),
        private(&one)
    );
    assert_eq!(two.faults.total(), 0);
}
