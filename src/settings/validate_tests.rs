//! Tests of `validate.rs`, written for the mutation score
//! (scripts/mutants.sh): every check at its edge (the value that passes and
//! the one past it) and the checks that depend on the guest's kind, each on
//! both sides. A file of their own: parsing a config needs `experiment`,
//! which imports `validate` (tests inside it would make a circle).

use super::experiment::Experiment;
use super::schema::{GuestSettings, ScenarioKind};
use super::size::ByteSize;
use super::validate::*;
use super::variant::Variant;
use std::path::Path;

/// The scenario rules these tests load with, standing in for the lab's
/// (the settings module does not import the scenarios, which import
/// it): no scenario's own keys; scaling holds its largest count live,
/// the others a sandbox per thread.
struct Threads;

impl ScenarioRules for Threads {
    fn check(&self, _v: &Variant) -> Result<(), Problem> {
        Ok(())
    }

    fn max_live(&self, v: &Variant) -> Option<(u32, &'static str)> {
        Some(match v.scenario.kind {
            ScenarioKind::Scaling => (v.scenario.counts.last().copied().unwrap_or(1), "counts"),
            _ => (v.scenario.threads, "threads"),
        })
    }
}

/// The `section.key` a config is refused for, `None` when it is
/// accepted.
fn refused(src: &str) -> Option<String> {
    match Experiment::parse_with(Path::new("t.toml"), src, &Threads) {
        Ok(_) => None,
        Err(e) => Some(e.key.unwrap_or_else(|| format!("(no key) {}", e.message))),
    }
}

#[track_caller]
fn accepts(src: &str) {
    assert_eq!(refused(src), None, "{src}");
}

#[track_caller]
fn refuses(src: &str, key: &str) {
    assert_eq!(refused(src).as_deref(), Some(key), "{src}");
}

fn guest(kb: &[(u64, u64, u64, u64, u64)]) -> Vec<u64> {
    // (image, dirty_per_call, dirty_stride, dirty_offset, memory_min) in bytes.
    kb.iter()
        .map(|&(image, dirty, stride, offset, min)| {
            synthetic_min_memory(&GuestSettings {
                image_size: ByteSize(image),
                dirty_per_call: ByteSize(dirty),
                dirty_stride: ByteSize(stride),
                dirty_offset: ByteSize(offset),
                memory_min: ByteSize(min),
                ..GuestSettings::default()
            })
        })
        .collect()
}

#[test]
fn dirty_span_and_minimum_memory_in_pages() {
    let span = |dirty: u64, stride: u64| {
        dirty_span(&GuestSettings {
            dirty_per_call: ByteSize(dirty),
            dirty_stride: ByteSize(stride),
            ..GuestSettings::default()
        })
    };
    assert_eq!(span(0, 4096), 0);
    assert_eq!(span(1, 4096), 4096);
    assert_eq!(span(4096, 4096), 4096);
    // 3 pages 8 KiB apart: 2 x 8 KiB + the last page.
    assert_eq!(span(3 * 4096, 8192), 2 * 8192 + 4096);
    assert_eq!(span(12 * 4096, 4096), 12 * 4096);
    // A stride below a page is a page.
    assert_eq!(span(3 * 4096, 1024), 3 * 4096);
    let page = 64 << 10;
    assert_eq!(
        guest(&[
            // Nothing: one wasm page.
            (0, 0, 4096, 0, 0),
            // An image of 100 KiB: two pages.
            (100 << 10, 0, 4096, 0, 0),
            // Dirtied pages past the image: 1 MiB + 20 KiB, rounded up.
            (100 << 10, 3 * 4096, 8192, 1 << 20, 0),
            // memory_min above both: three pages.
            (1, 4096, 4096, 0, 2 * page + 1),
            // Dirtied pages ending exactly on a page.
            (0, 4096, 4096, page - 4096, 0),
        ]),
        [page, 2 * page, (1 << 20) + page, 3 * page, page]
    );
}

#[test]
fn shared_checks_at_their_edges() {
    let s = |body: &str| format!("[scenario]\nkind = \"churn\"\n{body}");
    accepts(&s(""));
    accepts(&s("background_load = 1024"));
    refuses(&s("background_load = 1025"), "scenario.background_load");
    // dirty_stride: whole pages only.
    for ok in ["4KiB", "8KiB", "12KiB"] {
        accepts(&format!("[guest]\ndirty_stride = \"{ok}\"\n{}", s("")));
    }
    for bad in ["2KiB", "6KiB", "0"] {
        refuses(
            &format!("[guest]\ndirty_stride = \"{bad}\"\n{}", s("")),
            "guest.dirty_stride",
        );
    }
    // 4 GiB of linear memory at most (on demand: no pool limits).
    let image = |size: &str| {
        format!(
            "[engine]\nallocator = \"on-demand\"\n[guest]\nimage_size = \"{size}\"\ndirty_per_call = \"4KiB\"\n{}",
            s("")
        )
    };
    accepts(&image("4GiB"));
    refuses(&image("4194368KiB"), "guest.image_size");
    // memory_max: at least what the guest needs (1 MiB here), or 0.
    let max = |m: &str| {
        format!(
            "[guest]\nimage_size = \"1MiB\"\ndirty_per_call = \"4KiB\"\nmemory_max = \"{m}\"\n{}",
            s("")
        )
    };
    accepts(&max("1MiB"));
    accepts(&max("0"));
    refuses(&max("960KiB"), "guest.memory_max");
    // memory_limit: the same.
    let limit = |m: &str| {
        format!(
            "[guest]\nimage_size = \"1MiB\"\ndirty_per_call = \"4KiB\"\nmemory_limit = \"{m}\"\n{}",
            s("")
        )
    };
    accepts(&limit("1MiB"));
    accepts(&limit("0"));
    refuses(&limit("960KiB"), "guest.memory_limit");
}

#[test]
fn kind_dependent_checks_on_both_sides() {
    let with = |guest: &str, rest: &str| format!("[guest]\n{guest}\n{rest}");
    let churn = "[scenario]\nkind = \"churn\"\n";
    // prefault: the host's to do for core guests only.
    accepts(&with("kind = \"synthetic\"\nprefault = \"all\"", churn));
    accepts(&with(
        "kind = \"synthetic-component\"\nprefault = \"none\"",
        churn,
    ));
    refuses(
        &with("kind = \"synthetic-component\"\nprefault = \"all\"", churn),
        "guest.prefault",
    );
    refuses(
        &with(
            "kind = \"synthetic-component\"\nprefault = \"untouched\"",
            churn,
        ),
        "guest.prefault",
    );
    // core_instances: at least 1; exactly 1 for the wasi:http proxy.
    refuses(&with("core_instances = 0", churn), "guest.core_instances");
    accepts(&with(
        "kind = \"synthetic-component\"\ncore_instances = 3",
        churn,
    ));
    let serve = "[scenario]\nkind = \"serve\"\n";
    accepts(&with(
        "kind = \"synthetic-http\"\ncore_instances = 1",
        serve,
    ));
    refuses(
        &with("kind = \"synthetic-http\"\ncore_instances = 2", serve),
        "guest.core_instances",
    );
    // A core guest needs a plan of named exports with known out-pointers.
    let core = |plan: &str| {
        with(
            &format!("kind = \"core\"\nwasm = \"x.wasm\"\n{plan}"),
            churn,
        )
    };
    refuses(&core(""), "guest.calls");
    accepts(&core("calls = [{ export = \"run\" }]"));
    refuses(&core("calls = [{ export = \"\" }]"), "guest.calls");
    refuses(
        &core("calls = [{ export = \"run\" }]\ninit = [{ export = \"\" }]"),
        "guest.init",
    );
    accepts(&core(
        "calls = [{ export = \"run\", args = [{ out = \"len\" }] }]",
    ));
    refuses(
        &core("calls = [{ export = \"run\", args = [{ out = \"ptr\" }] }]"),
        "guest.calls",
    );
    // preinit is for Python only.
    accepts(&with("kind = \"wasi-reactor\"\npreinit = \"\"", churn));
    refuses(
        &with("kind = \"wasi-reactor\"\npreinit = \"import os\"", churn),
        "guest.preinit",
    );
    // grow and leak: not for the wasi:http proxy; grow needs a limit.
    for fault in ["grow", "leak"] {
        refuses(
            &with(
                &format!(
                    "kind = \"synthetic-http\"\nfault = \"{fault}\"\nmemory_limit = \"64MiB\""
                ),
                serve,
            ),
            "guest.fault",
        );
    }
    accepts(&with("kind = \"synthetic-http\"\nfault = \"trap\"", serve));
    accepts(&with(
        "kind = \"synthetic\"\nfault = \"grow\"\nmemory_limit = \"64MiB\"",
        churn,
    ));
    refuses(
        &with("kind = \"synthetic\"\nfault = \"grow\"", churn),
        "guest.fault",
    );
    accepts(&with(
        "kind = \"synthetic\"\nfault = \"leak\"\nmemory_limit = \"64MiB\"",
        churn,
    ));
    // A loop needs a deadline, and a deadline needs epochs.
    let epochs = "[engine]\nepoch_interruption = true\n";
    refuses(
        &with("fault = \"loop\"", &format!("{epochs}{churn}")),
        "guest.fault",
    );
    accepts(&with(
        "fault = \"loop\"",
        &format!("{epochs}{churn}call_deadline_ms = 10\n"),
    ));
    refuses(
        &format!("{churn}call_deadline_ms = 10\n"),
        "scenario.call_deadline_ms",
    );
    refuses(
        &format!("[engine]\nepoch_interruption = false\n{churn}call_deadline_ms = 10\n"),
        "scenario.call_deadline_ms",
    );
    accepts(&format!("{epochs}{churn}call_deadline_ms = 10\n"));
}

#[test]
fn the_pool_holds_what_the_scenario_keeps_live_and_the_guests_memory_and_table() {
    // Scaling holds its largest count live at once: 10.
    let pooled = |pool: &str, guest: &str| {
        format!(
            "[engine]\nallocator = \"pooling\"\n[pooling]\n{pool}\n[guest]\nimage_size = \"1MiB\"\ndirty_per_call = \"4KiB\"\n{guest}\n[scenario]\ncounts = [1, 10]\n"
        )
    };
    accepts(&pooled(
        "total_core_instances = 10\ntotal_memories = 10",
        "",
    ));
    refuses(
        &pooled("total_core_instances = 9", ""),
        "pooling.total_core_instances",
    );
    refuses(&pooled("total_memories = 9", ""), "pooling.total_memories");
    // Tables only count when the guest has one.
    accepts(&pooled("total_tables = 1", ""));
    accepts(&pooled("total_tables = 10", "table_elements = 5"));
    refuses(
        &pooled("total_tables = 9", "table_elements = 5"),
        "pooling.total_tables",
    );
    // max_memory_size: at least the guest's 1 MiB.
    accepts(&pooled("max_memory_size = \"1MiB\"", ""));
    refuses(
        &pooled("max_memory_size = \"960KiB\"", ""),
        "pooling.max_memory_size",
    );
    // table_elements: at least the guest's table.
    accepts(&pooled("table_elements = 5", "table_elements = 5"));
    refuses(
        &pooled("table_elements = 4", "table_elements = 5"),
        "pooling.table_elements",
    );
    // On demand there is no pool to be too small.
    accepts(
        &pooled(
            "total_core_instances = 1\ntotal_memories = 1\nmax_memory_size = \"64KiB\"",
            "",
        )
        .replace("\"pooling\"", "\"on-demand\""),
    );
    // Without the lab's scenarios (production's load) nothing is known
    // to be live: a pool of no tables for a guest with one is not
    // refused for it.
    let src = "[engine]\nallocator = \"pooling\"\n[pooling]\ntotal_tables = 0\n[guest]\ntable_elements = 5\n";
    assert!(
        crate::settings::Experiment::parse(Path::new("t.toml"), src).is_ok(),
        "{:?}",
        crate::settings::Experiment::parse(Path::new("t.toml"), src).err()
    );
    let exp = crate::settings::Experiment::parse(Path::new("t.toml"), src).unwrap();
    assert_eq!(NoScenario.max_live(&exp.variants[0]), None);
}

#[test]
fn snapshots_by_kind_and_their_warm_up() {
    let churn = "[scenario]\nkind = \"churn\"\n";
    let g = |keys: &str| format!("[guest]\n{keys}\n{churn}");
    // No snapshot: nothing to check, whatever the kind.
    accepts(&g(
        "kind = \"wasi-command\"\nwasm = \"x.wasm\"\nsnapshot = \"none\"",
    ));
    // Kinds with an initialisation to snapshot.
    accepts(&g("kind = \"wasi-reactor\"\nsnapshot = \"after-init\""));
    accepts(&g(
        "kind = \"core\"\nwasm = \"x.wasm\"\ncalls = [{ export = \"run\" }]\nsnapshot = \"after-init\"",
    ));
    accepts(&g(
        "kind = \"http-component\"\nwasm = \"x.wasm\"\nsnapshot = \"after-init\"",
    ));
    refuses(
        &g("kind = \"http-component\"\nwasm = \"x.wasm\"\nsnapshot = \"after-warmup\""),
        "guest.snapshot",
    );
    refuses(
        &g("kind = \"wasi-command\"\nwasm = \"x.wasm\"\nsnapshot = \"after-init\""),
        "guest.snapshot",
    );
    refuses(
        &g("kind = \"synthetic\"\nsnapshot = \"after-init\""),
        "guest.snapshot",
    );
    // nondeterministic: an export the measured workload calls.
    accepts(&g(
        "kind = \"wasi-reactor\"\nargv_export = \"work\"\nsnapshot = \"after-init\"\nnondeterministic = [\"work\"]",
    ));
    refuses(
        &g(
            "kind = \"wasi-reactor\"\nargv_export = \"work\"\nsnapshot = \"after-init\"\nnondeterministic = [\"other\"]",
        ),
        "guest.nondeterministic",
    );
    let core = |keys: &str| {
        g(&format!(
            "kind = \"core\"\nwasm = \"x.wasm\"\ncalls = [{{ export = \"run\", args = [1] }}]\n{keys}"
        ))
    };
    accepts(&core(
        "snapshot = \"after-init\"\nnondeterministic = [\"run\"]",
    ));
    refuses(
        &core("snapshot = \"after-init\"\nnondeterministic = [\"warm\"]"),
        "guest.nondeterministic",
    );
    // After a warm-up: a warm-up other than the measured workload.
    accepts(&core(
        "snapshot = \"after-warmup\"\nsnapshot_warmup_plan = [{ export = \"run\", args = [2] }]",
    ));
    refuses(
        &core("snapshot = \"after-warmup\""),
        "guest.snapshot_warmup_plan",
    );
    refuses(
        &core(
            "snapshot = \"after-warmup\"\nsnapshot_warmup_plan = [{ export = \"run\", args = [1] }]",
        ),
        "guest.snapshot_warmup_plan",
    );
    refuses(
        &core(
            "snapshot = \"after-warmup\"\nsnapshot_warmup_calls = 0\nsnapshot_warmup_plan = [{ export = \"run\", args = [2] }]",
        ),
        "guest.snapshot_warmup_calls",
    );
    let reactor = |keys: &str| {
        g(&format!(
            "kind = \"wasi-reactor\"\nargv = [\"a\"]\nsnapshot = \"after-warmup\"\n{keys}"
        ))
    };
    accepts(&reactor("snapshot_warmup_argv = [\"b\"]"));
    refuses(&reactor(""), "guest.snapshot_warmup_argv");
    refuses(
        &reactor("snapshot_warmup_argv = [\"a\"]"),
        "guest.snapshot_warmup_argv",
    );
}

/// A wasi-command guest with `extra` `[guest]` keys (a host folder that
/// exists: this crate's `configs`).
fn command(extra: &str) -> String {
    format!("[guest]\nkind = \"wasi-command\"\nwasm = \"x.wasm\"\n{extra}\n")
}

const HOST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");
const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");

#[test]
fn granted_folders_are_checked_each_way() {
    let dirs = |list: &str| command(&format!("dirs = [{list}]"));
    // A guest path, once each (a trailing slash is the same path).
    refuses(&dirs(r#"{ guest = "", writable = true }"#), "guest.dirs");
    refuses(
        &dirs(r#"{ guest = "/o", writable = true }, { guest = "/o/", writable = true }"#),
        "guest.dirs",
    );
    accepts(&dirs(
        r#"{ guest = "/o", writable = true }, { guest = "/p", writable = true }"#,
    ));
    // Without host: a fresh folder per sandbox, writable and not shared.
    accepts(&dirs(r#"{ guest = "/out", writable = true }"#));
    refuses(&dirs(r#"{ guest = "/out" }"#), "guest.dirs");
    refuses(
        &dirs(r#"{ guest = "/out", writable = true, shared = true }"#),
        "guest.dirs",
    );
    // A host folder: it must be one; writable only when shared on purpose;
    // shared only when writable.
    accepts(&dirs(&format!(r#"{{ host = "{HOST}", guest = "/in" }}"#)));
    refuses(
        &dirs(r#"{ host = "/no/such/folder", guest = "/in" }"#),
        "guest.dirs",
    );
    refuses(
        &dirs(&format!(r#"{{ host = "{FILE}", guest = "/in" }}"#)),
        "guest.dirs",
    );
    refuses(
        &dirs(&format!(
            r#"{{ host = "{HOST}", guest = "/in", writable = true }}"#
        )),
        "guest.dirs",
    );
    accepts(&dirs(&format!(
        r#"{{ host = "{HOST}", guest = "/in", writable = true, shared = true }}"#
    )));
    refuses(
        &dirs(&format!(
            r#"{{ host = "{HOST}", guest = "/in", shared = true }}"#
        )),
        "guest.dirs",
    );
}

#[test]
fn kept_sandbox_folders_need_a_fresh_folder_and_a_bound() {
    let fresh = r#"dirs = [{ guest = "/out", writable = true }]"#;
    let host = format!(r#"dirs = [{{ host = "{HOST}", guest = "/in" }}]"#);
    accepts(&command(&format!("{fresh}\nkeep_sandbox_dirs = 1")));
    accepts(&command(&format!("{host}\nkeep_sandbox_dirs = 0")));
    refuses(
        &command(&format!("{host}\nkeep_sandbox_dirs = 1")),
        "guest.keep_sandbox_dirs",
    );
    refuses(&command("keep_sandbox_dirs = 1"), "guest.keep_sandbox_dirs");
    accepts(&command(&format!(
        "{fresh}\nkeep_sandbox_dirs = {MAX_KEPT_DIRS}"
    )));
    refuses(
        &command(&format!(
            "{fresh}\nkeep_sandbox_dirs = {}",
            MAX_KEPT_DIRS + 1
        )),
        "guest.keep_sandbox_dirs",
    );
}

#[test]
fn an_expected_file_lies_under_a_granted_folder_and_its_checks_parse() {
    let with = |dirs: &str, file: &str| {
        command(&format!(
            "dirs = [{dirs}]\nexpect_files = [{{ path = \"{file}\", len = \"4\" }}]"
        ))
    };
    let out = r#"{ guest = "/out", writable = true }"#;
    accepts(&with(out, "/out/a.png"));
    accepts(&with(out, "/out/sub/a.png"));
    refuses(&with(out, "/out/"), "guest.expect_files");
    refuses(&with(out, "/out"), "guest.expect_files");
    refuses(&with(out, "/outer/a.png"), "guest.expect_files");
    refuses(&with(out, "/in/a.png"), "guest.expect_files");
    refuses(
        &command("expect_files = [{ path = \"/out/a\", len = \"4\" }]"),
        "guest.expect_files",
    );
    // The current folder: relative paths only.
    let dot = r#"{ guest = ".", writable = true }"#;
    accepts(&with(dot, "a.png"));
    refuses(&with(dot, "/a.png"), "guest.expect_files");
    // Its byte checks are parsed before measuring.
    refuses(
        &command(&format!(
            "dirs = [{out}]\nexpect_files = [{{ path = \"/out/a\", sha256 = \"xyz\" }}]"
        )),
        "guest.expect_files",
    );
    refuses(
        &command("expect_stdout_prefix_hex = \"zz\""),
        "guest.expect_stdout_prefix_hex",
    );
    accepts(&command("expect_stdout_prefix_hex = \"89504e47\""));
}

#[test]
fn a_python_snapshot_is_checked_against_its_turn_and_its_code() {
    let py = |extra: &str| {
        format!(
            "[guest]\nkind = \"python\"\npython_wasm = \"p.wasm\"\ncode = \"print(1)\"\nsnapshot = \"after-warmup\"\nsnapshot_warmup_calls = 1\n{extra}\n"
        )
    };
    // Python's measured export is its turn.
    accepts(&py(
        "snapshot_warmup_code = \"print(2)\"\nnondeterministic = [\"turn\"]",
    ));
    refuses(
        &py("snapshot_warmup_code = \"print(2)\"\nnondeterministic = [\"run\"]"),
        "guest.nondeterministic",
    );
    // Its warm-up is code: present, and not the measured code.
    refuses(&py(""), "guest.snapshot_warmup_code");
    refuses(
        &py("snapshot_warmup_code = \" print(1) \""),
        "guest.snapshot_warmup_code",
    );
}
