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
