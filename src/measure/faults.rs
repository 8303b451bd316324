//! Where a churn's page faults and waits come from.
//!
//! * [`ThreadUsage`]: a thread's own page faults and context switches
//!   (`getrusage(RUSAGE_THREAD)`), read before and after its timed cycles. A
//!   *voluntary* switch is the thread going to sleep (a lock, I/O, a futex);
//!   an *involuntary* one is the scheduler taking the CPU away.
//! * [`io_read_bytes`]: bytes the process really read from storage
//!   (`/proc/self/io`): a major fault that read nothing waited for something
//!   else than I/O.
//! * [`MajorFaultTrace`]: every major fault of the calling thread sampled
//!   with `perf_event_open` (software event `PAGE_FAULTS_MAJ`, one sample per
//!   fault, user-space only: allowed at `perf_event_paranoid` <= 2), with the
//!   faulting address and instruction; [`attribute`] names the mapping of
//!   each from `/proc/self/maps`.
//!
//! Linux counts a fault as *major* when it needed I/O **or when it had to be
//! retried** (`mm_account_fault`: `VM_FAULT_MAJOR || FAULT_FLAG_TRIED`): a
//! fault that found the page locked by someone else gives up its lock, waits
//! and retries, and the retry is counted major. Together, these readings tell
//! a storage read from a lock wait.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A thread's own page faults and context switches so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadUsage {
    /// Minor faults.
    pub minor_faults: u64,
    /// Major faults.
    pub major_faults: u64,
    /// Voluntary context switches (the thread slept).
    pub voluntary_switches: u64,
    /// Involuntary context switches (the thread was preempted).
    pub involuntary_switches: u64,
}

impl ThreadUsage {
    /// The calling thread's figures (zeros if `getrusage` fails).
    pub fn now() -> ThreadUsage {
        // SAFETY: getrusage writes into the zeroed struct we own.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: RUSAGE_THREAD with a valid pointer.
        if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
            return ThreadUsage::default();
        }
        let n = |x: libc::c_long| u64::try_from(x).unwrap_or(0);
        ThreadUsage {
            minor_faults: n(ru.ru_minflt),
            major_faults: n(ru.ru_majflt),
            voluntary_switches: n(ru.ru_nvcsw),
            involuntary_switches: n(ru.ru_nivcsw),
        }
    }

    /// `self - before`.
    pub fn since(&self, before: &ThreadUsage) -> ThreadUsage {
        ThreadUsage {
            minor_faults: self.minor_faults.saturating_sub(before.minor_faults),
            major_faults: self.major_faults.saturating_sub(before.major_faults),
            voluntary_switches: self
                .voluntary_switches
                .saturating_sub(before.voluntary_switches),
            involuntary_switches: self
                .involuntary_switches
                .saturating_sub(before.involuntary_switches),
        }
    }

    /// Sum of two threads' figures.
    pub fn add(&mut self, o: &ThreadUsage) {
        self.minor_faults += o.minor_faults;
        self.major_faults += o.major_faults;
        self.voluntary_switches += o.voluntary_switches;
        self.involuntary_switches += o.involuntary_switches;
    }
}

/// Every thread of process `pid` (a number, or `self`) now: thread id to
/// its `(voluntary, involuntary)` context switches so far, from each
/// thread's `/proc/<pid>/task/<tid>/status` (procfs). A thread that ends
/// while it is read is left out.
pub fn thread_switches_of(pid: &str) -> procfs::ProcResult<BTreeMap<u32, (u64, u64)>> {
    let process = match pid {
        "self" => procfs::process::Process::myself()?,
        p => procfs::process::Process::new(
            p.parse()
                .map_err(|_| procfs::ProcError::Other(format!("not a process id: {p}")))?,
        )?,
    };
    let mut out = BTreeMap::new();
    for task in process.tasks()?.flatten() {
        if let Ok(st) = task.status()
            && let (Some(v), Some(i)) = (st.voluntary_ctxt_switches, st.nonvoluntary_ctxt_switches)
        {
            out.insert(task.tid as u32, (v, i));
        }
    }
    Ok(out)
}

/// The context switches a process's threads made between two
/// [`thread_switches_of`] readings, summed: a thread in both counts its
/// difference, a thread started in between all of its own; a thread that
/// ended in between is lost (the kernel keeps no count for it).
pub fn switches_between(
    before: &BTreeMap<u32, (u64, u64)>,
    after: &BTreeMap<u32, (u64, u64)>,
) -> (u64, u64) {
    after.iter().fold((0, 0), |(v, i), (tid, &(av, ai))| {
        let (bv, bi) = before.get(tid).copied().unwrap_or((0, 0));
        (v + av.saturating_sub(bv), i + ai.saturating_sub(bi))
    })
}

/// `read_bytes` of `/proc/self/io`: bytes this process caused to be read
/// from storage (0 if unreadable).
pub fn io_read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("read_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The measuring threads' faults, waits and storage reads over the timed
/// cycles, per timed cycle (threads summed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contention {
    /// Minor faults the measuring threads took.
    pub minor_faults_per_cycle: f64,
    /// Major faults the measuring threads took.
    pub major_faults_per_cycle: f64,
    /// Times a measuring thread went to sleep (lock, I/O, futex).
    pub voluntary_switches_per_cycle: f64,
    /// Times a measuring thread was preempted.
    pub involuntary_switches_per_cycle: f64,
    /// Bytes the process read from storage over the timed cycles (page-ins;
    /// 0 means no major fault read anything).
    pub io_read_bytes: u64,
}

impl Contention {
    /// From the threads' summed usage over `cycles` timed cycles.
    pub fn new(u: &ThreadUsage, cycles: u64, io_read_bytes: u64) -> Contention {
        let c = cycles.max(1) as f64;
        Contention {
            minor_faults_per_cycle: u.minor_faults as f64 / c,
            major_faults_per_cycle: u.major_faults as f64 / c,
            voluntary_switches_per_cycle: u.voluntary_switches as f64 / c,
            involuntary_switches_per_cycle: u.involuntary_switches as f64 / c,
            io_read_bytes,
        }
    }
}

/// One sampled major fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSample {
    /// The faulting data address.
    pub addr: u64,
    /// The faulting instruction.
    pub ip: u64,
}

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_PAGE_FAULTS_MIN: u64 = 5;
const PERF_COUNT_SW_PAGE_FAULTS_MAJ: u64 = 6;
const PERF_SAMPLE_IP: u64 = 1 << 0;
const PERF_SAMPLE_TID: u64 = 1 << 1;
const PERF_SAMPLE_ADDR: u64 = 1 << 3;
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_EVENT_IOC_DISABLE: libc::c_ulong = 0x2401;
/// `perf_event_attr` up to `sample_max_stack` (PERF_ATTR_SIZE_VER5).
const ATTR_SIZE: usize = 112;
/// Data pages of the ring buffer (a power of two): 1 MiB, ~32,000 samples;
/// [`FALLBACK_DATA_PAGES`] when the kernel refuses that much locked memory
/// (`perf_event_mlock_kb`). Samples beyond it are dropped, and counted.
const DATA_PAGES: usize = 256;
/// 128 KiB, ~4,000 samples: within the default unprivileged perf_event_mlock_kb.
const FALLBACK_DATA_PAGES: usize = 32;

/// Samples every major fault of the calling thread, from [`enable`] to
/// [`disable`]; nothing is recorded in between but the kernel's own writes
/// into the ring buffer (no system call per fault, no thread).
///
/// [`enable`]: MajorFaultTrace::enable
/// [`disable`]: MajorFaultTrace::disable
pub struct MajorFaultTrace {
    fd: libc::c_int,
    ring: *mut u8,
    ring_len: usize,
    page: usize,
}

// SAFETY: the ring buffer and fd are owned by this value; it is only read by
// the thread that holds it.
unsafe impl Send for MajorFaultTrace {}

impl MajorFaultTrace {
    /// Opens the (disabled) event for the calling thread.
    pub fn open() -> std::io::Result<MajorFaultTrace> {
        Self::open_event(PERF_COUNT_SW_PAGE_FAULTS_MAJ)
    }

    /// The same for every *minor* fault of the calling thread (user-space
    /// faults only: a fault the kernel takes on the thread's behalf, e.g. a
    /// system call writing into its memory, is not sampled; compare the
    /// samples with [`ThreadUsage::minor_faults`]). Drain often: the ring
    /// holds ~32,000 samples.
    pub fn open_minor() -> std::io::Result<MajorFaultTrace> {
        Self::open_event(PERF_COUNT_SW_PAGE_FAULTS_MIN)
    }

    fn open_event(event: u64) -> std::io::Result<MajorFaultTrace> {
        if let Some(e) = crate::testing::hidden(crate::testing::NO_PERF_EVENTS, "perf_event_open") {
            return Err(e);
        }
        let mut attr = [0u8; ATTR_SIZE];
        let put32 = |a: &mut [u8; ATTR_SIZE], off: usize, v: u32| {
            a[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        };
        let put64 = |a: &mut [u8; ATTR_SIZE], off: usize, v: u64| {
            a[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        };
        put32(&mut attr, 0, PERF_TYPE_SOFTWARE);
        put32(&mut attr, 4, ATTR_SIZE as u32);
        put64(&mut attr, 8, event);
        put64(&mut attr, 16, 1); // sample_period: every fault
        put64(
            &mut attr,
            24,
            PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_ADDR,
        );
        // disabled (bit 0), exclude_kernel (5), exclude_hv (6).
        put64(&mut attr, 40, 1 | (1 << 5) | (1 << 6));
        put32(&mut attr, 48, 1); // wakeup_events
        // SAFETY: a valid attr buffer of ATTR_SIZE bytes; pid 0 = this thread,
        // cpu -1 = any, no group, no flags.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                attr.as_ptr(),
                0 as libc::pid_t,
                -1 as libc::c_int,
                -1 as libc::c_int,
                0 as libc::c_ulong,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = fd as libc::c_int;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let map = |pages: usize| {
            // SAFETY: mapping the event's ring buffer, as perf_event_open(2) describes.
            let ring = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    page * (1 + pages),
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            (ring, page * (1 + pages))
        };
        let (mut ring, mut ring_len) = map(DATA_PAGES);
        if ring == libc::MAP_FAILED {
            (ring, ring_len) = map(FALLBACK_DATA_PAGES);
        }
        if ring == libc::MAP_FAILED {
            let e = std::io::Error::last_os_error();
            // SAFETY: our own fd.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        Ok(MajorFaultTrace {
            fd,
            ring: ring.cast(),
            ring_len,
            page,
        })
    }

    /// Starts sampling.
    pub fn enable(&self) {
        // SAFETY: ioctl on our own perf fd.
        unsafe { libc::ioctl(self.fd, PERF_EVENT_IOC_ENABLE, 0) };
    }

    /// Stops sampling.
    pub fn disable(&self) {
        // SAFETY: ioctl on our own perf fd.
        unsafe { libc::ioctl(self.fd, PERF_EVENT_IOC_DISABLE, 0) };
    }

    /// Every sample recorded so far and the number the kernel reported
    /// dropped (a full buffer drops samples before it can say so: compare
    /// with the thread's own major-fault count, as the churn scenario does).
    pub fn drain(&self) -> (Vec<FaultSample>, u64) {
        let data_size = (self.ring_len - self.page) as u64;
        // SAFETY: the metadata page is mapped; data_head is at offset 1024 and
        // data_tail at 1032 of struct perf_event_mmap_page.
        let (head_ptr, tail_ptr) = unsafe {
            (
                self.ring.add(1024).cast::<u64>(),
                self.ring.add(1032).cast::<u64>(),
            )
        };
        // SAFETY: aligned u64 fields of the mapped page; the kernel writes
        // head, we write tail.
        let head = unsafe { std::ptr::read_volatile(head_ptr) };
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        let mut tail = unsafe { std::ptr::read_volatile(tail_ptr) };
        // SAFETY: the data area follows the metadata page.
        let data =
            unsafe { std::slice::from_raw_parts(self.ring.add(self.page), data_size as usize) };
        let read = |at: u64, len: usize| -> Vec<u8> {
            (0..len as u64)
                .map(|i| data[((at + i) % data_size) as usize])
                .collect()
        };
        let u64_at = |b: &[u8], off: usize| {
            b.get(off..off + 8)
                .map_or(0, |s| u64::from_ne_bytes(s.try_into().unwrap_or([0; 8])))
        };
        let mut samples = Vec::new();
        let mut lost = 0;
        while tail + 8 <= head {
            let h = read(tail, 8);
            let kind = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]);
            let size = u16::from_ne_bytes([h[6], h[7]]) as u64;
            if size < 8 {
                break;
            }
            let rec = read(tail, size as usize);
            match kind {
                // header, ip, pid+tid, addr
                PERF_RECORD_SAMPLE if size >= 32 => samples.push(FaultSample {
                    ip: u64_at(&rec, 8),
                    addr: u64_at(&rec, 24),
                }),
                // header, id, lost
                PERF_RECORD_LOST if size >= 24 => lost += u64_at(&rec, 16),
                _ => {}
            }
            tail += size;
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        // SAFETY: as above; telling the kernel the space is free again.
        unsafe { std::ptr::write_volatile(tail_ptr, tail) };
        (samples, lost)
    }
}

impl Drop for MajorFaultTrace {
    fn drop(&mut self) {
        // SAFETY: our own mapping and fd.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_len);
            libc::close(self.fd);
        }
    }
}

/// One line of `/proc/self/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// `rw-p` etc.
    pub perms: String,
    /// File path, `[heap]`-style name, or empty for anonymous memory.
    pub path: String,
}

/// Parses `/proc/self/maps` text.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (range, perms) = (f.next()?, f.next()?);
            let (_offset, _dev, _inode) = (f.next()?, f.next()?, f.next()?);
            let path = f.collect::<Vec<_>>().join(" ");
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                perms: perms.to_string(),
                path,
            })
        })
        .collect()
}

/// How a mapping is named in a report: its file name (not the whole path),
/// `[heap]`-style names as they are, `anonymous` otherwise; with its
/// permissions.
pub fn mapping_label(m: &Mapping) -> String {
    let name = if m.path.is_empty() {
        "anonymous".to_string()
    } else if m.path.starts_with('[') {
        m.path.clone()
    } else {
        std::path::Path::new(&m.path)
            .file_name()
            .map_or_else(|| m.path.clone(), |n| n.to_string_lossy().into_owned())
    };
    format!("{name} ({})", m.perms)
}

/// Sampled major faults, counted by where they landed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultSites {
    /// Major faults sampled (one sample per fault).
    pub sampled: u64,
    /// Samples the kernel dropped (ring buffer full).
    pub lost: u64,
    /// Distinct 4 KiB pages among the sampled faults.
    pub distinct_pages: u64,
    /// Faults by the mapping that holds the faulting address, most first.
    pub by_mapping: Vec<(String, u64)>,
    /// Faults by the mapping of the faulting instruction (compiled guest code
    /// in the artifact, the host binary, libc, ...), most first.
    pub by_code: Vec<(String, u64)>,
    /// Why no sample was taken, when tracing could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// Counts `samples` by mapping (from `maps`).
pub fn attribute(samples: &[FaultSample], lost: u64, maps: &[Mapping]) -> FaultSites {
    let label = |addr: u64| {
        maps.iter()
            .find(|m| m.start <= addr && addr < m.end)
            .map_or_else(|| "unmapped since".to_string(), mapping_label)
    };
    let mut by_mapping: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
    let mut pages = std::collections::BTreeSet::new();
    for s in samples {
        *by_mapping.entry(label(s.addr)).or_default() += 1;
        *by_code.entry(label(s.ip)).or_default() += 1;
        pages.insert(s.addr >> 12);
    }
    let sorted = |m: BTreeMap<String, u64>| {
        let mut v: Vec<(String, u64)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    FaultSites {
        sampled: samples.len() as u64,
        lost,
        distinct_pages: pages.len() as u64,
        by_mapping: sorted(by_mapping),
        by_code: sorted(by_code),
        unavailable: None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_threads_switches_are_read_and_counted_between_readings() {
        let before = [(1, (10, 1)), (2, (5, 5)), (3, (7, 0))]
            .into_iter()
            .collect();
        // Thread 1 went on, 2 did not switch, 3 ended, 4 started.
        let after = [(1, (15, 3)), (2, (5, 5)), (4, (2, 1))]
            .into_iter()
            .collect();
        assert_eq!(super::switches_between(&before, &after), (5 + 2, 2 + 1));
        // This process's own threads, read twice: the sleep between the
        // readings is a voluntary switch of this thread.
        let pid = std::process::id().to_string();
        let a = super::thread_switches_of(&pid).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = super::thread_switches_of("self").unwrap();
        assert!(!a.is_empty());
        assert!(super::switches_between(&a, &b).0 >= 1);
        assert!(super::thread_switches_of("not-a-pid").is_err());
    }

    use super::*;

    #[test]
    fn maps_are_parsed_and_faults_attributed() {
        let maps = parse_maps(
            "7f0000000000-7f0000100000 rw-p 00001000 fd:01 1234   /cache/ab/module.cwasm\n\
             7f0000100000-7f0000200000 r-xp 00000000 fd:01 1234   /cache/ab/module.cwasm\n\
             7f0000200000-7f0000300000 rw-p 00000000 00:00 0 \n\
             7ffd00000000-7ffd00010000 rw-p 00000000 00:00 0      [stack]\n",
        );
        assert_eq!(maps.len(), 4);
        assert_eq!(maps[0].path, "/cache/ab/module.cwasm");
        assert_eq!(mapping_label(&maps[0]), "module.cwasm (rw-p)");
        assert_eq!(mapping_label(&maps[2]), "anonymous (rw-p)");
        assert_eq!(mapping_label(&maps[3]), "[stack] (rw-p)");
        let s = |addr, ip| FaultSample { addr, ip };
        let sites = attribute(
            &[
                s(0x7f00_0000_1000, 0x7f00_0010_0010),
                s(0x7f00_0000_1008, 0x7f00_0010_0010),
                s(0x7f00_0000_3000, 0x7f00_0010_0020),
                s(0x7f00_0020_0000, 0x1000),
            ],
            2,
            &maps,
        );
        assert_eq!(sites.sampled, 4);
        assert_eq!(sites.lost, 2);
        assert_eq!(sites.distinct_pages, 3);
        assert_eq!(sites.by_mapping[0], ("module.cwasm (rw-p)".into(), 3));
        assert_eq!(sites.by_mapping[1], ("anonymous (rw-p)".into(), 1));
        assert_eq!(sites.by_code[0], ("module.cwasm (r-xp)".into(), 3));
        assert_eq!(sites.by_code[1], ("unmapped since".into(), 1));
    }

    #[test]
    fn thread_usage_counts_this_threads_faults() {
        let before = ThreadUsage::now();
        let mut v = vec![0u8; 8 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        std::hint::black_box(&v);
        let d = ThreadUsage::now().since(&before);
        // 2,048 fresh pages touched: at least ~1,000 minor faults (huge pages
        // or fault-around can merge some), whatever the machine.
        assert!(d.minor_faults >= 100, "{d:?}");
    }

    #[test]
    fn a_major_fault_is_sampled_where_it_landed() {
        // perf_event_open may be refused (perf_event_paranoid = 3, seccomp):
        // then the scenario reports why, and this test says it could not run.
        let trace = match MajorFaultTrace::open() {
            Ok(trace) => trace,
            Err(e) => {
                return crate::testing::cannot_check(&format!(
                    "perf_event_open refused ({e}): no fault to sample"
                ));
            }
        };
        // A file whose pages were dropped from the page cache: reading it
        // through a mapping needs storage reads, which are major faults.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let path = dir.path().join("pages");
        let len = 4usize << 20;
        std::fs::write(&path, vec![7u8; len]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: plain calls on our own descriptor; the mapping is read
        // only and unmapped below.
        let map = unsafe {
            libc::fdatasync(file.as_raw_fd());
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        let before = ThreadUsage::now();
        trace.enable();
        let mut sum = 0u64;
        for off in (0..len).step_by(4096) {
            // SAFETY: inside the mapping.
            sum += u64::from(unsafe { std::ptr::read_volatile(map.cast::<u8>().add(off)) });
        }
        trace.disable();
        let majors = ThreadUsage::now().since(&before).major_faults;
        std::hint::black_box(sum);
        let (samples, lost) = trace.drain();
        // SAFETY: our own mapping.
        unsafe { libc::munmap(map, len) };
        // The dropped pages were read back: at least one major fault, and
        // every one the thread took was sampled (or counted lost), at an
        // address inside the mapping.
        assert!(
            majors > 0,
            "no major fault reading 4 MiB dropped from the page cache: nothing was sampled"
        );
        assert!(
            !samples.is_empty(),
            "{majors} major faults, none sampled ({lost} lost)"
        );
        assert_eq!(samples.len() as u64 + lost, majors, "{samples:?}");
        let (lo, hi) = (map as u64, map as u64 + len as u64);
        assert!(
            samples.iter().all(|s| (lo..hi).contains(&s.addr)),
            "{samples:?}"
        );
    }
}
