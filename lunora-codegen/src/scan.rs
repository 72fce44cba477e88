//! Finds every `#[workflow]` and `#[step]` of a crate by walking its module tree from the crate
//! root (inline `mod x { … }` and `mod x;` files, `#[path]` honoured) and reading each
//! attribute through `lunora-macros-support`, the parser the macros themselves use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use darling::ast::NestedMeta;
use lunora_macros_support::{analyze_step, analyze_workflow, FnItem};
use proc_macro2::{Delimiter, Group, Ident, TokenStream, TokenTree};
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
    ///
    /// Files are lexed, not parsed: the scanner only needs `mod` declarations and the
    /// signatures of annotated fns, and a full syn parse of every body would make `sync`
    /// many times slower than reading the files.
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
        // A file that mentions no attribute and no module cannot contribute anything.
        if !(source.contains("workflow") || source.contains("step") || source.contains("mod")) {
            return;
        }
        match source.parse::<TokenStream>() {
            Ok(tokens) => self.tokens(tokens, path, dir, module),
            Err(e) => self.error(path, e.span(), format!("this file does not lex as Rust: {e}")),
        }
    }

    /// Walks the items of one module body.
    fn tokens(&mut self, stream: TokenStream, path: &Path, dir: &Path, module: &[String]) {
        let tts: Vec<TokenTree> = stream.into_iter().collect();
        let mut i = 0;
        while i < tts.len() {
            match &tts[i] {
                TokenTree::Ident(kw) if kw == "mod" => {
                    if let Some(TokenTree::Ident(name)) = tts.get(i + 1) {
                        let explicit = path_attr(&attrs_before(&tts, i));
                        match tts.get(i + 2) {
                            Some(TokenTree::Punct(p)) if p.as_char() == ';' => {
                                self.module_file(name, explicit, path, dir, module);
                                i += 3;
                                continue;
                            }
                            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                                let mut child = module.to_vec();
                                child.push(name.to_string());
                                // An inline module's `mod y;` files live in `dir/name/` (or `#[path]`).
                                let sub = dir.join(explicit.unwrap_or_else(|| name.to_string()));
                                self.tokens(g.stream(), path, &sub, &child);
                                i += 3;
                                continue;
                            }
                            _ => {}
                        }
                    }
                }
                TokenTree::Punct(p) if p.as_char() == '#' => {
                    if let Some(TokenTree::Group(g)) = tts.get(i + 1) {
                        if g.delimiter() == Delimiter::Bracket && is_lunora_attribute(g) {
                            if let Some(body) = fn_body_after(&tts, i + 2) {
                                let start = attribute_run_start(&tts, i);
                                let item: TokenStream = tts[start..=body].iter().cloned().collect();
                                self.function(item, path, module);
                                i = body + 1;
                                continue;
                            }
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn module_file(&mut self, name: &Ident, explicit: Option<String>, path: &Path, dir: &Path, module: &[String]) {
        let name_text = name.to_string();
        let mut child = module.to_vec();
        child.push(name_text.clone());
        let candidates = match &explicit {
            Some(p) => vec![dir.join(p)],
            None => vec![dir.join(format!("{name_text}.rs")), dir.join(&name_text).join("mod.rs")],
        };
        match candidates.iter().find(|c| c.is_file()) {
            Some(file) => {
                let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs") || explicit.is_some();
                let child_dir =
                    if is_mod_rs { file.parent().unwrap_or(dir).to_path_buf() } else { dir.join(&name_text) };
                self.file(&file.clone(), &child_dir, &child);
            }
            // The registry this tool generates may not exist before the first sync.
            None if name_text == REGISTRY_MODULE => {}
            None => {
                let tried: Vec<String> =
                    candidates.iter().map(|c| c.strip_prefix(&self.base).unwrap_or(c).display().to_string()).collect();
                self.error(path, name.span(), format!("module `{name_text}` not found (tried {})", tried.join(", ")));
            }
        }
    }

    fn function(&mut self, tokens: TokenStream, path: &Path, module: &[String]) {
        let item: FnItem = match syn::parse2(tokens) {
            Ok(item) => item,
            Err(e) => return self.error(path, e.span(), format!("cannot read this annotated fn: {e}")),
        };
        for attr in &item.attrs {
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

/// The attribute groups (`#[…]`) right before index `i`, skipping a visibility.
fn attrs_before(tts: &[TokenTree], i: usize) -> Vec<Group> {
    let mut j = i;
    // `pub`, `pub(crate)`, `pub(in path)`.
    if j >= 1 {
        if let TokenTree::Group(g) = &tts[j - 1] {
            if g.delimiter() == Delimiter::Parenthesis
                && j >= 2
                && matches!(&tts[j - 2], TokenTree::Ident(p) if p == "pub")
            {
                j -= 2;
            }
        } else if matches!(&tts[j - 1], TokenTree::Ident(p) if p == "pub") {
            j -= 1;
        }
    }
    let start = attribute_run_start(tts, j);
    tts[start..j]
        .iter()
        .filter_map(|t| match t {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket => Some(g.clone()),
            _ => None,
        })
        .collect()
}

/// Where the run of `#[…]` attributes ending just before `i` starts.
fn attribute_run_start(tts: &[TokenTree], mut i: usize) -> usize {
    while i >= 2 {
        let is_attr = matches!(&tts[i - 2], TokenTree::Punct(p) if p.as_char() == '#')
            && matches!(&tts[i - 1], TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket);
        if !is_attr {
            break;
        }
        i -= 2;
    }
    i
}

/// The index of the body `{ … }` of the fn whose signature starts at or after `from`; `None`
/// if the item is not a fn with a body.
fn fn_body_after(tts: &[TokenTree], from: usize) -> Option<usize> {
    let mut seen_fn = false;
    for (offset, tt) in tts[from..].iter().enumerate() {
        match tt {
            TokenTree::Ident(id) if id == "fn" => seen_fn = true,
            TokenTree::Punct(p) if p.as_char() == ';' => return None,
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                return seen_fn.then_some(from + offset);
            }
            _ => {}
        }
    }
    None
}

/// `#[workflow…]`, `#[step…]`, `#[lunora_runtime::workflow…]`, … as a token group.
fn is_lunora_attribute(group: &Group) -> bool {
    let idents: Vec<String> = group
        .stream()
        .into_iter()
        .take_while(|t| !matches!(t, TokenTree::Group(_)) && !matches!(t, TokenTree::Punct(p) if p.as_char() == '='))
        .filter_map(|t| match t {
            TokenTree::Ident(i) => Some(i.to_string()),
            _ => None,
        })
        .collect();
    match idents.as_slice() {
        [one] => one == "workflow" || one == "step",
        [krate, attr] => {
            (krate == "lunora_runtime" || krate == "lunora_macros") && (attr == "workflow" || attr == "step")
        }
        _ => false,
    }
}

/// `#[path = "…"]` among attribute groups.
fn path_attr(groups: &[Group]) -> Option<String> {
    groups.iter().find_map(|g| {
        let tts: Vec<TokenTree> = g.stream().into_iter().collect();
        match tts.as_slice() {
            [TokenTree::Ident(p), TokenTree::Punct(eq), TokenTree::Literal(lit)]
                if p == "path" && eq.as_char() == '=' =>
            {
                syn::parse_str::<syn::LitStr>(&lit.to_string()).ok().map(|s| s.value())
            }
            _ => None,
        }
    })
}
