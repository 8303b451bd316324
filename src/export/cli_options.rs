//! Our `[engine]` and `[pooling]` keys as wasmtime CLI options, made from and
//! checked by wasmtime-cli-flags, the crate `wasmtime serve` and `wasmtime run`
//! parse `-O`/`-C`/`-D`/`-W` and `--config FILE` with (its `CommonOptions`).
//!
//! Nothing here is a hand-kept list of names:
//!
//! * **Names** ([`cli_names`]): for each key, an engine is built with only that
//!   key at its probe value (the one `tests/knobs.rs` proves is applied) and
//!   reflected with `CommonOptions::from_engine`; the one option whose value
//!   differs from the reflection of a default engine is the key's option. Its
//!   name is the one wasmtime-cli-flags serializes (kebab-case), which is also
//!   what its `-O name=value` parser matches.
//! * **Values**: the reflection of the tuned engine, serialized by
//!   wasmtime-cli-flags (`y`/`n`, `auto`, opt level `0`/`2`/`s`, integers).
//! * **Flags**: formatted by `CommonOptions`' own `Display` (the form its
//!   parser reads back).
//! * **Check** ([`CliExport::of`]): the flags are parsed back with clap
//!   (`CommonOptions::try_parse_from`) and the file with serde/TOML (what
//!   `CommonOptions::from_file` does); `CommonOptions::config` configures an
//!   engine from each, and every effective setting of that engine is compared
//!   with the tuned engine's. A setting the CLI would change on its own (e.g.
//!   `-W max-wasm-stack` also sets the async stack size unless it is given) is
//!   pinned to the tuned value with its own option; a knob that still differs
//!   is listed as not expressible, with what to do instead.

use super::shared::{full_key, set_keys};
use crate::WasmtimeContext;
use crate::settings::{
    Allocator, EngineSettings, PoolingSettings, Variant, effective_settings, wasmtime_config,
};
use anyhow::{Context, Result, anyhow, bail};
use clap::Parser as _;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use wasmtime_cli_flags::CommonOptions;

/// An option group of wasmtime's CLI that configures the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// `-O`, `[optimize]`: memory, pooling and optimization options.
    Optimize,
    /// `-C`, `[codegen]`: compiler options.
    Codegen,
    /// `-D`, `[debug]`: debug information.
    Debug,
    /// `-W`, `[wasm]`: execution semantics (stacks, fuel, epochs).
    Wasm,
}

impl Group {
    /// Every group.
    pub const ALL: [Group; 4] = [Group::Optimize, Group::Codegen, Group::Debug, Group::Wasm];

    /// The flag (`-O`, `-C`, `-D`, `-W`).
    pub fn flag(self) -> &'static str {
        match self {
            Group::Optimize => "-O",
            Group::Codegen => "-C",
            Group::Debug => "-D",
            Group::Wasm => "-W",
        }
    }

    /// The table in a `--config` file.
    pub fn table(self) -> &'static str {
        match self {
            Group::Optimize => "optimize",
            Group::Codegen => "codegen",
            Group::Debug => "debug",
            Group::Wasm => "wasm",
        }
    }
}

/// A wasmtime CLI option: its group and its name as the CLI parses it
/// (`pooling-pagemap-scan`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CliName {
    /// The option group.
    pub group: Group,
    /// The option name (kebab-case).
    pub name: String,
}

impl fmt::Display for CliName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.group.flag(), self.name)
    }
}

/// Our key (`pooling.pagemap_scan`) -> its wasmtime CLI option, for every key
/// wasmtime-cli-flags can express, derived once per process (see the module
/// docs). A key that is absent has no option of its own.
pub fn cli_names() -> Result<&'static BTreeMap<String, CliName>> {
    static NAMES: OnceLock<Result<BTreeMap<String, CliName>, String>> = OnceLock::new();
    NAMES
        .get_or_init(|| derive_names().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("finding wasmtime's CLI option names: {e}"))
}

fn build(engine: &EngineSettings, pooling: &PoolingSettings) -> Result<wasmtime::Engine> {
    wasmtime::Engine::new(&wasmtime_config(engine, pooling)).wt_context(|| "building an engine")
}

/// wasmtime-cli-flags' reflection of `engine`, serialized by wasmtime-cli-flags.
fn reflect(engine: &wasmtime::Engine) -> Result<Value> {
    let mut opts = CommonOptions::from_engine(engine);
    // wasmtime-cli-flags 48 reflects the default compiler and collector as
    // `Auto`, which its serializer cannot write (it panics); neither is one
    // of our knobs.
    opts.codegen.compiler = None;
    opts.codegen.collector = None;
    serde_json::to_value(opts).context("serializing wasmtime-cli-flags' reflection of an engine")
}

/// The options set in both reflections whose values differ.
fn changed(base: &Value, probe: &Value) -> Vec<CliName> {
    let mut out = Vec::new();
    for group in Group::ALL {
        let (Some(Value::Object(a)), Some(Value::Object(b))) =
            (base.get(group.table()), probe.get(group.table()))
        else {
            continue;
        };
        for (name, va) in a {
            let vb = b.get(name).unwrap_or(&Value::Null);
            let scalar = |v: &Value| !(v.is_null() || v.is_array() || v.is_object());
            if scalar(va) && scalar(vb) && va != vb {
                out.push(CliName {
                    group,
                    name: name.clone(),
                });
            }
        }
    }
    out
}

fn derive_names() -> Result<BTreeMap<String, CliName>> {
    let on_demand = EngineSettings::default();
    let pooled = EngineSettings {
        allocator: Some(Allocator::Pooling),
        ..EngineSettings::default()
    };
    let no_pool = PoolingSettings::default();
    let base_engine = reflect(&build(&on_demand, &no_pool)?)?;
    let base_pool = reflect(&build(&pooled, &no_pool)?)?;
    let mut out = BTreeMap::new();
    let mut probes = Vec::new();
    for (key, engine, value) in EngineSettings::probes() {
        probes.push(("engine", key, build(&engine, &no_pool), value, &base_engine));
    }
    for (key, pooling, value) in PoolingSettings::probes() {
        probes.push(("pooling", key, build(&pooled, &pooling), value, &base_pool));
    }
    for (section, key, engine, value, base) in probes {
        // A probe wasmtime rejects alone leaves its key without an option;
        // tests/export.rs names every key that has none.
        let Ok(engine) = engine else {
            continue;
        };
        let probe = reflect(&engine)?;
        // A key may move more than one option of the reflection (the GC
        // heap's reservation follows the linear memories'): its option is the
        // one that, read by wasmtime's CLI, gives the key its probe value.
        let works: Vec<CliName> = changed(base, &probe)
            .into_iter()
            .filter(|name| gives(name, &probe, base, section, key, &value))
            .collect();
        if let [one] = works.as_slice() {
            out.insert(format!("{section}.{key}"), one.clone());
        }
    }
    Ok(out)
}

/// Whether option `name`, at its value in `reflected`, is what gives
/// `section.key` the value `want` in an engine wasmtime's CLI configures.
///
/// First the option alone (plus the pooling allocator for a pooling key).
/// Some options are refused alone (the number of protection keys needs
/// protection keys given); then every option of its group is given as
/// `reflected` has it, and the option must make the difference: with its
/// default value (from `base`) the key is not `want`.
fn gives(
    name: &CliName,
    reflected: &Value,
    base: &Value,
    section: &str,
    key: &str,
    want: &Value,
) -> bool {
    let value_in = |v: &Value| {
        v.get(name.group.table())
            .and_then(|t| t.get(&name.name))
            .cloned()
    };
    let (Some(value), Some(default)) = (value_in(reflected), value_in(base)) else {
        return false;
    };
    let key_of = |tables: Map<String, Value>| {
        serde_json::from_value::<CommonOptions>(Value::Object(tables))
            .ok()
            .and_then(|opts| configured_settings(opts).ok())
            .map(|got| got[section][key].clone())
    };
    let mut alone = Map::new();
    if section == "pooling" {
        alone.insert(
            Group::Optimize.table().into(),
            serde_json::json!({ "pooling-allocator": true }),
        );
    }
    let table = alone
        .entry(name.group.table())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(t) = table {
        t.insert(name.name.clone(), value.clone());
    }
    match key_of(alone) {
        Some(got) => &got == want,
        None => {
            let Some(Value::Object(group)) = reflected.get(name.group.table()) else {
                return false;
            };
            let with = |v: &Value| {
                let mut t: Map<String, Value> = group
                    .iter()
                    .filter(|(_, v)| !(v.is_null() || v.is_array() || v.is_object()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                t.insert(name.name.clone(), v.clone());
                let mut tables = Map::new();
                tables.insert(name.group.table().to_string(), Value::Object(t));
                key_of(tables)
            };
            with(&value).as_ref() == Some(want) && with(&default).as_ref() != Some(want)
        }
    }
}

/// Why an option is in the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The tuned variant sets this key.
    Tuned,
    /// The allocator, always given: `wasmtime serve` defaults to pooling on
    /// hosts with enough address space, `wasmtime run` to on-demand.
    Allocator,
    /// Pool sizing for `wasmtime serve`, given even at wasmtime's default:
    /// every request takes a component instance and an async stack.
    ServeSizing,
    /// Not set by the variant, but wasmtime's CLI would otherwise derive a
    /// different value (the message says from what).
    Pinned(String),
}

/// One option of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct CliOption {
    /// Our key (`pooling.pagemap_scan`).
    pub key: String,
    /// The wasmtime CLI option.
    pub name: CliName,
    /// The value as wasmtime-cli-flags serializes it.
    pub value: Value,
    /// Why it is there.
    pub why: Why,
}

/// A tuned knob wasmtime's CLI cannot give its tuned value, and what to do instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Inexpressible {
    /// Our key.
    pub key: String,
    /// The tuned engine's value.
    pub tuned: Value,
    /// The value an engine configured by the exported options has.
    pub cli: Value,
    /// What to do instead.
    pub advice: String,
}

/// A tuned variant as wasmtime CLI options, checked by wasmtime-cli-flags.
#[derive(Debug, Clone)]
pub struct CliExport {
    /// The options: the allocator, the tuned keys (schema order), the serve
    /// sizing, then any pinned.
    pub options: Vec<CliOption>,
    /// Knobs the options do not reproduce (empty when every knob is expressed).
    pub inexpressible: Vec<Inexpressible>,
    args: Vec<String>,
    toml: String,
}

impl CliExport {
    /// Makes and checks the CLI form of `v` (see the module docs). Fails if
    /// wasmtime rejects the tuned settings, or rejects the exported options
    /// even with every expressible setting given.
    pub fn of(v: &Variant) -> Result<CliExport> {
        let names = cli_names()?;
        let tuned_engine = wasmtime::Engine::new(&v.wasmtime_config())
            .wt_context(|| format!("wasmtime rejects the tuned settings of `{}`", v.name))?;
        let reflected = reflect(&tuned_engine)?;
        let tuned = effective_settings(&tuned_engine);
        drop(tuned_engine);

        let mut chosen: Vec<(String, Why)> = vec![("engine.allocator".into(), Why::Allocator)];
        for (doc, _) in set_keys(v) {
            let key = full_key(doc);
            if key != "engine.allocator" {
                chosen.push((key, Why::Tuned));
            }
        }
        if v.is_pooling() && !v.guest.kind.is_command() {
            for key in ["pooling.total_component_instances", "pooling.total_stacks"] {
                if !chosen.iter().any(|(k, _)| k == key) {
                    chosen.push((key.into(), Why::ServeSizing));
                }
            }
        }

        let mut everything = false;
        loop {
            let options = options(&chosen, names, &reflected);
            let (args, toml) = render(&options)?;
            let from_flags = flags_engine_settings(&args);
            let from_file = file_engine_settings(&toml);
            let cli = match (from_flags, from_file) {
                (Ok(a), Ok(b)) if a == b => a,
                (Ok(a), Ok(b)) => bail!(
                    "the flags and the config file configure different engines:\nflags: {a}\nfile: {b}"
                ),
                (Err(e), _) | (_, Err(e)) => {
                    if everything {
                        return Err(e.context("wasmtime's CLI rejects the exported options"));
                    }
                    // wasmtime's CLI wants some options together (e.g. the
                    // number of protection keys only with protection keys):
                    // give every expressible setting.
                    everything = true;
                    for key in names.keys() {
                        if !chosen.iter().any(|(k, _)| k == key) {
                            chosen.push((
                                key.clone(),
                                Why::Pinned(format!(
                                    "given because wasmtime's CLI rejected the options without it: {e:#}"
                                )),
                            ));
                        }
                    }
                    continue;
                }
            };
            let diffs = differences(&tuned, &cli);
            let mut pinned = false;
            for (key, want, got) in &diffs {
                if names.contains_key(key) && !chosen.iter().any(|(k, _)| k == key) {
                    chosen.push((
                        key.clone(),
                        Why::Pinned(format!(
                            "wasmtime's CLI would otherwise make it {got} (tuned: {want})"
                        )),
                    ));
                    pinned = true;
                }
            }
            if pinned {
                continue;
            }
            let inexpressible = diffs
                .into_iter()
                .map(|(key, tuned, cli)| Inexpressible {
                    advice: advice(&key, names.get(&key), &tuned, &cli),
                    key,
                    tuned,
                    cli,
                })
                .collect();
            return Ok(CliExport {
                options,
                inexpressible,
                args,
                toml,
            });
        }
    }

    /// The flags as command-line arguments, in wasmtime's own order:
    /// `["-O", "pooling-allocator=y", "-O", "pooling-pagemap-scan=y", ...]`.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The `--config` file's tables (`[optimize]`, `[wasm]`, ...), as TOML.
    pub fn toml(&self) -> &str {
        &self.toml
    }

    /// The option for our key, if exported.
    pub fn option(&self, key: &str) -> Option<&CliOption> {
        self.options.iter().find(|o| o.key == key)
    }
}

fn options(
    chosen: &[(String, Why)],
    names: &BTreeMap<String, CliName>,
    reflected: &Value,
) -> Vec<CliOption> {
    let mut out = Vec::new();
    for (key, why) in chosen {
        let Some(name) = names.get(key) else {
            continue;
        };
        // An option the reflection leaves empty (a pooling option of an
        // on-demand engine) is not given; if the key then differs, the check
        // lists it as not expressible.
        let Some(value) = reflected
            .get(name.group.table())
            .and_then(|t| t.get(&name.name))
            .filter(|v| !v.is_null())
        else {
            continue;
        };
        out.push(CliOption {
            key: key.clone(),
            name: name.clone(),
            value: value.clone(),
            why: why.clone(),
        });
    }
    out
}

/// The options as wasmtime-cli-flags values: arguments (formatted by
/// `CommonOptions`' `Display`) and the config file's TOML.
fn render(options: &[CliOption]) -> Result<(Vec<String>, String)> {
    let mut tables: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for o in options {
        tables
            .entry(o.name.group.table())
            .or_default()
            .insert(o.name.name.clone(), o.value.clone());
    }
    let value = Value::Object(
        tables
            .into_iter()
            .map(|(t, m)| (t.to_string(), Value::Object(m)))
            .collect(),
    );
    let parsed: CommonOptions = serde_json::from_value(value.clone())
        .context("wasmtime-cli-flags does not read back its own reflection")?;
    // `new()` is a configured set of options, which `Display` prints from
    // the typed fields.
    let mut typed = CommonOptions::new();
    typed.opts = parsed.opts;
    typed.codegen = parsed.codegen;
    typed.debug = parsed.debug;
    typed.wasm = parsed.wasm;
    let mut args = Vec::new();
    for token in typed.to_string().split_whitespace() {
        let flag = token.get(..2).filter(|f| f.starts_with('-'));
        match flag {
            Some(flag) if token.len() > 2 => {
                args.push(flag.to_string());
                args.push(token[2..].to_string());
            }
            _ => bail!("unexpected token `{token}` in wasmtime-cli-flags' flags"),
        }
    }
    let toml = toml::to_string(&value).context("writing the config file")?;
    Ok((args, toml))
}

/// The effective settings of the engine wasmtime's CLI configures from `args`
/// (parsed by clap, as `wasmtime serve` parses them).
pub fn flags_engine_settings(args: &[String]) -> Result<Value> {
    let opts = CommonOptions::try_parse_from(
        std::iter::once("wasmtime").chain(args.iter().map(String::as_str)),
    )
    .map_err(|e| anyhow!("wasmtime's CLI parser rejects the flags: {e}"))?;
    configured_settings(opts)
}

/// The effective settings of the engine wasmtime's CLI configures from a
/// `--config` file's text (deserialized as `CommonOptions::from_file` does).
pub fn file_engine_settings(toml_text: &str) -> Result<Value> {
    let opts: CommonOptions = toml::from_str(toml_text)
        .map_err(|e| anyhow!("wasmtime's CLI rejects the config file: {e}"))?;
    configured_settings(opts)
}

fn configured_settings(mut opts: CommonOptions) -> Result<Value> {
    let config = opts
        .config(None)
        .wt_context(|| "wasmtime's CLI cannot configure an engine from the options")?;
    let engine = wasmtime::Engine::new(&config)
        .wt_context(|| "wasmtime rejects the engine its CLI configures")?;
    Ok(effective_settings(&engine))
}

/// `section.key`, tuned value, CLI value: every effective setting that differs.
fn differences(tuned: &Value, cli: &Value) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for section in ["engine", "pooling"] {
        let empty = Map::new();
        let a = tuned
            .get(section)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let b = cli
            .get(section)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            let (x, y) = (
                a.get(key).unwrap_or(&Value::Null),
                b.get(key).unwrap_or(&Value::Null),
            );
            if x != y {
                out.push((format!("{section}.{key}"), x.clone(), y.clone()));
            }
        }
    }
    out
}

fn advice(key: &str, name: Option<&CliName>, tuned: &Value, cli: &Value) -> String {
    if let Some(name) = name {
        return format!(
            "wasmtime's CLI has `{name}`, but the engine it configures gets {cli} (tuned: {tuned}); set it in code (builder.rs)"
        );
    }
    match key {
        "engine.consume_fuel" => "wasmtime's CLI turns fuel metering on only with a budget: add `-W fuel=N` (`[wasm] fuel = N`), which gives every request's store N units of fuel".into(),
        _ => format!(
            "wasmtime's CLI has no option for it (its engine gets {cli}); set it in code (builder.rs)"
        ),
    }
}
