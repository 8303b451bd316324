//! Host folders, as `wasmtime run --dir` grants them (`[guest] dirs`): a
//! command reads its input from a read-only host folder and writes its
//! output into a fresh folder of its own, checked by SHA-256
//! (`expect_files`) and kept for inspection (`keep_sandbox_dirs`). The
//! same command run over a writable folder every sandbox shares shows what
//! isolation prevents: each sandbox then finds the mark an earlier one left.

use sha2::Digest;

mod common;

/// What the command copies from `/in/input.txt` to `/out/out.txt`.
const INPUT: &[u8] = include_bytes!("fixtures/command/in/input.txt");

/// A preview1 command. `/in` is descriptor 3 (host folders come first),
/// `/out` is 4. It exits with status 3 when `/out/seen.txt` already exists
/// (a file another sandbox left), then creates it, then copies
/// `/in/input.txt` to `/out/out.txt`. Any failed WASI call traps.
const WAT: &str = include_str!("fixtures/command/copier.wat");

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs the copier with `out` as the `/out` grant (and `extra` `[guest]`
/// lines) for `iterations` timed cycles after one warm-up; returns the
/// faults, the cycles and the results folder's experiment directory.
fn run(
    dir: &std::path::Path,
    out: &str,
    extra: &str,
    scenario: &str,
    iterations: u32,
) -> (pooling_lab::host::guest_faults::GuestFaults, u64) {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("input.txt"), INPUT).unwrap();
    std::fs::write(dir.join("copier.wat"), WAT).unwrap();
    let cfg = dir.join("dirs.toml");
    std::fs::write(
        &cfg,
        format!(
            "[guest]\nkind = \"wasi-command\"\nwasm = \"{}\"\nargv = [\"copier\"]\n\
             dirs = [{{ host = \"{}\", guest = \"/in\" }}, {out}]\n{extra}\n\
             [scenario]\nkind = \"churn\"\niterations = {iterations}\nwarmup = 1\nthreads = 2\n{scenario}\n",
            dir.join("copier.wat").display(),
            input.display(),
        ),
    )
    .unwrap();
    let (c, _) = common::run_churn(&cfg, dir, &[]);
    (c.faults, c.total_cycles)
}

#[test]
fn each_sandbox_writes_into_its_own_folder_checked_by_sha256_and_the_last_ones_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (faults, cycles) = run(
        dir.path(),
        "{ guest = \"/out\", writable = true }",
        &format!(
            "keep_sandbox_dirs = 3\nexpect_files = [{{ path = \"/out/out.txt\", sha256 = \"{}\", len = \"{}\" }}]",
            hex(&sha2::Sha256::digest(INPUT)),
            INPUT.len()
        ),
        "",
        20,
    );
    // 20 per thread.
    assert_eq!(cycles, 40);
    assert_eq!(faults.total(), 0, "{faults:?}");
    // The last three sandboxes' folders, under the run's results folder.
    let results = dir.path().join("results").join("dirs");
    let stamp = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("no <stamp> folder");
    let round = stamp.join("01-default").join("sandboxes").join("round-1");
    let kept: Vec<_> = std::fs::read_dir(&round)
        .unwrap_or_else(|e| panic!("{}: {e}", round.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    for k in &kept {
        assert_eq!(std::fs::read(k.join("out").join("out.txt")).unwrap(), INPUT);
        assert!(k.join("out").join("seen.txt").is_file());
    }
}

#[test]
fn a_wrong_output_file_fails_its_check_naming_the_file_and_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = sha2::Sha256::digest(INPUT).to_vec();
    wrong[31] ^= 0x80;
    let (faults, cycles) = run(
        dir.path(),
        "{ guest = \"/out\", writable = true }",
        &format!(
            "expect_files = [{{ path = \"/out/out.txt\", sha256 = \"{}\" }}]",
            hex(&wrong)
        ),
        "expect_faults = true",
        5,
    );
    assert_eq!(faults.checks, cycles, "{faults:?}");
    let first = faults.first.unwrap();
    assert!(first.contains("`/out/out.txt`'s SHA-256 is"), "{first}");
    assert!(
        first.contains(&hex(&sha2::Sha256::digest(INPUT))),
        "{first}"
    );
    assert!(
        first.contains("expect_files `/out/out.txt` sha256"),
        "{first}"
    );
}

#[test]
fn a_folder_shared_on_purpose_shows_each_sandbox_what_the_others_wrote() {
    // The control for the isolation above: the same command, its /out a
    // writable host folder all sandboxes share. The warm-up's sandbox
    // leaves the mark; every timed one finds it and exits with status 3.
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let (faults, cycles) = run(
        dir.path(),
        &format!(
            "{{ host = \"{}\", guest = \"/out\", writable = true, shared = true }}",
            shared.display()
        ),
        "",
        "expect_faults = true",
        5,
    );
    assert_eq!(cycles, 10);
    assert_eq!(faults.checks, cycles, "{faults:?}");
    let first = faults.first.unwrap();
    assert!(first.contains("exited with status 3"), "{first}");
    assert!(shared.join("seen.txt").is_file());
}
