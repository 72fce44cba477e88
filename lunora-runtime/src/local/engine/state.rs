//! What every part of the engine shares ([`Inner`]): the journal, the clock, the registry, the
//! owners of instances and the timers; and the lookups and ownership rules over them.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::control::{Control, InstanceKey};
use super::registry::ErasedWorkflow;
use crate::config::ResolvedStepConfig;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::http::HttpTransport;
use crate::local::clock::Clock;
use crate::local::journal::{storage, InstanceRow, Journal};
use crate::local::modifiers::{ModifierMap, Modifiers};
use crate::local::mutex::lock;
use crate::log::LogSink;

/// The engine itself, shared by every [`Engine`](super::Engine) clone, running body and timer.
pub(crate) struct Inner {
    pub journal: Mutex<Journal>,
    pub clock: Arc<dyn Clock>,
    pub defaults: ResolvedStepConfig,
    pub env: Env,
    pub sink: Arc<dyn LogSink>,
    pub transport: Arc<dyn HttpTransport>,
    pub modifiers: Mutex<ModifierMap>,
    /// Bumped on every journal change, for the test harness's waits.
    pub changed: Notify,
    pub(super) workflows: HashMap<String, (Arc<str>, Arc<dyn ErasedWorkflow>)>,
    pub(super) live: Mutex<HashMap<InstanceKey, Arc<Control>>>,
    pub(super) timers: Mutex<BTreeSet<(i64, InstanceKey)>>,
    pub(super) timers_changed: Notify,
    pub(super) shutdown: Notify,
    /// Set once the last handle is dropped or `close` is called: nothing new starts.
    pub(super) closed: AtomicBool,
    pub(super) runtime: tokio::runtime::Handle,
    /// Waits (sleeps, retry delays) ending at most this many ms after they start are waited in
    /// memory; longer ones hibernate the instance (see `EngineBuilder::in_memory_wait_limit`).
    pub(super) in_memory_wait_ms: i64,
    pub(super) retention: super::retention::RetentionDefaults,
    pub(super) schedules: Vec<super::schedule::CronSchedule>,
    /// The earliest retention end the scheduler knows of (`i64::MAX`: none), kept in step with
    /// the journal under its lock, so the scheduler sweeps only when one is due.
    pub(super) next_expiry: std::sync::atomic::AtomicI64,
    /// Instances removed since their pages were last given back.
    pub(super) unreclaimed: std::sync::atomic::AtomicUsize,
    /// The most bytes an instance's stream steps may store (Cloudflare's 1 GiB by default).
    pub(super) stream_limit: u64,
}

impl Inner {
    pub(super) fn key(&self, workflow: &str, id: &str) -> Result<InstanceKey> {
        let (name, _) = self.registered(workflow)?;
        Ok(InstanceKey { workflow: name, id: Arc::from(id) })
    }

    pub(super) fn registered(&self, workflow: &str) -> Result<(Arc<str>, Arc<dyn ErasedWorkflow>)> {
        self.workflows.get(workflow).cloned().ok_or_else(|| {
            let mut known: Vec<&str> = self.workflows.keys().map(String::as_str).collect();
            known.sort_unstable();
            Error::workflow(
                "workflow.not_found",
                format!("no workflow named {workflow:?} is registered; known workflows: {}", known.join(", ")),
            )
        })
    }

    pub(super) fn require_instance(&self, workflow: &str, id: &str) -> Result<InstanceRow> {
        lock(&self.journal)
            .instance(workflow, id)
            .map_err(storage("read of an instance"))?
            .ok_or_else(|| crate::handle_errors::not_found(workflow, id))
    }

    pub fn notify_changed(&self) {
        self.changed.notify_waiters();
    }

    pub(crate) fn modifiers_for(&self, key: &InstanceKey) -> Option<Arc<Modifiers>> {
        let mods = lock(&self.modifiers);
        mods.get(&(key.workflow.clone(), Some(key.id.clone())))
            .or_else(|| mods.get(&(key.workflow.clone(), None)))
            .cloned()
    }

    pub fn add_timer(&self, at: i64, key: InstanceKey) {
        let mut timers = lock(&self.timers);
        let earliest = timers.first().is_none_or(|(first, _)| at < *first);
        timers.insert((at, key));
        if earliest {
            self.timers_changed.notify_one();
        }
    }

    /// Becomes the owner of `key`, or returns the current owner.
    pub(super) fn try_own(&self, key: &InstanceKey, runner: bool) -> std::result::Result<Arc<Control>, Arc<Control>> {
        let mut live = lock(&self.live);
        if let Some(owner) = live.get(key) {
            return Err(owner.clone());
        }
        let control = Control::new(runner);
        live.insert(key.clone(), control.clone());
        Ok(control)
    }

    /// Waits until `key` can be owned by an operation; with `abort`, stops a running body first.
    pub(super) async fn own_exclusive(&self, key: &InstanceKey, abort: bool) -> Arc<Control> {
        loop {
            match self.try_own(key, false) {
                Ok(control) => return control,
                Err(owner) => {
                    if abort && owner.runner {
                        owner.request_abort();
                    }
                    owner.finished().await;
                }
            }
        }
    }

    /// Stops the scheduler and asks every running body to stop between steps: attempts in
    /// flight finish, no new one starts. Returns the runners to wait for.
    pub(super) fn drain(&self) -> Vec<Arc<Control>> {
        self.closed.store(true, Ordering::SeqCst);
        self.shutdown.notify_one();
        let live = lock(&self.live);
        live.values()
            .filter(|c| c.runner)
            .map(|c| {
                c.drain.store(true, Ordering::SeqCst);
                c.wake();
                c.clone()
            })
            .collect()
    }

    /// Stops the scheduler and every running body; started attempts count as interrupted,
    /// exactly as after a crash, and resume when the journal is opened again.
    pub(super) fn stop(&self) -> Vec<Arc<Control>> {
        self.closed.store(true, Ordering::SeqCst);
        self.shutdown.notify_one();
        let live = lock(&self.live);
        live.values()
            .filter(|c| c.runner)
            .map(|c| {
                c.request_abort();
                c.clone()
            })
            .collect()
    }
}
