//! Reading a guest file: WebAssembly binary or WAT text, and nothing else.

use anyhow::{Context, Result};

/// Reads the guest at `path` (`[guest] <key>`). A WAT file is converted to
/// binary; a file that is neither says so, with its first bytes.
pub fn read(path: &str, key: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| {
        let (message, fix) = unreadable(path, key);
        format!("{message}; {fix}")
    })?;
    from_bytes(bytes, path, key)
}

/// What to say when the guest at `path` (`[guest] <key>`) cannot be read,
/// and the fix, fitting where the file comes from: a guest the project's
/// fetch script provides is fetched (or built) with it; any other path is
/// the user's own, so the fix is the path.
pub fn unreadable(path: &str, key: &str) -> (String, String) {
    let message = match std::fs::metadata(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            format!("cannot read {path}: {e}")
        }
        _ => format!("no such file: {path}"),
    };
    match super::fetched::fetched_by(path) {
        Some(name) => (
            format!(
                "{message} (a guest the project's fetch script provides; guests/ is not committed)"
            ),
            format!(
                "run `{} --only {name}` (see its --help)",
                super::fetched::FETCH_COMMAND
            ),
        ),
        None => (
            message,
            format!(
                "fix the path in [guest] {key} (a relative path is read from the folder pooling-lab runs in{})",
                std::env::current_dir()
                    .map(|d| format!(", {}", d.display()))
                    .unwrap_or_default()
            ),
        ),
    }
}

/// Checks that `wasm` (the file at `path`, `[guest] <key>`) decodes and
/// validates as WebAssembly (every proposal allowed: what the engine does
/// not enable is its own, later error). The error is wasmparser's, with the
/// byte offset, and says so when the file ends early.
pub fn validate(wasm: &[u8], path: &str, key: &str) -> Result<()> {
    let mut v = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    if let Err(e) = v.validate_all(wasm) {
        let what = if wasmparser::Parser::is_component(wasm) {
            "component"
        } else {
            "module"
        };
        let cut = if e.message().contains("unexpected end") {
            format!(
                ": the file ends early ({} bytes), as a file cut short by an interrupted download, copy or build does",
                wasm.len()
            )
        } else {
            String::new()
        };
        anyhow::bail!("`{path}` ([guest] {key}) is not a valid WebAssembly {what}: {e}{cut}");
    }
    Ok(())
}

/// Checks that `bytes` (read from `path`) are WebAssembly, or converts WAT text.
pub fn from_bytes(bytes: Vec<u8>, path: &str, key: &str) -> Result<Vec<u8>> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    let first: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let Ok(text) = std::str::from_utf8(&bytes) else {
        anyhow::bail!(
            "`{path}` ([guest] {key}) is neither WebAssembly (which starts with 00 61 73 6d, \"\\0asm\") nor WAT text: it starts with bytes {}",
            first.join(" ")
        );
    };
    if !text.trim_start().starts_with('(') && !text.trim_start().starts_with(";;") {
        anyhow::bail!(
            "`{path}` ([guest] {key}) is neither WebAssembly (which starts with 00 61 73 6d, \"\\0asm\") nor WAT text (which starts with `(`): it starts with {:?} (bytes {})",
            text.chars().take(16).collect::<String>(),
            first.join(" ")
        );
    }
    wat::parse_str(text).with_context(|| format!("`{path}` ([guest] {key}) is not valid WAT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_are_named_with_their_first_bytes() {
        let err = from_bytes(vec![0x7f, 0x45, 0x4c, 0x46, 0xff, 0x00], "x.wasm", "wasm")
            .unwrap_err()
            .to_string();
        assert!(err.contains("neither WebAssembly"), "{err}");
        assert!(err.contains("7f 45 4c 46 ff 00"), "{err}");
    }

    #[test]
    fn text_that_is_not_wat_is_named() {
        let err = from_bytes(b"hello world".to_vec(), "x.wasm", "wasm")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"hello world\""), "{err}");
    }

    #[test]
    fn wat_is_converted_and_wasm_passes() {
        let wasm = from_bytes(b"(module)".to_vec(), "x.wat", "wasm").unwrap();
        assert!(wasm.starts_with(b"\0asm"));
        assert_eq!(from_bytes(wasm.clone(), "x", "wasm").unwrap(), wasm);
    }
}
