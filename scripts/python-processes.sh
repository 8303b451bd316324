#!/usr/bin/env bash
# Two threads or two processes for fresh CPython+numpy sandboxes?
#
# Runs, one after the other on an otherwise quiet machine:
#   1. configs/python-processes.toml alone (one thread, one process);
#   2. two copies of it at the same time (two processes, one thread each);
#   3. configs/python-threads.toml (the same settings, two threads in one
#      process), under `perf record -a -g` when perf is installed, whose
#      top kernel and user symbols go to perf-two-threads.txt.
# Every figure is pooling-lab's own result file (results/python-processes/
# and results/python-threads/); the summary (summary.md, printed too) adds
# the two concurrent processes' sandboxes/s and says whether they overlapped.
# Needs `scripts/fetch-guests.sh --only python` and a release build.
#
#   scripts/python-processes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/pooling-lab
out=results/python-processes
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dir="$out/$stamp"
mkdir -p "$dir/alone" "$dir/concurrent-1" "$dir/concurrent-2"
"$bin" run configs/python-processes.toml -q --results-dir "$dir/alone" >/dev/null
"$bin" run configs/python-processes.toml -q --results-dir "$dir/concurrent-1" >/dev/null &
first=$!
"$bin" run configs/python-processes.toml -q --results-dir "$dir/concurrent-2" >/dev/null || true
wait "$first" || true
if command -v perf >/dev/null 2>&1; then
    perf record -q -a -g -o "$dir/perf.data" -- \
        "$bin" run configs/python-threads.toml -q --results-dir "$dir/threads" >/dev/null 2>&1
    perf report -i "$dir/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null \
        | grep -v '^#' | grep '%' | head -25 > "$dir/perf-two-threads.txt" || true
    perf report -i "$dir/perf.data" --no-children --sort sym --stdio -g callee,0.5,2 2>/dev/null \
        | grep -v '^#' | grep -v '^$' | head -60 > "$dir/perf-two-threads-callees.txt" || true
    rm -f "$dir/perf.data"
else
    "$bin" run configs/python-threads.toml -q --results-dir "$dir/threads" >/dev/null
fi
python3 - "$dir" <<'PY' | tee "$dir/summary.md"
import glob, json, sys
d = sys.argv[1]
def load(sub):
    f = sorted(glob.glob(f"{d}/{sub}/*/*.json"))[-1]
    r = json.load(open(f))
    v = r["variants"][0]
    c = v["churn"]
    cyc = next(p for p in c["phases"] if p["phase"] == "cycle")["summary"]
    return r, v, c, cyc, f
print(f"# Two threads or two processes: {d}\n")
print("Fresh CPython+numpy sandbox per request, tuned settings (configs/python-processes.toml, configs/python-threads.toml).\n")
print("| run | threads | sandboxes/s | cycle p50 | cycle p99 | minor faults / cycle | other processes' CPU | result |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
total = 0.0
spans = []
for name, sub in [("one process alone", "alone"), ("two processes at once: 1", "concurrent-1"),
                  ("two processes at once: 2", "concurrent-2"), ("one process, two threads", "threads")]:
    r, v, c, cyc, f = load(sub)
    dist = v.get("disturbance") or {}
    if sub.startswith("concurrent"):
        total += c["cycles_per_sec"]
        spans.append((r["started_at"], r["updated_at"]))
    print(f"| {name} | {c['threads']} | {c['cycles_per_sec']:.0f} | {cyc['p50_ns']/1e6:.2f} ms | {cyc['p99_ns']/1e6:.2f} ms "
          f"| {c['minor_faults_per_cycle']:.0f} | {dist.get('other_cpu_share', 0)*100:.0f}% | {f[len(d)+1:]} |")
overlap = max(s for s, _ in spans) <= min(e for _, e in spans)
print(f"\nTwo processes at once: **{total:.0f} sandboxes/s together**; their runs "
      f"{'overlapped' if overlap else 'did NOT overlap'} ({spans[0][0]}-{spans[0][1]} and {spans[1][0]}-{spans[1][1]}; "
      "each marks the other as a disturbance, as it should).")
PY
