//! `wasmtime-serve.txt`: the `wasmtime serve` command line with the tuned
//! settings, what could not be expressed, and how many requests the pool
//! holds when every request instantiates a component.

use super::cli_options::{CliExport, Why};
use super::shared::{CLI_FLAGS_VERSION, CONFIG_FILE};
use crate::guest::shape::{self, Shape};
use crate::settings::{GuestKind, Variant};
use std::fmt::Write as _;

/// The file's text for `v`, from its checked CLI form `cli`.
pub fn text(v: &Variant, cli: &CliExport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# `wasmtime serve` with the tuned settings of `{}`, for wasmtime {}.\n\
         # Made by `pooling-lab export` with wasmtime-cli-flags {CLI_FLAGS_VERSION}, the crate\n\
         # wasmtime's CLI parses these flags with, and checked with it: the flags parse, and\n\
         # the engine they configure has every tuned setting (read back from wasmtime).",
        v.name,
        env!("POOLING_LAB_WASMTIME_VERSION"),
    );
    s.push_str("wasmtime serve \\\n");
    for pair in cli.args().chunks(2) {
        let _ = writeln!(s, "  {} \\", pair.join(" "));
    }
    s.push_str("  <component.wasm>\n\n");
    let _ = writeln!(
        s,
        "# The same settings as a file: wasmtime serve --config {CONFIG_FILE} <component.wasm>\n\
         # (flags given next to --config override the file)."
    );
    s.push_str(&notes(v, cli, NotesIn::ServeFile));
    s.push_str(&sizing(v));
    s
}

/// The file notes are written into, which decides where they point: the
/// options and the sizing are above or below them, or in the other file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotesIn {
    /// wasmtime-serve.txt: the command above the notes, the sizing below.
    ServeFile,
    /// wasmtime-config.toml: the settings below the notes, no sizing (it is
    /// in wasmtime-serve.txt).
    ConfigFile,
    /// wasmtime-run.txt (a command guest): the command above the notes; no
    /// sizing (`wasmtime run` instantiates one command per process).
    RunFile,
}

/// What the options contain beyond the tuned keys, and what they cannot
/// express; shared with the config file (`place` says which file).
pub fn notes(v: &Variant, cli: &CliExport, place: NotesIn) -> String {
    let (options_at, sizing_at) = match place {
        NotesIn::ServeFile | NotesIn::RunFile => {
            ("in the command above", "sizing below".to_string())
        }
        NotesIn::ConfigFile => (
            "in the settings below",
            format!("sizing in {}", super::shared::SERVE_FILE),
        ),
    };
    let mut s = String::from("#\n");
    if cli.inexpressible.is_empty() {
        let _ = writeln!(
            s,
            "# Every tuned [engine]/[pooling] knob is expressed {options_at}."
        );
    } else {
        s.push_str("# NOT EXPRESSIBLE with wasmtime's CLI (the engine it configures differs):\n");
        for x in &cli.inexpressible {
            let _ = writeln!(s, "#   {} = {}: {}", x.key, x.tuned, x.advice);
        }
    }
    for o in &cli.options {
        let why = match &o.why {
            Why::Tuned => continue,
            Why::Allocator if v.is_pooling() => continue,
            Why::Allocator if place == NotesIn::RunFile => {
                "the tuned engine is on-demand (wasmtime run's default too)".to_string()
            }
            Why::Allocator => "the tuned engine is on-demand, and wasmtime serve uses the pooling \
                               allocator by default where the host has the address space"
                .to_string(),
            Why::ServeSizing => {
                format!(
                    "not tuned, given at wasmtime's default: each request takes one ({sizing_at})"
                )
            }
            Why::Pinned(why) => format!("not tuned, {why}"),
        };
        let _ = writeln!(s, "# {}={}: {why}.", o.name, plain(&o.value));
    }
    if v.guest.prefault != crate::settings::Prefault::None {
        s.push_str(
            "# [guest] prefault: NOT EXPRESSIBLE with wasmtime's CLI (the host read-populates\n\
             #   untouched pages of each slot's memory; wasmtime serve has no such hook).\n\
             #   Embedders: prefault::Prefaulter in builder.rs. Without it wasmtime 50's\n\
             #   pagemap_scan reset also copies the image into never-touched pages.\n",
        );
    }
    if let Some(lines) = super::shared::snapshot_note(v) {
        for l in lines {
            let _ = writeln!(s, "# {l}");
        }
    }
    if v.engine.epoch_interruption == Some(true) {
        s.push_str(
            "# -W epoch-interruption=y: wasmtime serve sets a request deadline only with\n\
             #   -W timeout=DURATION (which turns epoch interruption on by itself); give it.\n",
        );
    }
    if v.scenario.call_deadline_ms > 0 {
        let _ = writeln!(
            s,
            "# The tuned variant was measured with a {} ms call deadline: -W timeout={}ms.",
            v.scenario.call_deadline_ms, v.scenario.call_deadline_ms
        );
    }
    s
}

/// Requests in flight the pool holds under `wasmtime serve`.
pub fn sizing(v: &Variant) -> String {
    let mut s = String::from("#\n");
    if !v.is_pooling() {
        s.push_str(
            "# Sizing: the on-demand allocator has no pool to run out of; every request maps\n\
             # its component's memories when it is instantiated.\n",
        );
        return s;
    }
    let mut p = wasmtime::PoolingAllocationConfig::new();
    v.pooling.apply_to(&mut p);
    let (shape, source) = guest_shape(v);
    s.push_str(
        "# Sizing for wasmtime serve. It instantiates one component per request (a WASIp2\n\
         # proxy instance serves one request: --max-instance-reuse-count defaults to 1, and to\n\
         # 128 for WASIp3) and runs each request on an async stack from the pool. One request\n\
         # in flight takes:\n",
    );
    let rows = [
        (
            "pooling-total-component-instances",
            p.get_total_component_instances(),
            1,
            "",
        ),
        ("pooling-total-stacks", p.get_total_stacks(), 1, ""),
        (
            "pooling-total-core-instances",
            p.get_total_core_instances(),
            shape.core_instances,
            " (k)",
        ),
        (
            "pooling-total-memories",
            p.get_total_memories(),
            shape.memories,
            " (m)",
        ),
        (
            "pooling-total-tables",
            p.get_total_tables(),
            shape.tables,
            " (t)",
        ),
    ];
    let mut bound: Option<(u32, &str)> = None;
    for (name, total, each, label) in rows {
        let fits = total.checked_div(each);
        let shown = fits.map_or("no limit".to_string(), |n| format!("{n} requests"));
        let _ = writeln!(
            s,
            "#   {:<45} {:>4} each{label:<4} -> {shown}",
            format!("{name} = {total}"),
            each
        );
        if let Some(n) = fits
            && bound.is_none_or(|(b, _)| n < b)
        {
            bound = Some((n, name));
        }
    }
    let _ = writeln!(s, "# {source}");
    if let Some((n, name)) = bound {
        let _ = writeln!(
            s,
            "# => at most {n} requests in flight ({name} binds);\n\
             #    one more fails to instantiate until a request ends. wasmtime serve admits\n\
             #    1000 concurrent requests unless told: add --max-concurrent-requests {n}\n\
             #    to make the excess wait instead."
        );
    }
    let limit = |n: u32| {
        if n == u32::MAX {
            "unlimited".to_string()
        } else {
            n.to_string()
        }
    };
    let per = [
        (
            "pooling-max-core-instances-per-component",
            p.get_max_core_instances_per_component(),
            shape.core_instances,
        ),
        (
            "pooling-max-memories-per-component",
            p.get_max_memories_per_component(),
            shape.memories,
        ),
        (
            "pooling-max-tables-per-component",
            p.get_max_tables_per_component(),
            shape.tables,
        ),
    ];
    s.push_str("# Per-component limits (wasmtime refuses to load a component above them):\n");
    for (name, max, need) in per {
        let _ = write!(s, "#   {name} = {}", limit(max));
        if need > max {
            let _ = write!(
                s,
                "  (this component needs {need}: wasmtime serve will refuse it)"
            );
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "#   pooling-max-component-instance-size = {} bytes of metadata per component instance",
        p.get_max_component_instance_size()
    );
    s
}

/// k, m, t per request and where they come from.
fn guest_shape(v: &Variant) -> (Shape, String) {
    let assumed = Shape {
        core_instances: 1,
        memories: 1,
        tables: 1,
    };
    let kind = v.guest.kind;
    if !kind.is_component() {
        return (
            assumed,
            format!(
                "k, m, t: the measured guest is a core module (kind `{}`), which wasmtime serve\n\
                 # does not run; assumed 1 each for the wasi:http component around it. Count yours:\n\
                 # each core module instantiation in it takes a core instance and its module's\n\
                 # memories and tables.",
                kind.name()
            ),
        );
    }
    let what = match kind {
        GuestKind::SyntheticComponent | GuestKind::SyntheticHttp => {
            format!("the generated {} guest", kind.name())
        }
        _ => v.guest.wasm.clone(),
    };
    match crate::guest::artifact::guest_wasm(&v.guest).and_then(|w| shape::of(&w)) {
        Ok(shape) => (shape, format!("k, m, t: read from {what}.")),
        Err(e) => (
            assumed,
            format!("k, m, t: assumed 1 each ({what} could not be read: {e:#})."),
        ),
    }
}

/// A value as a flag writes it (strings without quotes).
pub fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
