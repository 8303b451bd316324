//! What else the machine did while a variant measured: CPU time of other
//! processes, time stolen by the hypervisor, the run queue, pressure stall
//! information and the measuring process's major faults.
//!
//! A variant measured while other processes used more than a stated share of
//! the machine's CPU (`[experiment] disturbed_cpu_share`), or while it read
//! pages from disk (more than [`MAJOR_FAULTS_DISTURBED`] major faults), is
//! marked *disturbed*: its figures describe a disturbed machine, and
//! `compare` gives it no verdict.
//!
//! # Where the sampling happens, and why
//!
//! The **parent** (the runner) samples, in a [`Sampler`] thread that wakes
//! every [`SAMPLE_PERIOD`] (100 ms) while the measuring child runs, and reads
//! `/proc/stat`, `/proc/<child>/stat`, `/proc/self/stat` and
//! `/proc/pressure/{cpu,memory}`. Nothing runs inside the measuring process:
//!
//! * a sampler thread in the child would share its address space, its
//!   accounting (its CPU time and faults would be the variant's) and its
//!   scheduler slot; the parent's thread is another process and is subtracted
//!   from "others" like the child itself;
//! * the cost is ten wake-ups a second, each reading five small files (tens
//!   of microseconds): about 0.05% of one CPU, the same for every variant, so
//!   it cancels in the ratios a run reports;
//! * sampling periodically (rather than only before and after the child)
//!   lets the figures be narrowed to the child's *timed* part, which the child
//!   reports after the fact (its start time and length), so engine creation,
//!   module loading and warm-up neither hide nor fake a disturbance; and the
//!   run queue (`procs_running`) is an instantaneous reading that only
//!   repeated samples describe.
//!
//! The window is widened to at least [`MIN_WINDOW_S`] around the timed part,
//! because `/proc/stat` counts in clock ticks (10 ms): a 70 ms timed part
//! would otherwise be judged on a handful of ticks.
//!
//! Shares are of the whole machine (`/proc/stat`'s `cpu` line, all CPUs):
//! "others used 50%" on 2 CPUs is one CPU's worth of other work.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// How often the parent samples while a child measures.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(100);

/// Shortest window the figures are computed over (seconds).
pub const MIN_WINDOW_S: f64 = 1.0;

/// Default share of all CPUs that other processes may use before a variant
/// is marked disturbed (`[experiment] disturbed_cpu_share`).
pub const DEFAULT_THRESHOLD: f64 = 0.10;

/// CPU time of the whole machine, in clock ticks (`/proc/stat`'s `cpu` line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq (guest time is inside user).
    pub busy: u64,
    /// idle + iowait.
    pub idle: u64,
    /// Time the hypervisor ran something else while a vCPU wanted to run.
    pub steal: u64,
}

impl CpuTimes {
    /// Every tick counted.
    pub fn total(&self) -> u64 {
        self.busy + self.idle + self.steal
    }
}

/// `(cpu times, procs_running)` from `/proc/stat` text.
pub fn parse_proc_stat(text: &str) -> Option<(CpuTimes, u32)> {
    let cpu = text.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal guest guest_nice
    let times = CpuTimes {
        busy: get(0) + get(1) + get(2) + get(5) + get(6),
        idle: get(3) + get(4),
        steal: get(7),
    };
    let running = text
        .lines()
        .find_map(|l| l.strip_prefix("procs_running"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Some((times, running))
}

/// `(utime + stime in clock ticks, major faults)` from `/proc/<pid>/stat` text
/// (all threads of the process).
pub fn parse_pid_stat(text: &str) -> Option<(u64, u64)> {
    // majflt is field 12, utime 14, stime 15.
    let n = |k| pid_stat_field(text, k);
    Some((n(14)? + n(15)?, n(12)?))
}

/// Field `k` (1-based, as in proc(5)) of `/proc/<pid>/stat` text, from
/// field 3 on: the fields after the command name, which is in parentheses
/// and may contain spaces.
fn pid_stat_field(text: &str, k: usize) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(k.checked_sub(3)?)?.parse().ok()
}

/// `cutime + cstime` (clock ticks) from `/proc/<pid>/stat` text: the CPU of
/// the process's children that have exited and been waited for. A server or
/// load generator the measuring process started and reaped moves its CPU
/// there; without it, that CPU would vanish from the measuring process's
/// count the moment the child is reaped and look like another process's.
pub fn parse_pid_stat_reaped(text: &str) -> Option<u64> {
    // cutime is field 16, cstime 17.
    Some(pid_stat_field(text, 16)? + pid_stat_field(text, 17)?)
}

/// The `some ... total=` figure (microseconds) of a `/proc/pressure/*` file.
pub fn parse_psi_some_total(text: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with("some"))?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("total="))?
        .parse()
        .ok()
}

/// One reading of the machine and of the measuring process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// When it was taken, seconds since the Unix epoch.
    pub at_unix_s: f64,
    /// Machine CPU times.
    pub machine: CpuTimes,
    /// Runnable tasks at that moment (`procs_running`).
    pub procs_running: u32,
    /// CPU ticks of the measuring child (and its descendants) while it has
    /// not been reaped; 0 after.
    pub child_cpu: u64,
    /// Major faults of the measuring child.
    pub child_major_faults: u64,
    /// Bytes the measuring child had read from storage (`read_bytes` of
    /// `/proc/<pid>/io`); `None` where that file cannot be read.
    pub child_read_bytes: Option<u64>,
    /// CPU ticks of the sampling process itself (the runner) and of its
    /// reaped children (`cutime + cstime`): once the runner reaps the
    /// measuring child, the child's CPU moves here, so `child_cpu + own_cpu`
    /// never falls and the child's last moments (between its last sample and
    /// its exit) count as the measurement's, not as another process's.
    pub own_cpu: u64,
    /// `/proc/pressure/cpu` some total, microseconds.
    pub psi_cpu_us: Option<u64>,
    /// `/proc/pressure/memory` some total, microseconds.
    pub psi_memory_us: Option<u64>,
}

/// CPU ticks (utime + stime, plus their reaped children's) of the live
/// descendants of `pid`, `depth` generations deep, from
/// `/proc/<pid>/task/*/children`.
fn descendants_cpu(pid: u32, depth: u32) -> u64 {
    if depth == 0 {
        return 0;
    }
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut total = 0;
    for t in tasks.flatten() {
        let Ok(children) = std::fs::read_to_string(t.path().join("children")) else {
            continue;
        };
        for c in children
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let stat = std::fs::read_to_string(format!("/proc/{c}/stat")).unwrap_or_default();
            total += parse_pid_stat(&stat).map_or(0, |(cpu, _)| cpu);
            total += parse_pid_stat_reaped(&stat).unwrap_or(0);
            total += descendants_cpu(c, depth - 1);
        }
    }
    total
}

/// `read_bytes` of a `/proc/<pid>/io` text.
fn parse_io_read_bytes(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("read_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Reads one [`Sample`]; `None` if `/proc/stat` cannot be read. A child that
/// has already exited and been reaped reads as 0 CPU (its CPU is in the
/// runner's reaped-children count from then on: see [`Sample::own_cpu`]) and
/// keeps its last major faults (`last`).
pub fn sample(child_pid: u32, last: Option<&Sample>) -> Option<Sample> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let (machine, procs_running) = parse_proc_stat(&read("/proc/stat")?)?;
    // The runner before the child: a child reaped between the two readings
    // then counts nowhere in this sample (others look busier, never quieter)
    // rather than twice.
    let own_cpu = read("/proc/self/stat")
        .and_then(|t| Some(parse_pid_stat(&t)?.0 + parse_pid_stat_reaped(&t)?))
        .unwrap_or(0);
    // A server or load generator the measuring process started (`wasmtime
    // serve`, wrk) is part of the measurement, not a disturbance: its CPU
    // counts as the child's, live (descendants) or reaped (cutime + cstime).
    let (child_cpu, child_major_faults) = read(&format!("/proc/{child_pid}/stat"))
        .and_then(|t| {
            let (cpu, majflt) = parse_pid_stat(&t)?;
            let reaped = parse_pid_stat_reaped(&t)?;
            Some((cpu + reaped + descendants_cpu(child_pid, 3), majflt))
        })
        .unwrap_or((0, last.map_or(0, |l| l.child_major_faults)));
    let child_read_bytes = read(&format!("/proc/{child_pid}/io"))
        .and_then(|t| parse_io_read_bytes(&t))
        .or_else(|| last.and_then(|l| l.child_read_bytes));
    Some(Sample {
        at_unix_s: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        machine,
        procs_running,
        child_cpu,
        child_major_faults,
        child_read_bytes,
        own_cpu,
        psi_cpu_us: read("/proc/pressure/cpu").and_then(|t| parse_psi_some_total(&t)),
        psi_memory_us: read("/proc/pressure/memory").and_then(|t| parse_psi_some_total(&t)),
    })
}

/// A thread of the runner that samples while one child measures.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Sample>>>,
}

impl Sampler {
    /// Starts sampling `child_pid` every [`SAMPLE_PERIOD`] (first sample now).
    pub fn start(child_pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("disturbance-sampler".into())
            .spawn(move || {
                let mut samples: Vec<Sample> = Vec::new();
                loop {
                    let stopping = s.load(Ordering::Acquire);
                    if let Some(x) = sample(child_pid, samples.last()) {
                        samples.push(x);
                    }
                    if stopping {
                        return samples;
                    }
                    std::thread::park_timeout(SAMPLE_PERIOD);
                }
            })
            .ok();
        Sampler { stop, thread }
    }

    /// Takes a last sample and returns them all (empty if the thread could
    /// not be started).
    pub fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(t) => {
                t.thread().unpark();
                t.join().unwrap_or_default()
            }
            None => Vec::new(),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// What else the machine did while a variant measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Disturbance {
    /// What the window covers: `timed` (the timed part the child reported,
    /// widened to at least 1 s) or `process` (the child's whole life).
    pub window: String,
    /// Length of the window, seconds.
    pub window_s: f64,
    /// Samples the figures rest on.
    pub samples: u32,
    /// CPU time of every other process (and the kernel's own threads) as a
    /// share of all CPUs over the window: machine busy time minus the
    /// measuring process's and the runner's.
    pub other_cpu_share: f64,
    /// Time stolen by the hypervisor, as a share of all CPUs.
    pub steal_share: f64,
    /// The measuring process's own CPU time, as a share of all CPUs
    /// (background load it started itself included).
    pub own_cpu_share: f64,
    /// Mean of `procs_running` (runnable tasks machine-wide, the measuring
    /// threads included) over the samples.
    pub procs_running_mean: f64,
    /// Largest `procs_running` sampled.
    pub procs_running_max: u32,
    /// Share of the window in which some task waited for a CPU
    /// (`/proc/pressure/cpu`; the measuring threads' own waits included);
    /// absent where the kernel has no PSI.
    pub cpu_pressure: Option<f64>,
    /// Share of the window in which some task stalled on memory
    /// (`/proc/pressure/memory`).
    pub memory_pressure: Option<f64>,
    /// Major faults the measuring process took in the window.
    pub major_faults: u64,
    /// Bytes it read from storage in the window (`None`: unknown).
    #[serde(default)]
    pub read_bytes: Option<u64>,
    /// The share of all CPUs other processes may use (`[experiment]
    /// disturbed_cpu_share`).
    pub threshold: f64,
    /// `other_cpu_share + steal_share` above `threshold`, or more than
    /// [`MAJOR_FAULTS_DISTURBED`] major faults in the window.
    pub disturbed: bool,
}

/// Major faults the measuring process may take in its window before the
/// variant is disturbed, when it also read at least that many pages from
/// storage ([`Disturbance::read_bytes`]): a page read from disk because the
/// page cache no longer held a page it maps (its artifact, its image).
/// After the warm-up nothing should be read, so more than a stray few mean
/// the machine took the cache away (seen here: 32,420 in one `serve` round,
/// which halved its requests/s), and the figures measure the disk.
///
/// Major faults alone do not say that: the kernel counts a fault as major
/// for the task when it was retried (`mm_account_fault` in mm/memory.c:
/// `major = (ret & VM_FAULT_MAJOR) || (flags & FAULT_FLAG_TRIED)`), and a
/// fault is retried after waiting for a folio another thread holds locked,
/// e.g. two measuring threads faulting the same page of a file-mapped
/// image. Seen here (Linux 6.18): two-thread churn of a file-mapped image
/// took hundreds of such major faults with nothing read from storage. Where
/// `/proc/<pid>/io` cannot be read, major faults alone decide.
pub const MAJOR_FAULTS_DISTURBED: u64 = 64;

/// Whether `major_faults` with `read_bytes` (storage reads in the same
/// window, `None`: unknown) mean the page cache lost pages the measuring
/// process maps ([`MAJOR_FAULTS_DISTURBED`]).
pub fn read_from_disk(major_faults: u64, read_bytes: Option<u64>) -> bool {
    major_faults > MAJOR_FAULTS_DISTURBED
        && read_bytes.is_none_or(|b| b >= MAJOR_FAULTS_DISTURBED * 4096)
}

impl Disturbance {
    /// "others used 48% of the CPU (steal 0%, threshold 10%)".
    pub fn describe(&self) -> String {
        let mut s = format!(
            "other processes used {:.0}% of the CPU{} while it measured (threshold {:.0}%; run queue mean {:.1}, max {})",
            self.other_cpu_share * 100.0,
            if self.steal_share >= 0.005 {
                format!(" and the hypervisor stole {:.0}%", self.steal_share * 100.0)
            } else {
                String::new()
            },
            self.threshold * 100.0,
            self.procs_running_mean,
            self.procs_running_max
        );
        if read_from_disk(self.major_faults, self.read_bytes) {
            s.push_str(&format!(
                ", and it took {} major faults{} (pages read from disk: the page cache lost what it maps; more than {MAJOR_FAULTS_DISTURBED} is disturbed)",
                self.major_faults,
                self.read_bytes
                    .map_or(String::new(), |b| format!(" reading {} KiB from storage", b / 1024))
            ));
        }
        s
    }
}

/// Judges the samples over `window` (start, end in Unix seconds; `None` =
/// the whole child). `None` when fewer than two samples cover it.
pub fn assess(
    samples: &[Sample],
    window: Option<(f64, f64)>,
    threshold: f64,
) -> Option<Disturbance> {
    let (first, last) = (samples.first()?, samples.last()?);
    let (kind, lo, hi) = match window {
        Some((start, end)) if end >= start => {
            let mid = (start + end) / 2.0;
            let half = ((end - start) / 2.0).max(MIN_WINDOW_S / 2.0);
            let (mut lo, mut hi) = (mid - half, mid + half);
            // Slide the widened window inside the child's life where possible.
            if lo < first.at_unix_s {
                hi += first.at_unix_s - lo;
                lo = first.at_unix_s;
            }
            if hi > last.at_unix_s {
                lo = (lo - (hi - last.at_unix_s)).max(first.at_unix_s);
                hi = last.at_unix_s;
            }
            ("timed", lo, hi)
        }
        _ => ("process", first.at_unix_s, last.at_unix_s),
    };
    // The last sample at or before `lo` and the first at or after `hi`.
    let a = samples.iter().rposition(|s| s.at_unix_s <= lo).unwrap_or(0);
    let b = samples
        .iter()
        .position(|s| s.at_unix_s >= hi)
        .unwrap_or(samples.len() - 1);
    if b <= a {
        return None;
    }
    let (sa, sb) = (&samples[a], &samples[b]);
    let total = sb.machine.total().saturating_sub(sa.machine.total());
    if total == 0 {
        return None;
    }
    let total = total as f64;
    let busy = sb.machine.busy.saturating_sub(sa.machine.busy) as f64;
    let steal = sb.machine.steal.saturating_sub(sa.machine.steal) as f64;
    let own = (sb.child_cpu + sb.own_cpu).saturating_sub(sa.child_cpu + sa.own_cpu) as f64;
    let dt = (sb.at_unix_s - sa.at_unix_s).max(1e-9);
    let psi = |f: fn(&Sample) -> Option<u64>| {
        Some((f(sb)?.saturating_sub(f(sa)?) as f64 / 1e6 / dt).clamp(0.0, 1.0))
    };
    let inside = &samples[a..=b];
    let other_cpu_share = ((busy - own) / total).clamp(0.0, 1.0);
    let steal_share = (steal / total).clamp(0.0, 1.0);
    let major_faults = sb.child_major_faults.saturating_sub(sa.child_major_faults);
    let read_bytes = match (sa.child_read_bytes, sb.child_read_bytes) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Some(Disturbance {
        window: kind.to_string(),
        window_s: dt,
        samples: inside.len() as u32,
        other_cpu_share,
        steal_share,
        own_cpu_share: (own / total).clamp(0.0, 1.0),
        procs_running_mean: inside
            .iter()
            .map(|s| f64::from(s.procs_running))
            .sum::<f64>()
            / inside.len() as f64,
        procs_running_max: inside.iter().map(|s| s.procs_running).max().unwrap_or(0),
        cpu_pressure: psi(|s| s.psi_cpu_us),
        memory_pressure: psi(|s| s.psi_memory_us),
        major_faults,
        read_bytes,
        threshold,
        disturbed: other_cpu_share + steal_share > threshold
            || read_from_disk(major_faults, read_bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  84099 4954 9710 15151 396 0 61 138 0 0\n\
cpu0 41407 2771 4878 8025 97 0 11 77 0 0\n\
intr 1 2 3\nctxt 99\nprocs_running 3\nprocs_blocked 0\n";

    #[test]
    fn parses_proc_stat_pid_stat_and_psi() {
        let (t, running) = parse_proc_stat(STAT).unwrap();
        assert_eq!(t.busy, 84099 + 4954 + 9710 + 61);
        assert_eq!(t.idle, 15151 + 396);
        assert_eq!(t.steal, 138);
        assert_eq!(running, 3);
        let pid = "42 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14";
        // Field k is the (k-2)th value after the name: majflt (12) = "9",
        // utime (14) = "11", stime (15) = "12".
        assert_eq!(parse_pid_stat(pid), Some((11 + 12, 9)));
        // cutime (16) = "13", cstime (17) = "14".
        assert_eq!(parse_pid_stat_reaped(pid), Some(13 + 14));
        let psi = "some avg10=46.92 avg60=52.14 avg300=24.21 total=119148858\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_psi_some_total(psi), Some(119_148_858));
        assert_eq!(parse_psi_some_total("garbage"), None);
    }

    fn s(at: f64, busy: u64, idle: u64, child: u64, running: u32) -> Sample {
        Sample {
            at_unix_s: at,
            machine: CpuTimes {
                busy,
                idle,
                steal: 0,
            },
            procs_running: running,
            child_cpu: child,
            child_major_faults: 0,
            child_read_bytes: None,
            own_cpu: 0,
            psi_cpu_us: Some((at * 1e5) as u64),
            psi_memory_us: None,
        }
    }

    #[test]
    fn others_are_the_machine_minus_the_measuring_process() {
        // 2 CPUs, 10 s: 2000 ticks. The child used 1000 ticks (one CPU) and
        // the machine was busy 1900: others used 900 ticks = 45%.
        let samples = [s(0.0, 0, 0, 0, 1), s(10.0, 1900, 100, 1000, 3)];
        let d = assess(&samples, None, 0.10).unwrap();
        assert_eq!(d.window, "process");
        assert!((d.other_cpu_share - 0.45).abs() < 1e-9, "{d:?}");
        assert!((d.own_cpu_share - 0.5).abs() < 1e-9, "{d:?}");
        assert!(d.disturbed);
        assert_eq!(d.procs_running_max, 3);
        assert!((d.cpu_pressure.unwrap() - 0.1).abs() < 1e-9);
        assert!(d.memory_pressure.is_none());
        // A quiet machine: busy only with the child.
        let quiet = [s(0.0, 0, 0, 0, 1), s(10.0, 1010, 990, 1000, 1)];
        let d = assess(&quiet, None, 0.10).unwrap();
        assert!(!d.disturbed, "{d:?}");
        assert!(d.other_cpu_share < 0.01);
        // The same quiet CPU, but the child read pages from disk.
        let mut reading = quiet;
        reading[1].child_major_faults = MAJOR_FAULTS_DISTURBED + 1;
        let d = assess(&reading, None, 0.10).unwrap();
        assert!(d.disturbed, "{d:?}");
        assert!(d.describe().contains("major faults"), "{}", d.describe());
        reading[1].child_major_faults = MAJOR_FAULTS_DISTURBED;
        assert!(!assess(&reading, None, 0.10).unwrap().disturbed);
        // Major faults with storage reads counted: disturbed only when the
        // pages were read. Retried faults (a thread waiting for a folio
        // another thread locked) count as major with nothing read.
        reading[1].child_major_faults = 500;
        reading[0].child_read_bytes = Some(1 << 20);
        reading[1].child_read_bytes = Some(1 << 20);
        let d = assess(&reading, None, 0.10).unwrap();
        assert_eq!(d.read_bytes, Some(0));
        assert!(!d.disturbed, "{d:?}");
        reading[1].child_read_bytes = Some((1 << 20) + 500 * 4096);
        let d = assess(&reading, None, 0.10).unwrap();
        assert!(d.disturbed, "{d:?}");
        assert!(
            d.describe().contains("reading 2000 KiB from storage"),
            "{}",
            d.describe()
        );
    }

    #[test]
    fn storage_reads_come_from_proc_pid_io() {
        let io = "rchar: 9000\nwchar: 10\nsyscr: 3\nsyscw: 1\nread_bytes: 8192\nwrite_bytes: 0\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io_read_bytes(io), Some(8192));
        assert_eq!(parse_io_read_bytes("rchar: 1\n"), None);
        // This process can read its own.
        let me = sample(std::process::id(), None).unwrap();
        assert!(me.child_read_bytes.is_some());
    }

    #[test]
    fn a_reaped_childs_last_cpu_is_the_measurements() {
        // 2 CPUs, 1 s: 200 ticks. The child used 60 ticks by the first
        // sample and 150 in all; it exited and was reaped before the second,
        // which reads it as 0 and finds its 150 in the runner's reaped count.
        // Nothing else ran: the machine was busy 150 - 60 = 90 ticks between.
        let mut a = s(0.0, 60, 140, 60, 2);
        a.own_cpu = 0;
        let mut b = s(1.0, 150, 250, 0, 1);
        b.own_cpu = 150;
        let d = assess(&[a, b], None, 0.10).unwrap();
        assert!(d.other_cpu_share < 1e-9, "{d:?}");
        assert!(!d.disturbed, "{d:?}");
        // Without the reaped count, the child's last 90 ticks would be
        // another process's: 45% of the machine.
        b.own_cpu = 0;
        b.child_cpu = 60;
        let d = assess(&[a, b], None, 0.10).unwrap();
        assert!((d.other_cpu_share - 0.45).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn a_timed_window_is_judged_on_its_own_samples() {
        // 2 CPUs (200 ticks/s). The child uses 100 ticks every second; other
        // processes 90 more between t = 5 and 7 only. The timed part 5.2..5.4
        // is widened to 1 s (4.8..5.8).
        let mut samples = Vec::new();
        let (mut busy, mut child) = (0u64, 0u64);
        for i in 0..=10u64 {
            samples.push(s(i as f64, busy, 200 * i - busy, child, 1));
            child += 100;
            busy += if (5..7).contains(&i) { 190 } else { 100 };
        }
        let d = assess(&samples, Some((5.2, 5.4)), 0.10).unwrap();
        assert_eq!(d.window, "timed");
        // The samples that bracket 4.8..5.8 are those at 4 and 6.
        assert!((d.window_s - 2.0).abs() < 1e-9, "{d:?}");
        assert!(d.disturbed, "{d:?}");
        let calm = assess(&samples, Some((1.2, 1.4)), 0.10).unwrap();
        assert!(!calm.disturbed, "{calm:?}");
        // The whole child sees a diluted share.
        let whole = assess(&samples, None, 0.10).unwrap();
        assert!(whole.other_cpu_share < d.other_cpu_share);
        // Too few samples: no judgement.
        assert!(assess(&samples[..1], None, 0.1).is_none());
    }
}
