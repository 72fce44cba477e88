//! The corpus's dispatch workflows a second time, against the Rust functions of
//! `corpus::functions` instead of the test origin (`origin.rs`): natively against
//! `lunora_runtime::functions`' axum endpoint on 127.0.0.1 over a temporary SQLite dedup store,
//! in workerd against the corpus Worker itself (`LUNORA_ORIGIN_URL={self}`, D1 dedup store).
//! Status, output, error, step outputs and trail must match the test origin's run on the same
//! engine, and each other across engines. The calls are not compared: the endpoint keeps no
//! request log (the dispatch ids are checked on the test origin's run).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lunora_runtime::functions::{server, DispatchEndpoint, SqliteDedupStore, TOKEN_VAR};
use lunora_runtime::Env;
use serde_json::json;
use tokio::runtime::Runtime;

use crate::conformance::{self, Case, DispatchOrigin, Observation, CASES};
use crate::http::Client;
use crate::origin::{REQUEST_TIMEOUT, TOKEN};
use crate::wrangler::Wrangler;

/// The dispatch cases the Rust functions serve. `dispatchDeclined` is not among them: its 409
/// is the test origin's control, see `corpus::functions`.
fn cases() -> Vec<(usize, &'static Case)> {
    CASES.iter().enumerate().filter(|(_, c)| !c.dispatch_ids.is_empty() && c.export != "dispatchDeclined").collect()
}

fn vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LUNORA_ORIGIN_URL", url.to_owned()),
        ("LUNORA_ADMIN_TOKEN", TOKEN.to_owned()),
        ("LUNORA_DISPATCH_TIMEOUT", REQUEST_TIMEOUT.to_owned()),
    ]
}

/// The native endpoint, stopped (and its store deleted) on drop.
struct NativeEndpoint {
    url: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    store: PathBuf,
}

impl NativeEndpoint {
    fn start(runtime: &Runtime) -> Result<Self, String> {
        let store = std::env::temp_dir().join(format!("lunora-e2e-dispatch-{}.sqlite", std::process::id()));
        remove_store(&store);
        let dedup =
            SqliteDedupStore::open(&store).map_err(|e| format!("the dispatch store {}: {e}", store.display()))?;
        let env =
            Env::new().with_var(TOKEN_VAR, TOKEN.to_owned()).with(Arc::new(corpus::functions::Attempts::default()));
        let endpoint = DispatchEndpoint::new(corpus::functions::functions(), env, Arc::new(dedup))
            .map_err(|e| format!("the native dispatch endpoint: {e}"))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| format!("a loopback port for the dispatch endpoint: {e}"))?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let task = runtime.spawn(server::serve(listener, endpoint));
        Ok(NativeEndpoint { url, task, store })
    }
}

impl Drop for NativeEndpoint {
    fn drop(&mut self) {
        self.task.abort();
        remove_store(&self.store);
    }
}

fn remove_store(store: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
}

impl DispatchOrigin for NativeEndpoint {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        vars(&self.url)
    }

    fn calls(&self, _export: &str, _instance_id: &str) -> Vec<String> {
        Vec::new()
    }
}

/// The corpus Worker answering its own `ctx.run` calls.
struct WorkerItself {
    base: String,
}

impl DispatchOrigin for WorkerItself {
    fn url(&self) -> String {
        self.base.clone()
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        vars("{self}")
    }

    fn calls(&self, _export: &str, _instance_id: &str) -> Vec<String> {
        Vec::new()
    }
}

/// Runs the dispatch cases against the Rust functions on both engines and compares them with
/// the test origin's run (`native`, `workerd`: every case, in `CASES` order). Returns the
/// differences.
pub fn run(
    runtime: &Runtime,
    tools: &Path,
    native: &[Observation],
    workerd: &[Observation],
) -> Result<Vec<String>, String> {
    let selected = cases();
    let only: Vec<&Case> = selected.iter().map(|(_, c)| *c).collect();
    let endpoint = NativeEndpoint::start(runtime)?;
    let rust_native = runtime.block_on(conformance::run_native(&endpoint, &only))?;
    drop(endpoint);
    let worker_itself = WorkerItself { base: String::new() };
    let server = Wrangler::start(&crate::root().join("e2e/corpus"), tools, &worker_itself.vars())?;
    let worker_itself = WorkerItself { base: server.base.clone() };
    let rust_workerd = conformance::run_workerd(&Client::new(&server.base), &worker_itself, &only)
        .map_err(|e| format!("{e}\n{}", server.tail()))?;
    println!("\nctx.run against the Rust endpoint (corpus::functions), compared with the test origin's run");
    println!("| workflow | status | output / error | verdict |");
    println!("|---|---|---|---|");
    let mut failures = Vec::new();
    for (((index, case), n), w) in selected.iter().zip(&rust_native).zip(&rust_workerd) {
        let pairs = [
            ("embedded: test origin vs Rust endpoint", &native[*index], n),
            ("workerd: test origin vs Rust endpoint", &workerd[*index], w),
            ("Rust endpoint: embedded vs workerd", n, w),
        ];
        let mut diffs = Vec::new();
        for (what, a, b) in pairs {
            for (field, x, y) in fields(a, b) {
                if x != y {
                    diffs.push(format!("{field} DIFFERS ({what})"));
                    failures.push(format!("{} {field} ({what}): {x} vs {y}", case.export));
                }
            }
        }
        let shown = if n.error.is_null() { &n.output } else { &n.error };
        let verdict = if diffs.is_empty() { "same".to_owned() } else { diffs.join("; ") };
        println!("| {} | {} | `{}` | {} |", case.export, n.status, shown, verdict);
    }
    Ok(failures)
}

/// The compared fields of two observations, as text.
fn fields(a: &Observation, b: &Observation) -> [(&'static str, String, String); 5] {
    [
        ("status", a.status.clone(), b.status.clone()),
        ("output", a.output.to_string(), b.output.to_string()),
        ("error", a.error.to_string(), b.error.to_string()),
        ("steps", json!(a.steps).to_string(), json!(b.steps).to_string()),
        ("trail", json!(a.trail).to_string(), json!(b.trail).to_string()),
    ]
}
