//! What each command does (its options are in `cli.rs`).

use crate::cli::*;
use anyhow::Result;
use pooling_lab::report;
use pooling_lab::runner::{self, RunOptions};
use pooling_lab::settings::{ConfigError, all_keys};
use std::process::ExitCode;

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

/// Runs `cmd`.
pub fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    if matches!(
        cmd,
        Cmd::Check { .. } | Cmd::Explain { .. } | Cmd::Compare { .. } | Cmd::Schema
    ) {
        quiet_on_closed_pipe();
    }
    match cmd {
        Cmd::Run(args) => run(args),
        Cmd::Tune(args) => tune(args),
        Cmd::Export(args) => export(args),
        Cmd::Snapshot(args) => snapshot(args),
        Cmd::Check(args) => check(args),
        Cmd::Explain(args) => explain(args),
        Cmd::Compare(args) => compare(args),
        Cmd::Plot(args) => plot(args),
        Cmd::Trace(args) => trace(args),
        Cmd::Schema => schema(),
        Cmd::Measure => measure(),
        Cmd::Serve => serve(),
    }
}

/// `pooling-lab run`.
fn run(args: RunArgs) -> Result<ExitCode> {
    let RunArgs {
        config,
        results_dir,
        cache_dir,
        quiet,
        rounds,
        replay,
    } = args;
    let mut exp = pooling_lab::scenario::load(&config)?;
    if replay {
        for left_out in pooling_lab::scenario::replay_cut(&mut exp)? {
            eprintln!("replay: left out {left_out}");
        }
        if exp.variants.is_empty() {
            println!("replay: no variant of {} can run here", config.display());
            return Ok(ExitCode::SUCCESS);
        }
        exp.meta.description = Some(format!(
            "REPLAY (measured amounts cut; figures are not findings) of {}: {}",
            config.display(),
            exp.meta.description.as_deref().unwrap_or("")
        ));
    }
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

/// `pooling-lab tune`.
fn tune(args: TuneArgs) -> Result<ExitCode> {
    let TuneArgs {
        config,
        results_dir,
        cache_dir,
        quiet,
    } = args;
    let exp = pooling_lab::scenario::load(&config)?;
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
    for f in pooling_lab::export::files_for(&out.candidates[out.winner].variant) {
        println!("wrote {}", out.dir.join(f).display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `pooling-lab export`.
fn export(args: ExportArgs) -> Result<ExitCode> {
    let ExportArgs { tuned, out } = args;
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

/// `pooling-lab snapshot`.
fn snapshot(args: SnapshotArgs) -> Result<ExitCode> {
    let SnapshotArgs {
        config,
        variant,
        out,
        cache_dir,
    } = args;
    let exp = pooling_lab::scenario::load(&config)?;
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

/// `pooling-lab check`.
fn check(args: CheckArgs) -> Result<ExitCode> {
    let CheckArgs { config, cache_dir } = args;
    let exp = pooling_lab::scenario::load(&config)?;
    // The checks `run` makes before measuring: engines, guest files,
    // exports and signatures, pool fit.
    runner::preflight(&exp, &cache_dir)?;
    println!("{}: {} variant(s)", config.display(), exp.variants.len());
    for v in &exp.variants {
        println!("  {}", v.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// `pooling-lab explain`.
fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let ExplainArgs { key } = args;
    let keys: Vec<_> = all_keys()
        .into_iter()
        .filter(|k| match &key {
            None => true,
            Some(q) => q == k.section || q == k.key || *q == format!("{}.{}", k.section, k.key),
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

/// `pooling-lab compare`.
fn compare(args: CompareArgs) -> Result<ExitCode> {
    let CompareArgs { a, b } = args;
    let ra = report::json::read(&a)?;
    let rb = report::json::read(&b)?;
    let deltas = report::compare::diff(&ra, &rb);
    print!(
        "{}",
        report::compare::render(&a.display().to_string(), &b.display().to_string(), &deltas)
    );
    Ok(ExitCode::SUCCESS)
}

/// `pooling-lab plot`.
fn plot(args: PlotArgs) -> Result<ExitCode> {
    let PlotArgs { result } = args;
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

/// `pooling-lab trace`.
fn trace(args: TraceArgs) -> Result<ExitCode> {
    let TraceArgs {
        out,
        tenants,
        requests,
        mix,
        zipf_exponent,
        seed,
    } = args;
    if !zipf_exponent.is_finite() || !(0.0..=10.0).contains(&zipf_exponent) {
        anyhow::bail!("--zipf-exponent {zipf_exponent} is outside 0..=10");
    }
    let mix = if mix == "uniform" {
        pooling_lab::settings::TenantMix::Uniform
    } else {
        pooling_lab::settings::TenantMix::Zipf
    };
    let text =
        pooling_lab::scenario::tenants::trace_text(mix, tenants, requests, zipf_exponent, seed);
    report::json::write_atomic(&out, text.as_bytes())?;
    println!("wrote {} ({requests} tenant ids)", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `pooling-lab schema`.
fn schema() -> Result<ExitCode> {
    println!(
        "{}",
        serde_json::to_string_pretty(&pooling_lab::result::json_schema())?
    );
    Ok(ExitCode::SUCCESS)
}

/// `pooling-lab measure`.
fn measure() -> Result<ExitCode> {
    runner::child_main()?;
    Ok(ExitCode::SUCCESS)
}

/// `pooling-lab serve`.
fn serve() -> Result<ExitCode> {
    pooling_lab::http_bench::process::main()?;
    Ok(ExitCode::SUCCESS)
}
