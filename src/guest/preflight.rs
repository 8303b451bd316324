//! Checks made before anything is measured, so that a configuration mistake
//! is a configuration error naming the key, not a variant full of faults:
//! the guest file is WebAssembly, every export the kind or its plan names
//! exists with the right signature, and a pooled component fits the pool
//! (its own structure gives the core instances, memories and tables one
//! instance needs; the scenario gives how many are alive at once).

use super::plan::ExportMismatch;
use super::shape::{self, Shape};
use crate::settings::{GuestKind, Problem, Variant};
use std::path::Path;

/// Reads `v`'s guest: a file that is missing, cannot be read, is not
/// WebAssembly or does not decode and validate as WebAssembly (a file cut
/// short), or a component given to a core-module kind (or the reverse), is
/// a [`Problem`] naming the key that names the file. Run before anything is
/// compiled or snapshotted.
pub fn check_file(v: &Variant) -> Result<Vec<u8>, Problem> {
    let g = &v.guest;
    let file_key = if g.kind == GuestKind::Python {
        "python_wasm"
    } else {
        "wasm"
    };
    let path = if g.kind == GuestKind::Python {
        &g.python_wasm
    } else {
        &g.wasm
    };
    let reads_file = !matches!(
        g.kind,
        GuestKind::Synthetic | GuestKind::SyntheticComponent | GuestKind::SyntheticHttp
    );
    if reads_file && !Path::new(path).is_file() {
        let (message, fix) = super::wasm_file::unreadable(path, file_key);
        return Err(Problem::new("guest", file_key, message, fix));
    }
    let wasm = super::artifact::guest_wasm(g).map_err(|e| {
        let msg = format!("{e:#}");
        let fix = if msg.contains("neither WebAssembly") || msg.contains("not valid WAT") {
            format!("point [guest] {file_key} at a .wasm or .wat file")
        } else {
            super::wasm_file::unreadable(path, file_key).1
        };
        Problem::new("guest", file_key, msg, fix)
    })?;
    if reads_file && let Err(e) = super::wasm_file::validate(&wasm, path, file_key) {
        return Err(Problem::new(
            "guest",
            file_key,
            format!("{e:#}"),
            damaged_fix(path, file_key),
        ));
    }
    kind_matches(v, &wasm)?;
    Ok(wasm)
}

/// The first file `v`'s guest reads that does not exist (the module; for
/// python also its stdlib), if any: what a replay of a committed config
/// leaves a variant out for, naming the fetch script's `--only` name when
/// the script provides it.
pub fn missing_file(v: &Variant) -> Option<(String, Option<&'static str>)> {
    let g = &v.guest;
    let files: Vec<String> = match g.kind {
        GuestKind::Synthetic | GuestKind::SyntheticComponent | GuestKind::SyntheticHttp => {
            Vec::new()
        }
        GuestKind::Python => vec![
            g.python_wasm.clone(),
            Path::new(&g.python_lib)
                .join("python315.zip")
                .display()
                .to_string(),
        ],
        _ => vec![g.wasm.clone()],
    };
    files
        .into_iter()
        .find(|f| !Path::new(f).is_file())
        .map(|f| {
            let by = super::fetched::fetched_by(&f);
            (f, by)
        })
}

/// The fix for a guest file that is not valid WebAssembly, by its origin.
fn damaged_fix(path: &str, file_key: &str) -> String {
    match super::fetched::fetched_by(path) {
        Some(name) => format!(
            "fetch it again: delete {path} and run `{} --only {name}`",
            super::fetched::FETCH_COMMAND
        ),
        None => format!(
            "rebuild or copy {path} again (a complete .wasm file), or point [guest] {file_key} at one"
        ),
    }
}

/// A component given to a core-module kind (or the reverse) is a [`Problem`].
fn kind_matches(v: &Variant, wasm: &[u8]) -> Result<(), Problem> {
    let g = &v.guest;
    let is_component = wasmparser::Parser::is_component(wasm);
    if is_component != g.kind.is_component() {
        let (what, kinds) = if is_component {
            ("a component", "\"cli-component\" or \"http-component\"")
        } else {
            (
                "a core module",
                "\"wasi-command\", \"wasi-reactor\" or \"core\"",
            )
        };
        return Err(Problem::new(
            "guest",
            "kind",
            format!("`{}` is {what}, but kind = \"{}\"", g.wasm, g.kind.name()),
            format!("use kind = {kinds}"),
        ));
    }
    Ok(())
}

/// Checks `v` (with its precompiled `artifact`, if any): reads the guest,
/// checks a component's pool needs for the `live` sandboxes its scenario
/// holds at once (with the key that sets it), then loads and links it as a
/// measuring child would (type-checking every export it names).
/// `Ok(Err(problem))` is a configuration mistake; `Err` anything else.
pub fn check(
    v: &Variant,
    artifact: Option<&Path>,
    live: (u32, &'static str),
) -> anyhow::Result<Result<Option<Shape>, Problem>> {
    let wasm = match check_file(v) {
        Ok(w) => w,
        Err(p) => return Ok(Err(p)),
    };
    let is_component = wasmparser::Parser::is_component(&wasm);
    let shape = if is_component {
        let shape = shape::of(&wasm)?;
        if let Err(p) = fits_pool(v, &shape, live) {
            return Ok(Err(p));
        }
        Some(shape)
    } else {
        None
    };
    drop(wasm);
    let engine = super::prepared::engine(v)?;
    match super::prepared::prepare(engine, v, artifact) {
        Ok(_) => Ok(Ok(shape)),
        Err(e) => {
            if let Some(m) = e.downcast_ref::<ExportMismatch>() {
                return Ok(Err(Problem::new(
                    "guest",
                    m.key,
                    m.message.clone(),
                    format!(
                        "correct [guest] {} (or the guest), so that the export and its signature match",
                        m.key
                    ),
                )));
            }
            let msg = format!("{e:#}");
            if let Some(p) = not_parsed(v, &msg) {
                return Ok(Err(p));
            }
            if let Some(needed) = number_after(&msg, "requires ")
                && msg.contains("VMComponentContext")
            {
                return Ok(Err(Problem::new(
                    "pooling",
                    "max_component_instance_size",
                    format!(
                        "one instance of this component needs {needed} bytes of component instance state, more than the pool's slot: {msg}"
                    ),
                    format!(
                        "raise [pooling] max_component_instance_size to at least {needed} (\"{}KiB\")",
                        needed.div_ceil(1024)
                    ),
                )));
            }
            Err(e)
        }
    }
}

/// wasmtime's own "failed to parse WebAssembly module" (or a translation
/// error) as a [`Problem`] of the key that names the file: what
/// [`check_file`]'s validation lets through (a proposal the engine does not
/// enable) still names the file and its key.
fn not_parsed(v: &Variant, msg: &str) -> Option<Problem> {
    if !msg.contains("failed to parse WebAssembly")
        && !msg.contains("WebAssembly translation error")
    {
        return None;
    }
    let (key, path) = if v.guest.kind == GuestKind::Python {
        ("python_wasm", &v.guest.python_wasm)
    } else {
        ("wasm", &v.guest.wasm)
    };
    Some(Problem::new(
        "guest",
        key,
        format!("wasmtime cannot load `{path}`: {msg}"),
        format!(
            "{}; if it uses a proposal, enable it in [engine]",
            damaged_fix(path, key)
        ),
    ))
}

/// The first number after `marker` in `msg`.
fn number_after(msg: &str, marker: &str) -> Option<u64> {
    let rest = &msg[msg.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Whether the pool fits `shape` times the `live` instances the scenario
/// holds (and the `[scenario]` key that sets that count).
pub fn fits_pool(
    v: &Variant,
    shape: &Shape,
    (live, live_key): (u32, &'static str),
) -> Result<(), Problem> {
    if !v.is_pooling() {
        return Ok(());
    }
    let d = wasmtime::PoolingAllocationConfig::default();
    let p = &v.pooling;
    let live = u64::from(live);
    let per_component = [
        (
            "max_core_instances_per_component",
            p.max_core_instances_per_component
                .unwrap_or(d.get_max_core_instances_per_component()),
            shape.core_instances,
            "core module instances",
        ),
        (
            "max_memories_per_component",
            p.max_memories_per_component
                .unwrap_or(d.get_max_memories_per_component()),
            shape.memories,
            "linear memories",
        ),
        (
            "max_tables_per_component",
            p.max_tables_per_component
                .unwrap_or(d.get_max_tables_per_component()),
            shape.tables,
            "tables",
        ),
    ];
    for (key, have, need, what) in per_component {
        if have < need {
            return Err(Problem::new(
                "pooling",
                key,
                format!(
                    "{key} = {have}, but one instance of this component contains {need} {what}: wasmtime refuses to load it"
                ),
                format!("raise {key} to at least {need}"),
            ));
        }
    }
    // Async stacks: a wasi:http call runs on a fiber stack from the pool,
    // and the store keeps that stack until it is dropped, so every live
    // wasi:http sandbox holds one (measured: the 17th live instance of a
    // pool with total_stacks = 16 fails with "maximum concurrent limit of 16
    // for fibers reached").
    let stacks_needed = if matches!(
        v.guest.kind,
        GuestKind::HttpComponent | GuestKind::SyntheticHttp
    ) {
        live
    } else {
        0
    };
    let totals = [
        (
            "total_component_instances",
            p.total_component_instances
                .unwrap_or(d.get_total_component_instances()),
            live,
            "component instances",
        ),
        (
            "total_core_instances",
            p.total_core_instances
                .unwrap_or(d.get_total_core_instances()),
            live * u64::from(shape.core_instances),
            "core module instances",
        ),
        (
            "total_memories",
            p.total_memories.unwrap_or(d.get_total_memories()),
            live * u64::from(shape.memories),
            "linear memories",
        ),
        (
            "total_tables",
            p.total_tables.unwrap_or(d.get_total_tables()),
            live * u64::from(shape.tables),
            "tables",
        ),
        (
            "total_stacks",
            p.total_stacks.unwrap_or(d.get_total_stacks()),
            stacks_needed,
            "async stacks (a live wasi:http sandbox keeps one)",
        ),
    ];
    for (key, have, need, what) in totals {
        if u64::from(have) < need {
            return Err(Problem::new(
                "pooling",
                key,
                format!(
                    "{key} = {have} is smaller than the {need} {what} the scenario holds at once ([scenario] {live_key}: {live} live instances x {} per instance of this component): the pool would run out of slots",
                    if key == "total_stacks" {
                        1
                    } else {
                        need / live.max(1)
                    }
                ),
                format!("raise {key} to at least {need}, or lower [scenario] {live_key}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_needed_size_is_read_from_wasmtimes_message() {
        let msg = "instance allocation for this component requires 4096 bytes of `VMComponentContext` and ...";
        assert_eq!(number_after(msg, "requires "), Some(4096));
        assert_eq!(number_after("nothing here", "requires "), None);
    }
}
