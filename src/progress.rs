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
}
