//! Process memory from `/proc/self/status`, `/proc/self/smaps_rollup` and
//! `/proc/self/stat`.
//!
//! Which figure to trust: `VmRSS` counts a page shared by N mappings N times
//! (once per mapping), so N instances mapping one copy-on-write image look like
//! N copies. `Pss` divides each shared page among its sharers and is the fair
//! per-process figure; `Private_Dirty` is what each instance really wrote.
//! Per-instance cost is read from `Pss` (and `Private_Dirty`).

use anyhow::{Context, Result};
use procfs::FromBufRead;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One reading of the process's memory and fault counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemorySample {
    /// `VmRSS` from /proc/self/status.
    pub vm_rss_bytes: u64,
    /// `VmSize` (virtual) from /proc/self/status.
    pub vm_size_bytes: u64,
    /// `Rss` from smaps_rollup.
    pub rss_bytes: u64,
    /// `Pss` from smaps_rollup: shared pages divided among their sharers.
    pub pss_bytes: u64,
    /// `Pss_Anon` from smaps_rollup.
    pub pss_anon_bytes: u64,
    /// `Pss_File` from smaps_rollup.
    pub pss_file_bytes: u64,
    /// `Shared_Clean` from smaps_rollup.
    pub shared_clean_bytes: u64,
    /// `Private_Clean` from smaps_rollup.
    pub private_clean_bytes: u64,
    /// `Private_Dirty` from smaps_rollup: pages only this process wrote.
    pub private_dirty_bytes: u64,
    /// `Anonymous` from smaps_rollup.
    pub anonymous_bytes: u64,
    /// Minor page faults since the process started.
    pub minor_faults: u64,
    /// Major page faults since the process started.
    pub major_faults: u64,
}

impl MemorySample {
    /// Field by field sum of several processes' readings (Pss adds up across
    /// processes; Rss and VmRSS count a shared page in each).
    pub fn sum<'a>(samples: impl IntoIterator<Item = &'a MemorySample>) -> MemorySample {
        let mut t = MemorySample::default();
        for m in samples {
            t.vm_rss_bytes += m.vm_rss_bytes;
            t.vm_size_bytes += m.vm_size_bytes;
            t.rss_bytes += m.rss_bytes;
            t.pss_bytes += m.pss_bytes;
            t.pss_anon_bytes += m.pss_anon_bytes;
            t.pss_file_bytes += m.pss_file_bytes;
            t.shared_clean_bytes += m.shared_clean_bytes;
            t.private_clean_bytes += m.private_clean_bytes;
            t.private_dirty_bytes += m.private_dirty_bytes;
            t.anonymous_bytes += m.anonymous_bytes;
            t.minor_faults += m.minor_faults;
            t.major_faults += m.major_faults;
        }
        t
    }
}

/// Returns the heap memory glibc holds free (in every arena) to the kernel,
/// so that the next reading shows live memory only: glibc keeps freed chunks,
/// and each thread's arena outlives the thread, for reuse. Without this, a
/// before/after comparison within one process can show MiBs that are free
/// but still resident. No-op on non-glibc targets.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Reads the current process's memory.
pub fn sample() -> Result<MemorySample> {
    sample_of("self")
}

/// Reads the memory of process `pid` (`"self"` or a number), e.g. a server
/// pooling-lab started.
pub fn sample_of(pid: &str) -> Result<MemorySample> {
    let read = |f: &str| {
        let path = format!("/proc/{pid}/{f}");
        std::fs::read(&path).with_context(|| format!("reading {path}"))
    };
    let rollup = read("smaps_rollup")?;
    let status = String::from_utf8_lossy(&read("status")?).into_owned();
    let stat = String::from_utf8_lossy(&read("stat")?).into_owned();
    let mut s = parse_smaps_rollup(&rollup[..])?;
    let (rss, size) = parse_status(&status);
    s.vm_rss_bytes = rss;
    s.vm_size_bytes = size;
    let (minor, major) = parse_stat_faults(&stat).context("parsing /proc/self/stat")?;
    s.minor_faults = minor;
    s.major_faults = major;
    Ok(s)
}

/// Parses smaps_rollup text (values in the file are kB; the result is bytes).
pub fn parse_smaps_rollup(text: &[u8]) -> Result<MemorySample> {
    let rollup =
        procfs::process::SmapsRollup::from_buf_read(text).context("parsing smaps_rollup")?;
    let map = rollup
        .memory_map_rollup
        .0
        .first()
        .map(|m| &m.extension.map)
        .context("smaps_rollup has no summary entry")?;
    let get = |k: &str| map.get(k).copied().unwrap_or(0);
    Ok(MemorySample {
        rss_bytes: get("Rss"),
        pss_bytes: get("Pss"),
        pss_anon_bytes: get("Pss_Anon"),
        pss_file_bytes: get("Pss_File"),
        shared_clean_bytes: get("Shared_Clean"),
        private_clean_bytes: get("Private_Clean"),
        private_dirty_bytes: get("Private_Dirty"),
        anonymous_bytes: get("Anonymous"),
        ..MemorySample::default()
    })
}

/// `(VmRSS, VmSize)` in bytes from /proc/self/status text.
pub fn parse_status(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmSize:"))
}

/// `(minflt, majflt)` from /proc/self/stat text.
pub fn parse_stat_faults(text: &str) -> Option<(u64, u64)> {
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); minflt is field 10, majflt field 12.
    Some((f.get(7)?.parse().ok()?, f.get(9)?.parse().ok()?))
}

/// CPU time (user + system, nanoseconds) process `pid` has used so far,
/// from `/proc/<pid>/stat` (its threads included, not its children).
pub fn cpu_ns_of(pid: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_stat_cpu_ticks(&text).with_context(|| format!("parsing {path}"))?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(ticks * 1_000_000_000 / hz)
}

/// `utime + stime` (clock ticks) from `/proc/<pid>/stat` text.
pub fn parse_stat_cpu_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Signed per-instance figures between two samples, divided by `n`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PerInstance {
    /// VmRSS growth per instance (inflated by shared pages: see module docs).
    pub vm_rss_bytes: f64,
    /// Pss growth per instance: the figure to trust.
    pub pss_bytes: f64,
    /// Private_Dirty growth per instance.
    pub private_dirty_bytes: f64,
    /// Anonymous growth per instance.
    pub anonymous_bytes: f64,
    /// VmSize growth per instance (address space).
    pub vm_size_bytes: f64,
    /// Minor faults per instance.
    pub minor_faults: f64,
    /// Major faults per instance.
    pub major_faults: f64,
}

impl PerInstance {
    /// `(after - base) / n`.
    pub fn between(base: &MemorySample, after: &MemorySample, n: u64) -> PerInstance {
        let n = n.max(1) as f64;
        let d = |a: u64, b: u64| (a as f64 - b as f64) / n;
        PerInstance {
            vm_rss_bytes: d(after.vm_rss_bytes, base.vm_rss_bytes),
            pss_bytes: d(after.pss_bytes, base.pss_bytes),
            private_dirty_bytes: d(after.private_dirty_bytes, base.private_dirty_bytes),
            anonymous_bytes: d(after.anonymous_bytes, base.anonymous_bytes),
            vm_size_bytes: d(after.vm_size_bytes, base.vm_size_bytes),
            minor_faults: d(after.minor_faults, base.minor_faults),
            major_faults: d(after.major_faults, base.major_faults),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLLUP: &str = "\
55d0a0000000-7ffd5c1f1000 ---p 00000000 00:00 0                          [rollup]
Rss:              102400 kB
Pss:               51200 kB
Pss_Dirty:         40000 kB
Pss_Anon:          40000 kB
Pss_File:          11200 kB
Pss_Shmem:             0 kB
Shared_Clean:      20480 kB
Shared_Dirty:          0 kB
Private_Clean:      1024 kB
Private_Dirty:     40960 kB
Referenced:       102400 kB
Anonymous:         40960 kB
KSM:                   0 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
";

    #[test]
    fn parses_smaps_rollup_in_bytes() {
        let s = parse_smaps_rollup(ROLLUP.as_bytes()).unwrap();
        assert_eq!(s.rss_bytes, 102400 * 1024);
        assert_eq!(s.pss_bytes, 51200 * 1024);
        assert_eq!(s.pss_anon_bytes, 40000 * 1024);
        assert_eq!(s.pss_file_bytes, 11200 * 1024);
        assert_eq!(s.shared_clean_bytes, 20480 * 1024);
        assert_eq!(s.private_clean_bytes, 1024 * 1024);
        assert_eq!(s.private_dirty_bytes, 40960 * 1024);
        assert_eq!(s.anonymous_bytes, 40960 * 1024);
    }

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\tx\nVmSize:\t  2000 kB\nVmRSS:\t   300 kB\n";
        assert_eq!(parse_status(status), (300 * 1024, 2000 * 1024));
        let stat = "1234 (my (odd) name) R 1 2 3 4 5 6 777 8 99 10 11 12";
        assert_eq!(parse_stat_faults(stat), Some((777, 99)));
        // utime (field 14) = 11, stime (15) = 12.
        assert_eq!(parse_stat_cpu_ticks(stat), Some(11 + 12));
    }

    #[test]
    fn live_sample_sees_touched_memory() {
        let before = sample().unwrap();
        let mut v = vec![0u8; 64 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        let after = sample().unwrap();
        std::hint::black_box(&v);
        let per = PerInstance::between(&before, &after, 1);
        assert!(per.pss_bytes > 60.0 * 1048576.0, "{per:?}");
        assert!(per.private_dirty_bytes > 60.0 * 1048576.0, "{per:?}");
        assert!(per.minor_faults >= 1000.0, "{per:?}");
    }
}
