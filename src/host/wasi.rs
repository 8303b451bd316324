//! What a sandbox may see through WASI, and the private folders it gets:
//! a private `/tmp` (`[guest] private_tmp`, kept until the process ends),
//! and fresh folders (`[guest] dirs` without `host`), made with a sandbox's
//! store and removed with it, the last few kept to inspect.

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
    /// Host folders granted: (host path, guest path, writable), in
    /// descriptor order after `/tmp` (a preinit snapshot pins the order).
    pub preopens: Vec<(PathBuf, String, bool)>,
    /// Guest paths of the fresh, writable folders each sandbox gets
    /// (`[guest] dirs` without `host`), granted after `preopens`: made with
    /// the store, removed with it ([`SandboxFolders`]).
    pub fresh: Vec<String>,
    /// How many sandboxes' fresh folders this process keeps, the last ones
    /// dropped (`[guest] keep_sandbox_dirs`; [`keep_sandbox_dirs_in`]).
    pub keep_fresh: u32,
    /// A fresh writable /tmp per sandbox (`[guest] private_tmp`).
    pub private_tmp: bool,
    /// Bytes a call may write to stdout, and to stderr (`[guest]
    /// output_limit`); `None`: [`super::DEFAULT_OUTPUT_LIMIT`].
    pub output_limit: Option<usize>,
    /// Bytes the guest reads on stdin (empty = an empty stdin).
    pub stdin: Vec<u8>,
    /// Counts the guest's random and clock reads (the snapshot builder's
    /// store); `None` = the WASI defaults, uncounted.
    pub record: Option<super::nondeterminism::Recorder>,
}

impl WasiSpec {
    /// Fills in a WASI context builder, making this sandbox's fresh folders.
    /// A grant that fails (a folder vanished) is reported after the others
    /// were applied; the folders made are returned either way, to be owned
    /// by the store.
    pub fn apply(
        &self,
        b: &mut wasmtime_wasi::WasiCtxBuilder,
    ) -> (SandboxFolders, anyhow::Result<()>) {
        let mut folders = SandboxFolders::default();
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
            match private_tmp_dir().and_then(|dir| grant(b, &dir, "/tmp", true)) {
                Ok(()) => {}
                Err(e) => failed = Some(e),
            }
        }
        for (host, guest, writable) in &self.preopens {
            match grant(b, host, guest, *writable) {
                Ok(()) => folders.granted.push((guest.clone(), host.clone())),
                Err(e) => failed = Some(e),
            }
        }
        if !self.fresh.is_empty() {
            match FreshRoot::new(self.keep_fresh) {
                Ok(root) => {
                    for guest in &self.fresh {
                        match root
                            .folder(guest)
                            .and_then(|dir| grant(b, &dir, guest, true).map(|()| dir))
                        {
                            Ok(dir) => folders.granted.push((guest.clone(), dir)),
                            Err(e) => failed = Some(e),
                        }
                    }
                    folders.fresh = Some(root);
                }
                Err(e) => failed = Some(e),
            }
        }
        (folders, failed.map_or(Ok(()), Err))
    }
}

/// Grants host folder `host` at `guest`, read-only unless `writable`.
fn grant(
    b: &mut wasmtime_wasi::WasiCtxBuilder,
    host: &std::path::Path,
    guest: &str,
    writable: bool,
) -> anyhow::Result<()> {
    let perms = if writable {
        wasmtime_wasi::FsPerms::ReadWrite
    } else {
        wasmtime_wasi::FsPerms::ReadOnly
    };
    b.preopened_dir(host, guest, perms)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("granting {} at {guest}: {e:#}", host.display()))
}

/// The folders one sandbox was granted, owned by its store: where each
/// guest path is on the host (to check the files a call wrote), and the
/// sandbox's fresh folders, removed when this is dropped.
#[derive(Default)]
pub struct SandboxFolders {
    /// (guest path, host path) of every folder granted but `/tmp`.
    pub granted: Vec<(String, PathBuf)>,
    /// This sandbox's fresh folders' root, if it has any.
    fresh: Option<FreshRoot>,
}

impl SandboxFolders {
    /// Where the guest's `path` is on the host: under the granted folder
    /// whose guest path is the longest prefix of it (`.` for a relative
    /// path). `None` when no granted folder holds it.
    pub fn host_path(&self, path: &str) -> Option<PathBuf> {
        let mut best: Option<(usize, PathBuf)> = None;
        for (guest, host) in &self.granted {
            let root = guest.trim_end_matches('/');
            let rest = if root == "." {
                (!path.starts_with('/')).then(|| path.trim_start_matches("./"))
            } else {
                path.strip_prefix(root)
                    .and_then(|r| r.strip_prefix('/'))
                    .filter(|r| !r.is_empty())
            };
            if let Some(rest) = rest
                && best.as_ref().is_none_or(|(n, _)| root.len() > *n)
            {
                best = Some((root.len(), host.join(rest)));
            }
        }
        best.map(|(_, p)| p)
    }
}

/// One sandbox's fresh folders: `<process root>/sandboxes/<n>/<name>/` per
/// guest path. Dropped with the store: removed, or, when this process keeps
/// the last `keep` sandboxes' folders, queued, and the oldest beyond `keep`
/// removed instead (the same one removal per sandbox, so keeping costs the
/// timed cycle nothing).
struct FreshRoot {
    path: PathBuf,
    keep: u32,
}

/// Finished sandboxes' fresh folders still kept, oldest first.
static KEPT: parking_lot::Mutex<std::collections::VecDeque<PathBuf>> =
    parking_lot::Mutex::new(std::collections::VecDeque::new());

impl FreshRoot {
    fn new(keep: u32) -> anyhow::Result<FreshRoot> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let root = tmp_root().ok_or_else(|| anyhow::anyhow!("no temporary folder"))?;
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = root.join("sandboxes").join(format!("{n:06}"));
        std::fs::create_dir_all(&path)?;
        Ok(FreshRoot { path, keep })
    }

    /// Makes the folder for guest path `guest` (`/out` -> `out`).
    fn folder(&self, guest: &str) -> anyhow::Result<PathBuf> {
        let name: String = guest
            .trim_matches('/')
            .chars()
            .map(|c| if c == '/' { '_' } else { c })
            .collect();
        let name = match name.as_str() {
            "" | "." | ".." => "cwd".to_string(),
            _ => name,
        };
        let dir = self.path.join(name);
        std::fs::create_dir(&dir).map_err(|e| anyhow::anyhow!("making {}: {e}", dir.display()))?;
        Ok(dir)
    }
}

impl Drop for FreshRoot {
    fn drop(&mut self) {
        if self.keep == 0 {
            let _ = std::fs::remove_dir_all(&self.path);
            return;
        }
        let old = {
            let mut kept = KEPT.lock();
            kept.push_back(std::mem::take(&mut self.path));
            (kept.len() > self.keep as usize).then(|| kept.pop_front())
        };
        if let Some(Some(old)) = old {
            let _ = std::fs::remove_dir_all(old);
        }
    }
}

/// Copies the fresh folders this process kept (the last `[guest]
/// keep_sandbox_dirs` sandboxes dropped) into `dest/<n>/`, `n` counting
/// sandboxes from 0 in the order they were made; returns how many. Call
/// when no sandbox is left, before [`remove_private_tmp`].
pub fn keep_sandbox_dirs_in(dest: &std::path::Path) -> anyhow::Result<usize> {
    let kept: Vec<PathBuf> = KEPT.lock().drain(..).collect();
    for dir in &kept {
        let name = dir.file_name().unwrap_or_default();
        copy_tree(dir, &dest.join(name))
            .map_err(|e| anyhow::anyhow!("keeping {} in {}: {e}", dir.display(), dest.display()))?;
    }
    Ok(kept.len())
}

/// Copies folder `from` to `to` (made), files and folders; links are not followed.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ty = e.file_type()?;
        if ty.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ty.is_file() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
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
