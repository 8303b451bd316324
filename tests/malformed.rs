//! Every file in tests/malformed/ is rejected before anything is measured,
//! with the message its first line names (`# expect: ...`), a location when
//! the problem has one, and a fix.

use pooling_lab::settings::Experiment;
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
        let err = match Experiment::parse(&path, &src) {
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
    let err = Experiment::load(Path::new("configs/does-not-exist.toml")).unwrap_err();
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
