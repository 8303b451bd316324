//! The serve scenario on pooling-lab's own server (no download, no wasmtime
//! CLI): a generated wasi:http proxy under closed- and open-loop load; a
//! request whose answer is wrong is an error by kind, never a fast request;
//! a `wasmtime serve` that cannot start is named.

use pooling_lab::result::VariantStatus;

mod common;

fn config(dir: &std::path::Path, name: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[engine]
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
iterations = 300
warmup = 30
connections = 4
{extra}"#
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_proxy_is_served_under_closed_and_open_loop_load() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "serve", "rate = [0.0, 500.0]\n");
    common::expect_success(&common::run_quiet("run", &cfg, dir.path(), &[]));
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "serve")).unwrap();
    for v in &r.variants {
        assert_eq!(v.status, VariantStatus::Ok, "{}", v.name);
        let s = v.serve.as_ref().unwrap();
        assert_eq!(s.ok, 300, "{}: {:?} {:?}", v.name, s.errors, s.first_error);
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        let req = &s
            .phases
            .iter()
            .find(|p| p.phase == "request")
            .unwrap()
            .summary;
        assert_eq!(req.count, 300);
        assert!(s.memory_after.pss_bytes > 0 && s.peak_rss_bytes > 0);
        // Every request instantiated and dropped a sandbox in the server.
        assert!(s.minor_faults_per_request > 0.0);
    }
    // Open loop at 500/s: 300 requests take at least 0.6 s, so the rate is
    // the schedule's, not the server's capacity.
    let open = r.variants[1].serve.as_ref().unwrap();
    assert!(open.requests_per_sec < 600.0, "{}", open.requests_per_sec);
}

#[test]
fn wrong_answers_are_errors_by_kind_and_fail_the_variant() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "wrong",
        "[[variant]]\nname = \"status\"\n[variant.guest]\nexpect_status = 404\n\
         [[variant]]\nname = \"body\"\n[variant.guest]\nexpect_body = \"something else\"\n",
    );
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    assert!(!out.status.success());
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "wrong")).unwrap();
    for (v, kind) in r.variants.iter().zip(["status", "body"]) {
        let s = v.serve.as_ref().unwrap();
        assert_eq!(s.ok, 0);
        assert_eq!(s.errors.get(kind).copied(), Some(300), "{:?}", s.errors);
        let req = &s
            .phases
            .iter()
            .find(|p| p.phase == "request")
            .unwrap()
            .summary;
        assert_eq!(req.count, 0, "a failed request is never a fast one");
        match &v.status {
            VariantStatus::Failed { reason } => assert!(reason.contains(kind), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_wasmtime_serve_that_cannot_start_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("wasmtime");
    std::fs::write(&fake, "#!/bin/sh\necho 'no such flag: -O' >&2\nexit 2\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = config(
        dir.path(),
        "external",
        &format!(
            "server = \"wasmtime-serve\"\nwasmtime_cli = \"{}\"\n",
            fake.display()
        ),
    );
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    assert!(!out.status.success());
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "external")).unwrap();
    match &r.variants[0].status {
        VariantStatus::Failed { reason } => {
            assert!(reason.contains("wasmtime serve exited"), "{reason}");
            assert!(reason.contains("no such flag: -O"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
