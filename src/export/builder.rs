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
    if v.guest.kind.is_command() {
        s.push_str(&command_code(v));
    }
    s.push_str(&release_code(v));
    Ok(s)
}

/// For settings measured through a burst (`[scenario] kind = "burst"`) on a
/// pooling engine: the release policy they were measured with, as a
/// `release_idle_memory` function and where to call it, or (policy `never`)
/// what the pool keeps after a peak without it. Empty otherwise.
fn release_code(v: &Variant) -> String {
    use crate::settings::{ReleaseIdle, ScenarioKind};
    let sc = &v.scenario;
    if sc.kind != ScenarioKind::Burst || !v.is_pooling() {
        return String::new();
    }
    let keep = v.pooling.linear_memory_keep_resident.map_or(0, |b| b.0);
    let when = match sc.release_idle {
        ReleaseIdle::Never => {
            return format!(
                "\n// Measured with [scenario] release_idle = \"never\": after a load peak every\n\
                 // warm slot keeps up to linear_memory_keep_resident = {} resident for as long as the\n\
                 // process lives; wasmtime::Engine::release_idle_pool_memory() gives it back\n\
                 // (configs/burst.toml measures what that costs the next requests).\n",
                ByteSize(keep)
            );
        }
        ReleaseIdle::AfterIdle => format!(
            "once load has dropped (measured: after {} s of idle)",
            sc.idle_s
        ),
        ReleaseIdle::Every => format!("every {} s (measured so)", sc.release_every_s),
    };
    format!(
        "\n/// The release policy these settings were measured with ([scenario]\n\
         /// release_idle = \"{}\"): call this {when}, from a timer or your\n\
         /// load signal, never on the request path. It decommits the linear memory\n\
         /// every warm, unused pool slot kept resident (up to linear_memory_keep_resident\n\
         /// = {} each) and returns the bytes released; the next sandbox in such a slot\n\
         /// faults its pages in again (tuned.toml's header gives what that cost when\n\
         /// measured). Tables and stacks kept resident are not released. Slots being\n\
         /// released cannot be allocated meanwhile.\n\
         pub fn release_idle_memory(engine: &wasmtime::Engine) -> usize {{\n    \
         engine.release_idle_pool_memory()\n}}\n",
        sc.release_idle.name(),
        ByteSize(keep)
    )
}

/// A Rust string literal for `s`.
fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// For a command guest: a `command` module that compiles and links the
/// command once and runs it per request in a fresh sandbox, with the
/// guest's arguments, environment, folders and output limit, as the lab
/// measured it.
fn command_code(v: &Variant) -> String {
    let g = &v.guest;
    let component = g.kind == crate::settings::GuestKind::CliComponent;
    let fresh: Vec<&str> = g
        .dirs
        .iter()
        .filter(|d| d.host.is_empty())
        .map(|d| d.guest.as_str())
        .collect();
    let mut grants = String::new();
    for d in &g.dirs {
        let perms = if d.writable { "ReadWrite" } else { "ReadOnly" };
        if d.host.is_empty() {
            let i = fresh.iter().position(|f| *f == d.guest).unwrap_or(0);
            let _ = writeln!(
                grants,
                "            b.preopened_dir(fresh[{i}], {}, wasmtime_wasi::FsPerms::{perms})?;",
                lit(&d.guest)
            );
        } else {
            let _ = writeln!(
                grants,
                "            b.preopened_dir({}, {}, wasmtime_wasi::FsPerms::{perms})?;",
                lit(&d.host),
                lit(&d.guest)
            );
        }
    }
    let args = g.argv.iter().map(|a| lit(a)).collect::<Vec<_>>().join(", ");
    let env = g
        .grant_env
        .iter()
        .map(|n| {
            format!(
                "            if let Ok(value) = std::env::var({}) {{\n                b.env({}, value);\n            }}\n",
                lit(n),
                lit(n)
            )
        })
        .collect::<String>();
    let fresh_doc = if fresh.is_empty() {
        "no fresh folders: pass `&[]`".to_string()
    } else {
        format!(
            "one empty host folder per fresh guest folder, in this order: {} (make them before, remove them after: the lab's figures include both)",
            fresh
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let engine = if component {
        "self.pre.engine()"
    } else {
        "self.pre.module().engine()"
    };
    let (state, link, pre_ty, store_data, call) = if component {
        (
            "    /// A store's WASI state.\n\
             \x20   pub struct Ctx {\n\
             \x20       ctx: wasmtime_wasi::WasiCtx,\n\
             \x20       table: wasmtime::component::ResourceTable,\n\
             \x20   }\n\n\
             \x20   impl wasmtime_wasi::WasiView for Ctx {\n\
             \x20       fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {\n\
             \x20           wasmtime_wasi::WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }\n\
             \x20       }\n\
             \x20   }\n\n",
            "            let component = wasmtime::component::Component::new(engine, wasm)?;\n\
             \x20           let mut linker = wasmtime::component::Linker::new(engine);\n\
             \x20           wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;\n\
             \x20           let pre = wasmtime_wasi::p2::bindings::sync::CommandPre::new(linker.instantiate_pre(&component)?)?;\n",
            "wasmtime_wasi::p2::bindings::sync::CommandPre<Ctx>",
            "Ctx { ctx: b.build(), table: wasmtime::component::ResourceTable::new() }",
            "            let command = self.pre.instantiate(&mut store)?;\n\
             \x20           let status = match command.wasi_cli_run().call_run(&mut store) {\n\
             \x20               Ok(Ok(())) => 0,\n\
             \x20               Ok(Err(())) => 1,\n\
             \x20               Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {\n\
             \x20                   Some(exit) => exit.0,\n\
             \x20                   None => return Err(e),\n\
             \x20               },\n\
             \x20           };\n",
        )
    } else {
        (
            "",
            "            let module = wasmtime::Module::new(engine, wasm)?;\n\
             \x20           let mut linker = wasmtime::Linker::new(engine);\n\
             \x20           wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |cx| cx)?;\n\
             \x20           let pre = linker.instantiate_pre(&module)?;\n",
            "wasmtime::InstancePre<wasmtime_wasi::p1::WasiP1Ctx>",
            "b.build_p1()",
            "            let instance = self.pre.instantiate(&mut store)?;\n\
             \x20           let start = instance.get_typed_func::<(), ()>(&mut store, \"_start\")?;\n\
             \x20           let status = match start.call(&mut store, ()) {\n\
             \x20               Ok(()) => 0,\n\
             \x20               Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {\n\
             \x20                   Some(exit) => exit.0,\n\
             \x20                   None => return Err(e),\n\
             \x20               },\n\
             \x20           };\n",
        )
    };
    format!(
        "\n// [guest] kind = \"{kind}\": a command, run per request as the lab measured it: compiled\n\
         // and linked once (Command::new), then a fresh store and instance per request\n\
         // (Command::run), dropped after it. Needs the wasmtime-wasi crate.\n\
         //\n\
         //     let engine = wasmtime::Engine::new(&tuned_config())?;\n\
         //     let command = command::Command::new(&engine, &std::fs::read({wasm})?)?;\n\
         //     let ran = command.run(b\"\", &[])?; // per request\n\
         pub mod command {{\n\
         {state}\
         \x20   /// Most bytes of stdout, and of stderr, one run keeps ([guest] output_limit).\n\
         \x20   pub const OUTPUT_LIMIT: usize = {limit};\n\n\
         \x20   /// The command, compiled and linked once.\n\
         \x20   pub struct Command {{\n\
         \x20       pre: {pre_ty},\n\
         \x20   }}\n\n\
         \x20   /// What one run left.\n\
         \x20   pub struct Ran {{\n\
         \x20       /// Exit status: 0 for success.\n\
         \x20       pub status: i32,\n\
         \x20       /// Its stdout.\n\
         \x20       pub stdout: Vec<u8>,\n\
         \x20       /// Its stderr.\n\
         \x20       pub stderr: Vec<u8>,\n\
         \x20   }}\n\n\
         \x20   impl Command {{\n\
         \x20       /// Compiles `wasm` for `engine` and links it against WASI.\n\
         \x20       pub fn new(engine: &wasmtime::Engine, wasm: &[u8]) -> wasmtime::Result<Command> {{\n\
         {link}\
         \x20           Ok(Command {{ pre }})\n\
         \x20       }}\n\n\
         \x20       /// One request in a fresh sandbox, `stdin` its input; `fresh`: {fresh_doc}.\n\
         \x20       pub fn run(&self, stdin: &[u8], fresh: &[&std::path::Path]) -> wasmtime::Result<Ran> {{\n\
         {fresh_check}\
         \x20           let stdout = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(OUTPUT_LIMIT);\n\
         \x20           let stderr = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(OUTPUT_LIMIT);\n\
         \x20           let mut b = wasmtime_wasi::WasiCtxBuilder::new();\n\
         \x20           b.args(&[{args}]);\n\
         \x20           b.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(stdin.to_vec()));\n\
         \x20           b.stdout(stdout.clone()).stderr(stderr.clone());\n\
         {env}\
         {grants}\
         \x20           let mut store = wasmtime::Store::new({engine}, {store_data});\n\
         {call}\
         \x20           drop(store);\n\
         \x20           Ok(Ran {{\n\
         \x20               status,\n\
         \x20               stdout: stdout.contents().to_vec(),\n\
         \x20               stderr: stderr.contents().to_vec(),\n\
         \x20           }})\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n",
        fresh_check = if fresh.is_empty() {
            "            let _ = fresh;\n".to_string()
        } else {
            format!(
                "            if fresh.len() != {n} {{\n                return Err(wasmtime::format_err!(\"{n} fresh folders expected, {{}} given\", fresh.len()));\n            }}\n",
                n = fresh.len()
            )
        },
        kind = g.kind.name(),
        wasm = lit(&g.wasm),
        limit = grouped(g.output_limit.0),
    )
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
