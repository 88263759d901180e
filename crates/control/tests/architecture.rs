//! The shape of the code, checked (see `docs/design/control-tree.md`): no import cycle between the modules of any
//! crate of the workspace; `control`'s parts import only what is below them; an action file never imports another
//! action file; `ARCHITECTURE.md` names every module.
//!
//! The graph is read from the sources with `syn`: every `use` tree and every qualified path of a module (its
//! `#[cfg(test)]` items left out) is an edge to the deepest module the path names. A module may use what its
//! ancestors define (the crate root is the facade that declares and wires every part): edges to an ancestor are not
//! counted in cycles, but they are in the layering of `control`.
//!
//! No function outside tests is longer than [`LONGEST_FUNCTION`] lines.
//!
//! While the redesign lands, `KNOWN` lists the violations not yet removed. It may only shrink: a violation not on it
//! fails, and so does an entry that no longer occurs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use petgraph::graphmap::DiGraphMap;
use syn::visit::Visit;

/// The most lines a function outside tests may take, its signature and closing brace included.
const LONGEST_FUNCTION: usize = 120;

/// Violations not yet removed (issue 30 empties this list).
const KNOWN: &[&str] = &[];

type ModPath = Vec<String>;

struct Crate {
    name: &'static str,
    /// Module path → its file.
    modules: BTreeMap<ModPath, PathBuf>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crates() -> Vec<Crate> {
    ["wire", "engine", "control", "cacheplane"]
        .into_iter()
        .map(|name| {
            let src = workspace().join("crates").join(name).join("src");
            let mut modules = BTreeMap::new();
            walk(&src, &src, &mut modules);
            Crate { name, modules }
        })
        .collect()
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<ModPath, PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(root, &p, out);
            continue;
        }
        if p.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let rel = p.strip_prefix(root).expect("under src");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let file = parts.pop().expect("file name");
        match file.as_str() {
            "lib.rs" | "main.rs" if parts.is_empty() => {}
            "mod.rs" => {}
            f => parts.push(f.trim_end_matches(".rs").to_string()),
        }
        out.insert(parts, p);
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .map(|m| m.path().is_ident("test"))
                .unwrap_or(false)
    })
}

/// Every path a module's code names, as segments (use trees expanded).
#[derive(Default)]
struct Paths(Vec<Vec<String>>);

impl Paths {
    fn use_tree(&mut self, prefix: &mut Vec<String>, t: &syn::UseTree) {
        match t {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut v = prefix.clone();
                if n.ident != "self" {
                    v.push(n.ident.to_string());
                }
                self.0.push(v);
            }
            syn::UseTree::Rename(r) => {
                let mut v = prefix.clone();
                v.push(r.ident.to_string());
                self.0.push(v);
            }
            syn::UseTree::Glob(_) => self.0.push(prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match i {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Impl(m) => &m.attrs,
            _ => &[],
        };
        if is_test_only(attrs) {
            return;
        }
        syn::visit::visit_item(self, i);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    // `pub(crate)` and `pub(in path)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.0
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // Paths inside macro calls (`format!`, `matches!`, `vec!`…): read them as expressions where they parse.
        if let Ok(args) = m.parse_body_with(
            syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated,
        ) {
            for e in &args {
                self.visit_expr(e);
            }
        }
        syn::visit::visit_macro(self, m);
    }
}

/// The module `path` (named inside module `from`) leads to: the deepest module of the crate its segments name.
fn resolve(c: &Crate, from: &ModPath, path: &[String]) -> Option<ModPath> {
    let (mut at, rest): (ModPath, &[String]) = match path.first().map(String::as_str) {
        Some("crate") => (vec![], &path[1..]),
        Some("self") => (from.clone(), &path[1..]),
        Some("super") => {
            let mut at = from.clone();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                at.pop();
                rest = &rest[1..];
            }
            (at, rest)
        }
        Some(first) => {
            let mut child = from.clone();
            child.push(first.to_string());
            if !c.modules.contains_key(&child) {
                return None;
            }
            (from.clone(), path)
        }
        None => return None,
    };
    for seg in rest {
        let mut next = at.clone();
        next.push(seg.clone());
        if c.modules.contains_key(&next) {
            at = next;
        } else {
            break;
        }
    }
    Some(at)
}

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".to_string()
    } else {
        m.join("::")
    }
}

/// Every edge (from, to) of a crate's module graph, to != from.
fn edges(c: &Crate) -> BTreeSet<(ModPath, ModPath)> {
    let mut out = BTreeSet::new();
    for (m, file) in &c.modules {
        let text = std::fs::read_to_string(file).expect("read source");
        let ast = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        if is_test_only(&ast.attrs) {
            continue;
        }
        let mut paths = Paths::default();
        for item in &ast.items {
            paths.visit_item(item);
        }
        for p in &paths.0 {
            if let Some(to) = resolve(c, m, p) {
                if &to != m {
                    out.insert((m.clone(), to));
                }
            }
        }
    }
    out
}

fn is_ancestor(a: &ModPath, of: &ModPath) -> bool {
    a.len() < of.len() && of.starts_with(a)
}

fn cycles(c: &Crate, edges: &BTreeSet<(ModPath, ModPath)>) -> Vec<String> {
    let names: Vec<(String, String)> = edges
        .iter()
        .filter(|(from, to)| !is_ancestor(to, from))
        .map(|(f, t)| (name(f), name(t)))
        .collect();
    let mut g = DiGraphMap::<&str, ()>::new();
    for (f, t) in &names {
        g.add_edge(f.as_str(), t.as_str(), ());
    }
    petgraph::algo::tarjan_scc(&g)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .map(|mut scc| {
            scc.sort();
            format!("{}: import cycle {}", c.name, scc.join(" ↔ "))
        })
        .collect()
}

/// The part of `control` a module belongs to: its first segment (the crate root is `crate`).
fn part(m: &ModPath) -> &str {
    m.first().map(String::as_str).unwrap_or("crate")
}

/// What each part of `control` may import (parts not named here are not restricted yet).
fn allowed(from: &str) -> Option<&'static [&'static str]> {
    Some(match from {
        "error" => &[],
        "model" => &["error"],
        "rules" => &["model", "error"],
        "settings" => &["rules", "model", "error"],
        "store" => &["model", "rules", "error"],
        "actions" => &[
            "model", "rules", "store", "settings", "state", "views", "error", "crate", "actions",
        ],
        "workflows" => &[
            "model",
            "rules",
            "settings",
            "state",
            "error",
            "crate",
            "workflows",
        ],
        _ => return None,
    })
}

fn layering(edges: &BTreeSet<(ModPath, ModPath)>) -> Vec<String> {
    let mut out = Vec::new();
    for (from, to) in edges {
        let (pf, pt) = (part(from), part(to));
        if pf == pt && !(pf == "actions" || pf == "workflows") {
            continue;
        }
        if let Some(ok) = allowed(pf) {
            if !ok.contains(&pt) {
                out.push(format!("control: {} imports {}", name(from), name(to)));
                continue;
            }
        }
        // Two action files never import each other (their shared parts live in rules, model or the facade).
        let siblings =
            |p: &str| pf == p && pt == p && from.len() >= 2 && to.len() >= 2 && from[1] != to[1];
        if siblings("actions") {
            out.push(format!(
                "control: action {} imports action {}",
                name(from),
                name(to)
            ));
        }
    }
    out
}

/// The modules `ARCHITECTURE.md` does not name (as `a/b` in backquotes, or its parent as `a/*`).
fn unnamed(c: &Crate) -> Vec<String> {
    let text =
        std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let named: BTreeSet<&str> = text.split('`').skip(1).step_by(2).collect();
    c.modules
        .keys()
        .filter(|m| !m.is_empty())
        .filter(|m| {
            let slash = m.join("/");
            let parent_all = format!("{}/*", m[..m.len() - 1].join("/"));
            !(named.contains(slash.as_str()) || m.len() > 1 && named.contains(parent_all.as_str()))
        })
        .map(|m| format!("{}: ARCHITECTURE.md does not name {}", c.name, m.join("/")))
        .collect()
}

/// Functions (outside `#[cfg(test)]` items) longer than [`LONGEST_FUNCTION`] lines.
#[derive(Default)]
struct LongFunctions {
    found: Vec<(String, usize)>,
}

impl LongFunctions {
    /// From the signature to the closing brace (doc comments not counted).
    fn check(&mut self, sig: &syn::Signature, block: &syn::Block) {
        use syn::spanned::Spanned;
        let (name, start, end) = (&sig.ident, sig.span().start(), block.span().end());
        let lines = end.line + 1 - start.line;
        if lines > LONGEST_FUNCTION {
            self.found.push((name.to_string(), lines));
        }
    }
}

impl<'ast> Visit<'ast> for LongFunctions {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            self.check(&f.sig, &f.block);
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            self.check(&f.sig, &f.block);
        }
    }
}

fn long_functions(c: &Crate) -> Vec<String> {
    let mut out = Vec::new();
    for (m, file) in &c.modules {
        let text = std::fs::read_to_string(file).expect("read source");
        let ast = syn::parse_file(&text).expect("parses");
        if is_test_only(&ast.attrs) {
            continue;
        }
        let mut v = LongFunctions::default();
        v.visit_file(&ast);
        for (f, lines) in v.found {
            out.push(format!(
                "{}: {}::{f} is {lines} lines long",
                c.name,
                name(m)
            ));
        }
    }
    out
}

#[test]
fn the_code_keeps_its_shape() {
    let mut found = BTreeSet::new();
    for c in crates() {
        let e = edges(&c);
        found.extend(cycles(&c, &e));
        if c.name == "control" {
            found.extend(layering(&e));
        }
        found.extend(unnamed(&c));
        found.extend(long_functions(&c));
    }
    let known: BTreeSet<String> = KNOWN.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = found.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&found).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "the code's shape changed.\nNew violations (fix them):\n  {}\nListed in KNOWN but gone (remove them from the list):\n  {}",
        new.iter().map(|s| format!("{s:?},")).collect::<Vec<_>>().join("\n  "),
        gone.iter().map(|s| format!("{s:?},")).collect::<Vec<_>>().join("\n  "),
    );
}

#[test]
fn the_graph_reader_sees_use_trees_and_paths() {
    let c = crates()
        .into_iter()
        .find(|c| c.name == "control")
        .expect("control");
    let e = edges(&c);
    // The facade builds the workflows' context.
    assert!(e.contains(&(vec![], vec!["workflows".to_string()])));
    // A store is written through by the facade's state.
    assert!(e
        .iter()
        .any(|(f, t)| f.is_empty() && t == &vec!["store".to_string()]));
    // A workflow file names its module's shared parts through `super`.
    assert!(e
        .iter()
        .any(|(f, t)| f.len() > t.len() && f.starts_with(t) && !t.is_empty()));
}
