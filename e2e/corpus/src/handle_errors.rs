//! The errors of instance operations, probed the same way on both engines: the driver
//! (`e2e/src/handle_errors.rs`) creates a `basicSteps` instance, waits for it to complete, then
//! runs [`probe`] — natively over the embedded engine, in workerd through the corpus Worker's
//! `POST /probe/:id` — and compares code, name and message of every outcome.

use lunora_runtime::{CreateOptions, Error, RestartFrom, Result};
use serde_json::{json, Value};

use crate::lunora_workflows::Workflows;

/// The workflow the probe's instance belongs to.
pub const PROBED: &str = "basicSteps";
/// An id no instance has.
pub const UNKNOWN_ID: &str = "probe-no-such-instance";

fn outcome(op: &str, result: Result<()>) -> Value {
    match result {
        Ok(()) => json!({ "op": op, "ok": true }),
        Err(e) => json!({ "op": op, "code": e.code(), "name": e.name(), "message": e.message() }),
    }
}

/// Every operation, in order, on the unknown id and on `finished` (a complete instance).
pub async fn probe(workflows: &Workflows, finished: &str) -> Result<Vec<Value>> {
    let handle = workflows.get(PROBED)?;
    let instance = handle.get(finished).await?;
    let mut out = Vec::new();
    out.push(outcome("get unknown id", handle.get(UNKNOWN_ID).await.map(drop)));
    let duplicate =
        CreateOptions { id: Some(finished.to_owned()), params: Some(json!({ "run": "probe" })), retention: None };
    out.push(outcome("create with an existing id", handle.create(duplicate).await.map(drop)));
    out.push(outcome("terminate a complete instance", instance.terminate().await));
    let unknown_step = RestartFrom::step("no-such-step");
    out.push(outcome("restart from an unknown step", instance.restart_from(unknown_step).await));
    out.push(outcome("resume a complete instance", instance.resume().await));
    out.push(outcome("pause a complete instance", instance.pause().await));
    out.push(outcome("send_event to a complete instance", instance.send_event("late", json!({})).await));
    Ok(out)
}

/// A probe failure that is not an outcome (the finished instance itself missing…).
pub fn probe_failed(error: &Error) -> Value {
    json!({ "error": { "name": error.name(), "message": error.message() } })
}
