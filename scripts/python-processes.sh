#!/usr/bin/env bash
# One process or several, for the Python guest: now a config
# (`[scenario] processes`), measured in one run beside N threads in one
# process. Needs `scripts/fetch-guests.sh --only python`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release -- run configs/python-processes.toml "$@"
