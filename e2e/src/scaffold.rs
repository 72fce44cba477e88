//! A project from `lunora-codegen new project`, as a user starts one: scaffolded into a
//! temporary directory outside the repository (path dependencies on this checkout), checked
//! with `sync --check`, built with worker-build, then served by `wrangler dev`, which runs the
//! project's own `[build]` command (sync + worker-build) before serving, and driven through its
//! routes: create → status → send the event → complete.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::{poll, Client};
use crate::wrangler::Wrangler;

const TICK: Duration = Duration::from_millis(200);
const SLOW: Duration = Duration::from_secs(60);

/// The scaffolded project's directory, removed when dropped.
struct Project {
    parent: PathBuf,
    dir: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.parent);
    }
}

fn run(what: &str, cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{what}: cannot start: {e}"))?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if !out.status.success() {
        return Err(format!("{what} failed ({}):\n{}{}", out.status, text(&out.stdout), text(&out.stderr)));
    }
    Ok(text(&out.stdout))
}

/// `lunora-codegen new project`, `sync --check`, then a first worker-build (cold builds take
/// minutes, longer than wrangler is given to start serving).
fn scaffold(root: &Path, codegen: &Path, target_dir: &Path) -> Result<Project, String> {
    let parent = std::env::temp_dir().join(format!("lunora-e2e-scaffold-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let project = Project { dir: parent.join("first-hour"), parent };
    run(
        "lunora-codegen new project",
        Command::new(codegen).args(["new", "project"]).arg(&project.dir).arg("--lunora-path").arg(root),
    )?;
    run(
        "lunora-codegen sync --check of the new project",
        Command::new(codegen).args(["sync", "--check", "--manifest-path"]).arg(project.dir.join("Cargo.toml")),
    )?;
    let started = Instant::now();
    run(
        "worker-build --release of the new project",
        Command::new("worker-build").arg("--release").current_dir(&project.dir).env("CARGO_TARGET_DIR", target_dir),
    )?;
    println!("  built with worker-build in {:.1} s", started.elapsed().as_secs_f64());
    Ok(project)
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// One signup through the routes, from creation to its output.
fn first_signup(c: &Client) -> Result<String, String> {
    let id = "e2e-first-signup";
    let created = c.post("/instances", &json!({ "id": id, "params": { "email": "ada@example.com" } }))?;
    ensure(created == json!({ "id": id }), || format!("create returned {created}"))?;
    let started = Instant::now();
    let status = |c: &Client| c.get(&format!("/instances/{id}"));
    // After the 1 s sleep the instance waits for the event. Local workerd reports `running`
    // while it waits (Cloudflare says `waiting`), with neither `error` nor `output`. An event
    // sent earlier would be kept for the wait too (a conformance rule): waiting for the sleep
    // to pass only makes this the run a user sees.
    let waiting = poll("status running or waiting after the sleep", SLOW, TICK, || {
        let s = status(c)?;
        let over = started.elapsed() >= Duration::from_millis(1500);
        let waits = s == json!({ "status": "running" }) || s == json!({ "status": "waiting" });
        Ok(if waits && over { Ok(s) } else { Err(s.to_string()) })
    })?;
    let sent =
        c.post(&format!("/instances/{id}/events/email-confirmed"), &json!({ "confirmed_at": "2026-01-01T10:00:00Z" }))?;
    ensure(sent == json!({ "sent": "email-confirmed" }), || format!("send_event returned {sent}"))?;
    let done = poll("status complete after the event", SLOW, TICK, || {
        let s = status(c)?;
        Ok(if s["status"] == json!("complete") { Ok(s) } else { Err(s.to_string()) })
    })?;
    let expected = json!({
        "status": "complete",
        "output": {
            "account_id": "acct-ada@example.com",
            "confirmed_at": "2026-01-01T10:00:00Z",
            "message_id": "msg-acct-ada@example.com-1",
        },
    });
    ensure(done == expected, || format!("final status {done}, expected {expected}"))?;
    Ok(format!("{waiting} → event → {done}"))
}

/// An unknown instance is the route's 404, with the error's name and message.
fn unknown_instance(c: &Client) -> Result<String, String> {
    match c.get("/instances/no-such-signup") {
        Ok(body) => Err(format!("an unknown instance answered {body}")),
        Err(e) if e.contains("HTTP 404") => Ok(e),
        Err(e) => Err(format!("expected a 404, got {e}")),
    }
}

/// Scaffolds, builds, serves and drives the project; prints each outcome and returns how many
/// failed.
pub fn run_all(root: &Path, tools: &Path) -> Result<usize, String> {
    let codegen = root.join("target/debug/lunora-codegen");
    let target_dir = root.join("target/scaffold-e2e");
    // Declared before the server, so wrangler stops before its directory is removed.
    let project = scaffold(root, &codegen, &target_dir)?;
    // What only the project's [build] command (sync + worker-build) writes back: wrangler can
    // serve only if it ran.
    for generated in [project.dir.join("build"), project.dir.join("lunora-entry.mjs")] {
        let removed =
            if generated.is_dir() { std::fs::remove_dir_all(&generated) } else { std::fs::remove_file(&generated) };
        removed.map_err(|e| format!("{}: {e}", generated.display()))?;
    }
    let started = Instant::now();
    // wrangler runs the project's [build] command first: lunora-codegen and worker-build must
    // be on its PATH, as they are on a user's.
    let codegen_dir = codegen.parent().expect("target/debug").to_path_buf();
    let target = target_dir.to_string_lossy().into_owned();
    let server = Wrangler::start_with(&project.dir, tools, &[], &[codegen_dir], &[("CARGO_TARGET_DIR", target)])?;
    println!(
        "\nnew project's Worker: {} (served {:.1} s after wrangler started, its [build] included)",
        server.base,
        started.elapsed().as_secs_f64()
    );
    let client = Client::new(&server.base);
    let rebuilt = ["build/index.js", "build/index_bg.wasm", "lunora-entry.mjs"].map(|f| project.dir.join(f));
    let outcomes = [
        (
            "wrangler dev ran the [build] command",
            match rebuilt.iter().find(|f| !f.is_file()) {
                None => Ok("sync wrote lunora-entry.mjs, worker-build wrote build/".into()),
                Some(missing) => Err(format!("{} is missing", missing.display())),
            },
        ),
        ("create → running → event → complete", first_signup(&client)),
        ("unknown instance", unknown_instance(&client)),
    ];
    let failed = crate::report(outcomes, &server);
    drop(server);
    drop(project);
    Ok(failed)
}
