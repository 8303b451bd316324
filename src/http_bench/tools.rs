//! The programs the serve scenario starts (the wasmtime CLI, wrk): where
//! they are, and whether they are there before anything is measured.
//!
//! An empty `[scenario] wasmtime_cli` means the CLI
//! `scripts/install-wasmtime-cli.sh` installed into this project's
//! `.cache/tools`, found from the project (the checkout this binary was
//! built in or runs from), never from the folder pooling-lab happens to run
//! in. A path given in the config is read as every path in a config is
//! (relative to where pooling-lab runs). wrk is looked up on PATH unless a
//! path is given.

use crate::settings::Problem;
use crate::settings::{LoadGenerator, ServeServer, Variant};
use std::path::{Path, PathBuf};

/// Marks a pooling-lab checkout: the script that installs the CLI.
const PROJECT_MARK: &str = "scripts/install-wasmtime-cli.sh";

/// Where `scripts/install-wasmtime-cli.sh` installs the CLI, relative to
/// the project.
pub fn cli_install_path() -> String {
    format!(
        ".cache/tools/wasmtime-{0}/bin/wasmtime",
        env!("POOLING_LAB_WASMTIME_VERSION")
    )
}

/// The pooling-lab checkout: the nearest folder holding
/// `scripts/install-wasmtime-cli.sh` above this binary (`target/release/`,
/// `.cache/lab-builds/REV/`), else the one it was built in, else `None`.
pub fn project_root() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    exe.iter()
        .flat_map(|e| e.ancestors().skip(1))
        .map(Path::to_path_buf)
        .chain(std::iter::once(PathBuf::from(env!("CARGO_MANIFEST_DIR"))))
        .find(|d| d.join(PROJECT_MARK).is_file())
}

/// The wasmtime CLI a variant serves with: its `[scenario] wasmtime_cli`
/// (`given`) as given, or (empty) the project's installed one.
pub fn wasmtime_cli(given: &str) -> PathBuf {
    if !given.is_empty() {
        return PathBuf::from(given);
    }
    match project_root() {
        Some(root) => root.join(cli_install_path()),
        None => PathBuf::from(cli_install_path()),
    }
}

/// The wrk `v` generates load with: `[scenario] wrk` as given, or `wrk` on PATH.
pub fn wrk(v: &Variant) -> PathBuf {
    if v.scenario.wrk.is_empty() {
        PathBuf::from("wrk")
    } else {
        PathBuf::from(&v.scenario.wrk)
    }
}

/// `program` as started: a path with a `/` is itself; a bare name is looked
/// up on PATH.
fn locate(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return is_executable(program).then(|| program.to_path_buf());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Checks that the programs serving `v` (a `serve` variant) starts exist and
/// can be run: the wasmtime CLI for `server = "wasmtime-serve"`, wrk for
/// `load_generator = "wrk"`.
/// Made before anything is measured; a missing one is a [`Problem`] naming
/// the key and how to install it.
pub fn check(v: &Variant) -> Result<(), Problem> {
    if v.scenario.server == ServeServer::WasmtimeServe {
        let cli = wasmtime_cli(&v.scenario.wasmtime_cli);
        if locate(&cli).is_none() {
            let fix = if v.scenario.wasmtime_cli.is_empty() {
                format!(
                    "run `scripts/install-wasmtime-cli.sh` (cargo install --locked, ~20 min once; it installs wasmtime {} \
                     into .cache/tools of the project), or set [scenario] wasmtime_cli to a wasmtime CLI",
                    env!("POOLING_LAB_WASMTIME_VERSION")
                )
            } else {
                "point [scenario] wasmtime_cli at an executable wasmtime CLI (a relative path is read from the folder \
                 pooling-lab runs in), or remove it to use the one `scripts/install-wasmtime-cli.sh` installs"
                    .to_string()
            };
            return Err(Problem {
                section: "scenario",
                // The line to point at: the path given, or what asked for the CLI.
                key: if v.scenario.wasmtime_cli.is_empty() {
                    "server"
                } else {
                    "wasmtime_cli"
                },
                message: format!(
                    "serving with `wasmtime serve` needs the wasmtime CLI, and no executable one is at {} ([scenario] wasmtime_cli{})",
                    cli.display(),
                    if v.scenario.wasmtime_cli.is_empty() {
                        " unset: the project's .cache/tools"
                    } else {
                        ""
                    }
                ),
                fix,
            });
        }
    }
    if v.scenario.load_generator == LoadGenerator::Wrk {
        let w = wrk(v);
        if locate(&w).is_none() {
            return Err(Problem {
                section: "scenario",
                key: if v.scenario.wrk.is_empty() {
                    "load_generator"
                } else {
                    "wrk"
                },
                message: format!(
                    "load_generator = \"wrk\" needs wrk, and `{}` is not an executable{}",
                    w.display(),
                    if v.scenario.wrk.is_empty() {
                        " on PATH"
                    } else {
                        ""
                    }
                ),
                fix: "run `scripts/install-load-generator.sh` (apt-get install wrk), or set [scenario] wrk to its path"
                    .into(),
            });
        }
    }
    Ok(())
}
