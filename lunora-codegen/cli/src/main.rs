//! `lunora-codegen`: sync generated code and the wrangler config, scaffold steps and
//! workflows, print the names derived from an export name, inspect and steer deployed
//! instances through the Workflows REST API.

mod instances;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use instances::InstancesArgs;
use lunora_codegen::naming::WorkflowNames;
use lunora_codegen::new_project::{self, LunoraSource};
use lunora_codegen::scaffold::{self, Kind};
use lunora_codegen::sync::{self, SyncOptions};

#[derive(Parser)]
#[command(name = "lunora-codegen", version, about = "Code generation for lunora workflows")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Doc comments here are --help text (clap), not rustdoc: `[[workflows]]` is meant as written.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Subcommand)]
enum Command {
    /// Scan the crate, write the typed registry and the JS entry module, reconcile the
    /// [[workflows]] of the wrangler config. All files are written or none.
    ///
    /// Exit status: 0 when done (or, with --check, up to date); 1 with --check when a file is
    /// out of date; 2 on an error (invalid attributes, a bad or unreadable config, a file that
    /// cannot be written), after which no file was changed.
    Sync {
        /// The crate's Cargo.toml.
        #[arg(long, default_value = "Cargo.toml")]
        manifest_path: PathBuf,
        /// The wrangler config (default: the one wrangler uses next to Cargo.toml: wrangler.json,
        /// else wrangler.jsonc, else wrangler.toml).
        #[arg(long)]
        wrangler_config: Option<PathBuf>,
        /// Write nothing; exit 1 listing every file that is out of date (for CI).
        #[arg(long)]
        check: bool,
    },
    /// Scaffold a step or a workflow that compiles, in src/steps.rs or src/workflows.rs; or a
    /// whole project (`new project DIR`): a crate with a workflow, its test, a Worker with routes
    /// and its wrangler.toml, generated files included. DIR must be new or empty, and its name
    /// names the package, the Worker and the workflow.
    New {
        kind: NewKind,
        /// The fn name, snake_case (step, workflow); the directory to create (project).
        name: String,
        /// The crate to add the step or workflow to [default: Cargo.toml]; a project is DIR.
        #[arg(long)]
        manifest_path: Option<PathBuf>,
        /// For a project: depend on the lunora crates of this checkout of the lunora repository
        /// (path dependencies) instead of their crates.io release.
        #[arg(long, value_name = "REPO")]
        lunora_path: Option<PathBuf>,
    },
    /// Print, per export name, the class name, binding and default deployed name
    /// (tab-separated: export, class, binding, default name).
    Names {
        /// Workflow export names, e.g. orderPipeline.
        #[arg(required = true)]
        names: Vec<String>,
        /// Print a JSON array of objects instead.
        #[arg(long)]
        json: bool,
    },
    /// List, show, pause, resume, terminate, restart deployed instances and send them events,
    /// through the Cloudflare Workflows REST API (CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN).
    Instances(InstancesArgs),
    /// Write the histories of instances from an embedded engine's journal file into DIR, one
    /// JSON file per instance (default: every instance that can still run code), for `cargo
    /// test` to replay. The journal must not be open in a running engine.
    History {
        /// The deployed workflow name, e.g. order-pipeline.
        workflow: String,
        /// The journal file (the engine's SQLite file).
        #[arg(long, value_name = "PATH")]
        journal: PathBuf,
        /// Only this instance, whatever its status (repeatable).
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
        /// The folder to write the histories into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum NewKind {
    Step,
    Workflow,
    Project,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Sync { manifest_path, wrangler_config, check } => {
            run_sync(SyncOptions { manifest_path, wrangler_config, registry_out: None, entry_out: None }, check)
        }
        Command::New { kind, name, manifest_path, lunora_path } => {
            let kind = match (kind, lunora_path) {
                (NewKind::Project, _) if manifest_path.is_some() => {
                    eprintln!(
                        "lunora-codegen: new project: --manifest-path names an existing crate; a project is created in DIR (drop --manifest-path)"
                    );
                    return ExitCode::from(2);
                }
                (NewKind::Project, lunora_path) => return new_project(&PathBuf::from(name), lunora_path),
                (_, Some(_)) => {
                    eprintln!(
                        "lunora-codegen: new: --lunora-path is for `new project`; a step or workflow goes into an existing crate"
                    );
                    return ExitCode::from(2);
                }
                (NewKind::Step, None) => Kind::Step,
                (NewKind::Workflow, None) => Kind::Workflow,
            };
            // A name that cannot be used is a usage error (exit 2, like clap's), found before
            // anything is read or written.
            if let Err(e) = scaffold::check_name(kind, &name) {
                eprintln!("lunora-codegen: new: {e}");
                return ExitCode::from(2);
            }
            match scaffold::scaffold(&manifest_path.unwrap_or_else(|| PathBuf::from("Cargo.toml")), kind, &name) {
                Ok(done) => {
                    println!("wrote `{name}` to {}", done.file.display());
                    if let Some(line) = done.missing_mod {
                        println!("add `{line}` to the crate root so it is compiled");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Names { names, json } => print_names(&names, json),
        Command::History { workflow, journal, ids, out } => write_histories(&workflow, &journal, ids, &out),
        Command::Instances(args) => match instances::run(args, &|name| std::env::var(name).ok()) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

/// `history`: the journal's histories into `out`.
fn write_histories(workflow: &str, journal: &std::path::Path, ids: Vec<String>, out: &std::path::Path) -> ExitCode {
    use lunora_runtime::local::{read_histories, Selection};
    let selection = if ids.is_empty() { Selection::default() } else { Selection::Ids(ids) };
    let histories = match read_histories(journal, workflow, &selection) {
        Ok(histories) => histories,
        Err(e) => return fail(&format!("history: {}", e.message())),
    };
    println!("{} histories of {workflow} into {}", histories.len(), out.display());
    for history in &histories {
        match history.write_to_dir(out) {
            Ok(path) => println!(
                "  {}  {}  {}",
                terminal::one_line(&history.instance_id),
                terminal::one_line(&history.status),
                path.display()
            ),
            Err(e) => return fail(&format!("history: cannot write into {}: {e}", out.display())),
        }
    }
    ExitCode::SUCCESS
}

/// `new project DIR`: a refused name or checkout is a usage error (exit 2), found before
/// anything is written; a failure while writing exits 1. Either way nothing is left behind.
fn new_project(dir: &std::path::Path, lunora_path: Option<PathBuf>) -> ExitCode {
    let usage = |message: &str| {
        eprintln!("lunora-codegen: new project: {message}");
        ExitCode::from(2)
    };
    let name = match new_project::project_name(dir) {
        Ok(name) => name,
        Err(e) => return usage(&e),
    };
    if let Err(e) = new_project::check_project_name(&name) {
        return usage(&e);
    }
    let lunora = match lunora_path {
        Some(repo) => match new_project::check_checkout(&repo) {
            Ok(root) => LunoraSource::Checkout(root),
            Err(e) => return usage(&e),
        },
        None => LunoraSource::Version(new_project::LUNORA_VERSION.to_owned()),
    };
    match new_project::create(dir, &lunora) {
        Ok(created) => {
            let from = match &lunora {
                LunoraSource::Version(v) => format!("lunora-runtime {v} from crates.io"),
                LunoraSource::Checkout(root) => format!("lunora-runtime from {}", root.display()),
            };
            println!("created {} ({from}):", created.name);
            for file in &created.files {
                println!("  {}", created.dir.join(file).display());
            }
            println!("next: cd {} && cargo test && npx wrangler dev   (see its README.md)", created.dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("new project: {e}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("lunora-codegen: {message}");
    ExitCode::FAILURE
}

/// `sync --check` found drift.
const SYNC_DRIFT: u8 = 1;
/// `sync` or `sync --check` could not do its work (distinct from drift, for CI).
const SYNC_ERROR: u8 = 2;

fn run_sync(options: SyncOptions, check: bool) -> ExitCode {
    let sync_failed = |message: &str| {
        eprintln!("lunora-codegen: {message}");
        ExitCode::from(SYNC_ERROR)
    };
    let plan = match sync::plan(&options) {
        Ok(plan) => plan,
        Err(e) => return sync_failed(&e.to_string()),
    };
    // Advice only: the exit code stays that of the sync or the check.
    for warning in &plan.warnings {
        eprintln!("{warning}");
    }
    if check {
        let drifts: Vec<_> = plan.files.iter().filter(|f| f.drifts()).collect();
        if drifts.is_empty() {
            println!("up to date: {} workflow(s)", plan.workflows.len());
            return ExitCode::SUCCESS;
        }
        for file in drifts {
            let what = if file.current.is_none() { "missing" } else { "out of date" };
            eprintln!("drift: {} is {what}", file.path.display());
        }
        for finding in &plan.findings {
            eprintln!("  {finding}");
        }
        eprintln!("run `lunora-codegen sync` and commit the result");
        return ExitCode::from(SYNC_DRIFT);
    }
    for finding in &plan.findings {
        println!("{finding}");
    }
    match sync::apply(&plan) {
        Ok(written) => {
            for path in &written {
                println!("wrote {}", path.display());
            }
            println!("{} workflow(s), {} file(s) changed", plan.workflows.len(), written.len());
            ExitCode::SUCCESS
        }
        Err(e) => sync_failed(&e.to_string()),
    }
}

fn print_names(names: &[String], json: bool) -> ExitCode {
    // All or nothing: one invalid name (a tab would corrupt the columns) prints no line at all.
    let mut all = Vec::with_capacity(names.len());
    for name in names {
        match WorkflowNames::new(name) {
            Ok(n) => all.push(n),
            Err(e) => {
                let hint = lunora_codegen::naming::export_name_of_fn(name);
                let hint = match WorkflowNames::new(&hint) {
                    Ok(_) if name.contains('_') => format!(" (the export name of fn `{name}` is {hint})"),
                    _ => String::new(),
                };
                return fail(&format!("names: {e}, e.g. orderPipeline{hint}"));
            }
        }
    }
    if json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|n| {
                serde_json::json!({
                    "exportName": n.export_name,
                    "className": n.class_name,
                    "binding": n.binding,
                    "defaultName": n.default_name,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).expect("plain JSON"));
    } else {
        for n in all {
            println!("{}\t{}\t{}\t{}", n.export_name, n.class_name, n.binding, n.default_name);
        }
    }
    ExitCode::SUCCESS
}
