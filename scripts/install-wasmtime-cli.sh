#!/usr/bin/env bash
# Installs the wasmtime CLI at exactly the wasmtime version in Cargo.lock into
# the git-ignored .cache/tools (cargo install --locked, default features:
# trimmed feature sets fail to build `serve`). Idempotent: an installed CLI of
# the right version is kept. Prints the binary's path.
#
#   scripts/install-wasmtime-cli.sh            # install if needed, print the path
#
# The build takes ~15-25 minutes on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(awk '/^name = "wasmtime"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$version" ]; then
    echo "error: no wasmtime version in Cargo.lock" >&2
    exit 1
fi
root="$PWD/.cache/tools/wasmtime-$version"
bin="$root/bin/wasmtime"
if [ -x "$bin" ] && "$bin" --version | grep -q "wasmtime $version"; then
    echo "$bin"
    exit 0
fi
echo "installing wasmtime-cli $version into $root (cargo install --locked; several minutes)" >&2
cargo install --locked --quiet wasmtime-cli --version "=$version" --root "$root" >&2
"$bin" --version >&2
echo "$bin"
