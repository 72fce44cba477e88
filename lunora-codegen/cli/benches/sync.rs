//! `sync --check` on a generated crate of 2,000 files (500 workflows, 1,000 steps) beside a
//! plain byte scan of the same tree for the attribute markers, in one run, as a ratio
//! (goal ≤ 3×), both after a sync (its analysis cache read) and without that cache (a fresh
//! checkout); and the wall time of a no-change `lunora-codegen sync` (goal < 100 ms).
//!
//! `cargo bench -p lunora-codegen-cli --bench sync`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FILES: usize = 2_000;
const WORKFLOWS: usize = 500;
const STEPS: usize = 1_000;
/// Runs of each measurement, alternating with the byte scan: enough for a median that holds on
/// a machine busy with other work.
const RUNS: usize = 21;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/codegen-bench");
    let _ = std::fs::remove_dir_all(&dir);
    generate(&dir);
    let manifest = dir.join("Cargo.toml");
    let options = lunora_codegen::sync::SyncOptions {
        manifest_path: manifest.clone(),
        wrangler_config: None,
        registry_out: None,
        entry_out: None,
    };

    // First sync writes everything; then nothing drifts.
    let plan = lunora_codegen::sync::plan(&options).expect("the generated crate scans");
    assert_eq!(plan.workflows.len(), WORKFLOWS);
    lunora_codegen::sync::apply(&plan).expect("first sync writes");

    println!("{FILES} files, {WORKFLOWS} workflows, {STEPS} steps, median of {RUNS}:");
    // As after a `sync`: the analysis cache that sync kept is read.
    report("sync --check after a sync", measure(&options, &dir));
    // As on a fresh checkout or after `cargo clean`: no analysis cache to read (its directory,
    // the crate's target directory, is pointed at one that does not exist).
    std::env::set_var("CARGO_TARGET_DIR", dir.join("no-target-dir"));
    report("sync --check, no analysis cache", measure(&options, &dir));
    std::env::remove_var("CARGO_TARGET_DIR");

    let mut cli_times = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
            .args(["sync", "--manifest-path"])
            .arg(&manifest)
            .output()
            .expect("the CLI runs");
        cli_times.push(start.elapsed());
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).ends_with("0 file(s) changed\n"));
    }
    println!(
        "  no-change `lunora-codegen sync` (process wall time): {:.1} ms (goal < 100 ms)",
        ms(median(&mut cli_times))
    );
}

/// The medians of `sync --check` (in-process) and of the byte scan, run alternately.
fn measure(options: &lunora_codegen::sync::SyncOptions, dir: &Path) -> (Duration, Duration) {
    let (mut check_times, mut scan_times) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let start = Instant::now();
        let plan = lunora_codegen::sync::plan(options).unwrap();
        assert!(plan.files.iter().all(|f| !f.drifts()), "a second run has nothing to change");
        check_times.push(start.elapsed());

        let start = Instant::now();
        let found = byte_scan(&dir.join("src"));
        assert_eq!(found, (WORKFLOWS, STEPS));
        scan_times.push(start.elapsed());
    }
    (median(&mut check_times), median(&mut scan_times))
}

fn report(what: &str, (check, scan): (Duration, Duration)) {
    println!(
        "  {what}: {:.1} ms; plain byte scan for the markers: {:.1} ms; ratio: {:.2}x (goal <= 3x)",
        ms(check),
        ms(scan),
        check.as_secs_f64() / scan.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The baseline: read every .rs file and count the attribute markers.
fn byte_scan(src: &Path) -> (usize, usize) {
    let (mut workflows, mut steps) = (0, 0);
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            workflows += text.matches("#[workflow").count();
            steps += text.matches("#[step").count();
        }
    }
    (workflows, steps)
}

fn generate(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"bench-crate\"\nversion = \"0.0.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    let mut lib = String::from("//! Generated for the sync benchmark.\npub mod lunora_workflows;\n");
    for i in 0..FILES {
        lib.push_str(&format!("pub mod m{i};\n"));
        let body = if i < WORKFLOWS {
            format!(
                "use lunora_runtime::{{workflow, Result, WorkflowContext}};\n\n\
                 #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]\npub struct Params{i} {{ pub id: String }}\n\n\
                 /// Workflow {i}.\n#[workflow(schedules = [\"0 3 * * *\"], limits(steps = 100))]\n\
                 pub async fn flow_{i}(ctx: WorkflowContext<Params{i}>) -> Result<String> {{\n    \
                 let id = ctx.params.id.clone();\n    let loaded: String = ctx.step.do_(\"load\", |_| async move {{ Ok(id) }}).await?;\n    \
                 ctx.step.sleep(\"nap\", \"1 minute\").await?;\n    Ok(loaded)\n}}\n"
            )
        } else if i < WORKFLOWS + STEPS {
            format!(
                "use lunora_runtime::{{step, Result, StepContext}};\n\n\
                 /// Step {i}.\n#[step(args = String, returns = String, retries(limit = 3, delay = \"10 seconds\", backoff = \"exponential\"), timeout = \"30 seconds\")]\n\
                 pub async fn step_{i}(ctx: StepContext, args: String) -> Result<String> {{\n    \
                 ctx.log.info(format!(\"attempt {{}}\", ctx.attempt));\n    Ok(args)\n}}\n"
            )
        } else {
            format!(
                "//! Plain code.\n\npub fn helper_{i}(x: u64) -> u64 {{\n    x.wrapping_mul({i}).rotate_left(3)\n}}\n"
            )
        };
        std::fs::write(src.join(format!("m{i}.rs")), body).unwrap();
    }
    std::fs::write(src.join("lib.rs"), lib).unwrap();
    dir.to_path_buf()
}
