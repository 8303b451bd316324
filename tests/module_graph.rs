//! No module imports one that imports it back, through any number of steps.
//!
//! The test parses a crate's source with `syn` (comments, string and byte
//! literals are never mistaken for code), resolves every path the way rustc
//! does, and builds a graph whose nodes are the crate's `.rs` files (each
//! file is one module; inline `mod x { .. }` blocks belong to their file).
//! It fails listing every circle, of any length (the first 500), with the
//! file and line of each edge. The same edges, between top-level modules
//! (`src/foo.rs` and every file under `src/foo/` are the node `foo`), must
//! make no circle either: the crate's layering. Fixture crates under
//! `tests/fixtures/module_graph/` show that it finds each kind of circle.
//!
//! # Edges
//!
//! File `a` has an edge to file `b` when code in `a` names something `b`
//! defines or imports. Named are:
//! - each leaf of a `use` item, glob (`use x::*`) included, private or `pub`
//!   (a re-export is an import of the file it is in);
//! - every path in types, expressions, patterns, bounds, `impl` headers and
//!   macro invocations (`crate::m!(..)`, `m!(..)`);
//! - the tokens inside macro invocations and `macro_rules!` bodies:
//!   `crate::`/`super::`/`self::`/`$crate::` paths, names in scope
//!   (`format!("{}", f(x))`) and format-string captures (`"{NAME}"`);
//! - in attributes: paths (`value_parser = parse`) and the string paths serde
//!   and schemars take (`#[serde(default = "one")]`).
//!
//! A path's edge goes to the file that defines the item it names and to every
//! file whose `use` the resolution passes through: a name used through a
//! `pub use` re-export (or a glob) is an import of the re-exporting file as
//! well as of the origin. A path that ends at a module (`use crate::a;`, a
//! glob's module) is an edge to that module's file.
//!
//! Not edges: `mod x;` declarations (a parent that declares a child imports
//! nothing; a parent that uses or re-exports a child's item, and a child that
//! uses its parent's, is a circle); modules a path merely passes through
//! (`crate::a::b::f` goes to `f`'s file, not `a`'s); visibility paths
//! (`pub(crate)`, `pub(super)`); doc comments and intra-doc links; method
//! calls and associated items (`T::new` is an edge to `T`'s file, not to the
//! file of its `impl`): only names are followed, not types; the text of
//! `include!`d files.
//!
//! # Resolution
//!
//! A path's first segment is `crate`/`$crate`, `self`, `super`, the library's
//! name (from a binary), or a name in the scope of the module it is written
//! in: an item defined there, a name a `use` there imports, then a name a
//! glob there brings in. `macro_rules!` macros are found by name in the
//! module and its ancestors (textual scope; `#[macro_use]` on a `mod` is not
//! followed), `#[macro_export]` ones also at the crate root. Each next segment is looked up the same way in the module
//! found so far; after a type or a function the rest is an associated item or
//! a variant and stays with it. Names in type, value and macro namespaces are
//! told apart as far as the syntax says. Deliberate over-approximations:
//! visibility and `cfg` are ignored (test code counts), items and `use`s in
//! function bodies belong to their module, and a path in a `macro_rules!`
//! body is resolved where the macro is defined. A name that resolves to
//! nothing in the crate (`std`, a dependency, a local variable) is no edge.
//!
//! # Crate roots
//!
//! `src/lib.rs` is the library's root module and a node like any other: the
//! items it defines (`crate::WasmtimeContext`) are targets and its `use`s are
//! edges; its `mod` declarations are not. `src/main.rs` (and `src/bin/*.rs`)
//! roots a binary crate whose modules (`src/cli.rs`, `src/commands.rs`) are
//! nodes of the same graph: `crate::` in them means the binary's root, and
//! `pooling_lab::` the library's. The library cannot name a binary, so no
//! circle spans both, but circles among a binary's files are found. Every
//! `.rs` file under `src/` must be reached through `mod` declarations.

use proc_macro2::{Literal, Spacing, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::ext::IdentExt;
use syn::visit::{self, Visit};

/// Index of a module: a file's top level or an inline `mod x { .. }`.
type ModId = usize;
/// Index of a `.rs` file: a node of the graph.
type FileId = usize;

/// At most this many circles are listed.
const MAX_CYCLES: usize = 500;

/// Attribute keys whose string value is a path (serde, schemars).
const PATH_KEYS: &[&str] = &[
    "default",
    "with",
    "serialize_with",
    "deserialize_with",
    "skip_serializing_if",
    "schema_with",
    "getter",
    "from",
    "try_from",
    "into",
    "remote",
];

/// The namespace a definition lives in, as far as resolution cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ns {
    /// `mod x`.
    Module,
    /// Structs, enums, unions, traits, type aliases.
    Type,
    /// Functions, constants, statics.
    Value,
    /// `macro_rules!` macros.
    Macro,
}

/// What a path segment may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// A segment with `::` after it: a module or a type.
    Prefix,
    /// The last segment of a path in code: a type or a value.
    Item,
    /// The last segment of a macro invocation's path.
    Macro,
    /// The last segment of a `use` leaf: anything.
    Any,
}

impl Want {
    /// Whether a segment wanted as `self` may name something of `ns`.
    fn admits(self, ns: Ns) -> bool {
        match self {
            Want::Prefix => matches!(ns, Ns::Module | Ns::Type),
            Want::Item => matches!(ns, Ns::Type | Ns::Value),
            Want::Macro => ns == Ns::Macro,
            Want::Any => true,
        }
    }
}

/// What a path resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// A module (its file is the edge's end).
    Module(ModId),
    /// An item defined in this module.
    Item(ModId, Ns),
    /// Something outside the crate, imported by one of its `use` items.
    Extern,
}

impl Target {
    /// Whether a segment wanted as `want` may name this.
    fn admitted_by(self, want: Want) -> bool {
        match self {
            Target::Module(_) => want.admits(Ns::Module),
            Target::Item(_, ns) => want.admits(ns),
            Target::Extern => true,
        }
    }
}

/// One way a path resolves: its target and the `use` items (file, line) the
/// resolution went through, nearest first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    target: Target,
    via: Vec<(FileId, usize)>,
}

impl Found {
    /// `target`, reached directly.
    fn at(target: Target) -> Found {
        Found {
            target,
            via: Vec::new(),
        }
    }

    /// This resolution, reached through the `use` at `line` of `file`.
    fn through(mut self, file: FileId, line: usize) -> Found {
        self.via.insert(0, (file, line));
        self
    }

    /// `next`, found after this resolution's steps.
    fn then(&self, next: Found) -> Found {
        let mut via = self.via.clone();
        via.extend(next.via);
        Found {
            target: next.target,
            via,
        }
    }
}

/// A `use` leaf: the path it imports and its line.
#[derive(Debug)]
struct Import {
    path: Vec<String>,
    line: usize,
}

/// A module's scope.
#[derive(Debug, Default)]
struct Module {
    /// The file it is in.
    file: FileId,
    /// The module it is declared in (`None` for a crate root).
    parent: Option<ModId>,
    /// The root module of its crate.
    root: ModId,
    /// Where the files of its `mod x;` children are.
    dir: PathBuf,
    /// The items it defines, by name.
    defs: BTreeMap<String, Vec<Target>>,
    /// What its `use` items import, by the name they bind.
    imports: BTreeMap<String, Vec<Import>>,
    /// Its glob imports (`use x::*`).
    globs: Vec<Import>,
    /// `macro_rules!` macros defined here (textual scope).
    macros: BTreeSet<String>,
}

/// A path written in a module, to be resolved once the crate is read.
#[derive(Debug)]
struct Ref {
    /// The module it is written in.
    module: ModId,
    /// Its segments (`crate`, `super`, `self` included).
    path: Vec<String>,
    /// The line it starts on.
    line: usize,
    /// What its last segment may name.
    want: Want,
}

/// A crate's source: its files, modules and the paths they write.
struct Model {
    /// The crate's folder (its `src/` holds the source).
    crate_dir: PathBuf,
    /// The library's name as a binary writes it (`pooling_lab`).
    lib_name: String,
    /// The library's root module, if the crate has a library.
    lib_root: Option<ModId>,
    /// Every file read, by `FileId`.
    files: Vec<PathBuf>,
    /// Every module, by `ModId`.
    modules: Vec<Module>,
    /// Every path written anywhere, to resolve.
    refs: Vec<Ref>,
}

/// The crate roots under `src`: the library's first (`true`), then binaries.
fn crate_roots(src: &Path) -> Vec<(PathBuf, bool)> {
    let mut roots = vec![(src.join("lib.rs"), true), (src.join("main.rs"), false)];
    let mut bins: Vec<PathBuf> = std::fs::read_dir(src.join("bin"))
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { p.join("main.rs") } else { p })
        .collect();
    bins.sort();
    roots.extend(bins.into_iter().map(|p| (p, false)));
    roots.retain(|(p, _)| p.is_file());
    roots
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

impl Model {
    /// Reads the crate in `crate_dir` (its `src/`) whose library is named
    /// `lib_name`, following `mod` declarations from each crate root.
    fn load(crate_dir: &Path, lib_name: &str) -> Model {
        let mut model = Model {
            crate_dir: crate_dir.to_path_buf(),
            lib_name: lib_name.to_string(),
            lib_root: None,
            files: Vec::new(),
            modules: Vec::new(),
            refs: Vec::new(),
        };
        let mut queue = Vec::new();
        for (file, is_lib) in crate_roots(&crate_dir.join("src")) {
            let dir = file.parent().unwrap().to_path_buf();
            let file_id = model.file_id(&file);
            let id = model.add_module(None, file_id, dir);
            if is_lib {
                model.lib_root = Some(id);
            }
            queue.push((file, id));
        }
        while let Some((file, id)) = queue.pop() {
            let text = std::fs::read_to_string(&file).unwrap();
            let ast = syn::parse_file(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
            let mut collector = Collector {
                model: &mut model,
                stack: vec![id],
                queue: &mut queue,
            };
            collector.visit_file(&ast);
        }
        model
    }

    /// The id of the file at `path`, added if new.
    fn file_id(&mut self, path: &Path) -> FileId {
        if let Some(i) = self.files.iter().position(|f| f == path) {
            return i;
        }
        self.files.push(path.to_path_buf());
        self.files.len() - 1
    }

    /// A new module in `file` (declared in `parent`) whose children's files
    /// are in `dir`.
    fn add_module(&mut self, parent: Option<ModId>, file: FileId, dir: PathBuf) -> ModId {
        let id = self.modules.len();
        let root = parent.map_or(id, |p| self.modules[p].root);
        self.modules.push(Module {
            file,
            parent,
            root,
            dir,
            ..Module::default()
        });
        id
    }

    /// A file's name relative to the crate (`src/guest/artifact.rs`).
    fn name(&self, f: FileId) -> String {
        let rel = self.files[f].strip_prefix(&self.crate_dir).unwrap();
        rel.to_string_lossy().replace('\\', "/")
    }

    /// The `.rs` files under `src/` no `mod` declaration reaches.
    fn unreached(&self) -> Vec<String> {
        rust_files(&self.crate_dir.join("src"))
            .into_iter()
            .filter(|p| !self.files.contains(p))
            .map(|p| p.display().to_string())
            .collect()
    }

    /// Every way `path`, written in module `m`, resolves when its last
    /// segment is to be `want`. `stack` holds the lookups under way (a
    /// glob or `use` that leads back to itself names nothing more).
    fn resolve(
        &self,
        m: ModId,
        path: &[String],
        want: Want,
        stack: &mut Vec<(ModId, String)>,
    ) -> Vec<Found> {
        let want_at = |k: usize| {
            if k + 1 == path.len() {
                want
            } else {
                Want::Prefix
            }
        };
        let Some((first, rest)) = path.split_first() else {
            return Vec::new();
        };
        let mut found = self.start(m, first, want_at(0), stack);
        for (k, seg) in rest.iter().enumerate() {
            let mut next = BTreeSet::new();
            for f in &found {
                next.extend(self.step(f, seg, want_at(k + 1), stack));
            }
            found = next.into_iter().collect();
        }
        found
    }

    /// What a path's first segment, written in module `m`, names.
    fn start(
        &self,
        m: ModId,
        first: &str,
        want: Want,
        stack: &mut Vec<(ModId, String)>,
    ) -> Vec<Found> {
        let module = &self.modules[m];
        let hits = match first {
            "crate" | "$crate" => vec![Found::at(Target::Module(module.root))],
            "self" => vec![Found::at(Target::Module(m))],
            "super" => module
                .parent
                .map(|p| Found::at(Target::Module(p)))
                .into_iter()
                .collect(),
            name => self.lookup(m, name, want, stack),
        };
        if !hits.is_empty() {
            return hits;
        }
        if want == Want::Macro {
            return self.textual_macro(m, first);
        }
        match self.lib_root {
            Some(root) if first == self.lib_name => vec![Found::at(Target::Module(root))],
            _ => Vec::new(),
        }
    }

    /// The next segment `seg` after resolution `f`.
    fn step(
        &self,
        f: &Found,
        seg: &str,
        want: Want,
        stack: &mut Vec<(ModId, String)>,
    ) -> Vec<Found> {
        match f.target {
            Target::Module(m) if seg == "super" => match self.modules[m].parent {
                Some(p) => vec![f.then(Found::at(Target::Module(p)))],
                None => Vec::new(),
            },
            Target::Module(m) => self
                .lookup(m, seg, want, stack)
                .into_iter()
                .map(|g| f.then(g))
                .collect(),
            // An associated item, a variant, or a path outside the crate.
            Target::Item(..) | Target::Extern => vec![f.clone()],
        }
    }

    /// What `name` means in module `m`: what it defines, else what its
    /// `use`s import under that name, else what its globs bring in.
    fn lookup(
        &self,
        m: ModId,
        name: &str,
        want: Want,
        stack: &mut Vec<(ModId, String)>,
    ) -> Vec<Found> {
        let key = (m, name.to_string());
        if stack.contains(&key) {
            return Vec::new();
        }
        stack.push(key);
        let module = &self.modules[m];
        let mut hits: Vec<Found> = module
            .defs
            .get(name)
            .into_iter()
            .flatten()
            .filter(|t| t.admitted_by(want))
            .map(|&t| Found::at(t))
            .collect();
        for import in module.imports.get(name).into_iter().flatten() {
            let mut found = self.resolve(m, &import.path, want, stack);
            if found.is_empty() {
                // Imported from outside the crate (or of another namespace).
                found.push(Found::at(Target::Extern));
            }
            for g in found {
                hits.push(g.through(module.file, import.line));
            }
        }
        if hits.is_empty() {
            hits = self.through_globs(m, name, want, stack);
        }
        stack.pop();
        hits
    }

    /// What the globs of module `m` bring in under `name`.
    fn through_globs(
        &self,
        m: ModId,
        name: &str,
        want: Want,
        stack: &mut Vec<(ModId, String)>,
    ) -> Vec<Found> {
        let module = &self.modules[m];
        let mut hits = Vec::new();
        for glob in &module.globs {
            for base in self.resolve(m, &glob.path, Want::Prefix, stack) {
                let Target::Module(g) = base.target else {
                    continue;
                };
                let base = base.through(module.file, glob.line);
                for hit in self.lookup(g, name, want, stack) {
                    hits.push(base.then(hit));
                }
            }
        }
        hits
    }

    /// A `macro_rules!` macro `name` in the textual scope of module `m`.
    fn textual_macro(&self, m: ModId, name: &str) -> Vec<Found> {
        std::iter::successors(Some(m), |&x| self.modules[x].parent)
            .find(|&x| self.modules[x].macros.contains(name))
            .map(|x| Found::at(Target::Item(x, Ns::Macro)))
            .into_iter()
            .collect()
    }

    /// The file a target is defined in.
    fn file_of(&self, t: Target) -> Option<FileId> {
        match t {
            Target::Module(m) | Target::Item(m, _) => Some(self.modules[m].file),
            Target::Extern => None,
        }
    }

    /// The import graph between files: every edge with the first place
    /// that makes it.
    fn graph(&self) -> Graph {
        let mut g = Graph::new();
        for r in &self.refs {
            let from = self.modules[r.module].file;
            for found in self.resolve(r.module, &r.path, r.want, &mut Vec::new()) {
                let hops = found.via.iter().map(|&(f, _)| f);
                let label = self.label(from, r, &found);
                for to in hops.chain(self.file_of(found.target)) {
                    if to != from {
                        add_edge(&mut g, self.name(from), self.name(to), r.line, &label);
                    }
                }
            }
        }
        g
    }

    /// `src/a.rs:3 super::b::f (use at src/b.rs:2)`.
    fn label(&self, from: FileId, r: &Ref, found: &Found) -> String {
        let mut s = format!("{}:{} {}", self.name(from), r.line, r.path.join("::"));
        let uses: Vec<String> = found
            .via
            .iter()
            .filter(|&&(f, _)| f != from)
            .map(|&(f, line)| format!("{}:{line}", self.name(f)))
            .collect();
        if !uses.is_empty() {
            s.push_str(&format!(" (use at {})", uses.join(", ")));
        }
        s
    }
}

/// Edges `from -> to` between named nodes, with the line and description of
/// the first place that makes each.
type Graph = BTreeMap<String, BTreeMap<String, (usize, String)>>;

/// Adds the edge `from -> to` made at `line`, unless an earlier line makes it.
fn add_edge(g: &mut Graph, from: String, to: String, line: usize, label: &str) {
    let e = g.entry(from).or_default().entry(to);
    let e = e.or_insert_with(|| (line, label.to_string()));
    if line < e.0 {
        *e = (line, label.to_string());
    }
}

/// The graph between top-level modules: `src/foo.rs` and every file under
/// `src/foo/` are the node `foo` (`src/lib.rs` is `lib`), as the crate's
/// layering sees them.
fn top_level(g: &Graph) -> Graph {
    let top = |name: &str| {
        let below_src = name.split('/').nth(1).unwrap_or(name);
        below_src.trim_end_matches(".rs").to_string()
    };
    let mut out = Graph::new();
    for (from, edges) in g {
        for (to, (line, label)) in edges {
            let (a, b) = (top(from), top(to));
            if a != b {
                add_edge(&mut out, a, b, *line, label);
            }
        }
    }
    out
}

/// Reads one file's modules, definitions, `use`s and paths into a `Model`.
struct Collector<'m> {
    model: &'m mut Model,
    /// The module being read, innermost last.
    stack: Vec<ModId>,
    /// Files of `mod x;` declarations still to read.
    queue: &'m mut Vec<(PathBuf, ModId)>,
}

/// A path's segments as strings (`r#type` as `type`).
fn segments(p: &syn::Path) -> Vec<String> {
    p.segments
        .iter()
        .map(|s| s.ident.unraw().to_string())
        .collect()
}

/// The line a path starts on.
fn line_of(p: &syn::Path) -> usize {
    p.segments
        .first()
        .map_or(0, |s| s.ident.span().start().line)
}

/// The name and namespace an item defines, other than modules and macros.
fn defined(item: &syn::Item) -> Option<(&syn::Ident, Ns)> {
    use syn::Item;
    match item {
        Item::Const(i) => Some((&i.ident, Ns::Value)),
        Item::Fn(i) => Some((&i.sig.ident, Ns::Value)),
        Item::Static(i) => Some((&i.ident, Ns::Value)),
        Item::Enum(i) => Some((&i.ident, Ns::Type)),
        Item::Struct(i) => Some((&i.ident, Ns::Type)),
        Item::Union(i) => Some((&i.ident, Ns::Type)),
        Item::Trait(i) => Some((&i.ident, Ns::Type)),
        Item::TraitAlias(i) => Some((&i.ident, Ns::Type)),
        Item::Type(i) => Some((&i.ident, Ns::Type)),
        _ => None,
    }
}

/// Whether `toks[j..]` starts with `::`.
fn colons_at(toks: &[TokenTree], j: usize) -> bool {
    matches!(toks.get(j), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
        && matches!(toks.get(j + 1), Some(TokenTree::Punct(p)) if p.as_char() == ':')
}

/// The punctuation character at `toks[j]`, if it is one.
fn punct_at(toks: &[TokenTree], j: usize) -> Option<char> {
    match toks.get(j) {
        Some(TokenTree::Punct(p)) => Some(p.as_char()),
        _ => None,
    }
}

/// The path `ident (:: ident)*` starting at identifier `toks[i]`, and the
/// index after it.
fn path_run(toks: &[TokenTree], i: usize) -> (Vec<String>, usize) {
    let mut segs = Vec::new();
    let mut j = i;
    while let Some(TokenTree::Ident(id)) = toks.get(j) {
        segs.push(id.unraw().to_string());
        if !colons_at(toks, j + 1) {
            return (segs, j + 1);
        }
        j += 3;
    }
    // `a::` followed by something else (`a::<T>`): the path is what came before.
    (segs, j - 2)
}

/// The identifiers a format string captures: `x` in `"{x}"` and `"{x:?}"`.
fn format_captures(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(k) = rest.find('{') {
        rest = &rest[k + 1..];
        if let Some(r) = rest.strip_prefix('{') {
            rest = r;
            continue;
        }
        let end = rest.find(['}', ':']).unwrap_or(rest.len());
        let name = rest[..end].trim();
        let mut chars = name.chars();
        let starts = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
        if starts && name != "_" && chars.all(|c| c.is_alphanumeric() || c == '_') {
            out.push(name.to_string());
        }
    }
    out
}

impl Collector<'_> {
    /// The module being read.
    fn here(&self) -> ModId {
        *self.stack.last().unwrap()
    }

    /// Records that module `m` defines `name` as `target`.
    fn define(&mut self, m: ModId, name: &str, target: Target) {
        if name != "_" {
            let defs = self.model.modules[m].defs.entry(name.to_string());
            defs.or_default().push(target);
        }
    }

    /// Records a path written in the module being read.
    fn refer(&mut self, path: Vec<String>, line: usize, want: Want) {
        let module = self.here();
        self.model.refs.push(Ref {
            module,
            path,
            line,
            want,
        });
    }

    /// Records the leaves of a `use` tree under `prefix`.
    fn use_tree(&mut self, tree: &syn::UseTree, prefix: &[String]) {
        match tree {
            syn::UseTree::Path(p) => {
                let mut next = prefix.to_vec();
                next.push(p.ident.unraw().to_string());
                self.use_tree(&p.tree, &next);
            }
            syn::UseTree::Name(n) => self.import(prefix, &n.ident, &n.ident),
            syn::UseTree::Rename(r) => self.import(prefix, &r.ident, &r.rename),
            syn::UseTree::Glob(g) => {
                let line = g.star_token.spans[0].start().line;
                self.refer(prefix.to_vec(), line, Want::Prefix);
                let path = prefix.to_vec();
                let here = self.here();
                self.model.modules[here].globs.push(Import { path, line });
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(t, prefix);
                }
            }
        }
    }

    /// Records `use prefix::ident as name;` (`ident` may be `self`).
    fn import(&mut self, prefix: &[String], ident: &syn::Ident, name: &syn::Ident) {
        let line = ident.span().start().line;
        let mut path = prefix.to_vec();
        let mut bound = name.unraw().to_string();
        if ident == "self" {
            if ident == name {
                bound = prefix.last().cloned().unwrap_or_default();
            }
        } else {
            path.push(ident.unraw().to_string());
        }
        if path.is_empty() {
            return;
        }
        self.refer(path.clone(), line, Want::Any);
        if bound != "_" {
            let here = self.here();
            let imports = self.model.modules[here].imports.entry(bound);
            imports.or_default().push(Import { path, line });
        }
    }

    /// Reads the paths in a macro's or an attribute's tokens.
    fn scan(&mut self, tokens: TokenStream, in_attr: bool) {
        let toks: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < toks.len() {
            i = match &toks[i] {
                TokenTree::Group(g) => {
                    self.scan(g.stream(), in_attr);
                    i + 1
                }
                TokenTree::Literal(l) => {
                    self.literal(&toks, i, l, in_attr);
                    i + 1
                }
                TokenTree::Ident(_) => self.token_path(&toks, i, in_attr),
                TokenTree::Punct(_) => i + 1,
            };
        }
    }

    /// Records the path starting at identifier `toks[i]` unless it is a
    /// field, a method, a lifetime, a macro variable or the tail of a longer
    /// path; returns the index after it.
    fn token_path(&mut self, toks: &[TokenTree], i: usize, in_attr: bool) -> usize {
        let (mut segs, end) = path_run(toks, i);
        let prev = i.checked_sub(1).and_then(|k| punct_at(toks, k));
        if prev == Some('$') {
            if segs[0] != "crate" {
                return end;
            }
            segs[0] = "$crate".into();
        }
        let tail = i >= 2 && colons_at(toks, i - 2);
        if tail || matches!(prev, Some('.' | '\'')) {
            return end;
        }
        let want = match punct_at(toks, end) {
            Some('!') => Want::Macro,
            _ => Want::Item,
        };
        // In attributes, a lone word is a key (`long`, `default`) unless it
        // is a value (`value_parser = parse`).
        if in_attr && segs.len() == 1 && prev != Some('=') && want != Want::Macro {
            return end;
        }
        let TokenTree::Ident(first) = &toks[i] else {
            return end;
        };
        self.refer(segs, first.span().start().line, want);
        end
    }

    /// Records the paths a string literal holds: format captures in a macro,
    /// `key = "path"` in an attribute.
    fn literal(&mut self, toks: &[TokenTree], i: usize, l: &Literal, in_attr: bool) {
        let tokens = TokenStream::from(TokenTree::Literal(l.clone()));
        let Ok(s) = syn::parse2::<syn::LitStr>(tokens) else {
            return;
        };
        let line = l.span().start().line;
        if !in_attr {
            for name in format_captures(&s.value()) {
                self.refer(vec![name], line, Want::Item);
            }
            return;
        }
        let keyed = i >= 2
            && punct_at(toks, i - 1) == Some('=')
            && matches!(&toks[i - 2], TokenTree::Ident(k) if PATH_KEYS.contains(&k.to_string().as_str()));
        if let (true, Ok(p)) = (keyed, s.parse::<syn::Path>())
            && p.leading_colon.is_none()
        {
            self.refer(segments(&p), line, Want::Any);
        }
    }

    /// The file of `mod name;` declared in module `parent`.
    fn child_file(&self, parent: ModId, m: &syn::ItemMod) -> PathBuf {
        let here = &self.model.modules[parent];
        let name = m.ident.unraw().to_string();
        assert!(
            !m.attrs.iter().any(|a| a.path().is_ident("path")),
            "`#[path] mod {name};` in {}: not supported",
            self.model.name(here.file)
        );
        let candidates = [
            here.dir.join(format!("{name}.rs")),
            here.dir.join(&name).join("mod.rs"),
        ];
        candidates
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("`mod {name};` in {}: no file", self.model.name(here.file)))
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if let Some((ident, ns)) = defined(item) {
            let here = self.here();
            self.define(here, &ident.unraw().to_string(), Target::Item(here, ns));
        }
        visit::visit_item(self, item);
    }

    fn visit_foreign_item(&mut self, item: &'ast syn::ForeignItem) {
        let def = match item {
            syn::ForeignItem::Fn(f) => Some((&f.sig.ident, Ns::Value)),
            syn::ForeignItem::Static(s) => Some((&s.ident, Ns::Value)),
            syn::ForeignItem::Type(t) => Some((&t.ident, Ns::Type)),
            _ => None,
        };
        if let Some((ident, ns)) = def {
            let here = self.here();
            self.define(here, &ident.unraw().to_string(), Target::Item(here, ns));
        }
        visit::visit_foreign_item(self, item);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let parent = self.here();
        let name = m.ident.unraw().to_string();
        let dir = self.model.modules[parent].dir.join(&name);
        for attr in &m.attrs {
            self.visit_attribute(attr);
        }
        match &m.content {
            Some((_, items)) => {
                let file = self.model.modules[parent].file;
                let id = self.model.add_module(Some(parent), file, dir);
                self.define(parent, &name, Target::Module(id));
                self.stack.push(id);
                for item in items {
                    self.visit_item(item);
                }
                self.stack.pop();
            }
            None => {
                let path = self.child_file(parent, m);
                let file = self.model.file_id(&path);
                let id = self.model.add_module(Some(parent), file, dir);
                self.define(parent, &name, Target::Module(id));
                self.queue.push((path, id));
            }
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if u.leading_colon.is_none() {
            self.use_tree(&u.tree, &[]);
        }
    }

    fn visit_item_macro(&mut self, m: &'ast syn::ItemMacro) {
        if let Some(ident) = &m.ident {
            let here = self.here();
            let name = ident.unraw().to_string();
            self.model.modules[here].macros.insert(name.clone());
            if m.attrs.iter().any(|a| a.path().is_ident("macro_export")) {
                let root = self.model.modules[here].root;
                self.define(root, &name, Target::Item(here, Ns::Macro));
            }
        }
        self.visit_macro(&m.mac);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if m.path.leading_colon.is_none() {
            self.refer(segments(&m.path), line_of(&m.path), Want::Macro);
        }
        self.scan(m.tokens.clone(), false);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() {
            self.refer(segments(p), line_of(p), Want::Item);
        }
        visit::visit_path(self, p);
    }

    fn visit_attribute(&mut self, a: &'ast syn::Attribute) {
        match &a.meta {
            syn::Meta::List(l) => self.scan(l.tokens.clone(), true),
            syn::Meta::NameValue(nv) if !a.path().is_ident("doc") => self.visit_expr(&nv.value),
            _ => {}
        }
    }

    /// `pub(crate)`, `pub(super)`, `pub(in path)` name no import.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
}

/// For each node, the nodes it reaches.
fn reach(g: &Graph) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut out = BTreeMap::new();
    for start in g.keys() {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.as_str()];
        while let Some(n) = todo.pop() {
            for next in g.get(n).into_iter().flat_map(|m| m.keys()) {
                if seen.insert(next.as_str()) {
                    todo.push(next);
                }
            }
        }
        out.insert(start.as_str(), seen);
    }
    out
}

/// Every elementary cycle (at most `limit`), each from its alphabetically
/// first node.
fn cycles(g: &Graph, limit: usize) -> Vec<Vec<String>> {
    let reach = reach(g);
    let mut out = Vec::new();
    for start in g.keys() {
        if reach[start.as_str()].contains(start.as_str()) {
            extend(g, &reach, &mut vec![start.clone()], &mut out, limit);
        }
    }
    out
}

/// Extends `path` (from its first node, the cycle's first) by every edge
/// that can still close a cycle.
fn extend(
    g: &Graph,
    reach: &BTreeMap<&str, BTreeSet<&str>>,
    path: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
    limit: usize,
) {
    let start = path[0].clone();
    let last = path.last().unwrap().clone();
    for next in g.get(&last).into_iter().flat_map(|m| m.keys()) {
        if out.len() >= limit {
            return;
        }
        if *next == start {
            out.push(path.clone());
        } else if *next > start
            && !path.contains(next)
            && reach
                .get(next.as_str())
                .is_some_and(|r| r.contains(start.as_str()))
        {
            path.push(next.clone());
            extend(g, reach, path, out, limit);
            path.pop();
        }
    }
}

/// The circles of graph `g` (each from its alphabetically first node) and
/// a description with every edge's place.
fn circles(g: &Graph) -> (Vec<Vec<String>>, String) {
    let found = cycles(g, MAX_CYCLES);
    let mut text = String::new();
    for c in &found {
        let mut chain = c.clone();
        chain.push(c[0].clone());
        text.push_str(&format!("  {}\n", chain.join(" -> ")));
        for w in chain.windows(2) {
            text.push_str(&format!("      {}\n", g[&w[0]][&w[1]].1));
        }
    }
    (found, text)
}

/// Reads the fixture crate `tests/fixtures/module_graph/<name>`.
fn fixture(name: &str) -> Model {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/module_graph")
        .join(name);
    let model = Model::load(&dir, name);
    assert_eq!(model.unreached(), Vec::<String>::new(), "{name}");
    model
}

/// Asserts the fixture `name` has exactly the circle through `files` (in
/// order, from the alphabetically first).
fn assert_one_circle(name: &str, files: &[&str]) {
    let (found, text) = circles(&fixture(name).graph());
    assert_eq!(found, [files], "fixture {name}:\n{text}");
}

/// The description of the edge `from -> to`, if the crate has it.
fn edge(model: &Model, from: &str, to: &str) -> Option<String> {
    model.graph().get(from)?.get(to).map(|e| e.1.clone())
}

#[test]
fn src_has_no_import_circle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = Model::load(dir, "pooling_lab");
    assert_eq!(model.unreached(), Vec::<String>::new());
    assert!(
        model.files.len() > 50,
        "too few files: {}",
        model.files.len()
    );
    let g = model.graph();
    let edges: usize = g.values().map(BTreeMap::len).sum();
    assert!(edges > 100, "too few edges: {edges}");
    // A `super::` path of real code is seen (artifact.rs reads guest files).
    let reads = edge(&model, "src/guest/artifact.rs", "src/guest/wasm_file.rs");
    assert!(reads.is_some(), "artifact.rs -> wasm_file.rs is missing");
    let (found, text) = circles(&g);
    let (tops, top_text) = circles(&top_level(&g));
    assert!(
        found.is_empty() && tops.is_empty(),
        "{} import circle(s) between files (each edge: the file:line that makes it):\n{text}\n\
         {} between top-level modules (each edge: the first place that makes it):\n{top_text}",
        found.len(),
        tops.len()
    );
}

#[test]
fn finds_a_circle_of_two_files() {
    assert_one_circle("two_files", &["src/a.rs", "src/b.rs"]);
}

#[test]
fn finds_a_circle_of_three_modules() {
    assert_one_circle("three_modules", &["src/a.rs", "src/b/mod.rs", "src/c.rs"]);
}

#[test]
fn finds_a_circle_through_a_reexport() {
    assert_one_circle(
        "reexport",
        &["src/guest/artifact.rs", "src/guest/wasm_file.rs"],
    );
    let model = fixture("reexport");
    let (user, origin) = ("src/guest/wasm_file.rs", "src/guest/fetched.rs");
    assert_eq!(
        edge(&model, user, origin).as_deref(),
        Some(
            "src/guest/wasm_file.rs:5 super::artifact::fetched_by (use at src/guest/artifact.rs:3)"
        )
    );
}

#[test]
fn finds_a_circle_through_a_glob() {
    assert_one_circle("glob", &["src/a.rs", "src/b.rs"]);
    // c.rs's `helper` is b.rs's, through a.rs's glob re-export.
    assert_eq!(
        edge(&fixture("glob"), "src/c.rs", "src/b.rs").as_deref(),
        Some("src/c.rs:7 helper (use at src/a.rs:3)")
    );
}

#[test]
fn finds_a_circle_between_parent_and_child() {
    assert_one_circle("parent_child", &["src/outer/child.rs", "src/outer/mod.rs"]);
}

#[test]
fn finds_a_circle_through_the_crate_root() {
    assert_one_circle("crate_root", &["src/a.rs", "src/lib.rs"]);
}

#[test]
fn finds_a_circle_through_macros() {
    assert_one_circle("macros", &["src/a.rs", "src/b.rs", "src/c.rs"]);
    // A bare `macro_rules!` name in textual scope is the root's.
    assert_eq!(
        edge(&fixture("macros"), "src/a.rs", "src/lib.rs").as_deref(),
        Some("src/a.rs:5 twice")
    );
}

#[test]
fn finds_a_circle_among_a_binarys_files() {
    assert_one_circle("binary", &["src/cli.rs", "src/commands.rs"]);
    // The library's name, from the binary, is the library's root.
    assert_eq!(
        edge(&fixture("binary"), "src/commands.rs", "src/util.rs").as_deref(),
        Some("src/commands.rs:10 binary::util::f")
    );
}

#[test]
fn finds_a_circle_between_top_level_modules() {
    // a/x.rs -> b/z.rs -> a/y.rs: no circle between files, one between a and b.
    let g = fixture("top_level").graph();
    let (files, text) = circles(&g);
    assert!(files.is_empty(), "{text}");
    let (tops, text) = circles(&top_level(&g));
    assert_eq!(tops, [["a", "b"]], "{text}");
}

#[test]
fn finds_no_circle_in_comments_literals_or_one_way_edges() {
    let g = fixture("clean").graph();
    let (found, text) = circles(&g);
    assert!(found.is_empty(), "{text}");
    let (tops, text) = circles(&top_level(&g));
    assert!(tops.is_empty(), "{text}");
}

#[test]
fn format_captures_are_names() {
    assert_eq!(
        format_captures("{a} {{b}} {c:?} {0} {} {d_1:>8}"),
        ["a", "c", "d_1"]
    );
}
