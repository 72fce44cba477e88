//! `lunora-codegen sync`: scan, render the registry and the JS entry, reconcile the wrangler
//! config. Planning computes every file's new text without writing; applying writes the files
//! whose bytes change, all or none, and refuses to overwrite a file edited since it was planned.
//! `--check` is planning plus a report of the drift. Both warn when the crate's declaration of
//! the registry would let `cargo fmt` cause drift, and when wrangler configs other than the one
//! wrangler uses sit next to Cargo.toml.

use std::path::{Path, PathBuf};

use crate::cache::{Analyses, Cache, Reconciliation};
use lunora_shared::layout::{ENTRY_FILE, REGISTRY_DECLARATION, REGISTRY_MODULE, REGISTRY_PATH};

use crate::output::{self, Expected, FileWrite};
use crate::project::Project;
use crate::render;
use crate::scan::{self, Diagnostic, ModuleDeclaration};
use crate::spec::{Location, WorkflowSpec};
use crate::wrangler::{self, ConfigError, ConfigFormat, Prepared, ReconcileOptions};

/// The compatibility date of a wrangler.toml created from scratch (Workflows need ≥ 2024-10-22;
/// this one keeps NonRetryableError messages).
pub const NEW_CONFIG_COMPATIBILITY_DATE: &str = "2026-05-14";

#[derive(Clone, Debug)]
pub struct SyncOptions {
    pub manifest_path: PathBuf,
    pub wrangler_config: Option<PathBuf>,
    pub registry_out: Option<PathBuf>,
    pub entry_out: Option<PathBuf>,
}

/// One file as it is and as it should be.
#[derive(Clone, Debug)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub current: Option<String>,
    pub wanted: String,
}

impl PlannedFile {
    pub fn drifts(&self) -> bool {
        self.current.as_deref() != Some(self.wanted.as_str())
    }
}

/// What a sync would do.
#[derive(Debug)]
pub struct Plan {
    pub workflows: Vec<WorkflowSpec>,
    pub files: Vec<PlannedFile>,
    /// Reconciliation findings, one readable line each.
    pub findings: Vec<String>,
    /// Advice on the crate that does not stop the sync (printed on stderr).
    pub warnings: Vec<Warning>,
    /// What the scan read from each annotated fn, which [`apply`] keeps for the next run.
    analyses: Analyses,
    /// How the config was reconciled, which [`apply`] keeps with them.
    reconciliation: Option<ConfigReconciliation>,
    crate_dir: PathBuf,
}

/// A successful reconciliation of the wrangler config: what it read besides the text, and
/// what it reported.
#[derive(Debug)]
struct ConfigReconciliation {
    path: PathBuf,
    format: ConfigFormat,
    entry_relative: String,
    /// [`wrangler::reconciliation_inputs`].
    inputs: String,
    report: Vec<String>,
}

impl ConfigReconciliation {
    /// What a check of the config as `plan` leaves it would reconcile, when that changes
    /// nothing: this reconciliation when the config is not rewritten; else that of the new text,
    /// worked out now (once per sync that rewrites it, rather than on every check after).
    fn to_keep(&self, plan: &Plan) -> Option<Reconciliation> {
        let file = plan.files.iter().find(|f| f.path == self.path)?;
        if !file.drifts() {
            let config = file.current.clone()?;
            return Some(Reconciliation { inputs: self.inputs.clone(), config, report: self.report.clone() });
        }
        let deployed: Vec<WorkflowSpec> = plan.workflows.iter().filter(|w| w.deployed()).cloned().collect();
        let options = ReconcileOptions { entry_module: Some(&self.entry_relative) };
        let again = self.format.reconcile(&file.wanted, &deployed, &options).ok().filter(|r| !r.changed)?;
        Some(Reconciliation {
            inputs: wrangler::reconciliation_inputs(self.format, &deployed, &options),
            config: file.wanted.clone(),
            report: again.report.iter().map(ToString::to_string).collect(),
        })
    }
}

/// Advice on how the crate declares the registry. A registry that `cargo fmt` may reach gets
/// reformatted, and the next `sync --check` fails on bytes it did not write; these say so
/// before CI does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// `mod lunora_workflows;` without `#[rustfmt::skip]`: its visibility and place.
    NotSkipped { visibility: String, location: Location },
    /// No `mod` names the registry file: the file, and the crate root to declare it in.
    Undeclared { registry: PathBuf, root: PathBuf },
    /// More than one wrangler config next to Cargo.toml: the one wrangler uses (and the sync
    /// reconciles), and the others, left untouched.
    OtherConfigs { used: PathBuf, ignored: Vec<PathBuf> },
    /// Advice from the scan, at a place in the sources (an attribute that cannot be told
    /// lunora's, a macro that may hide workflows, a workflow under a feature cfg).
    Source(Diagnostic),
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::NotSkipped { visibility, location } => {
                let declaration =
                    format!("{visibility}{}mod {REGISTRY_MODULE};", if visibility.is_empty() { "" } else { " " });
                write!(
                    f,
                    "warning: {location}: `{declaration}` lacks #[rustfmt::skip]; cargo fmt would reformat the \
                     generated registry and `sync --check` would then report drift. Declare it as \
                     `#[rustfmt::skip] {declaration}`"
                )
            }
            Warning::Undeclared { registry, root } => write!(
                f,
                "warning: {} is written but no `mod {REGISTRY_MODULE};` declares it, so the crate does not \
                 compile it. Declare it in {} as `{}`",
                registry.display(),
                root.display(),
                REGISTRY_DECLARATION
            ),
            Warning::OtherConfigs { used, ignored } => {
                let all: Vec<String> = std::iter::once(used).chain(ignored).map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "warning: several wrangler configs are next to Cargo.toml ({}); wrangler uses {} (it looks for \
                     {}, in that order), so only that one is reconciled and {} {} left untouched. Delete the \
                     config(s) not in use",
                    all.join(", "),
                    all[0],
                    crate::project::WRANGLER_CONFIG_NAMES.join(", then "),
                    all[1..].join(" and "),
                    if all.len() == 2 { "is" } else { "are" },
                )
            }
            Warning::Source(diagnostic) => write!(f, "warning: {diagnostic}"),
        }
    }
}

/// Why a sync cannot proceed.
#[derive(Debug)]
pub enum SyncError {
    /// Invalid attributes or duplicates, at their places in the sources.
    Sources(Vec<Diagnostic>),
    /// Anything else, already a full sentence.
    Other(String),
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Sources(diagnostics) => {
                for d in diagnostics {
                    writeln!(f, "error: {d}")?;
                }
                write!(f, "{} problem(s) in the crate's workflow attributes; nothing was written", diagnostics.len())
            }
            SyncError::Other(message) => f.write_str(message),
        }
    }
}

/// The text of `path`, `None` when there is no such file. Text that is not UTF-8 is an error at
/// the first bad byte: the sync could not rewrite the file without changing bytes it does not own.
fn read_optional(path: &Path) -> Result<Option<String>, SyncError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SyncError::Other(format!("{}: cannot read: {e}; nothing was written", path.display()))),
    };
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = std::str::from_utf8(&bytes[..valid]).expect("valid up to here");
        let line = before.matches('\n').count() + 1;
        let column = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() + 1;
        SyncError::Other(format!(
            "{}:{line}:{column}: not UTF-8 text (byte 0x{:02x}); save the file as UTF-8. Nothing was written",
            path.display(),
            bytes[valid]
        ))
    })
}

/// `path` relative to `dir` (both may not exist yet), with `/` separators, for wrangler's `main`.
fn relative_to(path: &Path, dir: &Path) -> String {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let full = canon(parent).join(path.file_name().unwrap_or_default());
    let rel = full.strip_prefix(canon(dir)).map(Path::to_path_buf).unwrap_or(full);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Whether two paths name the same file, which may not exist yet (their directories are resolved).
fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| match (p.parent().and_then(|d| d.canonicalize().ok()), p.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => p.to_path_buf(),
    };
    canon(a) == canon(b)
}

/// What to say about the declarations of the registry at `registry` (see [`Warning`]), with
/// paths relative to the crate. An undeclared registry is only pointed out at its default
/// place: one written elsewhere is the caller's own arrangement.
fn registry_warnings(
    declarations: &[ModuleDeclaration],
    registry: &Path,
    default_registry: bool,
    project: &Project,
) -> Vec<Warning> {
    let shown = |p: &Path| p.strip_prefix(&project.dir).unwrap_or(p).to_path_buf();
    let ours: Vec<&ModuleDeclaration> = declarations.iter().filter(|d| same_file(&d.file, registry)).collect();
    if ours.is_empty() && default_registry {
        return vec![Warning::Undeclared { registry: shown(registry), root: shown(&project.root) }];
    }
    ours.into_iter()
        .filter(|d| !d.rustfmt_skip)
        .map(|d| Warning::NotSkipped { visibility: d.visibility.clone(), location: d.location.clone() })
        .collect()
}

/// Computes every generated file and the reconciled config; writes nothing.
///
/// The work overlaps where it can, and errors still come in the order of a sequential run
/// (sources, registry, entry module, config): the config is parsed while the crate is scanned
/// (parsing is most of a reconciliation, and does not depend on the workflows); then the
/// three files, which depend on the scan but not on each other, are computed side by side.
/// A config that the last sync reconciled without a change, byte for byte, is not parsed at
/// all when the workflows it was reconciled with are the same (see the `cache` module).
pub fn plan(options: &SyncOptions) -> Result<Plan, SyncError> {
    let project = Project::load(&options.manifest_path).map_err(SyncError::Other)?;
    let registry_path = options.registry_out.clone().unwrap_or_else(|| project.dir.join(REGISTRY_PATH));
    let entry_path = options.entry_out.clone().unwrap_or_else(|| project.dir.join(ENTRY_FILE));
    let config = Config::find(options, &project, &entry_path);
    // What a previous `sync` kept (see the `cache` module); never a different answer.
    let cache = Cache::load(&project.dir);
    let kept = config.as_ref().ok().and_then(|c| c.current.as_deref()).and_then(|text| cache.reconciliation(text));

    let (scan, prepared) = std::thread::scope(|scope| {
        let prepared =
            kept.is_none().then(|| scope.spawn(|| config.as_ref().ok().map(|c| c.format.prepare(c.source()))));
        let scan = scan::scan_crate_with(&project.root, &project.dir, &cache);
        (scan, prepared.map(join))
    });
    let mut scan = scan.map_err(SyncError::Sources)?;
    let mut warnings = Vec::new();
    if let Ok(Config { path, ignored, .. }) = &config {
        if !ignored.is_empty() {
            let shown = |p: &Path| p.strip_prefix(&project.dir).unwrap_or(p).to_path_buf();
            warnings
                .push(Warning::OtherConfigs { used: shown(path), ignored: ignored.iter().map(|p| shown(p)).collect() });
        }
    }
    warnings.extend(registry_warnings(
        &scan.registry_declarations,
        &registry_path,
        options.registry_out.is_none(),
        &project,
    ));
    warnings.extend(scan.warnings.iter().cloned().map(Warning::Source));
    // The JS entry and the wrangler config cannot be conditional: they declare the workflows a
    // Worker build may compile (not `#[cfg(test)]` ones); the registry has all, under their cfgs.
    // Nearly always all of them: then not copied.
    let deployed: std::borrow::Cow<'_, [WorkflowSpec]> = if scan.workflows.iter().all(WorkflowSpec::deployed) {
        std::borrow::Cow::Borrowed(&scan.workflows)
    } else {
        std::borrow::Cow::Owned(scan.deployed_workflows())
    };

    // The same config text and inputs as the kept reconciliation: the same outcome, unparsed.
    let inputs = config.as_ref().ok().map(|config| config.reconciliation_inputs(&deployed));
    let kept = kept.filter(|kept| Some(kept.inputs) == inputs.as_deref());
    let reconcile = || {
        let config = config.as_ref().ok()?;
        let inputs = inputs.clone().unwrap_or_default();
        Some(match &kept {
            Some(kept) => Ok((
                config.source().to_owned(),
                kept.report.iter().map(|line| (*line).to_owned()).collect::<Vec<String>>(),
                inputs,
            )),
            None => config
                .reconcile(prepared.flatten().unwrap_or_else(|| config.format.prepare(config.source())), &deployed)
                .map(|reconciled| {
                    (reconciled.text, reconciled.report.iter().map(ToString::to_string).collect(), inputs)
                }),
        })
    };
    let (registry, entry, reconciled) = std::thread::scope(|scope| {
        // About even halves: a reconciliation (with the parsed config's drop), and the rest;
        // without one, the registry and the entry module.
        if kept.is_some() {
            let registry = scope.spawn(|| registry_file(registry_path, &scan.workflows));
            let entry = entry_file(entry_path.clone(), &deployed);
            let reconciled = reconcile();
            (join(registry), entry, reconciled)
        } else {
            let reconciled = scope.spawn(reconcile);
            let registry = registry_file(registry_path, &scan.workflows);
            let entry = entry_file(entry_path.clone(), &deployed);
            (registry, entry, join(reconciled))
        }
    });
    let (registry, entry) = (registry?, entry?);
    let Config { path, current, mut findings, format, entry_relative, .. } = config?;
    let (wanted, report, inputs) = reconciled.expect("a config that was found was reconciled")?;
    findings.extend(report.iter().cloned());
    let reconciliation = ConfigReconciliation { path: path.clone(), format, entry_relative, inputs, report };
    let config = PlannedFile { path, current, wanted };
    Ok(Plan {
        workflows: scan.workflows,
        files: vec![registry, entry, config],
        findings,
        warnings,
        analyses: std::mem::take(&mut scan.analyses),
        reconciliation: Some(reconciliation),
        crate_dir: project.dir,
    })
}

fn join<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The registry module, re-rendered only if its stamp says it is out of date.
fn registry_file(path: PathBuf, workflows: &[WorkflowSpec]) -> Result<PlannedFile, SyncError> {
    let current = read_optional(&path)?;
    Ok(PlannedFile { wanted: render::registry_unless_current(workflows, current.as_deref()), current, path })
}

/// The JS entry module.
fn entry_file(path: PathBuf, workflows: &[WorkflowSpec]) -> Result<PlannedFile, SyncError> {
    Ok(PlannedFile { current: read_optional(&path)?, wanted: render::entry_module(workflows), path })
}

/// The wrangler config to reconcile: found (or to be created) and read.
struct Config {
    path: PathBuf,
    /// What the file holds; `None` when it is to be created.
    current: Option<String>,
    /// The text of a new config, when there is none.
    created: Option<String>,
    format: ConfigFormat,
    /// The entry module, relative to the config.
    entry_relative: String,
    findings: Vec<String>,
    /// Other configs next to Cargo.toml, which wrangler does not use (so neither does the sync).
    ignored: Vec<PathBuf>,
}

impl Config {
    fn find(options: &SyncOptions, project: &Project, entry_path: &Path) -> Result<Self, SyncError> {
        let mut findings = Vec::new();
        let mut ignored = Vec::new();
        let config_path = match &options.wrangler_config {
            Some(path) => Some(path.clone()),
            None => {
                let mut found = project.wrangler_configs().into_iter();
                let first = found.next();
                ignored.extend(found);
                first
            }
        };
        let (path, current) = match config_path {
            Some(path) => {
                let current = read_optional(&path)?;
                if current.is_none() && options.wrangler_config.is_some() {
                    return Err(SyncError::Other(format!("{}: no such wrangler config", path.display())));
                }
                (path, current)
            }
            None => (project.dir.join("wrangler.toml"), None),
        };
        let config_dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let entry_relative = relative_to(entry_path, config_dir);
        let created = current.is_none().then(|| {
            findings.push(format!("created {} (no wrangler config was found)", path.display()));
            format!(
                "name = \"{}\"\nmain = \"{entry_relative}\"\ncompatibility_date = \"{NEW_CONFIG_COMPATIBILITY_DATE}\"\n",
                project.name
            )
        });
        let format = ConfigFormat::from_path(&path).ok_or_else(|| {
            SyncError::Other(format!(
                "{}: not a wrangler config name; use wrangler.toml, wrangler.jsonc or wrangler.json",
                path.display()
            ))
        })?;
        Ok(Config { path, current, created, format, entry_relative, findings, ignored })
    }

    /// The text to reconcile.
    fn source(&self) -> &str {
        self.current.as_deref().or(self.created.as_deref()).unwrap_or_default()
    }

    fn options(&self) -> ReconcileOptions<'_> {
        ReconcileOptions { entry_module: Some(&self.entry_relative) }
    }

    /// [`wrangler::reconciliation_inputs`] of this config with `workflows`.
    fn reconciliation_inputs(&self, workflows: &[WorkflowSpec]) -> String {
        wrangler::reconciliation_inputs(self.format, workflows, &self.options())
    }

    fn reconcile(
        &self,
        prepared: Result<Prepared<'_>, ConfigError>,
        workflows: &[WorkflowSpec],
    ) -> Result<wrangler::Reconciled, SyncError> {
        let options = self.options();
        prepared
            .and_then(|prepared| prepared.reconcile(workflows, &options))
            .map_err(|e| SyncError::Other(format!("{}:{e}; the file was left untouched", self.path.display())))
    }
}

/// Writes the files of `plan` whose bytes change, all or none (see [`output::write_all`]);
/// returns the ones written. A file that no longer holds what [`plan`] read is not
/// overwritten: the whole sync is refused. Once they are written, the scan's analyses are
/// kept for the next run (see the `cache` module).
pub fn apply(plan: &Plan) -> Result<Vec<PathBuf>, SyncError> {
    let writes: Vec<FileWrite<'_>> = plan
        .files
        .iter()
        .filter(|f| f.drifts())
        .map(|f| FileWrite {
            path: &f.path,
            expected: f.current.as_deref().map_or(Expected::Absent, |c| Expected::Bytes(c.as_bytes())),
            contents: f.wanted.as_bytes(),
        })
        .collect();
    let written = output::write_all(&writes).map_err(|e| SyncError::Other(e.to_string()))?;
    let reconciliation = plan.reconciliation.as_ref().and_then(|r| r.to_keep(plan));
    plan.analyses.store(&plan.crate_dir, reconciliation.as_ref());
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crate with one workflow, built (a Cargo.lock and a target directory next to it).
    fn built_crate() -> (tempfile::TempDir, SyncOptions) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Cargo.toml"),
            "[package]\nname = \"kept\"\nversion = \"0.0.0\"\nedition = \"2021\"\n",
        )
        .unwrap();
        std::fs::write(root.join("Cargo.lock"), "").unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(
            root.join("src/lib.rs"),
            "#[rustfmt::skip] pub mod lunora_workflows;\nuse lunora_runtime::{workflow, Result, WorkflowContext};\n\n\
             #[workflow(limits(steps = 10))]\npub async fn flow(ctx: WorkflowContext<()>) -> Result<()> {\n    Ok(())\n}\n",
        )
        .unwrap();
        let options = SyncOptions {
            manifest_path: root.join("Cargo.toml"),
            wrangler_config: None,
            registry_out: None,
            entry_out: None,
        };
        (dir, options)
    }

    /// A check takes the config's reconciliation from the cache exactly when the config's text
    /// and the other inputs are the kept ones: a report line put into the cache comes back then
    /// (no reconciliation of the file gives it), and never for a config one byte longer or for
    /// other inputs.
    #[test]
    fn a_kept_reconciliation_is_used_for_its_config_and_inputs_only() {
        let (dir, options) = built_crate();
        let config_path = dir.path().join("wrangler.toml");
        apply(&plan(&options).unwrap()).unwrap();
        let config = std::fs::read_to_string(&config_path).unwrap();
        let synced = plan(&options).unwrap();
        assert!(synced.findings.is_empty() && !synced.files.iter().any(PlannedFile::drifts));
        let inputs = synced.reconciliation.as_ref().unwrap().inputs.clone();
        assert!(inputs.contains("FlowWorkflow") && inputs.contains("10;"), "{inputs}");

        let forged = Reconciliation { inputs: inputs.clone(), config: config.clone(), report: vec!["kept".into()] };
        Analyses::default().store(dir.path(), Some(&forged));
        assert_eq!(plan(&options).unwrap().findings, ["kept"]);

        let other_inputs = Reconciliation { inputs: inputs.replace("10;", "11;"), ..forged.clone() };
        Analyses::default().store(dir.path(), Some(&other_inputs));
        assert!(plan(&options).unwrap().findings.is_empty());

        Analyses::default().store(dir.path(), Some(&forged));
        std::fs::write(&config_path, format!("{config}\n")).unwrap();
        let edited = plan(&options).unwrap();
        assert!(edited.findings.is_empty() && !edited.files.iter().any(PlannedFile::drifts));
    }
}
