//! `instance.subscribe` compared across engines. The corpus's `subscribeEvents` instance is
//! created and subscribed to at once (the subscription sees its history, then its live events:
//! a step, a failed and a retried attempt, a sleep, an event wait, the completion); once it
//! ended, it is subscribed to again (the whole history), with a filter, and with a cursor. On
//! each engine: the live and the later subscription see the same events, ids strictly
//! increase, a cursor resumes right after its event, a filter keeps exactly its types. Across
//! engines: the same sequence of event types and step names, ids and timestamps aside, and
//! the instance's status events aside ([`STATUS_EVENTS`]: the engines' status models differ).

use std::time::Duration;

use corpus::lunora_workflows::{register_all, Workflows};
use corpus::subscriptions::{observe, Observe, GO, SUBSCRIBED};
use lunora_runtime::local::RowKind;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::CreateOptions;
use serde_json::{json, Value};

use crate::http::{poll, Client};

const ID: &str = "subscribed-1";
/// What a filtered subscription asks for.
const FILTER: [&str; 3] = ["step_completed", "attempt_errored", "workflow_completed"];

/// The instance's own status events, which follow each engine's status model (the embedded
/// engine hibernates during a retry delay; an event wakes it through `queued`), so they are left
/// out of the comparison across engines (each engine's own checks include them).
pub const STATUS_EVENTS: &[&str] =
    &["workflow_queued", "workflow_running", "workflow_waiting", "workflow_paused", "workflow_waiting_for_pause"];

/// What one engine's subscriptions saw.
pub struct Observed {
    pub live: Vec<Value>,
    pub history: Vec<Value>,
    pub filtered: Vec<Value>,
    /// The cursor used, and what came after it.
    pub resumed: (u64, Vec<Value>),
}

fn params() -> Value {
    json!({ "run": "subscribe" })
}

/// The position of the cursor: the `sleep_started` event.
fn cursor_of(history: &[Value]) -> Result<u64, String> {
    history
        .iter()
        .find(|e| e["type"] == "sleep_started")
        .and_then(|e| e["eventId"].as_u64())
        .ok_or_else(|| format!("no sleep_started in {}", json!(history)))
}

pub async fn run_native() -> Result<Observed, String> {
    let t = register_all(TestEngine::builder()).open().await.map_err(|e| e.to_string())?;
    let workflows = Workflows::new(t.engine().backend());
    let handle = workflows.get(SUBSCRIBED).map_err(|e| e.to_string())?;
    let options = CreateOptions { id: Some(ID.into()), params: Some(params()), retention: None };
    let instance = handle.create(options).await.map_err(|e| e.to_string())?;
    let watcher = handle.clone();
    let live = tokio::spawn(async move { observe(&watcher, ID, &Observe::default()).await });
    let mut sent = false;
    for _ in 0..1200 {
        let status = instance.status_json().await.map_err(|e| e.to_string())?;
        if status.status.is_terminal() {
            break;
        }
        let steps = t.engine().steps(instance.workflow_name(), ID).map_err(|e| e.to_string())?;
        if !sent && steps.iter().any(|s| s.kind == RowKind::WaitForEvent) {
            instance.send_event(GO, json!({ "value": 5 })).await.map_err(|e| e.to_string())?;
            sent = true;
        }
        t.advance(Duration::from_millis(500)).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let live = tokio::time::timeout(Duration::from_secs(30), live)
        .await
        .map_err(|_| "the live subscription did not end".to_owned())?
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let history = observe(&handle, ID, &Observe::default()).await.map_err(|e| e.to_string())?;
    let filter = Some(FILTER.iter().map(|t| t.to_string()).collect());
    let filtered = observe(&handle, ID, &Observe { cursor: None, filter }).await.map_err(|e| e.to_string())?;
    let cursor = cursor_of(&history)?;
    let resumed =
        observe(&handle, ID, &Observe { cursor: Some(cursor), filter: None }).await.map_err(|e| e.to_string())?;
    Ok(Observed { live, history, filtered, resumed: (cursor, resumed) })
}

pub fn run_workerd(base: &str) -> Result<Observed, String> {
    let client = Client::new(base);
    client.post(&format!("/run/{SUBSCRIBED}"), &json!({ "id": ID, "params": params() }))?;
    let path = format!("/subscribe/{SUBSCRIBED}/{ID}");
    let live = {
        let (base, path) = (base.to_owned(), path.clone());
        std::thread::spawn(move || Client::new(&base).post(&path, &json!({})))
    };
    // The event goes once the first two steps are done (during the sleep it is kept for the wait).
    poll("the subscribed instance to wait", Duration::from_secs(60), Duration::from_millis(200), || {
        let status = client.get(&format!("/status/{SUBSCRIBED}/{ID}"))?;
        let outputs = status["__LOCAL_DEV_STEP_OUTPUTS"].as_array().map_or(0, Vec::len);
        Ok(if outputs >= 2 { Ok(()) } else { Err(status.to_string()) })
    })?;
    client.post(&format!("/event/{SUBSCRIBED}/{ID}/{GO}"), &json!({ "value": 5 }))?;
    let live = live.join().map_err(|_| "the live subscription's thread panicked".to_owned())??;
    let list = |v: Value| v.as_array().cloned().ok_or_else(|| format!("not a list of events: {v}"));
    let live = list(live)?;
    let history = list(client.post(&path, &json!({}))?)?;
    let filtered = list(client.post(&path, &json!({ "filter": FILTER }))?)?;
    let cursor = cursor_of(&history)?;
    let resumed = list(client.post(&path, &json!({ "cursor": cursor }))?)?;
    Ok(Observed { live, history, filtered, resumed: (cursor, resumed) })
}

/// `type stepName` of each event, status events left out.
fn signature(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| !STATUS_EVENTS.contains(&e["type"].as_str().unwrap_or_default()))
        .map(|e| match e["stepName"].as_str() {
            Some(step) => format!("{} {step}", e["type"].as_str().unwrap_or("?")),
            None => e["type"].as_str().unwrap_or("?").to_owned(),
        })
        .collect()
}

/// One engine's own checks.
fn check(engine: &str, o: &Observed) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(format!("subscribe {engine}: {what}"));
    if let Some(error) = o.live.iter().chain(&o.history).find(|e| e.get("subscriptionError").is_some()) {
        fail(format!("a subscription failed: {error}"));
    }
    if o.live != o.history {
        fail(format!("the live subscription saw {} but the history is {}", json!(o.live), json!(o.history)));
    }
    let ids: Vec<u64> = o.history.iter().filter_map(|e| e["eventId"].as_u64()).collect();
    if ids.len() != o.history.len() || ids.windows(2).any(|w| w[0] >= w[1]) {
        fail(format!("event ids do not strictly increase: {ids:?}"));
    }
    if o.history.last().map(|e| &e["type"]) != Some(&json!("workflow_completed")) {
        fail(format!("the history does not end with workflow_completed: {}", json!(o.history)));
    }
    let (cursor, resumed) = &o.resumed;
    let after: Vec<Value> = o.history.iter().filter(|e| e["eventId"].as_u64() > Some(*cursor)).cloned().collect();
    if *resumed != after {
        fail(format!("cursor {cursor} gave {} instead of {}", json!(resumed), json!(after)));
    }
    let kept: Vec<Value> =
        o.history.iter().filter(|e| FILTER.contains(&e["type"].as_str().unwrap_or_default())).cloned().collect();
    if o.filtered != kept {
        fail(format!("filter {FILTER:?} gave {} instead of {}", json!(o.filtered), json!(kept)));
    }
    failures
}

/// Prints the sequences side by side; returns the differences.
pub fn compare(native: &Observed, workerd: &Observed) -> Vec<String> {
    let mut failures = check("embedded", native);
    failures.extend(check("workerd", workerd));
    let (n, w) = (signature(&native.history), signature(&workerd.history));
    println!("\n| # | embedded | workerd |");
    println!("|---|---|---|");
    for i in 0..n.len().max(w.len()) {
        let (a, b) = (n.get(i).map_or("", String::as_str), w.get(i).map_or("", String::as_str));
        println!("| {i} | {a} | {b}{} |", if a == b { "" } else { " **DIFFERS**" });
    }
    if n != w {
        failures.push(format!("subscribe: embedded events {n:?} vs workerd {w:?}"));
    }
    // The whole sequences, status events included, for the record.
    let all = |events: &[Value]| -> Vec<String> {
        events.iter().map(|e| e["type"].as_str().unwrap_or("?").to_owned()).collect()
    };
    let (n_all, w_all) = (all(&native.history), all(&workerd.history));
    println!(
        "\nsubscribe, every event type: {}",
        if n_all == w_all { "same on both engines" } else { "the status events differ" }
    );
    println!("  embedded: {}\n  workerd:  {}", n_all.join(" "), w_all.join(" "));
    let types = |events: &[Value]| -> Vec<String> { events.iter().map(|e| e["type"].to_string()).collect() };
    if types(&native.filtered) != types(&workerd.filtered) {
        failures.push(format!(
            "subscribe filter: embedded {:?} vs workerd {:?}",
            types(&native.filtered),
            types(&workerd.filtered)
        ));
    }
    failures
}
