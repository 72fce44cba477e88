//! Finds every `#[workflow]` and `#[step]` of a crate as rustc would compile them: it walks the
//! module tree from the crate root (inline `mod x { … }` and `mod x;` files, found by rustc's
//! rules, `#[path]` included), resolves each candidate attribute through the modules' `use`
//! items (`crate::resolve`), carries the `#[cfg]`s of the item and its enclosing modules, and
//! reads each lunora attribute through `lunora-macros-support`, the parser the macros use.
//!
//! Each module file is read and outlined at byte level ([`crate::outline`]) as a task on a
//! thread pool (`crate::pool`): a file queues its child files as it finds them. The results
//! are then put back in the order of a sequential walk, the attributes resolved, and the
//! lunora ones analysed on the pool too, so the output never depends on which thread ran what.
//!
//! The work is bounded: a file that would include itself (a `#[path]` or a symlink leading back
//! to an enclosing module's file) is an error, and so is a module tree of more than
//! [`MAX_FILES`] files (a file included more than once at each level grows exponentially).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use lunora_macros_support::{analyze_step, analyze_workflow, FnItem};
use lunora_shared::attributes::{AttributeKind, RUNTIME_CRATE};
use lunora_shared::layout::{ENTRY_FILE, REGISTRY_FILE, REGISTRY_MODULE};
use quote::ToTokens;
use syn::spanned::Spanned;

use crate::cache::{self, Analyses, Cache, Found};
use crate::files::{read_source, FileId, Listings};
use crate::outline::{outline, unraw, Entry, Import, SimplePath};
use crate::pool::{self, Queue};
use crate::resolve::{self, Blocked, Modules, Resolution};
use crate::spec::{Location, WorkflowSpec};

/// More module files than any real crate has; past it, a `#[path]` is including files over
/// and over, and the scan stops instead of growing without end.
pub const MAX_FILES: usize = 20_000;
/// Deeper than any real crate.
const MAX_MODULE_DEPTH: usize = 128;

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
    /// Advice that does not stop the scan: attributes that cannot be told lunora's or not,
    /// macros that may hide modules or workflows, workflows a Worker build may not compile.
    pub warnings: Vec<Diagnostic>,
    /// What each annotated fn held, for the next run (see [`crate::cache`]).
    pub(crate) analyses: Analyses,
}

impl Scan {
    /// The workflows a Worker build may compile, which the JS entry module and the wrangler
    /// config declare: all but those whose `#[cfg]` is false on wasm32 outside tests (e.g.
    /// `#[cfg(test)]`). Those are in the registry only, under their cfg.
    pub fn deployed_workflows(&self) -> Vec<WorkflowSpec> {
        self.workflows.iter().filter(|w| w.deployed()).cloned().collect()
    }
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
    scan_crate_with(root, base, &Cache::default())
}

/// [`scan_crate`], taking the analysis of an annotated fn from `cache` when it holds it.
pub(crate) fn scan_crate_with(root: &Path, base: &Path, cache: &Cache) -> Result<Scan, Vec<Diagnostic>> {
    let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
    let first = ModuleFile {
        path: root.to_path_buf(),
        dir,
        relative: None,
        module: Vec::new(),
        ancestors: Vec::new(),
        declaration: None,
    };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let listings = Listings::default();
    let files = AtomicUsize::new(1);
    let cx = Context { base, listings: &listings, files: &files, cache };
    // Each thread reads every file into one buffer of its own.
    let buffer = || String::with_capacity(64 * 1024);
    let mut results: Vec<Option<Done>> =
        pool::run(Task::File(first), threads, buffer, |source, task, queue| match task {
            Task::File(file) => Done::File(read_module(file, source, &cx, queue)),
            Task::Analyze(job) => {
                let analysis = analyze(&job, cache);
                Done::Analyzed(job, analysis)
            }
        })
        .into_iter()
        .map(Some)
        .collect();

    let mut scanner = Scanner::default();
    scanner.assemble(0, &mut results);
    if scanner.too_many_files {
        scanner.errors.push(Diagnostic {
            location: Location { file: shown(root, base), line: 1, column: 1 },
            message: format!(
                "the module tree has more than {MAX_FILES} files; is a `#[path]` including the same file \
                 from several modules at each level? Include each file once"
            ),
        });
    }
    let slots = scanner.resolve();
    let jobs: Vec<&Job> =
        slots.iter().filter_map(|s| if let Slot::Later(job) = s { Some(job) } else { None }).collect();
    let mut later = pool::map(&jobs, threads, |job| analyze(job, cache)).into_iter();
    for slot in slots {
        let (job, analysis) = match slot {
            Slot::Done(job, analysis) => (job, analysis),
            Slot::Later(job) => (job, later.next().expect("one analysis per job")),
        };
        scanner.collect(job, analysis);
    }
    scanner.check_reachable();
    scanner.check_duplicates();
    scanner.warn_conditional();
    let Scanner { mut scan, errors, .. } = scanner;
    if errors.is_empty() {
        scan.warnings.sort_by(|a, b| by_place(&a.location, &b.location));
        Ok(scan)
    } else {
        let mut errors = errors;
        errors.sort_by(|a, b| by_place(&a.location, &b.location));
        Err(errors)
    }
}

fn by_place(a: &Location, b: &Location) -> std::cmp::Ordering {
    (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column))
}

/// `file` relative to `base` when it lies under it, as [`Path::strip_prefix`] says. Module files
/// are found by joining names onto the crate's directory, so their paths nearly always start
/// with `base` as spelled: that is checked on the bytes first (`strip_prefix` parses both
/// paths' components, which was a tenth of reading a module file).
fn shown(file: &Path, base: &Path) -> PathBuf {
    #[cfg(unix)]
    if let Some(relative) = plain_relative(file, base) {
        return PathBuf::from(relative);
    }
    file.strip_prefix(base).unwrap_or(file).to_path_buf()
}

/// `file`'s bytes after `base` and a `/`, when they are UTF-8 names joined by single `/`s,
/// none of them `.`: then they are exactly what `strip_prefix` would give.
#[cfg(unix)]
fn plain_relative<'a>(file: &'a Path, base: &Path) -> Option<&'a str> {
    let (file, base) = (file.as_os_str().as_encoded_bytes(), base.as_os_str().as_encoded_bytes());
    if base.is_empty() || base.ends_with(b"/") {
        return None;
    }
    let relative = std::str::from_utf8(file.strip_prefix(base)?.strip_prefix(b"/")?).ok()?;
    relative.split('/').all(|name| !name.is_empty() && name != ".").then_some(relative)
}

/// A unit of work for the pool.
enum Task {
    File(ModuleFile),
    /// A fn whose attributes are named `workflow`/`step`, analysed while files are still being
    /// read: the resolution nearly always confirms them (the analysis is redone if it does not).
    Analyze(Job),
}

/// What a task produced.
enum Done {
    File(Result<ReadFile, Diagnostic>),
    Analyzed(Job, Analysis),
}

/// A module file to read.
struct ModuleFile {
    path: PathBuf,
    /// rustc's module directory: where `#[path]`s on its `mod x;` items are relative to.
    dir: PathBuf,
    /// For a file found as `name.rs` (not `mod.rs`, not the crate root, not through `#[path]`):
    /// its name, the directory its `mod x;` files are in below `dir`.
    relative: Option<String>,
    module: Vec<String>,
    /// The files of the enclosing modules, to catch a file included inside itself.
    ancestors: Vec<FileId>,
    /// The `mod` item naming it (none for the crate root).
    declaration: Option<Declared>,
}

/// How a module was declared.
struct Declared {
    name: String,
    visibility: String,
    cfgs: Vec<String>,
    location: Location,
}

/// A module file read, with what it contributes in source order.
struct ReadFile {
    path: PathBuf,
    module: Vec<String>,
    declaration: Option<Declared>,
    parts: Vec<Part>,
}

/// (The rare variants are boxed: a crate root may list thousands of modules.)
enum Part {
    /// A `mod lunora_workflows;`.
    Registry(Box<ModuleDeclaration>),
    /// A problem that stops the scan (a module file that does not exist…).
    Problem(Box<Diagnostic>),
    /// Advice (a macro that may hide modules…).
    Warning(Box<Diagnostic>),
    /// A module file not read because the crate has too many.
    TooMany,
    /// The task reading a child module file.
    File(usize),
    /// An inline module's start and end.
    Enter(Box<Declared>),
    Leave,
    /// `#![cfg(…)]` on the current module.
    ModuleCfg(String),
    Use(Vec<Import>),
    /// A fn with attributes that may be lunora's.
    Item(Box<Pending>),
    /// The task analysing such a fn early.
    Analyzed(usize),
    /// Such a fn whose analysis the cache held: taken while reading its file, as a task of its
    /// own would cost more than the look-up.
    Cached(Box<(Job, Analysis)>),
}

/// A fn with candidate attributes, waiting for resolution and analysis.
struct Pending {
    file: PathBuf,
    text: String,
    line: usize,
    column: usize,
    attributes: Vec<SimplePath>,
    cfgs: Vec<String>,
}

/// What a file task works with besides its file.
struct Context<'a> {
    /// What paths in diagnostics are relative to.
    base: &'a Path,
    listings: &'a Listings,
    /// Module files queued so far.
    files: &'a AtomicUsize,
    /// Analyses a previous run kept.
    cache: &'a Cache,
}

/// An inline module open while outlining a file.
struct Open {
    module: Vec<String>,
    dir: PathBuf,
    relative: Option<String>,
}

/// Reads (into `source`) and outlines one module file, queueing its child files.
fn read_module(
    file: ModuleFile,
    source: &mut String,
    cx: &Context<'_>,
    queue: &Queue<Task>,
) -> Result<ReadFile, Diagnostic> {
    let ModuleFile { path, dir, relative, module, mut ancestors, declaration } = file;
    let here = shown(&path, cx.base);
    let at_declaration = || match &declaration {
        Some(d) => d.location.clone(),
        None => Location { file: here.clone(), line: 1, column: 1 },
    };
    let id = read_source(&path, source).map_err(|e| Diagnostic {
        location: at_declaration(),
        message: format!("cannot read module file {}: {e}", here.display()),
    })?;
    if ancestors.contains(&id) {
        let name = declaration.as_ref().map_or("", |d| d.name.as_str());
        return Err(Diagnostic {
            location: at_declaration(),
            message: format!(
                "`mod {name}` includes {}, which is already included by an enclosing module: a `#[path]` \
                 (or a symlink) leads back to it, which rustc rejects too; point it at another file",
                here.display()
            ),
        });
    }
    ancestors.push(id);
    let mut parts = Vec::new();
    // A file that mentions no attribute, module or import cannot contribute anything.
    let mentions_attribute = AttributeKind::ALL.iter().any(|kind| source.contains(kind.name()));
    if !(mentions_attribute || source.contains("mod") || source.contains("use")) {
        return Ok(ReadFile { path, module, declaration, parts });
    }
    let mut stack = vec![Open { module, dir, relative }];
    for entry in outline(source) {
        let current = stack.last().expect("the file's own module is never popped");
        match entry {
            Entry::Module { name, inline: true, path: explicit, visibility, cfgs, line, column, .. } => {
                let mut child = current.module.clone();
                child.push(name.clone());
                // rustc: an inline module's `#[path]` names its directory, from the module
                // directory; otherwise it is a directory below the current one.
                let dir = match explicit {
                    Some(p) => current.dir.join(p),
                    None => current.dir.join(current.relative.as_deref().unwrap_or("")).join(unraw(&name)),
                };
                let location = Location { file: here.clone(), line, column };
                parts.push(Part::Enter(Box::new(Declared { name, visibility, cfgs, location })));
                stack.push(Open { module: child, dir, relative: None });
            }
            Entry::EndModule => {
                if stack.len() > 1 {
                    stack.pop();
                    parts.push(Part::Leave);
                }
            }
            Entry::Module { name, inline: false, path: explicit, rustfmt_skip, visibility, cfgs, line, column } => {
                let location = Location { file: here.clone(), line, column };
                let declared = Declared { name, visibility, cfgs, location };
                if declared.name == REGISTRY_MODULE {
                    // The registry is one file: `name.rs` (never `name/mod.rs`) or the `#[path]`.
                    let file = match &explicit {
                        Some(p) => current.dir.join(p),
                        None => current.dir.join(current.relative.as_deref().unwrap_or("")).join(REGISTRY_FILE),
                    };
                    let registry = ModuleDeclaration {
                        location: declared.location.clone(),
                        file,
                        rustfmt_skip,
                        visibility: declared.visibility.clone(),
                    };
                    parts.push(Part::Registry(Box::new(registry)));
                    // Generated by sync from this scan: it declares no workflow or step, and
                    // on a large crate it is the largest file (reading it would be wasted).
                    continue;
                }
                parts.extend(module_file(declared, explicit, current, &ancestors, cx, queue));
            }
            Entry::ModuleCfg(predicate) => parts.push(Part::ModuleCfg(predicate)),
            // A `use` of nothing that may lead to an attribute tells the resolution nothing.
            Entry::Use(imports) if imports.is_empty() => {}
            Entry::Use(imports) => parts.push(Part::Use(imports)),
            Entry::Item { text, line, column, attributes, cfgs } => {
                let item = Box::new(Pending { file: here.clone(), text, line, column, attributes, cfgs });
                let kinds = named_kinds(&item.attributes);
                if kinds.is_empty() {
                    parts.push(Part::Item(item));
                } else {
                    let job = Job { item, module: current.module.clone(), cfg: None, kinds };
                    parts.push(match cx.cache.get(&cache::kinds_key(&job.kinds), &job.item.text) {
                        Some(found) => Part::Cached(Box::new((job, Ok(found)))),
                        None => Part::Analyzed(queue.push(Task::Analyze(job))),
                    });
                }
            }
            Entry::Macro { name, line, column } => {
                let message = format!(
                    "`{name}` may declare modules or workflows, and lunora-codegen does not expand macros: \
                     anything it declares is left out of the registry. Declare such modules and workflows \
                     outside macros (a `#[cfg]` on each item does what cfg_if! does)"
                );
                let location = Location { file: here.clone(), line, column };
                parts.push(Part::Warning(Box::new(Diagnostic { location, message })));
            }
            Entry::ConditionalAttribute { name, line, column } => {
                let message = format!(
                    "`#[cfg_attr(…, {name})]`: lunora-codegen does not evaluate cfg_attr, so if this is lunora's \
                     #[{name}] it is left out of the registry, the JS entry and the wrangler config. Write the \
                     attribute unconditionally and put the condition in a `#[cfg(…)]` on the fn or its module \
                     (sync carries cfgs onto the registry)"
                );
                let location = Location { file: here.clone(), line, column };
                parts.push(Part::Warning(Box::new(Diagnostic { location, message })));
            }
        }
    }
    let Open { module, .. } = stack.swap_remove(0);
    Ok(ReadFile { path, module, declaration, parts })
}

/// The file of `mod name;` declared in `current`, found as rustc finds it and queued for
/// reading; a diagnostic if it does not exist or is ambiguous.
fn module_file(
    declared: Declared,
    explicit: Option<String>,
    current: &Open,
    ancestors: &[FileId],
    cx: &Context<'_>,
    queue: &Queue<Task>,
) -> Option<Part> {
    let problem =
        |message: String| Some(Part::Problem(Box::new(Diagnostic { location: declared.location.clone(), message })));
    if current.module.len() >= MAX_MODULE_DEPTH {
        return problem(format!(
            "module `{}` would be nested {} modules deep; does a `#[path]` lead back to an enclosing file?",
            declared.name,
            current.module.len() + 1
        ));
    }
    let name = unraw(&declared.name).to_owned();
    let (file, dir, relative) = match &explicit {
        // A `#[path]` is relative to the module directory (for `a.rs`, the directory holding
        // it, not `a/`), and the file it names is treated like a `mod.rs`.
        Some(p) => {
            let file = current.dir.join(p);
            if !cx.listings.is_file(&file) {
                return problem(format!(
                    "module `{}` not found: its #[path] names {}, which is not a file",
                    declared.name,
                    shown(&file, cx.base).display()
                ));
            }
            let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
            (file, dir, None)
        }
        None => {
            let base = current.dir.join(current.relative.as_deref().unwrap_or(""));
            let (plain, directory) = (base.join(format!("{name}.rs")), base.join(&name));
            // `name/mod.rs` is only looked for beside `name.rs` if `name/` may exist: most
            // modules have no directory, and the probe would cost system calls.
            let plain_exists = cx.listings.is_file(&plain);
            let mod_rs_wanted = !plain_exists || cx.listings.may_be_dir(&directory);
            let mod_rs_exists = mod_rs_wanted && cx.listings.is_file(&directory.join("mod.rs"));
            if plain_exists && !mod_rs_exists {
                // Nearly every module: no `mod.rs` path to build.
                return queue_module_file(declared, (plain, base, Some(name)), current, ancestors, cx, queue);
            }
            let mod_rs = directory.join("mod.rs");
            match (plain_exists, mod_rs_exists) {
                (false, true) => (mod_rs, base.join(&name), None),
                // (With no `mod.rs`, `name.rs` was queued above.)
                (true, _) => {
                    return problem(format!(
                        "module `{}` has two files, {} and {}; rustc refuses this: delete or rename one",
                        declared.name,
                        shown(&plain, cx.base).display(),
                        shown(&mod_rs, cx.base).display()
                    ))
                }
                // The registry this tool generates may not exist before the first sync.
                (false, false) if name == REGISTRY_MODULE => return None,
                (false, false) => {
                    if let Some(link) = [&plain, &mod_rs].into_iter().find(|c| c.symlink_metadata().is_ok()) {
                        return problem(format!(
                            "module `{}`: {} is a symbolic link that leads to no file (a loop, or a dangling link); \
                             point it at the module's file",
                            declared.name,
                            shown(link, cx.base).display()
                        ));
                    }
                    return problem(format!(
                        "module `{}` not found (tried {}, {})",
                        declared.name,
                        shown(&plain, cx.base).display(),
                        shown(&mod_rs, cx.base).display()
                    ));
                }
            }
        }
    };
    queue_module_file(declared, (file, dir, relative), current, ancestors, cx, queue)
}

/// Queues the module file found for `declared`: its path, module directory and name (see
/// [`ModuleFile`]).
fn queue_module_file(
    declared: Declared,
    (file, dir, relative): (PathBuf, PathBuf, Option<String>),
    current: &Open,
    ancestors: &[FileId],
    cx: &Context<'_>,
    queue: &Queue<Task>,
) -> Option<Part> {
    if cx.files.fetch_add(1, Ordering::Relaxed) >= MAX_FILES {
        return Some(Part::TooMany);
    }
    let mut module = current.module.clone();
    module.push(declared.name.clone());
    let child =
        ModuleFile { path: file, dir, relative, module, ancestors: ancestors.to_vec(), declaration: Some(declared) };
    Some(Part::File(queue.push(Task::File(child))))
}

/// A module open while the results are put together.
struct Frame {
    module: Vec<String>,
    cfgs: Vec<String>,
}

/// A candidate fn with its place in the module tree.
struct Candidate {
    item: Box<Pending>,
    module: Vec<String>,
    /// The cfgs of its enclosing modules, outermost first, then its own.
    cfgs: Vec<String>,
    /// Its early analysis, for the kinds its attributes' names suggested.
    early: Option<(Vec<(SimplePath, AttributeKind)>, Analysis)>,
}

/// A fn to analyse: its lunora attributes, resolved.
struct Job {
    item: Box<Pending>,
    module: Vec<String>,
    cfg: Option<String>,
    kinds: Vec<(SimplePath, AttributeKind)>,
}

/// A fn with lunora attributes, analysed or to be.
enum Slot {
    Done(Job, Analysis),
    Later(Job),
}

/// The kinds the attributes' last segments suggest (`#[workflow]`, `#[x::step]`…).
fn named_kinds(attributes: &[SimplePath]) -> Vec<(SimplePath, AttributeKind)> {
    attributes.iter().filter_map(|p| Some((p.clone(), AttributeKind::of(p.last())?))).collect()
}

/// What the analysis of one annotated fn produced, placed within its text.
type Analysis = Result<Vec<Found>, Vec<Diagnostic>>;

/// Puts the tasks' results together in the order of a sequential walk.
#[derive(Default)]
struct Scanner {
    scan: Scan,
    errors: Vec<Diagnostic>,
    too_many_files: bool,
    modules: Modules,
    frames: Vec<Frame>,
    candidates: Vec<Candidate>,
    /// The module the registry is declared in (its own path), when it is declared.
    registry: Option<Vec<String>>,
    /// The workflows' modules and fn visibilities, beside `scan.workflows`.
    workflow_places: Vec<(Vec<String>, String)>,
}

impl Scanner {
    /// Takes the results of the file task `id` and of everything it queued, depth first.
    fn assemble(&mut self, id: usize, results: &mut [Option<Done>]) {
        let file = match results[id].take() {
            Some(Done::File(Ok(file))) => file,
            Some(Done::File(Err(diagnostic))) => return self.errors.push(diagnostic),
            _ => unreachable!("a file task yields one file"),
        };
        self.scan.files.push(file.path);
        let (visibility, cfgs, location) = match file.declaration {
            Some(d) => (d.visibility, d.cfgs, Some(d.location)),
            None => (String::new(), Vec::new(), None),
        };
        self.modules.declare(&file.module, visibility, location);
        let depth = self.frames.len();
        self.frames.push(Frame { module: file.module, cfgs });
        for part in file.parts {
            let current = &self.frames.last().expect("a file's frame is open").module;
            match part {
                Part::Registry(declaration) => {
                    if self.registry.is_none() {
                        let mut module = current.clone();
                        module.push(REGISTRY_MODULE.into());
                        self.registry = Some(module);
                    }
                    self.scan.registry_declarations.push(*declaration);
                }
                Part::Problem(diagnostic) => self.errors.push(*diagnostic),
                Part::Warning(diagnostic) => self.scan.warnings.push(*diagnostic),
                Part::TooMany => self.too_many_files = true,
                Part::File(child) => self.assemble(child, results),
                Part::Enter(declared) => {
                    let mut module = current.clone();
                    module.push(declared.name);
                    self.modules.declare(&module, declared.visibility, Some(declared.location));
                    self.frames.push(Frame { module, cfgs: declared.cfgs });
                }
                Part::Leave => {
                    self.frames.pop();
                }
                Part::ModuleCfg(predicate) => self.frames.last_mut().expect("open").cfgs.push(predicate),
                Part::Use(imports) => self.modules.import(current, imports),
                Part::Item(item) => {
                    let cfgs = self.cfgs_of(&item);
                    self.candidates.push(Candidate { item, module: current.clone(), cfgs, early: None });
                }
                Part::Analyzed(task) => {
                    let Some(Done::Analyzed(job, analysis)) = results[task].take() else {
                        unreachable!("an analysis task yields one analysis")
                    };
                    self.analyzed_early(job, analysis);
                }
                Part::Cached(cached) => {
                    let (job, analysis) = *cached;
                    self.analyzed_early(job, analysis);
                }
            }
        }
        self.frames.truncate(depth);
    }

    /// A fn analysed for the kinds its attributes' names suggest, before resolution.
    fn analyzed_early(&mut self, job: Job, analysis: Analysis) {
        let Job { item, module, kinds, .. } = job;
        let cfgs = self.cfgs_of(&item);
        self.candidates.push(Candidate { item, module, cfgs, early: Some((kinds, analysis)) });
    }

    /// The cfgs of the open modules, outermost first, then the item's.
    fn cfgs_of(&self, item: &Pending) -> Vec<String> {
        self.frames.iter().flat_map(|f| f.cfgs.iter()).chain(&item.cfgs).cloned().collect()
    }

    /// Decides which candidate attributes are lunora's; returns the fns with some, analysed
    /// already or to be analysed.
    fn resolve(&mut self) -> Vec<Slot> {
        let mut slots = Vec::new();
        for Candidate { item, module, cfgs, early } in std::mem::take(&mut self.candidates) {
            let mut kinds = Vec::new();
            for path in &item.attributes {
                let at = || Location { file: item.file.clone(), line: item.line, column: item.column };
                match self.modules.attribute(&module, path) {
                    Resolution::Lunora(kind) => kinds.push((path.clone(), kind)),
                    Resolution::NotLunora => {}
                    Resolution::Unknown(why) => self.scan.warnings.push(Diagnostic {
                        location: at(),
                        message: format!(
                            "`#[{path}]` is left out: it cannot be told to be lunora's ({why}). If it is, import it \
                             explicitly (`use {RUNTIME_CRATE}::{name};`) or write `#[{RUNTIME_CRATE}::{name}]`",
                            name = path.last()
                        ),
                    }),
                    Resolution::Unimported(kind) => {
                        self.scan.warnings.push(Diagnostic {
                            location: at(),
                            message: format!(
                                "no import in module `{}` provides `#[{path}]`; it is taken for lunora's. \
                                 Add `use {RUNTIME_CRATE}::{};` to that module (rustc needs it too)",
                                resolve::shown(&module),
                                kind.name()
                            ),
                        });
                        kinds.push((path.clone(), kind));
                    }
                }
            }
            if kinds.is_empty() {
                continue;
            }
            let job = Job { item, module, cfg: crate::cfg::combine(&cfgs), kinds };
            slots.push(match early {
                Some((guessed, analysis)) if guessed == job.kinds => Slot::Done(job, analysis),
                _ => Slot::Later(job),
            });
        }
        slots
    }

    /// Takes one fn's analysis (in source order).
    fn collect(&mut self, job: Job, result: Analysis) {
        let found = match result {
            Ok(found) => found,
            Err(diagnostics) => return self.errors.extend(diagnostics),
        };
        for f in &found {
            match f {
                Found::Workflow {
                    export_name,
                    deployed_name,
                    binding,
                    class_name,
                    schedules,
                    step_limit,
                    visibility,
                    at,
                } => {
                    let mut descriptor = job.module.clone();
                    descriptor.push(class_name.clone());
                    self.scan.workflows.push(WorkflowSpec {
                        export_name: export_name.clone(),
                        descriptor_path: descriptor.join("::"),
                        deployed_name: deployed_name.clone(),
                        binding: binding.clone(),
                        class_name: class_name.clone(),
                        schedules: schedules.clone(),
                        step_limit: *step_limit,
                        cfg: job.cfg.clone(),
                        location: place(&job.item, *at),
                    });
                    self.workflow_places.push((job.module.clone(), visibility.clone()));
                }
                Found::Step { name, at } => self.scan.steps.push((name.clone(), place(&job.item, *at))),
            }
        }
        self.scan.analyses.insert(cache::kinds_key(&job.kinds), job.item.text, found);
    }

    /// The registry names each workflow's descriptor by its path from the crate root: every
    /// module on the way, and the descriptor (which has its fn's visibility), must be visible
    /// from the registry's module, or the registry would not compile.
    fn check_reachable(&mut self) {
        let registry = self.registry.clone().unwrap_or_else(|| vec![REGISTRY_MODULE.to_owned()]);
        for (w, (module, visibility)) in self.scan.workflows.iter().zip(&self.workflow_places) {
            let message = match self.modules.unreachable(module, visibility, &registry) {
                None => continue,
                Some(Blocked::Module { name, visibility, parent, declared_at }) => {
                    let restricted =
                        if visibility.is_empty() { "private".to_owned() } else { format!("`{visibility}`") };
                    let place = declared_at.map(|l| format!(" ({l})")).unwrap_or_default();
                    format!(
                        "workflow `{}` is in `{}`, which the generated registry (`{}`) cannot reach: \
                         `mod {name}`{place} is {restricted} to `{parent}`. Declare it `pub(crate) mod {name}` \
                         (or `pub`)",
                        w.export_name,
                        resolve::shown(module),
                        resolve::shown(&registry),
                    )
                }
                Some(Blocked::Item { module }) => format!(
                    "workflow `{}`: its fn is private to `{module}`, so the generated registry (`{}`) cannot \
                     name its descriptor `{}` (which has the fn's visibility). Declare the fn `pub(crate)` \
                     (or `pub`)",
                    w.export_name,
                    resolve::shown(&registry),
                    w.class_name
                ),
            };
            self.errors.push(Diagnostic { location: w.location.clone(), message });
        }
    }

    /// Two workflows may not share a deployed name, a binding, a class name or a registry
    /// accessor (`xHTTPServer` and `xHttpServer` differ in all else but both are `x_http_server()`),
    /// and no class may be another workflow's runner (the JS entry module imports the runners
    /// and declares the classes side by side).
    fn check_duplicates(&mut self) {
        use lunora_shared::naming::{registry_accessor, runner_of_class, workflow_binding_name, workflow_class_name};
        type Key = fn(&WorkflowSpec) -> String;
        let keys: [(&str, Key, &str); 4] = [
            (
                "deployed name",
                |w| w.deployed_name.clone(),
                "`#[workflow(name = \"…\")]` sets the deployed name, else it derives from the fn's name",
            ),
            (
                "binding",
                |w| w.binding.clone(),
                "`#[workflow(binding = \"…\")]` sets the binding, else it derives from the fn's name",
            ),
            (
                "class name",
                |w| w.class_name.clone(),
                "`#[workflow(class = \"…\")]` sets the class name, else it derives from the fn's name",
            ),
            (
                "registry accessor",
                |w| registry_accessor(&w.export_name),
                "rename a fn, the registry accessor derives from its name",
            ),
        ];
        // Whether renaming the fn would change this name: only when it is derived from it.
        let derived_binding = |w: &WorkflowSpec| w.binding == workflow_binding_name(&w.export_name);
        let derived_class = |w: &WorkflowSpec| w.class_name == workflow_class_name(&w.export_name);
        for (what, key, how) in keys {
            let mut seen: HashMap<String, &WorkflowSpec> = HashMap::new();
            let mut found = Vec::new();
            for w in &self.scan.workflows {
                let value = key(w);
                if let Some(first) = seen.get(&value) {
                    // Same derived binding or class: already reported, and renaming a fn fixes the
                    // accessor too.
                    let reported = (first.binding == w.binding && derived_binding(first) && derived_binding(w))
                        || (first.class_name == w.class_name && derived_class(first) && derived_class(w));
                    if what == "registry accessor" && reported {
                        continue;
                    }
                    found.push(Diagnostic {
                        location: w.location.clone(),
                        message: format!(
                            "workflow `{}` has the same {what} \"{}\" as workflow `{}` at {}; change one: {how}",
                            w.export_name,
                            value.escape_debug(),
                            first.export_name,
                            first.location
                        ),
                    });
                } else {
                    seen.insert(value, w);
                }
            }
            self.errors.extend(found);
        }
        let runners: HashMap<String, &WorkflowSpec> =
            self.scan.workflows.iter().map(|w| (runner_of_class(&w.class_name), w)).collect();
        for w in &self.scan.workflows {
            if let Some(other) = runners.get(&w.class_name) {
                self.errors.push(Diagnostic {
                    location: w.location.clone(),
                    message: format!(
                        "workflow `{}` has the class name \"{}\", which is the name of the runner class of workflow \
                         `{}` at {} (its class name + `Runner`): the JS entry module would declare it twice; change \
                         one (`#[workflow(class = \"…\")]` sets the class name)",
                        w.export_name, w.class_name, other.export_name, other.location
                    ),
                });
            }
        }
    }

    /// A workflow whose cfg a Worker build may or may not meet (a feature…) is declared in the
    /// JS entry and the wrangler config all the same (they cannot be conditional): say so.
    fn warn_conditional(&mut self) {
        for w in &self.scan.workflows {
            let Some(cfg) = &w.cfg else { continue };
            if crate::cfg::on_worker(cfg).is_none() {
                self.scan.warnings.push(Diagnostic {
                    location: w.location.clone(),
                    message: format!(
                        "workflow `{}` is compiled only when `cfg({cfg})` holds: the registry carries that cfg, \
                         but {ENTRY_FILE} and the wrangler config declare it unconditionally, so build the \
                         Worker with it on (else the bundle fails to import `{}`)",
                        w.export_name,
                        lunora_shared::naming::runner_of_class(&w.class_name)
                    ),
                });
            }
        }
    }
}

/// The path of an attribute as the outline spells it.
fn attribute_path(attr: &syn::Attribute) -> SimplePath {
    let path = attr.path();
    SimplePath {
        leading_colon: path.leading_colon.is_some(),
        segments: path.segments.iter().map(|s| s.ident.to_string()).collect(),
    }
}

/// Where in its file a position within an annotated fn's text is (a span start: 1-based line,
/// 0-based column).
fn place(item: &Pending, (line, column): (usize, usize)) -> Location {
    let (line, column) = if line <= 1 { (item.line, item.column + column) } else { (item.line + line - 1, column + 1) };
    Location { file: item.file.clone(), line, column }
}

/// Analyses one annotated fn through the macros' own parser, unless `cache` holds its analysis.
fn analyze(job: &Job, cache: &Cache) -> Analysis {
    let item = &job.item;
    if let Some(found) = cache.get(&cache::kinds_key(&job.kinds), &item.text) {
        return Ok(found);
    }
    let start = |span: proc_macro2::Span| {
        let start = span.start();
        (start.line, start.column)
    };
    let error = |span: proc_macro2::Span, message: String| Diagnostic { location: place(item, start(span)), message };
    let fn_item = (item.text.parse::<proc_macro2::TokenStream>().map_err(syn::Error::from))
        .and_then(FnItem::parse_exact)
        .map_err(|e| vec![error(e.span(), format!("cannot read this annotated fn: {e}"))])?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for attr in &fn_item.attrs {
        let path = attribute_path(attr);
        let Some(&(_, kind)) = job.kinds.iter().find(|(p, _)| *p == path) else { continue };
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
        let at = start(attr.pound_token.span);
        let attribute_errors =
            |errs: darling::Error| errs.into_iter().map(|e| error(e.span(), e.to_string())).collect::<Vec<_>>();
        match kind {
            AttributeKind::Workflow => match analyze_workflow(&args, &fn_item) {
                Ok(def) => found.push(Found::Workflow {
                    export_name: def.names.export_name,
                    deployed_name: def.deployed_name,
                    binding: def.names.binding,
                    class_name: def.names.class_name,
                    schedules: def.schedules,
                    step_limit: def.step_limit,
                    visibility: fn_item.vis.to_token_stream().to_string(),
                    at,
                }),
                Err(errs) => errors.extend(attribute_errors(errs)),
            },
            AttributeKind::Step => match analyze_step(&args, &fn_item) {
                Ok(def) => found.push(Found::Step { name: def.name, at }),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte check gives what `strip_prefix` gives, or leaves the path to it.
    #[test]
    fn shown_agrees_with_strip_prefix() {
        let bases = ["/w/crate", "/w/crate/", "crate", ".", "./crate", "/", "", "/w/cr"];
        let files = [
            "/w/crate/src/lib.rs",
            "/w/crate//src/lib.rs",
            "/w/crate/./src/lib.rs",
            "/w/crate/src/./a.rs",
            "/w/crate/src/../a.rs",
            "/w/crate/src/",
            "/w/crate",
            "/w/crate/",
            "/w/crates/src/lib.rs",
            "crate/src/lib.rs",
            "./crate/src/a.rs",
            "./src/a.rs",
            "src/a.rs",
            "/src/a.rs",
            "/w/crate/src/r#async.rs",
            "/w/crate/src/é/a b.rs",
        ];
        for base in bases {
            for file in files {
                let (file, base) = (Path::new(file), Path::new(base));
                assert_eq!(shown(file, base), file.strip_prefix(base).unwrap_or(file), "{file:?} under {base:?}");
            }
        }
    }
}
