//! [`Replayer`]: the registered workflows, one replay's run of a body, and its conclusion.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::backend::{NoDispatch, ReplayBackend};
use super::report::{self, Continuation, Divergence, ReplayReport, StepCall};
use crate::clock::Clock;
use crate::context::{WorkflowContext, WorkflowEvent};
use crate::dispatch::Dispatcher;
use crate::env::Env;
use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::history::{History, RecordKind, RecordState};
use crate::log::{CaptureSink, Logger};
use crate::status::Timestamp;
use crate::step::WorkflowStep;
use crate::workflow::{decode_params, Workflow};

/// How often the body is polled at most: each poll must make progress (a new step call), so
/// this only bounds a body that keeps asking for steps no history holds.
const MAX_POLLS: usize = 100_000;

/// Starts a workflow's body on a step backend, its types erased.
type Start =
    fn(&Json, WorkflowStep, WorkflowEvent, Env, Logger, Dispatcher) -> Result<BoxFuture<'static, Result<Json>>, String>;

fn start<W: Workflow>(
    params: &Json,
    step: WorkflowStep,
    event: WorkflowEvent,
    env: Env,
    log: Logger,
    dispatch: Dispatcher,
) -> Result<BoxFuture<'static, Result<Json>>, String> {
    let (params, parent) = crate::child::split_params(params);
    let params: W::Params = decode_params(&params).map_err(|e| e.to_string())?;
    let ctx = WorkflowContext::new(step, params, event, env, log, dispatch);
    Ok(Box::pin(async move {
        let output = crate::child::run_body::<W>(ctx, parent).await?;
        serde_json::to_value(output)
            .map_err(|e| Error::fatal(format!("the workflow's output cannot be serialised: {e}")))
    }))
}

/// Replays histories against registered workflows (by deployed name, as histories name them).
#[derive(Clone, Default)]
pub struct Replayer {
    workflows: BTreeMap<&'static str, (&'static str, Start)>,
    env: Env,
}

impl crate::local::Registrar for Replayer {
    fn register<W: Workflow>(self) -> Self {
        Replayer::register::<W>(self)
    }
}

/// The variables `ctx.run` needs before it reaches the transport, which in a replay never
/// sends: without them a `ctx.run` in the body would fail instead of stopping there.
const DISPATCH_VARS: [(&str, &str); 2] =
    [("LUNORA_ORIGIN_URL", "http://replay.invalid"), ("LUNORA_ADMIN_TOKEN", "replay-never-dispatches")];

impl Replayer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a workflow; `register_all` of the generated registry adds them all.
    pub fn register<W: Workflow>(mut self) -> Self {
        self.workflows.insert(W::NAME, (W::EXPORT_NAME, start::<W>));
        self
    }

    /// The environment bodies see as `ctx.env` (only what the body reads outside steps matters:
    /// step bodies never run).
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Replays one history against its workflow. Fails only when the workflow is not registered.
    pub fn replay(&self, history: &History) -> Result<ReplayReport> {
        let Some((export, start)) = self.workflows.get(history.workflow.as_str()) else {
            let known: Vec<&str> = self.workflows.keys().copied().collect();
            return Err(Error::new(format!(
                "the history of instance {:?} is of workflow {:?}, which is not registered (registered: {})",
                history.instance_id,
                history.workflow,
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            )));
        };
        Ok(self.run(*start, export, Arc::new(history.clone())))
    }

    fn run(&self, start: Start, export: &str, history: Arc<History>) -> ReplayReport {
        let backend = ReplayBackend::new(history.clone());
        let mut env = self.env.clone();
        for (name, value) in DISPATCH_VARS {
            if env.var(name).is_none() {
                env = env.with_var(name, value);
            }
        }
        let now = history.trigger.timestamp.unwrap_or(0);
        let dispatch = Dispatcher::for_body(
            Some(Arc::new(NoDispatch(backend.clone()))),
            Arc::new(Frozen(now)),
            env.clone(),
            export,
            &history.instance_id,
        );
        let event = WorkflowEvent {
            payload: history.params.clone(),
            timestamp: Timestamp(now),
            instance_id: history.instance_id.clone(),
            workflow_name: history.workflow.clone(),
            schedule: None,
        };
        let log = Logger::new(export, Arc::new(CaptureSink::default()));
        let report = |outcome, backend: &ReplayBackend| {
            let st = backend.state();
            ReplayReport {
                workflow: history.workflow.clone(),
                instance_id: history.instance_id.clone(),
                status: history.status.clone(),
                file: None,
                outcome,
                steps_replayed: st.replayed,
                virtual_time: st.clock,
            }
        };
        let body = match start(&history.params, WorkflowStep::new(backend.clone()), event, env, log, dispatch) {
            Ok(body) => body,
            Err(error) => return report(Err(Divergence::ParamsDoNotDecode { error }), &backend),
        };
        let result = drive(body, &backend);
        let outcome = conclude(&history, &backend, result);
        report(outcome, &backend)
    }
}

/// Replays `history` against `W` alone.
pub fn replay<W: Workflow>(history: &History) -> Result<ReplayReport> {
    Replayer::new().register::<W>().replay(history)
}

/// The replay's clock as `ctx.run`'s dispatcher sees it: stopped, and its timers never fire.
struct Frozen(i64);

impl Clock for Frozen {
    fn now(&self) -> i64 {
        self.0
    }

    fn sleep_until(&self, _at: i64) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
}

/// Polls the body until it returns or stops making progress (every branch parked); `None`
/// when it is still pending. A panic is the body failing, as on the engine.
fn drive(mut body: BoxFuture<'static, Result<Json>>, backend: &ReplayBackend) -> Option<Result<Json>> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut seen = usize::MAX;
    for _ in 0..MAX_POLLS {
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body.as_mut().poll(&mut cx)));
        match polled {
            Ok(Poll::Ready(result)) => return Some(result),
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string payload".to_owned());
                return Some(Err(Error::new(format!("panicked: {what}"))));
            }
            Ok(Poll::Pending) => {}
        }
        let calls = backend.state().calls;
        if calls == seen {
            break;
        }
        seen = calls;
    }
    None
}

/// Reads the backend's findings once the body went as far as it goes. (Called once per replay:
/// the size of the divergence it returns costs nothing worth boxing it for.)
#[allow(clippy::result_large_err)]
fn conclude(
    history: &History,
    backend: &ReplayBackend,
    result: Option<Result<Json>>,
) -> Result<Continuation, Divergence> {
    let st = backend.state();
    if let Some(divergence) = st.divergence.clone() {
        return Err(divergence);
    }
    if let Some(step) = st.redacted.clone() {
        return Ok(Continuation::Redacted(step));
    }
    if let Some(step) = st.streamed.clone() {
        return Ok(Continuation::Streamed(step));
    }
    let mut waiting = st.waiting.clone();
    waiting.sort_by_key(|w| w.index);
    let unmatched: Vec<usize> =
        (st.cursor..history.steps.len()).filter(|i| history.steps[*i].kind.is_forward()).collect();
    let ended = match &result {
        None => report::Ended::Waits(waiting.iter().map(|w| w.step.clone()).collect()),
        Some(Ok(_)) => report::Ended::Completed,
        Some(Err(e)) => report::Ended::Failed(e.clone()),
    };
    if let Some(&first) = unmatched.first() {
        if result.is_none() {
            if let Some(path) = st.dispatches.first() {
                return Ok(Continuation::Dispatches(path.clone()));
            }
        }
        let record = &history.steps[first];
        return Err(Divergence::CodeEndedEarly {
            index: first + 1,
            recorded: StepCall { kind: record.kind.clone(), name: record.name.clone(), count: record.count },
            remaining: unmatched.len(),
            ended,
        });
    }
    let recorded_rollbacks: Vec<(usize, StepCall, RecordState)> = history
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == RecordKind::Rollback)
        .map(|(i, s)| (i + 1, StepCall { kind: s.kind.clone(), name: s.name.clone(), count: s.count }, s.state))
        .collect();
    let error = match result {
        None => {
            return match st.dispatches.first() {
                Some(path) if waiting.is_empty() => Ok(Continuation::Dispatches(path.clone())),
                _ => Ok(Continuation::Steps(waiting)),
            };
        }
        Some(Ok(output)) => {
            if let Some((index, recorded, _)) = recorded_rollbacks.first() {
                return Err(Divergence::RollbackMismatch { index: *index, recorded: recorded.clone(), expected: None });
            }
            if history.status == "errored" {
                return Err(Divergence::OutcomeDiffers { recorded_status: history.status.clone(), ended });
            }
            return Ok(Continuation::Completes(output));
        }
        Some(Err(error)) => error,
    };
    if history.status == "complete" {
        return Err(Divergence::OutcomeDiffers { recorded_status: history.status.clone(), ended });
    }
    // Rollbacks run in reverse order of their forward steps' places in the timeline.
    let mut expected: Vec<(usize, StepCall)> = st.rollbacks.clone();
    expected.sort_by_key(|(index, _)| std::cmp::Reverse(*index));
    for (i, (_, step)) in expected.iter().enumerate() {
        let Some((index, recorded, state)) = recorded_rollbacks.get(i) else {
            // An instance that ended runs nothing more (and a REST timeline may omit rollbacks).
            let ended = matches!(history.status.as_str(), "errored" | "terminated");
            return Ok(Continuation::Fails { error, next_rollback: (!ended).then(|| step.clone()) });
        };
        if recorded.name != step.name || recorded.count != step.count {
            let (index, recorded) = (*index, recorded.clone());
            return Err(Divergence::RollbackMismatch { index, recorded, expected: Some(step.clone()) });
        }
        match state {
            RecordState::Done => {}
            // The chain stopped at a handler that exhausted its retries.
            RecordState::Failed => {
                if let Some((index, recorded, _)) = recorded_rollbacks.get(i + 1) {
                    let (index, recorded) = (*index, recorded.clone());
                    return Err(Divergence::RollbackMismatch { index, recorded, expected: None });
                }
                return Ok(Continuation::Fails { error, next_rollback: None });
            }
            RecordState::Waiting | RecordState::Running => {
                return Ok(Continuation::Fails { error, next_rollback: Some(step.clone()) });
            }
        }
    }
    if let Some((index, recorded, _)) = recorded_rollbacks.get(expected.len()) {
        return Err(Divergence::RollbackMismatch { index: *index, recorded: recorded.clone(), expected: None });
    }
    Ok(Continuation::Fails { error, next_rollback: None })
}
