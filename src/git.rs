//! Asks git about the checkout: the commit a result was measured at (and,
//! from `build.rs`, which includes this file, the commit a binary was built
//! from).

/// The output of `git args` in the current folder, trimmed; `None` outside a
/// checkout or without git.
pub fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}
