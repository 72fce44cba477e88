//! Same failure, same identity: the errors of instance operations (unknown id, duplicate id,
//! terminate or restart a complete instance…) must carry the same code, name and message on
//! both engines. The corpus's `handle_errors::probe` runs every operation; here it runs on the
//! embedded engine and, through the corpus Worker, in workerd, and the outcomes are compared.

use std::time::Duration;

use corpus::handle_errors::{probe, PROBED};
use corpus::lunora_workflows::{register_all, Workflows};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::CreateOptions;
use serde_json::{json, Value};

use crate::http::{poll, Client};

/// The probed instance's id (complete before the probe).
const FINISHED: &str = "probe-finished";

/// Operations where workerd (wrangler dev) accepts what the embedded engine refuses, with why
/// the difference is allowed.
pub const ALLOWED: &[(&str, &str)] = &[
    (
        "pause a complete instance",
        "workerd's pause of a terminal instance is a no-op; the embedded engine reports instance.cannot_pause",
    ),
    (
        "send_event to a complete instance",
        "workerd queues an event for a terminal instance; the embedded engine reports instance.cannot_send_event",
    ),
];

/// The probe on the embedded engine.
pub async fn run_native() -> Result<Vec<Value>, String> {
    let t = register_all(TestEngine::builder()).open().await.map_err(|e| e.to_string())?;
    let workflows = Workflows::new(t.engine().backend());
    let handle = workflows.get(PROBED).map_err(|e| e.to_string())?;
    let options = CreateOptions { id: Some(FINISHED.into()), params: Some(json!({ "run": "probe" })), retention: None };
    let instance = handle.create(options).await.map_err(|e| e.to_string())?;
    t.run_to_completion(&instance).await.map_err(|e| e.to_string())?;
    probe(&workflows, FINISHED).await.map_err(|e| format!("native probe: {e}"))
}

/// The probe in workerd, through the corpus Worker.
pub fn run_workerd(client: &Client) -> Result<Vec<Value>, String> {
    client.post(&format!("/run/{PROBED}"), &json!({ "id": FINISHED, "params": { "run": "probe" } }))?;
    poll("the probed instance to complete", Duration::from_secs(60), Duration::from_millis(200), || {
        let status = client.get(&format!("/status/{PROBED}/{FINISHED}"))?;
        Ok(if status["status"] == "complete" { Ok(()) } else { Err(status.to_string()) })
    })?;
    match client.post(&format!("/probe/{FINISHED}"), &json!({}))? {
        Value::Array(outcomes) => Ok(outcomes),
        other => Err(format!("workerd probe: {other}")),
    }
}

/// Prints the table; returns the unexplained differences.
pub fn compare(native: &[Value], workerd: &[Value]) -> Vec<String> {
    let mut failures = Vec::new();
    println!("\n| operation | embedded | workerd | verdict |");
    println!("|---|---|---|---|");
    if native.len() != workerd.len() {
        failures.push(format!("probe: {} outcomes natively, {} in workerd", native.len(), workerd.len()));
    }
    for (n, w) in native.iter().zip(workerd) {
        let op = n["op"].as_str().unwrap_or("?");
        let shown = |v: &Value| match &v["code"] {
            Value::Null if v["ok"] == true => "ok".to_owned(),
            code => format!("{} {code} {:?}", v["name"], v["message"].as_str().unwrap_or_default()),
        };
        let verdict = if n == w {
            "same".to_owned()
        } else if let Some((_, why)) = ALLOWED.iter().find(|(o, _)| *o == op) {
            format!("differs, allowed: {why}")
        } else {
            failures.push(format!("handle error {op}: embedded {n} vs workerd {w}"));
            "DIFFERS".to_owned()
        };
        println!("| {op} | {} | {} | {verdict} |", shown(n), shown(w));
    }
    failures
}
