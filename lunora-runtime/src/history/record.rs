//! The history's records: instance, steps, attempts, and how they are written as JSON.

use std::fmt;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::erased::Json;
use crate::error::Error;
use crate::status::InstanceStatusKind;
/// The statuses of instances that can still run code: what `instances pull` and the journal
/// export take unless told otherwise.
pub const RESUMABLE_STATUSES: [InstanceStatusKind; 5] = [
    InstanceStatusKind::Queued,
    InstanceStatusKind::Running,
    InstanceStatusKind::Waiting,
    InstanceStatusKind::Paused,
    InstanceStatusKind::WaitingForPause,
];

/// The `format` field of every history file.
pub const FORMAT: &str = "lunora-history";
/// The format version this crate writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;

/// An instance's history.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Which engine recorded it: `embedded` or `cloudflare`.
    pub source: String,
    /// The deployed workflow name (`Workflow::NAME`), e.g. `order-pipeline`.
    pub workflow: String,
    pub instance_id: String,
    /// The deployed version that ran the instance (Cloudflare's `versionId`), when known.
    pub version_id: Option<String>,
    /// The instance's status in Cloudflare's spelling (`waiting`, `paused`, `complete`…).
    pub status: String,
    /// The create params, as stored (`{}` when none were given).
    pub params: Json,
    pub trigger: Trigger,
    /// Forward steps in the order they started, then rollbacks in the order they ran.
    pub steps: Vec<StepRecord>,
}

/// What started the instance: the event the body receives as `ctx.event`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trigger {
    /// When the instance was created, epoch ms.
    pub timestamp: Option<i64>,
    /// Cloudflare's `trigger.source` (`api`, `binding`, `cron`…), when reported.
    pub source: Option<String>,
}

/// A step record's kind. Anything else an engine reports (Cloudflare's `termination` entries,
/// kinds added later) is kept opaque as `Other` with its entry whole in [`StepRecord::raw`];
/// replay passes over it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Do,
    Sleep,
    WaitForEvent,
    Rollback,
    Other(String),
}

impl RecordKind {
    pub fn as_str(&self) -> &str {
        match self {
            RecordKind::Do => "do",
            RecordKind::Sleep => "sleep",
            RecordKind::WaitForEvent => "waitForEvent",
            RecordKind::Rollback => "rollback",
            RecordKind::Other(other) => other,
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "do" => RecordKind::Do,
            "sleep" => RecordKind::Sleep,
            "waitForEvent" => RecordKind::WaitForEvent,
            "rollback" => RecordKind::Rollback,
            other => RecordKind::Other(other.to_owned()),
        }
    }

    /// A step the workflow body asks for (not a rollback, not an opaque entry).
    pub fn is_forward(&self) -> bool {
        matches!(self, RecordKind::Do | RecordKind::Sleep | RecordKind::WaitForEvent)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a recorded step stood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordState {
    /// Finished with an output (a sleep that ended, an event that arrived).
    Done,
    /// Finished with its final error.
    Failed,
    /// Waiting for a timer: a sleep, an event, or the next attempt after a failed one.
    Waiting,
    /// An attempt was running when the history was taken.
    Running,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Done => "done",
            RecordState::Failed => "failed",
            RecordState::Waiting => "waiting",
            RecordState::Running => "running",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "done" => RecordState::Done,
            "failed" => RecordState::Failed,
            "waiting" => RecordState::Waiting,
            "running" => RecordState::Running,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, RecordState::Done | RecordState::Failed)
    }
}

/// One attempt of a `do` step or a rollback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// `None` while it runs.
    pub success: Option<bool>,
    pub error: Option<Error>,
}

/// One step record.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub kind: RecordKind,
    pub name: String,
    /// 1-based occurrence of `name` among the steps of this kind.
    pub count: u32,
    pub state: RecordState,
    /// The step's output (`do`), or the event received (`waitForEvent`: `{payload, timestamp,
    /// type}`).
    pub output: Option<Json>,
    pub error: Option<Error>,
    pub attempts: Vec<AttemptRecord>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// When a waiting step wakes (sleep end, event timeout, next attempt), epoch ms.
    pub wake_at: Option<i64>,
    /// The entry as the engine reported it, for kinds kept opaque.
    pub raw: Option<Json>,
}

impl StepRecord {
    /// `do "charge" (count 1)`: how messages name a step.
    pub fn label(&self) -> String {
        step_label(&self.kind, &self.name, self.count)
    }
}

/// `do "charge" (count 1)`.
pub fn step_label(kind: &RecordKind, name: &str, count: u32) -> String {
    format!("{kind} {name:?} (count {count})")
}

impl History {
    /// The history as JSON, every field present (absent values are `null`).
    pub fn to_json(&self) -> Json {
        let steps: Vec<Json> = self.steps.iter().map(step_json).collect();
        json!({
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "source": self.source,
            "workflow": self.workflow,
            "instance_id": self.instance_id,
            "version_id": self.version_id,
            "status": self.status,
            "params": self.params,
            "trigger": { "timestamp": self.trigger.timestamp, "source": self.trigger.source },
            "steps": steps,
        })
    }

    /// The history as pretty-printed JSON with a final newline (what files hold).
    pub fn to_pretty_string(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.to_json()).expect("a history is plain JSON");
        text.push('\n');
        text
    }

    /// A file name for this history: the instance id with anything but `[A-Za-z0-9._-]`
    /// replaced by `_` (ids are at most 100 such characters on Cloudflare), plus `.json`.
    pub fn file_name(&self) -> String {
        let safe: String = self
            .instance_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
            .collect();
        let safe = safe.trim_start_matches('.');
        format!("{}.json", if safe.is_empty() { "instance" } else { safe })
    }

    /// Writes the history into `dir` (created if missing) as [`History::file_name`], through a
    /// temporary file renamed into place, so a reader never sees half a file. Returns the path.
    pub fn write_to_dir(&self, dir: &Path) -> std::io::Result<std::path::PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.file_name());
        let tmp = dir.join(format!(".{}.tmp-{}", self.file_name(), std::process::id()));
        let written = std::fs::write(&tmp, self.to_pretty_string()).and_then(|()| std::fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| path)
    }
}

fn error_json(error: &Option<Error>) -> Json {
    error.as_ref().map(|e| json!({ "name": e.name(), "message": e.message() })).unwrap_or(Value::Null)
}

fn step_json(step: &StepRecord) -> Json {
    let attempts: Vec<Json> = step
        .attempts
        .iter()
        .map(|a| json!({ "start": a.start, "end": a.end, "success": a.success, "error": error_json(&a.error) }))
        .collect();
    let mut map = Map::new();
    map.insert("kind".into(), step.kind.as_str().into());
    map.insert("name".into(), step.name.clone().into());
    map.insert("count".into(), step.count.into());
    map.insert("state".into(), step.state.as_str().into());
    map.insert("output".into(), step.output.clone().unwrap_or(Value::Null));
    map.insert("error".into(), error_json(&step.error));
    map.insert("attempts".into(), attempts.into());
    map.insert("started_at".into(), step.started_at.into());
    map.insert("ended_at".into(), step.ended_at.into());
    map.insert("wake_at".into(), step.wake_at.into());
    if let Some(raw) = &step.raw {
        map.insert("raw".into(), raw.clone());
    }
    Value::Object(map)
}

/// Occurrence counts per (kind, name), in record order: what both engines key steps by.
pub(crate) fn next_count(
    counts: &mut std::collections::HashMap<(RecordKind, String), u32>,
    kind: &RecordKind,
    name: &str,
) -> u32 {
    let count = counts.entry((kind.clone(), name.to_owned())).or_insert(0);
    *count += 1;
    *count
}
