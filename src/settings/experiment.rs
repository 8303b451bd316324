//! Reading an experiment file: the `[experiment]` table, the file's form,
//! expanding its lists into variants (each checked), `[experiment] builds`,
//! and errors that name the line of a key after parsing.

use super::error::ConfigError;
use super::keys::{check_keys, find_key, key_at, nearest, value_offset};
use super::schema::{Axis, EngineFile, GuestFile, PoolingFile, ScenarioFile};
use super::tune::TuneSettings;
use super::validate::{NoScenario, ScenarioRules, validate};
use super::variant::{LAB_BUILD_THIS, LabBuild, Variant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::de::DeTable;

/// Most rounds a run may ask for (`[experiment] rounds`, `run --rounds`).
pub const MAX_ROUNDS: u32 = 50;

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
struct VariantGroup {
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
    /// Reads an experiment file and checks the keys every scenario shares
    /// (engine, pooling, guest and the shared `[scenario]` keys), not each
    /// scenario's own keys: what production code needs to build an engine
    /// from a tuned file. The lab loads with `pooling_lab::scenario::load`,
    /// which adds each scenario's checks through [`Experiment::load_with`].
    pub fn load(path: &Path) -> Result<Experiment, ConfigError> {
        Experiment::load_with(path, &NoScenario)
    }

    /// Reads an experiment file and checks every variant: first with
    /// `rules` (its scenario's own keys), then with the checks every
    /// scenario shares (the pool's slots against the scenario's live count
    /// from `rules`). A [`Problem`](super::Problem) becomes an error naming the file, the
    /// line of the key, the key and the fix.
    pub fn load_with(path: &Path, rules: &dyn ScenarioRules) -> Result<Experiment, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(path, format!("cannot read the file: {e}"))
                .fix("check the path; experiments live in configs/ (e.g. configs/quick.toml)")
        })?;
        Experiment::parse_with(path, &source, rules)
    }

    /// [`Experiment::load`] from experiment text; `path` is used for messages
    /// and the default name.
    pub fn parse(path: &Path, source: &str) -> Result<Experiment, ConfigError> {
        Experiment::parse_with(path, source, &NoScenario)
    }

    /// [`Experiment::load_with`] from experiment text; `path` is used for
    /// messages and the default name.
    pub fn parse_with(
        path: &Path,
        source: &str,
        rules: &dyn ScenarioRules,
    ) -> Result<Experiment, ConfigError> {
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
        let mut groups: Vec<VariantGroup> = Vec::new();
        if form.variant.is_empty() {
            groups.push(VariantGroup {
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
                groups.push(VariantGroup {
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
        // Two equal alternatives in one list make two variants of the same
        // name: measured twice, told apart by nothing.
        for a in groups.iter().flat_map(|g| &g.axes) {
            if let Some(dup) = a
                .labels
                .iter()
                .enumerate()
                .find(|(i, l)| a.labels[..*i].contains(l))
                .map(|(_, l)| l)
            {
                let offset = DeTable::parse(source)
                    .ok()
                    .and_then(|doc| value_offset(doc.get_ref(), a.section, a.key));
                return Err(ConfigError::new(
                    path,
                    format!("the list of {}.{} has {dup:?} twice", a.section, a.key),
                )
                .at(source, offset)
                .key(format!("{}.{}", a.section, a.key))
                .fix("list each alternative once (two equal alternatives are one variant measured twice under one name)"));
            }
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
                rules
                    .check(&v)
                    .and_then(|()| validate(&v, rules))
                    .map_err(|p| {
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

        if let Some(t) = &form.tune
            && !(t.idle_share.is_finite() && (0.0..=1.0).contains(&t.idle_share))
        {
            return Err(ConfigError::new(
                path,
                format!(
                    "idle_share = {} is not a share of the day (0 to 1)",
                    t.idle_share
                ),
            )
            .at(source, value_offset(doc.get_ref(), "tune", "idle_share"))
            .key("tune.idle_share")
            .fix("e.g. idle_share = 0.75 for a host idle 18 hours a day"));
        }

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
    let mut builds = vec![(LAB_BUILD_THIS.to_string(), None)];
    for (label, exe) in &meta.builds {
        if label.is_empty() || label == LAB_BUILD_THIS || label.contains(['/', ',', '=']) {
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
            b.lab_build = exe.as_ref().map(|exe| LabBuild {
                label: label.clone(),
                exe: exe.clone(),
            });
            out.push(b);
            out_spans.push(span.clone());
        }
    }
    Ok((out, out_spans))
}

/// `[experiment] rounds` and `disturbed_cpu_share` within their ranges.
fn check_experiment(
    path: &Path,
    source: &str,
    doc: &DeTable<'_>,
    meta: &ExperimentMeta,
) -> Result<(), ConfigError> {
    let max = MAX_ROUNDS;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::schema::Allocator;
    use crate::settings::size::ByteSize;
    use crate::settings::value::OneOrMany;

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
    fn a_list_of_threads_becomes_variants() {
        // (The pool's slots against the threads are a scenario's check:
        // tests/configs.rs.)
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
