//! The guest faults table, over every variant whose scenario counts faults.

use crate::result::ResultFile;
use std::fmt::Write as _;

/// The guest faults each variant counted (the scenarios that count them
/// rather than stop at a failed call): the variant, its timed calls and the
/// counts.
fn counted_faults(r: &ResultFile) -> Vec<(&str, u64, &crate::scenario::GuestFaults)> {
    r.variants
        .iter()
        .filter_map(|v| {
            let (faults, calls) = v.result.as_ref()?.calls()?;
            Some((v.name.as_str(), calls, faults))
        })
        .collect()
}

/// Guest faults per variant that had any, by every kind the JSON counts;
/// "0 faults" in words when the result counts faults and there were none;
/// empty when no variant counts faults.
pub fn faults_table(r: &ResultFile) -> String {
    let rows = counted_faults(r);
    let faulted: Vec<_> = rows.iter().filter(|(_, _, f)| f.total() > 0).collect();
    if faulted.is_empty() {
        return if rows.is_empty() {
            String::new()
        } else {
            "0 faults: no timed call trapped, hit its deadline or memory limit, returned a wrong result or failed otherwise.\n".into()
        };
    }
    let mut out = String::from(
        "| variant | timed calls | faults | traps | deadline exceeded | memory limit | checks (wrong result) | other | first fault |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for (name, calls, f) in faulted {
        let _ = writeln!(
            out,
            "| {name} | {calls} | {} | {} | {} | {} | {} | {} | {} |",
            f.total(),
            f.traps,
            f.deadlines,
            f.memory_limits,
            f.checks,
            f.other,
            f.first
                .as_deref()
                .unwrap_or("-")
                .replace('|', "/")
                .replace('\n', " ")
        );
    }
    out
}
