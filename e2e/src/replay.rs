//! Histories recorded by workerd replay natively: instances of the example run in `wrangler
//! dev`, their histories read through the REST API's shape (the instance detail wrangler's local
//! explorer serves at `/cdn-cgi/local/explorer/api`, as Cloudflare's API does), written and read
//! back as history files, then replayed against the same code on the embedded engine's replay.
//! One format describes both engines when they are compatible and name the right next step.

use std::time::Duration;

use lunora_runtime::history::History;
use lunora_runtime::replay::{Continuation, Replayer};
use lunora_runtime::rest::{InstanceDetail, TimelineStep, WorkflowsRestClient};
use order_pipeline::lunora_workflows::register_all;
use serde_json::json;

use crate::http::{poll, Client};

/// Where wrangler's local explorer serves the Workflows REST API.
const EXPLORER_API: &str = "/cdn-cgi/local/explorer/api/workflows";
const WORKFLOW: &str = "order-pipeline";

/// Reads an instance's detail until `done` holds for it.
fn detail_until(
    runtime: &tokio::runtime::Runtime,
    rest: &WorkflowsRestClient,
    id: &str,
    what: &str,
    done: impl Fn(&InstanceDetail) -> bool,
) -> Result<InstanceDetail, String> {
    poll(&format!("{what} of {id}"), Duration::from_secs(60), Duration::from_millis(250), || {
        let detail = runtime.block_on(rest.get_instance(WORKFLOW, id)).map_err(|e| e.to_string())?;
        Ok(if done(&detail) { Ok(detail) } else { Err(format!("{:?}", detail.steps)) })
    })
}

/// Writes the history as a file and replays the folder: the format's round trip included.
fn replay_file(history: &History) -> Result<Continuation, String> {
    let dir = std::env::temp_dir().join(format!("lunora-e2e-histories-{}-{}", std::process::id(), history.instance_id));
    let _ = std::fs::remove_dir_all(&dir);
    history.write_to_dir(&dir).map_err(|e| e.to_string())?;
    let checked = register_all(Replayer::new()).check_dir(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let reports = checked.map_err(|failures| failures.to_string())?;
    match reports.as_slice() {
        [report] => report.outcome.clone().map_err(|d| d.to_string()),
        other => Err(format!("expected one report, got {}", other.len())),
    }
}

pub fn run(base: &str) -> Result<String, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let rest = WorkflowsRestClient::new("local", "local-explorer-needs-no-token")
        .with_base_url(format!("{base}{EXPLORER_API}"));
    let client = Client::new(base);
    let id = "e2e-history";
    // The gateway fails once: the charge's record holds a failed and a successful attempt.
    let params = json!({ "order_id": id, "gateway_failures": 1, "cool_off": "1 second" });
    client.post("/orders", &json!({ "id": id, "params": params }))?;
    let waiting = detail_until(&runtime, &rest, id, "the wait for the shipment", |d| {
        d.steps.iter().any(|s| matches!(s, TimelineStep::WaitForEvent(_)))
    })?;
    let history = History::from_rest(WORKFLOW, &waiting);
    let next = replay_file(&history)?;
    let expected = "next step #5 waitForEvent \"await-shipment\" (count 1) (recorded waiting)";
    if next.to_string() != expected {
        return Err(format!("the waiting instance's history replays to `{next}`, not `{expected}`: {history:?}"));
    }
    client.post(&format!("/orders/{id}/events/shipment-created"), &json!({ "tracking_id": "1Z-HIST" }))?;
    let done = detail_until(&runtime, &rest, id, "completion", |d| d.status_text == "complete")?;
    let history = History::from_rest(WORKFLOW, &done);
    match replay_file(&history)? {
        Continuation::Completes(output) if Some(&output) == done.output.as_ref() => {}
        other => return Err(format!("the completed instance's history replays to `{other}`: {history:?}")),
    }
    Ok(format!(
        "{} steps recorded by workerd replay natively: waiting at the shipment event, then to the same output",
        history.steps.len()
    ))
}
