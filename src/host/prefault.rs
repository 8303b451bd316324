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

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(len: usize) -> *mut u8 {
        // SAFETY: a fresh private anonymous mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        p.cast()
    }

    #[test]
    fn a_range_is_populated_once_and_grown_from_where_it_stopped() {
        let page = page_size();
        let base = mapping(8 * page);
        let p = Prefaulter::new();
        assert_eq!(p.all(base, 3 * page).unwrap(), Populated::Now(3 * page));
        assert_eq!(p.all(base, 3 * page).unwrap(), Populated::NotDue);
        assert_eq!(p.all(base, 2 * page + 1).unwrap(), Populated::NotDue);
        assert_eq!(p.all(base, 5 * page - 7).unwrap(), Populated::Now(2 * page));
        // SAFETY: unmapping what `mapping` made.
        unsafe { libc::munmap(base.cast(), 8 * page) };
    }

    #[test]
    fn populating_changes_no_byte() {
        let page = page_size();
        let base = mapping(4 * page);
        // SAFETY: within the mapping.
        unsafe { base.add(page).write(7) };
        Prefaulter::new().all(base, 4 * page).unwrap();
        // SAFETY: within the mapping.
        let bytes = unsafe { std::slice::from_raw_parts(base, 4 * page) };
        assert_eq!(bytes.iter().filter(|b| **b != 0).count(), 1);
        assert_eq!(bytes[page], 7);
        // SAFETY: unmapping what `mapping` made.
        unsafe { libc::munmap(base.cast(), 4 * page) };
    }
}
