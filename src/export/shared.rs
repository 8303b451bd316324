//! What the three formats share: their file names, the wasmtime-cli-flags
//! version they are checked against, the keys a variant sets and the notes
//! production needs beside them. Every format's module imports it; it
//! imports none of them.

use crate::settings::{EngineSettings, KeyDoc, PoolingSettings, Variant};

/// File name of the `wasmtime serve` command line.
pub const SERVE_FILE: &str = "wasmtime-serve.txt";
/// File name of the wasmtime CLI configuration file.
pub const CONFIG_FILE: &str = "wasmtime-config.toml";
/// File name of the builder code.
pub const BUILDER_FILE: &str = "builder.rs";
/// File name of the `wasmtime run` command line (command guests).
pub const RUN_FILE: &str = "wasmtime-run.txt";
/// The three files of a served guest, in the order they are written.
pub const FILES: [&str; 3] = [SERVE_FILE, CONFIG_FILE, BUILDER_FILE];
/// The three files of a command guest: `wasmtime run`, not serve.
pub const COMMAND_FILES: [&str; 3] = [RUN_FILE, CONFIG_FILE, BUILDER_FILE];

/// The files exported for `v`: [`COMMAND_FILES`] for a command guest,
/// else [`FILES`].
pub fn files_for(v: &Variant) -> [&'static str; 3] {
    if v.guest.kind.is_command() {
        COMMAND_FILES
    } else {
        FILES
    }
}

/// Version of wasmtime-cli-flags the CLI forms are checked against (from Cargo.lock).
pub const CLI_FLAGS_VERSION: &str = env!("POOLING_LAB_CLI_FLAGS_VERSION");

/// The `[engine]` and `[pooling]` keys `v` sets, in schema order, each with
/// its declaration and its value as JSON (as `tuned.toml` writes it).
/// `[pooling]` keys count only when `v` uses the pooling allocator.
pub fn set_keys(v: &Variant) -> Vec<(&'static KeyDoc, serde_json::Value)> {
    let mut out = Vec::new();
    let mut sections = vec![(EngineSettings::KEYS, serde_json::to_value(&v.engine))];
    if v.is_pooling() {
        sections.push((PoolingSettings::KEYS, serde_json::to_value(&v.pooling)));
    }
    for (keys, value) in sections {
        let Ok(serde_json::Value::Object(map)) = value else {
            continue;
        };
        for doc in keys {
            if let Some(val) = map.get(doc.key).filter(|v| !v.is_null()) {
                out.push((doc, val.clone()));
            }
        }
    }
    out
}

/// How production reproduces the tuned variant's snapshot (`[guest]
/// snapshot`, python `preinit`), as comment lines without their comment
/// marker; `None` when it has none.
///
/// `wasmtime wizer` cannot express these snapshots: it runs a reactor's
/// `_initialize` and then its `--init-func`, a nullary export (so
/// `--init-func _initialize` initialises twice, which a Go runtime or
/// wasi-libc reactor refuses: "randinit twice"), and it can neither pass the
/// plan's `init` arguments, nor run `preinit` code or a warm-up workload.
/// `pooling-lab snapshot` builds the snapshot the lab measured and checks it
/// against the un-snapshotted guest before writing it.
pub fn snapshot_note(v: &Variant) -> Option<Vec<String>> {
    let point = v.guest.snapshot_point();
    if point == crate::settings::SnapshotPoint::None {
        return None;
    }
    if v.guest.kind.is_component() {
        return Some(vec![
            "[guest] snapshot: the component is measured as its toolchain pre-initialised it"
                .into(),
            "  (componentize-py / ComponentizeJS): ship it as built.".into(),
        ]);
    }
    Some(vec![
        format!(
            "[guest] snapshot = \"{}\": every sandbox starts from a wasmtime-wizer snapshot.",
            point.name()
        ),
        "  Reproduce it (built as measured, checked against the un-snapshotted guest):".into(),
        "    pooling-lab snapshot tuned.toml --out guest.snapshot.wasm".into(),
        "  and load guest.snapshot.wasm instead of the guest. `wasmtime wizer` cannot express"
            .into(),
        "  it: it runs `_initialize` before its nullary --init-func (a Go or wasi-libc reactor"
            .into(),
        "  refuses a second `_initialize`), and cannot pass init arguments, run preinit code"
            .into(),
        "  or a warm-up. Whatever init read from random_get and the clocks is the same in every"
            .into(),
        "  sandbox: the snapshot command lists it.".into(),
    ])
}

/// What production must do when the tuned engine meters fuel or checks
/// epochs, as comment lines without their comment marker; `None` when it
/// does neither. A store of such an engine starts with no fuel and an
/// epoch deadline already reached, so its first instruction traps.
pub fn fuel_epoch_note(v: &Variant) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    if v.engine.consume_fuel == Some(true) {
        lines.extend([
            "consume_fuel: every store starts with 0 fuel and traps (\"all fuel consumed\") at"
                .into(),
            "  its first instruction: give each store a budget when it is made (instantiation"
                .into(),
            "  runs start functions) and again before each request: store.set_fuel(N)?.".into(),
        ]);
    }
    if v.engine.epoch_interruption == Some(true) {
        lines.extend([
            "epoch_interruption: a store's deadline starts already reached: run a thread that"
                .into(),
            "  calls engine.increment_epoch() every tick (pooling-lab: 1 ms, host::ticker) and,"
                .into(),
            "  before each request, store.epoch_deadline_trap(); store.set_epoch_deadline(ticks);"
                .into(),
        ]);
        if v.scenario.call_deadline_ms > 0 {
            lines.push(format!(
                "  (measured with a {} ms deadline: {} ticks of 1 ms).",
                v.scenario.call_deadline_ms, v.scenario.call_deadline_ms
            ));
        }
    }
    if lines.is_empty() {
        return None;
    }
    lines.push("examples/production.rs does both.".into());
    Some(lines)
}

/// `section.key`, the name a key goes by in messages and in [`super::cli_options::cli_names`].
pub fn full_key(doc: &KeyDoc) -> String {
    format!("{}.{}", doc.section, doc.key)
}
