//! The rows of a journal's steps, as the journal reads and writes them (apart from the journal
//! so that what derives from rows, like the event log, can use them without the journal).

use serde::{Deserialize, Serialize};

use crate::config::ResolvedStepConfig;
use crate::erased::Json;
use crate::error::Error;
use crate::status::StepKind;

/// The error for a journal value that cannot be what lunora wrote.
pub(crate) fn corrupt(msg: String) -> rusqlite::Error {
    // This variant displays just the message.
    rusqlite::Error::ToSqlConversionFailure(msg.into())
}

/// A persisted step: `do`, `sleep`, `waitForEvent` or a rollback of a `do`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRow {
    pub kind: RowKind,
    pub name: String,
    pub count: u32,
    pub seq: i64,
    pub state: StepState,
    pub attempts: u32,
    pub output: Option<Json>,
    pub error: Option<Error>,
    pub config: Option<ResolvedStepConfig>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub wake_at: Option<i64>,
    pub attempt_log: Vec<AttemptRecord>,
}

/// The kind column: a forward step kind, or the rollback of a `do` step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKind {
    Do,
    Sleep,
    WaitForEvent,
    Rollback,
}

impl RowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RowKind::Do => "do",
            RowKind::Sleep => "sleep",
            RowKind::WaitForEvent => "waitForEvent",
            RowKind::Rollback => "rollback",
        }
    }

    pub(crate) fn parse(s: &str) -> rusqlite::Result<Self> {
        Ok(match s {
            "do" => RowKind::Do,
            "sleep" => RowKind::Sleep,
            "waitForEvent" => RowKind::WaitForEvent,
            "rollback" => RowKind::Rollback,
            other => return Err(corrupt(format!("unknown step kind {other:?}"))),
        })
    }
}

impl From<StepKind> for RowKind {
    fn from(k: StepKind) -> Self {
        match k {
            StepKind::Do => RowKind::Do,
            StepKind::Sleep => RowKind::Sleep,
            StepKind::WaitForEvent => RowKind::WaitForEvent,
        }
    }
}

/// Where a step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    /// An attempt started (or, after a crash, was interrupted).
    Running,
    /// Waiting for a timer: a sleep, an event (with its timeout) or the next retry.
    Waiting,
    /// Finished with an output.
    Done,
    /// Finished with its final error (memoised: a replay rethrows it).
    Failed,
}

impl StepState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StepState::Running => "running",
            StepState::Waiting => "waiting",
            StepState::Done => "done",
            StepState::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> rusqlite::Result<Self> {
        Ok(match s {
            "running" => StepState::Running,
            "waiting" => StepState::Waiting,
            "done" => StepState::Done,
            "failed" => StepState::Failed,
            other => return Err(corrupt(format!("unknown step state {other:?}"))),
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, StepState::Done | StepState::Failed)
    }
}

/// One attempt of a `do` step or rollback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub start: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    pub success: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}
