//! Progress on stderr, kept out of the measuring code.
//!
//! The measuring child never draws anything. Its scenarios bump a process-wide
//! counter ([`set_total`], [`tick`]: one relaxed atomic add, called outside
//! every timed region and only every few iterations), and a reporter thread
//! turns the counter into a marker line on stderr at most ten times a second.
//! The parent reads the child's stderr, turns marker lines into an indicatif
//! bar and passes every other line through. Nothing is drawn when stderr is
//! not a terminal or with `--quiet`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Prefix of the child's progress lines on stderr.
pub const MARKER: &str = "\u{1e}pooling-lab-progress ";

static DONE: AtomicU64 = AtomicU64::new(0);
static TOTAL: AtomicU64 = AtomicU64::new(0);
static ENABLED: AtomicBool = AtomicBool::new(false);
static LABEL: OnceLock<parking_lot::Mutex<String>> = OnceLock::new();

/// Child side: starts the reporter thread (call once, when the parent asked for progress).
pub fn start_reporter() {
    if ENABLED.swap(true, Ordering::AcqRel) {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("progress".into())
        .spawn(|| {
            let mut last = (u64::MAX, u64::MAX);
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let now = (DONE.load(Ordering::Relaxed), TOTAL.load(Ordering::Relaxed));
                if now != last && now.1 > 0 {
                    let label = LABEL.get().map(|l| l.lock().clone()).unwrap_or_default();
                    let mut err = std::io::stderr().lock();
                    let _ = writeln!(err, "{MARKER}{} {} {label}", now.0, now.1);
                    last = now;
                }
            }
        });
}

/// Child side: a new phase with `total` steps (resets the count).
pub fn set_total(total: u64, label: &str) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    *LABEL
        .get_or_init(|| parking_lot::Mutex::new(String::new()))
        .lock() = label.to_string();
    DONE.store(0, Ordering::Relaxed);
    TOTAL.store(total, Ordering::Relaxed);
}

/// Child side: `n` more steps done. Call outside timed regions.
#[inline]
pub fn tick(n: u64) {
    if ENABLED.load(Ordering::Relaxed) {
        DONE.fetch_add(n, Ordering::Relaxed);
    }
}

/// A parsed marker line: (done, total, label).
pub fn parse_marker(line: &str) -> Option<(u64, u64, &str)> {
    let rest = line.strip_prefix(MARKER)?;
    let mut it = rest.splitn(3, ' ');
    let done = it.next()?.parse().ok()?;
    let total = it.next()?.parse().ok()?;
    Some((done, total, it.next().unwrap_or("")))
}

/// The runner's count of measurements for its plain progress lines
/// (`[done/total] label`): every variant in every round, plus each re-run of
/// a disturbed measurement from when it is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasurementCount {
    done: u64,
    total: u64,
}

impl MeasurementCount {
    /// `variants` measured in each of `rounds` rounds, none done yet.
    pub fn new(variants: u64, rounds: u64) -> MeasurementCount {
        MeasurementCount {
            done: 0,
            total: variants * rounds,
        }
    }

    /// Measurements planned so far (re-runs included once scheduled).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// A measurement starts: counts it and returns its line's prefix, `[done/total]`.
    pub fn start(&mut self) -> String {
        self.done += 1;
        format!("[{}/{}]", self.done, self.total)
    }

    /// A re-run has been scheduled: one more measurement to come.
    pub fn rerun_scheduled(&mut self) {
        self.total += 1;
    }
}

/// Parent side: the bars of a run.
pub struct RunProgress {
    multi: Option<MultiProgress>,
    quiet: bool,
}

impl RunProgress {
    /// Bars on stderr if it is a terminal and not `quiet`; plain lines otherwise.
    pub fn new(quiet: bool) -> RunProgress {
        let draw = !quiet && std::io::stderr().is_terminal();
        RunProgress {
            multi: draw.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            quiet,
        }
    }

    /// Whether bars are drawn (and the child should report progress).
    pub fn drawing(&self) -> bool {
        self.multi.is_some()
    }

    /// A bar over `len` steps with ETA, or a hidden one.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        match &self.multi {
            Some(m) => {
                let b = m.add(ProgressBar::new(len));
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>12} [{bar:30}] {pos}/{len} {msg} (ETA {eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b.set_prefix(what.to_string());
                b
            }
            None => ProgressBar::hidden(),
        }
    }

    /// A spinner for a step of unknown length, or a hidden one.
    pub fn spinner(&self, msg: &str) -> ProgressBar {
        match &self.multi {
            Some(m) => {
                let b = m.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_message(msg.to_string());
                b.enable_steady_tick(Duration::from_millis(120));
                b
            }
            None => ProgressBar::hidden(),
        }
    }

    /// Prints a line above the bars (or plainly), unless quiet.
    pub fn say(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => eprintln!("{msg}"),
        }
    }

    /// Forwards a child's stderr: marker lines move `bar`, others are printed.
    /// Returns the last progress the child reported, as `"done/total label"`.
    pub fn follow_child(&self, stderr: impl std::io::Read, bar: &ProgressBar) -> Option<String> {
        let reader = std::io::BufReader::new(stderr);
        let mut last = None;
        for line in reader.lines().map_while(Result::ok) {
            if let Some((done, total, label)) = parse_marker(&line) {
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(label.to_string());
                last = Some(format!("{done}/{total} {label}"));
            } else {
                // The child's own messages (warnings, errors) always pass.
                match &self.multi {
                    Some(m) => {
                        let _ = m.println(&line);
                    }
                    None => eprintln!("{line}"),
                }
            }
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trip() {
        let line = format!("{MARKER}15 200 churn cycles");
        assert_eq!(parse_marker(&line), Some((15, 200, "churn cycles")));
        assert_eq!(parse_marker("warning: x"), None);
        assert_eq!(parse_marker(&format!("{MARKER}x 2")), None);
    }

    #[test]
    fn re_runs_count_in_the_total_once_scheduled() {
        // 3 variants over 2 rounds; in round 1 the first and the last are
        // disturbed and re-run at the end of the round, as the runner does.
        let (variants, rounds) = (3u64, 2u64);
        let disturbed = [(1u64, 0usize), (1, 2)];
        let mut count = MeasurementCount::new(variants, rounds);
        let mut lines = Vec::new();
        for round in 1..=rounds {
            let mut queue: Vec<(usize, bool)> =
                (0..variants as usize).map(|i| (i, false)).collect();
            let mut next = 0;
            while next < queue.len() {
                let (i, rerun) = queue[next];
                next += 1;
                lines.push(count.start());
                if !rerun && disturbed.contains(&(round, i)) {
                    queue.push((i, true));
                    count.rerun_scheduled();
                }
            }
        }
        let all = variants * rounds + disturbed.len() as u64;
        assert_eq!(lines.len() as u64, all);
        assert_eq!(count.total(), all);
        for (k, line) in lines.iter().enumerate() {
            let (done, total) = line
                .trim_matches(|c| c == '[' || c == ']')
                .split_once('/')
                .map(|(d, t)| (d.parse::<u64>().unwrap(), t.parse::<u64>().unwrap()))
                .unwrap();
            assert_eq!(done, k as u64 + 1, "{lines:?}");
            assert!(done <= total, "{line} counts past its total: {lines:?}");
        }
        assert_eq!(lines.last().unwrap(), &format!("[{all}/{all}]"));
    }
}
