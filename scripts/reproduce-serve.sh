#!/usr/bin/env bash
# Reproduces the `wasmtime serve` comparison of results/README.md ("Serving"):
# installs what it needs (the wasmtime CLI at the version in Cargo.lock, once,
# ~20 min; wrk from Debian's packages), then runs configs/serve.toml
# (wasmtime serve defaults vs the tuned -O flags vs pooling-lab's server,
# pooling-lab's load and wrk's, 3 rounds; ~3 min). Extra arguments go to
# `pooling-lab run` (e.g. --results-dir DIR).
#
#   scripts/reproduce-serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-wasmtime-cli.sh >/dev/null
scripts/install-load-generator.sh >/dev/null
exec cargo run --release -- run configs/serve.toml "$@"
