//! What responses hold: pages of instances, an instance with its step timeline, status
//! changes and created instances, read leniently from the API's JSON.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::query::ListInstances;
use crate::status::InstanceStatusKind;

/// Parses the timestamps the API returns (`2025-06-01T12:00:00.123Z`, with or without the
/// fraction, `Z` or `T`).
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim().trim_end_matches('Z')).ok()
}
/// One page of `list_instances`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstancePage {
    pub instances: Vec<InstanceSummary>,
    /// `result_info.page`, else the requested page, else 1.
    pub page: u32,
    /// `result_info.per_page`, else the requested size, else the number of instances returned.
    pub per_page: u32,
    /// `result_info.total_count`, when the API reported it.
    pub total_count: Option<u64>,
    /// `result_info.cursor`: pass it as the next request's `cursor`.
    pub cursor: Option<String>,
}

impl InstancePage {
    /// The query for the page after this one, or `None` when this is the last: by cursor when
    /// the request or the response used one, otherwise by page number (using `total_count`
    /// when known, else whether this page came back full).
    pub fn next(&self, query: &ListInstances) -> Option<ListInstances> {
        if query.cursor.is_some() || self.cursor.is_some() {
            let cursor = self.cursor.clone()?;
            return Some(ListInstances { cursor: Some(cursor), page: None, ..query.clone() });
        }
        if self.instances.is_empty() {
            return None;
        }
        let seen = u64::from(self.page) * u64::from(self.per_page);
        let more = match self.total_count {
            Some(total) => seen < total,
            None => self.instances.len() as u64 >= u64::from(self.per_page),
        };
        more.then(|| ListInstances { page: Some(self.page + 1), ..query.clone() })
    }
}

/// One row of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceSummary {
    pub id: String,
    /// Normalised; anything this crate does not know (e.g. `rollingBack`) is `Unknown`.
    pub status: InstanceStatusKind,
    /// Cloudflare's own spelling of the status.
    pub status_text: String,
    pub created_on: Option<String>,
    pub modified_on: Option<String>,
    pub started_on: Option<String>,
    pub ended_on: Option<String>,
    pub version_id: Option<String>,
    pub workflow_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RawSummary {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    created_on: Option<String>,
    #[serde(default)]
    modified_on: Option<String>,
    #[serde(default)]
    started_on: Option<String>,
    #[serde(default)]
    ended_on: Option<String>,
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    workflow_id: Option<String>,
}

impl From<RawSummary> for InstanceSummary {
    fn from(raw: RawSummary) -> Self {
        Self {
            id: raw.id,
            status: InstanceStatusKind::parse(&raw.status),
            status_text: raw.status,
            created_on: raw.created_on,
            modified_on: raw.modified_on,
            started_on: raw.started_on,
            ended_on: raw.ended_on,
            version_id: raw.version_id,
            workflow_id: raw.workflow_id,
        }
    }
}

/// One workflow of the account, from `GET /accounts/<id>/workflows`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSummary {
    /// The deployed workflow name, e.g. `order-pipeline`.
    pub name: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub class_name: Option<String>,
    #[serde(default)]
    pub script_name: Option<String>,
    #[serde(default)]
    pub created_on: Option<String>,
    #[serde(default)]
    pub modified_on: Option<String>,
}

/// An error as the API reports it: `{name, message}` (a bare string is read as the message).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    pub name: Option<String>,
    pub message: String,
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) if !name.is_empty() => write!(f, "{name}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl<'de> Deserialize<'de> for ErrorInfo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::String(message) => ErrorInfo { name: None, message },
            Value::Object(map) => {
                let text = |key: &str| match map.get(key) {
                    Some(Value::String(s)) => Some(s.clone()),
                    None | Some(Value::Null) => None,
                    Some(other) => Some(other.to_string()),
                };
                ErrorInfo { name: text("name"), message: text("message").unwrap_or_default() }
            }
            other => ErrorInfo { name: None, message: other.to_string() },
        })
    }
}

/// What started or terminated an instance: `api`, `binding`, `event`, `cron`, `unknown`…
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    #[serde(default)]
    pub source: String,
}

/// One attempt of a `step` / `rollback` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub error: Option<ErrorInfo>,
}

/// A `step` (a `step.do`) or `rollback` entry of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    /// `None` while running.
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub output: Option<Value>,
    /// `{retries: {limit, delay, backoff}, timeout}` as Cloudflare reports it.
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
}

/// A `sleep` or `waitForEvent` entry of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaitRecord {
    pub name: String,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub finished: Option<bool>,
    #[serde(default)]
    pub error: Option<ErrorInfo>,
    /// The received event, for `waitForEvent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// A `termination` entry of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminationRecord {
    #[serde(default)]
    pub trigger: Option<Trigger>,
}

/// One entry of an instance's step timeline, by its `type`. Entries of an unknown type, or of
/// a known type in an unexpected shape, are kept whole as `Unknown`.
#[derive(Clone, Debug, PartialEq)]
pub enum TimelineStep {
    Step(StepRecord),
    Rollback(StepRecord),
    Sleep(WaitRecord),
    WaitForEvent(WaitRecord),
    Termination(TerminationRecord),
    Unknown(Value),
}

impl TimelineStep {
    fn from_value(value: Value) -> Self {
        fn record<T: DeserializeOwned>(value: &Value, wrap: fn(T) -> TimelineStep) -> Option<TimelineStep> {
            serde_json::from_value(value.clone()).ok().map(wrap)
        }
        let parsed = match value.get("type").and_then(Value::as_str) {
            Some("step") => record(&value, TimelineStep::Step),
            Some("rollback") => record(&value, TimelineStep::Rollback),
            Some("sleep") => record(&value, TimelineStep::Sleep),
            Some("waitForEvent") => record(&value, TimelineStep::WaitForEvent),
            Some("termination") => record(&value, TimelineStep::Termination),
            _ => None,
        };
        parsed.unwrap_or(TimelineStep::Unknown(value))
    }

    /// The entry's `type`: `step`, `rollback`, `sleep`, `waitForEvent`, `termination`, or
    /// whatever an unknown entry says (`unknown` if nothing).
    pub fn kind(&self) -> &str {
        match self {
            TimelineStep::Step(_) => "step",
            TimelineStep::Rollback(_) => "rollback",
            TimelineStep::Sleep(_) => "sleep",
            TimelineStep::WaitForEvent(_) => "waitForEvent",
            TimelineStep::Termination(_) => "termination",
            TimelineStep::Unknown(v) => v.get("type").and_then(Value::as_str).unwrap_or("unknown"),
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => Some(&s.name),
            TimelineStep::Sleep(w) | TimelineStep::WaitForEvent(w) => Some(&w.name),
            TimelineStep::Termination(_) => None,
            TimelineStep::Unknown(v) => v.get("name").and_then(Value::as_str),
        }
    }

    pub fn start(&self) -> Option<&str> {
        match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => s.start.as_deref(),
            TimelineStep::Sleep(w) | TimelineStep::WaitForEvent(w) => w.start.as_deref(),
            TimelineStep::Termination(_) => None,
            TimelineStep::Unknown(v) => v.get("start").and_then(Value::as_str),
        }
    }

    pub fn end(&self) -> Option<&str> {
        match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => s.end.as_deref(),
            TimelineStep::Sleep(w) | TimelineStep::WaitForEvent(w) => w.end.as_deref(),
            TimelineStep::Termination(_) => None,
            TimelineStep::Unknown(v) => v.get("end").and_then(Value::as_str),
        }
    }

    /// `end - start`, when both are present and parse.
    pub fn duration(&self) -> Option<Duration> {
        let start = parse_timestamp(self.start()?)?;
        let end = parse_timestamp(self.end()?)?;
        end.duration_since(start).ok()
    }

    /// The attempts of a `step` / `rollback` entry (empty for the others).
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => &s.attempts,
            _ => &[],
        }
    }
}

impl<'de> Deserialize<'de> for TimelineStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(TimelineStep::from_value(Value::deserialize(deserializer)?))
    }
}

impl Serialize for TimelineStep {
    /// The API's own shape: the record's fields plus `type`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let record = match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => serde_json::to_value(s),
            TimelineStep::Sleep(w) | TimelineStep::WaitForEvent(w) => serde_json::to_value(w),
            TimelineStep::Termination(t) => serde_json::to_value(t),
            TimelineStep::Unknown(v) => return v.serialize(serializer),
        };
        let mut value = record.map_err(S::Error::custom)?;
        if let Value::Object(map) = &mut value {
            map.insert("type".into(), self.kind().into());
        }
        value.serialize(serializer)
    }
}

/// `get_instance`: the instance and its step timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceDetail {
    /// The id asked for (the API does not repeat it).
    pub id: String,
    pub status: InstanceStatusKind,
    pub status_text: String,
    pub params: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<ErrorInfo>,
    /// The rollback chain's state, as reported.
    pub rollback: Option<Value>,
    pub trigger: Option<Trigger>,
    pub version_id: Option<String>,
    pub queued: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub success: Option<bool>,
    pub step_count: Option<u64>,
    pub steps: Vec<TimelineStep>,
}

#[derive(Deserialize)]
pub(super) struct RawDetail {
    #[serde(default)]
    status: String,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<ErrorInfo>,
    #[serde(default)]
    rollback: Option<Value>,
    #[serde(default)]
    trigger: Option<Trigger>,
    #[serde(default, rename = "versionId", alias = "version_id")]
    version_id: Option<String>,
    #[serde(default)]
    queued: Option<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    step_count: Option<u64>,
    #[serde(default)]
    steps: Option<Vec<TimelineStep>>,
}

impl RawDetail {
    pub(super) fn into_detail(self, id: &str) -> InstanceDetail {
        InstanceDetail {
            id: id.to_owned(),
            status: InstanceStatusKind::parse(&self.status),
            status_text: self.status,
            params: self.params,
            output: self.output,
            error: self.error,
            rollback: self.rollback,
            trigger: self.trigger,
            version_id: self.version_id,
            queued: self.queued,
            start: self.start,
            end: self.end,
            success: self.success,
            step_count: self.step_count,
            steps: self.steps.unwrap_or_default(),
        }
    }
}

/// `set_instance_status`: the status after the change and when it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub status: InstanceStatusKind,
    pub status_text: String,
    pub timestamp: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RawStatusChange {
    #[serde(default)]
    pub(super) status: String,
    #[serde(default)]
    pub(super) timestamp: Option<String>,
}

/// `create_instance`: the new instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreatedInstance {
    pub id: String,
    pub status: InstanceStatusKind,
    pub status_text: String,
    pub version_id: Option<String>,
    pub workflow_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RawCreated {
    pub(super) id: String,
    #[serde(default)]
    pub(super) status: String,
    #[serde(default)]
    pub(super) version_id: Option<String>,
    #[serde(default)]
    pub(super) workflow_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_with_and_without_fraction() {
        let a = parse_timestamp("2025-06-01T12:00:00Z").unwrap();
        let b = parse_timestamp("2025-06-01T12:00:01.250Z").unwrap();
        assert_eq!(b.duration_since(a).unwrap(), Duration::from_millis(1250));
        assert!(parse_timestamp("yesterday").is_none());
    }
}
