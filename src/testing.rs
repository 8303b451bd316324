//! What pooling-lab's own tests do when the machine cannot run a test's real
//! check (no `PAGEMAP_SCAN`, `perf_event_open` refused, a guest not built).
//! Production code never calls this.
//!
//! Under `CI=true` the machine is expected to have everything, so a test that
//! cannot check fails, naming what is missing: a CI that loses a kernel
//! feature turns red instead of passing having checked nothing. Elsewhere the
//! test passes without its check, and says so where the test harness cannot
//! swallow it: a `SKIPPED` line on the process's stderr at once (written past
//! libtest's output capture, which takes only `print!`/`eprint!`), and when
//! the test binary exits a closing `skipped: N (why)` line.
//!
//! The switches below make a facility unavailable on a machine that has it,
//! so that both paths (the skip, and the fallback a scenario reports) can be
//! exercised anywhere.

use std::io::Write;
use std::sync::{Mutex, Once};

/// Set to `1`: pooling-lab's own `PAGEMAP_SCAN` readings (the dirty-region
/// diagnostic, [`crate::measure::dirty`]) behave as on a kernel without the
/// ioctl (before Linux 6.7). wasmtime's own reset is not affected.
pub const NO_PAGEMAP_SCAN: &str = "POOLING_LAB_NO_PAGEMAP_SCAN";
/// Set to `1`: pooling-lab's `perf_event_open` fault sampling
/// ([`crate::measure::faults::MajorFaultTrace`]) behaves as where the
/// kernel refuses it (`perf_event_paranoid = 3`, a seccomp filter).
pub const NO_PERF_EVENTS: &str = "POOLING_LAB_NO_PERF_EVENTS";

/// The error a facility hidden by switch `var` gives, if `var` is set to `1`.
pub fn hidden(var: &str, what: &str) -> Option<std::io::Error> {
    hidden_when(std::env::var(var).ok().as_deref(), var, what)
}

/// [`hidden`] for switch `var` whose value is `value`.
fn hidden_when(value: Option<&str>, var: &str, what: &str) -> Option<std::io::Error> {
    (value == Some("1")).then(|| {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("{what} hidden by {var}=1"),
        )
    })
}

/// Reasons this process's tests gave for not checking, for the closing line.
static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Registers the closing line once.
static AT_EXIT: Once = Once::new();

/// Whether this is CI (`CI=true`), where every check must run.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// What a test that cannot run its check does: with `ci`, an error naming
/// `reason` (the caller fails); otherwise the line it prints.
pub fn verdict(ci: bool, test: &str, reason: &str) -> Result<String, String> {
    if ci {
        Err(format!("CI=true and {test} cannot run its check: {reason}"))
    } else {
        Ok(format!("SKIPPED (not checked here): {test}: {reason}"))
    }
}

/// The calling test cannot run its real check, because of `reason` (name
/// what is missing and how to get it). Panics under `CI=true`; elsewhere
/// reports the skip where it is seen and returns, and the test returns.
pub fn cannot_check(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    match verdict(in_ci(), test, reason) {
        Err(e) => panic!("{e}"),
        Ok(line) => {
            let _ = writeln!(std::io::stderr(), "{line}");
            SKIPPED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{test}: {reason}"));
            AT_EXIT.call_once(|| {
                // SAFETY: `closing_line` is an `extern "C" fn()` that does
                // not unwind (it catches nothing and cannot panic: it only
                // locks a poison-tolerant mutex and writes to stderr).
                unsafe { libc::atexit(closing_line) };
            });
        }
    }
}

/// The closing `skipped: N (why)` line of a test binary that skipped.
fn closing_text(skipped: &[String]) -> String {
    format!(
        "skipped: {} (not checked on this machine; CI=true fails instead): {}",
        skipped.len(),
        skipped.join("; ")
    )
}

extern "C" fn closing_line() {
    let skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    if !skipped.is_empty() {
        let _ = writeln!(std::io::stderr(), "{}", closing_text(&skipped));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_ci_a_test_that_cannot_check_fails_naming_what_is_missing() {
        let e = verdict(true, "t", "PAGEMAP_SCAN unavailable").unwrap_err();
        assert!(
            e.contains("CI=true") && e.contains("PAGEMAP_SCAN unavailable"),
            "{e}"
        );
        let line = verdict(false, "t", "PAGEMAP_SCAN unavailable").unwrap();
        assert!(
            line.starts_with("SKIPPED") && line.contains("t: PAGEMAP_SCAN"),
            "{line}"
        );
    }

    #[test]
    fn the_closing_line_counts_every_skip_with_its_reason() {
        let text = closing_text(&["a: no scan".into(), "b: no perf".into()]);
        assert!(text.starts_with("skipped: 2 "), "{text}");
        assert!(text.contains("a: no scan; b: no perf"), "{text}");
    }

    #[test]
    fn a_switch_hides_only_when_set_to_one() {
        let e = hidden_when(Some("1"), NO_PAGEMAP_SCAN, "PAGEMAP_SCAN").unwrap();
        assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
        assert_eq!(
            e.to_string(),
            format!("PAGEMAP_SCAN hidden by {NO_PAGEMAP_SCAN}=1")
        );
        assert!(hidden_when(Some("0"), NO_PAGEMAP_SCAN, "PAGEMAP_SCAN").is_none());
        assert!(hidden_when(None, NO_PAGEMAP_SCAN, "PAGEMAP_SCAN").is_none());
    }
}
