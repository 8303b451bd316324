//! Tuned settings handed to production, one module per format:
//!
//! * [`cli_flags`]: `wasmtime-serve.txt`, the `wasmtime serve` command line
//!   (`-O`/`-W`/`-C`/`-D` flags), with component-aware sizing notes; for a
//!   command guest [`cli_run`]'s `wasmtime-run.txt` instead: `wasmtime run`
//!   with the same flags, `--dir`, `--env` and the guest's arguments;
//! * [`config_file`]: `wasmtime-config.toml`, the file
//!   `wasmtime serve --config FILE` (and `wasmtime run --config`) reads;
//! * [`builder`]: `builder.rs`, the same settings as `wasmtime::Config` builder calls.
//!
//! The two CLI forms are made from and checked against wasmtime-cli-flags at
//! the locked version (the crate wasmtime's CLI parses its flags and config
//! file with), not from a hand-kept list of names: see [`cli`].
//!
//! `pooling-lab tune` writes the three files next to `tuned.toml`;
//! `pooling-lab export TUNED.toml` ([`export_file`]) writes them again from
//! any tuned file.

pub mod builder;
pub mod cli_flags;
pub mod cli_options;
pub mod cli_run;
pub mod config_file;
mod shared;

pub use shared::{
    BUILDER_FILE, CLI_FLAGS_VERSION, COMMAND_FILES, CONFIG_FILE, FILES, RUN_FILE, SERVE_FILE,
    files_for, fuel_epoch_note, full_key, set_keys, snapshot_note,
};

use crate::settings::{Experiment, Variant};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Writes the three files for `v` into `dir` (created if needed) and returns
/// their paths, with the checked CLI form they were made from.
pub fn write_all(v: &Variant, dir: &Path) -> Result<(Vec<PathBuf>, cli_options::CliExport)> {
    let cli = cli_options::CliExport::of(v)?;
    let texts = [
        if v.guest.kind.is_command() {
            cli_run::text(v, &cli)
        } else {
            cli_flags::text(v, &cli)
        },
        config_file::text(v, &cli),
        builder::code(v)?,
    ];
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut paths = Vec::new();
    for (name, text) in files_for(v).iter().zip(texts) {
        let path = dir.join(name);
        crate::files::write_atomic(&path, text.as_bytes())?;
        paths.push(path);
    }
    Ok((paths, cli))
}

/// `pooling-lab export`: reads a tuned file (`tuned.toml`, or any experiment
/// file that expands to one variant) and writes the three files into `out`.
pub fn export_file(
    tuned: &Path,
    out: &Path,
) -> Result<(Variant, Vec<PathBuf>, cli_options::CliExport)> {
    let exp = Experiment::load(tuned)?;
    let n = exp.variants.len();
    if n != 1 {
        bail!(
            "{}: expands to {n} variants; export takes one set of settings (a tuned.toml, or a file without lists)",
            tuned.display()
        );
    }
    let mut v = exp.variants.into_iter().next().context("no variant")?;
    // A file without lists names its one variant `default`; the file says more.
    if v.name == "default" {
        v.name = tuned.display().to_string();
    }
    let (paths, cli) = write_all(&v, out)?;
    Ok((v, paths, cli))
}
