//! Checking a call's result: what a call wrote and returned, against what
//! the config expects. A failed check is a fault
//! ([`crate::host::guest_faults::CheckFailed`]), never a fast sample.

use crate::host::Host;
use crate::host::guest_faults::check_failed;
use wasmtime::Store;

/// What a call's stdout must hold (`[guest] expect_stdout`) and must not
/// (`not_expect_stdout`); empty = not checked.
#[derive(Debug, Clone, Default)]
pub struct Stdout {
    /// Text it must contain.
    pub expect: String,
    /// Text it must not contain.
    pub lacks: String,
}

impl Stdout {
    /// No check of stdout (stderr and status are still checked).
    pub const NONE: Stdout = Stdout {
        expect: String::new(),
        lacks: String::new(),
    };

    /// The stdout checks `[guest]` asks for.
    pub fn from_settings(g: &crate::settings::GuestSettings) -> Stdout {
        Stdout {
            expect: g.expect_stdout.clone(),
            lacks: g.not_expect_stdout.clone(),
        }
    }
}

/// Checks a WASI call's status and the output it wrote (only this call's:
/// a reused sandbox's earlier output cannot satisfy or fail a later call). A
/// non-zero status, anything on stderr, stdout without `want.expect` or
/// with `want.lacks` (each when not empty) fails.
pub fn output(
    store: &mut Store<Host>,
    status: i32,
    what: &str,
    want: &Stdout,
) -> wasmtime::Result<()> {
    let (expect, lacks) = (want.expect.as_str(), want.lacks.as_str());
    let Some(out) = store.data_mut().output.as_mut() else {
        return Ok(());
    };
    let new_err = out.new_stderr();
    if status != 0 {
        return Err(check_failed(format!(
            "`{what}` returned {status}; stderr: {}",
            String::from_utf8_lossy(&new_err).trim()
        )));
    }
    if !new_err.is_empty() {
        return Err(check_failed(format!(
            "the guest wrote to stderr: {}",
            String::from_utf8_lossy(&new_err).trim()
        )));
    }
    let recording = store.data().transcript.is_some();
    if !expect.is_empty() || !lacks.is_empty() || recording {
        let Some(out) = store.data_mut().output.as_mut() else {
            return Ok(());
        };
        let new_out = out.new_stdout();
        if !expect.is_empty() && !String::from_utf8_lossy(&new_out).contains(expect) {
            return Err(check_failed(format!(
                "stdout lacks the expected `{expect}`: {}",
                String::from_utf8_lossy(&new_out).trim()
            )));
        }
        if !lacks.is_empty() && String::from_utf8_lossy(&new_out).contains(lacks) {
            return Err(check_failed(format!(
                "stdout contains `{lacks}`, which not_expect_stdout rules out: {}",
                shorten(String::from_utf8_lossy(&new_out).trim())
            )));
        }
        record(store, || format!("the stdout of `{what}`"), || new_out);
    }
    Ok(())
}

/// Appends a call's output to the store's transcript, when it keeps one
/// ([`Host::transcript`]); label and output are made only then, so a
/// measured call (no transcript) pays one check and no allocation.
pub fn record(
    store: &mut Store<Host>,
    label: impl FnOnce() -> String,
    output: impl FnOnce() -> Vec<u8>,
) {
    if let Some(t) = store.data_mut().transcript.as_mut() {
        t.push((label(), output()));
    }
}

/// Checks returned bytes: they must contain `contains` and lack `lacks`
/// (each when not empty) and equal `equals` (when set). `what` names them,
/// and is made only when a check fails.
pub fn bytes(
    what: impl FnOnce() -> String,
    got: &[u8],
    contains: &str,
    lacks: &str,
    equals: Option<&str>,
) -> wasmtime::Result<()> {
    if contains.is_empty() && lacks.is_empty() && equals.is_none() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(got);
    if let Some(want) = equals
        && text != want
    {
        return Err(check_failed(format!(
            "{} is {:?}, expected exactly {want:?}",
            what(),
            shorten(&text)
        )));
    }
    if !contains.is_empty() && !text.contains(contains) {
        return Err(check_failed(format!(
            "{} lacks the expected `{contains}`: {:?}",
            what(),
            shorten(&text)
        )));
    }
    if !lacks.is_empty() && text.contains(lacks) {
        return Err(check_failed(format!(
            "{} contains `{lacks}`, which not_expect rules out: {:?}",
            what(),
            shorten(&text)
        )));
    }
    Ok(())
}

/// `s`, cut to 200 bytes (at a character boundary) with `...` when longer.
pub(crate) fn shorten(s: &str) -> String {
    if s.len() <= 200 {
        s.to_string()
    } else {
        format!("{}...", &s[..s.floor_char_boundary(200)])
    }
}
