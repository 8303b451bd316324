//! `wasmtime-config.toml`: the tuned settings as the configuration file
//! `wasmtime serve --config FILE` and `wasmtime run --config FILE` read (the
//! TOML form of wasmtime-cli-flags' `CommonOptions`: `[optimize]`, `[wasm]`,
//! ... with the same option names as the flags).

use super::cli_options::CliExport;
use super::shared::{CLI_FLAGS_VERSION, SERVE_FILE};
use crate::settings::Variant;

/// The file's text for `v`, from its checked CLI form `cli`.
pub fn text(v: &Variant, cli: &CliExport) -> String {
    format!(
        "# wasmtime CLI configuration with the tuned settings of `{}`, for wasmtime {}:\n\
         #   wasmtime serve --config {} <component.wasm>\n\
         # (flags given next to --config override this file). Made by `pooling-lab export`\n\
         # with wasmtime-cli-flags {CLI_FLAGS_VERSION} and checked with it: the file is read as\n\
         # CommonOptions::from_file reads it, and the engine it configures has every tuned\n\
         # setting (read back from wasmtime). The sizing for wasmtime serve is in {SERVE_FILE}.\n\
         {}\n\n{}",
        v.name,
        env!("POOLING_LAB_WASMTIME_VERSION"),
        super::shared::CONFIG_FILE,
        super::cli_flags::notes(v, cli, super::cli_flags::NotesIn::ConfigFile).trim_end(),
        cli.toml()
    )
}
