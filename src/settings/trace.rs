//! Trace files of the tenants scenario: which tenant each request is for.

/// Parses a trace file: one tenant id per line (decimal, below `tenants`);
/// blank lines and everything after `#` are ignored.
pub fn parse_trace(text: &str, tenants: u32) -> Result<Vec<u32>, String> {
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let id: u32 = line
            .parse()
            .map_err(|_| format!("line {}: `{line}` is not a tenant id", n + 1))?;
        if id >= tenants {
            return Err(format!(
                "line {}: tenant id {id} is not below tenants = {tenants}",
                n + 1
            ));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err("it lists no tenant id".into());
    }
    Ok(ids)
}
