//! A history from Cloudflare: the REST API's instance detail (`GET …/instances/<id>`) turned
//! into the common format. Timestamps become epoch ms, states are read from `success` /
//! `finished` / `error`, counts are numbered per (kind, name) in timeline order, as Cloudflare
//! keys steps; entries of other types (`termination`, new ones) are kept opaque.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use serde_json::{json, Value};

use super::record::{next_count, AttemptRecord, History, RecordKind, RecordState, StepRecord, Trigger};
use crate::error::Error;
use crate::rest::{parse_timestamp, Attempt, ErrorInfo, InstanceDetail, TimelineStep, WaitRecord};

fn millis(text: Option<&str>) -> Option<i64> {
    let at = parse_timestamp(text?)?;
    Some(at.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

fn error(info: &ErrorInfo) -> Error {
    Error::named(info.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "Error".into()), info.message.clone())
}

fn attempts(list: &[Attempt]) -> Vec<AttemptRecord> {
    list.iter()
        .map(|a| AttemptRecord {
            start: millis(a.start.as_deref()),
            end: millis(a.end.as_deref()),
            success: a.success,
            error: a.error.as_ref().map(error),
        })
        .collect()
}

impl History {
    /// The history of a Cloudflare instance of `workflow` (its deployed name).
    pub fn from_rest(workflow: &str, detail: &InstanceDetail) -> Self {
        let mut counts = HashMap::new();
        let steps = detail.steps.iter().map(|entry| record(entry, &mut counts)).collect();
        History {
            source: "cloudflare".into(),
            workflow: workflow.to_owned(),
            instance_id: detail.id.clone(),
            version_id: detail.version_id.clone(),
            status: detail.status_text.clone(),
            params: detail.params.clone().unwrap_or_else(|| json!({})),
            trigger: Trigger {
                timestamp: millis(detail.queued.as_deref()).or(millis(detail.start.as_deref())),
                source: detail.trigger.as_ref().map(|t| t.source.clone()).filter(|s| !s.is_empty()),
            },
            steps,
        }
    }
}

fn record(entry: &TimelineStep, counts: &mut HashMap<(RecordKind, String), u32>) -> StepRecord {
    let mut blank = |kind: RecordKind, name: &str, state: RecordState| StepRecord {
        count: if matches!(kind, RecordKind::Other(_)) { 0 } else { next_count(counts, &kind, name) },
        kind,
        name: name.to_owned(),
        state,
        output: None,
        error: None,
        attempts: Vec::new(),
        started_at: millis(entry.start()),
        ended_at: millis(entry.end()),
        wake_at: None,
        raw: None,
    };
    match entry {
        TimelineStep::Step(s) | TimelineStep::Rollback(s) => {
            let kind = if matches!(entry, TimelineStep::Step(_)) { RecordKind::Do } else { RecordKind::Rollback };
            let tried = attempts(&s.attempts);
            let last_failed = tried.last().is_some_and(|a| a.success == Some(false));
            let state = match s.success {
                Some(true) => RecordState::Done,
                Some(false) => RecordState::Failed,
                // Between attempts: the last one failed and the next has not started.
                None if last_failed => RecordState::Waiting,
                None => RecordState::Running,
            };
            let mut rec = blank(kind, &s.name, state);
            rec.output = if state == RecordState::Done { Some(s.output.clone().unwrap_or(Value::Null)) } else { None };
            rec.error = tried.iter().rev().find_map(|a| a.error.clone()).filter(|_| state != RecordState::Done);
            rec.attempts = tried;
            rec
        }
        TimelineStep::Sleep(w) => {
            let state = if w.finished == Some(true) { RecordState::Done } else { RecordState::Waiting };
            let mut rec = blank(RecordKind::Sleep, &w.name, state);
            rec.error = w.error.as_ref().map(error);
            rec
        }
        TimelineStep::WaitForEvent(w) => wait_record(blank(RecordKind::WaitForEvent, &w.name, RecordState::Waiting), w),
        TimelineStep::Termination(_) | TimelineStep::Unknown(_) => {
            let raw = serde_json::to_value(entry).unwrap_or(Value::Null);
            let name = entry.name().unwrap_or_default().to_owned();
            let mut rec = blank(RecordKind::Other(entry.kind().to_owned()), &name, RecordState::Done);
            rec.raw = Some(raw);
            rec
        }
    }
}

fn wait_record(mut rec: StepRecord, w: &WaitRecord) -> StepRecord {
    if let Some(info) = &w.error {
        rec.state = RecordState::Failed;
        rec.error = Some(error(info));
    } else if w.finished == Some(true) {
        rec.state = RecordState::Done;
        // The received event; a bare payload is wrapped into the event's shape.
        let output = w.output.clone().unwrap_or(Value::Null);
        rec.output = Some(match output {
            Value::Object(ref o) if o.contains_key("payload") => output,
            payload => json!({ "payload": payload, "timestamp": rec.ended_at.unwrap_or(0), "type": "" }),
        });
    }
    rec
}
