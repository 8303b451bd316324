//! The file-backed mappings of this process (`/proc/self/maps`): how the
//! tenants scenario sees, from outside wasmtime, whether instantiating a
//! component re-mapped a memory image.
//!
//! With `memory_init_cow`, wasmtime maps each module's data image into a
//! linear-memory slot from a file: the `.cwasm` it was deserialized from
//! (`load = "file"`) or a memfd holding the image (`compile`, `bytes`). A
//! slot whose last user was the same module keeps that mapping and reuses
//! it; any other slot gets the image mapped (`mmap(MAP_FIXED)`) or the old
//! one replaced by zeros. So: the file-backed mappings before and after an
//! instantiation are equal exactly when no image was (re-)mapped. Nothing
//! else maps files while a sandbox is created (module code is mapped when
//! the module is loaded, not per instance).

use anyhow::{Context, Result};

/// One file-backed mapping: where it is, and which file bytes back it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileMapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Device of the file (`major:minor`, as one number).
    pub dev: u64,
    /// Inode of the file (memfds have one too).
    pub inode: u64,
    /// Offset into the file.
    pub offset: u64,
}

/// Every file-backed mapping of this process, in address order.
pub fn file_mappings() -> Result<Vec<FileMapping>> {
    let text = std::fs::read_to_string("/proc/self/maps").context("reading /proc/self/maps")?;
    Ok(parse(&text))
}

/// The file-backed mappings listed in a `/proc/<pid>/maps` text (lines with
/// inode 0, anonymous memory, are left out; malformed lines are skipped).
pub fn parse(text: &str) -> Vec<FileMapping> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<FileMapping> {
    let mut f = line.split_ascii_whitespace();
    let (start, end) = f.next()?.split_once('-')?;
    let _perms = f.next()?;
    let offset = f.next()?;
    let (major, minor) = f.next()?.split_once(':')?;
    let inode: u64 = f.next()?.parse().ok()?;
    if inode == 0 {
        return None;
    }
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    Some(FileMapping {
        start: hex(start)?,
        end: hex(end)?,
        dev: (hex(major)? << 20) | hex(minor)?,
        inode,
        offset: hex(offset)?,
    })
}

/// What changed between two readings (both in address order): the
/// mappings only in `after`, and how many were only in `before`.
pub fn added(before: &[FileMapping], after: &[FileMapping]) -> (Vec<FileMapping>, usize) {
    let new: Vec<FileMapping> = after
        .iter()
        .filter(|m| before.binary_search(m).is_err())
        .copied()
        .collect();
    let gone = before
        .iter()
        .filter(|m| after.binary_search(m).is_err())
        .count();
    (new, gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0a20000 r--p 00000000 fd:01 1234 /usr/bin/pooling-lab
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
7f0000100000-7f0000200000 rw-p 00002000 00:01 77 /memfd:wasm-memory-image (deleted)
7f0000200000-7f0000300000 ---p 00000000 00:00 0
";

    #[test]
    fn only_file_backed_mappings_are_listed_with_their_backing() {
        let m = parse(MAPS);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].inode, 1234);
        assert_eq!(m[0].dev, (0xfd << 20) | 1);
        assert_eq!(
            m[1],
            FileMapping {
                start: 0x7f00_0010_0000,
                end: 0x7f00_0020_0000,
                dev: 1,
                inode: 77,
                offset: 0x2000,
            }
        );
    }

    #[test]
    fn a_remapped_slot_shows_as_one_added_and_one_gone() {
        let before = parse(MAPS);
        let after = parse(&MAPS.replace(" 77 ", " 78 "));
        let (new, gone) = added(&before, &after);
        assert_eq!((new.len(), gone), (1, 1));
        assert_eq!(new[0].inode, 78);
        assert_eq!(added(&before, &before), (Vec::new(), 0));
    }

    #[test]
    fn this_process_has_file_mappings() {
        // Its own executable, at least.
        assert!(!file_mappings().unwrap().is_empty());
    }
}
