//! The JSON result file, written atomically.

use crate::result::ResultFile;
use anyhow::{Context, Result};
use std::path::Path;

pub use crate::files::write_atomic;

/// Writes the result as pretty JSON.
pub fn write(path: &Path, result: &ResultFile) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(result)?;
    text.push(b'\n');
    write_atomic(path, &text)
}

/// Reads a result file of any layout pooling-lab has written, converted to
/// the current one ([`crate::result::upgrade`]).
pub fn read(path: &Path) -> Result<ResultFile> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    crate::result::upgrade(&mut doc)
        .map_err(|e| anyhow::anyhow!("{} is not a pooling-lab result: {e}", path.display()))?;
    serde_json::from_value(doc)
        .with_context(|| format!("{} is not a pooling-lab result", path.display()))
}
