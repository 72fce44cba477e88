//! Histories recorded by workerd replay natively: after the conformance run, every corpus
//! instance's history is read through the REST API's shape (the instance detail wrangler's
//! local explorer serves at `/cdn-cgi/local/explorer/api`, as Cloudflare's API does), written
//! and read back as a history file, and replayed against the same code with the embedded
//! engine's replay; so is an instance left waiting for an event. One format describes both
//! engines when every history is compatible and the waiting one names its wait as next step.

use std::time::Duration;

use corpus::lunora_workflows::{register_all, WORKFLOWS};
use lunora_runtime::history::History;
use lunora_runtime::replay::{Continuation, Replayer};
use lunora_runtime::rest::{InstanceDetail, TimelineStep, WorkflowsRestClient};
use serde_json::json;

use crate::conformance::{id, params, CASES};
use crate::http::{poll, Client};

/// Where wrangler's local explorer serves the Workflows REST API.
const EXPLORER_API: &str = "/cdn-cgi/local/explorer/api/workflows";
/// The instance left waiting for its event (`eventBeforeWait` without the event).
const WAITING: &str = "replay-waiting";

fn deployed_name(export: &str) -> Result<&'static str, String> {
    WORKFLOWS.iter().find(|w| w.export_name == export).map(|w| w.name).ok_or_else(|| format!("no workflow {export}"))
}

/// Writes the history as a file and replays the folder: the format's round trip included.
fn replay_file(replayer: &Replayer, history: &History) -> Result<Continuation, String> {
    let dir = std::env::temp_dir().join(format!("lunora-e2e-histories-{}-{}", std::process::id(), history.instance_id));
    let _ = std::fs::remove_dir_all(&dir);
    history.write_to_dir(&dir).map_err(|e| e.to_string())?;
    let checked = replayer.check_dir(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let reports = checked.map_err(|failures| failures.to_string())?;
    match reports.as_slice() {
        [report] => report.outcome.clone().map_err(|d| d.to_string()),
        other => Err(format!("expected one report, got {}", other.len())),
    }
}

fn client_for(base: &str) -> WorkflowsRestClient {
    WorkflowsRestClient::new("local", "local-explorer-needs-no-token").with_base_url(format!("{base}{EXPLORER_API}"))
}

fn detail(
    runtime: &tokio::runtime::Runtime,
    rest: &WorkflowsRestClient,
    workflow: &str,
    instance: &str,
) -> Result<InstanceDetail, String> {
    runtime.block_on(rest.get_instance(workflow, instance)).map_err(|e| format!("{workflow}/{instance}: {e}"))
}

/// Starts an `eventBeforeWait` instance without its event and takes its history once it waits
/// (within the wait's 1-minute timeout, before the corpus runs).
pub fn record_waiting(runtime: &tokio::runtime::Runtime, client: &Client, base: &str) -> Result<History, String> {
    let mut body = params(&CASES[0]);
    body["run"] = json!("eventBeforeWait");
    client.post("/run/eventBeforeWait", &json!({ "id": WAITING, "params": body }))?;
    let rest = client_for(base);
    let workflow = deployed_name("eventBeforeWait")?;
    let waiting = poll("the wait for `go`", Duration::from_secs(30), Duration::from_millis(250), || {
        let d = detail(runtime, &rest, workflow, WAITING)?;
        Ok(if d.steps.iter().any(|s| matches!(s, TimelineStep::WaitForEvent(_))) { Ok(d) } else { Err(d.status_text) })
    })?;
    Ok(History::from_rest(workflow, &waiting))
}

/// Replays the histories of every case and the waiting one; returns the failures.
pub fn run(runtime: &tokio::runtime::Runtime, base: &str, waiting: &History) -> Result<Vec<String>, String> {
    let rest = client_for(base);
    let replayer = register_all(Replayer::new());
    let mut failures = Vec::new();
    println!("\n| workflow | history from workerd | replayed natively |");
    println!("|---|---|---|");
    for case in CASES {
        let workflow = deployed_name(case.export)?;
        let history = History::from_rest(workflow, &detail(runtime, &rest, workflow, &id(case))?);
        let verdict = match replay_file(&replayer, &history) {
            Ok(next) => format!("compatible; {next}"),
            Err(divergence) => {
                failures.push(format!("replay of {}: {divergence}", case.export));
                format!("DIVERGES: {divergence}")
            }
        };
        println!("| {} | {} entries, {} | {verdict} |", case.export, history.steps.len(), history.status);
    }
    let expected = "next step #2 waitForEvent \"wait-go\" (count 1) (recorded waiting)";
    match replay_file(&replayer, waiting) {
        Ok(next) if next.to_string() == expected => {
            println!(
                "| eventBeforeWait, left waiting | {} entries, {} | compatible; {next} |",
                waiting.steps.len(),
                waiting.status
            )
        }
        other => failures.push(format!("the waiting instance replays to {other:?}, not `{expected}`: {waiting:?}")),
    }
    Ok(failures)
}
