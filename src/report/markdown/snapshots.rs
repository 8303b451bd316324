//! The snapshots a run's variants start from.

use crate::result::ResultFile;
use std::fmt::Write as _;

/// The snapshot table (one row per variant that starts from a snapshot, or
/// whose component its toolchain pre-initialised), then what each froze.
pub fn preinit_lines(r: &ResultFile) -> String {
    let mut out = String::new();
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let rows: Vec<_> = r
        .variants
        .iter()
        .filter_map(|v| v.preinit_snapshot.as_ref().map(|p| (v, p)))
        .collect();
    if rows.is_empty() {
        return out;
    }
    out.push_str("| variant | snapshot point | made by | build (s) | module MiB (before -> after) | data image MiB (before -> after) | frozen reads |\n|---|---|---|---:|---|---|---|\n");
    for (v, p) in &rows {
        let point = p.point.as_deref().unwrap_or("after-init");
        let made_by = match (&p.toolchain, v.settings.guest.preinit.is_empty()) {
            (Some(t), _) => format!("its toolchain ({t})"),
            (None, false) => format!(
                "wasmtime-wizer, preinit `{}`",
                v.settings
                    .guest
                    .preinit
                    .replace('`', "'")
                    .replace('|', "\\|")
            ),
            (None, true) => "wasmtime-wizer".to_string(),
        };
        let frozen = if p.frozen.is_empty() {
            "none".to_string()
        } else {
            p.frozen.describe().join("; ")
        };
        let _ = writeln!(
            out,
            "| {} | {point} | {made_by} | {} | {:.2} -> {:.2} | {:.2} -> {:.2} | {frozen} |",
            v.name,
            if p.build_ms > 0.0 {
                format!("{:.1}", p.build_ms / 1e3)
            } else {
                "-".into()
            },
            mib(p.original_bytes),
            mib(p.wasm_bytes),
            mib(p.original_data_image_bytes),
            mib(p.data_image_bytes),
        );
    }
    out.push('\n');
    for (v, p) in &rows {
        if let Some(w) = crate::report::warnings::snapshot_frozen(p) {
            let _ = writeln!(out, "- **{}**: {w}", v.name);
        }
    }
    let varying: Vec<_> = rows
        .iter()
        .flat_map(|(v, p)| p.varying_outputs.iter().map(move |o| (v, o)))
        .collect();
    if !varying.is_empty() {
        out.push_str("\nOutputs that vary between fresh sandboxes of the un-snapshotted guest (its own nondeterminism: not held against the snapshot), and what the snapshot does to them:\n\n| variant | output | without the snapshot (two sandboxes) | from the snapshot (two sandboxes) | frozen by the snapshot |\n|---|---|---|---|---|\n");
        let cell = |s: &str| format!("`{}`", s.replace('`', "'").replace('|', "\\|"));
        for (v, o) in &varying {
            let frozen = if o.frozen {
                "**yes**: every sandbox gives the same value"
            } else if o.without_snapshot[0] == o.without_snapshot[1] {
                "did not vary in this check"
            } else {
                "no: still varies"
            };
            let _ = writeln!(
                out,
                "| {} | {}{} | {} / {} | {} / {} | {frozen} |",
                v.name,
                o.label.replace('`', "").replace('|', "\\|"),
                if o.declared { " (declared)" } else { "" },
                cell(&o.without_snapshot[0]),
                cell(&o.without_snapshot[1]),
                cell(&o.from_snapshot[0]),
                cell(&o.from_snapshot[1]),
            );
        }
        out.push('\n');
        for (v, o) in &varying {
            if let Some(w) = crate::report::warnings::snapshot_froze_output(o) {
                let _ = writeln!(out, "- **{}**: {w}", v.name);
            }
        }
    }
    out
}
