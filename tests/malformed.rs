//! Every file in tests/malformed/ is rejected before anything is measured,
//! with the message its first line names (`# expect: ...`), a location when
//! the problem has one, and a fix.

use std::path::Path;

#[test]
fn each_malformed_config_gives_its_expected_error() {
    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir("tests/malformed")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let expect = src
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: ...`", path.display()));
        let err = match pooling_lab::scenario::parse(&path, &src) {
            Ok(_) => panic!("{} was accepted", path.display()),
            Err(e) => e,
        };
        let text = err.to_string();
        assert!(
            text.contains(expect),
            "{}:\n  expected: {expect}\n  got: {text}",
            path.display()
        );
        assert!(
            text.starts_with(&path.display().to_string()),
            "{}: message does not name the file: {text}",
            path.display()
        );
        assert!(err.fix.is_some(), "{}: no fix in: {text}", path.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} malformed configs");
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let err = pooling_lab::scenario::load(Path::new("configs/does-not-exist.toml")).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("configs/does-not-exist.toml"), "{text}");
    assert!(text.contains("cannot read the file"), "{text}");
}

#[test]
fn check_rejects_a_guest_file_that_is_not_webassembly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("not-wasm.toml");
    std::fs::write(
        &cfg,
        "[guest]\nkind = \"core\"\nwasm = \"Cargo.toml\"\ncalls = [{ export = \"run\" }]\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .args(["check", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`guest.wasm`"), "{err}");
    assert!(
        err.contains("point [guest] wasm at a .wasm or .wat file"),
        "{err}"
    );
}

/// Runs `pooling-lab <cmd> <config>` in `cwd` with its cache (and results)
/// under `dir`; returns the exit code and stderr.
fn lab(cmd: &str, config: &Path, dir: &Path, cwd: &Path) -> (Option<i32>, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"));
    c.arg(cmd);
    if cmd == "run" {
        c.arg("--quiet")
            .arg("--results-dir")
            .arg(dir.join("results"));
    }
    let out = c
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg(config)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `# expect: ` and `# at: ` header lines of a fixture.
fn header<'a>(src: &'a str, path: &Path, tag: &str) -> &'a str {
    src.lines()
        .find_map(|l| l.strip_prefix(tag))
        .unwrap_or_else(|| panic!("{}: no `{tag}...` line", path.display()))
}

/// Every file in tests/malformed/check/ parses, but `check` (before
/// measuring) rejects it as `run` would: exit 2, the message its `# expect:`
/// line gives, at the line and key its `# at: LINE: KEY` line gives, with a
/// fix.
#[test]
fn check_runs_the_preflight_of_run() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::env::current_dir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir("tests/malformed/check")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        assert!(
            pooling_lab::scenario::parse(&path, &src).is_ok(),
            "{}",
            path.display()
        );
        let (code, err) = lab("check", &path, dir.path(), &cwd);
        let expect = header(&src, &path, "# expect: ");
        let (line, key) = header(&src, &path, "# at: ").split_once(": ").unwrap();
        let at = format!("{}:{line}:", path.display());
        assert_eq!(code, Some(2), "{}: {err}", path.display());
        assert!(err.contains(expect), "{}: {err}", path.display());
        assert!(err.contains(&at), "{}: no {at} in {err}", path.display());
        assert!(err.contains(key), "{}: no {key} in {err}", path.display());
        assert!(err.contains("\n  fix: "), "{}: {err}", path.display());
    }
}

/// A core-module config over `wasm`, written into `dir`.
fn core_config(dir: &Path, name: &str, wasm: &str) -> std::path::PathBuf {
    let cfg = dir.join(name);
    std::fs::write(
        &cfg,
        format!(
            "[scenario]\nkind = \"churn\"\niterations = 10\n[guest]\nkind = \"wasi-reactor\"\nwasm = \"{wasm}\"\n"
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn a_truncated_module_is_a_config_error_from_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = pooling_lab::guest::synthetic::module_bytes(&Default::default());
    let cut = dir.path().join("cut.wasm");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let cfg = core_config(dir.path(), "cut.toml", &cut.display().to_string());
    let cwd = std::env::current_dir().unwrap();
    for cmd in ["check", "run"] {
        let (code, err) = lab(cmd, &cfg, dir.path(), &cwd);
        assert_eq!(code, Some(2), "{cmd}: {err}");
        assert!(err.contains("cut.toml:6:"), "{cmd}: {err}");
        assert!(err.contains("`guest.wasm`"), "{cmd}: {err}");
        assert!(err.contains("unexpected end-of-file"), "{cmd}: {err}");
        assert!(err.contains("the file ends early"), "{cmd}: {err}");
        assert!(err.contains("fix: rebuild or copy"), "{cmd}: {err}");
    }
    let results = dir.path().join("results");
    assert!(
        !results.exists() || std::fs::read_dir(&results).unwrap().next().is_none(),
        "nothing may be measured"
    );
}

#[test]
fn a_missing_file_of_the_users_own_asks_for_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = core_config(dir.path(), "own.toml", "my/own.wasm");
    let (code, err) = lab("check", &cfg, dir.path(), dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("own.toml:6:"), "{err}");
    assert!(
        err.contains("`guest.wasm`: no such file: my/own.wasm"),
        "{err}"
    );
    assert!(err.contains("fix: fix the path in [guest] wasm"), "{err}");
    assert!(!err.contains("fetch-guests"), "{err}");
}

#[test]
fn a_missing_guest_the_fetch_script_provides_names_the_script() {
    // Run in an empty folder: the project's guests/ is not there.
    let dir = tempfile::tempdir().unwrap();
    let cfg = core_config(dir.path(), "fetched.toml", "guests/core/cmark.wasm");
    let (code, err) = lab("check", &cfg, dir.path(), dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("fetched.toml:6:"), "{err}");
    assert!(
        err.contains("no such file: guests/core/cmark.wasm"),
        "{err}"
    );
    assert!(
        err.contains("fix: run `scripts/fetch-guests.sh --only cmark`"),
        "{err}"
    );
}
