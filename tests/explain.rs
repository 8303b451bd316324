//! `explain` lists exactly the keys the parser accepts: one source of truth.

use pooling_lab::settings::all_keys;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

#[test]
fn explain_lists_every_accepted_key_and_nothing_else() {
    let out = Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .arg("explain")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let listed: BTreeSet<String> = text
        .lines()
        .filter_map(|l| {
            let (section, rest) = l.strip_prefix('[')?.split_once("] ")?;
            Some(format!("{section}.{}", rest.split_whitespace().next()?))
        })
        .collect();
    let schema: BTreeSet<String> = all_keys()
        .iter()
        .map(|k| format!("{}.{}", k.section, k.key))
        .collect();
    assert_eq!(listed, schema);
    // Every pooling knob of the linked wasmtime is among them (spot check of the list's reach).
    for k in [
        "pooling.total_memories",
        "pooling.pagemap_scan",
        "pooling.linear_memory_keep_resident",
        "pooling.max_memory_protection_keys",
        "engine.memory_init_cow",
        "scenario.pool_capacity",
        "experiment.baseline",
    ] {
        assert!(listed.contains(k), "{k}");
    }

    // The parser knows each listed key: a value of the wrong type is a type
    // error at that key, never "unknown key".
    for k in all_keys() {
        let src = match k.section {
            "variant" => format!("[[variant]]\n{} = {{ wrong = 1 }}\n", k.key),
            s => format!("[{s}]\n{} = {{ wrong = 1 }}\n", k.key),
        };
        let err = pooling_lab::scenario::parse(Path::new("t.toml"), &src)
            .err()
            .unwrap_or_else(|| panic!("{}.{} accepted a table", k.section, k.key));
        assert!(
            !err.message.contains("unknown key") && !err.message.contains("unknown field"),
            "{}.{}: {err}",
            k.section,
            k.key
        );
    }
}

#[test]
fn iterations_and_warmup_say_what_they_count_in_serve() {
    let bin = env!("CARGO_BIN_EXE_pooling-lab");
    for key in ["iterations", "warmup"] {
        let out = Command::new(bin).args(["explain", key]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with(&format!("[scenario] {key}")), "{text}");
        // The doc names serve (every scenario that reads the key does).
        assert!(text.contains("serve:"), "{key} leaves serve out:\n{text}");
    }
}

#[test]
fn explain_one_key_and_unknown_key() {
    let bin = env!("CARGO_BIN_EXE_pooling-lab");
    let out = Command::new(bin)
        .args(["explain", "pagemap_scan"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("[pooling] pagemap_scan"), "{text}");
    assert!(text.contains("PAGEMAP_SCAN"), "{text}");
    let out = Command::new(bin)
        .args(["explain", "no_such_key"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key or section"));
}

#[test]
fn each_default_explain_shows_is_valid_toml_that_parses_to_the_default() {
    let defaults = pooling_lab::scenario::parse(Path::new("d.toml"), "")
        .unwrap()
        .variants[0]
        .clone();
    let mut checked = 0;
    for k in all_keys() {
        let Some(value) = pooling_lab::settings::default_as_toml(k.section, k.key) else {
            continue;
        };
        let src = format!("[{}]\n{} = {value}\n", k.section, k.key);
        let v = match pooling_lab::scenario::parse(Path::new("d.toml"), &src) {
            Ok(e) => e.variants[0].clone(),
            Err(e) => panic!("{}.{} = {value}: {e}", k.section, k.key),
        };
        assert_eq!(v.guest, defaults.guest, "{}.{} = {value}", k.section, k.key);
        assert_eq!(
            v.scenario, defaults.scenario,
            "{}.{} = {value}",
            k.section, k.key
        );
        checked += 1;
    }
    assert!(checked > 40, "only {checked} defaults shown as TOML");
}

#[test]
fn explain_guest_shows_every_kind_with_an_example_that_parses() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pooling-lab"))
        .args(["explain", "guest"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for kind in pooling_lab::settings::GuestKind::ALL {
        assert!(
            text.contains(&format!("  {} ", kind.name())),
            "{}",
            kind.name()
        );
        let doc = format!("[guest]\n{}\n", kind.example());
        let exp = pooling_lab::scenario::parse(std::path::Path::new("example.toml"), &doc)
            .unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
        assert_eq!(exp.variants[0].guest.kind, kind);
        assert!(text.contains(kind.example().lines().last().unwrap()));
    }
}
