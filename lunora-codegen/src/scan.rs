//! Finds every `#[workflow]` and `#[step]` of a crate by walking its module tree from the crate
//! root (inline `mod x { … }` and `mod x;` files, `#[path]` honoured) and reading each
//! attribute through `lunora-macros-support`, the parser the macros themselves use.
//!
//! A sequential walk outlines each file at byte level ([`crate::outline`]) and hands the
//! annotated fns' signatures to worker threads, which analyse them while the walk goes on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use darling::ast::NestedMeta;
use lunora_macros_support::{analyze_step, analyze_workflow, FnItem};
use syn::spanned::Spanned;

use crate::outline::{outline, Entry};
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
    /// Every `mod lunora_workflows;`, so `sync` can check how the registry is declared.
    pub registry_declarations: Vec<ModuleDeclaration>,
}

/// A `mod name;` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleDeclaration {
    /// Where its name is.
    pub location: Location,
    /// The file it names (which may not exist yet).
    pub file: PathBuf,
    /// Whether it carries `#[rustfmt::skip]`, which keeps `cargo fmt` out of that file.
    pub rustfmt_skip: bool,
    /// `pub`, `pub(crate)`…, empty if private.
    pub visibility: String,
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
    // Analysis runs on worker threads while the walk is still reading files: each annotated
    // fn is sent to them as soon as it is found, and results are put back in source order.
    let (sender, receiver) = std::sync::mpsc::channel::<(usize, Pending)>();
    let receiver = std::sync::Mutex::new(receiver);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let receiver = &receiver;
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let next = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match next {
                            Ok((index, item)) => done.push((index, analyze(&item))),
                            Err(_) => return done, // the walk is over
                        }
                    }
                })
            })
            .collect();
        let mut scanner = Scanner {
            base: base.to_path_buf(),
            scan: Scan::default(),
            errors: Vec::new(),
            sender: Some(sender),
            sent: 0,
        };
        let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
        scanner.file(root, &dir, &[]);
        scanner.sender = None;
        let mut results: Vec<(usize, Analysis)> =
            workers.into_iter().flat_map(|w| w.join().expect("analysis does not panic")).collect();
        results.sort_by_key(|(index, _)| *index);
        scanner.collect(results.into_iter().map(|(_, r)| r));
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
    })
}

type Analysis = Result<Vec<Found>, Vec<Diagnostic>>;

/// An annotated fn waiting for analysis.
struct Pending {
    file: PathBuf,
    text: String,
    line: usize,
    column: usize,
    module: Vec<String>,
}

/// What the analysis of one annotated fn produced.
enum Found {
    Workflow(WorkflowSpec),
    Step(String, Location),
}

struct Scanner {
    base: PathBuf,
    scan: Scan,
    errors: Vec<Diagnostic>,
    /// Where annotated fns go for analysis; `None` once the walk is over.
    sender: Option<std::sync::mpsc::Sender<(usize, Pending)>>,
    sent: usize,
}

impl Scanner {
    fn shown(&self, file: &Path) -> PathBuf {
        file.strip_prefix(&self.base).unwrap_or(file).to_path_buf()
    }

    /// Reads one module file. `dir` is where its child modules' files live.
    fn file(&mut self, path: &Path, dir: &Path, module: &[String]) {
        let source = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                let location = Location { file: self.shown(path), line: 1, column: 1 };
                self.errors.push(Diagnostic { location, message: format!("cannot read this module file: {e}") });
                return;
            }
        };
        self.scan.files.push(path.to_path_buf());
        // A file that mentions no attribute and no module cannot contribute anything.
        if !(source.contains("workflow") || source.contains("step") || source.contains("mod")) {
            return;
        }
        // Inline modules nest: each entry of `stack` is (module path, dir of its `mod x;` files).
        let mut stack: Vec<(Vec<String>, PathBuf)> = vec![(module.to_vec(), dir.to_path_buf())];
        for entry in outline(&source) {
            let (current, current_dir) = stack.last().cloned().expect("the file's own module is never popped");
            match entry {
                Entry::Module { name, inline: true, path: explicit, .. } => {
                    let mut child = current;
                    child.push(name.clone());
                    let sub = current_dir.join(explicit.unwrap_or(name));
                    stack.push((child, sub));
                }
                Entry::EndModule => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                }
                Entry::Module { name, inline: false, path: explicit, rustfmt_skip, visibility, line, column } => {
                    let location = Location { file: self.shown(path), line, column };
                    if name == REGISTRY_MODULE {
                        // The registry is one file: `name.rs` (never `name/mod.rs`) or the `#[path]`.
                        let file = current_dir.join(explicit.clone().unwrap_or_else(|| format!("{name}.rs")));
                        let declaration =
                            ModuleDeclaration { location: location.clone(), file, rustfmt_skip, visibility };
                        self.scan.registry_declarations.push(declaration);
                    }
                    self.module_file(&name, explicit, location, &current_dir, &current);
                }
                Entry::Item { text, line, column } => {
                    let item = Pending { file: self.shown(path), text, line, column, module: current };
                    if let Some(sender) = &self.sender {
                        let _ = sender.send((self.sent, item));
                        self.sent += 1;
                    }
                }
            }
        }
    }

    fn module_file(&mut self, name: &str, explicit: Option<String>, at: Location, dir: &Path, module: &[String]) {
        let mut child = module.to_vec();
        child.push(name.to_owned());
        let candidates = match &explicit {
            Some(p) => vec![dir.join(p)],
            None => vec![dir.join(format!("{name}.rs")), dir.join(name).join("mod.rs")],
        };
        match candidates.iter().find(|c| c.is_file()) {
            Some(file) => {
                let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs") || explicit.is_some();
                let child_dir = if is_mod_rs { file.parent().unwrap_or(dir).to_path_buf() } else { dir.join(name) };
                self.file(&file.clone(), &child_dir, &child);
            }
            // The registry this tool generates may not exist before the first sync.
            None if name == REGISTRY_MODULE => {}
            None => {
                let tried: Vec<String> = candidates.iter().map(|c| self.shown(c).display().to_string()).collect();
                let message = format!("module `{name}` not found (tried {})", tried.join(", "));
                self.errors.push(Diagnostic { location: at, message });
            }
        }
    }

    /// Takes the analyses, in source order.
    fn collect(&mut self, results: impl Iterator<Item = Analysis>) {
        for result in results {
            match result {
                Ok(found) => {
                    for f in found {
                        match f {
                            Found::Workflow(spec) => self.scan.workflows.push(spec),
                            Found::Step(name, location) => self.scan.steps.push((name, location)),
                        }
                    }
                }
                Err(diagnostics) => self.errors.extend(diagnostics),
            }
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

/// Analyses one annotated fn through the macros' own parser.
fn analyze(item: &Pending) -> Result<Vec<Found>, Vec<Diagnostic>> {
    // Spans are relative to the item's text; place them in the file.
    let at = |span: proc_macro2::Span| {
        let start = span.start();
        let (line, column) = if start.line <= 1 {
            (item.line, item.column + start.column)
        } else {
            (item.line + start.line - 1, start.column + 1)
        };
        Location { file: item.file.clone(), line, column }
    };
    let error = |span: proc_macro2::Span, message: String| Diagnostic { location: at(span), message };
    let fn_item: FnItem =
        syn::parse_str(&item.text).map_err(|e| vec![error(e.span(), format!("cannot read this annotated fn: {e}"))])?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for attr in &fn_item.attrs {
        let Some(kind) = lunora_attribute(attr) else { continue };
        let args = match &attr.meta {
            syn::Meta::Path(_) => Ok(Vec::new()),
            syn::Meta::List(list) => NestedMeta::parse_meta_list(list.tokens.clone()),
            syn::Meta::NameValue(nv) => Err(syn::Error::new(nv.span(), "expected `#[workflow(…)]`")),
        };
        let args = match args {
            Ok(args) => args,
            Err(e) => {
                errors.push(error(e.span(), e.to_string()));
                continue;
            }
        };
        let location = at(attr.span());
        let attribute_errors =
            |errs: darling::Error| errs.into_iter().map(|e| error(e.span(), e.to_string())).collect::<Vec<_>>();
        match kind {
            Kind::Workflow => match analyze_workflow(&args, &fn_item) {
                Ok(def) => {
                    let mut descriptor = item.module.clone();
                    descriptor.push(def.names.class_name.clone());
                    found.push(Found::Workflow(WorkflowSpec {
                        export_name: def.names.export_name.clone(),
                        descriptor_path: descriptor.join("::"),
                        deployed_name: def.deployed_name.clone(),
                        binding: def.names.binding.clone(),
                        class_name: def.names.class_name.clone(),
                        schedules: def.schedules.clone(),
                        step_limit: def.step_limit,
                        location,
                    }))
                }
                Err(errs) => errors.extend(attribute_errors(errs)),
            },
            Kind::Step => match analyze_step(&args, &fn_item) {
                Ok(def) => found.push(Found::Step(def.name.clone(), location)),
                Err(errs) => errors.extend(attribute_errors(errs)),
            },
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
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
