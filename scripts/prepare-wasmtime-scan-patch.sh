#!/usr/bin/env bash
# Prepares wasmtime BASE (the release Cargo.lock ships, 50.0.1) with the
# PAGEMAP_SCAN reset of release FIX (50.0.3) in the git-ignored
# .cache/wasmtime-scan-patch/wasmtime-BASE-scan-FIX/: a copy of the registry's
# BASE crate source whose src/runtime/vm/sys/unix/pagemap.rs is FIX's. FIX's
# reset asks the kernel for WRITTEN pages that are also PRESENT or SWAPPED
# (`category_anyof_mask`): newer kernels report never-touched PTEs as WRITTEN,
# which made BASE's reset copy the image into pages no guest touched (see
# results/README.md, "48.0.8 -> 50.0.1"). Nothing else of FIX is taken.
#
# Both sources come through cargo (a scratch project per release depending
# on `wasmtime = "=VERSION"` without default features, `cargo fetch`, and
# `cargo metadata` for where cargo unpacked it), so no wasmtime source is
# ever committed here. The copy's version gets build metadata
# (BASE+pagemap-FIX, e.g. 50.0.1+pagemap-50.0.3): it still satisfies the
# `=BASE` pins of every crate that depends on wasmtime, and Cargo.lock, the
# binary's build.rs and so every result file name the patched crate.
#
# Prints the diff of pagemap.rs between the two releases, checks that no
# other file under src/runtime/vm/sys/unix/ differs, lists what else differs
# in the crate (not applied), and prints the copy's path last (stdout; all
# else goes to stderr). Idempotent: an intact copy is kept (so cargo does not
# rebuild it), else it is made again (a few MB, seconds).
# scripts/build-lab-scan-patch.sh builds pooling-lab with it.
#
#   scripts/prepare-wasmtime-scan-patch.sh               # 50.0.1 + 50.0.3's scan
#   scripts/prepare-wasmtime-scan-patch.sh 50.0.1 50.0.3 # the same, explicit
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-$(awk '/^name = "wasmtime"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)}
fix=${2:-50.0.3}
for v in "$base" "$fix"; do
    case "$v" in
        ""|*[!0-9.]*) echo "error: '$v' is not a wasmtime release (e.g. 50.0.1)" >&2; exit 2 ;;
    esac
done
file=src/runtime/vm/sys/unix/pagemap.rs
cache=.cache/wasmtime-scan-patch
if ! git check-ignore -q "$cache/probe"; then
    echo "error: $cache is not git-ignored (.gitignore should name /.cache): wasmtime's source must not be committed" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Where cargo unpacks wasmtime VERSION: a scratch project that depends on
# exactly it (no default features: the fewest crates to resolve and fetch).
crate_source() {
    local version=$1 dir=$tmp/fetch-$1
    mkdir -p "$dir/src"
    : > "$dir/src/lib.rs"
    cp rust-toolchain.toml "$dir/"
    cat > "$dir/Cargo.toml" <<EOF
[package]
name = "fetch-wasmtime-source"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
wasmtime = { version = "=$version", default-features = false }
EOF
    (cd "$dir" && cargo fetch --quiet >&2) || {
        echo "error: \`cargo fetch\` of wasmtime $version failed (network, registry, or no such release)" >&2
        exit 2
    }
    (cd "$dir" && cargo metadata --offline --format-version 1) | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"]
           if p["name"] == "wasmtime" and p["version"] == sys.argv[1]))
' "$version"
}
src_base=$(crate_source "$base")
src_fix=$(crate_source "$fix")
echo "wasmtime $base: $src_base" >&2
echo "wasmtime $fix: $src_fix" >&2

echo >&2
echo "== $file, $base -> $fix" >&2
if diff -u --label "wasmtime-$base/$file" --label "wasmtime-$fix/$file" "$src_base/$file" "$src_fix/$file" >&2; then
    echo "error: $file is the same in $base and $fix: nothing to patch" >&2
    exit 2
fi

echo >&2
others=$(diff -rq "$src_base/src/runtime/vm/sys/unix" "$src_fix/src/runtime/vm/sys/unix" | grep -v "/pagemap.rs " || true)
if [ -n "$others" ]; then
    echo "warning: other files under src/runtime/vm/sys/unix/ differ too (not applied; check whether the new pagemap.rs needs them):" >&2
    echo "$others" | sed 's/^/  /' >&2
else
    echo "== src/runtime/vm/sys/unix/: pagemap.rs is the only file that differs" >&2
fi
echo "== other files that differ between wasmtime $base and $fix (not applied):" >&2
(cd "$src_base" && diff -rq . "$src_fix" || true) | grep -v "/pagemap.rs " \
    | sed -E 's#^Files \./([^ ]+) and .* differ$#  \1#; s#^Only in \.(/)?([^:]*): #  only in '"$base"': \2/#; s#^Only in '"$src_fix"'/?([^:]*): #  only in '"$fix"': \1/#' >&2

dest=$cache/wasmtime-$base-scan-$fix
version="$base+pagemap-$fix"
# A copy already made is kept when it is intact: its files keep their times,
# so cargo does not rebuild wasmtime for nothing (path crates are
# fingerprinted by file times).
if [ -f "$dest/PATCHED-BY-POOLING-LAB.txt" ] && cmp -s "$dest/$file" "$src_fix/$file" \
    && grep -q "^version = \"$version\"$" "$dest/Cargo.toml" \
    && [ -z "$(diff -rq "$src_base" "$dest" | grep -v -e "/$file " -e "/Cargo.toml " -e ": PATCHED-BY-POOLING-LAB.txt$" -e ": .cargo-ok$")" ]; then
    echo >&2
    echo "kept $dest (wasmtime $version, intact)" >&2
    realpath "$dest"
    exit 0
fi
rm -rf "$dest"
mkdir -p "$cache"
cp -r "$src_base" "$dest"
chmod -R u+w "$dest"
rm -f "$dest/.cargo-ok"
cp "$src_fix/$file" "$dest/$file"
# The version with build metadata (only the [package] one: the first
# `version =` line after `[package]`).
python3 - "$dest/Cargo.toml" "$base" "$version" <<'EOF'
import re, sys
path, base, version = sys.argv[1:]
text = open(path).read()
pkg = text.index("\n[package]\n")
m = re.compile(r'^version = "' + re.escape(base) + r'"$', re.M).search(text, pkg)
nxt = text.find("\n[", pkg + 1)
if not m or (nxt != -1 and m.start() > nxt):
    sys.exit(f"error: no `version = \"{base}\"` in [package] of {path}")
open(path, "w").write(text[:m.start()] + f'version = "{version}"' + text[m.end():])
EOF
cat > "$dest/PATCHED-BY-POOLING-LAB.txt" <<EOF
wasmtime $base (registry source) with $file from wasmtime $fix.
Made by scripts/prepare-wasmtime-scan-patch.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); package version set to $version.
sha256 of $file: $base $(sha256sum < "$src_base/$file" | cut -d' ' -f1), $fix $(sha256sum < "$src_fix/$file" | cut -d' ' -f1), here $(sha256sum < "$dest/$file" | cut -d' ' -f1).
Not to be committed (it is under the git-ignored .cache).
EOF
cmp -s "$dest/$file" "$src_fix/$file"
echo >&2
echo "prepared $dest (wasmtime $version)" >&2
realpath "$dest"
