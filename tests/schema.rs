//! The committed JSON Schema of result files matches the Rust types.

#[test]
fn committed_result_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/results/schema/result-v2.json");
    let generated = pooling_lab::result::json_schema();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(path).expect("results/schema/result-v2.json is missing"),
    )
    .unwrap();
    assert!(
        committed == generated,
        "results/schema/result-v2.json is stale: run `cargo run --release -- schema > results/schema/result-v2.json` \
         (and bump SCHEMA_VERSION if the change is incompatible)"
    );
}
