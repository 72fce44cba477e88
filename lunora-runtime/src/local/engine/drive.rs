//! The drive loop: recovery after a restart, the timer scheduler, and one drive of an instance
//! (own it, run or resume its body or its rollback chain, write where it ended, release it).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::control::{Control, InstanceKey};
use super::run::{Chain, Mode, Outcome, Run};
use super::state::Inner;
use crate::context::WorkflowEvent;
use crate::dispatch::Dispatcher;
use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::local::journal::{storage, InstanceRow, Phase};
use crate::local::mutex::lock;
use crate::local::validate;
use crate::status::{InstanceStatusKind, RollbackState, Timestamp};
use crate::step::{WorkflowStep, UNSERIALIZABLE};

/// Why a drive was started.
#[derive(Clone, Copy, Debug)]
pub(super) enum Reason {
    /// A timer set for this time fired; stale timers are ignored.
    Timer,
    /// Something changed (create, event, resume, restart, recovery): run if runnable.
    Poke,
}

impl Inner {
    /// Picks up what a previous process left: runnable instances run, sleeping ones get their
    /// timer back, a pause that was in progress completes.
    pub(super) fn recover(self: &Arc<Self>) -> Result<()> {
        let rows = lock(&self.journal).unfinished().map_err(storage("recovery scan"))?;
        let now = self.clock.now();
        for (workflow, id, status, wake_at, pending_events) in rows {
            let Some((name, _)) = self.workflows.get(&workflow) else {
                continue; // not registered in this process: left as it is
            };
            let key = InstanceKey { workflow: name.clone(), id: Arc::from(id.as_str()) };
            match status {
                InstanceStatusKind::WaitingForPause => {
                    lock(&self.journal).set_paused(&workflow, &id, now).map_err(storage("pause"))?;
                }
                // An event accepted just before the previous process stopped may not have
                // woken the instance yet: run it now rather than at its timer.
                InstanceStatusKind::Waiting if pending_events => self.spawn_drive(key, Reason::Poke),
                InstanceStatusKind::Waiting => match wake_at {
                    Some(at) => self.add_timer(at, key),
                    None => self.spawn_drive(key, Reason::Poke),
                },
                _ => self.spawn_drive(key, Reason::Poke),
            }
        }
        Ok(())
    }

    pub(super) fn spawn_drive(self: &Arc<Self>, key: InstanceKey, reason: Reason) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let inner = self.clone();
        self.runtime.spawn(async move { inner.drive(key, reason).await });
    }

    /// Gives up ownership; `last_write` runs under the ownership lock so it cannot race with
    /// a pause or an event arriving. A poke that arrived meanwhile starts a new drive.
    pub(super) fn release(self: &Arc<Self>, key: &InstanceKey, control: &Arc<Control>, last_write: impl FnOnce(&Self)) {
        let poked = {
            let mut live = lock(&self.live);
            last_write(self);
            live.remove(key);
            control.poke.load(Ordering::SeqCst)
        };
        control.done.send_replace(true);
        self.notify_changed();
        if poked {
            self.spawn_drive(key.clone(), Reason::Poke);
        }
    }

    /// Runs the instance if it is runnable, until it finishes, hibernates or is stopped.
    pub(super) async fn drive(self: Arc<Self>, key: InstanceKey, reason: Reason) {
        let control = match self.try_own(&key, true) {
            Ok(c) => c,
            Err(owner) => {
                owner.poke.store(true, Ordering::SeqCst);
                return;
            }
        };
        let result = self.drive_owned(&key, &control, reason).await;
        match result {
            Ok(Some(last)) => self.release(&key, &control, |inner| last.write(inner, &key, &control)),
            Ok(None) => self.release(&key, &control, |_| {}),
            Err(err) => {
                // The journal failed under us: report it on the instance if we still can.
                self.sink.write(crate::log::Level::Error, &format!("[lunora] instance {}: {err}", key.id));
                let now = self.clock.now();
                self.release(&key, &control, |inner| {
                    let mut journal = lock(&inner.journal);
                    let expires = inner.expiry(&journal, &key.workflow, &key.id, InstanceStatusKind::Errored, now);
                    let _ = journal.finish(
                        &key.workflow,
                        &key.id,
                        InstanceStatusKind::Errored,
                        None,
                        Some(&err),
                        None,
                        now,
                        expires,
                    );
                    if let Some(at) = expires {
                        inner.note_expiry(at);
                    }
                });
            }
        }
    }

    pub(super) async fn drive_owned(
        self: &Arc<Self>,
        key: &InstanceKey,
        control: &Arc<Control>,
        reason: Reason,
    ) -> Result<Option<LastWrite>> {
        let Some(row) = lock(&self.journal).instance(&key.workflow, &key.id).map_err(storage("read"))? else {
            return Ok(None);
        };
        let now = self.clock.now();
        match row.status {
            s if s.is_terminal() => return Ok(None),
            InstanceStatusKind::Paused => return Ok(None),
            InstanceStatusKind::WaitingForPause => {
                lock(&self.journal).set_paused(&key.workflow, &key.id, now).map_err(storage("pause"))?;
                return Ok(None);
            }
            InstanceStatusKind::Waiting => {
                if let Reason::Timer = reason {
                    if row.wake_at.is_none_or(|w| w > now) {
                        return Ok(None); // a stale timer; the current one is still queued
                    }
                }
            }
            _ => {}
        }
        if let Some(phase) = &row.phase {
            // A rollback chain was interrupted or is waiting to retry: collect the handlers
            // again and carry on.
            let run = self.new_run(key, control, Mode::Collect)?;
            let outcome = run.execute(self.start_body(key, &run, &row)?).await;
            let last = match outcome {
                Outcome::Aborted => None,
                _ => chain_end(run.run_rollbacks(&phase.error).await, phase),
            };
            run.dispose();
            return Ok(last);
        }
        lock(&self.journal).mark_running(&key.workflow, &key.id, now).map_err(storage("start"))?;
        self.notify_changed();
        let run = self.new_run(key, control, Mode::Normal)?;
        let body = match self.start_body(key, &run, &row) {
            Ok(body) => body,
            Err(err) => return Ok(Some(LastWrite::errored(err, None))),
        };
        let last = match run.execute(body).await {
            Outcome::Aborted => None,
            Outcome::Suspended { wake_at } => Some(LastWrite::Suspend { wake_at }),
            Outcome::Fatal(err) => Some(LastWrite::errored(err, None)),
            // "A value that cannot be serialised fails the instance fatally (no rollback)."
            Outcome::Finished(Err(err)) if err.name() == UNSERIALIZABLE => {
                Some(LastWrite::errored(Error::fatal(err.message()), None))
            }
            Outcome::Finished(Ok(output)) => {
                let text = output.to_string();
                match validate::size("the workflow's output", text.len()) {
                    Ok(()) => Some(LastWrite::Finish {
                        status: InstanceStatusKind::Complete,
                        output: Some(text),
                        error: None,
                        rollback: None,
                    }),
                    Err(why) => Some(LastWrite::errored(Error::internal(why), None)),
                }
            }
            Outcome::Finished(Err(err)) if run.has_rollbacks() => {
                let phase = Phase { error: err.clone(), end_status: "errored".into() };
                lock(&self.journal).set_phase(&key.workflow, &key.id, &phase).map_err(storage("rollback start"))?;
                chain_end(run.run_rollbacks(&err).await, &phase)
            }
            Outcome::Finished(Err(err)) => Some(LastWrite::errored(err, None)),
        };
        run.dispose();
        Ok(last)
    }

    pub(super) fn new_run(self: &Arc<Self>, key: &InstanceKey, control: &Arc<Control>, mode: Mode) -> Result<Arc<Run>> {
        let (_, wf) = self.registered(&key.workflow)?;
        let steps = lock(&self.journal).steps(&key.workflow, &key.id).map_err(storage("read of steps"))?;
        let modifiers = self.modifiers_for(key);
        Ok(Run::new(
            self.clone(),
            key.clone(),
            wf.export_name(),
            wf.step_limit().unwrap_or(validate::DEFAULT_STEP_LIMIT),
            control.clone(),
            modifiers,
            steps,
            mode,
        ))
    }

    pub(super) fn start_body(
        self: &Arc<Self>,
        key: &InstanceKey,
        run: &Arc<Run>,
        row: &InstanceRow,
    ) -> Result<BoxFuture<'static, Result<Json>>> {
        let (_, wf) = self.registered(&key.workflow)?;
        let event = WorkflowEvent {
            payload: row.params.clone(),
            timestamp: Timestamp(row.created_at),
            instance_id: key.id.to_string(),
            workflow_name: key.workflow.to_string(),
            schedule: row.trigger.clone(),
        };
        let dispatch = Dispatcher::for_body(
            Some(self.transport.clone()),
            self.clock.clone(),
            self.env.clone(),
            wf.export_name(),
            &key.id,
        );
        let env = self.env.clone().with(self.siblings());
        wf.start(
            row.params.clone(),
            WorkflowStep::new(run.clone()).with_clock(self.clock.clone()),
            event,
            env,
            run.log.clone(),
            dispatch,
        )
    }

    /// The engine's workflows as bodies reach them (`ctx.child`), holding the engine weakly.
    fn siblings(self: &Arc<Self>) -> crate::child::Siblings {
        let engine = Arc::downgrade(self);
        crate::child::Siblings(Arc::new(move |_| {
            let engine = engine.upgrade().ok_or_else(|| Error::internal("the engine has shut down"))?;
            Ok(Arc::new(super::backend::EngineBackend(engine)) as Arc<dyn crate::workflow::WorkflowsBackend>)
        }))
    }
}

/// What a rollback chain leaves to write: the end of the instance, or a timer.
pub(super) fn chain_end(chain: Chain, phase: &Phase) -> Option<LastWrite> {
    match chain {
        Chain::Aborted => None,
        Chain::Suspended(at) => Some(LastWrite::Suspend { wake_at: Some(at) }),
        Chain::Done(rollback) => {
            let terminated = phase.end_status == "terminated";
            Some(LastWrite::Finish {
                status: if terminated { InstanceStatusKind::Terminated } else { InstanceStatusKind::Errored },
                output: None,
                error: (!terminated).then(|| phase.error.clone()),
                rollback: Some(rollback),
            })
        }
    }
}

/// The state write that ends an owner's turn, done under the ownership lock.
pub(super) enum LastWrite {
    Finish { status: InstanceStatusKind, output: Option<String>, error: Option<Error>, rollback: Option<RollbackState> },
    Suspend { wake_at: Option<i64> },
}

impl LastWrite {
    pub(super) fn errored(error: Error, rollback: Option<RollbackState>) -> Self {
        LastWrite::Finish { status: InstanceStatusKind::Errored, output: None, error: Some(error), rollback }
    }

    pub(super) fn write(self, inner: &Inner, key: &InstanceKey, control: &Control) {
        let now = inner.clock.now();
        let mut journal = lock(&inner.journal);
        let result = match self {
            LastWrite::Finish { status, output, error, rollback } => {
                let expires = inner.expiry(&journal, &key.workflow, &key.id, status, now);
                if let Some(at) = expires {
                    // Under the journal lock, as the sweep reads it.
                    inner.note_expiry(at);
                }
                journal.finish(
                    &key.workflow,
                    &key.id,
                    status,
                    output.as_deref(),
                    error.as_ref(),
                    rollback.as_ref(),
                    now,
                    expires,
                )
            }
            LastWrite::Suspend { wake_at } => {
                if !control.pause.load(Ordering::SeqCst) && control.drain.load(Ordering::SeqCst) {
                    // Stopped between steps for a shutdown: due at once when an engine reopens.
                    let at = wake_at.map_or(now, |w| w.min(now));
                    journal.set_status(&key.workflow, &key.id, InstanceStatusKind::Waiting, Some(at))
                } else if control.pause.load(Ordering::SeqCst) {
                    journal
                        .set_paused(&key.workflow, &key.id, now)
                        .and_then(|()| journal.set_status(&key.workflow, &key.id, InstanceStatusKind::Paused, wake_at))
                } else {
                    let r = journal.set_status(&key.workflow, &key.id, InstanceStatusKind::Waiting, wake_at);
                    if let Some(at) = wake_at {
                        inner.add_timer(at, key.clone());
                    }
                    r
                }
            }
        };
        if let Err(e) = result {
            inner
                .sink
                .write(crate::log::Level::Error, &format!("[lunora] instance {}: journal write failed: {e}", key.id));
        }
    }
}

/// Fires timers: sleeps until the earliest one on the engine's clock, then drives its instance;
/// removes instances whose retention ended. Stops when the last [`Engine`] handle is dropped.
pub(super) async fn scheduler(inner: Arc<Inner>) {
    loop {
        let expiry = inner.sweep_expired();
        let tick = inner.fire_schedules();
        let expiry = match (expiry, tick) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let now = inner.clock.now();
        let mut due = Vec::new();
        let next = {
            let mut timers = lock(&inner.timers);
            while let Some((at, _)) = timers.first() {
                if *at > now {
                    break;
                }
                due.push(timers.pop_first().expect("checked non-empty"));
            }
            let timer = timers.first().map(|(at, _)| *at);
            match (timer, expiry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        for (_, key) in due {
            inner.spawn_drive(key, Reason::Timer);
        }
        let sleep = next.map(|at| inner.clock.sleep_until(at));
        tokio::select! {
            _ = async { match sleep { Some(s) => s.await, None => std::future::pending().await } } => {}
            _ = inner.timers_changed.notified() => {}
            _ = inner.shutdown.notified() => return,
        }
    }
}
