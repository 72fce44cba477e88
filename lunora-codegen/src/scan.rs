//! Finds every `#[workflow]` and `#[step]` of a crate by walking its module tree from the crate
//! root (inline `mod x { … }` and `mod x;` files, `#[path]` honoured) and reading each
//! attribute through `lunora-macros-support`, the parser the macros themselves use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use darling::ast::NestedMeta;
use lunora_macros_support::{analyze_step, analyze_workflow, FnItem};
use syn::spanned::Spanned;

use crate::spec::{Location, WorkflowSpec};

/// The module name of the generated registry (`src/lunora_workflows.rs`), which holds no
/// attributes and may not exist yet.
pub const REGISTRY_MODULE: &str = "lunora_workflows";

/// Everything found in a crate.
#[derive(Debug, Default)]
pub struct Scan {
    pub workflows: Vec<WorkflowSpec>,
    /// Names of the `#[step]`s found, with their places.
    pub steps: Vec<(String, Location)>,
    /// Every source file read (for build.rs `rerun-if-changed`).
    pub files: Vec<PathBuf>,
}

/// A problem at a place in the crate's sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Location,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Scans the crate whose root module is `root` (e.g. `src/lib.rs`). Paths in diagnostics are
/// relative to `base` when they lie under it.
pub fn scan_crate(root: &Path, base: &Path) -> Result<Scan, Vec<Diagnostic>> {
    let mut scanner = Scanner { base: base.to_path_buf(), scan: Scan::default(), errors: Vec::new() };
    let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
    scanner.file(root, &dir, &[]);
    scanner.check_duplicates();
    if scanner.errors.is_empty() {
        Ok(scanner.scan)
    } else {
        let mut errors = scanner.errors;
        errors.sort_by(|a, b| {
            (&a.location.file, a.location.line, a.location.column).cmp(&(
                &b.location.file,
                b.location.line,
                b.location.column,
            ))
        });
        Err(errors)
    }
}

struct Scanner {
    base: PathBuf,
    scan: Scan,
    errors: Vec<Diagnostic>,
}

impl Scanner {
    fn location(&self, file: &Path, span: proc_macro2::Span) -> Location {
        let start = span.start();
        let shown = file.strip_prefix(&self.base).unwrap_or(file).to_path_buf();
        Location { file: shown, line: start.line, column: start.column + 1 }
    }

    fn error(&mut self, file: &Path, span: proc_macro2::Span, message: impl Into<String>) {
        let location = self.location(file, span);
        self.errors.push(Diagnostic { location, message: message.into() });
    }

    /// Reads one module file. `dir` is where its child modules' files live.
    fn file(&mut self, path: &Path, dir: &Path, module: &[String]) {
        let source = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                let shown = path.strip_prefix(&self.base).unwrap_or(path).to_path_buf();
                self.errors.push(Diagnostic {
                    location: Location { file: shown, line: 1, column: 1 },
                    message: format!("cannot read this module file: {e}"),
                });
                return;
            }
        };
        self.scan.files.push(path.to_path_buf());
        match syn::parse_file(&source) {
            Ok(file) => self.items(&file.items, path, dir, module),
            Err(e) => self.error(path, e.span(), format!("this file does not parse as Rust: {e}")),
        }
    }

    fn items(&mut self, items: &[syn::Item], path: &Path, dir: &Path, module: &[String]) {
        for item in items {
            match item {
                syn::Item::Fn(f) => self.function(f, path, module),
                syn::Item::Mod(m) => self.module(m, path, dir, module),
                _ => {}
            }
        }
    }

    fn module(&mut self, m: &syn::ItemMod, path: &Path, dir: &Path, module: &[String]) {
        let name = m.ident.to_string();
        let mut child = module.to_vec();
        child.push(name.clone());
        let explicit = path_attr(&m.attrs);
        match &m.content {
            Some((_, items)) => {
                // Inline module: its own `mod y;` files live in `dir/name/` (or `#[path]` dir).
                let sub = match &explicit {
                    Some(p) => dir.join(p),
                    None => dir.join(&name),
                };
                self.items(items, path, &sub, &child);
            }
            None => {
                let candidates = match &explicit {
                    Some(p) => vec![dir.join(p)],
                    None => vec![dir.join(format!("{name}.rs")), dir.join(&name).join("mod.rs")],
                };
                match candidates.iter().find(|c| c.is_file()) {
                    Some(file) => {
                        let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs") || explicit.is_some();
                        let child_dir =
                            if is_mod_rs { file.parent().unwrap_or(dir).to_path_buf() } else { dir.join(&name) };
                        self.file(&file.clone(), &child_dir, &child);
                    }
                    // The registry this tool generates may not exist before the first sync.
                    None if name == REGISTRY_MODULE => {}
                    None => {
                        let tried: Vec<String> = candidates
                            .iter()
                            .map(|c| c.strip_prefix(&self.base).unwrap_or(c).display().to_string())
                            .collect();
                        self.error(
                            path,
                            m.ident.span(),
                            format!("module `{name}` not found (tried {})", tried.join(", ")),
                        );
                    }
                }
            }
        }
    }

    fn function(&mut self, f: &syn::ItemFn, path: &Path, module: &[String]) {
        for attr in &f.attrs {
            let Some(kind) = lunora_attribute(attr) else { continue };
            let args = match &attr.meta {
                syn::Meta::Path(_) => Ok(Vec::new()),
                syn::Meta::List(list) => NestedMeta::parse_meta_list(list.tokens.clone()),
                syn::Meta::NameValue(nv) => Err(syn::Error::new(nv.span(), "expected `#[workflow(…)]`")),
            };
            let args = match args {
                Ok(args) => args,
                Err(e) => {
                    self.error(path, e.span(), e.to_string());
                    continue;
                }
            };
            let item = FnItem::from(f);
            let location = self.location(path, attr.span());
            match kind {
                Kind::Workflow => match analyze_workflow(&args, &item) {
                    Ok(def) => {
                        let mut descriptor = module.to_vec();
                        descriptor.push(def.names.class_name.clone());
                        self.scan.workflows.push(WorkflowSpec {
                            export_name: def.names.export_name.clone(),
                            descriptor_path: descriptor.join("::"),
                            deployed_name: def.deployed_name.clone(),
                            binding: def.names.binding.clone(),
                            class_name: def.names.class_name.clone(),
                            schedules: def.schedules.clone(),
                            step_limit: def.step_limit,
                            location,
                        })
                    }
                    Err(errors) => self.attribute_errors(path, errors),
                },
                Kind::Step => match analyze_step(&args, &item) {
                    Ok(def) => self.scan.steps.push((def.name.clone(), location)),
                    Err(errors) => self.attribute_errors(path, errors),
                },
            }
        }
    }

    fn attribute_errors(&mut self, path: &Path, errors: darling::Error) {
        for error in errors {
            let span = error.span();
            self.error(path, span, error.to_string());
        }
    }

    /// Two workflows may not share a deployed name, a binding or a class name.
    fn check_duplicates(&mut self) {
        type Key = fn(&WorkflowSpec) -> &str;
        let keys: [(&str, Key); 3] =
            [("deployed name", |w| &w.deployed_name), ("binding", |w| &w.binding), ("class name", |w| &w.class_name)];
        for (what, key) in keys {
            let mut seen: HashMap<&str, &WorkflowSpec> = HashMap::new();
            let mut found = Vec::new();
            for w in &self.scan.workflows {
                if let Some(first) = seen.get(key(w)) {
                    found.push(Diagnostic {
                        location: w.location.clone(),
                        message: format!(
                            "workflow `{}` has the same {what} \"{}\" as workflow `{}` at {}; rename one \
                             (`#[workflow(name = \"…\")]` sets the deployed name, the fn name sets the others)",
                            w.export_name,
                            key(w),
                            first.export_name,
                            first.location
                        ),
                    });
                } else {
                    seen.insert(key(w), w);
                }
            }
            self.errors.extend(found);
        }
    }
}

enum Kind {
    Workflow,
    Step,
}

/// `#[workflow]`, `#[lunora_runtime::workflow]`, `#[step]`, `#[lunora_runtime::step]`.
fn lunora_attribute(attr: &syn::Attribute) -> Option<Kind> {
    let segments: Vec<String> = attr.path().segments.iter().map(|s| s.ident.to_string()).collect();
    let last = segments.last()?;
    let qualified_ok =
        segments.len() == 1 || segments.first().is_some_and(|s| s == "lunora_runtime" || s == "lunora_macros");
    match (last.as_str(), qualified_ok) {
        ("workflow", true) => Some(Kind::Workflow),
        ("step", true) => Some(Kind::Step),
        _ => None,
    }
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find(|a| a.path().is_ident("path")).and_then(|a| match &a.meta {
        syn::Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}
