//! `instance.subscribe({filter, cursor})`: an instance's events as a [`Stream`], on every
//! backend.
//!
//! A subscription first yields the instance's whole event history, then waits for new events,
//! and ends after the instance's terminal event (`workflow_completed`, `workflow_errored` or
//! `workflow_terminated`), also when the filter leaves that event out. Every event carries the
//! instance id, an `eventId` that strictly increases along the instance's history, and a
//! timestamp (epoch ms). The JSON shape is the one Cloudflare's Workflow binding hands out
//! (`{"instanceId", "eventId", "timestamp", "type", …}`), so [`InstanceEvent`] decodes the
//! binding's events, the REST stream's and the embedded engine's alike.
//!
//! [`SubscribeOptions::cursor`] resumes after an event id: a consumer that keeps the last id it
//! handled can reconnect (after a dropped connection, a restart) without seeing an event twice.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use serde::{Deserialize, Deserializer, Serialize};

use crate::erased::Json;
use crate::error::{Error, Result};
use crate::maybe_send::MaybeSend;

/// One event of an instance's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceEvent {
    pub instance_id: String,
    /// Strictly increasing along the instance's history; pass it as [`SubscribeOptions::cursor`]
    /// to resume after this event.
    pub event_id: u64,
    /// When it happened, epoch ms.
    pub timestamp: i64,
    #[serde(flatten)]
    pub kind: InstanceEventKind,
}

impl InstanceEvent {
    /// Whether this event ends the instance (and its subscriptions).
    pub fn is_terminal(&self) -> bool {
        self.kind.is_terminal()
    }
}

/// What happened, with the fields of each event type (Cloudflare's names: `type` is the
/// snake_case variant name, fields are camelCase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum InstanceEventKind {
    WorkflowQueued,
    WorkflowStarted {
        #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
        params: Option<Json>,
    },
    WorkflowRunning,
    WorkflowPaused,
    WorkflowWaitingForPause,
    WorkflowWaiting,
    WorkflowCompleted {
        #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
        output: Option<Json>,
    },
    WorkflowErrored {
        error: EventError,
    },
    WorkflowTerminated,
    StepStarted {
        step_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<EventStepConfig>,
    },
    StepCompleted {
        step_name: String,
        /// The step's output; `"[REDACTED]"` for a step whose config marks its output sensitive.
        #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
        output: Option<Json>,
    },
    StepErrored {
        step_name: String,
    },
    AttemptStarted {
        step_name: String,
        attempt: u32,
    },
    AttemptCompleted {
        step_name: String,
        attempt: u32,
    },
    AttemptErrored {
        step_name: String,
        attempt: u32,
        error: EventError,
        /// The delay before the next attempt, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_delay_ms: Option<u64>,
    },
    SleepStarted {
        step_name: String,
        duration_ms: u64,
    },
    SleepCompleted {
        step_name: String,
    },
    WaitStarted {
        step_name: String,
        event_type: String,
    },
    WaitCompleted {
        step_name: String,
    },
    WaitTimedOut {
        step_name: String,
    },
    RollbackStarted,
    RollbackStepStarted {
        step_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<EventStepConfig>,
    },
    RollbackStepCompleted {
        step_name: String,
    },
    RollbackStepErrored {
        step_name: String,
        error: EventError,
    },
    RollbackAttemptStarted {
        step_name: String,
        attempt: u32,
    },
    RollbackAttemptCompleted {
        step_name: String,
        attempt: u32,
    },
    RollbackAttemptErrored {
        step_name: String,
        attempt: u32,
        error: EventError,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_delay_ms: Option<u64>,
    },
    RollbackCompleted,
    RollbackErrored,
}

/// The names of every event type, as `filter` takes them.
pub const EVENT_TYPES: &[&str] = &[
    "workflow_queued",
    "workflow_started",
    "workflow_running",
    "workflow_paused",
    "workflow_waiting_for_pause",
    "workflow_waiting",
    "workflow_completed",
    "workflow_errored",
    "workflow_terminated",
    "step_started",
    "step_completed",
    "step_errored",
    "attempt_started",
    "attempt_completed",
    "attempt_errored",
    "sleep_started",
    "sleep_completed",
    "wait_started",
    "wait_completed",
    "wait_timed_out",
    "rollback_started",
    "rollback_step_started",
    "rollback_step_completed",
    "rollback_step_errored",
    "rollback_attempt_started",
    "rollback_attempt_completed",
    "rollback_attempt_errored",
    "rollback_completed",
    "rollback_errored",
];

impl InstanceEventKind {
    /// The event's `type`, e.g. `"step_completed"`.
    pub fn type_name(&self) -> &'static str {
        use InstanceEventKind::*;
        match self {
            WorkflowQueued => "workflow_queued",
            WorkflowStarted { .. } => "workflow_started",
            WorkflowRunning => "workflow_running",
            WorkflowPaused => "workflow_paused",
            WorkflowWaitingForPause => "workflow_waiting_for_pause",
            WorkflowWaiting => "workflow_waiting",
            WorkflowCompleted { .. } => "workflow_completed",
            WorkflowErrored { .. } => "workflow_errored",
            WorkflowTerminated => "workflow_terminated",
            StepStarted { .. } => "step_started",
            StepCompleted { .. } => "step_completed",
            StepErrored { .. } => "step_errored",
            AttemptStarted { .. } => "attempt_started",
            AttemptCompleted { .. } => "attempt_completed",
            AttemptErrored { .. } => "attempt_errored",
            SleepStarted { .. } => "sleep_started",
            SleepCompleted { .. } => "sleep_completed",
            WaitStarted { .. } => "wait_started",
            WaitCompleted { .. } => "wait_completed",
            WaitTimedOut { .. } => "wait_timed_out",
            RollbackStarted => "rollback_started",
            RollbackStepStarted { .. } => "rollback_step_started",
            RollbackStepCompleted { .. } => "rollback_step_completed",
            RollbackStepErrored { .. } => "rollback_step_errored",
            RollbackAttemptStarted { .. } => "rollback_attempt_started",
            RollbackAttemptCompleted { .. } => "rollback_attempt_completed",
            RollbackAttemptErrored { .. } => "rollback_attempt_errored",
            RollbackCompleted => "rollback_completed",
            RollbackErrored => "rollback_errored",
        }
    }

    /// The step (`name-count`) the event is about, for step, attempt, sleep, wait and rollback
    /// step events.
    pub fn step_name(&self) -> Option<&str> {
        use InstanceEventKind::*;
        match self {
            StepStarted { step_name, .. }
            | StepCompleted { step_name, .. }
            | StepErrored { step_name }
            | AttemptStarted { step_name, .. }
            | AttemptCompleted { step_name, .. }
            | AttemptErrored { step_name, .. }
            | SleepStarted { step_name, .. }
            | SleepCompleted { step_name }
            | WaitStarted { step_name, .. }
            | WaitCompleted { step_name }
            | WaitTimedOut { step_name }
            | RollbackStepStarted { step_name, .. }
            | RollbackStepCompleted { step_name }
            | RollbackStepErrored { step_name, .. }
            | RollbackAttemptStarted { step_name, .. }
            | RollbackAttemptCompleted { step_name, .. }
            | RollbackAttemptErrored { step_name, .. } => Some(step_name),
            _ => None,
        }
    }

    /// `workflow_completed`, `workflow_errored` or `workflow_terminated`.
    pub fn is_terminal(&self) -> bool {
        is_terminal_type(self.type_name())
    }
}

pub(crate) fn is_terminal_type(name: &str) -> bool {
    matches!(name, "workflow_completed" | "workflow_errored" | "workflow_terminated")
}

/// An error as events carry it: `{name, message}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventError {
    pub name: String,
    pub message: String,
}

impl From<&Error> for EventError {
    fn from(e: &Error) -> Self {
        Self { name: e.name().to_owned(), message: e.message().to_owned() }
    }
}

/// The config a step ran with, as `step_started` reports it (Cloudflare's resolved config:
/// durations are milliseconds or duration strings, a delay function shows as `"[dynamic]"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventStepConfig {
    pub retries: EventRetries,
    pub timeout: Json,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<String>,
}

/// `config.retries` of [`EventStepConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRetries {
    /// A number (JS `Infinity` arrives as `null` through JSON).
    pub limit: Json,
    pub delay: Json,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<String>,
}

impl From<&crate::config::ResolvedStepConfig> for EventStepConfig {
    fn from(c: &crate::config::ResolvedStepConfig) -> Self {
        let backoff = serde_json::to_value(c.retries.backoff).ok().and_then(|v| v.as_str().map(str::to_owned));
        Self {
            retries: EventRetries {
                limit: Json::from(c.retries.limit),
                delay: if c.retries.dynamic_delay { Json::from("[dynamic]") } else { Json::from(c.retries.delay_ms) },
                backoff,
            },
            timeout: Json::from(c.timeout_ms),
            sensitive: c.sensitive.map(|_| "output".to_owned()),
        }
    }
}

/// A field that is there, even as `null`: `Some(Json::Null)` (an absent one is `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

/// What `subscribe` takes: which event types to receive and where to resume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeOptions {
    /// Only these event types (names of [`EVENT_TYPES`]); every type when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Vec<String>>,
    /// Start after the event with this id (the last one a consumer handled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
}

impl SubscribeOptions {
    /// Every event from the start of the history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes after the event with id `event_id`.
    pub fn cursor(mut self, event_id: u64) -> Self {
        self.cursor = Some(event_id);
        self
    }

    /// Receives only these event types.
    pub fn filter<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.filter = Some(types.into_iter().map(Into::into).collect());
        self
    }

    /// Refuses unknown event type names, with the message Cloudflare's binding gives
    /// ("Invalid Workflow subscription options") and what was wrong.
    pub fn validate(&self) -> Result<()> {
        for name in self.filter.iter().flatten() {
            if !EVENT_TYPES.contains(&name.as_str()) {
                return Err(Error::new(format!(
                    "Invalid Workflow subscription options: filter names an unknown event type {name:?}; \
                     the types are {}",
                    EVENT_TYPES.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Whether an event of type `name` passes the filter.
    pub fn admits(&self, name: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| f.iter().any(|t| t == name))
    }
}

/// The boxed stream a backend hands out.
#[cfg(not(target_arch = "wasm32"))]
pub type EventStream = Pin<Box<dyn Stream<Item = Result<InstanceEvent>> + Send>>;
/// The boxed stream a backend hands out.
#[cfg(target_arch = "wasm32")]
pub type EventStream = Pin<Box<dyn Stream<Item = Result<InstanceEvent>>>>;

/// A backend's stream of events as JSON, decoded by the [`Subscription`] as they are read.
#[cfg(not(target_arch = "wasm32"))]
pub type JsonEventStream = Pin<Box<dyn Stream<Item = Result<Json>> + Send>>;
/// A backend's stream of events as JSON, decoded by the [`Subscription`] as they are read.
#[cfg(target_arch = "wasm32")]
pub type JsonEventStream = Pin<Box<dyn Stream<Item = Result<Json>>>>;

/// An instance's events: a [`Stream`] of `Result<InstanceEvent>` that ends after the terminal
/// event (or at the first error). Dropping it ends the subscription (and releases what the
/// backend holds for it).
pub struct Subscription {
    /// `None` once ended: the backend's stream is dropped as soon as the end is known.
    inner: Option<Source>,
}

/// Where a subscription's events come from.
enum Source {
    Events(EventStream),
    /// Decoded here, when read: a backend reached through a trait object (the Worker's
    /// binding) is linked whole into every Worker, and decoding workerd's 29 event types is
    /// ~24 KiB of gzipped wasm that only a Worker that reads a subscription should carry.
    Json(JsonEventStream),
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("ended", &self.inner.is_none()).finish()
    }
}

impl Subscription {
    /// Wraps a backend's stream: the subscription ends after a terminal event or an error,
    /// whatever the backend's stream would do next.
    pub fn new(inner: impl Stream<Item = Result<InstanceEvent>> + MaybeSend + 'static) -> Self {
        Self { inner: Some(Source::Events(Box::pin(inner))) }
    }

    /// Wraps a backend's stream of events as JSON (workerd's shape), decoded as they are read;
    /// one that does not decode is an error that ends the subscription.
    pub fn from_json(inner: impl Stream<Item = Result<Json>> + MaybeSend + 'static) -> Self {
        Self { inner: Some(Source::Json(Box::pin(inner))) }
    }

    /// The next event, `None` once the subscription has ended (an `async` shorthand for
    /// `StreamExt::next`).
    pub async fn next(&mut self) -> Option<Result<InstanceEvent>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for Subscription {
    type Item = Result<InstanceEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = match self.inner.as_mut() {
            None => return Poll::Ready(None),
            Some(Source::Events(inner)) => inner.as_mut().poll_next(cx),
            Some(Source::Json(inner)) => {
                inner.as_mut().poll_next(cx).map(|item| item.map(|r| r.and_then(decode_event)))
            }
        };
        let ends = match &polled {
            Poll::Ready(Some(Ok(event))) => event.is_terminal(),
            Poll::Ready(Some(Err(_)) | None) => true,
            Poll::Pending => false,
        };
        if ends {
            self.inner = None;
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Some(_) => (0, None),
            None => (0, Some(0)),
        }
    }
}

/// One event as workerd's JSON, or why lunora cannot read it (the start of it shown).
fn decode_event(json: Json) -> Result<InstanceEvent> {
    serde_json::from_value(json.clone()).map_err(|e| {
        let shown: String = json.to_string().chars().take(200).collect();
        Error::internal(format!("the subscription gave an event lunora cannot read ({e}): {shown}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashSet;

    #[test]
    fn decodes_the_bindings_json_and_writes_it_back() {
        let cases = [
            json!({"instanceId": "i", "eventId": 3, "timestamp": 5, "type": "step_completed", "stepName": "a-1", "output": null}),
            json!({"instanceId": "i", "eventId": 4, "timestamp": 5, "type": "attempt_errored", "stepName": "a-1",
                   "attempt": 1, "error": {"name": "Error", "message": "no"}, "retryDelayMs": 1000}),
            json!({"instanceId": "i", "eventId": 5, "timestamp": 5, "type": "workflow_waiting_for_pause"}),
            json!({"instanceId": "i", "eventId": 6, "timestamp": 5, "type": "step_started", "stepName": "a-1",
                   "config": {"retries": {"limit": 5, "delay": "[dynamic]", "backoff": "exponential"}, "timeout": "10 minutes"}}),
        ];
        for case in cases {
            let event: InstanceEvent = serde_json::from_value(case.clone()).unwrap();
            assert_eq!(serde_json::to_value(&event).unwrap(), case);
            assert_eq!(event.kind.type_name(), case["type"]);
        }
        let event: InstanceEvent = serde_json::from_value(
            json!({"instanceId": "i", "eventId": 3, "timestamp": 5, "type": "step_completed", "stepName": "a-1"}),
        )
        .unwrap();
        assert_eq!(event.kind, InstanceEventKind::StepCompleted { step_name: "a-1".into(), output: None });
    }

    #[test]
    fn every_type_name_is_listed_once() {
        let set: HashSet<&str> = EVENT_TYPES.iter().copied().collect();
        assert_eq!(set.len(), EVENT_TYPES.len());
        let unknown = SubscribeOptions::new().filter(["step_completed", "step_done"]).validate().unwrap_err();
        assert!(unknown.message().contains("Invalid Workflow subscription options"), "{unknown}");
        assert!(unknown.message().contains("\"step_done\""), "{unknown}");
        SubscribeOptions::new().filter(EVENT_TYPES.iter().copied()).validate().unwrap();
    }

    #[tokio::test]
    async fn json_events_are_decoded_when_read_and_one_that_does_not_decode_ends_the_stream() {
        let items = vec![
            Ok(json!({"instanceId": "i", "eventId": 1, "timestamp": 5, "type": "workflow_queued"})),
            Ok(json!({"instanceId": "i", "eventId": 2, "timestamp": 5, "type": "step_done"})),
            Ok(json!({"instanceId": "i", "eventId": 3, "timestamp": 5, "type": "workflow_running"})),
        ];
        let mut sub = Subscription::from_json(futures_util::stream::iter(items));
        let first = sub.next().await.unwrap().unwrap();
        assert_eq!((first.event_id, first.kind.type_name()), (1, "workflow_queued"));
        let err = sub.next().await.unwrap().unwrap_err();
        assert!(err.message().contains("the subscription gave an event lunora cannot read"), "{err}");
        assert!(err.message().contains("step_done"), "shows the event: {err}");
        assert!(sub.next().await.is_none(), "nothing after the error");

        let ending = vec![
            Ok(json!({"instanceId": "i", "eventId": 7, "timestamp": 5, "type": "workflow_terminated"})),
            Ok(json!({"instanceId": "i", "eventId": 8, "timestamp": 5, "type": "workflow_queued"})),
        ];
        let mut sub = Subscription::from_json(futures_util::stream::iter(ending));
        assert_eq!(sub.next().await.unwrap().unwrap().event_id, 7);
        assert!(sub.next().await.is_none(), "a terminal event ends it");
    }

    #[test]
    fn an_unknown_type_is_a_decoding_error_not_a_silent_skip() {
        let r = serde_json::from_value::<InstanceEvent>(
            json!({"instanceId": "i", "eventId": 3, "timestamp": 5, "type": "internal"}),
        );
        assert!(r.is_err());
    }
}
