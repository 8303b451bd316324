#!/usr/bin/env bash
# Installs the wasmtime CLI into the git-ignored .cache/tools/wasmtime-VERSION
# (cargo install --locked, default features: trimmed feature sets fail to
# build `serve`). VERSION is the wasmtime version in Cargo.lock unless given:
# a serve experiment may compare two releases side by side (a variant's
# `[scenario] wasmtime_cli = ".cache/tools/wasmtime-48.0.8/bin/wasmtime"`).
# Idempotent: an installed CLI of the right version is kept. Prints the
# binary's path.
#
#   scripts/install-wasmtime-cli.sh            # Cargo.lock's version
#   scripts/install-wasmtime-cli.sh 48.0.8     # another release
#
# The build takes ~15-25 minutes on 2 cores the first time, per version.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-$(awk '/^name = "wasmtime"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)}
if [ -z "$version" ]; then
    echo "error: no wasmtime version in Cargo.lock" >&2
    exit 1
fi
case "$version" in
    *[!0-9.]*) echo "error: '$version' is not a wasmtime version (e.g. 48.0.8)" >&2; exit 2 ;;
esac
root="$PWD/.cache/tools/wasmtime-$version"
bin="$root/bin/wasmtime"
if [ -x "$bin" ] && "$bin" --version | grep -q "wasmtime $version"; then
    echo "$bin"
    exit 0
fi
echo "installing wasmtime-cli $version into $root (cargo install --locked; several minutes)" >&2
# Each release builds with the toolchain it declares: wasmtime 50 needs the
# project's rust-toolchain.toml (1.97); older releases build with it too.
cargo install --locked --quiet wasmtime-cli --version "=$version" --root "$root" >&2
"$bin" --version >&2
echo "$bin"
