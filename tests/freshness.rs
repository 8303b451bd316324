//! Freshness is not negotiable: whatever the allocator settings, a new
//! sandbox sees only its module's initial image, never a byte the previous
//! sandbox in the same slot wrote.
//!
//! A guest writes a canary over many disjoint page regions (more than the 32
//! one PAGEMAP_SCAN pass of wasmtime 48/49 handled) and into memory it grew;
//! the next sandbox reads its whole memory back and counts every word that is
//! not the initial image. This runs on every allocator setting a tune can
//! pick: every `[engine]`/`[pooling]` combination of the committed tune
//! configs, and a grid over every knob that changes how a slot is reset
//! (copy-on-write, keep-resident memory, PAGEMAP_SCAN, decommit batching,
//! warm slots) plus on-demand allocation.
//!
//! The check itself is proven able to fail by sabotage: a write into the
//! slot after its reset, through a pointer kept from the previous instance
//! (`Memory::data_ptr`), must be seen by the next sandbox.

mod common;

use pooling_lab::settings::{Prefault, Variant};
use std::path::Path;
use wasmtime::{Engine, Instance, Module, Store, TypedFunc};

/// Wasm pages of initial memory (1 MiB).
const PAGES: u64 = 16;
/// The data image: bytes [IMAGE_START, IMAGE_END) hold 0xA5, the rest is 0.
const IMAGE_START: u64 = 64 * 1024;
const IMAGE_END: u64 = 3 * 64 * 1024;
/// Bytes between the canaries: two host pages, so no two are adjacent.
const STRIDE: u64 = 8192;
/// Canaries written per sandbox: more regions than one wasmtime 48 scan took.
const CANARIES: u64 = (PAGES * 64 * 1024) / STRIDE;
/// Where the sabotage writes: a zero page of the initial memory, after the image.
const SABOTAGE_AT: u64 = IMAGE_END + 5 * 4096 + 8;

fn wat() -> String {
    let image = "\\a5".repeat((IMAGE_END - IMAGE_START) as usize);
    format!(
        r#"(module
  (memory (export "memory") {PAGES})
  (data (i32.const {IMAGE_START}) "{image}")
  ;; Writes a canary every STRIDE bytes over the whole initial memory, grows
  ;; the memory by 4 pages and writes canaries there too.
  (func (export "dirty")
    (local $a i32)
    (loop $l
      (i64.store (local.get $a) (i64.const 0x0badc0dedeadbeef))
      (local.set $a (i32.add (local.get $a) (i32.const {STRIDE})))
      (br_if $l (i32.lt_u (local.get $a) (i32.const {bytes}))))
    (drop (memory.grow (i32.const 4)))
    (local.set $a (i32.const {bytes}))
    (loop $g
      (i64.store (local.get $a) (i64.const 0x0badc0dedeadbeef))
      (local.set $a (i32.add (local.get $a) (i32.const {STRIDE})))
      (br_if $g (i32.lt_u (local.get $a) (i32.const {grown})))))
  ;; Words of the whole memory that differ from the initial image, plus a
  ;; million if the memory did not start at its initial size.
  (func (export "stale") (result i32)
    (local $a i32) (local $bad i32) (local $want i64)
    (if (i32.ne (memory.size) (i32.const {PAGES}))
      (then (local.set $bad (i32.const 1000000))))
    (loop $l
      (local.set $want
        (select (i64.const 0xa5a5a5a5a5a5a5a5) (i64.const 0)
          (i32.and (i32.ge_u (local.get $a) (i32.const {IMAGE_START}))
                   (i32.lt_u (local.get $a) (i32.const {IMAGE_END})))))
      (if (i64.ne (i64.load (local.get $a)) (local.get $want))
        (then (local.set $bad (i32.add (local.get $bad) (i32.const 1)))))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (br_if $l (i32.lt_u (local.get $a) (i32.shl (memory.size) (i32.const 16)))))
    (local.get $bad)))"#,
        bytes = PAGES * 64 * 1024,
        grown = (PAGES + 4) * 64 * 1024,
    )
}

/// What a run of sandboxes through one engine saw.
#[derive(Debug, Default)]
struct Seen {
    /// Stale words summed over every sandbox after the first.
    stale: u64,
    /// Sandboxes that got the memory of the sandbox before them (same base).
    same_slot: u32,
    /// Sandboxes after the first.
    checked: u32,
    /// Most dirty regions a sandbox left (PAGEMAP_SCAN; 0 where unavailable).
    regions: u64,
}

/// Runs `rounds` sandboxes one after another on `variant`'s engine: each
/// checks its memory, then dirties it. With `sabotage`, a byte is written
/// through the previous sandbox's memory pointer after its store was dropped
/// (only when the memory is still mapped there: pooled slots).
fn run(variant: &Variant, rounds: u32, sabotage: bool) -> Seen {
    let engine = Engine::new(&variant.wasmtime_config())
        .unwrap_or_else(|e| panic!("{}: engine rejected: {e:#}", variant.name));
    let module = Module::new(&engine, wat()).unwrap();
    let mut seen = Seen::default();
    let mut previous: Option<*mut u8> = None;
    // `[guest] prefault`, done by the host as pooling-lab's churn does it.
    let prefaulter = pooling_lab::host::prefault::Prefaulter::new();
    for round in 0..rounds {
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[])
            .unwrap_or_else(|e| panic!("{}: instantiate: {e:#}", variant.name));
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        let base = memory.data_ptr(&store);
        if variant.guest.prefault == Prefault::All {
            prefaulter.all(base, memory.data_size(&store)).unwrap();
        }
        let stale: TypedFunc<(), i32> = instance.get_typed_func(&mut store, "stale").unwrap();
        let dirty: TypedFunc<(), ()> = instance.get_typed_func(&mut store, "dirty").unwrap();
        let bad = stale.call(&mut store, ()).unwrap();
        if round == 0 {
            assert_eq!(
                bad, 0,
                "{}: the first sandbox is not its image",
                variant.name
            );
        } else {
            seen.checked += 1;
            seen.stale += bad as u64;
            if previous == Some(base) {
                seen.same_slot += 1;
            }
        }
        // SAFETY: the sandbox's memory is live until the store is dropped.
        let before = unsafe {
            pooling_lab::measure::dirty::Before::read(base as usize, memory.data_size(&store))
        };
        dirty.call(&mut store, ()).unwrap();
        match before {
            Ok(b) => {
                // SAFETY: as above.
                let scan =
                    unsafe { b.after_call(base as usize, memory.data_size(&store)) }.unwrap();
                seen.regions = seen.regions.max(scan.written_regions);
            }
            // Only where the ioctl is missing (the caller reports that).
            Err(e) => assert!(
                pooling_lab::measure::dirty::available().is_err(),
                "PAGEMAP_SCAN is available, yet reading the sandbox's pages failed: {e}"
            ),
        }
        if variant.guest.prefault == Prefault::Untouched {
            prefaulter
                .untouched(base, memory.data_size(&store))
                .unwrap();
        }
        drop(store);
        if sabotage && variant.is_pooling() {
            // SAFETY: a pooled slot stays mapped read-write after its reset
            // (the pool owns the reservation); this write is the deliberate
            // fault the check must catch.
            unsafe { std::ptr::write_volatile(base.add(SABOTAGE_AT as usize), 0x42) };
        }
        previous = Some(base);
    }
    seen
}

/// Every allocator setting of the committed tune configs, with a one-slot
/// pool (so consecutive sandboxes share the slot) and room for the guest.
fn tune_variants() -> Vec<Variant> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("configs").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("tune") && name.ends_with(".toml")) {
            continue;
        }
        let exp = pooling_lab::scenario::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        for mut v in exp.variants {
            v.name = format!("{name}: {}", v.name);
            out.push(v);
        }
    }
    assert!(out.len() > 10, "found only {} tune variants", out.len());
    out
}

/// A grid over every knob that changes how a slot is reset.
fn grid() -> Vec<Variant> {
    let scan = match pooling_lab::measure::dirty::available() {
        Ok(()) => r#"["no", "yes"]"#,
        Err(e) => {
            common::skip(&format!(
                "PAGEMAP_SCAN unavailable ({e}): the grid runs without pagemap_scan = \"yes\""
            ));
            r#"["no"]"#
        }
    };
    let mut out = grid_with(scan, r#""none""#);
    // The host's prefault before the resets that keep pages resident.
    out.extend(grid_with(scan, r#"["all", "untouched"]"#));
    out
}

/// The grid with `[guest] prefault = prefault` (a TOML value or list).
fn grid_with(scan: &str, prefault: &str) -> Vec<Variant> {
    let src = format!(
        r#"
[engine]
allocator = ["pooling", "on-demand"]
memory_init_cow = [true, false]
[pooling]
linear_memory_keep_resident = ["0B", "64KiB", "4MiB"]
pagemap_scan = {scan}
decommit_batch_size = [1, 4]
max_unused_warm_slots = [0, 10]
[guest]
image_size = "64KiB"
prefault = {prefault}
[scenario]
counts = [1]
"#
    );
    pooling_lab::scenario::parse(Path::new("freshness-grid.toml"), &src)
        .unwrap()
        .variants
}

/// The tune's settings with the pool cut to a few slots and the limits
/// opened for this guest (the grid's own pools are wasmtime's defaults).
fn fitted(mut v: Variant) -> Variant {
    if v.is_pooling() {
        let p = &mut v.pooling;
        p.total_core_instances = Some(4);
        p.total_memories = Some(4);
        p.total_tables = Some(4);
        p.total_stacks = Some(4);
        p.total_gc_heaps = Some(4);
        p.total_component_instances = Some(4);
        p.max_memory_size = Some(pooling_lab::settings::ByteSize(64 << 20));
    }
    v
}

#[test]
fn a_fresh_sandbox_sees_only_its_image_on_every_setting_a_tune_can_pick() {
    let variants: Vec<Variant> = tune_variants()
        .into_iter()
        .chain(grid())
        .map(fitted)
        .collect();
    let mut failures = Vec::new();
    let mut reused = 0;
    let mut regions = 0;
    for v in &variants {
        let seen = run(v, 4, false);
        reused += seen.same_slot;
        regions = regions.max(seen.regions);
        if seen.stale > 0 {
            failures.push(format!("{}: {} stale words", v.name, seen.stale));
        }
    }
    assert!(
        failures.is_empty(),
        "stale memory:\n{}",
        failures.join("\n")
    );
    // The guest left more regions than one wasmtime 48 scan took.
    match pooling_lab::measure::dirty::available() {
        Ok(()) => assert!(
            regions >= CANARIES && CANARIES > 32,
            "only {regions} dirty regions"
        ),
        Err(e) => common::skip(&format!(
            "PAGEMAP_SCAN unavailable ({e}): the dirty regions were not counted"
        )),
    }
    // The check is only worth something where a slot was handed on.
    assert!(
        reused > variants.len() as u32,
        "slots were reused only {reused} times over {} settings",
        variants.len()
    );
}

#[test]
fn a_write_into_a_reset_slot_is_seen_by_the_next_sandbox() {
    // Every pooled setting of the grid whose reset is done at the drop (no
    // batching: a batched decommit would erase the sabotage before reuse).
    let mut caught = 0;
    for v in grid().into_iter().map(fitted) {
        if !v.is_pooling() || v.pooling.decommit_batch_size != Some(1) {
            continue;
        }
        let seen = run(&v, 4, true);
        assert!(seen.same_slot > 0, "{}: the slot was never reused", v.name);
        assert!(
            seen.stale >= u64::from(seen.same_slot),
            "{}: a byte written into the slot after its reset went unseen ({} stale words over {} reuses)",
            v.name,
            seen.stale,
            seen.same_slot
        );
        caught += 1;
    }
    assert!(caught >= 6, "only {caught} settings were sabotaged");
}
