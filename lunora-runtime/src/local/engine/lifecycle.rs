//! The operations on one instance: create, status, pause, resume, terminate (with or without
//! rollback), restart and send_event, each under the ownership rules of [`Inner`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::json;

use super::control::{Control, InstanceKey};
use super::drive::{chain_end, LastWrite, Reason};
use super::run::Mode;
use super::state::Inner;
use crate::erased::Json;
use crate::error::{Error, Result};
use crate::local::journal::{storage, Phase, RowKind};
use crate::local::mutex::lock;
use crate::local::validate;
use crate::status::{InstanceStatus, InstanceStatusKind, RestartFrom};
use crate::workflow::{CreateRequest, RawStatus};

impl Inner {
    pub(super) fn create_one(&self, workflow: &str, req: &CreateRequest) -> Result<(String, String, Option<String>)> {
        let (_, wf) = self.registered(workflow)?;
        let id = req.id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        validate::instance_id(&id)?;
        let params = req.params.clone().unwrap_or_else(|| json!({}));
        let text = params.to_string();
        validate::size("params", text.len()).map_err(|why| Error::workflow("instance.invalid_params", why))?;
        wf.check_params(&params).map_err(|why| {
            Error::workflow("instance.invalid_params", format!("params do not match workflow {workflow:?}: {why}"))
        })?;
        if let Some(r) = &req.retention {
            super::retention::check_retention(r)?;
        }
        let retention = req.retention.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default());
        Ok((id, text, retention))
    }

    pub(super) fn after_create(self: &Arc<Self>, workflow: &str, id: &str) -> Result<()> {
        let key = self.key(workflow, id)?;
        if let Some(mods) = self.modifiers_for(&key) {
            let now = self.clock.now();
            for (event_type, payload) in mods.events() {
                lock(&self.journal)
                    .insert_event(workflow, id, &event_type, &payload.to_string(), now)
                    .map_err(storage("mocked event"))?;
            }
        }
        self.spawn_drive(key, Reason::Poke);
        Ok(())
    }

    pub(super) fn status(&self, workflow: &str, id: &str) -> Result<RawStatus> {
        self.registered(workflow)?;
        let row = self.require_instance(workflow, id)?;
        Ok(InstanceStatus { status: row.status, error: row.error, output: row.output, rollback: row.rollback })
    }

    pub(super) async fn pause(self: &Arc<Self>, workflow: &str, id: &str) -> Result<()> {
        let key = self.key(workflow, id)?;
        loop {
            {
                let live = lock(&self.live);
                if let Some(owner) = live.get(&key) {
                    if owner.runner {
                        owner.pause.store(true, Ordering::SeqCst);
                        owner.wake();
                        lock(&self.journal)
                            .set_status(workflow, id, InstanceStatusKind::WaitingForPause, None)
                            .map_err(storage("pause"))?;
                        self.notify_changed();
                        return Ok(());
                    }
                }
            }
            let control = match self.try_own(&key, false) {
                Ok(c) => c,
                Err(owner) => {
                    owner.finished().await;
                    continue;
                }
            };
            let result = (|| {
                let row = self.require_instance(workflow, id)?;
                if row.status.is_terminal() {
                    return Err(Error::workflow(
                        "instance.cannot_pause",
                        format!("instance {id:?} is {} and cannot be paused", row.status),
                    ));
                }
                if row.status != InstanceStatusKind::Paused {
                    lock(&self.journal).set_paused(workflow, id, self.clock.now()).map_err(storage("pause"))?;
                }
                Ok(())
            })();
            self.release(&key, &control, |_| {});
            return result;
        }
    }

    pub(super) async fn resume(self: &Arc<Self>, workflow: &str, id: &str) -> Result<()> {
        let key = self.key(workflow, id)?;
        {
            let live = lock(&self.live);
            if let Some(owner) = live.get(&key) {
                if owner.runner && owner.pause.swap(false, Ordering::SeqCst) {
                    // Branches that parked for the pause stay parked in this run: run again
                    // right after it stops.
                    owner.poke.store(true, Ordering::SeqCst);
                    owner.wake();
                    lock(&self.journal)
                        .set_status(workflow, id, InstanceStatusKind::Running, None)
                        .map_err(storage("resume"))?;
                    return Ok(());
                }
            }
        }
        let control = self.own_exclusive(&key, false).await;
        let result = (|| {
            let row = self.require_instance(workflow, id)?;
            if row.status == InstanceStatusKind::Paused {
                lock(&self.journal).resume(workflow, id, self.clock.now()).map_err(storage("resume"))?;
                control.poke.store(true, Ordering::SeqCst);
            }
            Ok(())
        })();
        self.release(&key, &control, |_| {});
        result
    }

    pub(super) async fn terminate(self: &Arc<Self>, workflow: &str, id: &str, rollback: bool) -> Result<()> {
        let key = self.key(workflow, id)?;
        self.require_instance(workflow, id)?;
        let control = self.own_exclusive(&key, true).await;
        let result = self.terminate_owned(&key, &control, rollback).await;
        match result {
            Ok(last) => {
                self.release(&key, &control, |inner| last.write(inner, &key, &control));
                Ok(())
            }
            Err(err) => {
                self.release(&key, &control, |_| {});
                Err(err)
            }
        }
    }

    pub(super) async fn terminate_owned(
        self: &Arc<Self>,
        key: &InstanceKey,
        control: &Arc<Control>,
        rollback: bool,
    ) -> Result<LastWrite> {
        let row = self.require_instance(&key.workflow, &key.id)?;
        if row.status.is_terminal() {
            return Err(crate::handle_errors::cannot_terminate(&key.id, row.status));
        }
        if !rollback {
            return Ok(LastWrite::Finish {
                status: InstanceStatusKind::Terminated,
                output: None,
                error: None,
                rollback: None,
            });
        }
        let error = Error::workflow("instance.terminated", "the instance was terminated with rollback");
        let phase = Phase { error: error.clone(), end_status: "terminated".into() };
        // Build the body first: if that fails, nothing has been written yet.
        let run = self.new_run(key, control, Mode::Collect)?;
        let body = self.start_body(key, &run, &row)?;
        lock(&self.journal).set_phase(&key.workflow, &key.id, &phase).map_err(storage("rollback start"))?;
        run.execute(body).await;
        let chain = run.run_rollbacks(&error).await;
        run.dispose();
        // An operation owns the instance here, so nothing can abort the chain.
        Ok(chain_end(chain, &phase).expect("an operation's rollback chain is never aborted"))
    }

    pub(super) async fn restart(self: &Arc<Self>, workflow: &str, id: &str, from: Option<RestartFrom>) -> Result<()> {
        let key = self.key(workflow, id)?;
        self.require_instance(workflow, id)?;
        let control = self.own_exclusive(&key, true).await;
        let result = (|| {
            let keep_before = match &from {
                None => None,
                Some(target) => {
                    let steps = lock(&self.journal).steps(workflow, id).map_err(storage("read of steps"))?;
                    let kind = RowKind::from(target.kind);
                    let found =
                        steps.iter().find(|s| s.kind == kind && s.name == target.name && s.count == target.count);
                    match found {
                        Some(step) => Some(step.seq),
                        None => return Err(crate::handle_errors::cannot_restart(id, target)),
                    }
                }
            };
            if !lock(&self.journal).reset(workflow, id, keep_before).map_err(storage("restart"))? {
                return Err(crate::handle_errors::not_found(workflow, id));
            }
            // Mocked events survive a restart, as Cloudflare's introspection mocks do: the
            // consumed ones were erased with the state, so they are queued again.
            if let Some(mods) = self.modifiers_for(&key) {
                let now = self.clock.now();
                let mut journal = lock(&self.journal);
                for (event_type, payload) in mods.events() {
                    if !journal.has_pending_event(workflow, id, &event_type).map_err(storage("mocked event"))? {
                        journal
                            .insert_event(workflow, id, &event_type, &payload.to_string(), now)
                            .map_err(storage("mocked event"))?;
                    }
                }
            }
            control.poke.store(true, Ordering::SeqCst);
            Ok(())
        })();
        self.release(&key, &control, |_| {});
        result
    }

    pub(super) async fn send_event(
        self: &Arc<Self>,
        workflow: &str,
        id: &str,
        event_type: &str,
        payload: Json,
    ) -> Result<()> {
        let key = self.key(workflow, id)?;
        validate::event_type(event_type)?;
        let text = payload.to_string();
        validate::size("the event payload", text.len())
            .map_err(|why| Error::workflow("instance.invalid_event", why))?;
        let row = self.require_instance(workflow, id)?;
        if row.status.is_terminal() {
            return Err(Error::workflow(
                "instance.cannot_send_event",
                format!("instance {id:?} is {} and accepts no more events", row.status),
            ));
        }
        lock(&self.journal)
            .insert_event(workflow, id, event_type, &text, self.clock.now())
            .map_err(storage("event insert"))?;
        {
            let live = lock(&self.live);
            if let Some(owner) = live.get(&key) {
                owner.poke.store(true, Ordering::SeqCst);
                return Ok(());
            }
            // A hibernating instance becomes runnable at once: say so before the drive starts.
            let status = self.require_instance(workflow, id)?.status;
            if status != InstanceStatusKind::Waiting && status != InstanceStatusKind::Queued {
                return Ok(());
            }
            lock(&self.journal)
                .set_status(workflow, id, InstanceStatusKind::Queued, None)
                .map_err(storage("wake-up"))?;
        }
        self.notify_changed();
        self.spawn_drive(key, Reason::Poke);
        Ok(())
    }
}
