//! Every guest kind from its config alone, with guests written here as WAT
//! or generated in process (no download): each kind's check turns a wrong
//! result (body, status, exit status, return value) into a counted fault; a
//! missing export, a wrong signature and a file that is not WebAssembly are
//! configuration errors naming what is wrong, before anything is measured;
//! a variant whose every call faults fails.

use pooling_lab::report;
use pooling_lab::result::VariantStatus;
use std::path::{Path, PathBuf};

mod common;

/// A WASI command: prints "hello" and exits with the status `status`.
fn command_wat(status: i32) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (i32.ne (i32.const {status}) (i32.const 0)) (then (call $exit (i32.const {status}))))))"#
    )
}

/// A core module with its own ABI: a bump `malloc`, `free`, `shout(ptr, len)
/// -> ptr << 32 | len` (the input upper-cased, in a new buffer),
/// `shout_out(ptr, len, out_len) -> ptr` and `add(a, b) -> a + b`.
const PLAN_WAT: &str = r#"(module
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 1024))
  (func $malloc (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "free") (param i32))
  (func $upper (param $src i32) (param $len i32) (result i32)
    (local $dst i32) (local $i i32) (local $c i32)
    (local.set $dst (call $malloc (local.get $len)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $c (i32.load8_u (i32.add (local.get $src) (local.get $i))))
      (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
        (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
      (i32.store8 (i32.add (local.get $dst) (local.get $i)) (local.get $c))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $dst))
  (func (export "shout") (param $p i32) (param $len i32) (result i64)
    (i64.or
      (i64.shl (i64.extend_i32_u (call $upper (local.get $p) (local.get $len))) (i64.const 32))
      (i64.extend_i32_u (local.get $len))))
  (func (export "shout_out") (param $p i32) (param $len i32) (param $out i32) (result i32)
    (i32.store (local.get $out) (local.get $len))
    (call $upper (local.get $p) (local.get $len)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))"#;

/// Writes `name.toml` (a pooled churn of `cycles` cycles with `body`) and
/// `extra` files into `dir`; returns the config's path.
fn config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[engine]
allocator = "pooling"
[pooling]
total_core_instances = 16
total_memories = 16
total_tables = 16
total_component_instances = 16
total_stacks = 16
max_memory_size = "64MiB"
[scenario]
kind = "churn"
iterations = 20
warmup = 2
{body}"#
        ),
    )
    .unwrap();
    path
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// The churn figures of each variant, by index.
fn run_ok(dir: &Path, name: &str, config: &Path) -> pooling_lab::result::ResultFile {
    let out = common::run_quiet("run", config, dir, &[]);
    let r = report::json::read(&common::result_json(dir, name)).unwrap();
    assert!(
        out.status.success() || r.variants.iter().any(|v| v.status != VariantStatus::Ok),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    r
}

/// Runs a config that must stop before measuring; returns stderr.
fn run_config_error(dir: &Path, config: &Path) -> String {
    let out = common::run_quiet("run", config, dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the run must fail: {stderr}");
    assert!(
        !dir.join("results").exists()
            || std::fs::read_dir(dir.join("results"))
                .unwrap()
                .next()
                .is_none(),
        "nothing may be measured: {stderr}"
    );
    stderr
}

#[test]
fn wasi_command_exit_status_and_stdout_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.wat", &command_wat(0));
    let bad = write(dir.path(), "exit3.wat", &command_wat(3));
    let cfg = config(
        dir.path(),
        "cmd",
        &format!(
            r#"[guest]
kind = "wasi-command"
wasm = "{ok}"
expect_stdout = "hello"
[[variant]]
name = "ok"
[[variant]]
name = "exit3"
[variant.guest]
wasm = "{bad}"
[variant.scenario]
expect_faults = true
[[variant]]
name = "wrong-stdout"
[variant.guest]
expect_stdout = "goodbye"
[variant.scenario]
expect_faults = true
[[variant]]
name = "ruled-out-stdout"
[variant.guest]
not_expect_stdout = "ell"
[variant.scenario]
expect_faults = true
[[variant]]
name = "absent-stdout"
[variant.guest]
not_expect_stdout = "goodbye"
"#
        ),
    );
    let r = run_ok(dir.path(), "cmd", &cfg);
    let churn = |i: usize| {
        r.variants[i]
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap()
    };
    assert_eq!(churn(3).faults.checks, 20, "{:?}", churn(3).faults);
    let first = churn(3).faults.first.clone().unwrap();
    assert!(first.contains("stdout contains `ell`"), "{first}");
    assert_eq!(churn(4).faults.total(), 0, "{:?}", churn(4).faults);
    let churn = |i: usize| {
        r.variants[i]
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap()
    };
    assert_eq!(churn(0).faults.total(), 0, "{:?}", churn(0).faults);
    assert_eq!(churn(1).faults.checks, 20, "{:?}", churn(1).faults);
    assert!(
        churn(1)
            .faults
            .first
            .as_deref()
            .unwrap()
            .contains("status 3")
    );
    assert_eq!(churn(2).faults.checks, 20, "{:?}", churn(2).faults);
    assert!(
        churn(2)
            .faults
            .first
            .as_deref()
            .unwrap()
            .contains("goodbye")
    );
}

#[test]
fn core_plan_results_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write(dir.path(), "shout.wat", PLAN_WAT);
    let cfg = config(
        dir.path(),
        "plan",
        &format!(
            r#"[guest]
kind = "core"
wasm = "{wasm}"
[[variant]]
name = "right"
[variant.guest]
calls = [
  {{ export = "shout", args = [{{ bytes = "hello" }}], result = "packed", equals = "HELLO" }},
  {{ export = "shout_out", args = [{{ bytes = "abc" }}, {{ out = "len" }}], result = "ptr-out-len", expect = "ABC" }},
  {{ export = "add", args = [2, 40], result = "i32", expect = "42" }},
]
[[variant]]
name = "wrong-bytes"
[variant.guest]
calls = [{{ export = "shout", args = [{{ bytes = "hello" }}], result = "packed", equals = "hello" }}]
[variant.scenario]
expect_faults = true
[[variant]]
name = "wrong-integer"
[variant.guest]
calls = [{{ export = "add", args = [2, 2], result = "i32", expect = "5" }}]
[variant.scenario]
expect_faults = true
"#
        ),
    );
    let r = run_ok(dir.path(), "plan", &cfg);
    let churn = |i: usize| {
        r.variants[i]
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap()
    };
    assert_eq!(churn(0).faults.total(), 0, "{:?}", churn(0).faults);
    assert_eq!(churn(1).faults.checks, 20, "{:?}", churn(1).faults);
    assert!(
        churn(1)
            .faults
            .first
            .as_deref()
            .unwrap()
            .contains("\"HELLO\"")
    );
    assert_eq!(churn(2).faults.checks, 20, "{:?}", churn(2).faults);
    assert!(
        churn(2)
            .faults
            .first
            .as_deref()
            .unwrap()
            .contains("is 4, expected 5")
    );
}

#[test]
fn http_component_status_and_body_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "http",
        r#"[guest]
kind = "synthetic-http"
image_size = "256KiB"
dirty_per_call = "16KiB"
response_body = "hello from the test"
[[variant]]
name = "right"
[variant.guest]
http_method = "POST"
http_path = "/x?y=1"
http_headers = ["x-test: 1"]
http_body = "payload"
expect_body = "hello from the test"
[[variant]]
name = "wrong-body"
[variant.guest]
expect_body = "goodbye"
[variant.scenario]
expect_faults = true
[[variant]]
name = "wrong-status"
[variant.guest]
expect_status = 404
[variant.scenario]
expect_faults = true
[[variant]]
name = "component"
[variant.guest]
kind = "synthetic-component"
core_instances = 3
"#,
    );
    let r = run_ok(dir.path(), "http", &cfg);
    let churn = |i: usize| {
        r.variants[i]
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap()
    };
    assert_eq!(churn(0).faults.total(), 0, "{:?}", churn(0).faults);
    assert_eq!(churn(1).faults.checks, 20, "{:?}", churn(1).faults);
    assert!(
        churn(1)
            .faults
            .first
            .as_deref()
            .unwrap()
            .contains("goodbye")
    );
    assert_eq!(churn(2).faults.checks, 20, "{:?}", churn(2).faults);
    assert!(
        churn(2)
            .faults
            .first
            .as_deref()
            .unwrap()
            .contains("status is 200, expected 404")
    );
    assert_eq!(churn(3).faults.total(), 0, "{:?}", churn(3).faults);
}

#[test]
fn a_variant_whose_every_call_faults_fails() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write(dir.path(), "shout.wat", PLAN_WAT);
    let cfg = config(
        dir.path(),
        "allfault",
        &format!(
            r#"[guest]
kind = "core"
wasm = "{wasm}"
calls = [{{ export = "add", args = [2, 2], result = "i32", expect = "5" }}]
"#
        ),
    );
    let out = common::run_quiet("run", &cfg, dir.path(), &[]);
    assert!(!out.status.success());
    let r = report::json::read(&common::result_json(dir.path(), "allfault")).unwrap();
    match &r.variants[0].status {
        VariantStatus::Failed { reason } => {
            assert!(
                reason.contains("every one of the 20 timed calls faulted"),
                "{reason}"
            );
            assert!(reason.contains("is 4, expected 5"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The figures are kept.
    assert_eq!(
        r.variants[0]
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap()
            .faults
            .checks,
        20
    );
}

#[test]
fn a_missing_export_is_a_config_error_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write(dir.path(), "shout.wat", PLAN_WAT);
    let cfg = config(
        dir.path(),
        "missing",
        &format!(
            "[guest]\nkind = \"core\"\nwasm = \"{wasm}\"\ncalls = [{{ export = \"shuot\", args = [{{ bytes = \"x\" }}], result = \"packed\" }}]\n"
        ),
    );
    let err = run_config_error(dir.path(), &cfg);
    assert!(err.contains("missing.toml:17:"), "{err}");
    assert!(err.contains("`guest.calls`"), "{err}");
    assert!(err.contains("no export `shuot`"), "{err}");
    assert!(err.contains("shout (i32, i32) -> (i64)"), "{err}");
}

#[test]
fn a_wrong_signature_is_a_config_error_with_both_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write(dir.path(), "shout.wat", PLAN_WAT);
    let cfg = config(
        dir.path(),
        "signature",
        &format!(
            "[guest]\nkind = \"core\"\nwasm = \"{wasm}\"\ncalls = [{{ export = \"add\", args = [{{ bytes = \"x\" }}], result = \"packed\" }}]\n"
        ),
    );
    let err = run_config_error(dir.path(), &cfg);
    assert!(err.contains("`guest.calls`"), "{err}");
    assert!(
        err.contains("`add` has the signature (i32, i32) -> (i32)"),
        "{err}"
    );
    assert!(err.contains("(i32, i32) -> (i64) expected"), "{err}");
    // A reactor's argv export is checked the same way.
    let cfg = config(
        dir.path(),
        "reactor",
        &format!("[guest]\nkind = \"wasi-reactor\"\nwasm = \"{wasm}\"\nargv_export = \"shout\"\n"),
    );
    let err = run_config_error(dir.path(), &cfg);
    assert!(err.contains("`guest.argv_export`"), "{err}");
    assert!(
        err.contains(
            "`shout` has the signature (i32, i32) -> (i64), but (i32, i32) -> (i32) expected"
        ),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_webassembly_is_a_config_error_with_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("random.wasm");
    std::fs::write(
        &junk,
        [0x7f, b'E', b'L', b'F', 0xde, 0xad, 0xbe, 0xef, 0xff],
    )
    .unwrap();
    let cfg = config(
        dir.path(),
        "junk",
        &format!(
            "[guest]\nkind = \"wasi-command\"\nwasm = \"{}\"\n",
            junk.display()
        ),
    );
    let err = run_config_error(dir.path(), &cfg);
    assert!(err.contains("`guest.wasm`"), "{err}");
    assert!(err.contains("neither WebAssembly"), "{err}");
    assert!(err.contains("7f 45 4c 46 de ad be ef"), "{err}");
    assert!(err.contains("junk.toml:16:"), "{err}");
}

#[test]
fn a_pool_too_small_for_a_component_is_a_config_error_with_the_value_that_fits() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "pool",
        "[guest]\nkind = \"synthetic-component\"\nimage_size = \"64KiB\"\ncore_instances = 3\n[variant]\n",
    );
    // max_core_instances_per_component below the component's 3 instances.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[variant]\n", "");
    std::fs::write(
        &cfg,
        text.replace(
            "total_stacks = 16\n",
            "total_stacks = 16\nmax_core_instances_per_component = 2\n",
        ),
    )
    .unwrap();
    let err = run_config_error(dir.path(), &cfg);
    assert!(
        err.contains("`pooling.max_core_instances_per_component`"),
        "{err}"
    );
    assert!(err.contains("contains 3 core module instances"), "{err}");
    assert!(err.contains("pool.toml:9:"), "{err}");
    // total_memories for 1 thread x 3 memories: 2 is too few.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("max_core_instances_per_component = 2\n", "")
            .replace("total_memories = 16", "total_memories = 2"),
    )
    .unwrap();
    let err = run_config_error(dir.path(), &cfg);
    assert!(err.contains("`pooling.total_memories`"), "{err}");
    assert!(err.contains("raise total_memories to at least 3"), "{err}");
}

#[test]
fn a_components_shape_is_read_from_its_structure() {
    use pooling_lab::guest::{shape, synthetic_component as sc};
    for n in [1, 3] {
        let spec = sc::ComponentSpec {
            image_size: 64 << 10,
            dirty_per_call: 4096,
            dirty_offset: 0,
            core_instances: n,
            ..sc::ComponentSpec::default()
        };
        let s = shape::of(&sc::run_component(&spec).unwrap()).unwrap();
        assert_eq!((s.core_instances, s.memories), (n, n), "{s:?}");
    }
    // The wasi:http proxy: one memory; wit-component's shims add core
    // instances without memories.
    let http = sc::http_component(&sc::ComponentSpec::default()).unwrap();
    let s = shape::of(&http).unwrap();
    assert_eq!(s.memories, 1, "{s:?}");
    assert!(s.core_instances >= 2, "{s:?}");
}

#[test]
fn every_scenario_accepts_components() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allscen.toml");
    let text = r#"[engine]
allocator = "pooling"
[pooling]
total_component_instances = 32
total_core_instances = 128
total_memories = 32
total_tables = 128
total_stacks = 32
max_memory_size = "64MiB"
[guest]
kind = ["synthetic-component", "synthetic-http"]
image_size = "128KiB"
dirty_per_call = "8KiB"
[scenario]
iterations = 40
warmup = 4
pool_capacity = 4
pool_prewarm = 2
pool_refill_below = 1
soak_sample_every = 10
counts = [1, 4]
[[variant]]
name = "scaling"
[variant.scenario]
kind = "scaling"
[[variant]]
name = "churn"
[variant.scenario]
kind = "churn"
[[variant]]
name = "pool"
[variant.scenario]
kind = "pool"
[[variant]]
name = "session"
[variant.scenario]
kind = "session"
[[variant]]
name = "soak-reuse"
[variant.scenario]
kind = "soak"
soak_mode = "reuse"
"#;
    std::fs::write(&path, text).unwrap();
    common::expect_success(&common::run_quiet("run", &path, dir.path(), &[]));
    let r = pooling_lab::report::json::read(&common::result_json(dir.path(), "allscen")).unwrap();
    assert_eq!(r.variants.len(), 10);
    for v in &r.variants {
        assert_eq!(v.status, VariantStatus::Ok, "{}", v.name);
    }
}

/// A library guest as C libraries ship them: a version string in static
/// data, results released by the library's own `lib_free` (which counts
/// its calls), and a `free` that, like a checking allocator, traps on a
/// pointer it never handed out.
const LIB_WAT: &str = r#"(module
  (memory (export "memory") 2)
  (data (i32.const 16) "1.2.3\00")
  (global $next (mut i32) (i32.const 1024))
  (global $frees (mut i32) (i32.const 0))
  (global $lib_frees (mut i32) (i32.const 0))
  (func $malloc (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "free") (param $p i32)
    (if (i32.lt_u (local.get $p) (i32.const 1024)) (then unreachable))
    (global.set $frees (i32.add (global.get $frees) (i32.const 1))))
  (func (export "lib_free") (param $p i32)
    (if (i32.lt_u (local.get $p) (i32.const 1024)) (then unreachable))
    (global.set $lib_frees (i32.add (global.get $lib_frees) (i32.const 1))))
  (func (export "frees") (result i32) (global.get $frees))
  (func (export "lib_frees") (result i32) (global.get $lib_frees))
  (func (export "version") (result i32) (i32.const 16))
  (func (export "echo") (param $p i32) (param $len i32) (result i64)
    (local $dst i32)
    (local.set $dst (call $malloc (local.get $len)))
    (memory.copy (local.get $dst) (local.get $p) (local.get $len))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $dst)) (i64.const 32))
      (i64.extend_i32_u (local.get $len)))))"#;

#[test]
fn results_are_freed_by_the_calls_own_free_and_static_results_are_a_named_fault() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write(dir.path(), "lib.wat", LIB_WAT);
    let cfg = config(
        dir.path(),
        "lib",
        &format!(
            r#"[guest]
kind = "core"
wasm = "{wasm}"
[[variant]]
name = "static-freed"
[variant.guest]
calls = [{{ export = "version", result = "cstring", expect = "1.2.3" }}]
[variant.scenario]
expect_faults = true
[[variant]]
name = "static-kept"
[variant.guest]
calls = [{{ export = "version", result = "cstring", expect = "1.2.3", free_result = false }}]
[[variant]]
name = "own-free"
[variant.guest]
calls = [
  {{ export = "echo", args = [{{ bytes = "hi" }}], result = "packed", equals = "hi", free_export = "lib_free" }},
  {{ export = "lib_frees", result = "i32", expect = "1" }},
  {{ export = "frees", result = "i32", expect = "1" }},
]
[[variant]]
name = "guest-free"
[variant.guest]
calls = [
  {{ export = "echo", args = [{{ bytes = "hi" }}], result = "packed", equals = "hi" }},
  {{ export = "lib_frees", result = "i32", expect = "0" }},
  {{ export = "frees", result = "i32", expect = "2" }},
]
"#
        ),
    );
    let r = run_ok(dir.path(), "lib", &cfg);
    let churn = |name: &str| {
        r.variants
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.result.as_ref().and_then(|r| r.churn()))
            .unwrap_or_else(|| panic!("no churn result for {name}"))
    };
    let freed = churn("static-freed");
    let cycles = freed.faults.total();
    assert!(
        cycles > 0,
        "every call frees static data: {:?}",
        freed.faults
    );
    let first = freed.faults.first.as_deref().unwrap();
    assert!(first.contains("the result of `version`"), "{first}");
    assert!(first.contains("`free`"), "{first}");
    assert!(first.contains("free_result = false"), "{first}");
    for ok in ["static-kept", "own-free", "guest-free"] {
        assert_eq!(churn(ok).faults.total(), 0, "{ok}: {:?}", churn(ok).faults);
    }
}

#[test]
fn not_expect_fails_a_call_whose_result_holds_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write(dir.path(), "shout.wat", PLAN_WAT);
    let cfg = config(
        dir.path(),
        "absent",
        &format!(
            r#"[guest]
kind = "core"
wasm = "{wasm}"
[[variant]]
name = "gone"
[variant.guest]
calls = [
  {{ export = "shout", args = [{{ bytes = "card 4111-x" }}], result = "packed", not_expect = "card" }},
  {{ export = "add", args = [2, 2], result = "i32", not_expect = "5" }},
]
[[variant]]
name = "still-there"
[variant.guest]
calls = [{{ export = "shout", args = [{{ bytes = "card 4111-x" }}], result = "packed", not_expect = "4111" }}]
[variant.scenario]
expect_faults = true
[[variant]]
name = "integer-ruled-out"
[variant.guest]
calls = [{{ export = "add", args = [2, 2], result = "i32", not_expect = "4" }}]
[variant.scenario]
expect_faults = true
"#
        ),
    );
    let r = run_ok(dir.path(), "absent", &cfg);
    let churn = |i: usize| {
        r.variants[i]
            .result
            .as_ref()
            .and_then(|r| r.churn())
            .unwrap()
    };
    assert_eq!(churn(0).faults.total(), 0, "{:?}", churn(0).faults);
    for i in [1, 2] {
        let f = &churn(i).faults;
        assert!(f.checks > 0 && f.checks == f.total(), "{f:?}");
    }
    let first = |i: usize| churn(i).faults.first.clone().unwrap();
    assert!(first(1).contains("contains `4111`"), "{}", first(1));
    assert!(
        first(2).contains("is 4, which not_expect rules out"),
        "{}",
        first(2)
    );
}

#[test]
fn a_calls_own_free_export_is_type_checked_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write(dir.path(), "lib.wat", LIB_WAT);
    let cfg = config(
        dir.path(),
        "badfree",
        &format!(
            "[guest]\nkind = \"core\"\nwasm = \"{wasm}\"\ncalls = [{{ export = \"echo\", args = [{{ bytes = \"x\" }}], result = \"packed\", free_export = \"frees\" }}]\n"
        ),
    );
    let err = run_config_error(dir.path(), &cfg);
    assert!(err.contains("`guest.calls`"), "{err}");
    assert!(err.contains("`frees`"), "{err}");
    assert!(err.contains("the free_export of the call `echo`"), "{err}");
}
