//! Records the resolved wasmtime and wasmtime-cli-flags versions (from
//! Cargo.lock) for result files and exported settings, and the commit the
//! binary is built from (result files name it beside the checkout's).

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

#[path = "src/git.rs"]
mod git;
use git::git;

fn main() {
    // Rebuilt when HEAD moves (a commit, a checkout): only files that exist
    // are named, or cargo would rerun this script on every build.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"]
        .into_iter()
        .map(String::from)
        .chain(branch)
    {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && std::path::Path::new(&path).is_file()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!(
        "cargo:rustc-env=POOLING_LAB_BUILD_COMMIT={}",
        git(&["rev-parse", "HEAD"]).unwrap_or_default()
    );
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
