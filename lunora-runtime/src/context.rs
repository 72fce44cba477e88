//! What workflow bodies, step callbacks and rollback handlers receive.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dispatch::{Dispatcher, FunctionRef};
pub use crate::env::Env;
use crate::error::Result;
pub use crate::log::{CaptureSink, Level, LogSink, Logger, StderrSink};
use crate::status::Timestamp;
use crate::step::WorkflowStep;
pub use crate::step::{RollbackContext, StepContext};

/// The triggering event: `{payload, timestamp, instanceId, workflowName, schedule?}`.
#[derive(Clone, Debug)]
pub struct WorkflowEvent {
    /// The raw create params (`{}` when none were given).
    pub payload: serde_json::Value,
    pub timestamp: Timestamp,
    pub instance_id: String,
    pub workflow_name: String,
    /// The cron tick that started the instance, for instances a `schedules` entry started.
    pub schedule: Option<crate::status::Schedule>,
}

/// What a workflow body receives.
pub struct WorkflowContext<P> {
    /// The durable step API: `do_`, `sleep`, `sleep_until`, `wait_for_event`.
    pub step: WorkflowStep,
    /// The decoded create params.
    pub params: P,
    pub event: WorkflowEvent,
    pub env: Env,
    pub log: Logger,
    pub(crate) dispatch: Dispatcher,
    /// Child calls per step name (`ctx.child`), for replay-stable child ids.
    pub(crate) children: ChildCounter,
    /// This workflow's binding name, which a child reports back through on Cloudflare.
    pub(crate) binding: String,
}

impl<P> WorkflowContext<P> {
    pub(crate) fn new(
        step: WorkflowStep,
        params: P,
        event: WorkflowEvent,
        env: Env,
        log: Logger,
        dispatch: Dispatcher,
    ) -> Self {
        Self { step, params, event, env, log, dispatch, children: Default::default(), binding: String::new() }
    }

    /// `ctx.run`: calls a Lunora function in the Worker (ids `…#body.<n>`). Not durable by
    /// itself: wrap it in a step, or call it from a `#[step]` body with `StepContext::run`.
    pub async fn run<A: Serialize, R: DeserializeOwned>(&self, function: &FunctionRef<A, R>, args: A) -> Result<R> {
        self.dispatch.call(function, &args).await
    }
}

/// Counts child calls per step name, so the n-th `child("x", …)` of a body gets the same id on
/// every replay.
#[derive(Default)]
pub(crate) struct ChildCounter(Mutex<BTreeMap<String, u32>>);

impl ChildCounter {
    pub(crate) fn next(&self, name: &str) -> u32 {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(name.to_owned()).or_insert(0);
        *count += 1;
        *count
    }
}

impl<P: fmt::Debug> fmt::Debug for WorkflowContext<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowContext")
            .field("params", &self.params)
            .field("event", &self.event)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}
