//! `wasmtime-run.txt`, for command guests (`wasi-command`,
//! `cli-component`): the `wasmtime run` command line with the tuned
//! settings (the same `-O`/`-W`/`-C` flags as the serve file, checked the
//! same way), the guest's folders as `--dir`, its environment as `--env`
//! and its arguments, and what `wasmtime run` cannot express. No serve
//! sizing: a command is not served.

use super::cli_flags::{NotesIn, notes};
use super::cli_options::CliExport;
use super::shared::{CLI_FLAGS_VERSION, CONFIG_FILE};
use crate::settings::Variant;
use std::fmt::Write as _;

/// A shell word for `s`: as it is when it needs no quoting, else in single quotes.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Shell variable holding the fresh folder for guest path `guest` (`/out` -> `OUT_DIR`).
pub fn fresh_var(guest: &str) -> String {
    let name: String = guest
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name == "." {
        "CWD_DIR".to_string()
    } else {
        format!("{name}_DIR")
    }
}

/// The arguments after `wasmtime run`, in order: the checked engine flags,
/// `--dir` for each folder (a fresh one as `"$OUT_DIR"::/out`, to be made
/// per run), `--env` for each granted variable, the module, the guest's
/// arguments after `argv[0]`. Shell words, ready to join with spaces.
pub fn run_args(v: &Variant, cli: &CliExport) -> Vec<String> {
    let g = &v.guest;
    let mut out: Vec<String> = cli.args().iter().map(|a| shell_word(a)).collect();
    if g.private_tmp {
        out.push("--dir".into());
        out.push("\"$TMP_DIR\"::/tmp".into());
    }
    for d in &g.dirs {
        out.push("--dir".into());
        if d.host.is_empty() {
            out.push(format!(
                "\"${}\"::{}",
                fresh_var(&d.guest),
                shell_word(&d.guest)
            ));
        } else {
            out.push(shell_word(&format!("{}::{}", d.host, d.guest)));
        }
    }
    for name in &g.grant_env {
        out.push("--env".into());
        out.push(shell_word(name));
    }
    out.push(shell_word(&g.wasm));
    out.extend(g.argv.iter().skip(1).map(|a| shell_word(a)));
    out
}

/// The file's text for `v`, from its checked CLI form `cli`.
pub fn text(v: &Variant, cli: &CliExport) -> String {
    let g = &v.guest;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# `wasmtime run` with the tuned settings of `{}`, for wasmtime {}.\n\
         # Made by `pooling-lab export` with wasmtime-cli-flags {CLI_FLAGS_VERSION}, the crate\n\
         # wasmtime's CLI parses these flags with, and checked with it: the flags parse, and\n\
         # the engine they configure has every tuned setting (read back from wasmtime).",
        v.name,
        env!("POOLING_LAB_WASMTIME_VERSION"),
    );
    let fresh: Vec<&str> = g
        .dirs
        .iter()
        .filter(|d| d.host.is_empty())
        .map(|d| d.guest.as_str())
        .chain(g.private_tmp.then_some("/tmp"))
        .collect();
    if !fresh.is_empty() {
        s.push_str("# A fresh folder per run, as each sandbox had one:\n");
        for guest in &fresh {
            let _ = writeln!(s, "{}=$(mktemp -d)", fresh_var(guest));
        }
    }
    s.push_str("wasmtime run \\\n");
    let args = run_args(v, cli);
    let mut i = 0;
    while i < args.len() {
        let pair = args[i].starts_with('-') && i + 1 < args.len();
        let n = if pair { 2 } else { 1 };
        let _ = writeln!(
            s,
            "  {}{}",
            args[i..i + n].join(" "),
            if i + n < args.len() { " \\" } else { "" }
        );
        i += n;
    }
    if !g.stdin.is_empty() {
        s.push_str("# (stdin: the bytes of [guest] stdin, e.g. `< input`)\n");
    }
    let _ = writeln!(
        s,
        "\n# The same engine settings as a file: wasmtime run --config {CONFIG_FILE} ...\n\
         # (flags given next to --config override the file)."
    );
    s.push_str("#\n# What wasmtime run does differently from the measured sandboxes:\n");
    if g.dirs.iter().any(|d| !d.writable) {
        s.push_str(
            "# - `--dir` grants a folder read-write: wasmtime 50's CLI has no read-only form,\n\
             #   so the folders measured read-only are writable here (builder.rs grants them\n\
             #   read-only).\n",
        );
    }
    s.push_str(
        "# - One command per process: the process, the engine and the pool are made for each\n\
         #   run, so the pool recycles nothing. What was measured is a process running many\n\
         #   commands, each in a fresh sandbox: builder.rs's `command` module.\n",
    );
    let _ = writeln!(
        s,
        "# - Output goes to the terminal or a pipe, unbounded; the lab kept at most {} of\n\
         #   stdout and stderr per call ([guest] output_limit).",
        g.output_limit
    );
    s.push_str(&notes(v, cli, NotesIn::RunFile));
    s
}
