//! Which pages a pooled slot keeps after its reset, against the pages its
//! sandbox touched: `cargo run --release --example kept_pages --
//! CONFIG.toml` on a config whose first variant is a pooled guest (load =
//! "compile": the memory image is then the memfd wasmtime makes). It runs
//! one sandbox (instantiate, call), reads `/proc/self/pagemap` over the
//! slot's linear memory (the memfd image mapping and the `below` bytes
//! before it), tears the sandbox down (the slot's reset), reads it again,
//! and prints, for each of a few rounds in the same slot: pages not
//! present, anonymous (written by this process) and file-backed (the
//! image's pages, read), the thread's minor faults in each step, and
//! wasmtime's own count of the slot's resident bytes.
//!
//! A reset that keeps only what the sandbox wrote leaves the anonymous
//! count where the call left it and takes no fault; every page the reset
//! writes that the sandbox never touched costs a fault in the teardown.

use anyhow::{Context, Result, bail};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The calling thread's minor faults so far.
fn faults() -> u64 {
    pooling_lab::measure::faults::ThreadUsage::now().minor_faults
}

/// Pages of the slot: (not present, anonymous, file-backed), from
/// `/proc/self/pagemap` (bit 63 present, bit 61 file page or shared anon)
/// over the memfd image mapping and the `below` bytes before it.
fn slot_pages(below: u64) -> Result<(u64, u64, u64)> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let Some(line) = maps.lines().find(|l| l.contains("memfd:wasm-memory-image")) else {
        bail!("no memfd image mapping: use a pooled variant with load = \"compile\"");
    };
    let range = line.split_whitespace().next().unwrap_or_default();
    let (a, b) = range
        .split_once('-')
        .context("a maps line without a range")?;
    let start = u64::from_str_radix(a, 16)?.saturating_sub(below);
    let end = u64::from_str_radix(b, 16)?;
    let mut f = std::fs::File::open("/proc/self/pagemap")?;
    f.seek(SeekFrom::Start(start / 4096 * 8))?;
    let mut buf = vec![0u8; ((end - start) / 4096 * 8) as usize];
    f.read_exact(&mut buf)?;
    let (mut none, mut anon, mut file) = (0, 0, 0);
    for c in buf.chunks_exact(8) {
        let e = u64::from_le_bytes(c.try_into()?);
        match (e >> 63 & 1 == 1, e >> 61 & 1 == 1) {
            (false, _) => none += 1,
            (true, true) => file += 1,
            (true, false) => anon += 1,
        }
    }
    Ok((none, anon, file))
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: kept_pages CONFIG.toml [BELOW_KIB]")?;
    // Linear memory before the image (e.g. the guest's stack): 960 KiB for
    // the componentize-py python-http component.
    let below: u64 = args.next().map_or(Ok(960), |s| s.parse())? << 10;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let exp = pooling_lab::scenario::parse(Path::new(&path), &text)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let v = exp.variants.first().context("no variant")?;
    let engine = pooling_lab::guest::engine(v)?;
    let p = pooling_lab::guest::prepare(engine, v, None)?;
    println!("variant {}", v.name);
    for round in 0..5 {
        if round == 3 {
            println!(
                "release_idle_pool_memory: {} bytes",
                p.engine.release_idle_pool_memory()
            );
        }
        let f0 = faults();
        let mut store = p.new_store();
        let mut sandbox = p.instantiate(&mut store)?;
        let f1 = faults();
        p.call(&mut store, &mut sandbox)
            .map_err(|e| anyhow::anyhow!("call: {e:#}"))?;
        let f2 = faults();
        let before = slot_pages(below)?;
        p.teardown(store, sandbox);
        let f3 = faults();
        let after = slot_pages(below)?;
        let resident = p
            .engine
            .pooling_allocator_metrics()
            .map_or(0, |m| m.unused_memory_bytes_resident());
        println!(
            "round {round}: faults instantiate {} call {} teardown {}; pages (not present, anonymous, file) before the reset {before:?}, after {after:?}; wasmtime: {resident} bytes resident in warm slots",
            f1 - f0,
            f2 - f1,
            f3 - f2
        );
    }
    Ok(())
}
