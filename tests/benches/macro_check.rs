//! `cargo check` of a generated crate with 200 `#[workflow]`s and 200 `#[step]`s beside the same
//! crate with the attributes removed, in one run, as a ratio (goal ≤ 1.3×).
//!
//! Both crates live under `target/macro-check/` and share one target dir, so dependencies are
//! built once in a warm-up; each measured run touches the crate's sources and checks only it.
//! Runs alternate (with, without, without, with, …) and the medians are compared.
//!
//! `cargo bench -p lunora-tests --bench macro_check`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const WORKFLOWS: usize = 200;
/// One step per workflow.
const STEPS: usize = WORKFLOWS;
const MODULES: usize = 20;
const RUNS: usize = 5;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let base = root.join("target/macro-check");
    let runtime = root.join("lunora-runtime");
    let with = generate(&base.join("with"), &runtime, true);
    let without = generate(&base.join("without"), &runtime, false);
    let target = base.join("target");
    // Warm-up: dependencies, and a first check of each crate.
    check(&with, &target);
    check(&without, &target);
    let (mut t_with, mut t_without) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        if run % 2 == 0 {
            t_with.push(check(&with, &target));
            t_without.push(check(&without, &target));
        } else {
            t_without.push(check(&without, &target));
            t_with.push(check(&with, &target));
        }
    }
    let (m_with, m_without) = (median(&mut t_with), median(&mut t_without));
    println!("cargo check, {WORKFLOWS} workflows + {STEPS} steps in {MODULES} modules, median of {RUNS}:");
    println!("  with #[workflow]/#[step]: {:.2} s", m_with.as_secs_f64());
    println!("  attributes removed:       {:.2} s", m_without.as_secs_f64());
    println!("  ratio: {:.2}x (goal <= 1.30x)", m_with.as_secs_f64() / m_without.as_secs_f64());
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Touches every source file and runs `cargo check`; returns its wall time.
fn check(krate: &Path, target: &Path) -> Duration {
    for entry in std::fs::read_dir(krate.join("src")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read(&path).unwrap();
        std::fs::write(&path, text).unwrap(); // new mtime
    }
    let start = Instant::now();
    let status = Command::new(env!("CARGO"))
        .args(["check", "--quiet", "--offline"])
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo check failed in {}", krate.display());
    start.elapsed()
}

fn generate(dir: &Path, runtime: &Path, attributes: bool) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let name = if attributes { "fixture-with" } else { "fixture-without" };
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n\
         [dependencies]\nlunora-runtime = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n",
        runtime.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    // Reuse the workspace's lockfile so versions match and nothing is fetched.
    let lock = runtime.parent().unwrap().join("Cargo.lock");
    std::fs::copy(lock, dir.join("Cargo.lock")).unwrap();
    let mut lib = String::from("#![allow(dead_code, unused_imports)]\n");
    for m in 0..MODULES {
        lib.push_str(&format!("pub mod m{m};\n"));
        std::fs::write(src.join(format!("m{m}.rs")), module(m, attributes)).unwrap();
    }
    std::fs::write(src.join("lib.rs"), lib).unwrap();
    dir.to_path_buf()
}

fn module(m: usize, attributes: bool) -> String {
    let mut out = String::from(
        "use lunora_runtime::{step, workflow, Result, StepContext, WorkflowContext};\n\
         use serde::{Deserialize, Serialize};\n\n",
    );
    let per = WORKFLOWS / MODULES;
    for i in 0..per {
        let n = m * per + i;
        out.push_str(&format!(
            "#[derive(Clone, Debug, Serialize, Deserialize)]\npub struct Args{n} {{ pub id: String, pub amount: u64 }}\n\n"
        ));
        if attributes {
            out.push_str(&format!(
                "#[step(args = Args{n}, returns = u64, retries(limit = 3, delay = \"10 seconds\", backoff = \"exponential\"), timeout = \"30 seconds\")]\n"
            ));
        }
        out.push_str(&format!(
            "pub async fn step_{n}(ctx: StepContext, args: Args{n}) -> Result<u64> {{\n    let _ = ctx;\n    Ok(args.amount + {n})\n}}\n\n"
        ));
        if attributes {
            out.push_str("#[workflow(schedules = [\"0 3 * * *\"], limits(steps = 100))]\n");
        }
        out.push_str(&format!(
            "pub async fn flow_{n}(ctx: WorkflowContext<Args{n}>) -> Result<u64> {{\n    \
                 let a: u64 = ctx.step.do_(\"load\", |_| async {{ Ok(1u64) }}).await?;\n    \
                 ctx.step.sleep(\"nap\", \"1 minute\").await?;\n    \
                 Ok(a + ctx.params.amount)\n}}\n\n"
        ));
    }
    out
}
