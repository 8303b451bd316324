#!/usr/bin/env bash
# Installs wrk, the HTTP load generator the serve scenario cross-checks its
# own load with (`[scenario] load_generator = "wrk"`), from Debian's packages
# (wrk 4.1.0 on Debian 12). Idempotent: an installed wrk is kept. Needs root
# (or sudo) for apt-get. Prints the binary's path.
#
#   scripts/install-load-generator.sh        # install if needed, print the path
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
    command -v wrk
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "error: installing wrk needs root: run 'apt-get install wrk' as root" >&2
        exit 1
    fi
fi
echo "installing wrk (apt-get install wrk)" >&2
$sudo apt-get update -qq >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
command -v wrk
