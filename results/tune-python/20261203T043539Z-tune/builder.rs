// The tuned settings of `snapshot/snapshot=after-warmup` as wasmtime 50.0.1 builder calls: the Config that
// pooling_lab::tune::load_tuned builds from tuned.toml. Made by `pooling-lab export`.
//
//     let engine = wasmtime::Engine::new(&tuned_config())?;

/// The tuned `wasmtime::Config`.
pub fn tuned_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.max_wasm_stack(8_388_608); // 8MiB
    config.async_stack_size(9_437_184); // 9MiB
    config.gc_heap_initial_size(65_536); // 64KiB
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(48);
    pool.total_memories(96);
    pool.total_tables(48);
    pool.total_gc_heaps(48);
    pool.max_memory_size(1_073_741_824); // 1GiB
    pool.table_elements(65_536);
    pool.max_core_instance_size(4_194_304); // 4MiB
    pool.linear_memory_keep_resident(41_943_040); // 40MiB
    pool.table_keep_resident(524_288); // 512KiB
    pool.pagemap_scan(wasmtime::Enabled::Yes);
    config.allocation_strategy(pool);
    config
}

// [guest] prefault = "untouched": not a `Config` setting; the embedder does it (needs
// the `libc` crate). One `prefault::Prefaulter::new()` per engine, shared by its
// sandboxes; call it right before dropping each core sandbox's store:
//     prefaulter.untouched(memory.data_ptr(&store), memory.data_size(&store))?;
pub mod pagemap {
    //! Linux's `PAGEMAP_SCAN` ioctl (6.7+) on `/proc/self/pagemap`: which pages
    //! of a range have which page-table categories. wasmtime's pooling allocator
    //! resets slots with it (`pagemap_scan`); pooling-lab reads it to see what a
    //! reset will do (pooling-lab's `measure::dirty`) and to find the pages wasmtime
    //! 50's reset would rewrite without cause ([`super::prefault`]). Needs only
    //! `std` and `libc` (`pooling-lab export` copies it into `builder.rs`).
    //!
    //! The ioctl only reads page tables: it asks for no write-protection here and
    //! changes no page state.

    /// `PAGE_IS_WRITTEN`: written, to the kernel. Without userfaultfd
    /// write-protection on the VMA this is every page, never-touched ones in an
    /// existing page table included.
    pub const WRITTEN: u64 = 1 << 1;
    /// `PAGE_IS_FILE`: mapped from a file (the copy-on-write image, unwritten).
    pub const FILE: u64 = 1 << 2;
    /// `PAGE_IS_PRESENT`: in memory.
    pub const PRESENT: u64 = 1 << 3;
    /// `PAGE_IS_PFNZERO`: the shared zero page (read, never written).
    pub const PFNZERO: u64 = 1 << 5;

    /// `struct pm_scan_arg` of `<linux/fs.h>`.
    #[repr(C)]
    struct PmScanArg {
        size: u64,
        flags: u64,
        start: u64,
        end: u64,
        walk_end: u64,
        vec: u64,
        vec_len: u64,
        max_pages: u64,
        category_inverted: u64,
        category_mask: u64,
        category_anyof_mask: u64,
        return_mask: u64,
    }

    /// `struct page_region` of `<linux/fs.h>`.
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct PageRegion {
        start: u64,
        end: u64,
        categories: u64,
    }

    /// `_IOWR('f', 16, struct pm_scan_arg)`.
    const PAGEMAP_SCAN: u64 = (3 << 30) | ((size_of::<PmScanArg>() as u64) << 16) | (0x66 << 8) | 16;
    /// Regions asked for per ioctl; the scan resumes from `walk_end` until the
    /// range is covered, so this bounds only the stack buffer.
    pub const BATCH: usize = 256;

    /// The regions of `[start, start + len)` of this process whose pages have
    /// every category in `mask`, after flipping those in `inverted` (the
    /// kernel's `category_inverted` / `category_mask`): `inverted = FILE`,
    /// `mask = WRITTEN | FILE` asks for written pages that are not file-backed.
    /// Adjacent pages form one `(start, end)` region; unmapped pages are never
    /// reported.
    pub fn scan(
        start: usize,
        len: usize,
        inverted: u64,
        mask: u64,
    ) -> std::io::Result<Vec<(u64, u64)>> {
        use std::os::fd::AsRawFd;
        let pagemap = std::fs::File::open("/proc/self/pagemap")?;
        let end = (start as u64).saturating_add(len as u64);
        let mut cursor = start as u64;
        let mut out = Vec::new();
        let mut buf = [PageRegion::default(); BATCH];
        loop {
            let mut arg = PmScanArg {
                size: size_of::<PmScanArg>() as u64,
                flags: 0,
                start: cursor,
                end,
                walk_end: 0,
                vec: buf.as_mut_ptr() as u64,
                vec_len: BATCH as u64,
                max_pages: 0,
                category_inverted: inverted,
                category_mask: mask,
                category_anyof_mask: 0,
                return_mask: 0,
            };
            // SAFETY: `arg` and `buf` live across the call and `vec_len` is the
            // buffer's length; the ioctl writes at most that many regions and
            // reads only page-table state.
            let n = unsafe { libc::ioctl(pagemap.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            out.extend(buf[..n as usize].iter().map(|r| (r.start, r.end)));
            if arg.walk_end <= cursor || arg.walk_end >= end {
                break;
            }
            cursor = arg.walk_end;
        }
        // A region cut by a batch boundary continues in the next batch.
        Ok(merge(out))
    }

    /// Joins adjacent `(start, end)` ranges (sorted by start).
    pub fn merge(ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match out.last_mut() {
                Some(last) if last.1 == a => last.1 = b,
                _ => out.push((a, b)),
            }
        }
        out
    }
}

pub mod prefault {
    //! Read-populating a sandbox's untouched linear-memory pages (`[guest]
    //! prefault`), so that wasmtime 50's `PAGEMAP_SCAN` reset sees only the
    //! pages a guest wrote.
    //!
    //! wasmtime 50.0.1's `reset_with_pagemap` asks the kernel for pages that are
    //! "written" and neither the zero page nor file-backed, and it dropped the
    //! "present" condition that wasmtime 48 had (so that swapped-out dirty pages
    //! are reset too). The kernel calls every page of a VMA without userfaultfd
    //! write-protection "written", including pages never touched (`pte_none`) in
    //! a page table that exists. The reset therefore treats the untouched pages
    //! of every 2 MiB a guest touched as dirty: it copies the image (or zeros)
    //! into each of them, up to `linear_memory_keep_resident`, on every drop, and
    //! they stay resident as private pages, so every later reset copies them
    //! again: a CPython request that changes ~190 pages pays for ~3,800
    //! (`results/README.md`, "48.0.8 → 50.0.1").
    //!
    //! An embedder can avoid it without patching wasmtime: `MADV_POPULATE_READ`
    //! maps an untouched page read-only (the image's file page, or the shared
    //! zero page beyond it), which the scan skips. It changes no byte the guest
    //! can see, so freshness is untouched: it only decides which pages the next
    //! reset visits. A page the guest then writes faults copy-on-write exactly as
    //! an untouched one would, and stays resident through the reset like any
    //! written page. Two ways, both per pooling slot (memory base):
    //!
    //! * [`Prefaulter::all`], after instantiation: the whole accessible memory,
    //!   once per slot. Simple, but every reset then walks a fully populated
    //!   memory.
    //! * [`Prefaulter::untouched`], before the drop: only the pages the reset
    //!   would take for written (not present, in an existing page table), when
    //!   due: on a slot's 1st, 2nd, 4th, ... drop, again at the next drop after
    //!   one that found some, at least every [`MAX_CHECK_INTERVAL`] drops.
    //!
    //! A page the reset polluted before a check (a guest that reached a new
    //! 2 MiB between checks, or pages wasmtime decommitted past its budget)
    //! falls back to the plain 50.0.1 behaviour; nothing becomes incorrect.
    //!
    //! This file and `pagemap.rs` need only `std` and `libc`: `pooling-lab
    //! export` copies both into `builder.rs` for embedders.

    use super::pagemap;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Populates sandbox memories read-only, per pooling slot (memory base).
    #[derive(Debug, Default)]
    pub struct Prefaulter {
        /// `all`: memory base -> bytes populated from it.
        populated: Mutex<HashMap<usize, usize>>,
        /// `untouched`: memory base -> (drops seen, the drop that checks next).
        checks: Mutex<HashMap<usize, (u64, u64)>>,
    }

    /// What one call of a [`Prefaulter`] did.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Populated {
        /// Nothing was due: the slot was populated or checked recently.
        NotDue,
        /// These bytes were populated now.
        Now(usize),
    }

    /// Untouched pages are looked for on a slot's 1st, 2nd, 4th, 8th, ... drop,
    /// every drop again after one that found some, and at least every this
    /// many drops.
    pub const MAX_CHECK_INTERVAL: u64 = 256;

    impl Prefaulter {
        /// A prefaulter that has populated nothing.
        pub fn new() -> Self {
            Self::default()
        }

        /// `prefault = "all"`, right after instantiation: read-populates
        /// `[base, base + len)` past what was populated at `base` before.
        /// `base` must be page aligned (a linear memory's base is) and the range
        /// mapped readable.
        pub fn all(&self, base: *mut u8, len: usize) -> std::io::Result<Populated> {
            let page = page_size();
            let len = len.div_ceil(page) * page;
            let mut done = self.populated.lock().unwrap_or_else(|e| e.into_inner());
            let from = done.get(&(base as usize)).copied().unwrap_or(0);
            if len <= from {
                return Ok(Populated::NotDue);
            }
            populate(base as usize + from, len - from)?;
            done.insert(base as usize, len);
            Ok(Populated::Now(len - from))
        }

        /// `prefault = "untouched"`, right before the sandbox is dropped (its
        /// slot then reset): when due for this slot, read-populates exactly the
        /// pages of `[base, base + len)` a wasmtime 50 reset would take for
        /// written although nothing is there: not present, and in a page table
        /// that exists (the guest touched its 2 MiB). The range must be mapped
        /// readable; one sandbox at a time uses a slot.
        pub fn untouched(&self, base: *mut u8, len: usize) -> std::io::Result<Populated> {
            {
                let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
                let (seen, due) = checks.entry(base as usize).or_insert((0, 1));
                *seen += 1;
                if *seen < *due {
                    return Ok(Populated::NotDue);
                }
                *due = *seen + (*seen).min(MAX_CHECK_INTERVAL);
            }
            use pagemap::{FILE, PFNZERO, PRESENT, WRITTEN};
            let regions = pagemap::scan(
                base as usize,
                len,
                PFNZERO | FILE | PRESENT,
                WRITTEN | PFNZERO | FILE | PRESENT,
            )?;
            let mut bytes = 0;
            for (a, b) in regions {
                populate(a as usize, (b - a) as usize)?;
                bytes += (b - a) as usize;
            }
            if bytes > 0 {
                // The guest reached new page tables: look again at the next drop.
                if let Some((seen, due)) = self
                    .checks
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(&(base as usize))
                {
                    *due = *seen + 1;
                }
            }
            Ok(Populated::Now(bytes))
        }
    }

    /// `MADV_POPULATE_READ` over `[start, start + len)`.
    fn populate(start: usize, len: usize) -> std::io::Result<()> {
        // SAFETY: MADV_POPULATE_READ only faults pages in for reading; it
        // changes no contents and no protection, and the range is mapped
        // (the callers' contract). A failure is reported, not undefined.
        let rc = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_READ) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 { p as usize } else { 4096 }
    }
}

// [guest] snapshot = "after-warmup": every sandbox starts from a wasmtime-wizer snapshot.
//   Reproduce it (built as measured, checked against the un-snapshotted guest):
//     pooling-lab snapshot tuned.toml --out guest.snapshot.wasm
//   and load guest.snapshot.wasm instead of the guest. `wasmtime wizer` cannot express
//   it: it runs `_initialize` before its nullary --init-func (a Go or wasi-libc reactor
//   refuses a second `_initialize`), and cannot pass init arguments, run preinit code
//   or a warm-up. Whatever init read from random_get and the clocks is the same in every
//   sandbox: the snapshot command lists it.
