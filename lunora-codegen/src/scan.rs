//! Finds every `#[workflow]` and `#[step]` of a crate by walking its module tree from the crate
//! root (inline `mod x { … }` and `mod x;` files, `#[path]` honoured) and reading each
//! attribute through `lunora-macros-support`, the parser the macros themselves use.
//!
//! Each module file is read and outlined at byte level ([`crate::outline`]), and the annotated
//! fns' signatures are analysed, as separate tasks on a thread pool ([`crate::pool`]): a file
//! queues its child files and its fns as it finds them. The results are then put back in the
//! order of a sequential walk, so the output never depends on which thread ran what.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lunora_macros_support::{analyze_step, analyze_workflow, FnItem};
use syn::spanned::Spanned;

use crate::files::{read_source, Listings};
use crate::outline::{outline, Entry};
use crate::pool::{self, Queue};
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
    let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
    let first = Task::File(ModuleFile { path: root.to_path_buf(), dir, module: Vec::new() });
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let listings = Listings::default();
    // Each thread reads every file into one buffer of its own.
    let buffer = || String::with_capacity(64 * 1024);
    let mut results: Vec<Option<Done>> = pool::run(first, threads, buffer, |source, task, queue| match task {
        Task::File(file) => Done::File(read_module(file, source, &Context { base, listings: &listings, queue })),
        Task::Item(item) => Done::Item(analyze(&item)),
    })
    .into_iter()
    .map(Some)
    .collect();

    let mut scanner = Scanner { scan: Scan::default(), errors: Vec::new(), analyses: Vec::new() };
    scanner.assemble(0, &mut results);
    let analyses = std::mem::take(&mut scanner.analyses);
    scanner.collect(analyses.into_iter());
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

type Analysis = Result<Vec<Found>, Vec<Diagnostic>>;

/// A unit of work for the pool.
enum Task {
    File(ModuleFile),
    Item(Pending),
}

/// What a task produced.
enum Done {
    File(Result<ReadFile, Diagnostic>),
    Item(Analysis),
}

/// A module file to read. `dir` is where its child modules' files live.
struct ModuleFile {
    path: PathBuf,
    dir: PathBuf,
    module: Vec<String>,
}

/// A module file read, with what it contributes in source order.
struct ReadFile {
    path: PathBuf,
    parts: Vec<Part>,
}

/// (The rare variants are boxed: a crate root may list thousands of modules.)
enum Part {
    /// A `mod lunora_workflows;`.
    Registry(Box<ModuleDeclaration>),
    /// A `mod x;` whose file does not exist.
    Missing(Box<Diagnostic>),
    /// The task reading a child module file.
    File(usize),
    /// The task analysing an annotated fn.
    Item(usize),
}

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

fn shown(file: &Path, base: &Path) -> PathBuf {
    file.strip_prefix(base).unwrap_or(file).to_path_buf()
}

/// What a file task works with besides its file.
struct Context<'a> {
    /// What paths in diagnostics are relative to.
    base: &'a Path,
    listings: &'a Listings,
    queue: &'a Queue<Task>,
}

/// Reads (into `source`) and outlines one module file, queueing its child files and annotated fns.
fn read_module(file: ModuleFile, source: &mut String, cx: &Context<'_>) -> Result<ReadFile, Diagnostic> {
    let ModuleFile { path, dir, module } = file;
    let here = shown(&path, cx.base);
    read_source(&path, source).map_err(|e| Diagnostic {
        location: Location { file: here.clone(), line: 1, column: 1 },
        message: format!("cannot read this module file: {e}"),
    })?;
    let mut parts = Vec::new();
    // A file that mentions no attribute and no module cannot contribute anything.
    if !(source.contains("workflow") || source.contains("step") || source.contains("mod")) {
        return Ok(ReadFile { path, parts });
    }
    // Inline modules nest: each entry of `stack` is (module path, dir of its `mod x;` files).
    let mut stack: Vec<(Vec<String>, PathBuf)> = vec![(module, dir)];
    for entry in outline(source) {
        let (current, current_dir) = stack.last().expect("the file's own module is never popped");
        match entry {
            Entry::Module { name, inline: true, path: explicit, .. } => {
                let mut child = current.clone();
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
                let location = Location { file: here.clone(), line, column };
                if name == REGISTRY_MODULE {
                    // The registry is one file: `name.rs` (never `name/mod.rs`) or the `#[path]`.
                    let file = current_dir.join(explicit.clone().unwrap_or_else(|| format!("{name}.rs")));
                    let declaration = ModuleDeclaration { location: location.clone(), file, rustfmt_skip, visibility };
                    parts.push(Part::Registry(Box::new(declaration)));
                }
                parts.extend(module_file(&name, explicit, location, current_dir, current, cx));
            }
            Entry::Item { text, line, column } => {
                let item = Pending { file: here.clone(), text, line, column, module: current.clone() };
                parts.push(Part::Item(cx.queue.push(Task::Item(item))));
            }
        }
    }
    Ok(ReadFile { path, parts })
}

/// Deeper than any real crate, shallow enough to stop a module cycle at once.
const MAX_MODULE_DEPTH: usize = 128;

/// The file of `mod name;`, queued for reading; a diagnostic if it does not exist.
fn module_file(
    name: &str,
    explicit: Option<String>,
    at: Location,
    dir: &Path,
    module: &[String],
    cx: &Context<'_>,
) -> Option<Part> {
    if module.len() >= MAX_MODULE_DEPTH {
        // A `#[path]` leading back to an enclosing file: rustc reports the cycle; without this
        // the tasks would queue one another for ever.
        let message = format!(
            "module `{name}` would be nested {} modules deep; does a `#[path]` lead back to an enclosing file?",
            module.len() + 1
        );
        return Some(Part::Missing(Box::new(Diagnostic { location: at, message })));
    }
    let mut child = module.to_vec();
    child.push(name.to_owned());
    let candidates = match &explicit {
        Some(p) => vec![dir.join(p)],
        None => {
            // `mod r#type;` lives in type.rs.
            let stem = name.strip_prefix("r#").unwrap_or(name);
            vec![dir.join(format!("{stem}.rs")), dir.join(stem).join("mod.rs")]
        }
    };
    match candidates.iter().find(|c| cx.listings.is_file(c)).cloned() {
        Some(file) => {
            let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs") || explicit.is_some();
            let child_dir = if is_mod_rs {
                file.parent().unwrap_or(dir).to_path_buf()
            } else {
                dir.join(name.strip_prefix("r#").unwrap_or(name))
            };
            Some(Part::File(cx.queue.push(Task::File(ModuleFile { path: file, dir: child_dir, module: child }))))
        }
        // The registry this tool generates may not exist before the first sync.
        None if name == REGISTRY_MODULE => None,
        None => {
            let tried: Vec<String> = candidates.iter().map(|c| shown(c, cx.base).display().to_string()).collect();
            let message = format!("module `{name}` not found (tried {})", tried.join(", "));
            Some(Part::Missing(Box::new(Diagnostic { location: at, message })))
        }
    }
}

/// Puts the tasks' results together in the order of a sequential walk.
struct Scanner {
    scan: Scan,
    errors: Vec<Diagnostic>,
    /// The analyses of the annotated fns, in source order.
    analyses: Vec<Analysis>,
}

impl Scanner {
    /// Takes the results of the file task `id` and of everything it queued, depth first.
    fn assemble(&mut self, id: usize, results: &mut [Option<Done>]) {
        match results[id].take() {
            Some(Done::File(Ok(file))) => {
                self.scan.files.push(file.path);
                for part in file.parts {
                    match part {
                        Part::Registry(declaration) => self.scan.registry_declarations.push(*declaration),
                        Part::Missing(diagnostic) => self.errors.push(*diagnostic),
                        Part::File(child) => self.assemble(child, results),
                        Part::Item(item) => match results[item].take() {
                            Some(Done::Item(analysis)) => self.analyses.push(analysis),
                            _ => unreachable!("an item task yields one analysis"),
                        },
                    }
                }
            }
            Some(Done::File(Err(diagnostic))) => self.errors.push(diagnostic),
            _ => unreachable!("a file task yields one file"),
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

    /// Two workflows may not share a deployed name, a binding, a class name or a registry
    /// accessor (`xHTTPServer` and `xHttpServer` differ in all else but both are `x_http_server()`).
    fn check_duplicates(&mut self) {
        type Key = fn(&WorkflowSpec) -> String;
        let keys: [(&str, Key); 4] = [
            ("deployed name", |w| w.deployed_name.clone()),
            ("binding", |w| w.binding.clone()),
            ("class name", |w| w.class_name.clone()),
            ("registry accessor", |w| lunora_shared::naming::registry_accessor(&w.export_name)),
        ];
        for (what, key) in keys {
            let mut seen: HashMap<String, &WorkflowSpec> = HashMap::new();
            let mut found = Vec::new();
            for w in &self.scan.workflows {
                let value = key(w);
                if let Some(first) = seen.get(&value) {
                    // Same binding or class: already reported, and renaming fixes the accessor too.
                    let reported = first.binding == w.binding || first.class_name == w.class_name;
                    if what == "registry accessor" && reported {
                        continue;
                    }
                    found.push(Diagnostic {
                        location: w.location.clone(),
                        message: format!(
                            "workflow `{}` has the same {what} \"{value}\" as workflow `{}` at {}; rename one \
                             (`#[workflow(name = \"…\")]` sets the deployed name, the fn name sets the others)",
                            w.export_name, first.export_name, first.location
                        ),
                    });
                } else {
                    seen.insert(value, w);
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
            // The macros' own fast path for plain lists (same result as darling's parser).
            syn::Meta::List(list) => lunora_macros_support::plain::parse_meta_list(list.tokens.clone()),
            syn::Meta::NameValue(nv) => Err(syn::Error::new(nv.span(), "expected `#[workflow(…)]`")),
        };
        let args = match args {
            Ok(args) => args,
            Err(e) => {
                errors.push(error(e.span(), e.to_string()));
                continue;
            }
        };
        // Where `attr.span()` starts, without rebuilding the attribute's tokens to join their spans.
        let location = at(attr.pound_token.span);
        let attribute_errors =
            |errs: darling::Error| errs.into_iter().map(|e| error(e.span(), e.to_string())).collect::<Vec<_>>();
        match kind {
            Kind::Workflow => match analyze_workflow(&args, &fn_item) {
                Ok(def) => {
                    let mut descriptor = item.module.clone();
                    descriptor.push(def.names.class_name.clone());
                    found.push(Found::Workflow(WorkflowSpec {
                        export_name: def.names.export_name,
                        descriptor_path: descriptor.join("::"),
                        deployed_name: def.deployed_name,
                        binding: def.names.binding,
                        class_name: def.names.class_name,
                        schedules: def.schedules,
                        step_limit: def.step_limit,
                        location,
                    }))
                }
                Err(errs) => errors.extend(attribute_errors(errs)),
            },
            Kind::Step => match analyze_step(&args, &fn_item) {
                Ok(def) => found.push(Found::Step(def.name, location)),
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
