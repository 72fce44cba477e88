//! One pass over every Workflows REST call of `lunora_runtime::rest`, written once and run twice by
//! lunora-e2e: natively (ureq) and inside workerd (the Worker's `fetch`, through the corpus
//! Worker's `/rest` route), each time against a fake API on 127.0.0.1 that answers with the
//! envelope fixtures of `lunora-runtime/tests/rest_fixtures` (`e2e/src/fake_api.rs`). The
//! results, as JSON, must be the same, and so must the requests the API received.

use std::time::Duration;

use lunora_runtime::rest::*;
use lunora_runtime::RestartFrom;
use serde::Serialize;
use serde_json::{json, Value};

/// An account id and workflow name that need percent-encoding.
pub const ACCOUNT: &str = "acc 9/ß";
pub const WORKFLOW: &str = "order pipeline ü";
/// Workflow names the fake API treats specially.
pub const BY_CURSOR: &str = "by-cursor";
pub const ECHOES_TOKEN: &str = "echoes-token";
/// Instance ids the fake API treats specially.
pub const ERRORED: &str = "order-1004";
pub const MISSING: &str = "missing";
pub const SLOW: &str = "slow";
/// An instance id that needs percent-encoding.
pub const ODD_ID: &str = "inst/1 ä?#&=+%";

/// Each call's name and outcome: the value, or the error's kind, status, message and
/// Cloudflare errors. `api_root` is written as `<api>` so both runs read the same.
pub async fn rest_tour(api_root: &str, token: &str) -> Value {
    let client = WorkflowsRestClient::new(ACCOUNT, token).with_base_url(workflows_base_url(api_root, ACCOUNT));
    let mut calls: Vec<(String, Value)> = Vec::new();
    let mut record = |name: &str, outcome: Value| calls.push((name.to_owned(), outcome));

    let by_page = ListInstances::new(WORKFLOW).per_page(2);
    for (page, result) in every_page(&client, by_page, token).await.into_iter().enumerate() {
        record(&format!("list by page {}", page + 1), result);
    }
    let by_cursor = ListInstances::new(BY_CURSOR)
        .status(lunora_runtime::InstanceStatusKind::Running)
        .direction(Direction::Desc)
        .date_range(Some("2025-06-01T00:00:00Z".into()), None);
    for (page, result) in every_page(&client, by_cursor, token).await.into_iter().enumerate() {
        record(&format!("list by cursor {}", page + 1), result);
    }

    let detail = client.get_instance(WORKFLOW, ERRORED).await;
    if let Ok(detail) = &detail {
        let timeline: Vec<Value> = detail
            .steps
            .iter()
            .map(|s| json!([s.kind(), s.name(), s.attempts().len(), s.duration().map(|d| d.as_millis() as u64)]))
            .collect();
        record("timeline", json!(timeline));
    }
    record("get errored", outcome(detail, token));
    record("get odd id", outcome(client.get_instance(WORKFLOW, ODD_ID).await, token));

    let actions = [
        Action::Pause,
        Action::Resume,
        Action::Terminate { rollback: true },
        Action::Restart { from: Some(RestartFrom::step("charge-card")) },
    ];
    for action in actions {
        let name = format!("status {}", action.as_str());
        record(&name, outcome(client.set_instance_status(WORKFLOW, ODD_ID, action).await, token));
    }
    let create = CreateInstance {
        instance_id: Some("order-2001".into()),
        params: Some(json!({ "orderId": "o-2001", "note": "grüße" })),
        instance_retention: None,
    };
    record("create", outcome(client.create_instance(WORKFLOW, &create).await, token));
    let payload = json!({ "ok": true });
    record("send event", outcome(client.send_event(WORKFLOW, ODD_ID, "payment received ✓", &payload).await, token));

    record("get missing", outcome(client.get_instance(WORKFLOW, MISSING).await, token));
    record("token echoed", outcome(client.list_instances(&ListInstances::new(ECHOES_TOKEN)).await, token));
    let impatient = client.clone().with_timeout(Duration::from_millis(500));
    record("timeout", outcome(impatient.get_instance(WORKFLOW, SLOW).await, token));

    let text = json!(calls).to_string().replace(api_root, "<api>");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Follows `InstancePage::next` from `query` (at most 5 pages): each page's outcome.
async fn every_page(client: &WorkflowsRestClient, mut query: ListInstances, token: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    for _ in 0..5 {
        let result = client.list_instances(&query).await;
        let next = result.as_ref().ok().and_then(|p| p.next(&query));
        pages.push(outcome(result, token));
        match next {
            Some(q) => query = q,
            None => break,
        }
    }
    pages
}

fn outcome<T: Serialize>(result: Result<T, WorkflowsRestError>, token: &str) -> Value {
    match result {
        Ok(value) => json!({ "ok": value }),
        Err(e) => {
            let debug = format!("{e:?} {e}");
            json!({ "error": {
                "kind": format!("{:?}", e.kind()),
                "status": e.status(),
                "message": e.message(),
                "errors": e.errors(),
                "token_leaked": debug.contains(token),
            }})
        }
    }
}
