//! [`Engine`]: the handle users hold; the engine stops when its last clone drops.

use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use super::backend::EngineBackend;
use super::state::Inner;
use crate::error::Result;
use crate::listing::{InstanceList, ListQuery};
use crate::local::journal::{storage, StepRow};
use crate::local::modifiers::ModifierMap;
use crate::local::mutex::lock;
use crate::status::{InstanceStatus, Timestamp};
use crate::subscription::{SubscribeOptions, Subscription};
use crate::workflow::{RawStatus, WaitFor, Workflow, WorkflowHandle, WorkflowsBackend};

pub(super) struct ShutdownGuard(pub(super) Arc<Inner>);

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The embedded durable engine. Cheap to clone; the scheduler stops when the last clone drops.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
    pub(super) _guard: Arc<ShutdownGuard>,
}

impl Engine {
    /// Stops the engine, waits until no instance runs any more, then closes the journal and
    /// releases its lock, so the file can be reopened at once (in this process too). Later
    /// calls on this engine's handles fail. Dropping the last handle stops the engine the same
    /// way without waiting; the journal is then closed once its last task has ended.
    pub async fn close(self) {
        for control in self.inner.stop() {
            control.finished().await;
        }
        lock(&self.inner.journal).close();
    }

    /// Shuts the engine down gracefully: takes no new work (instances created from now on wait
    /// in the journal for the next engine), lets the step attempts in flight finish for up to
    /// `grace` without starting new steps, then stops what still runs (those attempts count as
    /// interrupted, as after a crash) and closes the journal. Every instance is left where the
    /// next engine on the file picks it up.
    pub async fn shutdown(self, grace: Duration) {
        let runners = self.inner.drain();
        let finished = async {
            for control in &runners {
                control.finished().await;
            }
        };
        if tokio::time::timeout(grace, finished).await.is_err() {
            for control in self.inner.stop() {
                control.finished().await;
            }
        }
        lock(&self.inner.journal).close();
    }

    /// The typed handle of a registered workflow.
    pub fn workflow<W: Workflow>(&self) -> WorkflowHandle<W> {
        WorkflowHandle::new(self.backend())
    }

    /// The engine as a [`WorkflowsBackend`], for untyped handles.
    pub fn backend(&self) -> Arc<dyn WorkflowsBackend> {
        Arc::new(EngineBackend(self.inner.clone()))
    }

    /// The journal rows of an instance's steps, in start order (the step timeline).
    pub fn steps(&self, workflow: &str, id: &str) -> Result<Vec<StepRow>> {
        self.inner.require_instance(workflow, id)?;
        lock(&self.inner.journal).steps(workflow, id).map_err(storage("read of steps"))
    }

    /// One page of a workflow's (deployed name) instances.
    pub fn list(&self, workflow: &str, query: &ListQuery) -> Result<InstanceList> {
        self.inner.list(workflow, query)
    }

    /// Waits until the instance reaches `until` (see [`InstanceHandle::wait`](crate::InstanceHandle::wait)).
    pub async fn wait(&self, workflow: &str, id: &str, until: WaitFor, timeout: Option<Duration>) -> Result<RawStatus> {
        self.inner.wait(workflow, id, until, timeout).await
    }

    /// An instance's events (see [`InstanceHandle::subscribe`](crate::InstanceHandle::subscribe)).
    pub fn subscribe(&self, workflow: &str, id: &str, options: SubscribeOptions) -> Result<Subscription> {
        options.validate()?;
        self.inner.subscribe(workflow, id, options)
    }

    /// Deletes instances with their steps and events, and gives the space back to the file
    /// system (1 to 100 ids; unknown ids fail before any is deleted).
    pub async fn delete(&self, workflow: &str, ids: &[&str]) -> Result<()> {
        self.inner.delete(workflow, ids).await
    }

    /// The deployed names of the registered workflows, sorted.
    pub fn workflow_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.workflows.keys().cloned().collect();
        names.sort();
        names
    }

    /// The class name of a registered workflow (by deployed name).
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // the REST API's
    pub(crate) fn class_name(&self, workflow: &str) -> Result<String> {
        Ok(self.inner.registered(workflow)?.1.class_name())
    }

    /// An instance's journal row (`instance.not_found` if none).
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // the REST API's
    pub(crate) fn instance_row(&self, workflow: &str, id: &str) -> Result<crate::local::journal::InstanceRow> {
        self.inner.registered(workflow)?;
        self.inner.require_instance(workflow, id)
    }

    /// The current time on the engine's clock (epoch ms).
    pub fn now(&self) -> Timestamp {
        Timestamp(self.inner.clock.now())
    }

    pub(crate) fn modifiers(&self) -> MutexGuard<'_, ModifierMap> {
        lock(&self.inner.modifiers)
    }

    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.changed.notified()
    }

    /// Status plus the time the instance next wakes (for the harness's clock jumps).
    pub(crate) fn status_and_wake(&self, workflow: &str, id: &str) -> Result<(RawStatus, Option<i64>)> {
        let row = self.inner.require_instance(workflow, id)?;
        let wake = row.wake_at;
        Ok((InstanceStatus { status: row.status, error: row.error, output: row.output, rollback: row.rollback }, wake))
    }

    /// How many timers are pending in memory (one per hibernating instance, plus stale ones).
    pub fn pending_timers(&self) -> usize {
        lock(&self.inner.timers).len()
    }
}
