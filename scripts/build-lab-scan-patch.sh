#!/usr/bin/env bash
# Builds pooling-lab at git revision REV (default HEAD) linked against wasmtime
# 50.0.1 carrying 50.0.3's PAGEMAP_SCAN reset (the copy
# scripts/prepare-wasmtime-scan-patch.sh makes in the git-ignored
# .cache/wasmtime-scan-patch/) into .cache/lab-builds/scan-50.0.3/pooling-lab,
# for `[experiment] builds`: every variant measured by the patched wasmtime
# beside the running binary, in the same run (configs/scan-patch-*.toml).
#
# As scripts/build-lab-at.sh does, the revision is checked out in a scratch
# worktree and built with its own Cargo.lock and toolchain; the patch is given
# to cargo as `--config 'patch.crates-io.wasmtime.path="..."'` (no file of the
# revision is edited), the worktree's lock moves wasmtime to the patched
# crate (`cargo update -p wasmtime@50.0.1`; no other package may come or go:
# checked, then the build is --locked), and `cargo tree` must show the
# patched path crate as the wasmtime linked. The target directory is
# .cache/lab-builds/target-scan (kept: a rebuild reuses the dependencies).
# Next to the binary: `commit` (the revision built), `patched` (what was
# patched, the pagemap.rs checksum, the cargo tree line). Idempotent: a binary built from the same
# revision and the same patched file is kept. Prints the binary's path.
#
#   scripts/build-lab-scan-patch.sh          # HEAD
#   scripts/build-lab-scan-patch.sh 1842b5e  # another revision
#
# The first build takes ~15 minutes on 2 cores (run at nice 10).
set -euo pipefail
cd "$(dirname "$0")/.."
fix=50.0.3
file=src/runtime/vm/sys/unix/pagemap.rs
rev=${1:-HEAD}
full=$(git rev-parse --verify --quiet "$rev^{commit}") || {
    echo "error: '$rev' is not a commit of this repository (git log --oneline lists them)" >&2
    exit 2
}
# (awk reads to the end: an early exit would break git's pipe, and pipefail.)
base=$(git show "$full:Cargo.lock" | awk '/^name = "wasmtime"$/ && v == "" { getline; gsub(/version = |"/, ""); v = $0 } END { print v }')
[ -n "$base" ] || { echo "error: no wasmtime in $rev's Cargo.lock" >&2; exit 2; }
patch=$(scripts/prepare-wasmtime-scan-patch.sh "$base" "$fix")
sum=$(sha256sum < "$patch/$file" | cut -d' ' -f1)

out="$PWD/.cache/lab-builds/scan-$fix"
bin="$out/pooling-lab"
if [ -x "$bin" ] && [ "$(cat "$out/commit" 2>/dev/null)" = "$full" ] \
    && grep -qF "$sum" "$out/patched" 2>/dev/null; then
    echo "$bin"
    exit 0
fi

tree="$PWD/.cache/lab-builds/src-scan-$fix"
target="$PWD/.cache/lab-builds/target-scan"
rm -rf "$tree"
git worktree prune
git worktree add --detach "$tree" "$full" >&2
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
cfg="patch.crates-io.wasmtime.path=\"$patch\""
cd "$tree"

# Lock the patched crate in place of the registry's wasmtime (its version
# carries build metadata, so the lock must move to it), then check that the
# path crate replaced the registry wasmtime and no package came or went.
cargo update --quiet --config "$cfg" -p "wasmtime@$base" || {
    echo "error: cargo could not resolve $rev with the patched wasmtime (\`cargo update --config '$cfg' -p wasmtime@$base\`)" >&2
    exit 2
}
cargo tree --quiet --config "$cfg" -i wasmtime --depth 0 -e normal > "$tree/.tree"
git show "$full:Cargo.lock" > "$tree/.lock-before"
python3 - "$tree/.lock-before" Cargo.lock "$base" <<'EOF'
import sys, tomllib
before, after, base = sys.argv[1:]
def pkgs(path):
    return {(p["name"], p["version"], "registry" if "source" in p else "path") for p in tomllib.load(open(path, "rb"))["package"]}
b, a = pkgs(before), pkgs(after)
gone, new = sorted(b - a), sorted(a - b)
want_gone = [("wasmtime", base, "registry")]
ok = gone == want_gone and len(new) == 1 and new[0][0] == "wasmtime" and new[0][2] == "path" \
    and new[0][1].startswith(base + "+")
for n, v, s in gone:
    print(f"  lock: - {n} {v} ({s})", file=sys.stderr)
for n, v, s in new:
    print(f"  lock: + {n} {v} ({s})", file=sys.stderr)
if not ok:
    sys.exit("error: the patch changed more (or other) than wasmtime's lock entry; not building")
EOF
if ! head -1 "$tree/.tree" | grep -qF "($patch)"; then
    echo "error: cargo tree does not show the patched crate as wasmtime:" >&2
    cat "$tree/.tree" >&2
    exit 2
fi
echo "cargo tree: $(head -1 "$tree/.tree")" >&2

echo "building pooling-lab at $rev with wasmtime $base + $fix's $file (cargo build --release; ~15 minutes)" >&2
start=$(date +%s)
CARGO_TARGET_DIR="$target" nice -n 10 cargo build --release --locked --config "$cfg" --bin pooling-lab >&2
echo "built in $(( $(date +%s) - start )) s" >&2
mkdir -p "$out"
cp "$target/release/pooling-lab" "$bin"
echo "$full" > "$out/commit"
{
    echo "pooling-lab $full built with wasmtime $base patched: $file replaced by wasmtime $fix's"
    echo "patched crate: $patch"
    echo "$file sha256: $sum"
    echo "cargo tree: $(head -1 "$tree/.tree")"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/build-lab-scan-patch.sh"
} > "$out/patched"
echo "$bin"
