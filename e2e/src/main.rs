//! `lunora-e2e`: the end-to-end suite in real workerd (`wrangler dev` on 127.0.0.1).
//!
//! `scripts/e2e` installs the tools, runs `lunora-codegen sync --check` and worker-build on the
//! two Worker crates, then runs this binary, which:
//! 1. serves `examples/order-pipeline` and drives every example scenario over HTTP;
//! 2. serves `e2e/corpus`, runs the conformance corpus there and on the embedded engine (each
//!    with its own `ctx.run` dispatch origin on 127.0.0.1), and prints the comparison table;
//!    then runs its dispatch cases again against the Rust functions of `corpus::functions`
//!    (natively over lunora-runtime's axum endpoint, in workerd over the Worker itself);
//! 3. runs the Workflows REST client's tour natively and in that Worker, against a fake API
//!    on 127.0.0.1, and compares outcomes and requests;
//! 4. reads the history of every corpus instance (and of one left waiting for an event) from
//!    workerd through the REST API's shape and replays it natively against the same code;
//! 5. scaffolds a project with `lunora-codegen new project` outside the repository, serves it
//!    with its own `[build]` command and drives one instance through its routes to completion.
//!
//! Exit 0 only when every scenario passes and the engines agree. `lunora-e2e bench` instead
//! prints the 200-step completion-time comparison (Rust/wasm vs plain JS).

mod bench;
mod conformance;
mod example;
mod fake_api;
mod handle_errors;
mod http;
#[path = "../../lunora-runtime/tests/support/http_server.rs"]
mod http_server;
mod origin;
mod origin_http;
mod replay;
mod rest_tour;
mod rust_endpoint;
mod scaffold;
mod subscriptions;
mod wrangler;

use std::path::PathBuf;
use std::process::ExitCode;

use http::Client;
use origin::Origin;
use wrangler::Wrangler;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository root").to_owned()
}

fn run_example(tools: &std::path::Path) -> Result<usize, String> {
    // The example's charge and refund call the Worker's own payment functions with ctx.run.
    let server =
        Wrangler::start(&root().join("examples/order-pipeline"), tools, &[("LUNORA_ORIGIN_URL", "{self}".to_owned())])?;
    println!("example Worker: {}", server.base);
    let mut outcomes = example::run(&Client::new(&server.base));
    outcomes.push(("ctx.log in workerd", example::console_has_step_log(&server.output())));
    outcomes.extend(example::dispatch_scenarios(&Client::new(&server.base)));
    Ok(report(outcomes, &server))
}

/// Prints one line per scenario run against `server` and, when any failed, wrangler's last
/// lines (the Worker's own log usually says why). Returns how many failed.
fn report(outcomes: impl IntoIterator<Item = (&'static str, example::Outcome)>, server: &Wrangler) -> usize {
    let mut failed = 0;
    for (name, outcome) in outcomes {
        match outcome {
            Ok(detail) => println!("  ok    {name}: {detail}"),
            Err(error) => {
                failed += 1;
                println!("  FAIL  {name}: {error}");
            }
        }
    }
    if failed > 0 {
        println!("wrangler's last lines:\n{}", server.tail());
    }
    failed
}

/// The corpus on both engines, each with its own dispatch origin, then the REST client's tour
/// natively and in the same Worker.
fn run_conformance(tools: &std::path::Path) -> Result<usize, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let all_cases: Vec<_> = conformance::CASES.iter().collect();
    let native_origin = Origin::start();
    let native = runtime.block_on(conformance::run_native(&native_origin, &all_cases))?;
    let workerd_origin = Origin::start();
    let server = Wrangler::start(&root().join("e2e/corpus"), tools, &workerd_origin.vars())?;
    println!("\nconformance corpus Worker: {} ({} workflows)", server.base, conformance::CASES.len());
    let client = Client::new(&server.base);
    let waiting = replay::record_waiting(&runtime, &client, &server.base)?;
    let workerd = conformance::run_workerd(&client, &workerd_origin, &all_cases)
        .map_err(|e| format!("{e}\n{}", server.tail()))?;
    let mut failures = conformance::compare(&native, &workerd);
    failures.extend(rest_tour::run(&runtime, &client).map_err(|e| format!("{e}\n{}", server.tail()))?);
    let native_probe = runtime.block_on(handle_errors::run_native())?;
    let workerd_probe = handle_errors::run_workerd(&client).map_err(|e| format!("{e}\n{}", server.tail()))?;
    failures.extend(handle_errors::compare(&native_probe, &workerd_probe));
    let native_subscribed = runtime.block_on(subscriptions::run_native())?;
    let workerd_subscribed = subscriptions::run_workerd(&server.base).map_err(|e| format!("{e}\n{}", server.tail()))?;
    failures.extend(subscriptions::compare(&native_subscribed, &workerd_subscribed));
    failures.extend(replay::run(&runtime, &server.base, &waiting).map_err(|e| format!("{e}\n{}", server.tail()))?);
    // The dispatch cases again, against the Rust functions served by lunora_runtime::functions.
    failures.extend(rust_endpoint::run(&runtime, tools, &native, &workerd)?);
    for failure in &failures {
        println!("  DIFF  {failure}");
    }
    Ok(failures.len())
}

/// A project fresh from `lunora-codegen new project`, built and served as a user would.
fn run_scaffold(tools: &std::path::Path) -> Result<usize, String> {
    scaffold::run_all(&root(), tools)
}

fn run_bench(tools: &std::path::Path) -> Result<(), String> {
    let server = Wrangler::start(&root().join("e2e/corpus"), tools, &[])?;
    bench::run(&Client::new(&server.base)).map_err(|e| format!("{e}\n{}", server.tail()))
}

/// A part of the suite: its name, and what runs it with the tools directory (how many checks failed).
type Part = (&'static str, fn(&std::path::Path) -> Result<usize, String>);

fn main() -> ExitCode {
    let tools = root().join("e2e");
    let which: Vec<String> = std::env::args().skip(1).collect();
    // `bench` runs only when asked for: figures, not pass/fail.
    if which.iter().any(|w| w == "bench") {
        return match run_bench(&tools) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lunora-e2e: bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let wants = |part: &str| which.is_empty() || which.iter().any(|w| w == part);
    let mut failed = 0;
    let parts: [Part; 3] = [("example", run_example), ("conformance", run_conformance), ("scaffold", run_scaffold)];
    for (part, run) in parts {
        if !wants(part) {
            continue;
        }
        match run(&tools) {
            Ok(n) => failed += n,
            Err(e) => {
                eprintln!("lunora-e2e: {part}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if failed > 0 {
        eprintln!("lunora-e2e: {failed} failure(s)");
        return ExitCode::FAILURE;
    }
    println!("\nlunora-e2e: all passed");
    ExitCode::SUCCESS
}
