//! What a sandbox may see through WASI, and the private folders it gets.

use std::path::PathBuf;

/// What a WASI guest sees of the host: its arguments, named environment
/// variables, folders and stdin, and nothing else.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WasiSpec {
    /// The argument vector (`argv[0]` first); empty = none.
    pub args: Vec<String>,
    /// Host environment variables passed through, by name (`[guest] grant_env`).
    pub grant_env: Vec<String>,
    /// Variables the guest kind itself sets.
    pub env: Vec<(String, String)>,
    /// Host folders granted: (host path, guest path, writable).
    pub preopens: Vec<(PathBuf, String, bool)>,
    /// A fresh writable /tmp per sandbox (`[guest] private_tmp`).
    pub private_tmp: bool,
    /// Bytes the guest reads on stdin (empty = an empty stdin).
    pub stdin: Vec<u8>,
    /// Counts the guest's random and clock reads (the snapshot builder's
    /// store); `None` = the WASI defaults, uncounted.
    pub record: Option<super::nondeterminism::Recorder>,
}

impl WasiSpec {
    /// Fills in a WASI context builder. A grant that fails (a folder vanished)
    /// is reported after the others were applied.
    pub fn apply(&self, b: &mut wasmtime_wasi::WasiCtxBuilder) -> anyhow::Result<()> {
        if !self.args.is_empty() {
            b.args(&self.args);
        }
        if let Some(r) = &self.record {
            r.install(b);
        }
        for name in &self.grant_env {
            if let Ok(value) = std::env::var(name) {
                b.env(name, value);
            }
        }
        for (k, v) in &self.env {
            b.env(k, v);
        }
        if !self.stdin.is_empty() {
            b.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(
                self.stdin.clone(),
            ));
        }
        let mut failed = None;
        if self.private_tmp {
            match private_tmp_dir() {
                Ok(dir) => {
                    if let Err(e) = b.preopened_dir(&dir, "/tmp", wasmtime_wasi::FsPerms::ReadWrite)
                    {
                        failed = Some(anyhow::anyhow!("granting {} at /tmp: {e:#}", dir.display()));
                    }
                }
                Err(e) => failed = Some(e),
            }
        }
        for (host, guest, writable) in &self.preopens {
            let perms = if *writable {
                wasmtime_wasi::FsPerms::ReadWrite
            } else {
                wasmtime_wasi::FsPerms::ReadOnly
            };
            if let Err(e) = b.preopened_dir(host, guest, perms) {
                failed = Some(anyhow::anyhow!(
                    "granting {} at {guest}: {e:#}",
                    host.display()
                ));
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

static TMP_ROOT: std::sync::OnceLock<Option<tempfile::TempDir>> = std::sync::OnceLock::new();

/// Name prefix of the private-/tmp roots made by the children of process `parent`.
fn tmp_prefix(parent: u32) -> String {
    format!("pooling-lab-tmp-{parent}-")
}

/// Root of the per-sandbox /tmp folders of this process (a static is never
/// dropped: [`remove_private_tmp`] removes it). Named after the parent
/// process, which sweeps what a killed child left ([`ChildTmpSweep`]).
fn tmp_root() -> Option<&'static std::path::Path> {
    TMP_ROOT
        .get_or_init(|| {
            tempfile::Builder::new()
                .prefix(&tmp_prefix(std::os::unix::process::parent_id()))
                .tempdir()
                .ok()
        })
        .as_ref()
        .map(|d| d.path())
}

/// A new empty folder for one sandbox's /tmp.
fn private_tmp_dir() -> anyhow::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let root = tmp_root().ok_or_else(|| anyhow::anyhow!("no temporary folder"))?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = root.join(n.to_string());
    // `create_dir_all`: the root is made again after [`remove_private_tmp`].
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Held by a process that runs measuring children: when dropped (the run
/// ended, failed or was interrupted), removes the private /tmp roots its
/// children left behind, e.g. a child killed by SIGINT or the RSS guard.
pub struct ChildTmpSweep;

impl Drop for ChildTmpSweep {
    fn drop(&mut self) {
        let prefix = tmp_prefix(std::process::id());
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Removes every private /tmp this process made (`[guest] private_tmp`);
/// call when no sandbox is left.
pub fn remove_private_tmp() {
    if let Some(Some(root)) = TMP_ROOT.get() {
        let _ = std::fs::remove_dir_all(root.path());
    }
}
