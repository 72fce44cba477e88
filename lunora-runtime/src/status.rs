//! Instance status as `instance.status()` reports it, and the small value types
//! shared by both backends: timestamps, step identities, events, create/restart options.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;

mod json;

/// Milliseconds since the Unix epoch, as both Cloudflare and the journal keep time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.max(0) as u64)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        let ms = t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        Timestamp(ms)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_millis(self.to_system_time()))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An instance's lifecycle state. `complete`, `errored` and `terminated` are terminal.
///
/// Serde uses Cloudflare's spelling; deserialising a string outside it is an error (unlike
/// [`InstanceStatusKind::parse`], which reads it as `Unknown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum InstanceStatusKind {
    Queued,
    Running,
    Paused,
    Errored,
    Terminated,
    Complete,
    Waiting,
    WaitingForPause,
    /// Reported by the REST API while rollback handlers run (the binding says `running`).
    RollingBack,
    Unknown,
}

impl InstanceStatusKind {
    /// Cloudflare's spelling, e.g. `waitingForPause`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Errored => "errored",
            Self::Terminated => "terminated",
            Self::Complete => "complete",
            Self::Waiting => "waiting",
            Self::WaitingForPause => "waitingForPause",
            Self::RollingBack => "rollingBack",
            Self::Unknown => "unknown",
        }
    }

    /// Parses Cloudflare's spelling; anything else is `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "errored" => Self::Errored,
            "terminated" => Self::Terminated,
            "complete" => Self::Complete,
            "waiting" => Self::Waiting,
            "waitingForPause" => Self::WaitingForPause,
            "rollingBack" => Self::RollingBack,
            _ => Self::Unknown,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Errored | Self::Terminated)
    }
}

impl fmt::Display for InstanceStatusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the rollback chain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackOutcome {
    Complete,
    Failed,
}

/// `status().rollback`: present once a rollback chain has run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackState {
    pub outcome: RollbackOutcome,
    pub error: Option<Error>,
}

/// `instance.status()`: `{status, error?, output?, rollback?}`.
///
/// Serialises to (and reads back from) the JSON Cloudflare's Workflow binding returns, so a
/// Worker route can return it as is, like `Response.json(await instance.status())` in JS:
/// `{"status": "<kind>", "error"?: {"name", "message"}, "output"?: <any>, "rollback"?: {"outcome", "error"}}`.
///
/// - `status` is Cloudflare's spelling (`waitingForPause`, …).
/// - `error` is exactly `{name, message}`: the code and HTTP status lunora may attach to an
///   engine-side error stay out, so both backends give the same JSON for the same failure.
/// - `error`, `output` and `rollback` are left out when absent. Reading, a missing field and
///   `null` both mean absent, and fields lunora does not know (such as local dev's
///   `__LOCAL_DEV_STEP_OUTPUTS`) are ignored.
/// - A status string lunora does not know is an error, never a silent `Unknown`: a typo such as
///   `"completed"` would otherwise read as a live instance and keep a client polling.
///   Cloudflare's own `"unknown"` reads as [`InstanceStatusKind::Unknown`].
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceStatus<O> {
    pub status: InstanceStatusKind,
    pub error: Option<Error>,
    pub output: Option<O>,
    pub rollback: Option<RollbackState>,
}

/// A step's identity within one execution: its name and 1-based occurrence count.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepId {
    pub name: String,
    pub count: u32,
}

impl fmt::Display for StepId {
    /// Cloudflare's display name, `"<name>-<count>"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name, self.count)
    }
}

/// What `wait_for_event` returns: `{payload, timestamp, type}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event<T> {
    pub payload: T,
    pub timestamp: Timestamp,
    #[serde(rename = "type")]
    pub event_type: String,
}

/// The cron tick that started an instance (`event.schedule`): the `schedules` entry and the
/// time it was due.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub cron: String,
    #[serde(rename = "scheduledTime")]
    pub scheduled_time: Timestamp,
}

/// Retention of finished instances: how long after it ended a `complete` one
/// (`successRetention`) or an `errored` / `terminated` one (`errorRetention`) is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    #[serde(rename = "successRetention", skip_serializing_if = "Option::is_none")]
    pub success_retention: Option<String>,
    #[serde(rename = "errorRetention", skip_serializing_if = "Option::is_none")]
    pub error_retention: Option<String>,
}

/// `create({id?, params?, retention?})`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateOptions<P> {
    pub id: Option<String>,
    pub params: Option<P>,
    pub retention: Option<Retention>,
}

impl<P> Default for CreateOptions<P> {
    fn default() -> Self {
        Self { id: None, params: None, retention: None }
    }
}

impl<P> CreateOptions<P> {
    /// Options with params and a generated id.
    pub fn params(params: P) -> Self {
        Self { params: Some(params), ..Self::default() }
    }

    /// Sets the instance id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

/// The kind of step a restart target names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StepKind {
    #[serde(rename = "do")]
    Do,
    #[serde(rename = "sleep")]
    Sleep,
    #[serde(rename = "waitForEvent")]
    WaitForEvent,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Do => "do",
            StepKind::Sleep => "sleep",
            StepKind::WaitForEvent => "waitForEvent",
        }
    }
}

/// `restart({from: {name, count = 1, type = do}})`: keep every step started before the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartFrom {
    pub name: String,
    pub count: u32,
    pub kind: StepKind,
}

impl RestartFrom {
    /// The first `do` step with this name.
    pub fn step(name: impl Into<String>) -> Self {
        Self { name: name.into(), count: 1, kind: StepKind::Do }
    }

    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    pub fn kind(mut self, kind: StepKind) -> Self {
        self.kind = kind;
        self
    }
}
