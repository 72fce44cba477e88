//! The crate's modules form layers: no module imports, directly or through others, a module
//! that imports it back (the layering is written down at the top of `src/lib.rs`).
//!
//! Read from the sources: every `crate::…` and `super::…` path, and in a module's own file the
//! paths that start with one of its child modules, name the module they lead to. Comment lines
//! and the unit tests at the end of a file (from `#[cfg(test)]` on) are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type Module = Vec<String>;

/// Every module file of `src/`, by module path (`src/lib.rs` is the empty path).
fn module_files(src: &Path) -> BTreeMap<Module, String> {
    let mut modules = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src/");
            let mut module: Module = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
            let file = module.pop().expect("a file name");
            match file.as_str() {
                "lib.rs" | "mod.rs" => {}
                name => module.push(name.trim_end_matches(".rs").to_owned()),
            }
            modules.insert(module, fs::read_to_string(&path).expect("source is readable"));
        }
    }
    modules
}

/// The module paths a line names, as segments from the crate root.
fn paths_in(line: &str, module: &Module, children: &BTreeSet<String>) -> Vec<Module> {
    let mut found = Vec::new();
    // `a::b::Type`, `a::b::{…}`, `a::f(…)`: the lower-case segments up to the first other one.
    let segments_after = |rest: &str| -> Vec<String> {
        let mut segments = Vec::new();
        for segment in rest.split("::") {
            let ident: String =
                segment.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
            if ident.is_empty() {
                break;
            }
            let whole = ident.len() == segment.len();
            segments.push(ident);
            if !whole {
                break;
            }
        }
        segments
    };
    for (at, _) in line.match_indices("crate::") {
        let boundary = line[..at].chars().last().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if boundary {
            found.push(segments_after(&line[at + "crate::".len()..]));
        }
    }
    for (at, _) in line.match_indices("super::") {
        let boundary = line[..at].chars().last().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
        if boundary {
            let mut path = module[..module.len().saturating_sub(1)].to_vec();
            for segment in segments_after(&line[at + "super::".len()..]) {
                if segment == "super" {
                    path.pop();
                } else {
                    path.push(segment);
                }
            }
            found.push(path);
        }
    }
    let trimmed = line.trim_start();
    let used = trimmed.strip_prefix("pub use ").or_else(|| trimmed.strip_prefix("use "));
    if let Some(used) = used {
        let first = segments_after(used);
        if first.first().is_some_and(|name| children.contains(name)) {
            let mut path = module.clone();
            path.extend(first);
            found.push(path);
        }
    }
    found
}

/// Who imports whom, between module files.
fn imports(modules: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut graph = BTreeMap::new();
    for (module, source) in modules {
        let children: BTreeSet<String> = modules
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m.last().expect("a child has a name").clone())
            .collect();
        let mut targets = BTreeSet::new();
        for line in source.lines().take_while(|l| l.trim() != "#[cfg(test)]") {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for path in paths_in(line, module, &children) {
                // The longest prefix that is a module file.
                let target = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains_key(p));
                if let Some(target) = target.filter(|t| t != module) {
                    targets.insert(target);
                }
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// A cycle of imports, if there is one.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        path: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(start) = path.iter().position(|m| m == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn shown(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = imports(&module_files(&src));
    if let Some(cycle) = find_cycle(&graph) {
        let cycle: Vec<String> = cycle.iter().map(shown).collect();
        panic!("an import cycle: {}; move what both need into a lower module", cycle.join(" -> "));
    }
}

#[test]
fn the_reader_sees_imports_of_every_kind() {
    // The reader itself: absolute, relative and child paths are all seen, comments are not.
    let modules: BTreeMap<Module, String> = [
        (vec![], "mod a;\nmod b;\npub use a::Thing;\n".to_owned()),
        (vec!["a".to_owned()], "use crate::b::c::Other;\n// crate::b is named in a comment only\n".to_owned()),
        (vec!["b".to_owned()], "mod c;\n".to_owned()),
        (vec!["b".to_owned(), "c".to_owned()], "fn f() { super::super::a::g(); }\n".to_owned()),
    ]
    .into_iter()
    .collect();
    let graph = imports(&modules);
    let names = |m: &str| {
        graph[&m.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect::<Module>()]
            .iter()
            .map(shown)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(""), ["a"]);
    assert_eq!(names("a"), ["b::c"]);
    assert_eq!(names("b::c"), ["a"]);
    let cycle: Vec<String> = find_cycle(&graph).expect("a -> b::c -> a").iter().map(shown).collect();
    assert_eq!(cycle, ["a", "b::c", "a"]);
}
