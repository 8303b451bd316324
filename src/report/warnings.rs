//! Reasons not to trust a figure, the way hyperfine warns about outliers:
//! kept out of the measuring code, computed from the result afterwards.

use crate::measure::disturbance::Disturbance;

/// The warning of a variant measured while the machine was busy: the worst
/// round's figures, and in how many of the counted rounds it happened.
pub fn disturbed(d: &Disturbance, disturbed_rounds: usize, rounds: usize) -> String {
    format!(
        "disturbed{}: {}; its figures describe a disturbed machine, and `compare` gives it no verdict. \
         Rerun on a quiet machine.",
        if rounds > 1 {
            format!(" in {disturbed_rounds} of {rounds} rounds")
        } else {
            String::new()
        },
        d.describe()
    )
}

/// The warning for a snapshot whose initialisation read entropy or clocks:
/// every sandbox made from it starts with those same values. `None` when it
/// read neither.
pub fn snapshot_frozen(s: &crate::result::PreinitSnapshot) -> Option<String> {
    if s.frozen.is_empty() {
        return None;
    }
    Some(format!(
        "the snapshot froze nondeterministic values: its initialisation read {}. Every sandbox \
         started from it begins with the same values: hash seeds (hash-flooding protection), map \
         and PRNG seeds, start times. Before shipping this snapshot, check what the guest derived \
         from them, and re-seed after restore where it matters (e.g. Python: PYTHONHASHSEED is \
         fixed at init; Go: the runtime's hash seed).",
        s.frozen.describe().join("; ")
    ))
}
