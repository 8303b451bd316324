//! One process or several (`[scenario] processes`): a churn variant run by
//! two worker processes counts both processes' cycles, merges their
//! histograms (every cycle in them) and sums their memory (two runtimes are
//! more than one); a serve variant's two server processes share one port and
//! both answer; the key is checked before measuring and refused by the
//! scenarios (and the server) that do not run it.

use std::path::Path;

mod common;

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
    let churn = |processes: u32| {
        r.variants
            .iter()
            .find(|v| v.name == format!("processes={processes}"))
            .and_then(|v| v.result.as_ref())
            .and_then(|x| x.churn())
            .cloned()
            .unwrap_or_else(|| panic!("no churn result for processes={processes}"))
    };
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
fn processes_is_checked_and_only_churn_runs_it() {
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
    assert!(err.to_string().contains("churn and serve"), "{err}");
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
    let serve = |processes: u32| {
        r.variants
            .iter()
            .find(|v| v.name == format!("processes={processes}"))
            .and_then(|v| v.result.as_ref())
            .and_then(|x| x.serve())
            .cloned()
            .unwrap_or_else(|| panic!("no serve result for processes={processes}"))
    };
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
