//! The byte checks `[guest]` writes as text (`expect_stdout_len`,
//! `expect_stdout_sha256`, `expect_stdout_prefix_hex`, and the same fields of
//! an `expect_files` entry), parsed once: validation reports a value that
//! does not parse, with the file and line, before anything is measured; the
//! guest kinds run the parsed checks (`crate::guest::check`).

/// What an output (stdout, or a file the guest wrote) must hold; every
/// field empty = not checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ByteChecks {
    /// Text it must contain (as bytes: binary output is not decoded).
    pub contains: String,
    /// Text it must not contain.
    pub lacks: String,
    /// Its length must be within (inclusive).
    pub len: Option<(u64, u64)>,
    /// Its SHA-256.
    pub sha256: Option<[u8; 32]>,
    /// Bytes it must start with.
    pub prefix: Vec<u8>,
}

/// Which text field of a check a parse error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckField {
    /// The length or range.
    Len,
    /// The SHA-256.
    Sha256,
    /// The prefix, as hex.
    PrefixHex,
}

impl ByteChecks {
    /// Parses the text forms: `len` is `""`, `"N"` or `"MIN..MAX"` (byte
    /// sizes such as `"8MiB"` allowed), `sha256` is `""` or 64 hex digits,
    /// `prefix_hex` is `""` or hex (spaces allowed). `Err` names the field
    /// and says what is wrong.
    pub fn parse(
        contains: &str,
        lacks: &str,
        len: &str,
        sha256: &str,
        prefix_hex: &str,
    ) -> Result<ByteChecks, (CheckField, String)> {
        Ok(ByteChecks {
            contains: contains.to_string(),
            lacks: lacks.to_string(),
            len: parse_len(len).map_err(|e| (CheckField::Len, e))?,
            sha256: parse_sha256(sha256).map_err(|e| (CheckField::Sha256, e))?,
            prefix: parse_hex(prefix_hex).map_err(|e| (CheckField::PrefixHex, e))?,
        })
    }

    /// Whether any check is set.
    pub fn any(&self) -> bool {
        !self.contains.is_empty()
            || !self.lacks.is_empty()
            || self.len.is_some()
            || self.sha256.is_some()
            || !self.prefix.is_empty()
    }
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `""`, `"N"` or `"MIN..MAX"` (each a byte size: `1234`, `"8MiB"`).
fn parse_len(s: &str) -> Result<Option<(u64, u64)>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let size = |t: &str| {
        super::size::ByteSize::parse(t.trim())
            .map(|b| b.0)
            .map_err(|e| {
                format!("`{t}` is not a length: {e} (write \"1234\", \"8MiB\" or \"1KiB..2MiB\")")
            })
    };
    let (lo, hi) = match s.split_once("..") {
        Some((a, b)) => (size(a)?, size(b)?),
        None => {
            let n = size(s)?;
            (n, n)
        }
    };
    if lo > hi {
        return Err(format!("`{s}`: the range's minimum is above its maximum"));
    }
    Ok(Some((lo, hi)))
}

/// `""` or hex (any case, spaces allowed) as bytes.
fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.is_ascii() {
        return Err(format!("`{s}` is not hex (digits 0-9, a-f)"));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!("`{s}` has an odd number of hex digits"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| format!("`{s}` is not hex (digits 0-9, a-f)"))
        })
        .collect()
}

/// `""` or 64 hex digits.
fn parse_sha256(s: &str) -> Result<Option<[u8; 32]>, String> {
    let b = parse_hex(s)?;
    if b.is_empty() {
        return Ok(None);
    }
    <[u8; 32]>::try_from(b.as_slice()).map(Some).map_err(|_| {
        format!(
            "`{s}` is {} bytes; a SHA-256 is 32 (64 hex digits)",
            b.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_parse_as_one_value_or_a_range() {
        assert_eq!(parse_len("").unwrap(), None);
        assert_eq!(parse_len("1234").unwrap(), Some((1234, 1234)));
        assert_eq!(parse_len("1KiB..2MiB").unwrap(), Some((1024, 2 << 20)));
        assert!(
            parse_len("2MiB..1KiB")
                .unwrap_err()
                .contains("minimum is above")
        );
        assert!(parse_len("lots").is_err());
    }

    #[test]
    fn hex_parses_any_case_with_spaces_and_refuses_the_rest() {
        assert_eq!(
            parse_hex("89 50 4E 47").unwrap(),
            vec![0x89, 0x50, 0x4e, 0x47]
        );
        assert!(parse_hex("895").unwrap_err().contains("odd"));
        assert!(parse_hex("zz").unwrap_err().contains("not hex"));
        // Multi-byte characters are refused, not sliced through.
        assert!(parse_hex("ééé").unwrap_err().contains("not hex"));
    }

    #[test]
    fn a_sha256_is_exactly_32_bytes() {
        let ok = "ab".repeat(32);
        assert_eq!(parse_sha256(&ok).unwrap(), Some([0xab; 32]));
        assert!(
            parse_sha256(&"ab".repeat(31))
                .unwrap_err()
                .contains("31 bytes")
        );
        let e = ByteChecks::parse("", "", "", "abc", "").unwrap_err();
        assert_eq!(e.0, CheckField::Sha256);
        let e = ByteChecks::parse("", "", "x", "", "").unwrap_err();
        assert_eq!(e.0, CheckField::Len);
        assert!(!ByteChecks::parse("", "", "", "", "").unwrap().any());
        assert!(ByteChecks::parse("", "", "", "", "00").unwrap().any());
    }
}
