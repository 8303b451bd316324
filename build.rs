//! Records the resolved wasmtime and wasmtime-cli-flags versions (from
//! Cargo.lock) for result files and exported settings.

fn locked_version(lock: &str, name: &str) -> String {
    let mut lines = lock.lines();
    let wanted = format!("name = \"{name}\"");
    while let Some(line) = lines.next() {
        if line == wanted {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return v.trim_end_matches('"').to_string();
            }
            break;
        }
    }
    "unknown".to_string()
}

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    println!(
        "cargo:rustc-env=POOLING_LAB_WASMTIME_VERSION={}",
        locked_version(&lock, "wasmtime")
    );
    println!(
        "cargo:rustc-env=POOLING_LAB_CLI_FLAGS_VERSION={}",
        locked_version(&lock, "wasmtime-cli-flags")
    );
}
