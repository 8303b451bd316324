//! The keys a file may hold: the docs of the keys not declared in the schema
//! (`[experiment]`, `[[variant]]`, `[tune]`), the list of every key, the
//! unknown-key and unknown-section checks with their nearest-name hints, and
//! where a key or value is written in the file.

use super::error::ConfigError;
use super::schema::{EngineSettings, GuestSettings, KeyDoc, PoolingSettings, ScenarioSettings};
use super::size::ByteSize;
use std::path::Path;
use toml::de::{DeTable, DeValue};

const EXPERIMENT_KEYS: &[KeyDoc] = &[
    KeyDoc {
        section: "experiment",
        key: "name",
        ty: "String",
        default: "the file name without .toml",
        unit: "text",
        doc: "Name used for the results folder.\n",
    },
    KeyDoc {
        section: "experiment",
        key: "description",
        ty: "String",
        default: "none",
        unit: "text",
        doc: "One sentence on what the experiment asks.\n",
    },
    KeyDoc {
        section: "experiment",
        key: "baseline",
        ty: "String",
        default: "the first variant",
        unit: "variant name",
        doc: "Variant every other variant is compared with: the report shows each\nvariant's speedup over it (latency p50 ratio, throughput ratio).\n",
    },
    KeyDoc {
        section: "experiment",
        key: "rounds",
        ty: "u32",
        default: "1",
        unit: "count (1..=50)",
        doc: "Separate processes each variant is measured in (`run --rounds N` overrides\nit). Rounds are interleaved: round r runs the variants in an order rotated by r,\nso slow drift of the machine touches every variant alike. Each round's figures\nare kept; the report gives every headline metric's median with its min-max and\na confidence interval of the median between rounds, and `compare` judges a\ndifference against that between-round spread. Variation between processes is\nlarger than within one and only repeated processes show it. Trade-off: N times\nthe run time. 3 is the fewest with which `compare` can call a difference (a\nrank test over 3 against 3 rounds reaches p = 0.1); 5 gives a 94% interval.\nWith rounds, a round measured while the machine was disturbed is re-run once.\n",
    },
    KeyDoc {
        section: "experiment",
        key: "disturbed_cpu_share",
        ty: "f64",
        default: "0.10",
        unit: "share of all CPUs (0 < x <= 1)",
        doc: "While each variant measures, the runner samples what else the machine does\n(CPU time of other processes from /proc/stat minus the measuring process's own,\nsteal time, run queue, /proc/pressure, major faults). A variant measured while\nothers (and the hypervisor's steal) used more than this share of all CPUs is\nmarked disturbed in the JSON and Markdown, with the figure, and `compare` gives\nit no verdict. Lower catches smaller disturbances but flags more runs on a\nshared machine; 1.0 never marks anything.\n",
    },
    KeyDoc {
        section: "experiment",
        key: "builds",
        ty: "table of label = path",
        default: "none",
        unit: "label = path of a pooling-lab binary",
        doc: "Other builds of pooling-lab, e.g. { before = \"/tmp/pooling-lab-444f9bd\" }: every\nvariant is measured by this build (`build=this`) and by each of these\n(`build=<label>`), interleaved in one run, so a change to the lab's own code (or\nto the wasmtime it links) is judged as a ratio measured in the same run, with\nrounds. A build's child reads this build's job: build both from nearby commits.\nGuests are precompiled by this build: another build must link the same wasmtime\n(a child that cannot load the artifact fails with wasmtime's error).\n",
    },
];

const TUNE_KEYS: &[KeyDoc] = &[
    KeyDoc {
        section: "tune",
        key: "objective",
        ty: "Objective",
        default: "sandboxes-per-second",
        unit: "enum: sandboxes-per-second | p99-time-to-ready | requests-per-second | tenants-p99-instantiate",
        doc: "What `pooling-lab tune` optimises: fresh sandboxes per second (churn\nthroughput), the p99 of instantiation (time until a sandbox is ready), or\nrequests per second served (serve scenario) with the request p99 at or under\np99_target_ms, or the instantiate p99 of a tenants run (many modules through\none pool) whose peak Pss stays within memory_budget.\nrequests-per-second serves candidates with pooling-lab's server, or with\n`wasmtime serve` itself under [scenario] server = \"wasmtime-serve\" (each\ncandidate's settings as -O flags, wasmtime_flags = \"variant\"; the CLI from\nscripts/install-wasmtime-cli.sh). The references are then measured in\n`wasmtime serve` too: its own defaults (no flags) and on-demand\n(-O pooling-allocator=n), so each gain is a ratio measured in one server.\nEvery candidate of a serving tune uses the same server.\n",
    },
    KeyDoc {
        section: "tune",
        key: "live_instances",
        ty: "u32",
        default: "100",
        unit: "count",
        doc: "Sandboxes production holds at once: the pool must have this many slots\nand the memory budget must cover them.\n",
    },
    KeyDoc {
        section: "tune",
        key: "memory_budget",
        ty: "ByteSize",
        default: "8GiB",
        unit: "bytes",
        doc: "Memory for all sandboxes: measured fixed cost + live_instances x measured\nPss per sandbox + linear_memory_keep_resident x slots (kept resident by the pool).\nSlots are [pooling] total_memories (wasmtime's default when unset): the pool\nkeeps up to linear_memory_keep_resident in every memory slot that has served,\nwhatever live_instances is. Candidates above it are pruned (the kept-resident\npart before anything is measured).\n",
    },
    KeyDoc {
        section: "tune",
        key: "finalists",
        ty: "u32",
        default: "3",
        unit: "count",
        doc: "Best candidates re-measured, interleaved, next to wasmtime's default\npooling (`wasmtime serve`'s defaults when served by it) and on-demand, to rule\nout noise before a winner is named. The best median wins unless other finalists\nare tied with it (the range of a finalist's scores over all its measurements,\nmin to max, overlaps the best one's): the tied finalist that keeps the least\nresident at most (linear_memory_keep_resident x slots) wins, then the least\nmeasured memory; summary.md names the tie and the reason.\n",
    },
    KeyDoc {
        section: "tune",
        key: "rounds",
        ty: "u32",
        default: "2",
        unit: "count",
        doc: "Interleaved re-measurement rounds of the finalists (the median counts).\n",
    },
    KeyDoc {
        section: "tune",
        key: "p99_target_ms",
        ty: "f64",
        default: "0",
        unit: "milliseconds",
        doc: "requests-per-second: candidates whose request p99 (from each request's\nscheduled time) is above this are out. 0 = no latency target.\n",
    },
    KeyDoc {
        section: "tune",
        key: "idle_share",
        ty: "f64",
        default: "0",
        unit: "share of the day, 0 to 1",
        doc: "[scenario] kind = \"burst\": the share of the day the host sits idle after its\npeak. Each candidate's memory is then the day's average Pss, (1 - idle_share)\nx Pss at the peak + idle_share x Pss after the release point (the idle level\nwhen release_idle = \"never\"), measured in its own run, and memory_budget\nbounds that average instead of the kept-resident bound: a keep-resident\nsetting that holds its peak all night can lose to the same setting with a\nrelease. The score is the peak's requests per second. 0 = the peak's Pss.\n",
    },
];

const VARIANT_KEYS: &[KeyDoc] = &[KeyDoc {
    section: "variant",
    key: "name",
    ty: "String",
    default: "required",
    unit: "text",
    doc: "`[[variant]]` tables each describe one explicitly named variant: its\n`name` plus `[variant.engine]`, `[variant.pooling]`, `[variant.guest]` and\n`[variant.scenario]` keys that replace the top-level sections' keys. Lists\ninside a variant expand it further (`name/key=value`). Without any\n`[[variant]]`, the top-level sections alone are expanded.\n",
}];

/// Every key the schema accepts, in section order.
pub fn all_keys() -> Vec<&'static KeyDoc> {
    EXPERIMENT_KEYS
        .iter()
        .chain(EngineSettings::KEYS)
        .chain(PoolingSettings::KEYS)
        .chain(GuestSettings::KEYS)
        .chain(ScenarioSettings::KEYS)
        .chain(VARIANT_KEYS)
        .chain(TUNE_KEYS)
        .collect()
}

const SECTIONS: &[&str] = &[
    "experiment",
    "engine",
    "pooling",
    "guest",
    "scenario",
    "variant",
    "tune",
];

/// The sections a `[[variant]]` may override.
const VARIANT_SECTIONS: &[&str] = &["engine", "pooling", "guest", "scenario"];

/// `section.key` of the assignment that contains byte `offset`.
pub(super) fn key_at(source: &str, offset: usize) -> Option<String> {
    let offset = source.floor_char_boundary(offset.min(source.len()));
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = source[line_start..].lines().next().unwrap_or("");
    let key = line.split('=').next()?.trim();
    if key.is_empty() || key.starts_with('[') || !line.contains('=') {
        return None;
    }
    let section = source[..line_start]
        .lines()
        .rev()
        .find_map(|l| {
            let l = l.trim();
            l.starts_with('[')
                .then(|| l.trim_start_matches('['))
                .and_then(|l| l.split(']').next())
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    Some(if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}.{key}")
    })
}

pub(super) fn find_key(dotted: &str) -> Option<&'static KeyDoc> {
    let dotted = dotted.strip_prefix("variant.").unwrap_or(dotted);
    let (section, key) = dotted.split_once('.')?;
    all_keys()
        .into_iter()
        .find(|k| k.section == section && k.key == key)
}

/// The closest candidate by edit distance, if it is close enough to be a typo.
pub(super) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(word, c), c))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Byte offset of the value of `[section] key` in the parsed document, if present.
pub(super) fn value_offset(doc: &DeTable<'_>, section: &str, key: &str) -> Option<usize> {
    let DeValue::Table(t) = doc.get(section)?.get_ref() else {
        return None;
    };
    t.get(key).map(|v| v.span().start)
}

pub(super) fn check_keys(path: &Path, source: &str, doc: &DeTable<'_>) -> Result<(), ConfigError> {
    for (key, value) in doc.iter() {
        let name = key.get_ref().as_ref();
        let at = Some(key.span().start);
        if !SECTIONS.contains(&name) {
            let mut err = ConfigError::new(path, format!("unknown section `{name}`"))
                .at(source, at)
                .key(name.to_string());
            err = match nearest(name, SECTIONS.iter().copied()) {
                Some(n) => err.fix(format!("did you mean [{n}]?")),
                None => err.fix(format!(
                    "sections are {}",
                    SECTIONS
                        .iter()
                        .map(|s| format!("[{s}]"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            return Err(err);
        }
        if name == "variant" {
            check_variants(path, source, value)?;
            continue;
        }
        let DeValue::Table(table) = value.get_ref() else {
            return Err(ConfigError::new(
                path,
                format!("`{name}` must be a section ([{name}]), not a value"),
            )
            .at(source, at)
            .key(name.to_string())
            .fix(format!(
                "write [{name}] on its own line and put its keys below it"
            )));
        };
        check_section(path, source, name, name, table)?;
    }
    Ok(())
}

/// `[[variant]]`: an array of tables, each with `name` and section overrides.
fn check_variants(
    path: &Path,
    source: &str,
    value: &toml::Spanned<DeValue<'_>>,
) -> Result<(), ConfigError> {
    let not_tables = || {
        ConfigError::new(path, "`variant` must be an array of tables ([[variant]])")
            .at(source, Some(value.span().start))
            .key("variant")
            .fix("write each variant as a [[variant]] table with a `name` and its own [variant.<section>] keys")
    };
    let DeValue::Array(items) = value.get_ref() else {
        return Err(not_tables());
    };
    for item in items.iter() {
        let DeValue::Table(table) = item.get_ref() else {
            return Err(not_tables());
        };
        for (k, v) in table.iter() {
            let kname = k.get_ref().as_ref();
            if kname == "name" {
                continue;
            }
            if !VARIANT_SECTIONS.contains(&kname) {
                let mut err =
                    ConfigError::new(path, format!("unknown key `{kname}` in [[variant]]"))
                        .at(source, Some(k.span().start))
                        .key(format!("variant.{kname}"));
                let sections: Vec<&str> = VARIANT_SECTIONS.to_vec();
                err = if let Some(n) = nearest(kname, sections.iter().copied()) {
                    err.fix(format!("did you mean [variant.{n}]?"))
                } else if let Some(d) = all_keys().into_iter().find(|d| d.key == kname) {
                    err.fix(format!(
                        "put `{kname}` under [variant.{}] (a variant overrides keys section by section)",
                        d.section
                    ))
                } else {
                    err.fix(
                        "a [[variant]] holds `name` and [variant.engine], [variant.pooling], [variant.guest], [variant.scenario]",
                    )
                };
                return Err(err);
            }
            let DeValue::Table(sub) = v.get_ref() else {
                return Err(ConfigError::new(
                    path,
                    format!("`{kname}` in [[variant]] must be a table"),
                )
                .at(source, Some(k.span().start))
                .key(format!("variant.{kname}"))
                .fix(format!("write [variant.{kname}] and put its keys below it")));
            };
            check_section(path, source, kname, &format!("variant.{kname}"), sub)?;
        }
    }
    Ok(())
}

/// Every key of a section table must be one of `section`'s keys; `shown` is how
/// the section is written in the file (`engine` or `variant.engine`).
fn check_section(
    path: &Path,
    source: &str,
    section: &str,
    shown: &str,
    table: &DeTable<'_>,
) -> Result<(), ConfigError> {
    let valid: Vec<&str> = all_keys()
        .into_iter()
        .filter(|k| k.section == section)
        .map(|k| k.key)
        .collect();
    for (k, _) in table.iter() {
        let kname = k.get_ref().as_ref();
        if valid.contains(&kname) {
            continue;
        }
        let mut err = ConfigError::new(path, format!("unknown key `{kname}` in [{shown}]"))
            .at(source, Some(k.span().start))
            .key(format!("{shown}.{kname}"));
        let elsewhere = all_keys()
            .into_iter()
            .find(|d| d.key == kname && d.section != "variant");
        err = if let Some(d) = elsewhere {
            let target = if shown.starts_with("variant.") {
                format!("variant.{}", d.section)
            } else {
                d.section.to_string()
            };
            err.fix(format!("`{kname}` belongs in [{target}]: move it there"))
        } else if let Some(n) = nearest(kname, valid.iter().copied()) {
            err.fix(format!(
                "did you mean `{n}`? (`pooling-lab explain {section}` lists the keys)"
            ))
        } else {
            err.fix(format!("valid keys in [{shown}]: {}", valid.join(", ")))
        };
        return Err(err);
    }
    Ok(())
}

/// The default of a `[guest]` or `[scenario]` key as it would be written in
/// TOML (`"pass"`, `"64MiB"`, `["qjs", "-e", ...]`); `None` for the
/// wasmtime-applied sections (their default is wasmtime's own) and unknown keys.
pub fn default_as_toml(section: &str, key: &str) -> Option<String> {
    let table = match section {
        "guest" => serde_json::to_value(GuestSettings::default()).ok()?,
        "scenario" => serde_json::to_value(ScenarioSettings::default()).ok()?,
        _ => return None,
    };
    let value = table.get(key)?;
    let unit = all_keys()
        .into_iter()
        .find(|k| k.section == section && k.key == key)?
        .unit;
    Some(match value {
        serde_json::Value::Number(n) if unit == "bytes" => {
            format!("\"{}\"", ByteSize(n.as_u64()?))
        }
        other => other.to_string(),
    })
}
