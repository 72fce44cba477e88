//! Rust name resolution over the scanned module tree, as far as codegen needs it: which
//! attributes are lunora's `#[workflow]` / `#[step]` (through the modules' `use` items, as rustc
//! resolves them), and whether the generated registry can name a workflow's descriptor.
//!
//! Names are resolved per module, as in Rust 2018: a `use` applies to its own module only
//! (an inline `mod tests { … }` sees its parent's imports only through `use super::*`);
//! explicit imports shadow glob imports; a glob import of a lunora crate (`lunora_runtime::*`,
//! `lunora_macros::*`: [`lunora_shared::attributes`]) provides `workflow` and `step`; a path's first segment is an import, a child module or a crate.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use lunora_shared::attributes::{is_lunora_crate, AttributeKind};

use crate::outline::{unraw, Import, SimplePath};
use crate::spec::Location;

/// Crates known to export neither.
const STANDARD_CRATES: &[&str] = &["std", "core", "alloc"];
/// How many lookups one resolution may take: `use` items can form cycles and webs, which must
/// end quickly (rustc reports what does not resolve).
const BUDGET: usize = 4_096;

/// What an attribute turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution {
    Lunora(AttributeKind),
    /// Another crate's attribute (or one that is not lunora's for sure).
    NotLunora,
    /// A `workflow`/`step` that may or may not be lunora's: why not.
    Unknown(String),
    /// A bare `#[workflow]`/`#[step]` that no import in its module provides.
    Unimported(AttributeKind),
}

/// A module as declared: its imports, children, and how it was declared.
#[derive(Default)]
struct Scope {
    named: Vec<(String, SimplePath)>,
    globs: Vec<SimplePath>,
    children: HashSet<String>,
    visibility: String,
    declared_at: Option<Location>,
}

/// What a name or path means.
#[derive(Clone, Debug)]
enum Meaning {
    Lunora(AttributeKind),
    Crate(String),
    Module(Vec<String>),
    Other,
    Unknown(String),
    NotFound,
}

/// The crate's modules by path (segments without `r#`), the crate root being `[]`.
#[derive(Default)]
pub struct Modules {
    scopes: HashMap<Vec<String>, Scope>,
}

/// `module` as a key: borrowed when no segment is a raw ident, as nearly none is (a key built
/// per module and per attribute was thousands of allocations per check of a large crate).
fn key(module: &[String]) -> Cow<'_, [String]> {
    if module.iter().all(|s| unraw(s) == s) {
        Cow::Borrowed(module)
    } else {
        Cow::Owned(module.iter().map(|s| unraw(s).to_owned()).collect())
    }
}

impl Modules {
    /// Records the module at `module` (a child of the one before it), as declared.
    pub fn declare(&mut self, module: &[String], visibility: String, declared_at: Option<Location>) {
        let module = key(module);
        if let Some((name, parent)) = module.split_last() {
            // The parent is nearly always declared already: no key to build for it then.
            let parent = match self.scopes.get_mut(parent) {
                Some(scope) => scope,
                None => self.scopes.entry(parent.to_vec()).or_default(),
            };
            if !parent.children.contains(name) {
                parent.children.insert(name.clone());
            }
        }
        let scope = match self.scopes.get_mut(&*module) {
            Some(scope) => scope,
            None => self.scopes.entry(module.into_owned()).or_default(),
        };
        if scope.declared_at.is_none() {
            scope.visibility = visibility;
            scope.declared_at = declared_at;
        }
    }

    pub fn import(&mut self, module: &[String], imports: Vec<Import>) {
        // The module is nearly always declared already, and then found without a new key.
        let module = key(module);
        let scope = match self.scopes.get_mut(&*module) {
            Some(scope) => scope,
            None => self.scopes.entry(module.into_owned()).or_default(),
        };
        for import in imports {
            match import {
                // The name itself, unless it is a raw ident.
                Import::Named { name, target } if unraw(&name) == name => scope.named.push((name, target)),
                Import::Named { name, target } => scope.named.push((unraw(&name).to_owned(), target)),
                Import::Glob(path) => scope.globs.push(path),
            }
        }
    }

    /// What the attribute `path` on an item of `module` is.
    pub fn attribute(&self, module: &[String], path: &SimplePath) -> Resolution {
        let module = key(module);
        let kind = AttributeKind::of(path.last());
        let mut budget = BUDGET;
        let meaning = if path.segments.len() == 1 && !path.leading_colon {
            self.lookup(&module, path.last(), &mut Vec::new(), &mut budget)
        } else {
            self.path(&module, path, &mut Vec::new(), &mut budget)
        };
        match (meaning, kind) {
            (Meaning::Lunora(k), _) => Resolution::Lunora(k),
            (Meaning::NotFound, Some(k)) if path.segments.len() == 1 => Resolution::Unimported(k),
            (Meaning::Unknown(why), Some(_)) => Resolution::Unknown(why),
            (Meaning::NotFound, Some(_)) => Resolution::Unknown(format!("`{path}` does not resolve to a module read")),
            _ => Resolution::NotLunora,
        }
    }

    /// What `name` means in `module`: an explicit import, a child module, then glob imports.
    fn lookup(
        &self,
        module: &[String],
        name: &str,
        stack: &mut Vec<(Vec<String>, String)>,
        budget: &mut usize,
    ) -> Meaning {
        let Some(scope) = self.scopes.get(module) else {
            return Meaning::Unknown(format!("module `{}` was not read", shown(module)));
        };
        if *budget == 0 {
            return Meaning::Unknown("its imports are too entangled to follow".into());
        }
        *budget -= 1;
        self.lookup_in(scope, module, name, stack, budget)
    }

    fn lookup_in(
        &self,
        scope: &Scope,
        module: &[String],
        name: &str,
        stack: &mut Vec<(Vec<String>, String)>,
        budget: &mut usize,
    ) -> Meaning {
        if let Some((_, target)) = scope.named.iter().find(|(n, _)| n == name) {
            return self.path(module, target, stack, budget);
        }
        if scope.children.contains(name) {
            let mut child = module.to_vec();
            child.push(name.to_owned());
            return Meaning::Module(child);
        }
        if scope.globs.is_empty() {
            return Meaning::NotFound;
        }
        // A glob that leads back to a lookup under way adds nothing (rustc's fixed point);
        // cycles of named imports end with the budget.
        let frame = (module.to_vec(), name.to_owned());
        if stack.contains(&frame) {
            return Meaning::NotFound;
        }
        stack.push(frame);
        let mut found = None;
        let mut could = Vec::new();
        for glob in &scope.globs {
            match self.path(module, glob, stack, budget) {
                Meaning::Crate(krate) if is_lunora_crate(&krate) => {
                    if let Some(kind) = AttributeKind::of(name) {
                        found.get_or_insert(Meaning::Lunora(kind));
                    }
                }
                Meaning::Crate(krate) if STANDARD_CRATES.contains(&krate.as_str()) => {}
                Meaning::Crate(_) => could.push(format!("`use {glob}::*;`")),
                Meaning::Module(from) => match self.lookup(&from, name, stack, budget) {
                    Meaning::NotFound => {}
                    Meaning::Unknown(why) => could.push(why),
                    meaning => {
                        found.get_or_insert(meaning);
                    }
                },
                Meaning::Unknown(why) => could.push(why),
                Meaning::NotFound => could.push(format!("`use {glob}::*;`")),
                Meaning::Lunora(_) | Meaning::Other => {}
            }
        }
        stack.pop();
        // Two globs providing one name is an error rustc reports when it is used, so a
        // lunora glob that provides it is the one.
        match found {
            Some(meaning) => meaning,
            None if could.is_empty() => Meaning::NotFound,
            None => Meaning::Unknown(format!("it may come from {}", could.join(" or "))),
        }
    }

    /// What `path` (written in `module`) means.
    fn path(
        &self,
        module: &[String],
        path: &SimplePath,
        stack: &mut Vec<(Vec<String>, String)>,
        budget: &mut usize,
    ) -> Meaning {
        let mut segments = path.segments.iter().map(|s| unraw(s));
        let Some(first) = segments.next() else { return Meaning::Other };
        let mut meaning = if path.leading_colon {
            Meaning::Crate(first.to_owned())
        } else {
            match first {
                "crate" => Meaning::Module(Vec::new()),
                "self" => Meaning::Module(module.to_vec()),
                "super" => Meaning::Module(module[..module.len().saturating_sub(1)].to_vec()),
                // Not an import or a module here: a crate (the extern prelude).
                name => match self.lookup(module, name, stack, budget) {
                    Meaning::NotFound | Meaning::Unknown(_) => Meaning::Crate(name.to_owned()),
                    meaning => meaning,
                },
            }
        };
        for segment in segments {
            meaning = match meaning {
                Meaning::Crate(krate) if is_lunora_crate(&krate) => {
                    AttributeKind::of(segment).map_or(Meaning::Other, Meaning::Lunora)
                }
                Meaning::Module(m) if segment == "super" => Meaning::Module(m[..m.len().saturating_sub(1)].to_vec()),
                Meaning::Module(m) => self.lookup(&m, segment, stack, budget),
                Meaning::Unknown(why) => Meaning::Unknown(why),
                Meaning::NotFound => Meaning::NotFound,
                Meaning::Crate(_) | Meaning::Lunora(_) | Meaning::Other => Meaning::Other,
            };
        }
        meaning
    }

    /// Why the registry, in module `from`, cannot name an item declared in `module` with
    /// `visibility` (`None` if it can): the first module on the way, or the item, that is
    /// private to a module `from` is not in.
    pub fn unreachable(&self, module: &[String], visibility: &str, from: &[String]) -> Option<Blocked> {
        let (module, from) = (key(module), key(from));
        for depth in 1..=module.len() {
            let scope = self.scopes.get(&module[..depth])?;
            let parent = &module[..depth - 1];
            if !visible(&scope.visibility, parent, &from) {
                return Some(Blocked::Module {
                    name: module[depth - 1].clone(),
                    visibility: scope.visibility.clone(),
                    parent: shown(parent),
                    declared_at: scope.declared_at.clone(),
                });
            }
        }
        (!visible(visibility, &module, &from)).then(|| Blocked::Item { module: shown(&module) })
    }
}

/// What keeps the registry from naming a workflow's descriptor.
#[derive(Debug)]
pub enum Blocked {
    /// `mod name` is private to `parent` (or restricted to a module the registry is not in).
    Module { name: String, visibility: String, parent: String, declared_at: Option<Location> },
    /// The workflow fn itself (whose visibility the descriptor has) is private to `module`.
    Item { module: String },
}

/// `crate::a::b` for a module path.
pub fn shown(module: &[String]) -> String {
    std::iter::once("crate").chain(module.iter().map(String::as_str)).collect::<Vec<_>>().join("::")
}

/// Whether an item declared in `parent` with `visibility` can be named from module `from`.
fn visible(visibility: &str, parent: &[String], from: &[String]) -> bool {
    let compact: Cow<'_, str> = if visibility.contains(char::is_whitespace) {
        Cow::Owned(visibility.chars().filter(|c| !c.is_whitespace()).collect())
    } else {
        Cow::Borrowed(visibility)
    };
    let scope: Vec<String> = match &*compact {
        "pub" | "pub(crate)" | "crate" => return true,
        "" | "pub(self)" => return from.starts_with(parent),
        "pub(super)" => return from.starts_with(&parent[..parent.len().saturating_sub(1)]),
        restricted => match restricted.strip_prefix("pub(in").and_then(|r| r.strip_suffix(')')) {
            Some(path) => {
                let mut scope = Vec::new();
                for (i, segment) in path.split("::").enumerate() {
                    match (i, unraw(segment)) {
                        (0, "crate") => {}
                        (0, "self") => scope = parent.to_vec(),
                        (_, "super") => {
                            if i == 0 {
                                scope = parent.to_vec();
                            }
                            scope.pop();
                        }
                        (_, name) => scope.push(name.to_owned()),
                    }
                }
                scope
            }
            None => return true,
        },
    };
    from.starts_with(&scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> SimplePath {
        let (leading_colon, rest) = match text.strip_prefix("::") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        SimplePath { leading_colon, segments: rest.split("::").map(str::to_owned).collect() }
    }

    fn m(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn visibility_follows_rusts_rules() {
        let registry = m(&["lunora_workflows"]);
        assert!(visible("", &[], &registry), "private at the root: the whole crate");
        assert!(!visible("", &m(&["a"]), &registry));
        assert!(visible("pub(crate)", &m(&["a"]), &registry));
        assert!(visible("pub(super)", &m(&["a"]), &registry));
        assert!(!visible("pub(super)", &m(&["a", "b"]), &registry));
        assert!(visible("pub(in crate::a)", &m(&["a", "b"]), &m(&["a", "r"])));
        assert!(!visible("pub(in crate::a)", &m(&["a", "b"]), &registry));
        assert!(visible("pub(in super::super)", &m(&["a", "b"]), &registry));
    }

    #[test]
    fn globs_and_aliases_resolve_and_cycles_end() {
        let mut modules = Modules::default();
        modules.declare(&[], String::new(), None);
        modules.declare(&m(&["a"]), "pub".into(), None);
        modules.declare(&m(&["b"]), "pub".into(), None);
        modules.import(&[], vec![Import::Named { name: "wf".into(), target: path("lunora_runtime::workflow") }]);
        modules.import(&m(&["a"]), vec![Import::Glob(path("super")), Import::Glob(path("crate::b"))]);
        modules.import(&m(&["b"]), vec![Import::Glob(path("crate::a")), Import::Glob(path("cucumber"))]);
        assert_eq!(modules.attribute(&m(&["a"]), &path("wf")), Resolution::Lunora(AttributeKind::Workflow));
        assert_eq!(modules.attribute(&[], &path("wf")), Resolution::Lunora(AttributeKind::Workflow));
        assert_eq!(modules.attribute(&[], &path("step")), Resolution::Unimported(AttributeKind::Step));
        assert_eq!(
            modules.attribute(&m(&["b"]), &path("step")),
            Resolution::Unknown("it may come from `use cucumber::*;`".into())
        );
        assert_eq!(
            modules.attribute(&m(&["b"]), &path("::lunora_macros::step")),
            Resolution::Lunora(AttributeKind::Step)
        );
        assert_eq!(modules.attribute(&m(&["b"]), &path("cucumber::step")), Resolution::NotLunora);
        assert_eq!(modules.attribute(&m(&["b"]), &path("instrument")), Resolution::NotLunora);
    }
}
