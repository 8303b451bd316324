#!/usr/bin/env bash
# Measures the same configs with two builds of pooling-lab, with rounds, and
# compares each pair: what a change to the lab's own code did to the figures
# (a refactor must leave fault counts and memory unchanged, and timings within
# their noise).
#
#   scripts/same-figures.sh BEFORE_BINARY AFTER_BINARY OUT_DIR [CONFIG...]
#
# Default configs: one per scenario (scaling, churn, pool, session, soak,
# serve, tenants) plus the guest faults config. Each build measures every
# config in turn (before, after, before, ... per config, so drift touches both);
# OUT_DIR/<label>/<experiment>/<stamp>.{json,md} hold the results and
# OUT_DIR/compare-<experiment>.txt the verdicts of `compare before after`.
set -euo pipefail
before=${1:?before binary}
after=${2:?after binary}
out=${3:?output folder}
shift 3
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
    configs=(configs/quick.toml configs/churn.toml configs/pool.toml configs/session.toml
        configs/soak.toml configs/serve.toml configs/tenants-quick.toml configs/faults.toml)
fi
rounds=${ROUNDS:-3}
mkdir -p "$out"
for c in "${configs[@]}"; do
    for side in before after; do
        bin=$before
        [ "$side" = after ] && bin=$after
        "$bin" run "$c" --rounds "$rounds" --results-dir "$out/$side" -q > "$out/$side-$(basename "$c" .toml).log" 2>&1 || true
    done
    name=$(basename "$(ls -d "$out"/after/*/ -t | head -1)")
    a=$(ls -t "$out"/before/"$name"/*.json | head -1)
    b=$(ls -t "$out"/after/"$name"/*.json | head -1)
    "$after" compare "$a" "$b" > "$out/compare-$name.txt"
    echo "== $c: $a vs $b"
    tail -n 3 "$out/compare-$name.txt"
done
