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
/// An output the snapshot froze (it varied between fresh sandboxes of the
/// un-snapshotted guest, and is the same in every sandbox from the
/// snapshot), and an undeclared varying output, which the config should list.
pub fn snapshot_froze_output(o: &crate::result::VaryingOutput) -> Option<String> {
    let export = o.label.split('`').nth(1).unwrap_or(&o.label);
    let declare = if o.declared {
        String::new()
    } else {
        format!(
            " It is not listed in `[guest] nondeterministic`: list it (nondeterministic = [\"{export}\"]) to state that it may vary."
        )
    };
    if o.frozen {
        Some(format!(
            "{} became identical across sandboxes: the un-snapshotted guest gave `{}` and `{}`, every sandbox from the snapshot gives `{}`. Whatever the guest drew at init (a salt, a seed, an id) is now shared by every sandbox: re-draw it per sandbox after restore where it must differ.{declare}",
            o.label, o.without_snapshot[0], o.without_snapshot[1], o.from_snapshot[0]
        ))
    } else if !o.declared {
        Some(format!(
            "{} varies between fresh sandboxes of the un-snapshotted guest (`{}`, `{}`), so the check could not compare it with the snapshot's.{declare}",
            o.label, o.without_snapshot[0], o.without_snapshot[1]
        ))
    } else {
        None
    }
}

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
