//! The burst scenario, in this process: the release call returns what the
//! warm slots kept (`peak` slots x the keep-resident bytes, as wasmtime's
//! reset keeps them) and Pss falls by about that; without the call the peak's
//! memory stays through idle; a slot that keeps nothing has nothing to
//! release; a timer releases during idle; the first request after a release
//! faults in what its call writes, the one before it does not; the peak's
//! threads fault in what each request writes unless the slot kept it. Every
//! expectation is computed from the config.

use pooling_lab::scenario::burst::{self, AFTER_PEAK, AFTER_RELEASE, BurstResult, END_OF_IDLE};
use std::path::Path;
use std::sync::Mutex;

/// One measurement at a time: memory figures are the whole process's.
static SERIAL: Mutex<()> = Mutex::new(());

/// Sandboxes at the peak.
const PEAK: u64 = 6;
/// Bytes each request writes from the start of its memory (`dirty_per_call`).
const DIRTY: u64 = 2 << 20;
/// The memory's size (`memory_min`).
const MEMORY: u64 = 4 << 20;

fn run(keep_resident: u64, release: &str, idle_s: f64, extra: &str) -> BurstResult {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let toml = format!(
        r#"
[engine]
allocator = "pooling"
[pooling]
total_core_instances = 16
total_memories = 16
total_tables = 16
max_memory_size = "8MiB"
linear_memory_keep_resident = {keep_resident}
[guest]
kind = "synthetic"
load = "compile"
image_size = "256KiB"
memory_min = {MEMORY}
dirty_per_call = {DIRTY}
[scenario]
kind = "burst"
threads = 2
peak = {PEAK}
ramp_steps = 2
peak_waves = 3
idle_s = {idle_s}
idle_every_ms = 0
release_idle = "{release}"
probe_requests = 3
{extra}
"#
    );
    let exp = pooling_lab::scenario::parse(Path::new("burst-test.toml"), &toml).unwrap();
    assert_eq!(exp.variants.len(), 1);
    burst::run(&exp.variants[0], None).unwrap().0
}

fn pool_resident(r: &BurstResult, phase: &str) -> u64 {
    r.at(phase)
        .and_then(|m| m.pool_unused_resident_bytes)
        .unwrap_or_else(|| panic!("no pool reading at {phase}: {r:#?}"))
}

fn pss(r: &BurstResult, phase: &str) -> f64 {
    r.at(phase)
        .unwrap_or_else(|| panic!("no reading at {phase}: {r:#?}"))
        .pss_bytes as f64
}

/// Without `pagemap_scan` wasmtime's reset keeps the first
/// `keep_resident` bytes of each slot's memory (memset back to the image),
/// at most the memory's size: what each warm slot holds after the peak.
fn kept_per_slot(keep_resident: u64) -> u64 {
    keep_resident.min(MEMORY)
}

#[test]
fn the_release_returns_what_the_warm_slots_kept_and_pss_falls_by_about_that() {
    let keep = 2 << 20;
    let r = run(keep, "after-idle", 0.2, "");
    let expected = PEAK * kept_per_slot(keep);
    // Every slot used at the peak is warm afterwards, holding its share.
    assert_eq!(pool_resident(&r, AFTER_PEAK), expected, "{r:#?}");
    assert_eq!(pool_resident(&r, END_OF_IDLE), expected, "{r:#?}");
    assert_eq!(r.releases.len(), 1, "one release, at the end of idle");
    let rel = r.final_release().expect("the release at the end of idle");
    assert_eq!(rel.bytes_released, expected, "{r:#?}");
    assert_eq!(pool_resident(&r, AFTER_RELEASE), 0, "{r:#?}");
    // The slots stay warm (affine to the module), their pages gone.
    assert_eq!(
        r.at(AFTER_RELEASE).unwrap().pool_unused_warm_memories,
        Some(PEAK as u32)
    );
    // The kept pages were private (memset by the reset): Pss loses them.
    let fell = rel.pss_before_bytes as f64 - rel.pss_after_bytes as f64;
    assert!(
        (fell - expected as f64).abs() <= 0.15 * expected as f64,
        "Pss fell {fell} bytes around the call, released {expected}: {r:#?}"
    );
    let fell_between_readings = pss(&r, END_OF_IDLE) - pss(&r, AFTER_RELEASE);
    assert!(
        fell_between_readings >= 0.85 * expected as f64,
        "Pss from the end of idle to after the release fell {fell_between_readings} bytes, released {expected}: {r:#?}"
    );
    // The first request after the release faults in the pages its call
    // writes; before the release the slot had them resident.
    let written_pages = DIRTY / 4096;
    assert!(
        r.after.first_minor_faults >= written_pages * 9 / 10,
        "first request after the release: {} faults, its call writes {written_pages} pages: {r:#?}",
        r.after.first_minor_faults
    );
    assert!(
        r.before.first_minor_faults <= written_pages / 4,
        "first request before the release: {} faults with its pages resident: {r:#?}",
        r.before.first_minor_faults
    );
    assert_eq!(r.faults.total(), 0, "{r:#?}");
    // At the peak every slot was warm from the ramp, its pages kept: the
    // peak's threads took few faults per request.
    let peak = r
        .peak_contention
        .as_ref()
        .expect("the peak's thread figures");
    assert!(
        peak.minor_faults_per_cycle <= (written_pages / 4) as f64,
        "{} faults per peak request with the pages kept: {r:#?}",
        peak.minor_faults_per_cycle
    );
}

#[test]
fn without_a_release_the_peaks_memory_stays_through_idle() {
    let keep = 2 << 20;
    let r = run(keep, "never", 0.2, "");
    let expected = PEAK * kept_per_slot(keep);
    assert!(r.releases.is_empty(), "{r:#?}");
    assert!(r.at(AFTER_RELEASE).is_none());
    assert_eq!(pool_resident(&r, END_OF_IDLE), expected, "{r:#?}");
    assert_eq!(
        r.pss_after_release_point(),
        Some(pss(&r, END_OF_IDLE) as u64)
    );
    // Nothing was released: the request after the release point finds its
    // pages as the one before did.
    assert!(
        r.after.first_minor_faults <= DIRTY / 4096 / 4,
        "{} faults with nothing released: {r:#?}",
        r.after.first_minor_faults
    );
}

#[test]
fn a_pool_that_keeps_nothing_has_nothing_to_release() {
    let r = run(0, "after-idle", 0.2, "");
    assert_eq!(pool_resident(&r, END_OF_IDLE), 0, "{r:#?}");
    assert_eq!(r.final_release().unwrap().bytes_released, 0, "{r:#?}");
    // Every request faults its written pages in, released or not.
    let written_pages = DIRTY / 4096;
    assert!(
        r.before.first_minor_faults >= written_pages * 9 / 10,
        "{r:#?}"
    );
    // So does every peak request, on its own thread.
    let peak = r
        .peak_contention
        .as_ref()
        .expect("the peak's thread figures");
    assert!(
        peak.minor_faults_per_cycle >= (written_pages * 9 / 10) as f64,
        "{} faults per peak request, each writes {written_pages} pages: {r:#?}",
        peak.minor_faults_per_cycle
    );
}

#[test]
fn a_timer_releases_during_idle_and_only_the_first_finds_memory() {
    let keep = 1 << 20;
    // Idle 0.35 s with a release every 0.1 s: three on the timer (no request
    // in between warms a slot again), then the one at the end of idle.
    let r = run(keep, "every", 0.35, "release_every_s = 0.1");
    let timer: Vec<_> = r.releases.iter().filter(|x| !x.end_of_idle).collect();
    assert_eq!(timer.len(), 3, "{r:#?}");
    assert_eq!(timer[0].bytes_released, PEAK * kept_per_slot(keep));
    assert!(timer[1..].iter().all(|x| x.bytes_released == 0), "{r:#?}");
    // The probe before the end of idle warmed a slot again (one per
    // request at most).
    let last = r.final_release().unwrap().bytes_released;
    let slots = last / kept_per_slot(keep);
    assert_eq!(last % kept_per_slot(keep), 0, "{r:#?}");
    assert!((1..=r.before.requests).contains(&slots), "{r:#?}");
}

#[test]
fn burst_keys_are_checked_before_measuring() {
    let base = "[guest]\nkind = \"synthetic\"\nload = \"compile\"\n[scenario]\nkind = \"burst\"\n";
    for (extra, key) in [
        ("peak = 2\nthreads = 4\n", "scenario.peak"),
        ("peak = 4\nramp_steps = 5\n", "scenario.ramp_steps"),
        ("idle_s = -1.0\n", "scenario.idle_s"),
        (
            "release_idle = \"every\"\nrelease_every_s = 0.0\n",
            "scenario.release_every_s",
        ),
        ("probe_requests = 0\n", "scenario.probe_requests"),
        // Each process takes peak / processes: a whole number, at least
        // threads, at least ramp_steps.
        ("peak = 6\nprocesses = 4\nramp_steps = 1\n", "scenario.peak"),
        ("peak = 4\nprocesses = 2\nthreads = 3\n", "scenario.peak"),
        (
            "peak = 8\nprocesses = 4\nramp_steps = 3\n",
            "scenario.ramp_steps",
        ),
        ("processes = 0\n", "scenario.processes"),
    ] {
        let err = pooling_lab::scenario::parse(Path::new("b.toml"), &format!("{base}{extra}"))
            .unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{extra}: {err}");
        assert!(err.location.is_some(), "{extra}: no line in {err}");
    }
    pooling_lab::scenario::parse(
        Path::new("b.toml"),
        &format!("{base}peak = 8\nprocesses = 4\nramp_steps = 2\n"),
    )
    .unwrap();
    // A burst key in another scenario measures nothing there.
    let err = pooling_lab::scenario::parse(
        Path::new("b.toml"),
        "[scenario]\nkind = \"churn\"\nrelease_idle = \"after-idle\"\n",
    )
    .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("scenario.release_idle"), "{err}");
    // [tune] idle_share is a share of the day.
    let err = pooling_lab::scenario::parse(
        Path::new("b.toml"),
        &format!("{base}[tune]\nidle_share = 1.5\n"),
    )
    .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("tune.idle_share"), "{err}");
    assert!(err.location.is_some(), "{err}");
}
