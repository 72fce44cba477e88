//! What a new user pays on the first `cargo build`: a crate with one workflow on the embedded
//! engine (depending on lunora-runtime, as `lunora-codegen new` sets it up for native runs)
//! against a bare crate doing the same shape of work with tokio + serde_json, each built from
//! an empty target dir, runs alternating (with, bare, bare, with, …), medians compared.
//!
//! Also prints where the lunora crate's build goes: the slowest compilation units, from
//! `cargo build --timings`, so a change that makes a dependency heavier shows up by name.
//!
//! `cargo bench -p lunora-tests --bench cold_build` (several minutes: every run is cold).
//! Arguments: a number sets the runs per crate (default 3).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const DEFAULT_RUNS: usize = 3;
/// Units listed in the breakdown.
const TOP_UNITS: usize = 8;

fn main() {
    let runs = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse::<usize>().unwrap_or_else(|_| panic!("cold_build: {a:?} is not a number of runs")))
        .next()
        .unwrap_or(DEFAULT_RUNS)
        .max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let base = root.join("target/cold-build");
    let lunora = generate(&base.join("with-lunora"), &root, true);
    let bare = generate(&base.join("bare"), &root, false);

    let (mut t_lunora, mut t_bare) = (Vec::new(), Vec::new());
    let mut units = Vec::new();
    for run in 0..runs {
        let order: [bool; 2] = if run % 2 == 0 { [true, false] } else { [false, true] };
        for with in order {
            if with {
                let (time, timings) = cold_build(&lunora);
                t_lunora.push(time);
                units = timings;
            } else {
                t_bare.push(cold_build(&bare).0);
            }
        }
    }
    let (m_lunora, m_bare) = (median(&mut t_lunora), median(&mut t_bare));
    println!("cold `cargo build` (dev profile, empty target dir), median of {runs}:");
    println!("  one workflow on lunora-runtime: {:.1} s", m_lunora.as_secs_f64());
    println!("  bare tokio + serde_json:        {:.1} s", m_bare.as_secs_f64());
    println!("  ratio: {:.2}x", m_lunora.as_secs_f64() / m_bare.as_secs_f64());
    println!("slowest units of the lunora build (last run, seconds; units overlap on several cores):");
    for (name, secs) in units.iter().take(TOP_UNITS) {
        println!("  {secs:>6.1}  {name}");
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Builds `krate` from an empty target dir; returns the wall time and its units by duration.
fn cold_build(krate: &Path) -> (Duration, Vec<(String, f64)>) {
    let target = krate.join("target");
    if target.exists() {
        std::fs::remove_dir_all(&target).unwrap();
    }
    let start = Instant::now();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--offline", "--timings"])
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", &target)
        // A user's shell has none of the bench's own build settings.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_PROFILE_RELEASE_LTO")
        .status()
        .expect("cargo runs");
    let elapsed = start.elapsed();
    assert!(status.success(), "cargo build failed in {}", krate.display());
    let report = target.join("cargo-timings/cargo-timing.html");
    let html = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{}: {e}", report.display()));
    (elapsed, slowest_units(&html))
}

/// The units in cargo's timing report (`const UNIT_DATA = [...]`), slowest first, a build
/// script's run shown apart from its crate.
fn slowest_units(html: &str) -> Vec<(String, f64)> {
    let start = html.find("const UNIT_DATA = ").expect("cargo's timing report lists its units") + 18;
    let end = start + html[start..].find(";\n").expect("the unit list ends");
    let units: Vec<serde_json::Value> = serde_json::from_str(&html[start..end]).expect("the unit list is JSON");
    let mut out: Vec<(String, f64)> = units
        .iter()
        .map(|u| {
            let name = u["name"].as_str().unwrap_or("?");
            let what = match u["mode"].as_str() {
                Some("run-custom-build") => format!("{name} (build script run)"),
                Some("todo") | None => name.to_owned(),
                Some(_) if u["target"].as_str().is_some_and(|t| t.contains("build script")) => {
                    format!("{name} (build script compile)")
                }
                Some(_) => format!("{name}{}", u["target"].as_str().unwrap_or_default()),
            };
            (what, u["duration"].as_f64().unwrap_or(0.0))
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// A binary crate under `dir` that creates one instance and waits for its output: on the
/// embedded engine (`lunora`), or as plain tokio tasks with the same JSON round trips (bare).
fn generate(dir: &Path, root: &Path, lunora: bool) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let deps = if lunora {
        format!(
            "lunora-runtime = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\
             tokio = {{ version = \"1\", features = [\"rt-multi-thread\", \"macros\"] }}\n",
            root.join("lunora-runtime").display().to_string()
        )
    } else {
        "serde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\n\
         tokio = { version = \"1\", features = [\"rt-multi-thread\", \"macros\", \"time\"] }\n"
            .to_owned()
    };
    let name = if lunora { "cold-with-lunora" } else { "cold-bare" };
    let manifest =
        format!("[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n[dependencies]\n{deps}");
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    // The workspace's lockfile: same versions, nothing fetched.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(src.join("main.rs"), if lunora { LUNORA_MAIN } else { BARE_MAIN }).unwrap();
    dir.to_path_buf()
}

const LUNORA_MAIN: &str = r#"use lunora_runtime::local::Engine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Signup {
    pub email: String,
}

#[step(args = Signup, returns = String, retries(limit = 3, delay = "1 second"))]
pub async fn welcome(ctx: StepContext, args: Signup) -> Result<String> {
    let _ = ctx;
    Ok(format!("welcome {}", args.email))
}

#[workflow]
pub async fn onboarding(ctx: WorkflowContext<Signup>) -> Result<String> {
    let text: String = ctx.run_step(&welcome, ctx.params.clone()).await?;
    ctx.step.sleep("pause", "1 second").await?;
    Ok(text)
}

#[tokio::main]
async fn main() -> Result<()> {
    let engine = Engine::builder().path("journal.db").register::<OnboardingWorkflow>().open().await?;
    let instance = engine.workflow::<OnboardingWorkflow>().create(CreateOptions::params(Signup { email: "a@b.c".into() })).await?;
    println!("{:?}", instance.status().await?.status);
    Ok(())
}
"#;

const BARE_MAIN: &str = r#"use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Signup {
    pub email: String,
}

async fn welcome(args: Signup) -> String {
    format!("welcome {}", args.email)
}

#[tokio::main]
async fn main() {
    let params = serde_json::to_string(&Signup { email: "a@b.c".into() }).unwrap();
    let task = tokio::spawn(async move {
        let args: Signup = serde_json::from_str(&params).unwrap();
        let text = welcome(args).await;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        serde_json::to_string(&text).unwrap()
    });
    println!("{}", task.await.unwrap());
}
"#;
