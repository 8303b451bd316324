//! `builder.rs`: the tuned settings as `wasmtime::Config` builder calls, a
//! function to paste into (or `include!` in) the embedding's code. Every
//! `[engine]` key is the `Config` method of the same name, every `[pooling]`
//! key the `PoolingAllocationConfig` method of the same name (the schema
//! applies them so), and `tests/export.rs` compiles a generated file and
//! checks the engine it builds.

use super::shared::{full_key, set_keys};
use crate::settings::{ByteSize, KeyDoc, Prefault, Variant};
use anyhow::{Result, bail};
use std::fmt::Write as _;

/// The Rust expression for a key's value (as `tuned.toml` writes it), with a
/// trailing comment for sizes.
fn rust_value(doc: &KeyDoc, v: &serde_json::Value) -> Result<(String, String)> {
    let text = v.as_str();
    let n = v.as_u64();
    Ok(match (doc.ty, text, n) {
        ("bool", _, _) if v.is_boolean() => (v.to_string(), String::new()),
        ("ByteSize", _, Some(n)) => (grouped(n), format!(" // {}", ByteSize(n))),
        ("u32" | "usize", _, Some(n)) => (grouped(n), String::new()),
        ("Toggle", Some(t), _) => {
            let variant = match t {
                "yes" => "Yes",
                "no" => "No",
                "auto" => "Auto",
                _ => bail!("{}: unknown value {t}", full_key(doc)),
            };
            (format!("wasmtime::Enabled::{variant}"), String::new())
        }
        ("OptLevel", Some(t), _) => {
            let variant = match t {
                "none" => "None",
                "speed" => "Speed",
                "speed_and_size" => "SpeedAndSize",
                _ => bail!("{}: unknown value {t}", full_key(doc)),
            };
            (format!("wasmtime::OptLevel::{variant}"), String::new())
        }
        _ => bail!(
            "builder.rs: no Rust form for {} = {v} (type {})",
            full_key(doc),
            doc.ty
        ),
    })
}

/// `67108864` -> `67_108_864`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// The file's text for `v`: a `tuned_config()` function returning the
/// `wasmtime::Config` that `pooling_lab::tune::load_tuned` builds from the
/// same settings.
pub fn code(v: &Variant) -> Result<String> {
    let mut config = String::new();
    let mut pool = String::new();
    for (doc, value) in set_keys(v) {
        if doc.key == "allocator" {
            continue;
        }
        let (expr, comment) = rust_value(doc, &value)?;
        let target = if doc.section == "pooling" {
            &mut pool
        } else {
            &mut config
        };
        let receiver = if doc.section == "pooling" {
            "pool"
        } else {
            "config"
        };
        let _ = writeln!(target, "    {receiver}.{}({expr});{comment}", doc.key);
    }
    let mut s = format!(
        "// The tuned settings of `{}` as wasmtime {} builder calls: the Config that\n\
         // pooling_lab::tune::load_tuned builds from tuned.toml. Made by `pooling-lab export`.\n\
         //\n\
         //     let engine = wasmtime::Engine::new(&tuned_config())?;\n\n\
         /// The tuned `wasmtime::Config`.\n\
         pub fn tuned_config() -> wasmtime::Config {{\n    let mut config = wasmtime::Config::new();\n",
        v.name,
        env!("POOLING_LAB_WASMTIME_VERSION"),
    );
    s.push_str(&config);
    if v.is_pooling() && pool.is_empty() {
        s.push_str("    config.allocation_strategy(wasmtime::PoolingAllocationConfig::new());\n");
    } else if v.is_pooling() {
        s.push_str("    let mut pool = wasmtime::PoolingAllocationConfig::new();\n");
        s.push_str(&pool);
        s.push_str("    config.allocation_strategy(pool);\n");
    } else {
        s.push_str(
            "    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand);\n",
        );
    }
    s.push_str("    config\n}\n");
    if let Some(lines) = super::shared::fuel_epoch_note(v) {
        s.push('\n');
        for l in lines {
            s.push_str(&format!("// {l}\n"));
        }
    }
    if v.guest.prefault != Prefault::None {
        s.push_str(&prefault_code(v.guest.prefault));
    }
    if let Some(lines) = super::shared::snapshot_note(v) {
        s.push('\n');
        for l in lines {
            s.push_str(&format!("// {l}\n"));
        }
    }
    Ok(s)
}

/// The host side of `[guest] prefault`, for embedders: pooling-lab's own
/// `host::pagemap` and `host::prefault` modules (they need only `std` and
/// `libc`), without their tests, and which method to call when.
fn prefault_code(mode: Prefault) -> String {
    let (name, when) = match mode {
        Prefault::All => (
            "all",
            "right after instantiating each core sandbox:\n\
             //     prefaulter.all(memory.data_ptr(&store), memory.data_size(&store))?;",
        ),
        _ => (
            "untouched",
            "right before dropping each core sandbox's store:\n\
             //     prefaulter.untouched(memory.data_ptr(&store), memory.data_size(&store))?;",
        ),
    };
    let strip = |src: &str| -> String {
        let body = src.split("#[cfg(test)]").next().unwrap_or(src);
        body.lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("    {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "\n// [guest] prefault = \"{name}\": not a `Config` setting; the embedder does it (needs\n\
         // the `libc` crate). One `prefault::Prefaulter::new()` per engine, shared by its\n\
         // sandboxes; call it {when}\n\
         pub mod pagemap {{\n{}\n}}\n\n\
         pub mod prefault {{\n{}\n}}\n",
        strip(include_str!("../host/pagemap.rs")).trim_end(),
        strip(include_str!("../host/prefault.rs")).trim_end(),
    )
}
