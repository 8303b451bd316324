#!/usr/bin/env bash
# Is the wasmtime stack as new as it can be? For every wasmtime crate the
# project links (each package in Cargo.lock named `wasmtime` or `wasmtime-*`)
# prints one line: the version shipped (Cargo.lock), the newest version
# published (asked with `cargo info`, yanked versions skipped where the
# registry index says so), and the newest version the WHOLE stack resolves
# to. The last is found in a scratch copy of the project (Cargo.toml +
# Cargo.lock + empty target files) whose exact wasmtime pins (`=50.0.1`) are
# relaxed to any later semver-compatible version (`>=50.0.1, <51`), then
# `cargo update -p` of every wasmtime crate. When a newer version is published
# than the stack can take, a `why:` line names the root causes, read from
# the registry index (cargo's local cache of it, just refreshed): a
# requirement of that release nobody has published, or a package of the
# stack pinning it (`=`) that has no release to move to, followed through
# the crates that would have to move along. The `ceiling:` lines list those
# causes once, with how each reaches the stack. Nothing in the checkout is
# changed; needs the registry (network).
#
#   scripts/wasmtime-versions.sh                  # this checkout's Cargo.lock
#   scripts/wasmtime-versions.sh --lock OTHER.lock # judge another lock file
#   scripts/wasmtime-versions.sh --lock L --manifest M  # ... and another Cargo.toml
#                                        # (same targets as this one's)
#
# Exit status: 0 when every crate ships its newest resolvable version (the
# stack is as new as it can be, whatever is published beyond it); 1 when some
# crate could move up and has not (they are listed, with the Cargo.toml pins
# and the `cargo update` command that move them); 2 on an error (network,
# registry, an unparsable file: the message says which). CI prints the report
# and does not fail on it. Needs cargo (the toolchain rust-toolchain.toml
# names) and python3 >= 3.11 (tomllib). Takes a few seconds.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
trap 'echo "error: wasmtime-versions.sh failed at line $LINENO (see the message above)" >&2; exit 2' ERR

lock=$repo/Cargo.lock
manifest=$repo/Cargo.toml
while [ $# -gt 0 ]; do
    case "$1" in
        --lock) lock=$(realpath "${2:?--lock needs a file}"); shift 2 ;;
        --manifest) manifest=$(realpath "${2:?--manifest needs a file}"); shift 2 ;;
        -h|--help) sed -n '2,/^set -/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (usage: scripts/wasmtime-versions.sh [--lock FILE] [--manifest FILE])" >&2; exit 2 ;;
    esac
done
[ -f "$lock" ] || { echo "error: no lock file $lock" >&2; exit 2; }
[ -f "$manifest" ] || { echo "error: no manifest $manifest" >&2; exit 2; }
command -v python3 >/dev/null || { echo "error: python3 is needed to parse Cargo.lock" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The wasmtime crates the lock names.
python3 - "$lock" > "$tmp/crates" <<'EOF' || { echo "error: cannot parse $lock" >&2; exit 2; }
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
names = sorted({p["name"] for p in lock.get("package", [])
                if p["name"] == "wasmtime" or p["name"].startswith("wasmtime-")})
print("\n".join(names))
EOF
[ -s "$tmp/crates" ] || { echo "error: $lock names no wasmtime crate" >&2; exit 2; }

# Newest published, as cargo reports it. Outside any workspace (inside one,
# `cargo info` shows the locked version) but with the project's toolchain.
mkdir "$tmp/info"
cp rust-toolchain.toml "$tmp/info/" 2>/dev/null || true
while read -r name; do
    if ! (cd "$tmp/info" && cargo info --quiet "$name" > "$tmp/info/$name.out" 2> "$tmp/info/$name.err"); then
        echo "error: \`cargo info $name\` failed (network or registry unreachable?):" >&2
        sed 's/^/  /' "$tmp/info/$name.err" >&2
        exit 2
    fi
done < "$tmp/crates"

# The scratch project: this Cargo.toml with the wasmtime pins relaxed, the
# lock under test, and an empty file for every target cargo would look for.
proj=$tmp/proj
mkdir "$proj"
cp "$manifest" "$proj/Cargo.toml"
cp "$lock" "$proj/Cargo.lock"
cp rust-toolchain.toml "$proj/" 2>/dev/null || true
cargo metadata --no-deps --format-version 1 --manifest-path "$repo/Cargo.toml" 2> "$tmp/metadata.err" \
    | python3 -c '
import json, os, sys
root, proj = sys.argv[1], sys.argv[2]
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        rel = os.path.relpath(t["src_path"], root)
        if rel.startswith(".."):
            continue
        os.makedirs(os.path.join(proj, os.path.dirname(rel)), exist_ok=True)
        open(os.path.join(proj, rel), "a").close()
' "$repo" "$proj" || { echo "error: \`cargo metadata\` of Cargo.toml failed:" >&2; cat "$tmp/metadata.err" >&2; exit 2; }
python3 - "$proj/Cargo.toml" > "$tmp/relaxed" <<'EOF'
import re, sys
path = sys.argv[1]
text = open(path).read()
# `wasmtime-foo = "=50.0.1"` or `wasmtime-foo = { version = "=50.0.1", ... }`,
# in any dependency table.
pin = re.compile(r'^(\s*(wasmtime(?:-[A-Za-z0-9_-]+)?)\s*=\s*(?:\{[^}\n]*?\bversion\s*=\s*)?")=\s*(\d+)\.(\d+)\.(\d+)(")', re.M)
def relax(m):
    print(f"{m.group(2)}: ={m.group(3)}.{m.group(4)}.{m.group(5)} -> >={m.group(3)}.{m.group(4)}.{m.group(5)}, <{int(m.group(3)) + 1}")
    return f"{m.group(1)}>={m.group(3)}.{m.group(4)}.{m.group(5)}, <{int(m.group(3)) + 1}{m.group(6)}"
open(path, "w").write(pin.sub(relax, text))
EOF

run_cargo() { # run_cargo WHAT ARGS...: cargo in the scratch project, exit 2 with its message on failure
    local what=$1; shift
    if ! (cd "$proj" && cargo "$@" > "$tmp/cargo.out" 2> "$tmp/cargo.err"); then
        echo "error: $what (\`cargo $*\` in a scratch copy) failed (network, registry, or the relaxed Cargo.toml does not resolve):" >&2
        sed 's/^/  /' "$tmp/cargo.err" >&2
        exit 2
    fi
}
# First bring the lock in line with the relaxed manifest without moving
# anything it does not have to (a --lock from another revision may not match
# this Cargo.toml), then move every wasmtime crate as far as it goes.
run_cargo "syncing the lock" update --workspace
specs=$(python3 - "$proj/Cargo.lock" <<'EOF'
import sys, tomllib
for p in tomllib.load(open(sys.argv[1], "rb")).get("package", []):
    if (p["name"] == "wasmtime" or p["name"].startswith("wasmtime-")) and "source" in p:
        print(f'-p {p["name"]}@{p["version"]}')
EOF
)
# shellcheck disable=SC2086 # one word per spec
run_cargo "resolving the newest stack" update $specs

status=0
python3 - "$lock" "$proj/Cargo.lock" "$manifest" "$tmp/info" "$tmp/relaxed" "${CARGO_HOME:-$HOME/.cargo}" <<'EOF' || status=$?
import glob, json, os, re, sys, tomllib, traceback

def crash(*exc):
    # An uncaught exception would exit 1, which means "behind" here.
    sys.stdout.flush()
    traceback.print_exception(*exc)
    os._exit(3)
sys.excepthook = crash

def vkey(v):
    core, _, pre = v.partition("+")[0].partition("-")
    nums = tuple(int(x) for x in core.split("."))
    # A pre-release sorts before its release.
    return nums + ((1,) if not pre else (0, pre))

def is_pre(v):
    return "-" in v.partition("+")[0]

def req_matches(req, v):
    """Cargo's version requirement semantics, enough for index requirements."""
    vn = vkey(v)[:3]
    for comp in (c.strip() for c in req.split(",")):
        if comp in ("", "*"):
            continue
        m = re.fullmatch(r"(=|>=|<=|>|<|~|\^)?\s*(\d+)(?:\.(\d+|\*))?(?:\.(\d+|\*))?(?:-[0-9A-Za-z.-]+)?", comp)
        if not m:
            return True  # unknown syntax: do not blame it
        op = m.group(1) or "^"
        parts = [int(x) for x in m.group(2, 3, 4) if x is not None and x != "*"]
        n = len(parts)
        lo = tuple(parts + [0] * (3 - n))
        if op == "=":
            ok = vn[:n] == tuple(parts)
        elif op == ">=":
            ok = vn >= lo
        elif op == ">":
            ok = vn[:n] > tuple(parts)
        elif op == "<":
            ok = vn < lo
        elif op == "<=":
            ok = vn[:n] <= tuple(parts)
        elif op == "~":
            hi = (parts[0] + 1, 0, 0) if n == 1 else (parts[0], parts[1] + 1, 0)
            ok = lo <= vn < hi
        else:  # caret
            if parts[0] > 0 or n == 1:
                hi = (parts[0] + 1, 0, 0)
            elif parts[1] > 0 or n == 2:
                hi = (0, parts[1] + 1, 0)
            else:
                hi = (0, 0, parts[2] + 1)
            ok = lo <= vn < hi
        if not ok:
            return False
    return True

cargo_home = sys.argv[6]
def index_entries(name):
    """Every version of NAME in cargo's local index cache (refreshed by the
    cargo commands above), as the registry's index JSON; [] if not found."""
    n = name.lower()
    sub = {1: "1", 2: "2", 3: f"3/{n[0]}"}.get(len(n), f"{n[:2]}/{n[2:4]}")
    for path in glob.glob(os.path.join(cargo_home, "registry", "index", "*", ".cache", sub, n)):
        out = []
        for chunk in open(path, "rb").read().split(b"\0"):
            if chunk.startswith(b"{"):
                try:
                    out.append(json.loads(chunk))
                except ValueError:
                    pass
        if out:
            return out
    return []

def packages(path):
    pk = {}
    for p in tomllib.load(open(path, "rb")).get("package", []):
        pk.setdefault(p["name"], []).append(p)
    return pk

def is_wasmtime(name):
    return name == "wasmtime" or name.startswith("wasmtime-")

def newest(pkgs):
    return max((p["version"] for p in pkgs), key=vkey) if pkgs else None

shipped_pk = packages(sys.argv[1])
resolved_pk = packages(sys.argv[2])
manifest = tomllib.load(open(sys.argv[3], "rb"))
info_dir = sys.argv[4]
relaxed = open(sys.argv[5]).read().strip()
project_msrv = manifest.get("package", {}).get("rust-version")

# Direct requirements in Cargo.toml, every dependency table.
direct = {}
tables = [manifest]
tables += list(manifest.get("target", {}).values())
for t in tables:
    for kind in ("dependencies", "dev-dependencies", "build-dependencies"):
        for key, spec in t.get(kind, {}).items():
            name = spec.get("package", key) if isinstance(spec, dict) else key
            req = spec.get("version") if isinstance(spec, dict) else spec
            if req:
                direct[name] = req

names = sorted({n for n in shipped_pk if is_wasmtime(n)} | {n for n in resolved_pk if is_wasmtime(n) and any("source" in p for p in resolved_pk[n])})

# Every registry package of the scratch stack: name -> resolved versions.
resolved_all = {n: sorted((p["version"] for p in ps if "source" in p), key=vkey) for n, ps in resolved_pk.items()}
resolved_all = {n: vs for n, vs in resolved_all.items() if vs}
resolved_of = {n: vs[-1] for n, vs in resolved_all.items()}

_entries = {}
def entries_of(name):
    if name not in _entries:
        _entries[name] = index_entries(name)
    return _entries[name]

def live_versions(name):
    return [e["vers"] for e in entries_of(name) if not e.get("yanked") and not is_pre(e["vers"])]

def entry(name, version):
    return next((e for e in entries_of(name) if e["vers"] == version), None)

def real(d):
    return d.get("package") or d["name"]

def runtime_deps(e):
    return [d for d in (e or {}).get("deps", []) if d.get("kind", "normal") != "dev"]

def compat(v):
    """Cargo's semver-compatibility class: versions in one class are unified."""
    k = vkey(v)
    return k[:1] if k[0] else (k[:2] if k[1] else k[:3])

def newest_live(name):
    return max(live_versions(name), key=vkey, default=None)

def users(name):
    """(package, version) of the resolved stack that depend on NAME."""
    return [(q, p["version"]) for q, ps in resolved_pk.items() for p in ps
            if "source" in p and any(d.split(" ")[0] == name for d in p.get("dependencies", []))]

def holders(name, wanted, exclude):
    """Packages of the resolved stack whose requirement on NAME excludes WANTED."""
    out = []
    for pname, pver in sorted(users(name)):
        if pname in exclude:
            continue
        for d in runtime_deps(entry(pname, pver)):
            if real(d) == name and compat(wanted) in {compat(v) for v in live_versions(name) if req_matches(d["req"], v)} \
                    and not req_matches(d["req"], wanted):
                out.append((pname, pver, d["req"]))
                break
    return out

def msrv_too_old(e):
    rv = (e or {}).get("rust_version")
    pad = lambda v: v + ".0" * (2 - v.count("."))
    return rv and project_msrv and vkey(pad(rv)) > vkey(pad(project_msrv))

def own_problems(n, v):
    """What makes release V of N unusable whatever else moves: a requirement
    no published release meets, or a newer rustc than the project's."""
    e = entry(n, v)
    if e is None:
        return [f"{n} {v} is not in cargo's index cache"]
    out = []
    for d in runtime_deps(e):
        r = real(d)
        if d.get("optional") and r not in resolved_all:
            continue  # a feature this project does not enable
        if not any(req_matches(d["req"], x) for x in live_versions(r)):
            out.append(f"{n} {v} requires {r} {d['req']}, which is not published (newest {r}: {newest_live(r) or 'none'})")
    if msrv_too_old(e):
        out.append(f"{n} {v} needs rustc {e['rust_version']} (rust-version here: {project_msrv})")
    return out

def usable(n, versions):
    """The newest of VERSIONS without problems of its own, else the newest."""
    versions = sorted(versions, key=vkey, reverse=True)
    return next((x for x in versions if not own_problems(n, x)), versions[0] if versions else None)

def blockers(name, version):
    """Root causes that keep VERSION of NAME out of the stack: requirements
    nobody can satisfy, or pins by packages that have no release to move to.
    Walks the packages that would have to move along with it, each once (a
    sketch of the resolver's reasoning, read from the registry index)."""
    roots, seen, work = [], {(name, version)}, [(name, version)]
    moving = {name}
    while work:
        n, v = work.pop(0)
        own = own_problems(n, v)
        if own:
            roots += own
            continue
        e = entry(n, v)
        nxt = []
        for pname, pver, req in holders(n, v, moving):
            ok = [x for x in live_versions(pname) if compat(x) == compat(pver) and vkey(x) > vkey(pver)
                  and any(real(d) == n and req_matches(d["req"], v) for d in runtime_deps(entry(pname, x)))]
            if ok:
                nxt.append((pname, usable(pname, ok)))
            elif newest_live(pname) == pver:
                roots.append(f"{pname} {pver} requires {n} {req} (its newest release)")
            else:
                roots.append(f"{pname} {pver} requires {n} {req} (no newer {pname} {'.'.join(map(str, compat(pver)))}.x accepts {v})")
        for d in runtime_deps(e):
            r = real(d)
            if r in moving or r not in resolved_all:
                continue
            matching = [x for x in live_versions(r) if req_matches(d["req"], x)]
            need = usable(r, matching)
            same = [h for h in resolved_all[r] if need and compat(h) == compat(need)]
            if same and not any(req_matches(d["req"], h) for h in same):
                nxt.append((r, need))
        for item in nxt:
            if item not in seen:
                seen.add(item)
                moving.add(item[0])
                work.append(item)
    return list(dict.fromkeys(roots))

rows, whys = [], {}
published = {}
for name in names:
    path = os.path.join(info_dir, f"{name}.out")
    out = open(path).read() if os.path.exists(path) else ""
    m = re.search(r"^version: (\S+)(?: \(latest (\S+)\))?", out, re.M)
    by_info = (m.group(2) or m.group(1)) if m else None
    live = live_versions(name)
    yanked = sorted((e["vers"] for e in entries_of(name) if e.get("yanked")), key=vkey)
    # cargo info's answer, unless the index marks it yanked (cargo info may
    # count yanked versions); the index cache may lag behind cargo info's
    # query when a release is being published, so the newer of the two.
    candidates = live + ([by_info] if by_info and by_info not in yanked else [])
    pub = max(candidates, key=vkey, default=None)
    note = ""
    if yanked and pub and vkey(yanked[-1]) > vkey(pub):
        note = f" ({yanked[-1]} yanked)"
    published[name] = (pub, note)

all_roots = {}
for name in names:
    shipped = newest(shipped_pk.get(name, []))
    resolved = resolved_of.get(name)
    pub, note = published[name]
    rows.append((name, shipped or "-", (pub or "?") + note, resolved or "-"))
    if not (pub and resolved) or vkey(pub) <= vkey(resolved):
        continue
    reasons = []
    newer = sorted((v for v in live_versions(name) if compat(v) == compat(resolved) and vkey(v) > vkey(resolved)), key=vkey, reverse=True)
    if compat(pub) != compat(resolved):
        reasons.append(f"{pub} is semver-incompatible (a new major: an upgrade by hand, not an update)")
    # Newest first; go down while a version cannot be used on its own.
    for v in newer[:3]:
        roots = blockers(name, v)
        for r in roots:
            all_roots[r] = None
        reasons.append(f"{v}: " + ("; ".join(roots) if roots else
                       f"no reason found in the index (`cargo update -p {name} --precise {v}` in a copy shows the resolver's)"))
        if not all(r.startswith(f"{name} {v} ") for r in roots) or not roots:
            break
    whys[name] = " | ".join(reasons)

w = max(len(r[0]) for r in rows)
cols = ("crate", "shipped", "newest published", "stack resolves to")
print(f"{cols[0]:<{w}}  {cols[1]:<9} {cols[2]:<18} {cols[3]}")
for name, shipped, pub, resolved in rows:
    print(f"{name:<{w}}  {shipped:<9} {pub:<18} {resolved}")
    if name in whys:
        print(f"{'':<{w}}    why: {whys[name]}")
print()
print("pins relaxed for the resolution: " + (relaxed.replace("\n", "; ") if relaxed else "none (Cargo.toml has no `=` wasmtime pin)"))
if all_roots:
    print("ceiling (the root causes above, once each; the stack moves when they are published again):")
    for r in all_roots:
        who = r.split(" ", 2)
        via = ""
        if who[0] not in names:
            # How a non-wasmtime package holding the stack gets into it.
            reach = []
            for q, qv in sorted(users(who[0])):
                req = next((d["req"] for d in runtime_deps(entry(q, qv)) if real(d) == who[0]), "?")
                reach.append(f"{q} {qv} ({who[0]} {req})")
            via = "; reached through " + ", ".join(reach) if reach else ""
        print(f"  {r}{via}")

behind = [(n, s, r) for n, s, _, r in rows if s != "-" and r != "-" and vkey(r) > vkey(s)]
if not behind:
    print("verdict: every wasmtime crate ships the newest version the stack resolves to (exit 0)")
    sys.exit(0)
print("verdict: the stack could move up; behind (exit 1):")
for n, s, r in behind:
    print(f"  {n}: ships {s}, resolves to {r}")
edits = [(n, r) for n, s, r in behind if n in direct and not req_matches(direct[n], r)]
for n, r in edits:
    print(f'  Cargo.toml: {n} requirement "{direct[n]}" -> "={r}"')
if len(behind) == 1 and not edits:
    n, s, r = behind[0]
    print(f"  then: cargo update -p {n}@{s} --precise {r}")
else:
    print("  then: cargo update " + " ".join(f"-p {n}" for n, _, _ in behind))
sys.exit(1)
EOF
case $status in
    0|1) exit "$status" ;;
    *) echo "error: could not compare the versions (the python step failed with status $status; message above)" >&2; exit 2 ;;
esac
