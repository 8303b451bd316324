//! The JSON result file, written atomically.

use crate::result::ResultFile;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path` atomically: a temporary file in the same folder,
/// fsync'd, then renamed over `path`. A reader sees the old file or the new
/// one, never half of one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing in {}", dir.display()))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("saving {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

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
