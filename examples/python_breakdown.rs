//! Where a fresh Python sandbox's time, page faults and memory go, measured
//! on each variant of a `kind = "python"` experiment (one thread, one
//! process, the variants one after the other):
//!
//! 1. **Memory per live sandbox** (first, on a fresh engine): `live` sandboxes
//!    instantiated and initialised but not called (idle), then each after
//!    one request, then each after 100 requests; Pss and Private_Dirty of
//!    the process (smaps_rollup) over the module-loaded baseline, per
//!    sandbox; then all dropped (what stays is kept resident by the pool).
//! 2. **Phases** of `cycles` timed fresh-sandbox cycles, split finer than
//!    the churn scenario: `Store::new` with its WASI context, instantiate,
//!    the host's own work before the guest runs (export lookups, `host_alloc`,
//!    writing the source), the guest's `turn`, the output check, drop. The
//!    production path (`Prepared::call`, as churn measures it) is timed in
//!    the same run, interleaved.
//! 3. **Inside the turn**: fresh sandboxes running `pass`, the request, and
//!    the request wrapped so the guest times `compile()` and `exec()` of it
//!    itself (`time.perf_counter_ns`, WASI's monotonic clock).
//! 4. **Faults per phase and region**: every minor fault of `fault_cycles`
//!    cycles sampled with perf (`PAGE_FAULTS_MIN`, user-space faults, with
//!    the address) and attributed to: this sandbox's linear memory (its
//!    `data_ptr` range), another slot of the memory pool (the GC heap: in a
//!    pooled engine GC heaps are memory-pool slots; an address at the same
//!    offset of another slot), the table pool (the read-write mapping of
//!    `total_tables x table_elements x 8` bytes the engine created), or the
//!    mapping the address is in (`[heap]`, `[stack]`, files, anonymous).
//!    Faults the kernel takes on the thread's behalf (a system call writing
//!    into its memory) are not sampled: the getrusage count is given too.
//!
//! ```sh
//! cargo run --release --example python_breakdown -- configs/python-breakdown.toml
//! ```
//!
//! Writes `results/python-breakdown/<stamp>.md` and `.json`.

use anyhow::{Context, Result, anyhow};
use pooling_lab::guest::{self, Prepared, Sandbox};
use pooling_lab::measure::faults::{MajorFaultTrace, Mapping, ThreadUsage, parse_maps};
use pooling_lab::measure::latency::{self, Hist, LatencySummary};
use pooling_lab::measure::memory;
use pooling_lab::report::{duration, mib};
use pooling_lab::settings::Variant;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

const CYCLES: u64 = 2000;
const WARMUP: u64 = 200;
const FAULT_CYCLES: u64 = 200;
const LIVE: usize = 50;

fn main() -> Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow!("usage: python_breakdown <experiment.toml>"))?;
    let exp = pooling_lab::scenario::load(Path::new(&path)).map_err(|e| anyhow!("{e}"))?;
    let cache = PathBuf::from(".cache/pooling-lab");
    let mut md = String::new();
    let host = pooling_lab::result::HostInfo::detect();
    let _ = writeln!(
        md,
        "# Python fresh-sandbox breakdown: `{path}`\n\n{}\n\n{} timed cycles per variant ({} warmup), one thread; faults from {} sampled cycles; memory at {} live sandboxes. Made by `cargo run --release --example python_breakdown -- {path}`.\n",
        pooling_lab::report::markdown::host_line(&host, &path),
        CYCLES,
        WARMUP,
        FAULT_CYCLES,
        LIVE
    );
    let mut all = Vec::new();
    for v in &exp.variants {
        eprintln!("variant {}", v.name);
        let (md_v, json_v) = variant(v, &cache)?;
        md.push_str(&md_v);
        all.push(json_v);
    }
    let stamp = pooling_lab::runner::file_stamp(&pooling_lab::runner::now_rfc3339());
    let dir = PathBuf::from("results/python-breakdown");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("{stamp}.md"));
    std::fs::write(&out, &md)?;
    std::fs::write(
        dir.join(format!("{stamp}.json")),
        serde_json::to_string_pretty(&json!({ "config": path, "host": host, "variants": all }))?,
    )?;
    print!("{md}");
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// The variant's guest prepared with `code` (and what its stdout must contain).
fn prepared(v: &Variant, cache: &Path, code: &str, expect: &str) -> Result<Prepared> {
    let mut v = match guest::resolve_preinit(v, cache)? {
        Some((resolved, _, _)) => resolved,
        None => v.clone(),
    };
    v.guest.code = code.to_string();
    v.guest.expect_stdout = expect.to_string();
    let engine = pooling_lab::scenario::engine(&v)?;
    let wasm = guest::guest_wasm(&v.guest)?;
    let artifact = guest::ensure_artifact(cache, &engine, &wasm)?.0;
    drop(wasm);
    guest::prepare(engine, &v, Some(&artifact))
}

fn fresh_cycle(p: &Prepared) -> Result<()> {
    let mut store = p.new_store();
    let mut sb = p.instantiate(&mut store)?;
    p.call(&mut store, &mut sb)
        .map_err(|e| anyhow!("guest call: {e:#}"))?;
    p.guest.teardown(store, sb);
    Ok(())
}

fn variant(v: &Variant, cache: &Path) -> Result<(String, serde_json::Value)> {
    let code = v.guest.code.clone();
    let expect = v.guest.expect_stdout.clone();
    let maps_before = parse_maps(&std::fs::read_to_string("/proc/self/maps")?);
    let p = prepared(v, cache, &code, &expect)?;
    let maps_engine = parse_maps(&std::fs::read_to_string("/proc/self/maps")?);
    let mut md = format!("## {}\n\n", v.name);

    // 1. Memory per live sandbox.
    memory::release_free_heap();
    let base = memory::sample()?;
    let mut live: Vec<(wasmtime::Store<_>, Sandbox)> = Vec::with_capacity(LIVE);
    for _ in 0..LIVE {
        let mut store = p.new_store();
        let mut sb = p.instantiate(&mut store)?;
        p.guest
            .initialise(&mut store, &mut sb)
            .map_err(|e| anyhow!("{e:#}"))?;
        live.push((store, sb));
    }
    memory::release_free_heap();
    let idle = memory::sample()?;
    for (store, sb) in live.iter_mut() {
        p.call(store, sb).map_err(|e| anyhow!("{e:#}"))?;
    }
    memory::release_free_heap();
    let one = memory::sample()?;
    for _ in 1..100 {
        for (store, sb) in live.iter_mut() {
            p.call(store, sb).map_err(|e| anyhow!("{e:#}"))?;
        }
    }
    memory::release_free_heap();
    let hundred = memory::sample()?;
    for (store, sb) in live.drain(..) {
        p.guest.teardown(store, sb);
    }
    memory::release_free_heap();
    let dropped = memory::sample()?;
    let per = |s: &memory::MemorySample| {
        (
            (s.pss_bytes as f64 - base.pss_bytes as f64) / LIVE as f64,
            (s.private_dirty_bytes as f64 - base.private_dirty_bytes as f64) / LIVE as f64,
        )
    };
    let _ = writeln!(
        md,
        "Memory per live sandbox ({LIVE} live, over the engine + module baseline):\n\n| state | Pss / sandbox | Private_Dirty / sandbox |\n|---|---:|---:|"
    );
    let mut mem_json = serde_json::Map::new();
    for (name, s) in [
        ("idle (instantiated, not called)", &idle),
        ("after 1 request", &one),
        ("after 100 requests", &hundred),
        ("all dropped (kept by the pool, per slot used)", &dropped),
    ] {
        let (pss, pd) = per(s);
        let _ = writeln!(md, "| {name} | {} | {} |", mib(pss), mib(pd));
        mem_json.insert(
            name.into(),
            json!({"pss_per_sandbox_bytes": pss, "private_dirty_per_sandbox_bytes": pd}),
        );
    }

    // 2. Phases.
    for _ in 0..WARMUP {
        fresh_cycle(&p)?;
    }
    const PH: [&str; 7] = [
        "store (Store::new + WASI context)",
        "instantiate",
        "call: host work before the turn",
        "call: turn (the guest)",
        "call: output check",
        "drop",
        "cycle (sum)",
    ];
    let mut h: Vec<Hist> = PH.iter().map(|_| latency::new_histogram()).collect();
    let mut prod: Vec<Hist> = (0..4).map(|_| latency::new_histogram()).collect();
    let ns = |a: Instant, b: Instant| (b - a).as_nanos() as u64;
    for i in 0..CYCLES {
        if i % 2 == 0 {
            let t0 = Instant::now();
            let mut store = p.new_store();
            let t1 = Instant::now();
            let sb = p.instantiate(&mut store)?;
            let t2 = Instant::now();
            let inst = *sb.core().map_err(|e| anyhow!("{e:#}"))?;
            let (t3, t4, t5) = split_turn(&mut store, &inst, &code, &expect)?;
            p.guest.teardown(store, sb);
            let t6 = Instant::now();
            for (k, (a, b)) in [
                (t0, t1),
                (t1, t2),
                (t2, t3),
                (t3, t4),
                (t4, t5),
                (t5, t6),
                (t0, t6),
            ]
            .into_iter()
            .enumerate()
            {
                h[k].saturating_record(ns(a, b));
            }
        } else {
            let t0 = Instant::now();
            let mut store = p.new_store();
            let mut sb = p.instantiate(&mut store)?;
            let t1 = Instant::now();
            p.call(&mut store, &mut sb)
                .map_err(|e| anyhow!("guest call: {e:#}"))?;
            let t2 = Instant::now();
            p.guest.teardown(store, sb);
            let t3 = Instant::now();
            for (k, (a, b)) in [(t0, t1), (t1, t2), (t2, t3), (t0, t3)]
                .into_iter()
                .enumerate()
            {
                prod[k].saturating_record(ns(a, b));
            }
        }
    }
    let _ = writeln!(
        md,
        "\nPhases of a fresh sandbox ({} cycles split finely, {} through the production path, interleaved):\n\n| phase | p50 | p99 | mean |\n|---|---:|---:|---:|",
        CYCLES / 2,
        CYCLES / 2
    );
    let mut phases_json = serde_json::Map::new();
    for (name, hist) in PH.iter().zip(&h) {
        let s = LatencySummary::of(hist);
        row(&mut md, name, &s);
        phases_json.insert((*name).into(), json!(s));
    }
    for (name, hist) in [
        "production path: instantiate (store + instantiate)",
        "production path: call",
        "production path: drop",
        "production path: cycle",
    ]
    .iter()
    .zip(&prod)
    {
        let s = LatencySummary::of(hist);
        row(&mut md, name, &s);
        phases_json.insert((*name).into(), json!(s));
    }

    // 2b. The host's own per-sandbox work, alone (no guest code runs).
    let micro = |f: &mut dyn FnMut()| {
        let mut h = latency::new_histogram();
        for _ in 0..CYCLES {
            let t = Instant::now();
            f();
            h.saturating_record(t.elapsed().as_nanos() as u64);
        }
        LatencySummary::of(&h)
    };
    let mut no_preopen = p.store_spec.clone();
    no_preopen.wasi.preopens.clear();
    let mut bare = p.store_spec.clone();
    bare.wasi_level = pooling_lab::host::WasiLevel::None;
    let mut probe_store = p.new_store();
    let probe = *p
        .instantiate(&mut probe_store)?
        .core()
        .map_err(|e| anyhow!("{e:#}"))?;
    let module = probe.module(&probe_store).clone();
    let idx = ["memory", "host_alloc", "turn"].map(|n| module.get_export_index(n).expect("export"));
    let host_rows: Vec<(&str, LatencySummary)> = vec![
        (
            "Store::new + WASI context + drop",
            micro(&mut || drop(p.new_store())),
        ),
        (
            "the same without the stdlib preopen (openat + close)",
            micro(&mut || drop(pooling_lab::host::new_store(&p.engine, &no_preopen))),
        ),
        (
            "Store::new without WASI + drop",
            micro(&mut || drop(pooling_lab::host::new_store(&p.engine, &bare))),
        ),
        (
            "failed lookup of `_initialize` (absent in a snapshot)",
            micro(&mut || {
                let _ = probe.get_typed_func::<(), ()>(&mut probe_store, "_initialize");
            }),
        ),
        (
            "the same with Instance::get_func (no error made)",
            micro(&mut || {
                let _ = probe.get_func(&mut probe_store, "_initialize");
            }),
        ),
        (
            "lookups of memory, host_alloc, turn by name",
            micro(&mut || {
                let _ = probe.get_memory(&mut probe_store, "memory");
                let _ = probe.get_typed_func::<i32, i32>(&mut probe_store, "host_alloc");
                let _ = probe.get_typed_func::<(i32, i32), i32>(&mut probe_store, "turn");
            }),
        ),
        (
            "the same by index resolved at link time (Module::get_export_index)",
            micro(&mut || {
                let _ = probe
                    .get_module_export(&mut probe_store, &idx[0])
                    .and_then(|e| e.into_memory());
                let _ = probe
                    .get_module_export(&mut probe_store, &idx[1])
                    .and_then(|e| e.into_func())
                    .map(|f| f.typed::<i32, i32>(&probe_store));
                let _ = probe
                    .get_module_export(&mut probe_store, &idx[2])
                    .and_then(|e| e.into_func())
                    .map(|f| f.typed::<(i32, i32), i32>(&probe_store));
            }),
        ),
    ];
    drop(probe_store);
    let _ = writeln!(
        md,
        "\nThe host's own work per sandbox, alone ({CYCLES} each, no guest code):\n\n| step | p50 | p99 | mean |\n|---|---:|---:|---:|"
    );
    let mut host_json = serde_json::Map::new();
    for (name, s) in &host_rows {
        row(&mut md, name, s);
        host_json.insert((*name).into(), json!(s));
    }

    // 3. Inside the turn.
    let wrapped = format!(
        "import time as _t\n_src = {code:?}\n_a = _t.perf_counter_ns()\n_c = compile(_src, '<request>', 'exec')\n_b = _t.perf_counter_ns()\nexec(_c)\n_e = _t.perf_counter_ns()\nprint('TIMES', _b - _a, _e - _b)\n"
    );
    let mut inside = serde_json::Map::new();
    let _ = writeln!(
        md,
        "\nInside the turn (fresh sandboxes, {} each):\n\n| request | call p50 | call p99 |\n|---|---:|---:|",
        CYCLES / 4
    );
    for (name, c, e) in [
        ("`pass`", "pass", ""),
        ("the request", code.as_str(), expect.as_str()),
        ("the request, timed by the guest", wrapped.as_str(), "TIMES"),
    ] {
        let q = prepared(v, cache, c, e)?;
        for _ in 0..WARMUP / 2 {
            fresh_cycle(&q)?;
        }
        let mut hc = latency::new_histogram();
        let (mut hcomp, mut hexec) = (latency::new_histogram(), latency::new_histogram());
        for _ in 0..CYCLES / 4 {
            let mut store = q.new_store();
            let mut sb = q.instantiate(&mut store)?;
            // The call's checks take its stdout; a transcript keeps a copy
            // of it (made only for the TIMES run, whose timing is the guest's).
            if e == "TIMES" {
                store.data_mut().transcript = Some(Vec::new());
            }
            let t = Instant::now();
            q.call(&mut store, &mut sb)
                .map_err(|e| anyhow!("guest call: {e:#}"))?;
            hc.saturating_record(t.elapsed().as_nanos() as u64);
            if e == "TIMES" {
                let out = store
                    .data_mut()
                    .transcript
                    .take()
                    .and_then(|t| t.into_iter().last())
                    .map(|(_, bytes)| bytes)
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&out);
                let line = text
                    .lines()
                    .find(|l| l.starts_with("TIMES"))
                    .context("no TIMES line")?;
                let f: Vec<u64> = line
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                hcomp.saturating_record(f[0]);
                hexec.saturating_record(f[1]);
            }
            q.guest.teardown(store, sb);
        }
        let s = LatencySummary::of(&hc);
        let _ = writeln!(
            md,
            "| {name} | {} | {} |",
            duration(s.p50_ns as f64),
            duration(s.p99_ns as f64)
        );
        inside.insert(name.into(), json!(s));
        if e == "TIMES" {
            let (a, b) = (LatencySummary::of(&hcomp), LatencySummary::of(&hexec));
            let _ = writeln!(
                md,
                "| ... in the guest: `compile()` of the request | {} | {} |\n| ... in the guest: `exec()` of it | {} | {} |",
                duration(a.p50_ns as f64),
                duration(a.p99_ns as f64),
                duration(b.p50_ns as f64),
                duration(b.p99_ns as f64)
            );
            inside.insert("guest compile()".into(), json!(a));
            inside.insert("guest exec()".into(), json!(b));
        }
    }

    // 4. Faults per phase and region.
    let trace = MajorFaultTrace::open_minor().map_err(|e| anyhow!("perf_event_open: {e}"))?;
    let engine_maps: Vec<&Mapping> = maps_engine
        .iter()
        .filter(|m| !maps_before.contains(m))
        .collect();
    let pool = v.pooling.clone();
    let d = wasmtime::PoolingAllocationConfig::default();
    let table_bytes = u64::from(pool.total_tables.unwrap_or(d.get_total_tables()))
        * (pool.table_elements.unwrap_or(d.get_table_elements()) as u64 * 8).next_multiple_of(4096);
    // The table pool is the read-write anonymous mapping of exactly its size
    // the engine made; if the kernel merged it with a neighbour, the
    // read-write anonymous mappings new with the engine (the memory pool is
    // made inaccessible, and stacks are only pooled for async calls).
    let exact = engine_maps
        .iter()
        .find(|m| m.end - m.start == table_bytes && m.perms.starts_with("rw"));
    let table_ranges: Vec<(u64, u64)> = match exact {
        Some(m) => vec![(m.start, m.end)],
        None => engine_maps
            .iter()
            .filter(|m| m.perms.starts_with("rw") && m.path.is_empty())
            .map(|m| (m.start, m.end))
            .collect(),
    };
    let e = &p.engine;
    let slot = e.get_memory_reservation().max(
        pool.max_memory_size
            .map_or(d.get_max_memory_size() as u64, |b| b.0),
    ) + e.get_memory_guard_size();
    let slots = u64::from(pool.total_memories.unwrap_or(d.get_total_memories()));
    let mut counts: BTreeMap<(usize, String), u64> = BTreeMap::new();
    let mut rusage = [0u64; 3];
    let phase_names = ["instantiate (store + instantiate)", "call", "drop"];
    for _ in 0..FAULT_CYCLES {
        let mut samples: [Vec<u64>; 3] = Default::default();
        let u0 = ThreadUsage::now();
        trace.enable();
        let mut store = p.new_store();
        let mut sb = p.instantiate(&mut store)?;
        trace.disable();
        let u1 = ThreadUsage::now();
        samples[0] = trace.drain().0.iter().map(|s| s.addr).collect();
        let inst = *sb.core().map_err(|e| anyhow!("{e:#}"))?;
        let u2 = ThreadUsage::now();
        trace.enable();
        p.call(&mut store, &mut sb)
            .map_err(|e| anyhow!("guest call: {e:#}"))?;
        trace.disable();
        let u3 = ThreadUsage::now();
        samples[1] = trace.drain().0.iter().map(|s| s.addr).collect();
        let mem = inst
            .get_memory(&mut store, "memory")
            .context("no memory export")?;
        let (lo, hi) = (
            mem.data_ptr(&store) as u64,
            mem.data_ptr(&store) as u64 + mem.data_size(&store) as u64,
        );
        // The module's initial memory is the snapshot's image; above it is
        // memory the request grew (fresh zero pages).
        let image_end = lo + mem.ty(&store).minimum() * mem.page_size(&store);
        let u4 = ThreadUsage::now();
        trace.enable();
        p.guest.teardown(store, sb);
        trace.disable();
        let u5 = ThreadUsage::now();
        samples[2] = trace.drain().0.iter().map(|s| s.addr).collect();
        for (k, (a, b)) in [(u0, u1), (u2, u3), (u4, u5)].iter().enumerate() {
            rusage[k] += b.since(a).minor_faults;
        }
        let maps = parse_maps(&std::fs::read_to_string("/proc/self/maps")?);
        for (k, addrs) in samples.iter().enumerate() {
            for &a in addrs {
                let region = if a >= lo && a < hi.min(image_end) {
                    "linear memory, the initial image (this sandbox)".to_string()
                } else if a >= image_end && a < hi {
                    "linear memory, grown above the image (this sandbox)".to_string()
                } else if v.is_pooling()
                    && a.abs_diff(lo) < slots * slot
                    && (a.wrapping_sub(lo) % slot) < (1 << 30)
                {
                    "memory pool, another slot (GC heap)".to_string()
                } else if table_ranges.iter().any(|&(s, e)| a >= s && a < e) {
                    "table pool".to_string()
                } else {
                    match maps.iter().find(|m| a >= m.start && a < m.end) {
                        Some(m) if m.path.is_empty() => {
                            format!("anonymous {} ({})", mib((m.end - m.start) as f64), m.perms)
                        }
                        Some(m) => pooling_lab::measure::faults::mapping_label(m),
                        None => "unmapped".to_string(),
                    }
                };
                *counts.entry((k, region)).or_default() += 1;
            }
        }
    }
    let n = FAULT_CYCLES as f64;
    let _ = writeln!(
        md,
        "\nMinor faults per fresh sandbox, by phase and where they landed ({FAULT_CYCLES} cycles, perf samples of user-space faults):\n\n| phase | region | faults / cycle |\n|---|---|---:|"
    );
    let mut faults_json = Vec::new();
    for (k, ph) in phase_names.iter().enumerate() {
        let sampled: u64 = counts
            .iter()
            .filter(|((p, _), _)| *p == k)
            .map(|(_, c)| c)
            .sum();
        for ((_, region), c) in counts.iter().filter(|((p, _), _)| *p == k) {
            let _ = writeln!(md, "| {ph} | {region} | {:.1} |", *c as f64 / n);
            faults_json.push(json!({"phase": ph, "region": region, "per_cycle": *c as f64 / n}));
        }
        let _ = writeln!(
            md,
            "| {ph} | **all (getrusage)**; not sampled: {:.1} | **{:.1}** |",
            (rusage[k] as f64 - sampled as f64) / n,
            rusage[k] as f64 / n
        );
        faults_json.push(
            json!({"phase": ph, "region": "all (getrusage)", "per_cycle": rusage[k] as f64 / n}),
        );
    }
    md.push('\n');
    Ok((
        md,
        json!({
            "name": v.name,
            "memory": mem_json,
            "phases": phases_json,
            "host_work": host_json,
            "inside_turn": inside,
            "faults": faults_json,
        }),
    ))
}

/// The Python guest's call split at its host-side steps (what
/// `guest::python::turn` does): lookups, `host_alloc`, the source written
/// into guest memory, then `turn`, then the output check. Returns the clock
/// after each of the three parts.
fn split_turn(
    store: &mut wasmtime::Store<pooling_lab::host::Host>,
    instance: &wasmtime::Instance,
    code: &str,
    expect: &str,
) -> Result<(Instant, Instant, Instant)> {
    let e = |e: wasmtime::Error| anyhow!("{e:#}");
    // As `guest::python::turn` does on a store's first call: `_initialize`,
    // if the module still has it (a preinit snapshot does not).
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut *store, "_initialize") {
        init.call(&mut *store, ()).map_err(e)?;
    }
    let memory = instance
        .get_memory(&mut *store, "memory")
        .context("no memory")?;
    let alloc = instance
        .get_typed_func::<i32, i32>(&mut *store, "host_alloc")
        .map_err(e)?;
    let ptr = alloc.call(&mut *store, code.len() as i32).map_err(e)?;
    memory
        .write(&mut *store, ptr as u32 as usize, code.as_bytes())
        .map_err(|x| anyhow!("{x}"))?;
    let turn = instance
        .get_typed_func::<(i32, i32), i32>(&mut *store, "turn")
        .map_err(e)?;
    let t3 = Instant::now();
    let rc = turn
        .call(&mut *store, (ptr, code.len() as i32))
        .map_err(e)?;
    let t4 = Instant::now();
    let mut want = pooling_lab::guest::check::Outputs::default();
    want.stdout.contains = expect.to_string();
    pooling_lab::guest::check::output(store, rc, "turn", &want).map_err(e)?;
    let t5 = Instant::now();
    Ok((t3, t4, t5))
}

fn row(md: &mut String, name: &str, s: &LatencySummary) {
    let _ = writeln!(
        md,
        "| {name} | {} | {} | {} |",
        duration(s.p50_ns as f64),
        duration(s.p99_ns as f64),
        duration(s.mean_ns)
    );
}
