//! The errors of instance operations, probed the same way on both engines: the driver
//! (`e2e/src/handle_errors.rs`) creates a `basicSteps` instance, waits for it to complete, then
//! runs [`probe`] (deleting instances last) — natively over the embedded engine, in workerd through the corpus Worker's
//! `POST /probe/:id` — and compares code, name and message of every outcome.

use lunora_runtime::{BatchCreated, CreateOptions, Error, RestartFrom, Result, Untyped, WorkflowHandle};
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

/// A batch's outcome: the created ids (or, for generated ids, how many) and the per-item errors.
fn batch_outcome<W>(op: &str, explicit_ids: bool, result: Result<BatchCreated<W>>) -> Value {
    match result {
        Ok(batch) => {
            let created = match explicit_ids {
                true => json!(batch.created.iter().map(|i| i.id().to_owned()).collect::<Vec<_>>()),
                false => json!(batch.created.len()),
            };
            json!({ "op": op, "ok": true, "created": created, "errors": batch.errors })
        }
        Err(e) => outcome(op, Err(e)),
    }
}

/// `createBatch` in its three forms, on `finished` (taken) and fresh ids.
async fn probe_batches(handle: &WorkflowHandle<Untyped>, finished: &str) -> Vec<Value> {
    let params = json!({ "run": "probe" });
    let with_id = |id: &str| CreateOptions { id: Some(id.to_owned()), params: Some(params.clone()), retention: None };
    let mut out = Vec::new();
    let batch = vec![with_id(finished), with_id("probe-batch-a"), with_id("probe-batch-a"), with_id("probe-batch-b")];
    let result = handle.create_batch_instances(batch).await;
    out.push(batch_outcome("createBatch {instances}: a taken id, an id twice", true, result));
    let result = handle.create_batch_count(2, params.clone()).await;
    out.push(batch_outcome("createBatch {count: 2, params}", false, result));
    for count in [0, 101] {
        let result = handle.create_batch_count(count, params.clone()).await;
        out.push(batch_outcome(&format!("createBatch {{count: {count}}}"), false, result));
    }
    let result = handle.create_batch_instances(Vec::new()).await;
    out.push(batch_outcome("createBatch {instances: []}", true, result));
    let result = handle.create_batch_instances(vec![with_id("probe-batch-c"), with_id("terminate")]).await;
    out.push(batch_outcome("createBatch {instances} with a reserved id", true, result));
    out.push(outcome("createBatch [] (array form)", handle.create_batch(Vec::new()).await.map(drop)));
    out
}

/// `instance.delete()` and `deleteBatch` on the instances the batch probe created.
async fn probe_deletes(handle: &WorkflowHandle<Untyped>, finished: &str) -> Vec<Value> {
    let (a, b) = ("probe-batch-a", "probe-batch-b");
    let mut out = Vec::new();
    out.push(outcome("deleteBatch []", handle.delete_batch(&[]).await));
    let too_many: Vec<String> = (0..101).map(|i| format!("probe-many-{i}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    out.push(outcome("deleteBatch of 101 ids", handle.delete_batch(&too_many).await));
    out.push(outcome("deleteBatch [existing, unknown]", handle.delete_batch(&[a, UNKNOWN_ID]).await));
    out.push(outcome("get after a refused deleteBatch", handle.get(a).await.map(drop)));
    let deleted = match handle.get(a).await {
        Ok(instance) => instance.delete().await,
        Err(e) => Err(e),
    };
    out.push(outcome("delete an instance", deleted));
    out.push(outcome("get a deleted instance", handle.get(a).await.map(drop)));
    out.push(outcome("deleteBatch [deleted]", handle.delete_batch(&[a]).await));
    out.push(outcome("deleteBatch [id, same id]", handle.delete_batch(&[b, b]).await));
    out.push(outcome("get an instance deleted by deleteBatch", handle.get(b).await.map(drop)));
    let again = CreateOptions { id: Some(a.to_owned()), params: Some(json!({ "run": "probe" })), retention: None };
    out.push(outcome("create a deleted id again", handle.create(again).await.map(drop)));
    out.push(outcome("the complete instance is untouched", handle.get(finished).await.map(drop)));
    out
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
    let invalid = CreateOptions {
        id: Some("no spaces allowed".to_owned()),
        params: Some(json!({ "run": "probe" })),
        retention: None,
    };
    out.push(outcome("create with an invalid id", handle.create(invalid).await.map(drop)));
    out.push(outcome("terminate a complete instance", instance.terminate().await));
    let unknown_step = RestartFrom::step("no-such-step");
    out.push(outcome("restart from an unknown step", instance.restart_from(unknown_step).await));
    out.push(outcome("resume a complete instance", instance.resume().await));
    out.push(outcome("pause a complete instance", instance.pause().await));
    out.push(outcome("send_event to a complete instance", instance.send_event("late", json!({})).await));
    out.extend(probe_batches(&handle, finished).await);
    out.extend(probe_deletes(&handle, finished).await);
    Ok(out)
}

/// A probe failure that is not an outcome (the finished instance itself missing…).
pub fn probe_failed(error: &Error) -> Value {
    json!({ "error": { "name": error.name(), "message": error.message() } })
}
