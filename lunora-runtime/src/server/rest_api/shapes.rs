//! The journal's rows in the REST API's shapes: a listing's rows, and an instance's detail with
//! its step timeline (entries named `<name>-<count>` as workerd names them, so
//! [`History::from_rest`](crate::history::History::from_rest) reads the counts back).

use serde_json::{json, Value};

use crate::error::Error;
use crate::listing::InstanceInfo;
use crate::local::journal::{InstanceRow, RowKind, StepRow, StepState};
use crate::status::{InstanceStatus, InstanceStatusKind, Timestamp};

/// What the local server reports as `version_id` / `versionId` (it has no deployments).
pub const LOCAL_VERSION: &str = "local";

fn time(ms: i64) -> Value {
    Value::String(Timestamp(ms).to_string())
}

fn opt_time(ms: Option<i64>) -> Value {
    ms.map(time).unwrap_or(Value::Null)
}

fn error(e: &Error) -> Value {
    json!({"name": e.name(), "message": e.message()})
}

/// One row of `GET …/instances`.
pub fn summary(workflow: &str, info: &InstanceInfo) -> Value {
    json!({
        "id": info.id,
        "status": info.status.as_str(),
        "created_on": time(info.created_at.as_millis()),
        "modified_on": time(info.modified_at.as_millis()),
        "started_on": opt_time(info.started_at.map(Timestamp::as_millis)),
        "ended_on": opt_time(info.ended_at.map(Timestamp::as_millis)),
        "version_id": LOCAL_VERSION,
        "workflow_id": workflow,
    })
}

/// The status the REST API shows: `rollingBack` while a rollback chain runs.
pub fn rest_status(row: &InstanceRow) -> InstanceStatusKind {
    if row.phase.is_some() && !row.status.is_terminal() && row.status != InstanceStatusKind::Paused {
        InstanceStatusKind::RollingBack
    } else {
        row.status
    }
}

/// `GET …/instances/<id>`.
pub fn detail(row: &InstanceRow, steps: &[StepRow]) -> Value {
    let rollback = serde_json::to_value(InstanceStatus::<Value> {
        status: row.status,
        error: None,
        output: None,
        rollback: row.rollback.clone(),
    })
    .ok()
    .and_then(|v| v.get("rollback").cloned())
    .unwrap_or(Value::Null);
    let mut timeline: Vec<Value> = steps.iter().map(step).collect();
    if row.status == InstanceStatusKind::Terminated {
        timeline.push(json!({"type": "termination", "trigger": {"source": "api"}}));
    }
    let success = match row.status {
        InstanceStatusKind::Complete => json!(true),
        s if s.is_terminal() => json!(false),
        _ => Value::Null,
    };
    json!({
        "status": rest_status(row).as_str(),
        "params": row.params,
        "trigger": {"source": "api"},
        "versionId": LOCAL_VERSION,
        "queued": time(row.created_at),
        "start": opt_time(row.started_at),
        "end": opt_time(row.ended_at),
        "success": success,
        "error": row.error.as_ref().map(error).unwrap_or(Value::Null),
        "output": row.output.clone().unwrap_or(Value::Null),
        "rollback": rollback,
        "step_count": steps.iter().filter(|s| s.kind != RowKind::Rollback).count(),
        "steps": timeline,
    })
}

fn step(s: &StepRow) -> Value {
    let name = format!("{}-{}", s.name, s.count);
    match s.kind {
        RowKind::Do | RowKind::Rollback => {
            let redacted = s.config.as_ref().is_some_and(|c| c.sensitive.is_some());
            let output = match (&s.state, redacted) {
                (StepState::Done, true) => json!(crate::secret::REDACTED),
                (StepState::Done, false) => s.output.clone().unwrap_or(Value::Null),
                _ => Value::Null,
            };
            let config = s
                .config
                .as_ref()
                .map(|c| {
                    json!({
                        "retries": {
                            "limit": c.retries.limit,
                            "delay": c.retries.delay_ms,
                            "backoff": serde_json::to_value(c.retries.backoff).unwrap_or(Value::Null),
                        },
                        "timeout": c.timeout_ms,
                    })
                })
                .unwrap_or(Value::Null);
            let attempts: Vec<Value> = s
                .attempt_log
                .iter()
                .map(|a| {
                    json!({
                        "start": time(a.start),
                        "end": opt_time(a.end),
                        "success": a.success,
                        "error": a.error.as_ref().map(error).unwrap_or(Value::Null),
                    })
                })
                .collect();
            json!({
                "type": if s.kind == RowKind::Do { "step" } else { "rollback" },
                "name": name,
                "start": time(s.started_at),
                "end": opt_time(s.ended_at),
                "success": match s.state { StepState::Done => json!(true), StepState::Failed => json!(false), _ => Value::Null },
                "output": output,
                "config": config,
                "attempts": attempts,
            })
        }
        RowKind::Sleep | RowKind::WaitForEvent => {
            let mut entry = json!({
                "type": if s.kind == RowKind::Sleep { "sleep" } else { "waitForEvent" },
                "name": name,
                "start": time(s.started_at),
                "end": opt_time(s.ended_at),
                "finished": s.state.is_final(),
                "error": match (&s.state, &s.error) { (StepState::Failed, Some(e)) => error(e), _ => Value::Null },
            });
            if s.kind == RowKind::WaitForEvent && s.state == StepState::Done {
                entry["output"] = s.output.clone().unwrap_or(Value::Null);
            }
            entry
        }
    }
}
