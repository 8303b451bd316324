//! Reading a guest file: WebAssembly binary or WAT text, and nothing else.

use anyhow::{Context, Result};

/// Reads the guest at `path` (`[guest] <key>`). A WAT file is converted to
/// binary; a file that is neither says so, with its first bytes.
pub fn read(path: &str, key: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "reading the guest `{path}` ([guest] {key}); downloaded guests are not committed: run `{}` first (see its --help)",
            super::FETCH_COMMAND
        )
    })?;
    from_bytes(bytes, path, key)
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
