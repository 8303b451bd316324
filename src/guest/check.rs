//! Checking a call's result: what a call wrote and returned, against what
//! the config expects. A failed check is a fault
//! ([`crate::host::guest_faults::CheckFailed`]), never a fast sample.

use crate::host::Host;
use crate::host::guest_faults::check_failed;
use crate::settings::byte_checks::{ByteChecks, CheckField, hex};
use wasmtime::Store;

/// What a call's outputs must hold: its stdout (`[guest] expect_stdout`,
/// `not_expect_stdout` and the binary checks) and the files it wrote
/// (`expect_files`); empty = not checked.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// The stdout checks.
    pub stdout: ByteChecks,
    /// Each checked file: its guest path, and its checks.
    pub files: Vec<(String, ByteChecks)>,
}

/// Characters of a guest's output a message shows at most.
const EXCERPT: usize = 400;

impl Outputs {
    /// No check of stdout or files (stderr and status are still checked).
    pub const NONE: Outputs = Outputs {
        stdout: ByteChecks {
            contains: String::new(),
            lacks: String::new(),
            len: None,
            sha256: None,
            prefix: Vec::new(),
        },
        files: Vec::new(),
    };

    /// The checks `[guest]` asks for. Validation has parsed their text
    /// before anything is measured; a value that does not parse is an
    /// error naming its key.
    pub fn from_settings(g: &crate::settings::GuestSettings) -> anyhow::Result<Outputs> {
        let stdout = ByteChecks::parse(
            &g.expect_stdout,
            &g.not_expect_stdout,
            &g.expect_stdout_len,
            &g.expect_stdout_sha256,
            &g.expect_stdout_prefix_hex,
        )
        .map_err(|(field, e)| anyhow::anyhow!("[guest] {}: {e}", stdout_key(field)))?;
        let files = g
            .expect_files
            .iter()
            .map(|f| {
                ByteChecks::parse(&f.contains, "", &f.len, &f.sha256, &f.prefix_hex)
                    .map(|c| (f.path.clone(), c))
                    .map_err(|(_, e)| anyhow::anyhow!("[guest] expect_files `{}`: {e}", f.path))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Outputs { stdout, files })
    }
}

/// The `[guest]` key of a stdout check's field.
fn stdout_key(field: CheckField) -> &'static str {
    match field {
        CheckField::Len => "expect_stdout_len",
        CheckField::Sha256 => "expect_stdout_sha256",
        CheckField::PrefixHex => "expect_stdout_prefix_hex",
    }
}

/// The first check `out` fails, as a message naming `what` (`stdout`, a
/// file) and the check (`key(field)`: the key that set it), with a bounded,
/// escaped excerpt of `out`; `None` when it passes them all.
pub fn failure(
    want: &ByteChecks,
    out: &[u8],
    what: &str,
    key: impl Fn(CheckField) -> String,
) -> Option<String> {
    let shown = || crate::host::capture::excerpt(out, EXCERPT);
    if let Some((lo, hi)) = want.len {
        let n = out.len() as u64;
        if n < lo || n > hi {
            let range = if lo == hi {
                format!("{lo}")
            } else {
                format!("{lo}..{hi}")
            };
            return Some(format!(
                "{what} is {n} bytes, {} = \"{range}\": {}",
                key(CheckField::Len),
                shown()
            ));
        }
    }
    if !want.prefix.is_empty() && !out.starts_with(&want.prefix) {
        return Some(format!(
            "{what} does not start with {} = \"{}\": {}",
            key(CheckField::PrefixHex),
            hex(&want.prefix),
            shown()
        ));
    }
    if let Some(sha) = want.sha256 {
        use sha2::Digest;
        let got: [u8; 32] = sha2::Sha256::digest(out).into();
        if got != sha {
            return Some(format!(
                "{what}'s SHA-256 is {}, {} = \"{}\": {}",
                hex(&got),
                key(CheckField::Sha256),
                hex(&sha),
                shown()
            ));
        }
    }
    if !want.contains.is_empty() && !contains(out, want.contains.as_bytes()) {
        return Some(format!(
            "{what} lacks the expected `{}`: {}",
            want.contains,
            shown()
        ));
    }
    if !want.lacks.is_empty() && contains(out, want.lacks.as_bytes()) {
        return Some(format!(
            "{what} contains `{}`, which not_expect_stdout rules out: {}",
            want.lacks,
            shown()
        ));
    }
    None
}

/// Whether `needle` occurs in `hay` (bytes: binary output is not decoded).
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Checks the files `want` names, read through the store's granted folders
/// (a fresh folder resolves to this sandbox's own). A file that is missing
/// or fails a check fails the call.
fn files(store: &Store<Host>, want: &[(String, ByteChecks)]) -> wasmtime::Result<()> {
    for (path, checks) in want {
        let Some(host) = store.data().host_path(path) else {
            return Err(check_failed(format!(
                "`{path}` is under no folder this sandbox was granted"
            )));
        };
        let bytes = match std::fs::read(&host) {
            Ok(b) => b,
            Err(e) => {
                return Err(check_failed(format!(
                    "the guest did not leave `{path}` (reading {}: {e})",
                    host.display()
                )));
            }
        };
        if let Some(why) = failure(checks, &bytes, &format!("`{path}`"), |f| {
            let field = match f {
                CheckField::Len => "len",
                CheckField::Sha256 => "sha256",
                CheckField::PrefixHex => "prefix_hex",
            };
            format!("expect_files `{path}` {field}")
        }) {
            return Err(check_failed(why));
        }
    }
    Ok(())
}

/// What a call that wrote more than the output limit is told, naming the
/// stream, the limit, the bytes written and the key to raise.
fn over_limit(stream: &str, limit: usize, kept: usize, refused: u64) -> String {
    let written = kept as u64 + refused;
    let suggest = crate::settings::ByteSize((written * 2).next_power_of_two());
    format!(
        "the guest wrote at least {written} bytes to {stream}, over [guest] output_limit = {} ({limit} bytes): \
         {kept} were kept and the rest refused, which the guest saw as a failed write; \
         raise it, e.g. output_limit = \"{suggest}\"",
        crate::settings::ByteSize(limit as u64)
    )
}

/// A guest call's result, explained: a call that failed after writing more
/// than the output limit fails as a check naming the limit (whatever the
/// guest made of the refused write: a trap, an error status); any other
/// failure carries what the guest wrote to stderr, bounded and escaped.
pub fn after_call<T>(store: &mut Store<Host>, r: wasmtime::Result<T>) -> wasmtime::Result<T> {
    let Err(e) = r else { return r };
    let Some(out) = store.data_mut().output.as_mut() else {
        return Err(e);
    };
    for (name, pipe) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if pipe.refused() > 0 {
            let (limit, t) = (pipe.limit(), pipe.take());
            // What the guest made of the refused write, in one line (a
            // trap's text carries a multi-line backtrace).
            let then = match e.downcast_ref::<wasmtime::Trap>() {
                Some(trap) => format!("the guest then trapped: {trap}"),
                None => e.to_string().lines().next().unwrap_or_default().to_string(),
            };
            return Err(check_failed(format!(
                "{} ({then})",
                over_limit(name, limit, t.bytes.len(), t.refused)
            )));
        }
    }
    let err = out.new_stderr();
    if err.bytes.is_empty() {
        return Err(e);
    }
    Err(e.context(format!(
        "{}{}",
        crate::host::guest_faults::STDERR_CONTEXT,
        crate::host::capture::excerpt(&err.bytes, EXCERPT)
    )))
}

/// Checks a WASI call's status and the output it wrote (only this call's:
/// a reused sandbox's earlier output cannot satisfy or fail a later call). A
/// non-zero status, anything on stderr, output over the limit, or stdout
/// failing one of `want`'s checks fails. Each call's output is taken from
/// the capture, checked or not, so the limit is per call.
pub fn output(
    store: &mut Store<Host>,
    status: i32,
    what: &str,
    want: &Outputs,
) -> wasmtime::Result<()> {
    let Some(out) = store.data_mut().output.as_mut() else {
        return Ok(());
    };
    let (limit, err, stdout) = (out.stdout.limit(), out.new_stderr(), out.new_stdout());
    for (name, t) in [("stdout", &stdout), ("stderr", &err)] {
        if t.refused > 0 {
            return Err(check_failed(over_limit(
                name,
                limit,
                t.bytes.len(),
                t.refused,
            )));
        }
    }
    if status != 0 {
        return Err(check_failed(format!(
            "`{what}` returned {status}; stderr: {}",
            crate::host::capture::excerpt(&err.bytes, EXCERPT)
        )));
    }
    if !err.bytes.is_empty() {
        return Err(check_failed(format!(
            "the guest wrote to stderr: {}",
            crate::host::capture::excerpt(&err.bytes, EXCERPT)
        )));
    }
    if want.stdout.any()
        && let Some(why) = failure(&want.stdout, &stdout.bytes, "stdout", |f| {
            stdout_key(f).to_string()
        })
    {
        return Err(check_failed(why));
    }
    files(store, &want.files)?;
    record(store, || format!("the stdout of `{what}`"), || stdout.bytes);
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
