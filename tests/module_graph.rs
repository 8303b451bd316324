//! No import circle among the crate's modules, of any length.
//!
//! Reads every `src/**/*.rs` file (comments and string literals skipped),
//! collects the paths each one names (`use` trees, `pub use` re-exports,
//! inline paths such as `crate::a::b::f(..)`, `super::` / `self::`-relative
//! and child-module-relative paths, and names brought in by `use` then used
//! as a path's head) and builds two graphs:
//!
//! 1. top-level modules: `src/foo.rs` and `src/foo/**` are the node `foo`;
//!    the crate and binary roots (`lib.rs`, `main.rs`, `cli.rs`,
//!    `commands.rs`) are no node;
//! 2. file modules: each `.rs` file is a node, and a path goes to the
//!    deepest file module that exists on it; a module file and the files of
//!    its own submodules (`guest/mod.rs` and `guest/plan.rs`) are one unit,
//!    so only edges between files neither of which contains the other count.
//!
//! A path through a `pub use` re-export goes on to the module that defines
//! the item (the re-exporting `use` is itself an edge of the file it is in).
//! Inline `mod x { .. }` blocks (tests) belong to their file. The test fails
//! listing every cycle, each edge with the file and line that makes it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files that are the crate's or the binary's root, not modules of the graph.
const ROOTS: &[&str] = &["lib.rs", "main.rs", "cli.rs", "commands.rs"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path, // `::`
    Punct(char),
}

/// Tokens of Rust source with their line, comments and literals left out.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    let skip_to = |i: &mut usize, line: &mut usize, end: usize| {
        for &c in &b[*i..end.min(b.len())] {
            if c == '\n' {
                *line += 1;
            }
        }
        *i = end.min(b.len());
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied().unwrap_or('\0');
        if c == '/' && next == '/' {
            let end = (i..b.len()).find(|&j| b[j] == '\n').unwrap_or(b.len());
            skip_to(&mut i, &mut line, end);
        } else if c == '/' && next == '*' {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j] == '/' && b.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == '*' && b.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            skip_to(&mut i, &mut line, j);
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            skip_to(&mut i, &mut line, j + 1);
        } else if (c == 'r' || c == 'b')
            && raw_string_start(&b, i).is_some()
            && !b.get(i.wrapping_sub(1)).is_some_and(|p| ident_char(*p))
        {
            let (hashes, body) = raw_string_start(&b, i).unwrap();
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let end = (body..b.len())
                .find(|&j| b[j..].starts_with(&close))
                .map_or(b.len(), |j| j + close.len());
            skip_to(&mut i, &mut line, end);
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a).
            if next == '\\' {
                let end = (i + 2..b.len()).find(|&j| b[j] == '\'').unwrap_or(b.len());
                skip_to(&mut i, &mut line, end + 1);
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            // `r#ident` is the identifier.
            out.push((Tok::Ident(word), line));
        } else if c.is_ascii_digit() {
            while i < b.len()
                && (ident_char(b[i]) || b[i] == '.')
                && !(b[i] == '.' && b.get(i + 1) == Some(&'.'))
            {
                i += 1;
            }
        } else if c == ':' && next == ':' {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            if c == '\n' {
                line += 1;
            } else if !c.is_whitespace() {
                out.push((Tok::Punct(c), line));
            }
            i += 1;
        }
    }
    out
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `r"`, `r#"`, `br"`, `b"`: the number of `#` and where the body starts.
fn raw_string_start(b: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if b[j] == 'b' {
        j += 1;
        if b.get(j) == Some(&'"') {
            return Some((0, j + 1));
        }
    }
    if b.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while b.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (b.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

/// One path a file names: its segments as written, the module it is written
/// in (for `self`/`super`), and its line.
#[derive(Debug, Clone)]
struct Named {
    segs: Vec<String>,
    line: usize,
    /// Written in a `pub use` (a re-export) under this name.
    reexport_as: Option<String>,
    /// Written in a `use` (private) under this name.
    import_as: Option<String>,
    /// The inline modules (`mod tests { .. }`) it is written in.
    inline: Vec<String>,
}

/// One `.rs` file as a module.
#[derive(Debug, Default)]
struct File {
    rel: String,
    /// Its module path below the crate root (`["settings", "keys"]`).
    module: Vec<String>,
    /// Child modules it declares with `mod x;`.
    children: BTreeSet<String>,
    named: Vec<Named>,
}

/// Expands a `use` tree starting at token `i` (after `use`) into paths.
fn use_tree(
    t: &[(Tok, usize)],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut segs = prefix;
    loop {
        match t.get(*i).map(|x| &x.0) {
            Some(Tok::Ident(w)) => {
                segs.push(w.clone());
                *i += 1;
            }
            Some(Tok::Path) => *i += 1,
            Some(Tok::Punct('{')) => {
                *i += 1;
                loop {
                    match t.get(*i).map(|x| &x.0) {
                        Some(Tok::Punct('}')) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Punct(',')) => *i += 1,
                        None => return,
                        _ => use_tree(t, i, segs.clone(), out),
                    }
                }
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push((segs, Some("*".into())));
                return;
            }
            _ => {
                // End of this leaf: `as name`, `self`.
                if segs.len() >= 2 && segs[segs.len() - 2] == "as" {
                    let alias = segs.pop().unwrap();
                    segs.pop();
                    if segs.last().is_some_and(|s| s == "self") {
                        segs.pop();
                    }
                    out.push((segs, Some(alias)));
                } else {
                    if segs.last().is_some_and(|s| s == "self") {
                        segs.pop();
                    }
                    let name = segs.last().cloned();
                    out.push((segs, name));
                }
                return;
            }
        }
    }
}

fn read_file(src_dir: &Path, path: &Path) -> File {
    let rel = path.strip_prefix(src_dir).unwrap();
    let mut module: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if module.last().is_some_and(|s| s == "mod") {
        module.pop();
    }
    let text = std::fs::read_to_string(path).unwrap();
    let t = tokens(&text);
    let mut f = File {
        rel: format!("src/{}", rel.display()),
        module,
        ..Default::default()
    };
    let mut i = 0;
    let mut depth = 0usize;
    let mut inline: Vec<(String, usize)> = Vec::new();
    while i < t.len() {
        let word = match &t[i].0 {
            Tok::Ident(w) => w.as_str(),
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
                continue;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let in_inline: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
        let line = t[i].1;
        let prev_is_path = i > 0 && t[i - 1].0 == Tok::Path;
        if word == "mod"
            && let (Some(Tok::Ident(name)), Some(Tok::Punct(';'))) =
                (t.get(i + 1).map(|x| &x.0), t.get(i + 2).map(|x| &x.0))
        {
            if inline.is_empty() {
                f.children.insert(name.clone());
            }
            i += 3;
            continue;
        }
        if word == "mod"
            && let (Some(Tok::Ident(name)), Some(Tok::Punct('{'))) =
                (t.get(i + 1).map(|x| &x.0), t.get(i + 2).map(|x| &x.0))
        {
            inline.push((name.clone(), depth));
            depth += 1;
            i += 3;
            continue;
        }
        if word == "use" && !prev_is_path {
            // `pub use`, `pub(crate) use`, `pub(super) use`, ...
            let public = (1..=5).any(|k| {
                i >= k
                    && t[i - k].0 == Tok::Ident("pub".into())
                    && t[i - k + 1..i]
                        .iter()
                        .all(|x| matches!(&x.0, Tok::Punct('(' | ')') | Tok::Ident(_)))
                    && !t[i - k + 1..i]
                        .iter()
                        .any(|x| matches!(&x.0, Tok::Punct(';' | '}' | '{')))
            });
            i += 1;
            let mut leaves = Vec::new();
            use_tree(&t, &mut i, Vec::new(), &mut leaves);
            for (segs, name) in leaves {
                if segs.is_empty() {
                    continue;
                }
                f.named.push(Named {
                    segs,
                    line,
                    reexport_as: if public && in_inline.is_empty() {
                        name.clone()
                    } else {
                        None
                    },
                    import_as: if public { None } else { name },
                    inline: in_inline.clone(),
                });
            }
            continue;
        }
        if !prev_is_path && t.get(i + 1).map(|x| &x.0) == Some(&Tok::Path) {
            // An inline path: `a::b::c`.
            let mut segs = vec![word.to_string()];
            let mut j = i + 1;
            while t.get(j).map(|x| &x.0) == Some(&Tok::Path) {
                match t.get(j + 1).map(|x| &x.0) {
                    Some(Tok::Ident(w)) => {
                        segs.push(w.clone());
                        j += 2;
                    }
                    _ => break,
                }
            }
            f.named.push(Named {
                segs,
                line,
                reexport_as: None,
                import_as: None,
                inline: in_inline,
            });
            i = j;
            continue;
        }
        i += 1;
    }
    f
}

struct Crate {
    files: Vec<File>,
    by_module: BTreeMap<Vec<String>, usize>,
}

impl Crate {
    /// The absolute module path `segs` (as written in file `f`) stands for,
    /// or `None` when it leaves the crate (std, a dependency, a local item).
    fn absolute(&self, f: usize, n: &Named, depth: usize) -> Option<Vec<String>> {
        let file = &self.files[f];
        let segs = &n.segs[..];
        let here: Vec<String> = file.module.iter().chain(&n.inline).cloned().collect();
        let head = segs.first()?;
        let mut base: Vec<String>;
        let rest: &[String];
        match head.as_str() {
            "crate" => {
                base = Vec::new();
                rest = &segs[1..];
            }
            "self" => {
                base = here;
                rest = &segs[1..];
            }
            "super" => {
                base = here;
                let mut k = 0;
                while segs.get(k).is_some_and(|s| s == "super") {
                    base.pop()?;
                    k += 1;
                }
                rest = &segs[k..];
            }
            "pooling_lab" => {
                base = Vec::new();
                rest = &segs[1..];
            }
            h if n.inline.is_empty() && file.children.contains(h) => {
                base = file.module.clone();
                rest = segs;
            }
            h if depth < 8 => {
                // A name this file imported with `use`.
                let import = file.named.iter().find(|m| {
                    m.inline == n.inline
                        && (m.import_as.as_deref() == Some(h)
                            || m.reexport_as.as_deref() == Some(h))
                })?;
                if import.segs.len() == 1 && import.segs[0] == h {
                    return None;
                }
                let mut full = self.absolute(f, import, depth + 1)?;
                full.extend(segs[1..].iter().cloned());
                return Some(full);
            }
            _ => return None,
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what the absolute path `abs` names, following
    /// re-exports.
    fn target(&self, abs: &[String], depth: usize) -> Option<usize> {
        let (len, &m) = (0..=abs.len())
            .rev()
            .find_map(|k| self.by_module.get(&abs[..k]).map(|m| (k, m)))?;
        let rest = &abs[len..];
        if let (Some(name), true) = (rest.first(), depth < 8) {
            for n in &self.files[m].named {
                if n.reexport_as.as_deref() == Some(name.as_str())
                    && let Some(mut to) = self.absolute(m, n, 0)
                {
                    to.extend(rest[1..].iter().cloned());
                    if let Some(t) = self.target(&to, depth + 1) {
                        return Some(t);
                    }
                }
            }
        }
        Some(m)
    }
}

/// Edges `from -> to` with the first place (`file:line`) that makes each.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn graphs() -> (Graph, Graph) {
    let src_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    let mut stack = vec![src_dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    let files: Vec<File> = paths.iter().map(|p| read_file(&src_dir, p)).collect();
    let is_root = |f: &File| {
        f.rel.matches('/').count() == 1 && ROOTS.iter().any(|r| f.rel.ends_with(&format!("/{r}")))
    };
    let by_module = files
        .iter()
        .enumerate()
        .filter(|(_, f)| !is_root(f))
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let krate = Crate { files, by_module };
    let (mut top, mut per_file) = (Graph::new(), Graph::new());
    for (i, f) in krate.files.iter().enumerate() {
        if is_root(f) {
            continue;
        }
        for n in &f.named {
            let Some(abs) = krate.absolute(i, n, 0) else {
                continue;
            };
            let Some(t) = krate.target(&abs, 0) else {
                continue;
            };
            let to = &krate.files[t];
            // A module file and its own submodules' files are one unit here:
            // the parent declares, re-exports and drives its children, and
            // children use their parent's items.
            if t == i || to.module.starts_with(&f.module) || f.module.starts_with(&to.module) {
                continue;
            }
            let at = format!("{}:{} ({})", f.rel, n.line, n.segs.join("::"));
            per_file
                .entry(f.rel.clone())
                .or_default()
                .entry(to.rel.clone())
                .or_insert_with(|| at.clone());
            let (a, b) = (&f.module[0], &to.module[0]);
            if a != b {
                top.entry(a.clone())
                    .or_default()
                    .entry(b.clone())
                    .or_insert(at);
            }
        }
    }
    (top, per_file)
}

/// Every elementary cycle, each as its nodes from its smallest one (at most
/// `limit` of them).
fn cycles(g: &Graph, limit: usize) -> Vec<Vec<String>> {
    let nodes: Vec<&String> = g
        .keys()
        .chain(g.values().flat_map(|m| m.keys()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for (si, start) in nodes.iter().enumerate() {
        // Cycles whose smallest node is `start`.
        let mut path = vec![(*start).clone()];
        fn dfs(
            g: &Graph,
            allowed: &BTreeSet<&String>,
            start: &String,
            path: &mut Vec<String>,
            out: &mut Vec<Vec<String>>,
            limit: usize,
        ) {
            let Some(next) = g.get(path.last().unwrap()) else {
                return;
            };
            for n in next.keys() {
                if out.len() >= limit {
                    return;
                }
                if n == start {
                    out.push(path.clone());
                } else if allowed.contains(n) && !path.contains(n) {
                    path.push(n.clone());
                    dfs(g, allowed, start, path, out, limit);
                    path.pop();
                }
            }
        }
        let allowed: BTreeSet<&String> = nodes[si + 1..].iter().copied().collect();
        dfs(g, &allowed, start, &mut path, &mut out, limit);
    }
    out
}

fn describe(g: &Graph, found: &[Vec<String>]) -> String {
    let mut s = String::new();
    for c in found {
        let mut chain = c.clone();
        chain.push(c[0].clone());
        s.push_str(&format!("  {}\n", chain.join(" -> ")));
        for w in chain.windows(2) {
            s.push_str(&format!(
                "      {} -> {}: {}\n",
                w[0], w[1], g[&w[0]][&w[1]]
            ));
        }
    }
    s
}

#[test]
fn no_import_cycles_between_modules() {
    let (top, per_file) = graphs();
    assert!(top.len() > 5, "the graph found too few modules: {top:?}");
    let (a, b) = (cycles(&top, 500), cycles(&per_file, 500));
    assert!(
        a.is_empty() && b.is_empty(),
        "import cycles between top-level modules ({}):\n{}\nimport cycles between files ({}):\n{}",
        a.len(),
        describe(&top, &a),
        b.len(),
        describe(&per_file, &b)
    );
}

#[test]
fn the_reader_sees_paths_and_not_comments_or_strings() {
    let src = "use crate::a::{b::{self, C}, d as e};\n// crate::x::y\nlet s = \"crate::q::r\";\nlet r = r#\"crate::z\"#;\nsuper::f::g();\nlet c = '\"'; crate::h::i();\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.rs");
    std::fs::write(&path, src).unwrap();
    let f = read_file(dir.path(), &path);
    let named: Vec<String> = f.named.iter().map(|n| n.segs.join("::")).collect();
    assert_eq!(
        named,
        [
            "crate::a::b",
            "crate::a::b::C",
            "crate::a::d",
            "super::f::g",
            "crate::h::i"
        ]
    );
    assert_eq!(f.named[2].import_as.as_deref(), Some("e"));
    assert_eq!(f.named[4].line, 6);
}
