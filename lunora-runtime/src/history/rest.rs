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
        let counted = names_carry_counts(&detail.steps);
        let steps = detail.steps.iter().map(|entry| record(entry, &mut counts, counted)).collect();
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

/// `load-2` → (`load`, 2): a name with the occurrence count appended, as workerd names steps.
fn split_count(name: &str) -> Option<(&str, u32)> {
    let (base, n) = name.rsplit_once('-')?;
    let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0');
    (digits && !base.is_empty()).then(|| n.parse().ok().map(|n| (base, n))).flatten()
}

fn forward_kind(entry: &TimelineStep) -> Option<RecordKind> {
    match entry {
        TimelineStep::Step(_) => Some(RecordKind::Do),
        TimelineStep::Sleep(_) => Some(RecordKind::Sleep),
        TimelineStep::WaitForEvent(_) => Some(RecordKind::WaitForEvent),
        _ => None,
    }
}

/// Whether the timeline names its steps `<name>-<count>` (workerd does): every forward entry's
/// name ends in `-<n>` and `n` is that name's occurrence among its kind, in timeline order.
/// Then the suffix is the count and the name is what the code asked for; otherwise names are
/// taken whole and counted in timeline order.
fn names_carry_counts(steps: &[TimelineStep]) -> bool {
    let mut counts = HashMap::new();
    let mut any = false;
    for entry in steps {
        let Some(kind) = forward_kind(entry) else { continue };
        let Some((base, n)) = entry.name().and_then(split_count) else { return false };
        if next_count(&mut counts, &kind, base) != n {
            return false;
        }
        any = true;
    }
    any
}

fn record(entry: &TimelineStep, counts: &mut HashMap<(RecordKind, String), u32>, counted: bool) -> StepRecord {
    let mut blank = |kind: RecordKind, name: &str, state: RecordState| {
        let split = if counted { split_count(name) } else { None };
        let (name, count) = match (&kind, split) {
            (RecordKind::Other(_), _) => (name, 0),
            (_, Some((base, n))) => (base, n),
            (_, None) => (name, next_count(counts, &kind, name)),
        };
        blank_record(kind, name, count, state, entry)
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

fn blank_record(kind: RecordKind, name: &str, count: u32, state: RecordState, entry: &TimelineStep) -> StepRecord {
    StepRecord {
        kind,
        name: name.to_owned(),
        count,
        state,
        output: None,
        error: None,
        attempts: Vec::new(),
        started_at: millis(entry.start()),
        ended_at: millis(entry.end()),
        wake_at: None,
        raw: None,
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
        let ended = rec.ended_at.unwrap_or(0);
        rec.output = Some(match output {
            // The event as the engine keeps it; its time may come as text (workerd) or ms.
            Value::Object(mut event) if event.contains_key("payload") => {
                let at = match event.get("timestamp") {
                    Some(Value::Number(n)) => n.as_i64().unwrap_or(ended),
                    Some(Value::String(text)) => millis(Some(text)).unwrap_or(ended),
                    _ => ended,
                };
                event.insert("timestamp".into(), at.into());
                event.entry("type").or_insert_with(|| "".into());
                Value::Object(event)
            }
            payload => json!({ "payload": payload, "timestamp": ended, "type": "" }),
        });
    }
    rec
}
