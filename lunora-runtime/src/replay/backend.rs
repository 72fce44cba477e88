//! The step backend replay runs the body on: every step the code asks for is matched, in order,
//! against the history's next forward record and answered from it. No step body, rollback
//! handler or `ctx.run` is ever called; a recorded sleep or event wait resolves as it did, an
//! unfinished one (and any step past the history) parks the branch for good.
//!
//! Matching is by position, not by name: Cloudflare would hand a renamed or reordered step's
//! recorded result to whatever asks for its name and count, which is exactly the silent
//! mix-up replay exists to catch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::report::{Divergence, NextStep, StepCall};
use crate::config::StepConfig;
use crate::duration::DurationInput;
use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::history::{next_count, History, RecordKind, RecordState, StepRecord};
use crate::http::{HttpRequest, HttpResponse, HttpTransport, TransportError};
use crate::status::{Event, Timestamp};
use crate::step::{AttemptFn, RollbackSpec, StepBackend};

/// What the replay found, read once the body has gone as far as the history takes it.
#[derive(Default)]
pub(super) struct ReplayState {
    /// Index into `History::steps` of the next forward record to match.
    pub cursor: usize,
    counts: HashMap<(RecordKind, String), u32>,
    pub divergence: Option<Divergence>,
    /// Branches parked on an unfinished recorded step or on a step past the history.
    pub waiting: Vec<NextStep>,
    /// Rollback handlers the code registered: (history index of the forward step, step).
    pub rollbacks: Vec<(usize, StepCall)>,
    /// The history index of the last record served per step name (for decode failures).
    served: HashMap<String, (usize, StepCall)>,
    pub replayed: usize,
    pub clock: Option<i64>,
    /// Step calls made so far: progress, for the poll loop.
    pub calls: usize,
    /// `ctx.run` paths the body asked to dispatch.
    pub dispatches: Vec<String>,
    /// The first step whose recorded output is redacted: the body cannot go past it.
    pub redacted: Option<NextStep>,
    /// The first stream step that completed: its bytes are not in the history, so the body
    /// cannot go past it.
    pub streamed: Option<NextStep>,
}

pub(super) struct ReplayBackend {
    history: Arc<History>,
    state: Mutex<ReplayState>,
}

/// How a matched call is answered.
enum Answer {
    Output(Json),
    Failure(Error),
    Park,
}

impl ReplayBackend {
    pub fn new(history: Arc<History>) -> Arc<Self> {
        let clock = history.trigger.timestamp;
        Arc::new(Self { history, state: Mutex::new(ReplayState { clock, ..ReplayState::default() }) })
    }

    pub fn state(&self) -> MutexGuard<'_, ReplayState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Allocates the call's count now, as the engines do (so `join!`ed steps count in call order).
    fn allocate(&self, kind: RecordKind, name: &str) -> StepCall {
        let mut st = self.state();
        st.calls += 1;
        let count = next_count(&mut st.counts, &kind, name);
        StepCall { kind, name: name.to_owned(), count }
    }

    /// Matches the call against the next forward record (at first poll, which is when the
    /// engines give a step its place in the timeline).
    fn answer(&self, asked: StepCall, rollback: Option<RollbackSpec>, stream: bool) -> Answer {
        let mut st = self.state();
        if st.divergence.is_some() {
            return Answer::Park;
        }
        let steps = &self.history.steps;
        while st.cursor < steps.len() && !steps[st.cursor].kind.is_forward() {
            st.cursor += 1;
        }
        let Some(record) = steps.get(st.cursor) else {
            let index = steps.len() + 1 + st.waiting.iter().filter(|w| w.recorded.is_none()).count();
            st.waiting.push(NextStep { index, step: asked, recorded: None, wake_at: None, attempts: 0 });
            return Answer::Park;
        };
        let index = st.cursor + 1;
        let recorded = StepCall { kind: record.kind.clone(), name: record.name.clone(), count: record.count };
        if recorded != asked {
            st.divergence = Some(Divergence::StepMismatch { index, recorded, asked });
            return Answer::Park;
        }
        st.cursor += 1;
        if rollback.is_some() {
            st.rollbacks.push((index, asked.clone()));
        }
        st.served.insert(asked.name.clone(), (index, asked.clone()));
        if !record.state.is_final() {
            st.waiting.push(NextStep {
                index,
                step: asked,
                recorded: Some(record.state),
                wake_at: record.wake_at,
                attempts: record.attempts.len(),
            });
            return Answer::Park;
        }
        if stream && record.state == RecordState::Done {
            if st.streamed.is_none() {
                let attempts = record.attempts.len();
                st.streamed =
                    Some(NextStep { index, step: asked, recorded: Some(record.state), wake_at: None, attempts });
            }
            return Answer::Park;
        }
        if record.state == RecordState::Done && record.kind == RecordKind::Do && is_redacted(record) {
            if st.redacted.is_none() {
                let attempts = record.attempts.len();
                st.redacted =
                    Some(NextStep { index, step: asked, recorded: Some(record.state), wake_at: None, attempts });
            }
            return Answer::Park;
        }
        st.replayed += 1;
        if let Some(end) = record.ended_at {
            st.clock = Some(st.clock.map_or(end, |now| now.max(end)));
        }
        answer_of(record)
    }

    /// A recorded event that does not decode: the record, not the code, is at fault.
    fn event_malformed(&self, asked: StepCall, e: serde_json::Error) {
        let mut st = self.state();
        if st.divergence.is_none() {
            let index = st.cursor;
            let error = format!("the recorded event is not {{payload, timestamp, type}}: {e}");
            st.divergence = Some(Divergence::OutputDoesNotDecode { index, step: asked, error });
        }
    }

    async fn serve(&self, asked: StepCall, rollback: Option<RollbackSpec>) -> Result<Json> {
        match self.answer(asked, rollback, false) {
            Answer::Output(json) => Ok(json),
            Answer::Failure(error) => Err(error),
            Answer::Park => std::future::pending().await,
        }
    }
}

/// A sensitive step's output, which neither engine shows: replay cannot answer the step.
fn is_redacted(record: &StepRecord) -> bool {
    record.output.as_ref().and_then(Json::as_str) == Some(crate::history::REDACTED_OUTPUT)
}

fn answer_of(record: &StepRecord) -> Answer {
    match record.state {
        RecordState::Done => Answer::Output(record.output.clone().unwrap_or(Json::Null)),
        _ => Answer::Failure(
            record
                .error
                .clone()
                .unwrap_or_else(|| Error::new(format!("{} failed (the history recorded no error)", record.label()))),
        ),
    }
}

impl StepBackend for ReplayBackend {
    fn do_step<'a>(
        &'a self,
        name: String,
        _config: Option<StepConfig>,
        _attempt: AttemptFn<'a>,
        rollback: Option<RollbackSpec>,
    ) -> BoxFuture<'a, Result<Json>> {
        // The attempt (the step's body) is dropped unused: a replay never runs it.
        let asked = self.allocate(RecordKind::Do, &name);
        Box::pin(self.serve(asked, rollback))
    }

    fn do_stream_step<'a>(
        &'a self,
        name: String,
        _config: Option<StepConfig>,
        _attempt: crate::step::StreamAttemptFn<'a>,
    ) -> BoxFuture<'a, Result<crate::step_bytes::StepBytes>> {
        // A history holds a streamed output's preview, not its bytes: a completed stream step
        // ends the replay there; a failed one rethrows its error as recorded.
        let asked = self.allocate(RecordKind::Do, &name);
        Box::pin(async move {
            match self.answer(asked, None, true) {
                Answer::Failure(error) => Err(error),
                Answer::Output(_) | Answer::Park => std::future::pending().await,
            }
        })
    }

    fn sleep<'a>(&'a self, name: String, _duration: DurationInput) -> BoxFuture<'a, Result<()>> {
        let asked = self.allocate(RecordKind::Sleep, &name);
        Box::pin(async move { self.serve(asked, None).await.map(drop) })
    }

    fn sleep_until<'a>(&'a self, name: String, _at: Timestamp) -> BoxFuture<'a, Result<()>> {
        let asked = self.allocate(RecordKind::Sleep, &name);
        Box::pin(async move { self.serve(asked, None).await.map(drop) })
    }

    fn wait_for_event<'a>(
        &'a self,
        name: String,
        _event_type: String,
        _timeout: Option<DurationInput>,
    ) -> BoxFuture<'a, Result<Event<Json>>> {
        let asked = self.allocate(RecordKind::WaitForEvent, &name);
        Box::pin(async move {
            let event = self.serve(asked.clone(), None).await?;
            match serde_json::from_value(event) {
                Ok(event) => Ok(event),
                // The record, not the code, is at fault: say so rather than fail the body.
                Err(e) => {
                    self.event_malformed(asked, e);
                    std::future::pending().await
                }
            }
        })
    }

    fn value_rejected(&self, name: &str, error: &serde_json::Error) {
        let mut st = self.state();
        if st.divergence.is_some() {
            return;
        }
        if let Some((index, step)) = st.served.get(name).cloned() {
            st.divergence = Some(Divergence::OutputDoesNotDecode { index, step, error: error.to_string() });
        }
    }
}

/// The transport `ctx.run` in a replayed body goes to: it notes the function and never
/// answers, so nothing is sent and the branch stops there.
pub(super) struct NoDispatch(pub Arc<ReplayBackend>);

impl HttpTransport for NoDispatch {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, std::result::Result<HttpResponse, TransportError>> {
        let path = request
            .body
            .as_deref()
            .and_then(|b| serde_json::from_slice::<Json>(b).ok())
            .and_then(|b| b.get("functionPath").and_then(Json::as_str).map(str::to_owned))
            .unwrap_or_else(|| "?".into());
        let mut st = self.0.state();
        st.calls += 1;
        st.dispatches.push(path);
        Box::pin(std::future::pending())
    }
}
