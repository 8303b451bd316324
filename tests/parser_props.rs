//! Property test: no input makes the config parser or the variant expansion
//! panic. Inputs are assembled from the schema's own sections and keys, near
//! misses of them, and values of every TOML shape (wrong types, huge and
//! negative numbers, sizes, nested lists, inline tables), plus raw bytes.
//! The case count bounds the time (a few seconds in CI).

use pooling_lab::settings::{MAX_VARIANTS, all_keys};
use proptest::prelude::*;
use std::path::Path;

fn section() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[engine]".to_string()),
        Just("[pooling]".to_string()),
        Just("[guest]".to_string()),
        Just("[scenario]".to_string()),
        Just("[experiment]".to_string()),
        Just("[[variant]]".to_string()),
        Just("[variant.engine]".to_string()),
        Just("[variant.pooling]".to_string()),
        Just("[variant.scenario]".to_string()),
        Just("[pool]".to_string()),
        "\\[[a-z.]{0,12}\\]",
    ]
}

fn key() -> impl Strategy<Value = String> {
    let keys: Vec<String> = all_keys().iter().map(|k| k.key.to_string()).collect();
    prop_oneof![
        4 => proptest::sample::select(keys),
        1 => "[a-z_]{1,20}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (0u64..10_000).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        any::<bool>().prop_map(|v| v.to_string()),
        Just("\"64MiB\"".to_string()),
        Just("\"0\"".to_string()),
        Just("\"99999999999TiB\"".to_string()),
        Just("\"pooling\"".to_string()),
        Just("\"on-demand\"".to_string()),
        Just("\"churn\"".to_string()),
        Just("\"pool\"".to_string()),
        Just("\"yes\"".to_string()),
        "\"[ -~]{0,12}\"",
        Just("{ a = 1 }".to_string()),
        Just("[]".to_string()),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(|v| format!("[{}]", v.join(", ")))
    })
}

fn document() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        1 => section(),
        4 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => (key(), value()).prop_map(|(k, v)| format!("name = \"{k}\"\n{k} = {v}")),
    ];
    prop::collection::vec(line, 0..14).prop_map(|l| l.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn structured_documents_never_panic(src in document()) {
        if let Ok(e) = pooling_lab::scenario::parse(Path::new("p.toml"), &src) {
            prop_assert!(!e.variants.is_empty() && e.variants.len() <= MAX_VARIANTS);
            let mut names: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            prop_assert_eq!(n, names.len(), "variant names must be unique");
            prop_assert!(e.variants.iter().any(|v| v.name == e.baseline));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let _ = pooling_lab::scenario::parse(Path::new("p.toml"), &src);
    }
}
