//! The command line's definition (clap): every command and its options.
//! What each does is in `commands.rs`.

use clap::{Args, Parser, Subcommand};
use pooling_lab::runner;
use std::path::PathBuf;

/// Measure what each WebAssembly sandbox costs under each wasmtime allocator setting.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Cmd,
}

/// What `pooling-lab` is asked to do.
#[derive(Subcommand)]
pub enum Cmd {
    /// Run an experiment: every variant in its own process, results side by side.
    Run(RunArgs),
    /// Search the experiment's variants for the best settings against its
    /// `[tune]` target (measured, not modelled) and write tuned.toml.
    Tune(TuneArgs),
    /// Write a tuned file's settings for production: wasmtime-serve.txt
    /// (`wasmtime serve` flags), wasmtime-config.toml (its `--config` file)
    /// and builder.rs, each checked against wasmtime's own CLI parser.
    Export(ExportArgs),
    /// Build a variant's snapshot (`[guest] snapshot`, python `preinit`) as
    /// the lab measures it, check it against the un-snapshotted guest, and
    /// write it: how production reproduces a tuned file's snapshot where
    /// `wasmtime wizer` cannot express it.
    Snapshot(SnapshotArgs),
    /// Validate an experiment and list its variants without measuring.
    Check(CheckArgs),
    /// List every config key with its unit, default and trade-off.
    Explain(ExplainArgs),
    /// Compare two result files: every shared variant and metric, with a
    /// verdict that treats changes within the measured spread as no change,
    /// says "not enough rounds to judge" when the rounds cannot resolve a
    /// difference, and gives a disturbed variant no verdict.
    Compare(CompareArgs),
    /// Draw the charts of a result (again): SVG and PNG into the folder of
    /// its histograms, `<results>/<experiment>/<timestamp>/`.
    Plot(PlotArgs),
    /// Write a trace file of tenant ids for `[scenario] mix = "trace"`: a
    /// header, then one id per line (0 up to TENANTS - 1) drawn from the mix.
    Trace(TraceArgs),
    /// Print the JSON Schema of result files.
    Schema,
    /// Internal: measure one variant (job on stdin, result on stdout).
    #[command(name = runner::CHILD_COMMAND, hide = true)]
    Measure,
    /// Internal: pooling-lab's server for the serve scenario, in its own
    /// process (job on stdin, address then counters on stdout).
    #[command(name = pooling_lab::http_bench::process::SERVER_COMMAND, hide = true)]
    Serve,
}

/// Run an experiment: every variant in its own process, results side by side.
#[derive(Args)]
pub struct RunArgs {
    /// Experiment file (e.g. configs/quick.toml).
    pub config: PathBuf,
    /// Results root; files go to <DIR>/<experiment>/<timestamp>.{json,md}.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// Cache of precompiled guest artifacts.
    #[arg(long, env = "POOLING_LAB_CACHE", default_value = ".cache/pooling-lab")]
    pub cache_dir: PathBuf,
    /// Print only errors and the final table.
    #[arg(long, short)]
    pub quiet: bool,
    /// Measure every variant in N separate processes, interleaved (the
    /// variant order rotated each round), and report each headline
    /// metric's median with its between-round spread. Overrides
    /// `[experiment] rounds`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(pooling_lab::rounds::MAX_ROUNDS)))]
    pub rounds: Option<u32>,
    /// Replay the file instead of measuring it: every variant runs with its
    /// measured amounts cut to the least that exercises each setting (a
    /// dozen calls, two live counts, one round, no other lab builds), to
    /// check that a committed config or tuned file still runs. Every
    /// allocator, engine and guest setting is kept; the figures are not
    /// findings, and the result's description says so.
    #[arg(long, conflicts_with = "rounds")]
    pub replay: bool,
}

/// Search the experiment's variants for the best settings against its
/// `[tune]` target (measured, not modelled) and write tuned.toml.
#[derive(Args)]
pub struct TuneArgs {
    /// Tune file (e.g. configs/tune.toml).
    pub config: PathBuf,
    /// Results root; the tune goes to <DIR>/<experiment>/<timestamp>-tune/.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// Cache of precompiled guest artifacts.
    #[arg(long, env = "POOLING_LAB_CACHE", default_value = ".cache/pooling-lab")]
    pub cache_dir: PathBuf,
    /// Print only the outcome.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Write a tuned file's settings for production: wasmtime-serve.txt
/// (`wasmtime serve` flags), wasmtime-config.toml (its `--config` file)
/// and builder.rs, each checked against wasmtime's own CLI parser.
#[derive(Args)]
pub struct ExportArgs {
    /// A tuned.toml (or any experiment file without lists).
    pub tuned: PathBuf,
    /// Folder to write into (default: the tuned file's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Build a variant's snapshot (`[guest] snapshot`, python `preinit`) as
/// the lab measures it, check it against the un-snapshotted guest, and
/// write it: how production reproduces a tuned file's snapshot where
/// `wasmtime wizer` cannot express it.
#[derive(Args)]
pub struct SnapshotArgs {
    /// An experiment or tuned file.
    pub config: PathBuf,
    /// The variant to snapshot (default: the only one).
    #[arg(long)]
    pub variant: Option<String>,
    /// Where to write the snapshot module.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Cache of snapshots and precompiled guest artifacts.
    #[arg(long, env = "POOLING_LAB_CACHE", default_value = ".cache/pooling-lab")]
    pub cache_dir: PathBuf,
}

/// Validate an experiment and list its variants without measuring.
#[derive(Args)]
pub struct CheckArgs {
    /// Experiment file.
    pub config: PathBuf,
    /// Cache of precompiled guest artifacts (shared with `run`).
    #[arg(long, env = "POOLING_LAB_CACHE", default_value = ".cache/pooling-lab")]
    pub cache_dir: PathBuf,
}

/// List every config key with its unit, default and trade-off.
#[derive(Args)]
pub struct ExplainArgs {
    /// A section (`pooling`) or key (`memory_init_cow`, `pooling.total_memories`).
    pub key: Option<String>,
}

/// Compare two result files: every shared variant and metric, with a
/// verdict that treats changes within the measured spread as no change,
/// says "not enough rounds to judge" when the rounds cannot resolve a
/// difference, and gives a disturbed variant no verdict.
#[derive(Args)]
pub struct CompareArgs {
    /// The reference result (JSON).
    pub a: PathBuf,
    /// The result compared with it (JSON).
    pub b: PathBuf,
}

/// Draw the charts of a result (again): SVG and PNG into the folder of
/// its histograms, `<results>/<experiment>/<timestamp>/`.
#[derive(Args)]
pub struct PlotArgs {
    /// A result file (JSON).
    pub result: PathBuf,
}

/// Write a trace file of tenant ids for `[scenario] mix = "trace"`: a
/// header, then one id per line (0 up to TENANTS - 1) drawn from the mix.
#[derive(Args)]
pub struct TraceArgs {
    /// File to write.
    pub out: PathBuf,
    /// Tenants the ids are drawn from.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub tenants: u32,
    /// Ids to write.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub requests: u64,
    /// `uniform` or `zipf`.
    #[arg(long, default_value = "zipf", value_parser = ["uniform", "zipf"])]
    pub mix: String,
    /// Exponent of the Zipf mix (tenant k has weight 1 / (k + 1)^s).
    #[arg(long, default_value_t = 1.0)]
    pub zipf_exponent: f64,
    /// Seed of the draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}
