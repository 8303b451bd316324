//! The dirty page regions a request leaves in a sandbox's linear memory, read
//! with Linux's `PAGEMAP_SCAN` ioctl (6.7+) the way wasmtime's own reset reads
//! them, so that what the reset will do can be seen without reading wasmtime.
//!
//! wasmtime's pooling allocator, with `pagemap_scan` on, resets a slot by
//! asking the kernel for the pages that were written and are neither the zero
//! page nor file-backed (the copy-on-write image): those are the pages the
//! request dirtied. It resets them in place while `linear_memory_keep_resident`
//! lasts and decommits the rest, so the next sandbox faults them in again.
//! How far one reset gets depends on the release:
//!
//! * up to wasmtime 49 the scan collects at most 32 regions (disjoint runs of
//!   dirty pages) and decommits everything past the 32nd, however much of the
//!   keep-resident budget is left ([`reset_region_limit`]);
//! * wasmtime 50 resumes the scan until the budget is spent.
//!
//! [`scan`] counts the regions and pages. It is read-only: it asks for no
//! write-protection and changes no page state, so a scan between a call and
//! the sandbox's drop does not change what wasmtime's reset then sees. It
//! belongs outside every timed region (it walks the page tables).

use crate::host::pagemap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What one request left in a linear memory (see [`Before`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct DirtyScan {
    /// Disjoint runs of pages this request wrote: pages that became dirty
    /// during the call, and dirty pages whose contents the call changed
    /// (a page rewritten with the bytes it held is not counted).
    pub written_regions: u64,
    /// Pages this request wrote.
    pub written_pages: u64,
    /// Disjoint runs of dirty pages after the call: written, present,
    /// neither the zero page nor file-backed (what wasmtime up to 49 scans
    /// for): the request's writes plus pages kept resident before it.
    pub regions: u64,
    /// Dirty pages after the call.
    pub pages: u64,
    /// Regions as wasmtime 50's reset scans them: written whether present or
    /// not. The kernel calls every page of a VMA without userfaultfd
    /// write-protection "written", including never-touched (`pte_none`)
    /// pages in a page table that exists, so this is a superset of `regions`.
    pub reset_regions: u64,
    /// Pages as wasmtime 50's reset scans them (see `reset_regions`).
    pub reset_pages: u64,
}

/// A linear memory's dirty pages and their bytes, read right before a call:
/// [`Before::after_call`] then tells the pages the call wrote from the pages
/// that were dirty already (kept resident from an earlier sandbox).
pub struct Before {
    start: u64,
    len: u64,
    regions: Vec<(u64, u64)>,
    bytes: Vec<u8>,
}

impl Before {
    /// Reads the dirty pages of `[start, start + len)` and copies them.
    ///
    /// # Safety
    /// `[start, start + len)` must be readable memory of this process (a
    /// live sandbox's linear memory) until [`Before::after_call`] returns.
    pub unsafe fn read(start: usize, len: usize) -> std::io::Result<Before> {
        let regions = regions(start, len, true)?;
        let mut bytes = Vec::new();
        for &(a, b) in &regions {
            // SAFETY: a reported dirty page lies inside the range, which the
            // caller guarantees readable.
            bytes.extend_from_slice(unsafe {
                std::slice::from_raw_parts(a as *const u8, (b - a) as usize)
            });
        }
        Ok(Before {
            start: start as u64,
            len: len as u64,
            regions,
            bytes,
        })
    }

    /// What the call since [`Before::read`] left, in the same memory, given
    /// its base and length now (it may have grown). A memory the call moved
    /// (on-demand growth with `memory_may_move`) is an error: its old pages
    /// are gone, so nothing can be compared.
    ///
    /// # Safety
    /// As for [`Before::read`], for `[start, start + len)`.
    pub unsafe fn after_call(&self, start: usize, len: usize) -> std::io::Result<DirtyScan> {
        if start as u64 != self.start {
            return Err(std::io::Error::other(
                "the call moved the linear memory (grown with memory_may_move)",
            ));
        }
        let len = len.max(self.len as usize);
        let now = regions(start, len, true)?;
        // What the linked wasmtime's reset asks for (50.0.0-50.0.2: written
        // whether present or not; 50.0.3 on: present or swapped, which is
        // `present` on a machine without swap).
        let reset = regions(
            start,
            len,
            !reset_scans_untouched_pages(env!("POOLING_LAB_WASMTIME_VERSION")),
        )?;
        let page = page_size();
        let mut written = Vec::new();
        for &(a, b) in &now {
            let mut p = a;
            while p < b {
                if self.changed(p, page) {
                    written.push((p, p + page));
                }
                p += page;
            }
        }
        let written = pagemap::merge(written);
        let count = |rs: &[(u64, u64)]| {
            (
                rs.len() as u64,
                rs.iter().map(|(a, b)| (b - a) / page).sum(),
            )
        };
        let (written_regions, written_pages) = count(&written);
        let (regions, pages) = count(&now);
        let (reset_regions, reset_pages) = count(&reset);
        Ok(DirtyScan {
            written_regions,
            written_pages,
            regions,
            pages,
            reset_regions,
            reset_pages,
        })
    }

    /// Whether the dirty page at `p` was not dirty before, or holds other bytes.
    fn changed(&self, p: u64, page: u64) -> bool {
        let mut offset = 0;
        for &(a, b) in &self.regions {
            if (a..b).contains(&p) {
                let at = (offset + (p - a)) as usize;
                let old = &self.bytes[at..at + page as usize];
                // SAFETY: `p` is a dirty page of the range (see `after_call`).
                let new = unsafe { std::slice::from_raw_parts(p as *const u8, page as usize) };
                return old != new;
            }
            offset += b - a;
        }
        true
    }
}

/// Whether this kernel has `PAGEMAP_SCAN` (Linux 6.7+); the error says why not.
pub fn available() -> std::io::Result<()> {
    regions(0, 0, true).map(|_| ())
}

/// The dirty regions in `[start, start + len)` of this process, with the
/// categories wasmtime's reset uses: written, not the zero page, not
/// file-backed, and with `present` also present (wasmtime up to 49; without
/// it, what wasmtime 50 asks for). Adjacent pages form one region. The ioctl
/// only reads page tables; unmapped pages are not reported.
fn regions(start: usize, len: usize, present: bool) -> std::io::Result<Vec<(u64, u64)>> {
    use pagemap::{FILE, PFNZERO, PRESENT, WRITTEN};
    if let Some(e) = crate::testing::hidden(crate::testing::NO_PAGEMAP_SCAN, "PAGEMAP_SCAN") {
        return Err(e);
    }
    let present = if present { PRESENT } else { 0 };
    pagemap::scan(
        start,
        len,
        PFNZERO | FILE,
        WRITTEN | PFNZERO | FILE | present,
    )
}

/// The host page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

/// How many dirty regions one reset of a pooled linear memory handles with
/// `pagemap_scan` on in wasmtime `version`, before it decommits the rest of
/// the memory: `Some(32)` up to wasmtime 49 (`MAX_REGIONS` in
/// `runtime/vm/sys/unix/pagemap.rs`, one ioctl per reset), `None` from 50 on
/// (the scan resumes until the keep-resident budget is spent). An unparsable
/// version gives `None`: no warning is better than a wrong one.
pub fn reset_region_limit(wasmtime_version: &str) -> Option<u64> {
    let major: u64 = wasmtime_version.split('.').next()?.trim().parse().ok()?;
    (major < 50).then_some(32)
}

/// The warning for a guest that leaves more dirty regions than one reset of
/// wasmtime `version` handles, or `None`.
pub fn region_warning(wasmtime_version: &str, regions: u64) -> Option<String> {
    let limit = reset_region_limit(wasmtime_version)?;
    (regions > limit).then(|| {
        format!(
            "this guest leaves {regions} disjoint dirty regions; wasmtime {wasmtime_version}'s \
             PAGEMAP_SCAN reset stops at {limit} and decommits the rest, so every fresh sandbox \
             faults those pages in again (wasmtime 50 resumes the scan)"
        )
    })
}

/// The warning for a guest that dirties more than the keep-resident budget
/// (with `pagemap_scan` on): the pages past it are decommitted at every reset.
pub fn budget_warning(dirty_bytes: u64, keep_resident: u64) -> Option<String> {
    (keep_resident > 0 && dirty_bytes > keep_resident).then(|| {
        format!(
            "a request dirties {} KiB, more than linear_memory_keep_resident ({} KiB): \
             the rest is decommitted at every reset and faults in again",
            dirty_bytes / 1024,
            keep_resident / 1024
        )
    })
}

/// What the reset of a churn variant's slots faced, from sampled cycles
/// (after the timed ones, untimed): the pages each request wrote, the dirty
/// pages in the sandbox's linear memory right after its call (its writes
/// plus the pages kept resident from earlier sandboxes in the slot: what the
/// next reset scans), and the pages wasmtime 50's scan calls dirty.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct DirtyRegions {
    /// Cycles scanned.
    pub samples: u32,
    /// Median disjoint runs of pages a request wrote.
    pub written_regions_median: u64,
    /// Most runs one request wrote.
    pub written_regions_max: u64,
    /// Median pages a request wrote.
    pub written_pages_median: u64,
    /// Most pages one request wrote.
    pub written_pages_max: u64,
    /// Median dirty regions after the call.
    pub regions_median: u64,
    /// Median dirty pages after the call.
    pub pages_median: u64,
    /// Median pages wasmtime 50's reset scans as dirty (written, present or
    /// not: see [`DirtyScan::reset_pages`]).
    pub reset_pages_median: u64,
    /// Most such pages in one sample.
    pub reset_pages_max: u64,
    /// Host page size (bytes).
    pub page_size: u64,
    /// The wasmtime release whose reset these pages meet.
    pub wasmtime_version: String,
    /// Whether the variant's slots are reset by `PAGEMAP_SCAN` (pooling, with
    /// `pagemap_scan` yes, or auto on a kernel that has it).
    pub reset_by_scan: bool,
    /// The variant's `linear_memory_keep_resident` (0 on-demand).
    pub keep_resident_bytes: u64,
    /// Why nothing could be scanned (no `PAGEMAP_SCAN`, a component guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl DirtyRegions {
    /// Summarises `scans` (one per sampled cycle).
    pub fn of(
        scans: &[DirtyScan],
        wasmtime_version: &str,
        reset_by_scan: bool,
        keep_resident_bytes: u64,
    ) -> DirtyRegions {
        let median = |f: fn(&DirtyScan) -> u64| {
            let mut v: Vec<u64> = scans.iter().map(f).collect();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        let max = |f: fn(&DirtyScan) -> u64| scans.iter().map(f).max().unwrap_or(0);
        DirtyRegions {
            samples: scans.len() as u32,
            written_regions_median: median(|s| s.written_regions),
            written_regions_max: max(|s| s.written_regions),
            written_pages_median: median(|s| s.written_pages),
            written_pages_max: max(|s| s.written_pages),
            regions_median: median(|s| s.regions),
            pages_median: median(|s| s.pages),
            reset_pages_median: median(|s| s.reset_pages),
            reset_pages_max: max(|s| s.reset_pages),
            page_size: page_size(),
            wasmtime_version: wasmtime_version.to_string(),
            reset_by_scan,
            keep_resident_bytes,
            unavailable: None,
        }
    }

    /// Why no scan could be taken.
    pub fn unavailable(reason: String, wasmtime_version: &str) -> DirtyRegions {
        DirtyRegions {
            wasmtime_version: wasmtime_version.to_string(),
            unavailable: Some(reason),
            ..DirtyRegions::default()
        }
    }

    /// What the reset of this variant's slots cannot keep, in words: more
    /// regions than its wasmtime's scan handles, or more dirty memory than
    /// the keep-resident budget. Empty when the reset keeps it all, and for
    /// variants not reset by `PAGEMAP_SCAN`.
    pub fn warnings(&self) -> Vec<String> {
        if !self.reset_by_scan || self.samples == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        // A request's own writes are dirty to any release's reset: a lower
        // bound of what the scan meets.
        out.extend(region_warning(
            &self.wasmtime_version,
            self.written_regions_max,
        ));
        out.extend(budget_warning(
            self.written_pages_max * self.page_size,
            self.keep_resident_bytes,
        ));
        out.extend(untouched_warning(
            &self.wasmtime_version,
            self.written_pages_max,
            self.reset_pages_max,
            self.keep_resident_bytes / self.page_size.max(1),
        ));
        out
    }
}

/// Whether wasmtime `version`'s reset scans for written pages whether they
/// are present or not (50.0.0 to 50.0.2: 50 dropped `PAGE_IS_PRESENT` so that
/// swapped-out dirty pages are reset too). The kernel reports every
/// never-touched page of a page table that exists as written in a VMA
/// without userfaultfd write-protection, so such a reset also writes pages
/// no guest touched. 50.0.3 also asks for `PRESENT | SWAPPED`
/// (`category_anyof_mask`), and so do the releases after it; a 50.0.x build
/// carrying 50.0.3's `pagemap.rs` says so in its version's build metadata
/// (`50.0.1+pagemap-50.0.3`, scripts/prepare-wasmtime-scan-patch.sh).
pub fn reset_scans_untouched_pages(wasmtime_version: &str) -> bool {
    let (release, metadata) = wasmtime_version
        .trim()
        .split_once('+')
        .unwrap_or((wasmtime_version.trim(), ""));
    let mut parts = release.split('.').map(|p| p.parse::<u64>().ok());
    let (Some(Some(major)), minor, patch) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let patched = metadata.starts_with("pagemap-");
    major == 50 && minor.flatten() == Some(0) && patch.flatten().is_some_and(|p| p < 3) && !patched
}

/// The warning for a reset that writes pages no guest wrote: wasmtime 50's
/// scan finds `reset_pages` where the request changed only `dirty_pages`;
/// the pages between (up to the keep-resident budget) are written back every
/// reset and stay resident in the slot. A request may also rewrite pages
/// with the bytes they held (counted as unchanged), so the warning needs the
/// scan to find more than twice the changed pages: what a page table full
/// of never-touched pages gives (`[guest] prefault` is the remedy).
pub fn untouched_warning(
    wasmtime_version: &str,
    dirty_pages: u64,
    reset_pages: u64,
    budget_pages: u64,
) -> Option<String> {
    if !reset_scans_untouched_pages(wasmtime_version) {
        return None;
    }
    let written = reset_pages.min(budget_pages);
    (written > 2 * dirty_pages).then(|| {
        format!(
            "wasmtime {wasmtime_version}'s reset scans {reset_pages} pages as dirty where a request changes {dirty_pages} \
             (never-touched pages in a page table the guest touched count as written to the kernel): \
             it writes back up to {} pages no request changed at every reset, and they stay resident in the slot; \
             [guest] prefault = \"untouched\" or \"all\" leaves the reset only the written pages",
            written - dirty_pages
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::pagemap::BATCH;

    /// Maps `pages` fresh anonymous pages, dirties some before the "call"
    /// and some during it (disjoint runs, more than one batch holds), and
    /// checks that exactly the call's writes count as written.
    #[test]
    fn counts_the_runs_a_call_wrote_across_batches() {
        if let Err(e) = available() {
            return crate::testing::cannot_check(&format!("PAGEMAP_SCAN unavailable ({e})"));
        }
        let page = page_size() as usize;
        let pages = 4 * BATCH + 8;
        // SAFETY: a fresh private anonymous mapping, unmapped below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                pages * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let base = base as *mut u8;
        let write = |p: usize, v: u8| {
            // SAFETY: page `p` is inside the mapping.
            unsafe { std::ptr::write_volatile(base.add(p * page), v) }
        };
        // SAFETY (both reads): the mapping is live until the munmap below.
        let clean = unsafe { Before::read(base as usize, pages * page) }.unwrap();
        assert!(clean.regions.is_empty(), "untouched memory is clean");
        // Reading maps the zero page: not dirty.
        // SAFETY: inside the mapping.
        let _ = unsafe { std::ptr::read_volatile(base.add(page)) };
        // Dirty before the call: pages 1 and 3 ("kept resident").
        write(1, 7);
        write(3, 7);
        let before = unsafe { Before::read(base as usize, pages * page) }.unwrap();
        assert_eq!(before.regions.len(), 2);
        // The call: page 1 rewritten with the same byte (not counted), page
        // 3 changed, and every other page from 5 on, more runs than a batch.
        write(1, 7);
        write(3, 8);
        let runs = BATCH + 40;
        for i in 0..runs {
            write(5 + 2 * i, 1);
        }
        // SAFETY: as above.
        let got = unsafe { before.after_call(base as usize, pages * page) }.unwrap();
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(base.cast(), pages * page) };
        assert_eq!(got.written_regions, runs as u64 + 1, "{got:?}");
        assert_eq!(got.written_pages, runs as u64 + 1);
        assert_eq!(got.regions, runs as u64 + 2);
        assert_eq!(got.pages, runs as u64 + 2);
        // What wasmtime 50's reset would scan includes every dirty page.
        assert!(got.reset_pages >= got.pages, "{got:?}");
    }

    #[test]
    fn region_limit_follows_the_release() {
        assert_eq!(reset_region_limit("48.0.8"), Some(32));
        assert_eq!(reset_region_limit("49.0.0"), Some(32));
        assert_eq!(reset_region_limit("50.0.1"), None);
        assert_eq!(reset_region_limit("unknown"), None);
        assert!(region_warning("48.0.8", 33).is_some());
        assert!(region_warning("48.0.8", 32).is_none());
        assert!(region_warning("50.0.1", 1000).is_none());
        assert!(budget_warning(5 << 20, 4 << 20).is_some());
        assert!(budget_warning(3 << 20, 4 << 20).is_none());
        assert!(budget_warning(3 << 20, 0).is_none());
        assert!(untouched_warning("50.0.1", 10, 512, 4096).is_some());
        assert!(untouched_warning("50.0.1", 10, 512, 10).is_none());
        // Pages rewritten with the same bytes are not "changed": up to twice
        // the changed pages is no warning.
        assert!(untouched_warning("50.0.1", 186, 259, 10240).is_none());
        assert!(untouched_warning("50.0.1", 186, 373, 10240).is_some());
        assert!(untouched_warning("48.0.8", 10, 512, 4096).is_none());
        // 50.0.3's reset asks for present or swapped pages: no untouched
        // page is written back, in the release or in a 50.0.1 carrying it.
        assert!(reset_scans_untouched_pages("50.0.0"));
        assert!(reset_scans_untouched_pages("50.0.2"));
        assert!(!reset_scans_untouched_pages("50.0.3"));
        assert!(!reset_scans_untouched_pages("50.0.1+pagemap-50.0.3"));
        assert!(!reset_scans_untouched_pages("51.0.0"));
        assert!(!reset_scans_untouched_pages("49.0.0"));
        assert!(untouched_warning("50.0.3", 10, 512, 4096).is_none());
    }
}
