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
    const RATE: f64 = 100.0;
    const REQUESTS: f64 = 300.0;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "serve", &format!("rate = [0.0, {RATE:?}]\n"));
    common::expect_success(&common::run_quiet("run", &cfg, dir.path(), &[]));
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "serve")).unwrap();
    for v in &r.variants {
        assert_eq!(v.status, VariantStatus::Ok, "{}", v.name);
        let s = v.result.as_ref().and_then(|r| r.serve()).unwrap();
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
    // Open loop at 100/s: request i is due i / 100 s after the first, so
    // the 300 take at least 2.99 s however fast the server is: at most
    // 100 x 300 / 299 answered per second. The same server in a closed loop
    // answers thousands per second (the first variant; a broken schedule
    // would show that), and the schedule is kept: at least half its rate
    // (each request is answered in well under a millisecond; the run would
    // have to fall 3 s behind).
    let open = r.variants[1]
        .result
        .as_ref()
        .and_then(|r| r.serve())
        .unwrap();
    assert_eq!(open.rate, RATE);
    let ceiling = RATE * REQUESTS / (REQUESTS - 1.0);
    assert!(
        open.requests_per_sec <= ceiling * (1.0 + 1e-6) && open.requests_per_sec >= RATE / 2.0,
        "open loop at {RATE}/s answered {} requests/s (the schedule allows {ceiling:.2})",
        open.requests_per_sec
    );
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
        let s = v.result.as_ref().and_then(|r| r.serve()).unwrap();
        assert_eq!(s.ok, 0);
        assert_eq!(s.errors.get(kind).copied(), Some(300), "{:?}", s.errors);
        let req = &s
            .phases
            .iter()
            .find(|p| p.phase == "request")
            .unwrap()
            .summary;
        assert_eq!(req.count, 0, "a failed request is never a fast one");
        let reason = failed_reason(v);
        assert!(reason.contains(kind), "{reason}")
    }
}

#[test]
fn a_wasmtime_serve_that_cannot_start_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("wasmtime");
    // It says its version and precompiles (copies the file to `-o`), then
    // fails to serve.
    std::fs::write(
        &fake,
        "#!/bin/sh
case \"$1\" in
  --version) echo 'wasmtime 50.0.1 (fake)'; exit 0 ;;
  compile) while [ \"$1\" != -o ]; do shift; done; cp \"$3\" \"$2\"; exit 0 ;;
esac
echo 'no such flag: -O' >&2
exit 2
",
    )
    .unwrap();
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
    let reason = failed_reason(&r.variants[0]);
    assert!(reason.contains("wasmtime serve exited"), "{reason}");
    assert!(reason.contains("no such flag: -O"), "{reason}");
}

/// The CLI precompiles the component with the variant's flags (`compile`)
/// before `serve` is started, so its own parser checks them: a release that
/// refuses them fails the variant with that release named, and no server
/// is started.
#[test]
fn flags_for_another_release_are_checked_by_that_release_first() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("wasmtime");
    let log = dir.path().join("calls.log");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh
echo \"$1\" >> {log}
case \"$1\" in
  --version) echo 'wasmtime 47.0.0 (fake)'; exit 0 ;;
  compile) echo 'error: unknown optimize option: pooling-pagemap-scan' >&2; exit 1 ;;
  *) echo 'serve not expected' >&2; exit 3 ;;
esac
",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = config(
        dir.path(),
        "other-release",
        &format!(
            "server = \"wasmtime-serve\"\nwasmtime_cli = \"{}\"\nwasmtime_flags = \"variant\"\n",
            fake.display()
        ),
    );
    // pagemap_scan in [pooling] becomes -O pooling-pagemap-scan.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[pooling]\n", "[pooling]\npagemap_scan = \"yes\"\n");
    std::fs::write(&cfg, text).unwrap();
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    assert!(!out.status.success());
    let r =
        pooling_lab::report::json::read(&common::result_json(dir.path(), "other-release")).unwrap();
    let reason = failed_reason(&r.variants[0]);
    assert!(
        reason.contains("wasmtime 47.0.0 (fake) rejects"),
        "{reason}"
    );
    assert!(reason.contains("unknown optimize option"), "{reason}");
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.lines().any(|l| l == "compile"), "{calls}");
    assert!(
        !calls.lines().any(|l| l == "serve"),
        "started anyway: {calls}"
    );
}

/// The reason a variant failed (panics when it did not fail).
fn failed_reason(v: &pooling_lab::result::VariantResult) -> &str {
    match &v.status {
        VariantStatus::Failed { reason } => reason,
        other => panic!("{other:?}"),
    }
}

fn request_summary(
    s: &pooling_lab::scenario::serve::ServeResult,
) -> &pooling_lab::measure::latency::LatencySummary {
    &s.phases
        .iter()
        .find(|p| p.phase == "request")
        .unwrap()
        .summary
}

#[test]
fn a_trapping_handler_fails_the_variant_with_the_servers_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "trap",
        "[[variant]]\nname = \"trap\"\n[variant.guest]\nfault = \"trap\"\n",
    );
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    assert!(!out.status.success());
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "trap")).unwrap();
    let v = &r.variants[0];
    let s = v.result.as_ref().and_then(|r| r.serve()).unwrap();
    assert_eq!(s.ok, 0);
    // The client sees a closed connection; the server knows it was a trap.
    assert_eq!(s.errors.values().sum::<u64>(), 300, "{:?}", s.errors);
    assert!(s.server_failures >= 300, "{}", s.server_failures);
    let inside = s.server_first_failure.as_deref().unwrap_or_default();
    assert!(inside.contains("the handler failed"), "{inside}");
    assert_eq!(
        request_summary(s).count,
        0,
        "a failed request is never a fast one"
    );
    let reason = failed_reason(v);
    assert!(
        reason.contains("in the server: the handler failed"),
        "{reason}"
    )
}

#[test]
fn a_handler_that_never_answers_is_a_timeout_and_the_run_still_ends() {
    let dir = tempfile::tempdir().unwrap();
    // The handler loops until its 1.5 s epoch deadline; the client gives up
    // after 200 ms.
    let cfg = config(
        dir.path(),
        "timeout",
        "[[variant]]\nname = \"loop\"\n[variant.engine]\nepoch_interruption = true\n\
         [variant.guest]\nfault = \"loop\"\n[variant.scenario]\niterations = 6\nwarmup = 0\n\
         connections = 2\ncall_deadline_ms = 1500\nrequest_timeout_ms = 200\n",
    );
    let t = std::time::Instant::now();
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    assert!(!out.status.success());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        t.elapsed()
    );
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "timeout")).unwrap();
    let s = r.variants[0]
        .result
        .as_ref()
        .and_then(|r| r.serve())
        .unwrap();
    assert_eq!(s.ok, 0);
    assert_eq!(s.errors.get("timeout").copied(), Some(6), "{:?}", s.errors);
    assert_eq!(request_summary(s).count, 0);
}

#[test]
fn a_server_that_dies_mid_run_is_named_and_its_figures_kept() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in for `wasmtime serve`: answers 100 requests; the 101st makes
    // it stop listening (new connections are refused from then on), then
    // die without answering.
    let fake = dir.path().join("wasmtime");
    std::fs::write(
        &fake,
        r#"#!/usr/bin/env python3
import os, sys, shutil, socket, http.server
if sys.argv[1] == "--version":
    print("wasmtime 50.0.1 (fake)")
    sys.exit(0)
if sys.argv[1] == "compile":
    out = sys.argv[sys.argv.index("-o") + 1]
    shutil.copy(sys.argv[-1], out)
    sys.exit(0)
addr = sys.argv[sys.argv.index("--addr") + 1].rsplit(":", 1)
served = 0
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        global served
        served += 1
        if served > 100:
            self.server.socket.shutdown(socket.SHUT_RDWR)
            sys.stderr.write("fake wasmtime: dying after 100 requests\n")
            sys.stderr.flush()
            os._exit(3)
        body = b"served"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((addr[0], int(addr[1])), H).serve_forever()
"#,
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // One connection: the requests go one after another, so which are
    // answered does not depend on timing (a generous timeout: a slow
    // answer on a busy machine is still an answer).
    let cfg = config(
        dir.path(),
        "dies",
        &format!(
            "server = \"wasmtime-serve\"\nwasmtime_cli = \"{}\"\nrequest_timeout_ms = 30000\n",
            fake.display()
        ),
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("connections = 4\n", "connections = 1\n");
    std::fs::write(&cfg, text).unwrap();
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    assert!(!out.status.success());
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "dies")).unwrap();
    let v = &r.variants[0];
    let s = v.result.as_ref().and_then(|r| r.serve()).unwrap();
    // The server answers 100 requests: the 30 warmup ones, then 70 timed
    // ones, whose figures are kept. The next (timed request 71) was sent on
    // the open connection and never answered (an I/O error); each of the
    // 229 after it found nothing listening (a connection error).
    let (answered, warmup, timed) = (100, 30, 300);
    assert_eq!(
        s.ok,
        answered - warmup,
        "{:?} {:?}",
        s.errors,
        s.first_error
    );
    assert_eq!(
        request_summary(s).count,
        s.ok,
        "only answered requests are timed"
    );
    let expected = std::collections::BTreeMap::from([
        ("connect".to_string(), timed - (answered - warmup) - 1),
        ("io".to_string(), 1),
    ]);
    assert_eq!(s.errors, expected, "{:?}", s.first_error);
    let died = s.server_died.as_deref().unwrap_or_default();
    assert!(died.contains("dying after 100 requests"), "{died}");
    let reason = failed_reason(v);
    assert!(
        reason.contains(&format!("the server died mid-run ({} of 300", s.ok)),
        "{reason}"
    )
}

/// A wrk that is not there is a configuration error naming the key, its
/// line and the install script, before anything is measured (no result).
#[test]
fn wrk_that_is_not_installed_is_a_config_error_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "nowrk",
        "load_generator = \"wrk\"\nload_duration_s = 1\nwrk = \"/nonexistent/wrk\"\n",
    );
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "a config error exits 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scenario.wrk"), "{err}");
    assert!(err.contains("scripts/install-load-generator.sh"), "{err}");
    let line = 1 + std::fs::read_to_string(&cfg)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("wrk ="))
        .unwrap();
    assert!(err.contains(&format!(":{line}:")), "line {line}: {err}");
    assert!(
        !dir.path().join("results/nowrk").exists(),
        "nothing is measured"
    );
}

/// A wasmtime CLI that is not there is a configuration error (naming the
/// key, its line and the fix) before anything is measured: the pooling-lab
/// variant before it is not measured either.
#[test]
fn a_missing_wasmtime_cli_is_a_config_error_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "nocli",
        "[[variant]]\nname = \"ours\"\n\
         [[variant]]\nname = \"theirs\"\n[variant.scenario]\nserver = \"wasmtime-serve\"\n\
         wasmtime_cli = \"/nonexistent/wasmtime\"\n",
    );
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "a config error exits 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scenario.wasmtime_cli"), "{err}");
    assert!(err.contains("/nonexistent/wasmtime"), "{err}");
    let line = 1 + std::fs::read_to_string(&cfg)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("wasmtime_cli ="))
        .unwrap();
    assert!(err.contains(&format!(":{line}:")), "line {line}: {err}");
    assert!(
        !dir.path().join("results/nocli").exists(),
        "nothing is measured"
    );
    // `check` finds it too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .arg("check")
        .arg(&cfg)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("scenario.wasmtime_cli"), "{err}");
}

/// An unset `wasmtime_cli` is the project's installed CLI, found from the
/// project (this checkout), not from the folder pooling-lab runs in: where
/// `scripts/install-wasmtime-cli.sh`, run in the checkout, installs the
/// wasmtime version Cargo.lock names (`.cache/tools/wasmtime-VERSION/bin/`).
/// Run from an empty folder, `check` finds it there, or (not installed)
/// names that path.
#[test]
fn the_default_wasmtime_cli_is_found_from_the_project() {
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // The version as the install script reads it: the line after
    // `name = "wasmtime"` in Cargo.lock.
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    let version = lock
        .lines()
        .skip_while(|l| *l != "name = \"wasmtime\"")
        .nth(1)
        .and_then(|l| l.strip_prefix("version = \""))
        .map(|v| v.trim_end_matches('"'))
        .expect("Cargo.lock names wasmtime's version");
    let installed = project
        .join(".cache/tools")
        .join(format!("wasmtime-{version}"))
        .join("bin/wasmtime");
    assert_eq!(
        pooling_lab::http_bench::tools::wasmtime_cli(""),
        installed,
        "in this process"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "default-cli", "server = \"wasmtime-serve\"\n");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .arg("check")
        .arg(&cfg)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if installed.is_file() {
        assert!(
            out.status.success(),
            "{} is installed: {err}",
            installed.display()
        );
    } else {
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("no executable one is at {} ", installed.display())),
            "expected the project's {}: {err}",
            installed.display()
        );
    }
}

/// Needs wrk (`scripts/install-load-generator.sh`, which `.ci/run` runs):
/// without it the test fails under `CI=true` and elsewhere says it skipped.
#[test]
fn wrk_measures_the_same_server() {
    if std::process::Command::new("wrk")
        .arg("-v")
        .output()
        .is_err()
    {
        common::skip("wrk is not installed (scripts/install-load-generator.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "wrk",
        "load_generator = [\"pooling-lab\", \"wrk\"]\nload_duration_s = 1\nwrk_threads = 1\n",
    );
    // Each request writes 1 MiB (256 pages) into a fresh sandbox: its page
    // faults are the server's work per request, far above anything fixed.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("dirty_per_call = \"16KiB\"", "dirty_per_call = \"1MiB\"");
    std::fs::write(&cfg, text).unwrap();
    common::expect_success(&common::run_quiet("run", &cfg, dir.path(), &[]));
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "wrk")).unwrap();
    let (ours, wrk) = (
        r.variants[0]
            .result
            .as_ref()
            .and_then(|r| r.serve())
            .unwrap(),
        r.variants[1]
            .result
            .as_ref()
            .and_then(|r| r.serve())
            .unwrap(),
    );
    assert_eq!(wrk.load_generator, "wrk");
    // `wrk_threads` is wrk's -t (the default would be one per CPU).
    assert!(
        wrk.load_command
            .as_deref()
            .unwrap()
            .starts_with("wrk -t 1 "),
        "{:?}",
        wrk.load_command
    );
    assert!(wrk.errors.is_empty(), "{:?}", wrk.errors);
    assert!(wrk.requests > 0 && wrk.ok == wrk.requests);
    assert_eq!(request_summary(wrk).count, wrk.requests);
    // Each request made a fresh instance in the server, which faulted in
    // the 256 pages its call writes (the slot's pages are discarded between
    // instances): the server's faults over wrk's requests are about 256
    // per request, as over pooling-lab's own 300. The bounds are a factor
    // of 2 from that count, the cross-check 2x from each other; what else
    // the server faults (a few pages per request, fixed costs over
    // hundreds of requests) is a few percent of it.
    let pages = f64::from((1 << 20) / 4096);
    for (load, s) in [("pooling-lab", ours), ("wrk", wrk)] {
        assert!(
            (pages / 2.0..pages * 2.0).contains(&s.minor_faults_per_request),
            "{load}: {} faults per request, {pages} pages written by each",
            s.minor_faults_per_request
        );
    }
    let f = wrk.minor_faults_per_request / ours.minor_faults_per_request;
    assert!((0.5..2.0).contains(&f), "{f}");
}

/// `wasmtime serve` is started as production runs it: on the component its
/// own `compile` precompiled with the same flags, with
/// `--allow-precompiled`; the artifact is cached (a second run compiles
/// nothing) and the server's start is measured.
#[test]
fn wasmtime_serve_serves_the_component_its_cli_precompiled() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("argv.log");
    // A stand-in for the CLI: logs its arguments, precompiles by copying,
    // serves every request.
    let fake = dir.path().join("wasmtime");
    std::fs::write(
        &fake,
        format!(
            r#"#!/usr/bin/env python3
import sys, shutil, http.server
with open("{log}", "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
if sys.argv[1] == "--version":
    print("wasmtime 50.0.1 (fake)")
    sys.exit(0)
if sys.argv[1] == "compile":
    shutil.copy(sys.argv[-1], sys.argv[sys.argv.index("-o") + 1])
    sys.exit(0)
assert open(sys.argv[-1], "rb").read(4) == b"\0asm"
addr = sys.argv[sys.argv.index("--addr") + 1].rsplit(":", 1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"served"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((addr[0], int(addr[1])), H).serve_forever()
"#,
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cfg = config(
        dir.path(),
        "precompiled",
        &format!(
            "server = \"wasmtime-serve\"\nwasmtime_cli = \"{}\"\nwasmtime_flags = \"variant\"\n",
            fake.display()
        ),
    );
    for _ in 0..2 {
        common::expect_success(&common::run_quiet("run", &cfg, dir.path(), &[]));
    }
    let calls = std::fs::read_to_string(&log).unwrap();
    let compiles: Vec<&str> = calls.lines().filter(|l| l.starts_with("compile")).collect();
    let serves: Vec<&str> = calls.lines().filter(|l| l.starts_with("serve")).collect();
    assert_eq!(compiles.len(), 1, "compiled once, then cached: {calls}");
    assert_eq!(serves.len(), 2, "{calls}");
    let served = serves[0].split_whitespace().last().unwrap();
    assert!(served.ends_with(".cwasm"), "{calls}");
    assert!(serves[0].contains("--allow-precompiled"), "{calls}");
    // Compiled into the cache folder, served from there.
    let out_dir = |l: &str| {
        let w: Vec<&str> = l.split_whitespace().collect();
        let o = w[w.iter().position(|a| *a == "-o").unwrap() + 1];
        std::path::Path::new(o).parent().unwrap().to_path_buf()
    };
    assert_eq!(out_dir(compiles[0]), dir.path().join("cache"), "{calls}");
    assert!(std::path::Path::new(served).starts_with(dir.path().join("cache")));
    assert!(std::path::Path::new(served).is_file());
    // The same -O flags for compile and serve.
    let opts = |l: &str| -> Vec<String> {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.windows(2)
            .filter(|p| p[0] == "-O")
            .map(|p| p[1].to_string())
            .collect()
    };
    assert!(!opts(compiles[0]).is_empty(), "{calls}");
    assert_eq!(opts(compiles[0]), opts(serves[0]));
    for r in std::fs::read_dir(dir.path().join("results/precompiled"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let r = pooling_lab::report::json::read(&r).unwrap();
        let s = r.variants[0]
            .result
            .as_ref()
            .and_then(|r| r.serve())
            .unwrap();
        assert!(s.server_start_ms > 0.0);
        assert!(s.server_cpu_us_per_request > 0.0);
        assert!(
            s.command
                .as_deref()
                .unwrap()
                .contains("--allow-precompiled")
        );
    }
}

/// pooling-lab's server runs in a process of its own: the memory and CPU
/// measured are that process's, not the measuring process's (which runs
/// the load generator).
#[test]
fn pooling_labs_server_is_measured_in_its_own_process() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "own", "");
    common::expect_success(&common::run_quiet("run", &cfg, dir.path(), &[]));
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "own")).unwrap();
    let s = r.variants[0]
        .result
        .as_ref()
        .and_then(|r| r.serve())
        .unwrap();
    assert!(s.server_start_ms > 0.0);
    assert!(s.server_cpu_us_per_request > 0.0);
    // Its threads wait for requests: they went to sleep at least once (the
    // server's own threads, read from its /proc/<pid>/task).
    let (voluntary, _) = s
        .server_switches_per_request
        .expect("the server's context switches");
    assert!(
        voluntary > 0.0,
        "{voluntary} voluntary switches per request"
    );
    // The server holds the pool: 32 memory slots of at least 64 MiB each
    // (the config's total_memories x max_memory_size) reserved. The
    // measuring process, which runs the load generator, holds no pool: its
    // address space is below that, so the two are different processes and
    // the server's figures hold no load generator.
    let pool = 32u64 * (64 << 20);
    assert!(
        s.memory_after.vm_size_bytes >= pool,
        "{}",
        s.memory_after.vm_size_bytes
    );
    assert!(
        s.measuring_process_memory.vm_size_bytes < pool,
        "{}",
        s.measuring_process_memory.vm_size_bytes
    );
    // The report shows the server's CPU per request and its start, each in
    // its own column: the figures of the result (two different figures:
    // about 100 us and 10 ms here), as printed (to the digits shown).
    let md = std::fs::read_to_string(common::result_json(dir.path(), "own").with_extension("md"))
        .unwrap();
    let cells = |l: &str| -> Vec<String> {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let header = md
        .lines()
        .find(|l| l.starts_with("| variant |") && l.contains("| server start |"))
        .unwrap_or_else(|| panic!("no serve table: {md}"));
    let columns = cells(header);
    let row = md
        .lines()
        .find(|l| l.starts_with(&format!("| {} ", r.variants[0].name)))
        .unwrap_or_else(|| panic!("no row for {}: {md}", r.variants[0].name));
    let row = cells(row);
    assert_eq!(row.len(), columns.len(), "{row:?}");
    let shown = |column: &str| {
        let i = columns.iter().position(|c| c == column).unwrap();
        shown_ns(&row[i])
    };
    let (cpu, cpu_step) = shown("server CPU / request");
    let (start, start_step) = shown("server start");
    let cpu_ns = s.server_cpu_us_per_request * 1e3;
    let start_ns = s.server_start_ms * 1e6;
    assert!(
        (cpu - cpu_ns).abs() <= cpu_step,
        "server CPU / request shows {cpu} ns, the result has {cpu_ns} ns: {row:?}"
    );
    assert!(
        (start - start_ns).abs() <= start_step,
        "server start shows {start} ns, the result has {start_ns} ns: {row:?}"
    );
}

/// A duration as a report prints it (`"12.3 µs"`, `"4.56 ms"`, `"789 ns"`),
/// in nanoseconds, and the rounding of its last digit (half a unit of it).
fn shown_ns(cell: &str) -> (f64, f64) {
    let (number, unit) = cell
        .split_once(' ')
        .unwrap_or_else(|| panic!("not a duration: {cell:?}"));
    let scale = match unit {
        "ns" => 1.0,
        "µs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        other => panic!("unit {other:?} in {cell:?}"),
    };
    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
    let value: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"));
    (value * scale, 0.5 * 10f64.powi(-(decimals as i32)) * scale)
}
