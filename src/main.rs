//! The `pooling-lab` command line.

use anyhow::Result;
use clap::{Parser, Subcommand};
use pooling_lab::report;
use pooling_lab::runner::{self, RunOptions};
use pooling_lab::settings::{ConfigError, Experiment, all_keys};
use std::path::PathBuf;
use std::process::ExitCode;

/// Measure what each WebAssembly sandbox costs under each wasmtime allocator setting.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run an experiment: every variant in its own process, results side by side.
    Run {
        /// Experiment file (e.g. configs/quick.toml).
        config: PathBuf,
        /// Results root; files go to <DIR>/<experiment>/<timestamp>.{json,md}.
        #[arg(long, default_value = "results")]
        results_dir: PathBuf,
        /// Cache of precompiled guest artifacts.
        #[arg(long, env = "POOLING_LAB_CACHE", default_value = ".cache/pooling-lab")]
        cache_dir: PathBuf,
        /// Print only errors and the final table.
        #[arg(long, short)]
        quiet: bool,
        /// Measure every variant in N separate processes, interleaved (the
        /// variant order rotated each round), and report each headline
        /// metric's median with its between-round spread. Overrides
        /// `[experiment] rounds`.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(pooling_lab::rounds::MAX_ROUNDS)))]
        rounds: Option<u32>,
    },
    /// Search the experiment's variants for the best settings against its
    /// `[tune]` target (measured, not modelled) and write tuned.toml.
    Tune {
        /// Tune file (e.g. configs/tune.toml).
        config: PathBuf,
        /// Results root; the tune goes to <DIR>/<experiment>/<timestamp>-tune/.
        #[arg(long, default_value = "results")]
        results_dir: PathBuf,
        /// Cache of precompiled guest artifacts.
        #[arg(long, env = "POOLING_LAB_CACHE", default_value = ".cache/pooling-lab")]
        cache_dir: PathBuf,
        /// Print only the outcome.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Write a tuned file's settings for production: wasmtime-serve.txt
    /// (`wasmtime serve` flags), wasmtime-config.toml (its `--config` file)
    /// and builder.rs, each checked against wasmtime's own CLI parser.
    Export {
        /// A tuned.toml (or any experiment file without lists).
        tuned: PathBuf,
        /// Folder to write into (default: the tuned file's folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Build a variant's snapshot (`[guest] snapshot`, python `preinit`) as
    /// the lab measures it, check it against the un-snapshotted guest, and
    /// write it: how production reproduces a tuned file's snapshot where
    /// `wasmtime wizer` cannot express it.
    Snapshot {
        /// An experiment or tuned file.
        config: PathBuf,
        /// The variant to snapshot (default: the only one).
        #[arg(long)]
        variant: Option<String>,
        /// Where to write the snapshot module.
        #[arg(long, short)]
        out: PathBuf,
        /// Cache of snapshots and precompiled guest artifacts.
        #[arg(long, env = "POOLING_LAB_CACHE", default_value = ".cache/pooling-lab")]
        cache_dir: PathBuf,
    },
    /// Validate an experiment and list its variants without measuring.
    Check {
        /// Experiment file.
        config: PathBuf,
        /// Cache of precompiled guest artifacts (shared with `run`).
        #[arg(long, env = "POOLING_LAB_CACHE", default_value = ".cache/pooling-lab")]
        cache_dir: PathBuf,
    },
    /// List every config key with its unit, default and trade-off.
    Explain {
        /// A section (`pooling`) or key (`memory_init_cow`, `pooling.total_memories`).
        key: Option<String>,
    },
    /// Compare two result files: every shared variant and metric, with a
    /// verdict that treats changes within the measured spread as no change,
    /// says "not enough rounds to judge" when the rounds cannot resolve a
    /// difference, and gives a disturbed variant no verdict.
    Compare {
        /// The reference result (JSON).
        a: PathBuf,
        /// The result compared with it (JSON).
        b: PathBuf,
    },
    /// Draw the charts of a result (again): SVG and PNG into the folder of
    /// its histograms, `<results>/<experiment>/<timestamp>/`.
    Plot {
        /// A result file (JSON).
        result: PathBuf,
    },
    /// Write a trace file of tenant ids for `[scenario] mix = "trace"`: a
    /// header, then one id per line (0 up to TENANTS - 1) drawn from the mix.
    Trace {
        /// File to write.
        out: PathBuf,
        /// Tenants the ids are drawn from.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        tenants: u32,
        /// Ids to write.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        requests: u64,
        /// `uniform` or `zipf`.
        #[arg(long, default_value = "zipf", value_parser = ["uniform", "zipf"])]
        mix: String,
        /// Exponent of the Zipf mix (tenant k has weight 1 / (k + 1)^s).
        #[arg(long, default_value_t = 1.0)]
        zipf_exponent: f64,
        /// Seed of the draw.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print the JSON Schema of result files.
    Schema,
    /// Internal: measure one variant (job on stdin, result on stdout).
    #[command(name = runner::CHILD_COMMAND, hide = true)]
    Measure,
    /// Internal: pooling-lab's server for the serve scenario, in its own
    /// process (job on stdin, address then counters on stdout).
    #[command(name = pooling_lab::serve::process::SERVER_COMMAND, hide = true)]
    Serve,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            if let Some(ce) = e.downcast_ref::<ConfigError>() {
                eprintln!("error: {ce}");
                return ExitCode::from(2);
            }
            if let Some(i) = e.downcast_ref::<runner::Interrupted>() {
                eprintln!("{i}");
                return ExitCode::from(130);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Commands that only print: a closed pipe (`pooling-lab explain | head`)
/// ends them quietly, as it ends `cat`, instead of a panic in `println!`.
/// Not for commands that serve or measure: their sockets rely on SIGPIPE
/// being ignored (Rust's default), so a closed connection is an error, not a
/// signal.
fn quiet_on_closed_pipe() {
    // SAFETY: sets a signal's disposition to its default; called before any
    // other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    if matches!(
        cmd,
        Cmd::Check { .. } | Cmd::Explain { .. } | Cmd::Compare { .. } | Cmd::Schema
    ) {
        quiet_on_closed_pipe();
    }
    match cmd {
        Cmd::Run {
            config,
            results_dir,
            cache_dir,
            quiet,
            rounds,
        } => {
            let exp = Experiment::load(&config)?;
            let opts = RunOptions {
                results_dir,
                cache_dir,
                exe: std::env::current_exe()?,
                quiet,
                rounds,
            };
            let out = runner::run(&exp, &opts)?;
            println!("{}", report::markdown::summary(&out.result));
            let failures = report::markdown::failures(&out.result);
            if !failures.is_empty() {
                println!("{failures}");
            }
            println!(
                "wrote {}\nwrote {}",
                out.json_path.display(),
                out.markdown_path.display()
            );
            Ok(if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Tune {
            config,
            results_dir,
            cache_dir,
            quiet,
        } => {
            let exp = Experiment::load(&config)?;
            let out = pooling_lab::tune::run(
                &exp,
                &pooling_lab::tune::TuneOptions {
                    results_dir,
                    cache_dir,
                    exe: std::env::current_exe()?,
                    quiet,
                },
            )?;
            let summary = std::fs::read_to_string(out.dir.join("summary.md"))?;
            println!("{summary}");
            println!("wrote {}", out.tuned_toml.display());
            println!("wrote {}", out.dir.join("summary.md").display());
            for f in pooling_lab::export::FILES {
                println!("wrote {}", out.dir.join(f).display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Export { tuned, out } => {
            let out = out.unwrap_or_else(|| {
                tuned
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."))
                    .to_path_buf()
            });
            let (variant, paths, cli) = pooling_lab::export::export_file(&tuned, &out)?;
            if variant.name != tuned.display().to_string() {
                println!("{}: {}", tuned.display(), variant.name);
            }
            for x in &cli.inexpressible {
                println!(
                    "not expressible with wasmtime's CLI: {} = {}: {}",
                    x.key, x.tuned, x.advice
                );
            }
            for p in paths {
                println!("wrote {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Snapshot {
            config,
            variant,
            out,
            cache_dir,
        } => {
            let exp = Experiment::load(&config)?;
            let i = match &variant {
                Some(name) => exp.variants.iter().position(|v| &v.name == name),
                None if exp.variants.len() == 1 => Some(0),
                None => None,
            };
            let Some(i) = i else {
                let names: Vec<_> = exp.variants.iter().map(|v| v.name.as_str()).collect();
                return Err(ConfigError::new(
                    &config,
                    format!(
                        "name the variant to snapshot with --variant (the file has: {})",
                        names.join(", ")
                    ),
                )
                .into());
            };
            let Some((_, snap, _)) = runner::snapshot_variant(&exp, i, &cache_dir)? else {
                return Err(exp
                    .error_at(
                        i,
                        "guest",
                        "snapshot",
                        "this variant has no snapshot point",
                        "set [guest] snapshot = \"after-init\" or \"after-warmup\"",
                    )
                    .into());
            };
            std::fs::copy(&snap.path, &out)
                .map_err(|e| anyhow::anyhow!("copying {} to {}: {e}", snap.path, out.display()))?;
            println!(
                "{}: {} snapshot, checked against the un-snapshotted guest ({} -> {} bytes)",
                exp.variants[i].name,
                snap.point.as_deref().unwrap_or("-"),
                snap.original_bytes,
                snap.wasm_bytes
            );
            if let Some(w) = pooling_lab::report::warnings::snapshot_frozen(&snap) {
                println!("warning: {w}");
            }
            println!("wrote {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check { config, cache_dir } => {
            let exp = Experiment::load(&config)?;
            // The checks `run` makes before measuring: engines, guest files,
            // exports and signatures, pool fit.
            runner::preflight(&exp, &cache_dir)?;
            println!("{}: {} variant(s)", config.display(), exp.variants.len());
            for v in &exp.variants {
                println!("  {}", v.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Explain { key } => {
            let keys: Vec<_> = all_keys()
                .into_iter()
                .filter(|k| match &key {
                    None => true,
                    Some(q) => {
                        q == k.section || q == k.key || *q == format!("{}.{}", k.section, k.key)
                    }
                })
                .collect();
            if keys.is_empty() {
                anyhow::bail!(
                    "no key or section named `{}`; run `pooling-lab explain` for all",
                    key.unwrap_or_default()
                );
            }
            for k in keys {
                let default = pooling_lab::settings::default_as_toml(k.section, k.key)
                    .unwrap_or_else(|| k.default.to_string());
                println!(
                    "[{}] {}  ({}; default: {default})",
                    k.section, k.key, k.unit
                );
                for line in k.doc.lines() {
                    println!("    {}", line.trim());
                }
                println!();
            }
            if matches!(key.as_deref(), None | Some("guest" | "kind" | "guest.kind")) {
                println!("Guest kinds, each with a minimal [guest] section:\n");
                for kind in pooling_lab::settings::GuestKind::ALL {
                    println!("  {} ", kind.name());
                    for line in kind.example().lines() {
                        println!("      {line}");
                    }
                    println!();
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Compare { a, b } => {
            let ra = report::json::read(&a)?;
            let rb = report::json::read(&b)?;
            let deltas = report::delta::diff(&ra, &rb);
            print!(
                "{}",
                report::delta::render(&a.display().to_string(), &b.display().to_string(), &deltas)
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Plot { result } => {
            let r = report::json::read(&result)?;
            let dir = result
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let stem = result
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            for f in report::plot::write_all(dir, &dir.join(stem), &r)? {
                println!("wrote {}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Trace {
            out,
            tenants,
            requests,
            mix,
            zipf_exponent,
            seed,
        } => {
            if !zipf_exponent.is_finite() || !(0.0..=10.0).contains(&zipf_exponent) {
                anyhow::bail!("--zipf-exponent {zipf_exponent} is outside 0..=10");
            }
            let mix = if mix == "uniform" {
                pooling_lab::settings::TenantMix::Uniform
            } else {
                pooling_lab::settings::TenantMix::Zipf
            };
            let text = pooling_lab::scenario::tenants::trace_text(
                mix,
                tenants,
                requests,
                zipf_exponent,
                seed,
            );
            report::json::write_atomic(&out, text.as_bytes())?;
            println!("wrote {} ({requests} tenant ids)", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&pooling_lab::result::json_schema())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Measure => {
            runner::child_main()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Serve => {
            pooling_lab::serve::process::main()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
