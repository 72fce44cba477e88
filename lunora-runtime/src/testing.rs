//! A harness for `cargo test`: the embedded engine on a virtual clock, with vitest-pool-workers'
//! introspection (mock step results and errors, forced timeouts, mocked events, disabled sleeps
//! and retry delays) and waits for statuses and step results.
//!
//! ```no_run
//! # use lunora_runtime::{testing::TestEngine, *};
//! # struct OrderPipeline;
//! # impl Workflow for OrderPipeline {
//! #     type Params = (); type Output = ();
//! #     const NAME: &'static str = "order-pipeline"; const EXPORT_NAME: &'static str = "orderPipeline";
//! #     async fn run(ctx: WorkflowContext<()>) -> Result<()> { ctx.step.sleep("nap", "30 days").await }
//! # }
//! # async fn t() -> Result<()> {
//! let t = TestEngine::builder().register::<OrderPipeline>().open().await?;
//! let instance = t.workflow::<OrderPipeline>().create(CreateOptions::default()).await?;
//! let status = t.run_to_completion(&instance).await?; // skips the 30 days on the virtual clock
//! assert_eq!(status.status, InstanceStatusKind::Complete);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::env::Env;
use crate::error::{Error, Result};
use crate::local::{Engine, EngineBuilder, Modifiers, RowKind, StepRow, StepSelector, StepState, VirtualClock};
use crate::log::{CaptureSink, Level};
use crate::status::InstanceStatusKind;
use crate::workflow::{InstanceHandle, RawStatus, Workflow, WorkflowHandle};

/// How long (wall time) a wait may take before the harness gives up with an error.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// How many timers `run_to_completion` fires before giving up (guards endless loops).
const MAX_TIMER_HOPS: usize = 10_000;

/// Builds a [`TestEngine`]: in-memory journal, virtual clock, captured logs.
pub struct TestEngineBuilder {
    inner: EngineBuilder,
    clock: VirtualClock,
    logs: Arc<CaptureSink>,
}

impl TestEngineBuilder {
    pub fn register<W: Workflow>(mut self) -> Self {
        self.inner = self.inner.register::<W>();
        self
    }

    /// Uses a journal file instead of memory (to test restarts).
    pub fn path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.inner = self.inner.path(path);
        self
    }

    pub fn env(mut self, env: Env) -> Self {
        self.inner = self.inner.env(env);
        self
    }

    /// Sends `ctx.run` requests and steps' `ctx.http()` requests through this transport instead
    /// of the network (to record or fake them).
    pub fn http_transport(mut self, transport: Arc<dyn crate::http::HttpTransport>) -> Self {
        self.inner = self.inner.http_transport(transport);
        self
    }

    /// Starts the virtual clock at this epoch-ms time instead of now.
    pub fn start_time(mut self, epoch_ms: i64) -> Self {
        self.clock = VirtualClock::starting_at(epoch_ms);
        self
    }

    /// See [`EngineBuilder::default_retention`].
    pub fn default_retention(mut self, retention: crate::Retention) -> Self {
        self.inner = self.inner.default_retention(retention);
        self
    }

    /// See [`EngineBuilder::workflow_retention`].
    pub fn workflow_retention<W: Workflow>(mut self, retention: crate::Retention) -> Self {
        self.inner = self.inner.workflow_retention::<W>(retention);
        self
    }

    pub fn default_retry_delay(mut self, delay: Duration) -> Self {
        self.inner = self.inner.default_retry_delay(delay);
        self
    }

    /// See [`EngineBuilder::in_memory_wait_limit`]: the limit is on the virtual clock, and an
    /// in-memory wait moves on when the clock is advanced past it, as a hibernating one does.
    pub fn in_memory_wait_limit(mut self, limit: Duration) -> Self {
        self.inner = self.inner.in_memory_wait_limit(limit);
        self
    }

    /// Lowers the bytes one instance's stream steps may store (see
    /// [`EngineBuilder::stream_storage_limit`]), so the limit can be reached in a test.
    pub fn stream_storage_limit(mut self, bytes: u64) -> Self {
        self.inner = self.inner.stream_storage_limit(bytes);
        self
    }

    /// Waits up to `timeout` for another engine to let go of the journal file (see
    /// [`EngineBuilder::wait_for_journal`]): a restart test reopens a file whose dropped engine
    /// may still be closing it.
    pub fn wait_for_journal(mut self, timeout: Duration) -> Self {
        self.inner = self.inner.wait_for_journal(timeout);
        self
    }

    pub async fn open(self) -> Result<TestEngine> {
        let engine = self.inner.clock_arc(Arc::new(self.clock.clone())).log_sink(self.logs.clone()).open().await?;
        Ok(TestEngine { engine, clock: self.clock, logs: self.logs })
    }
}

impl crate::local::Registrar for TestEngineBuilder {
    fn register<W: Workflow>(self) -> Self {
        TestEngineBuilder::register::<W>(self)
    }
}

/// The embedded engine under test control.
pub struct TestEngine {
    engine: Engine,
    clock: VirtualClock,
    logs: Arc<CaptureSink>,
}

impl TestEngine {
    pub fn builder() -> TestEngineBuilder {
        TestEngineBuilder { inner: Engine::builder(), clock: VirtualClock::new(), logs: Arc::default() }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    pub fn workflow<W: Workflow>(&self) -> WorkflowHandle<W> {
        self.engine.workflow::<W>()
    }

    /// Every instance of `W`, oldest first, including those the code under test created with
    /// ids the test does not know (Cloudflare's `introspectWorkflow(binding).get()`).
    pub async fn instances<W: Workflow>(&self) -> Result<Vec<InstanceHandle<W>>> {
        let workflow = self.workflow::<W>();
        let mut query = crate::listing::ListQuery::new().per_page(crate::listing::MAX_PER_PAGE);
        let mut handles = Vec::new();
        loop {
            let page = self.engine.list(W::NAME, &query)?;
            for info in &page.instances {
                handles.push(workflow.get(&info.id).await?);
            }
            match page.cursor {
                Some(cursor) => query = query.cursor(cursor),
                None => return Ok(handles),
            }
        }
    }

    /// Applies modifiers to the instance `id` of `W`; call before creating it.
    pub fn modify_instance<W: Workflow>(&self, id: &str, modifiers: Modifiers) {
        let mut mods = self.engine.modifiers();
        mods.insert((Arc::from(W::NAME), Some(Arc::from(id))), Arc::new(modifiers));
    }

    /// Applies modifiers to every instance of `W` created from now on.
    pub fn modify_workflow<W: Workflow>(&self, modifiers: Modifiers) {
        let mut mods = self.engine.modifiers();
        mods.insert((Arc::from(W::NAME), None), Arc::new(modifiers));
    }

    /// Moves the virtual clock forward, firing due timers.
    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        tokio::task::yield_now().await;
    }

    /// Log lines written through `ctx.log`, oldest first.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.logs.lines()
    }

    /// Waits (up to [`DEFAULT_WAIT`] of wall time) until `probe` returns a value; the probe
    /// runs again after every journal change.
    async fn wait_for<T>(&self, what: &str, mut probe: impl FnMut() -> Result<Option<T>>) -> Result<T> {
        let deadline = tokio::time::Instant::now() + DEFAULT_WAIT;
        loop {
            let changed = self.engine.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(found) = probe()? {
                return Ok(found);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(Error::new(format!("timed out after {DEFAULT_WAIT:?} waiting for {what}")));
            }
        }
    }

    /// Waits until the instance has `status`, jumping the virtual clock to each timer it waits
    /// on meanwhile (sleeps, retry delays), as Cloudflare's `waitForStatus` does not stall on
    /// them. Fails at once, with the instance's error, if it ends in another terminal status.
    pub async fn wait_for_status<W>(
        &self,
        instance: &InstanceHandle<W>,
        status: InstanceStatusKind,
    ) -> Result<RawStatus> {
        let id = instance.id();
        let what = format!("instance {id} to reach status {status}");
        let check = |current: RawStatus| {
            if current.status == status {
                return Ok(Some(current));
            }
            if current.status.is_terminal() {
                return Err(Error::new(format!(
                    "instance {id} ended {} while waiting for status {status}{}",
                    current.status,
                    current.error.map(|e| format!(": {e}")).unwrap_or_default()
                )));
            }
            Ok(None)
        };
        // Statuses an instance passes through between settling points are caught as they come.
        let settles =
            status.is_terminal() || matches!(status, InstanceStatusKind::Waiting | InstanceStatusKind::Paused);
        if !settles {
            let (workflow, id) = (instance.workflow_name(), instance.id());
            return self.wait_for(&what, || check(self.engine.status_and_wake(workflow, id)?.0)).await;
        }
        let reached = self.run_until(instance, &what, |s, _| s.status == status || s.status.is_terminal()).await?;
        Ok(check(reached)?.expect("run_until stopped at the status or an end"))
    }

    /// Waits until the selected `do` step has finished and returns its output (or its error),
    /// jumping the virtual clock to each timer the instance waits on before it (a sleep, a
    /// retry delay), as Cloudflare's `waitForStepResult` does not stall on them.
    pub async fn wait_for_step_result<W, T: DeserializeOwned>(
        &self,
        instance: &InstanceHandle<W>,
        step: StepSelector,
    ) -> Result<T> {
        let what = format!("step {}-{} of instance {}", step.name, step.index, instance.id());
        let finished = |rows: &[StepRow]| {
            rows.iter()
                .find(|r| r.kind == RowKind::Do && r.name == step.name && r.count == step.index && r.state.is_final())
                .cloned()
        };
        self.run_until(instance, &what, |_, rows| finished(rows).is_some()).await?;
        let row = finished(&self.steps(instance)?).ok_or_else(|| Error::new(format!("{what} did not finish")))?;
        match row.state {
            StepState::Done => serde_json::from_value(row.output.unwrap_or_default())
                .map_err(|e| Error::new(format!("step {}-{} output does not decode: {e}", row.name, row.count))),
            _ => Err(row.error.unwrap_or_else(|| Error::new("step failed"))),
        }
    }

    /// Runs the instance to a terminal status, jumping the virtual clock to each timer it
    /// waits on (sleeps, retry delays, event timeouts).
    pub async fn run_to_completion<W>(&self, instance: &InstanceHandle<W>) -> Result<RawStatus> {
        self.run_until(instance, "a terminal status", |s, _| s.status.is_terminal()).await
    }

    /// Jumps the virtual clock from timer to timer until `done` holds for the instance's status
    /// and step timeline (checked whenever the instance settles: hibernating or terminal).
    pub async fn run_until<W>(
        &self,
        instance: &InstanceHandle<W>,
        what: &str,
        done: impl Fn(&RawStatus, &[StepRow]) -> bool,
    ) -> Result<RawStatus> {
        let (workflow, id) = (instance.workflow_name(), instance.id());
        for _ in 0..MAX_TIMER_HOPS {
            // Settled: terminal, or hibernating (only a timer or an event can move it on).
            let (current, wake_at) = self
                .wait_for(&format!("instance {id} to settle"), || {
                    let (s, wake) = self.engine.status_and_wake(workflow, id)?;
                    let settled = s.status.is_terminal()
                        || matches!(s.status, InstanceStatusKind::Waiting | InstanceStatusKind::Paused);
                    Ok(settled.then_some((s, wake)))
                })
                .await?;
            if done(&current, &self.engine.steps(workflow, id)?) {
                return Ok(current);
            }
            match (current.status, wake_at) {
                (InstanceStatusKind::Waiting, Some(at)) => {
                    let by = (at - self.clock.now_ms()).max(0) as u64;
                    self.advance(Duration::from_millis(by)).await;
                    // Wait until the timer was picked up: the instance moved on or re-armed.
                    self.wait_for(&format!("instance {id} to wake up"), || {
                        let (s, wake) = self.engine.status_and_wake(workflow, id)?;
                        Ok((s.status != InstanceStatusKind::Waiting || wake != Some(at)).then_some(()))
                    })
                    .await?;
                }
                (status, _) => {
                    return Err(Error::new(format!(
                        "instance {id} is {status} with no timer to advance to, before {what}{}",
                        current.error.map(|e| format!(" ({e})")).unwrap_or_default()
                    )));
                }
            }
        }
        Err(Error::new(format!("instance {id} did not reach {what} after {MAX_TIMER_HOPS} timers")))
    }

    /// The step timeline of an instance.
    pub fn steps<W>(&self, instance: &InstanceHandle<W>) -> Result<Vec<StepRow>> {
        self.engine.steps(instance.workflow_name(), instance.id())
    }
}

impl VirtualClock {
    /// The virtual time, epoch ms.
    pub fn now_ms(&self) -> i64 {
        crate::local::Clock::now(self)
    }
}
