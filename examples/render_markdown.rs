//! Renders a result file's Markdown report (or, with `--summary`, what
//! `pooling-lab run` prints on stdout) from its JSON, without measuring.
//!
//! Useful to refresh a committed report after a change to the report writer,
//! and to check that a refactoring of the writer leaves every report
//! byte-identical: render every `results/*/2*.json` before and after, then
//! `diff -r`.
//!
//! ```text
//! cargo run --release --example render_markdown -- results/churn/20261202T195131Z.json
//! cargo run --release --example render_markdown -- --summary results/churn/20261202T195131Z.json
//! ```

use anyhow::{Context, Result};

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let summary = args.first().is_some_and(|a| a == "--summary");
    if summary {
        args.remove(0);
    }
    let path = args
        .first()
        .context("usage: render_markdown [--summary] RESULT.json")?;
    let r = pooling_lab::report::json::read(std::path::Path::new(path))?;
    if summary {
        print!("{}", pooling_lab::report::markdown::summary(&r));
    } else {
        print!("{}", pooling_lab::report::markdown::render(&r));
    }
    Ok(())
}
