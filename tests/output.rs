//! A WASI command's output as the lab captures and checks it: a guest
//! writing 8 MiB of binary stdout passes under the default capture limit and
//! its bytes are checked by length, magic prefix and SHA-256; with a lower
//! `[guest] output_limit` the same guest fails every call with the limit
//! named; a failed binary check leaves a small Markdown report whose tables
//! are intact (a bounded hex excerpt, never the raw bytes).

use sha2::Digest;

mod common;

/// Bytes of the chunk the guest writes again and again.
const CHUNK: usize = 64 << 10;
/// What the guest writes in all: 8 MiB.
const TOTAL: usize = 8 << 20;

/// The chunk: byte `i` is `i % 251` (binary: NULs and control bytes).
fn chunk() -> Vec<u8> {
    (0..CHUNK).map(|i| (i % 251) as u8).collect()
}

/// A preview1 command writing the chunk to stdout until `TOTAL` bytes are
/// out, resuming after short writes; a failed write traps (as a Rust
/// program's panic does).
fn wat() -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 3)
  (func (export "_start")
    (local $i i32) (local $off i32) (local $left i32) (local $n i32)
    (loop $fill
      (i32.store8 (i32.add (i32.const 65536) (local.get $i))
        (i32.rem_u (local.get $i) (i32.const 251)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const {CHUNK}))))
    (local.set $left (i32.const {TOTAL}))
    (loop $write
      (i32.store (i32.const 0) (i32.add (i32.const 65536) (local.get $off)))
      (i32.store (i32.const 4) (i32.sub (i32.const {CHUNK}) (local.get $off)))
      (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
        (then unreachable))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.eqz (local.get $n)) (then unreachable))
      (local.set $off (i32.rem_u (i32.add (local.get $off) (local.get $n)) (i32.const {CHUNK})))
      (local.set $left (i32.sub (local.get $left) (local.get $n)))
      (br_if $write (i32.gt_s (local.get $left) (i32.const 0))))))"#
    )
}

/// The config of the 8 MiB writer with extra `[guest]` lines.
fn config(dir: &std::path::Path, guest: &str, scenario: &str) -> std::path::PathBuf {
    let wasm = dir.join("writer.wat");
    std::fs::write(&wasm, wat()).unwrap();
    let path = dir.join("output.toml");
    std::fs::write(
        &path,
        format!(
            "[guest]\nkind = \"wasi-command\"\nwasm = \"{}\"\nargv = [\"writer\"]\n{guest}\n\
             [scenario]\nkind = \"churn\"\niterations = 6\nwarmup = 1\n{scenario}\n",
            wasm.display()
        ),
    )
    .unwrap();
    path
}

/// Runs the config (`scenario`: extra `[scenario]` lines); returns the churn result's faults, total cycles and the
/// Markdown report.
fn run(guest: &str, scenario: &str) -> (pooling_lab::host::guest_faults::GuestFaults, u64, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), guest, scenario);
    let (c, md) = common::run_churn(&cfg, dir.path(), &[]);
    (c.faults, c.total_cycles, md)
}

/// The stream the guest writes: the chunk over and over, `TOTAL` bytes.
fn written() -> Vec<u8> {
    chunk().repeat(TOTAL / CHUNK)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn eight_mib_of_binary_stdout_passes_under_the_default_limit_checked_by_length_prefix_and_sha256() {
    let out = written();
    let (faults, cycles, _) = run(
        &format!(
            "expect_stdout_len = \"8MiB\"\nexpect_stdout_prefix_hex = \"{}\"\nexpect_stdout_sha256 = \"{}\"",
            hex(&out[..8]),
            hex(&sha2::Sha256::digest(&out))
        ),
        "",
    );
    assert_eq!(cycles, 6);
    assert_eq!(faults.total(), 0, "{faults:?}");
}

#[test]
fn over_a_lower_output_limit_every_call_fails_naming_the_limit_and_the_key() {
    let (faults, cycles, _) = run("output_limit = \"1MiB\"", "expect_faults = true");
    assert_eq!(faults.checks, cycles, "{faults:?}");
    let first = faults.first.unwrap();
    assert!(
        first.contains("output_limit = 1MiB (1048576 bytes)"),
        "{first}"
    );
    assert!(first.contains("the guest then trapped"), "{first}");
    assert!(!first.contains('\n'), "{first}");
    assert!(first.contains("to stdout"), "{first}");
    assert!(first.contains("1048576 were kept"), "{first}");
    assert!(first.contains("raise it, e.g. output_limit = "), "{first}");
}

#[test]
fn a_failed_binary_check_shows_a_bounded_hex_excerpt_and_leaves_the_tables_intact() {
    let out = written();
    // One bit off in the hash: every call fails the check.
    let mut wrong = sha2::Sha256::digest(&out).to_vec();
    wrong[0] ^= 1;
    let (faults, cycles, md) = run(
        &format!("expect_stdout_sha256 = \"{}\"", hex(&wrong)),
        "expect_faults = true",
    );
    assert_eq!(faults.checks, cycles, "{faults:?}");
    let first = faults.first.unwrap();
    assert!(first.contains("SHA-256"), "{first}");
    assert!(
        first.contains(&format!("hex {}", hex(&out[..16]))),
        "{first}"
    );
    assert!(
        first.contains(&format!("({TOTAL} bytes, binary)")),
        "{first}"
    );
    assert!(first.len() < 1024, "{} bytes: {first}", first.len());
    assert!(md.len() < 20 << 10, "the report is {} bytes", md.len());
    assert!(!md.contains('\0'), "a raw NUL in the report");
    // Every table row has as many cells as its table's header.
    let mut cells = None;
    for line in md.lines() {
        if line.starts_with('|') {
            // Cell borders: every `|` but an escaped `\|` inside a cell.
            let n = line.matches('|').count() - line.matches("\\|").count();
            let want = *cells.get_or_insert(n);
            assert_eq!(n, want, "a broken table row: {line}");
        } else {
            cells = None;
        }
    }
}
