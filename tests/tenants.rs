//! The tenants scenario, in this process: a slot's affinity is classified
//! from the instance's memory base (alternating tenants in a one-slot pool
//! are non-affine, a repeated tenant is affine), dropped tenants' memory
//! comes back, and the trace format and the scenario's keys are checked.

use pooling_lab::scenario::tenants::{self, TenantsResult};
use pooling_lab::settings::TenantMix;
use std::path::Path;
use std::sync::Mutex;

mod common;

/// One measurement at a time: memory figures are the whole process's.
static SERIAL: Mutex<()> = Mutex::new(());

fn run(toml: &str) -> TenantsResult {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let exp = pooling_lab::scenario::parse(Path::new("tenants-test.toml"), toml).unwrap();
    assert_eq!(exp.variants.len(), 1);
    tenants::run(&exp.variants[0], None).unwrap().0
}

fn count(r: &TenantsResult, phase: &str) -> u64 {
    tenants::phase(r, phase).unwrap().count
}

#[test]
fn alternating_tenants_are_non_affine_and_a_repeated_tenant_is_affine() {
    let dir = tempfile::tempdir().unwrap();
    // One slot: A, B, A, B, ... must re-map the slot every time; then A, A,
    // A, ... finds its own image still mapped. The slot keeps its memory
    // resident between sandboxes (restored in place, not discarded), so a
    // request that finds its own image there takes no page fault.
    let trace_path = common::alternating_trace(dir.path(), 100, 0, 100);
    let r = run(&format!(
        r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 1
total_memories = 1
max_memory_size = "1MiB"
linear_memory_keep_resident = "1MiB"
[guest]
kind = "synthetic"
load = "compile"
image_size = "256KiB"
dirty_per_call = "16KiB"
[scenario]
kind = "tenants"
tenants = 2
live = 1
mix = "trace"
trace = "{}"
iterations = 200
warmup = 0
sample_every = 50
"#,
        trace_path.display()
    ));
    // Request 1 takes the cold slot; requests 2..=100 alternate (each slot
    // last used by the other tenant); request 101 (tenant 0 after tenant 1)
    // is non-affine; the 99 after it are affine.
    assert_eq!(r.cold, 1, "{r:#?}");
    assert_eq!(r.non_affine_warm, 100, "{r:#?}");
    assert_eq!(r.affine, 99, "{r:#?}");
    assert_eq!(r.distinct_slots, 1);
    assert_eq!(count(&r, "instantiate-affine"), 99);
    assert_eq!(count(&r, "instantiate-non-affine"), 101);
    assert_eq!(count(&r, "instantiate"), 200);
    assert!((r.affine_hit_rate.unwrap() - 0.495).abs() < 1e-9);
    // Cross-check by page faults (the request thread's own, counted by the
    // kernel: no timing): an affine request finds its image still mapped and
    // its pages resident, and faults none; a non-affine one re-maps the slot
    // to the other tenant's image and faults in every page its call writes
    // (16 KiB / 4 KiB = 4).
    let written = (16 << 10) / 4096;
    assert!(
        r.faults_per_affine_request < 1.0,
        "affine requests fault: {r:#?}"
    );
    assert!(
        r.faults_per_non_affine_request >= f64::from(written),
        "non-affine requests fault fewer than the {written} pages they write: {r:#?}"
    );
}

/// The same alternation with generated *components* as tenants: the host
/// cannot see a component's memories, so affinity is read from the image
/// mappings (`/proc/self/maps`) around each instantiation; it must find the
/// same split the memory base gives for core modules.
#[test]
fn component_tenants_are_classified_from_their_image_mappings() {
    let dir = tempfile::tempdir().unwrap();
    let trace_path = common::alternating_trace(dir.path(), 60, 1, 60);
    for kind in ["synthetic-component", "synthetic-http"] {
        let r = run(&format!(
            r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 8
total_memories = 1
total_component_instances = 1
max_memory_size = "2MiB"
[guest]
kind = "{kind}"
load = "compile"
image_size = "256KiB"
dirty_per_call = "16KiB"
[scenario]
kind = "tenants"
tenants = 2
live = 1
mix = "trace"
trace = "{}"
iterations = 120
warmup = 0
sample_every = 40
"#,
            trace_path.display()
        ));
        assert_eq!(r.guest_kind, kind);
        assert_eq!(r.affinity_from, tenants::AffinityFrom::ImageMappings);
        assert_eq!(r.faults.first, None, "{kind}: {r:#?}");
        // Request 1 maps an image into the never-used slot; 2..=60 alternate;
        // 61 (tenant 1 after tenant 1) is affine, as are the 59 after it.
        assert_eq!(r.cold, 1, "{kind}: {r:#?}");
        assert_eq!(r.non_affine_warm, 59, "{kind}: {r:#?}");
        assert_eq!(r.affine, 60, "{kind}: {r:#?}");
        assert_eq!(r.distinct_slots, 1, "{kind}: {r:#?}");
    }
}

#[test]
fn on_demand_has_no_slots_to_be_affine_to() {
    let r = run(r#"
[engine]
allocator = "on-demand"
[guest]
kind = "synthetic"
load = "compile"
image_size = "64KiB"
dirty_per_call = "4KiB"
[scenario]
kind = "tenants"
tenants = 1
live = 1
iterations = 40
warmup = 0
sample_every = 10
"#);
    assert_eq!(r.affine_hit_rate, None);
    assert_eq!(r.affine, 0);
    assert_eq!(count(&r, "instantiate-non-affine"), 40);
}

/// Dropped tenants' memory is returned: after a run in which warm slots
/// kept tenant images resident (keep_resident), dropping every sandbox and
/// every tenant brings the process's non-file Pss (anonymous + shared
/// memory, where slots and images live; the binary's own code pages are
/// file-backed and excluded) back within [`RETURN_BOUND`] of its level
/// before the tenants were loaded.
const RETURN_BOUND: i64 = 4 << 20;

#[test]
fn dropped_tenants_memory_is_returned_within_the_bound() {
    let r = run(r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 16
total_memories = 16
max_memory_size = "2MiB"
linear_memory_keep_resident = "2MiB"
[guest]
kind = "synthetic"
load = "compile"
image_size = "1MiB"
dirty_per_call = "64KiB"
[scenario]
kind = "tenants"
tenants = 8
live = 2
mix = "uniform"
iterations = 400
warmup = 0
sample_every = 100
tenant_churn_every = 200
tenant_churn = 4
"#);
    let d = &r.drop_all;
    let non_file = |m: &pooling_lab::measure::memory::MemorySample| {
        m.pss_bytes as i64 - m.pss_file_bytes as i64
    };
    let held = non_file(&d.sandboxes_dropped) - non_file(&d.before_load);
    let retained = non_file(&d.tenants_dropped) - non_file(&d.before_load);
    eprintln!(
        "non-file Pss over the start: held {held} B with sandboxes dropped, {retained} B after tenants dropped"
    );
    // There was something to return: warm slots kept images resident.
    assert!(
        held >= 4 << 20,
        "warm slots held only {held} bytes over the start: {d:#?}"
    );
    assert!(
        retained <= RETURN_BOUND,
        "{retained} bytes of non-file Pss stayed after every tenant was dropped (held {held}): {d:#?}"
    );
    // The replacements returned memory too (their Modules were dropped).
    assert_eq!(r.replacements.len(), 1);
    assert_eq!(r.replacements[0].dropped, 4);
}

#[test]
fn trace_files_parse_and_name_their_bad_lines() {
    assert_eq!(
        tenants::parse_trace("# c\n0\n\n2 # x\n1\n", 3).unwrap(),
        vec![0, 2, 1]
    );
    let e = tenants::parse_trace("0\n3\n", 3).unwrap_err();
    assert!(
        e.contains("line 2") && e.contains("not below tenants = 3"),
        "{e}"
    );
    let e = tenants::parse_trace("0\nx\n", 3).unwrap_err();
    assert!(e.contains("line 2") && e.contains("`x`"), "{e}");
    assert!(tenants::parse_trace("# only\n", 3).is_err());
    // A generated trace parses back to what the mix draws.
    let text = tenants::trace_text(TenantMix::Zipf, 50, 1000, 1.0, 7);
    let ids = tenants::parse_trace(&text, 50).unwrap();
    assert_eq!(
        ids,
        tenants::request_mix(TenantMix::Zipf, 50, 1000, 1.0, 7, &[])
    );
    // Zipf puts tenant 0 first; uniform spreads.
    let zero = ids.iter().filter(|&&x| x == 0).count();
    assert!(zero > 100, "{zero}");
    let uniform = tenants::request_mix(TenantMix::Uniform, 50, 1000, 1.0, 7, &[]);
    assert!(uniform.iter().filter(|&&x| x == 0).count() < 60);
}

#[test]
fn the_committed_example_trace_is_what_the_generator_writes() {
    let text = std::fs::read_to_string("configs/traces/tenants-zipf-1000.txt").unwrap();
    let header = text.lines().nth(2).unwrap();
    assert!(
        header.starts_with("# generated by: pooling-lab trace OUT --tenants 1000 --requests 20000 --mix zipf --zipf-exponent 1 --seed 3"),
        "{header}"
    );
    assert_eq!(
        text,
        tenants::trace_text(TenantMix::Zipf, 1000, 20000, 1.0, 3)
    );
}

#[test]
fn tenants_keys_are_checked_with_file_line_key_and_fix() {
    let bad = [
        ("tenants = 0", "scenario.tenants", "outside 1..="),
        ("live = 0", "scenario.live", "outside 1..="),
        ("mix = \"trace\"", "scenario.trace", "needs a trace file"),
        (
            "mix = \"trace\"\ntrace = \"no/such/trace.txt\"",
            "scenario.trace",
            "cannot read the trace file",
        ),
        (
            "sample_every = 500",
            "scenario.sample_every",
            "fewer than 3",
        ),
        (
            "tenant_image_min = \"2MiB\"",
            "scenario.tenant_image_min",
            "above [guest] image_size",
        ),
        (
            "zipf_exponent = -1.0",
            "scenario.zipf_exponent",
            "outside 0..=10",
        ),
        (
            "tenant_churn_every = 10\ntenant_churn = 11",
            "scenario.tenant_churn",
            "outside 1..=tenants",
        ),
    ];
    for (line, key, message) in bad {
        let src = format!(
            "[engine]\nallocator = \"pooling\"\n[pooling]\ntotal_memories = 8\ntotal_core_instances = 8\n[guest]\nimage_size = \"1MiB\"\n[scenario]\nkind = \"tenants\"\niterations = 600\n{line}\n"
        );
        let err = match pooling_lab::scenario::parse(Path::new("t.toml"), &src) {
            Ok(_) => panic!("accepted: {line}"),
            Err(e) => e,
        };
        let text = err.to_string();
        assert!(text.starts_with("t.toml:"), "{text}");
        assert!(text.contains(key), "{line}: {text}");
        assert!(text.contains(message), "{line}: {text}");
        assert!(err.fix.is_some(), "{line}: {text}");
    }
    // Tenants that are copies of a guest file have that file's image size.
    let src = "[guest]\nkind = \"wasi-reactor\"\nwasm = \"guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm\"\n[scenario]\nkind = \"tenants\"\niterations = 600\ntenant_image_min = \"64KiB\"\n";
    let err = pooling_lab::scenario::parse(Path::new("t.toml"), src)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains("t.toml:7"), "{text}");
    assert!(text.contains("scenario.tenant_image_min"), "{text}");
    assert!(text.contains("copies of the guest's file"), "{text}");
    assert!(err.fix.is_some(), "{text}");
    // The pool must hold the live sandboxes.
    let src = "[engine]\nallocator = \"pooling\"\n[pooling]\ntotal_memories = 2\ntotal_core_instances = 8\n[guest]\nimage_size = \"1MiB\"\n[scenario]\nkind = \"tenants\"\nlive = 4\n";
    let text = pooling_lab::scenario::parse(Path::new("t.toml"), src)
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("[scenario] live: 4"), "{text}");
}
