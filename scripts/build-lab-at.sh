#!/usr/bin/env bash
# Builds pooling-lab as it was at git revision REV into the git-ignored
# .cache/lab-builds/REV/pooling-lab, for `[experiment] builds` (every variant
# measured by that build beside the running one, in the same run: what a
# change to the lab's own code does to the same figures). The revision is
# checked out in a scratch worktree and built with its own Cargo.lock and
# toolchain; its target directory is kept in .cache/lab-builds/target so a
# second revision reuses the dependencies. Idempotent: a built revision is
# kept. Prints the binary's path.
#
#   scripts/build-lab-at.sh 444f9bd
#
# The first build takes ~10-15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: scripts/build-lab-at.sh REV (a commit of this repository)}
full=$(git rev-parse --verify --quiet "$rev^{commit}") || {
    echo "error: '$rev' is not a commit of this repository (git log --oneline lists them)" >&2
    exit 2
}
out="$PWD/.cache/lab-builds/$rev"
bin="$out/pooling-lab"
if [ -x "$bin" ] && [ "$(cat "$out/commit" 2>/dev/null)" = "$full" ]; then
    echo "$bin"
    exit 0
fi
tree="$PWD/.cache/lab-builds/src-$rev"
rm -rf "$tree"
git worktree prune
git worktree add --detach "$tree" "$full" >&2
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
echo "building pooling-lab at $rev (cargo build --release; several minutes)" >&2
(cd "$tree" && CARGO_TARGET_DIR="$PWD/../target" cargo build --release --locked --bin pooling-lab >&2)
mkdir -p "$out"
cp "$PWD/.cache/lab-builds/target/release/pooling-lab" "$bin"
echo "$full" > "$out/commit"
echo "$bin"
