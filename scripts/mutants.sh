#!/usr/bin/env bash
# Mutation score (cargo-mutants) of the code whose wrong answers would be
# silent: src/rounds.rs (intervals, the Mann-Whitney test), the compare
# verdicts (src/report/compare.rs), the tune's candidate selection and
# pruning (src/tune.rs; its orchestration and text are excluded in
# .cargo/mutants.toml), settings validation (src/settings/validate.rs) and
# the sandbox pool (src/slot_pool.rs).
#
#   scripts/mutants.sh              every mutant of the five files
#   scripts/mutants.sh FILE...      only these files
#   scripts/mutants.sh --shard K/N  the K-th of N slices (a run per session)
#   scripts/mutants.sh --missed     only the mutants the report lists as
#                                   missed or timed out (after adding tests)
#   scripts/mutants.sh --re REGEX FILE...  only the mutants whose names match
#                                   (e.g. the functions tests were added for,
#                                   after their lines moved)
#   --with-integration              also the integration tests (below)
#   scripts/mutants.sh --report-only  the report again from the last run's
#                                   mutants.out (e.g. of a run stopped early)
#
# Each run's outcomes replace those mutants' rows in the report (each row
# keeps the commit it ran on). A whole run of a file drops its rows of
# mutants the snapshot no longer has; after a partial run (--shard,
# --missed) a file whose code moved since keeps its old rows, marked so.
# A mutant never run is counted as "not run".
#
# How long, on 2 cores: the first build of the dependencies takes 30-45
# minutes (a later run reuses $CARGO_TARGET_DIR), the unmutated baseline 2;
# then 5-8 s a mutant with the lib's unit tests (an incremental rebuild of
# the crate's test harness, and the tests): about 75 minutes for all 571,
# --shard 1/2 half of that. --with-integration makes it about 25 s a mutant
# (the crate is compiled a second time without cfg(test), and the binary
# and every test binary linked), so use it with --missed or one file. It
# runs outside CI (too long for CI's budget).
#
# What it does:
# 1. Takes a clean snapshot of the commit (HEAD, or $MUTANTS_REV) in a git
#    worktree ($MUTANTS_WORKTREE, default /tmp/pooling-lab-mutants-wt), so
#    uncommitted edits in this checkout neither break nor colour the run,
#    and builds in its own target folder ($CARGO_TARGET_DIR, default
#    /tmp/pooling-lab-mutants-target; [profile.mutants] in Cargo.toml).
# 2. Runs cargo-mutants there in place (one mutant at a time, nice 10) with the lib's unit
#    tests (each of the five files has its own, written for this score).
#    --with-integration adds the integration tests that cover the five
#    files and need no downloaded guest: pool, pool_shutdown (slot_pool),
#    compare, tune (its tests that measure nothing; the ones that run a tune
#    are skipped by name), malformed and configs (validation).
# 3. Writes results/mutants/: outcomes.tsv (every mutant: file, outcome,
#    name, the commit it ran on), README.md (caught, missed, unviable,
#    timeouts and the score per file, made from outcomes.tsv) and missed.md
#    (every missed or timed-out mutant, marked where results/mutants/
#    equivalent.md gives the reason it cannot be caught). The raw
#    mutants.out of the last run is left in $MUTANTS_WORKTREE.
#
# --missed re-runs exactly the mutants outcomes.tsv lists as missed or
# timeout (by name, with line and column). Every figure comes from a run.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
rev=${MUTANTS_REV:-HEAD}
wt=${MUTANTS_WORKTREE:-/tmp/pooling-lab-mutants-wt}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/pooling-lab-mutants-target}
out="$here/results/mutants"
tsv="$out/outcomes.tsv"
all_files=(src/rounds.rs src/report/compare.rs src/tune.rs src/settings/validate.rs src/slot_pool.rs)

mode=files
files=()
shard=()
re_args=()
integration=0
while [ $# -gt 0 ]; do
    a=$1
    shift
    case "$a" in
    --missed) mode=missed ;;
    --re)
        re_args+=(--re "${1:?--re REGEX}")
        shift
        ;;
    --with-integration) integration=1 ;;
    --report-only) mode=report ;;
    --shard)
        shard=(--shard "${1:?--shard K/N}")
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    src/*.rs) files+=("$a") ;;
    *)
        echo "mutants.sh: unknown argument $a (FILE under src/, --shard K/N or --missed)" >&2
        exit 2
        ;;
    esac
done
[ ${#files[@]} -gt 0 ] || files=("${all_files[@]}")

command -v cargo-mutants >/dev/null || {
    echo "mutants.sh: cargo-mutants is not installed: cargo install --locked cargo-mutants" >&2
    exit 2
}

if [ "$mode" = report ]; then
    [ -d "$wt/mutants.out" ] || {
        echo "mutants.sh: no $wt/mutants.out to report on" >&2
        exit 2
    }
    commit=$(git -C "$wt" rev-parse HEAD)
    minutes="?"
else
# 1. The snapshot.
commit=$(git -C "$here" rev-parse "$rev")
if [ -e "$wt" ]; then
    git -C "$here" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
    git -C "$here" worktree prune
fi
git -C "$here" worktree add --detach --quiet "$wt" "$commit"
echo "mutants.sh: snapshot of $(git -C "$wt" log -1 --format='%h %s' | cut -c1-80) in $wt" >&2

# 2. The run.
file_args=()
for f in "${files[@]}"; do file_args+=(-f "$f"); done

# Tests that run a tune measure in child processes for minutes each; the
# tune binary's other tests (selection, pruning, references, tuned.toml,
# refusals before measuring) stay.
skip=(
    a_small_tune_writes_outputs_that_say_where_and_on_what_they_were_measured
    a_serving_tune_picks_by_requests_per_second_within_the_p99_target
    a_tenants_tune_picks_by_instantiate_p99_within_the_memory_budget
    a_tunes_tuned_toml_runs_again_and_its_exports_build_the_winners_engine
    a_candidate_whose_slots_keep_more_than_the_budget_is_pruned_and_never_wins
    a_tune_of_a_command_exports_wasmtime_run_flags_that_wasmtimes_parser_reads
    a_burst_tune_with_an_idle_share_and_a_budget_picks_the_release_policy
)
tests=(--lib)
harness=()
if [ $integration = 1 ]; then
    tests+=(--test pool --test pool_shutdown --test compare --test tune --test malformed --test configs)
    for s in "${skip[@]}"; do harness+=(--skip "$s"); done
fi

# cargo-mutants 27.1 does not apply exclude_re to struct-field mutants
# (`delete field ... from struct ... expression`): this drops, from a list of
# mutant names on stdin, every one .cargo/mutants.toml excludes.
excluded_out() {
    python3 -c '
import re, sys, tomllib
res = [re.compile(r) for r in tomllib.load(open(sys.argv[1], "rb")).get("exclude_re", [])]
for line in sys.stdin:
    if not any(r.search(line.rstrip("\n")) for r in res):
        sys.stdout.write(line)
' "$wt/.cargo/mutants.toml"
}

# Every mutant of the five files the snapshot has (what the report counts).
all_args=()
for f in "${all_files[@]}"; do all_args+=(-f "$f"); done
(cd "$wt" && cargo mutants --list "${all_args[@]}") | excluded_out >"$wt/all-mutants.txt"

select_args=("${re_args[@]}")
if [ "$mode" = missed ]; then
    [ -f "$tsv" ] || {
        echo "mutants.sh: no $tsv to take the missed mutants from: run it without --missed first" >&2
        exit 2
    }
    awk -F'\t' 'NR > 1 && ($2 == "missed" || $2 == "timeout") { print $5 }' "$tsv" >"$wt/rerun.txt"
    if [ ! -s "$wt/rerun.txt" ]; then
        echo "mutants.sh: nothing missed or timed out in $tsv" >&2
        exit 0
    fi
    # Each name as an exact, anchored regex.
    while IFS= read -r name; do
        select_args+=(--re "^$(printf '%s' "$name" | sed 's/[][\\.^$*+?(){}|/]/\\&/g')\$")
    done <"$wt/rerun.txt"
    echo "mutants.sh: re-running $(wc -l <"$wt/rerun.txt") missed or timed-out mutants" >&2
fi

start=$(date +%s)
set +e
# The test targets go to every cargo call (-C): the build phase too, which
# would otherwise build every test binary of the package.
cargo_args=()
for t in "${tests[@]}"; do cargo_args+=("-C=$t"); done
[ ${#harness[@]} -eq 0 ] || harness=(-- -- "${harness[@]}")
(cd "$wt" && nice -n 10 cargo mutants --in-place --no-shuffle --colors never \
    "${file_args[@]}" "${select_args[@]}" "${shard[@]}" "${cargo_args[@]}" -o "$wt" "${harness[@]}")
status=$?
set -e
minutes=$((($(date +%s) - start + 59) / 60))
# 0: all caught; 2: some missed; 3: some timed out; 4: the baseline failed.
case $status in
0 | 2 | 3) ;;
*)
    echo "mutants.sh: cargo mutants exited $status (4: the tests fail on the unmutated snapshot); see $wt/mutants.out" >&2
    exit $status
    ;;
esac

fi

# 3. The report.
mkdir -p "$out"
what="$mode${shard[*]:+ ${shard[*]}}"
# --re: only the matching mutants of the files ran; their earlier rows (at
# other lines, if the code moved) are replaced, the files' other rows kept.
res=""
if [ ${#re_args[@]} -gt 0 ]; then
    what=re
    for ((i = 1; i < ${#re_args[@]}; i += 2)); do res+="${re_args[$i]}"$'\n'; done
fi
export MUTANTS_RES="$res"
tests_used=lib
[ "$integration" = 0 ] || tests_used=lib+integration
python3 - "$wt/mutants.out" "$tsv" "$out" "$commit" "$what" "$minutes" "$wt/all-mutants.txt" "$tests_used" "${files[@]}" <<'EOF'
import re, sys, pathlib, datetime

mo, tsv, out, commit, mode, minutes, all_path, tests_used = sys.argv[1:9]
files = sys.argv[9:]
current = [l for l in open(all_path).read().splitlines() if l.strip()]
# How long the run took, from cargo-mutants' own record.
import json
run = json.load(open(pathlib.Path(mo) / "outcomes.json"))
if run.get("start_time") and run.get("end_time"):
    t = lambda s: datetime.datetime.fromisoformat(s[:26].rstrip("Z") + "+00:00")
    minutes = str(round((t(run["end_time"]) - t(run["start_time"])).total_seconds() / 60))
mo, tsv, out = pathlib.Path(mo), pathlib.Path(tsv), pathlib.Path(out)

def names(kind):
    p = mo / f"{kind}.txt"
    return [l for l in p.read_text().splitlines() if l.strip()] if p.exists() else []

# What .cargo/mutants.toml excludes but cargo-mutants 27.1 still runs
# (struct-field mutants) is out of scope: dropped here.
import tomllib
excludes = [re.compile(r) for r in tomllib.load(open(mo.parent / ".cargo/mutants.toml", "rb")).get("exclude_re", [])]

ran = {}
for kind, outcome in [("caught", "caught"), ("missed", "missed"), ("unviable", "unviable"), ("timeout", "timeout")]:
    for n in names(kind):
        if not any(r.search(n) for r in excludes):
            ran[n] = outcome

rows = {}
if tsv.exists():
    for line in tsv.read_text().splitlines()[1:]:
        f, outcome, rev, used, name = line.split("\t", 4)
        rows[name] = (f, outcome, rev, used)
current_set = set(current)
if mode == "files":
    # A whole run of these files: their mutants the snapshot no longer has
    # (the code moved) are dropped.
    rows = {n: r for n, r in rows.items() if n in current_set or r[0] not in files}
if mode == "re":
    # Only the mutants matching these patterns ran: their earlier rows (at
    # their old lines too) give way to this run's.
    import os
    res = [re.compile(x) for x in os.environ.get("MUTANTS_RES", "").splitlines() if x]
    rows = {n: r for n, r in rows.items() if not (r[0] in files and any(x.search(n) for x in res))}
for n, outcome in ran.items():
    rows[n] = (n.split(":", 1)[0], outcome, commit[:12], tests_used)
# A file whose rows name mutants the snapshot does not have has moved since
# they were run: they stand for their commit, and nothing is "not run".
moved = {r[0] for n, r in rows.items() if n not in current_set}
not_run = [n for n in current if n not in rows and n.split(":", 1)[0] not in moved]

def order(n):
    f, line, col = re.match(r"([^:]+):(\d+):(\d+):", n).groups()
    return (f, int(line), int(col), n)

with tsv.open("w") as w:
    w.write("file\toutcome\tcommit\ttests\tname\n")
    for n in sorted(rows, key=order):
        f, outcome, rev, used = rows[n]
        w.write(f"{f}\t{outcome}\t{rev}\t{used}\t{n}\n")

# Mutants results/mutants/equivalent.md gives a reason for: its `name`s.
eq_path = out / "equivalent.md"
equivalent = set()
if eq_path.exists():
    equivalent = set(re.findall(r"`(src/[^`]+:\d+:\d+: [^`]+)`", eq_path.read_text()))

kinds = ["caught", "missed", "unviable", "timeout", "equivalent", "not run"]
per = {}
for n, (f, outcome, rev, used) in rows.items():
    c = per.setdefault(f, dict.fromkeys(kinds, 0))
    c[outcome] += 1
    if outcome == "missed" and n in equivalent:
        c["equivalent"] += 1
for n in not_run:
    per.setdefault(n.split(":", 1)[0], dict.fromkeys(kinds, 0))["not run"] += 1
tot = {k: sum(c[k] for c in per.values()) for k in kinds}

def pct(c):
    viable = c["caught"] + c["missed"] + c["timeout"]
    return f"{100.0 * (c['caught'] + c['timeout']) / viable:.1f}%" if viable else "-"

revs = sorted({r[2] for r in rows.values()})
with_integration = sum(1 for r in rows.values() if r[3] != "lib")
lines = [
    "# Mutation score",
    "",
    "Made by `scripts/mutants.sh` (cargo-mutants) from `outcomes.tsv`; do not edit by hand.",
    "A mutant is *caught* when a test fails on it, *missed* when every test passes,",
    "*unviable* when it does not build (not counted), *timeout* when the tests hang on it",
    "until cargo-mutants stops them (they did not pass: detected, as caught).",
    "Score = (caught + timeout) / viable, viable = caught + missed + timeout.",
    "Tests: the lib's unit tests (`--with-integration`: also tests/{pool, pool_shutdown,",
    "compare, tune (what measures nothing), malformed, configs}.rs); see the script's header.",
    "",
    f"Commits the outcomes come from: {', '.join(revs)}. Last run: {datetime.date.today()} "
    f"({mode}: {', '.join(files) if mode.startswith('files') or mode == 're' else 'the missed and timed-out mutants' if mode.startswith('missed') else 'the report again'}), {minutes} min.",
    f"Outcomes with the integration tests too: {with_integration} of {len(rows)}.",
    "",
    "| file | caught | missed | of them equivalent | unviable | timeout | not run | score |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]
for f in sorted(per):
    c = per[f]
    shown = f"`{f}` (moved since its run)" if f in moved else f"`{f}`"
    lines.append(f"| {shown} | {c['caught']} | {c['missed']} | {c['equivalent']} | {c['unviable']} | {c['timeout']} | {c['not run']} | {pct(c)} |")
lines.append(f"| **all** | {tot['caught']} | {tot['missed']} | {tot['equivalent']} | {tot['unviable']} | {tot['timeout']} | {tot['not run']} | **{pct(tot)}** |")
lines += [
    "",
    "Every missed or timed-out mutant is listed in [missed.md](missed.md); the ones no",
    "test can tell from the code are explained in [equivalent.md](equivalent.md).",
    "",
]
(out / "README.md").write_text("\n".join(lines))

missed = [n for n in sorted(rows, key=order) if rows[n][1] in ("missed", "timeout")]
ml = ["# Missed and timed-out mutants", "",
      "Made by `scripts/mutants.sh` from `outcomes.tsv`. *equivalent*: "
      "[equivalent.md](equivalent.md) says why no test can tell it from the code.", ""]
if not missed:
    ml.append("None.")
for n in missed:
    tag = " (equivalent)" if n in equivalent else ""
    ml.append(f"- {rows[n][1]}{tag}: `{n}`")
(out / "missed.md").write_text("\n".join(ml) + "\n")
print((out / "README.md").read_text())
EOF
