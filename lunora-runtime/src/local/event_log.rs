//! The instance event log (`instance_events`): what `instance.subscribe` reads.
//!
//! The journal appends events in the transaction of the write they describe, derived from the
//! change itself: a step row written whole is compared with the row it replaces (a new attempt
//! is `attempt_started`, an attempt that got its end is `attempt_completed`/`attempt_errored`,
//! a row that became done is `step_completed`…), an instance's status change is its
//! `workflow_*` event. So the log is exactly as durable as the state. Ids count per instance
//! from 1 and strictly increase along its history, also across reopening the journal and across
//! restarts (`event_floors` keeps the newest erased id), which is what cursors need.
//!
//! Bulky values are not copied into the log: a `step_completed` event reads its output from the
//! step's row, `workflow_started` its params and `workflow_completed` its output from the
//! instance's row, when the event is read.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Map};

use crate::erased::Json;
use crate::error::Error;
use crate::local::journal_rows::{corrupt, RowKind, StepRow, StepState};
use crate::status::{InstanceStatusKind, RollbackOutcome, RollbackState};
use crate::subscription::{EventError, EventStepConfig, InstanceEvent};

/// An event about to be appended.
#[derive(Debug)]
pub(crate) struct NewEvent<'a> {
    pub timestamp: i64,
    pub kind: &'static str,
    pub step: Option<(RowKind, &'a str, u32)>,
    /// The event's own fields (attempt, error, retryDelayMs, durationMs, eventType).
    pub detail: Option<Json>,
}

impl<'a> NewEvent<'a> {
    pub fn workflow(kind: &'static str, timestamp: i64) -> Self {
        Self { timestamp, kind, step: None, detail: None }
    }

    fn step(row: &'a StepRow, kind: &'static str, timestamp: i64, detail: Option<Json>) -> Self {
        Self { timestamp, kind, step: Some((row.kind, &row.name, row.count)), detail }
    }
}

/// Appends `events` to the log of an instance (inside the caller's transaction).
pub(crate) fn append(conn: &Connection, workflow: &str, id: &str, events: &[NewEvent<'_>]) -> rusqlite::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // Primary-key seeks, on pages the insert below writes anyway.
    let newest: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM instance_events WHERE workflow = ?1 AND instance = ?2 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![workflow, id], |r| r.get(0))
        .optional()?;
    let floor: Option<i64> = conn
        .prepare_cached("SELECT floor FROM event_floors WHERE workflow = ?1 AND instance = ?2")?
        .query_row(params![workflow, id], |r| r.get(0))
        .optional()?;
    let last = newest.unwrap_or(0).max(floor.unwrap_or(0));
    // Ids near the top of i64 only come from a hand-edited file: refuse rather than wrap.
    if i64::try_from(events.len()).ok().and_then(|n| last.checked_add(n)).is_none() {
        return Err(corrupt(format!(
            "event ids of instance {id} of workflow {workflow} are exhausted (the newest is {last}); \
             the journal was edited by hand: restore it from a backup or delete the instance"
        )));
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO instance_events (workflow, instance, id, timestamp, type, step_kind, step_name, step_count, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (e, event_id) in events.iter().zip(last + 1..) {
        let (kind, name, count) = match e.step {
            Some((kind, name, count)) => (Some(kind.as_str()), Some(name), Some(count)),
            None => (None, None, None),
        };
        stmt.execute(params![
            workflow,
            id,
            event_id,
            e.timestamp,
            e.kind,
            kind,
            name,
            count,
            e.detail.as_ref().map(Json::to_string)
        ])?;
    }
    Ok(())
}

/// The event an instance's move to `status` is, if any (the terminal ones are written by
/// [`finish_events`], with their output or error).
pub(crate) fn status_event(status: InstanceStatusKind) -> Option<&'static str> {
    Some(match status {
        InstanceStatusKind::Queued => "workflow_queued",
        InstanceStatusKind::Running => "workflow_running",
        InstanceStatusKind::Paused => "workflow_paused",
        InstanceStatusKind::WaitingForPause => "workflow_waiting_for_pause",
        InstanceStatusKind::Waiting => "workflow_waiting",
        _ => return None,
    })
}

/// The events of an instance's end: the rollback chain's outcome, then the terminal event.
pub(crate) fn finish_events(
    status: InstanceStatusKind,
    error: Option<&Error>,
    rollback: Option<&RollbackState>,
    now: i64,
) -> Vec<NewEvent<'static>> {
    let mut events = Vec::new();
    if let Some(rollback) = rollback {
        let kind = match rollback.outcome {
            RollbackOutcome::Complete => "rollback_completed",
            RollbackOutcome::Failed => "rollback_errored",
        };
        events.push(NewEvent::workflow(kind, now));
    }
    let terminal = match status {
        InstanceStatusKind::Complete => NewEvent::workflow("workflow_completed", now),
        InstanceStatusKind::Errored => NewEvent {
            detail: error.map(|e| json!({ "error": EventError::from(e) })),
            ..NewEvent::workflow("workflow_errored", now)
        },
        InstanceStatusKind::Terminated => NewEvent::workflow("workflow_terminated", now),
        _ => return events,
    };
    events.push(terminal);
    events
}

/// The events that writing `new` over `old` (absent for a new row) is. `wait_type` is the
/// event type a wait waits for (the row does not keep it).
pub(crate) fn step_events<'a>(old: Option<&StepRow>, new: &'a StepRow, wait_type: Option<&str>) -> Vec<NewEvent<'a>> {
    let mut events = Vec::new();
    let ended = new.ended_at.unwrap_or(new.started_at);
    let became = |state: StepState| new.state == state && old.is_none_or(|o| o.state != state);
    match new.kind {
        RowKind::Do | RowKind::Rollback => {
            let rollback = new.kind == RowKind::Rollback;
            let pick = |forward: &'static str, back: &'static str| if rollback { back } else { forward };
            if old.is_none() {
                events.push(NewEvent::step(new, pick("step_started", "rollback_step_started"), new.started_at, None));
            }
            let before = old.map(|o| o.attempt_log.as_slice()).unwrap_or(&[]);
            let last = new.attempt_log.len().saturating_sub(1);
            for (i, attempt) in new.attempt_log.iter().enumerate() {
                let number = i as u32 + 1;
                let previous = before.get(i);
                if previous.is_none() {
                    let kind = pick("attempt_started", "rollback_attempt_started");
                    events.push(NewEvent::step(new, kind, attempt.start, Some(json!({ "attempt": number }))));
                }
                let Some(end) = attempt.end else { continue };
                if previous.is_some_and(|p| p.end.is_some()) {
                    continue;
                }
                if attempt.success == Some(true) {
                    let kind = pick("attempt_completed", "rollback_attempt_completed");
                    events.push(NewEvent::step(new, kind, end, Some(json!({ "attempt": number }))));
                } else {
                    let error =
                        attempt.error.as_ref().or(new.error.as_ref()).map(EventError::from).unwrap_or_else(|| {
                            EventError { name: "Error".into(), message: "the attempt failed".into() }
                        });
                    let mut detail = json!({ "attempt": number, "error": error });
                    if i == last && new.state == StepState::Waiting {
                        if let Some(at) = new.wake_at {
                            detail["retryDelayMs"] = json!((at - end).max(0));
                        }
                    }
                    let kind = pick("attempt_errored", "rollback_attempt_errored");
                    events.push(NewEvent::step(new, kind, end, Some(detail)));
                }
            }
            if became(StepState::Done) {
                events.push(NewEvent::step(new, pick("step_completed", "rollback_step_completed"), ended, None));
            } else if became(StepState::Failed) {
                let detail = rollback.then(|| {
                    let error = new.error.as_ref().map(EventError::from);
                    json!({ "error": error.unwrap_or(EventError { name: "Error".into(), message: String::new() }) })
                });
                events.push(NewEvent::step(new, pick("step_errored", "rollback_step_errored"), ended, detail));
            }
        }
        RowKind::Sleep => {
            if old.is_none() {
                let until = new.wake_at.or(new.ended_at).unwrap_or(new.started_at);
                let detail = json!({ "durationMs": (until - new.started_at).max(0) });
                events.push(NewEvent::step(new, "sleep_started", new.started_at, Some(detail)));
            }
            if became(StepState::Done) {
                events.push(NewEvent::step(new, "sleep_completed", ended, None));
            }
        }
        RowKind::WaitForEvent => {
            if old.is_none() {
                let detail = json!({ "eventType": wait_type.unwrap_or_default() });
                events.push(NewEvent::step(new, "wait_started", new.started_at, Some(detail)));
            }
            if became(StepState::Done) {
                events.push(NewEvent::step(new, "wait_completed", ended, None));
            } else if became(StepState::Failed) {
                events.push(NewEvent::step(new, "wait_timed_out", ended, None));
            }
        }
    }
    events
}

/// One page of an instance's events after `after`, oldest first, with the values they show
/// read from the step and instance rows.
pub(crate) fn read_after(
    conn: &Connection,
    workflow: &str,
    id: &str,
    after: u64,
    limit: u32,
) -> rusqlite::Result<Vec<InstanceEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, e.timestamp, e.type, e.step_name, e.step_count, e.detail,
                CASE WHEN e.type IN ('step_started', 'rollback_step_started', 'step_completed') THEN s.config END,
                CASE WHEN e.type = 'step_completed' THEN s.output END
         FROM instance_events e
         LEFT JOIN steps s ON s.workflow = e.workflow AND s.instance = e.instance AND s.kind = e.step_kind
                          AND s.name = e.step_name AND s.count = e.step_count
         WHERE e.workflow = ?1 AND e.instance = ?2 AND e.id > ?3
         ORDER BY e.id LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![workflow, id, as_id(after), limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<u32>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, Option<String>>(7)?,
        ))
    })?;
    let mut instance: Option<(Json, Option<Json>)> = None;
    let mut events = Vec::new();
    for row in rows {
        let (event_id, timestamp, kind, name, count, detail, config, output) = row?;
        let mut object = match detail.map(|d| serde_json::from_str::<Json>(&d)) {
            Some(Ok(Json::Object(map))) => map,
            Some(Ok(_)) | None => Map::new(),
            Some(Err(e)) => return Err(corrupt(format!("bad event detail in journal: {e}"))),
        };
        object.insert("instanceId".into(), json!(id));
        object.insert("eventId".into(), json!(event_id));
        object.insert("timestamp".into(), json!(timestamp));
        object.insert("type".into(), json!(kind));
        if let (Some(name), Some(count)) = (name, count) {
            object.insert("stepName".into(), json!(format!("{name}-{count}")));
        }
        let config: Option<crate::config::ResolvedStepConfig> = config
            .map(|c| serde_json::from_str(&c).map_err(|e| corrupt(format!("bad step config in journal: {e}"))))
            .transpose()?;
        match kind.as_str() {
            "step_started" | "rollback_step_started" => {
                if let Some(config) = &config {
                    object.insert("config".into(), json!(EventStepConfig::from(config)));
                }
            }
            "step_completed" => {
                if config.as_ref().is_some_and(|c| c.sensitive.is_some()) {
                    object.insert("output".into(), json!(crate::history::REDACTED_OUTPUT));
                } else if let Some(output) = output {
                    let output: Json = serde_json::from_str(&output)
                        .map_err(|e| corrupt(format!("bad step output in journal: {e}")))?;
                    object.insert("output".into(), output);
                }
            }
            "workflow_started" | "workflow_completed" => {
                if instance.is_none() {
                    instance = Some(params_and_output(conn, workflow, id)?);
                }
                let (params, output) = instance.as_ref().expect("read above");
                if kind == "workflow_started" {
                    object.insert("params".into(), params.clone());
                } else if let Some(output) = output {
                    object.insert("output".into(), output.clone());
                }
            }
            _ => {}
        }
        let event = serde_json::from_value(Json::Object(object))
            .map_err(|e| corrupt(format!("event {event_id} in the journal does not decode: {e}")))?;
        events.push(event);
    }
    Ok(events)
}

/// An event id as SQLite stores it: a cursor past `i64::MAX` is past every id.
fn as_id(cursor: u64) -> i64 {
    i64::try_from(cursor).unwrap_or(i64::MAX)
}

/// Whether the instance's log holds its terminal event at or before `upto`.
pub(crate) fn ended_by(conn: &Connection, workflow: &str, id: &str, upto: u64) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM instance_events WHERE workflow = ?1 AND instance = ?2 AND id <= ?3
                        AND type IN ('workflow_completed', 'workflow_errored', 'workflow_terminated'))",
    )?
    .query_row(params![workflow, id, as_id(upto)], |r| r.get(0))
}

/// Whether the instance's (current run's) log has its `workflow_started`.
pub(crate) fn has_started(conn: &Connection, workflow: &str, id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM instance_events
                        WHERE workflow = ?1 AND instance = ?2 AND type = 'workflow_started')",
    )?
    .query_row(params![workflow, id], |r| r.get(0))
}

/// Forgets the events a restart erases, before its rows go: every event for a full restart;
/// for a restart from a step, the events of the steps it erases (started at `keep_before_seq`
/// or later, and rollbacks) and the instance's own events but its `workflow_queued` and
/// `workflow_started`, as workerd does.
pub(crate) fn forget_for_restart(
    conn: &Connection,
    workflow: &str,
    id: &str,
    keep_before_seq: Option<i64>,
) -> rusqlite::Result<()> {
    // The ids about to go stay taken: a subscriber may hold one as its cursor.
    conn.prepare_cached(
        "INSERT OR REPLACE INTO event_floors (workflow, instance, floor)
         SELECT ?1, ?2, max(id) FROM instance_events WHERE workflow = ?1 AND instance = ?2 HAVING max(id) IS NOT NULL",
    )?
    .execute(params![workflow, id])?;
    match keep_before_seq {
        None => {
            conn.execute("DELETE FROM instance_events WHERE workflow = ?1 AND instance = ?2", params![workflow, id])
        }
        Some(keep) => conn.execute(
            "DELETE FROM instance_events WHERE workflow = ?1 AND instance = ?2 AND (
                 (step_kind IS NULL AND type NOT IN ('workflow_queued', 'workflow_started'))
                 OR step_kind = 'rollback'
                 OR EXISTS (SELECT 1 FROM steps s WHERE s.workflow = ?1 AND s.instance = ?2 AND s.kind = step_kind
                            AND s.name = step_name AND s.count = step_count AND s.seq >= ?3))",
            params![workflow, id, keep],
        ),
    }
    .map(drop)
}

/// Forgets an instance's whole log, with the instance (deleted or expired): an instance created
/// later under the same id counts its events from 1 again, as a new workerd instance does.
pub(crate) fn forget(conn: &Connection, workflow: &str, id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM instance_events WHERE workflow = ?1 AND instance = ?2")?
        .execute(params![workflow, id])?;
    conn.prepare_cached("DELETE FROM event_floors WHERE workflow = ?1 AND instance = ?2")?
        .execute(params![workflow, id])
        .map(drop)
}

fn params_and_output(conn: &Connection, workflow: &str, id: &str) -> rusqlite::Result<(Json, Option<Json>)> {
    let found: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT params, output FROM instances WHERE workflow = ?1 AND id = ?2")?
        .query_row(params![workflow, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((params, output)) = found else { return Ok((Json::Null, None)) };
    let parse = |s: &str| serde_json::from_str::<Json>(s).map_err(|e| corrupt(format!("bad JSON in journal: {e}")));
    Ok((parse(&params)?, output.as_deref().map(parse).transpose()?))
}
