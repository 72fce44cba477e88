//! The embedded engine: registry, instance ownership, scheduler and lifecycle operations.
//!
//! Execution model (Cloudflare's): an instance runs by calling the workflow body from the top
//! against its journal. Completed steps return their stored results; the first step that has to
//! wait (sleep, event, retry delay) parks, and once nothing is in flight the body's future is
//! dropped and the instance *hibernates*: it then costs one timer entry in memory. When the
//! timer fires or an event arrives, the body is called again from the top (replay).
//!
//! Exactly one owner acts on an instance at a time: a runner (executing the body) or an
//! operation (terminate, restart, pause of an idle instance…). Owners are tracked in `live`;
//! transitions that race with a runner's end are written under that lock.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

mod run;

use serde_json::json;
use tokio::sync::{watch, Notify};

use crate::config::{ResolvedStepConfig, DEFAULT_RETRY_DELAY};
use crate::context::{Env, LogSink, Logger, StderrSink, WorkflowContext, WorkflowEvent};
use crate::dispatch::Dispatcher;
use crate::error::{Error, Result};
use crate::http::{HttpTransport, NativeTransport};
use crate::local::clock::{Clock, SystemClock};
use crate::local::journal::{storage, Durability, InstanceRow, Journal, NewInstance, Phase, RowKind, StepRow};
use crate::local::modifiers::Modifiers;
use crate::local::engine::run::{Chain, Mode, Outcome, Run};
use crate::local::validate;
use crate::status::{InstanceStatus, InstanceStatusKind, RestartFrom, RollbackState, Timestamp};
use crate::step::{BoxFuture, Json, WorkflowStep, UNSERIALIZABLE};
use crate::workflow::{decode_params, CreateRequest, RawStatus, Workflow, WorkflowHandle, WorkflowsBackend};

/// Modifiers per workflow and, optionally, per instance id.
pub(crate) type ModifierMap = HashMap<(Arc<str>, Option<Arc<str>>), Arc<Modifiers>>;

/// Identifies an instance: deployed workflow name and instance id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct InstanceKey {
    pub workflow: Arc<str>,
    pub id: Arc<str>,
}

/// A registered workflow with its types erased.
pub(crate) trait ErasedWorkflow: Send + Sync {
    fn export_name(&self) -> &'static str;
    fn step_limit(&self) -> Option<u32>;
    fn check_params(&self, params: &Json) -> std::result::Result<(), String>;
    fn start(
        &self,
        params: Json,
        step: WorkflowStep,
        event: WorkflowEvent,
        env: Env,
        log: Logger,
        dispatch: Dispatcher,
    ) -> Result<BoxFuture<'static, Result<Json>>>;
}

struct Registered<W>(PhantomData<fn() -> W>);

impl<W: Workflow> ErasedWorkflow for Registered<W> {
    fn export_name(&self) -> &'static str {
        W::EXPORT_NAME
    }

    fn step_limit(&self) -> Option<u32> {
        W::STEP_LIMIT
    }

    fn check_params(&self, params: &Json) -> std::result::Result<(), String> {
        decode_params::<W::Params>(params).map(drop).map_err(|e| e.to_string())
    }

    fn start(
        &self,
        params: Json,
        step: WorkflowStep,
        event: WorkflowEvent,
        env: Env,
        log: Logger,
        dispatch: Dispatcher,
    ) -> Result<BoxFuture<'static, Result<Json>>> {
        let params: W::Params = decode_params(&params)
            .map_err(|e| Error::fatal(format!("instance params do not decode as the workflow's params type: {e}")))?;
        let ctx = WorkflowContext { step, params, event, env, log, dispatch };
        Ok(Box::pin(async move {
            let output = W::run(ctx).await?;
            serde_json::to_value(output)
                .map_err(|e| Error::named(UNSERIALIZABLE, format!("the workflow's output cannot be serialised: {e}")))
        }))
    }
}

/// Who owns an instance right now, and what others ask of it.
pub(crate) struct Control {
    pub runner: bool,
    pub abort: AtomicBool,
    pub pause: AtomicBool,
    pub poke: AtomicBool,
    waker: Mutex<Option<Waker>>,
    abort_signal: Notify,
    done: watch::Sender<bool>,
}

impl Control {
    fn new(runner: bool) -> Arc<Self> {
        Arc::new(Self {
            runner,
            abort: AtomicBool::new(false),
            pause: AtomicBool::new(false),
            poke: AtomicBool::new(false),
            waker: Mutex::new(None),
            abort_signal: Notify::new(),
            done: watch::channel(false).0,
        })
    }

    pub fn set_waker(&self, waker: &Waker) {
        *lock(&self.waker) = Some(waker.clone());
    }

    /// Resolves once an operation asked this owner to stop.
    pub async fn aborted(&self) {
        let signal = self.abort_signal.notified();
        tokio::pin!(signal);
        signal.as_mut().enable();
        if self.abort.load(Ordering::SeqCst) {
            return;
        }
        signal.await;
    }

    /// Resolves once this owner has released the instance.
    async fn finished(&self) {
        let _ = self.done.subscribe().wait_for(|d| *d).await;
    }

    fn request_abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
        self.abort_signal.notify_waiters();
        self.wake();
    }

    /// Wakes the runner so it re-checks abort / pause.
    fn wake(&self) {
        if let Some(w) = lock(&self.waker).take() {
            w.wake();
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a drive was started.
#[derive(Clone, Copy, Debug)]
enum Reason {
    /// A timer set for this time fired; stale timers are ignored.
    Timer,
    /// Something changed (create, event, resume, restart, recovery): run if runnable.
    Poke,
}

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
    workflows: HashMap<String, (Arc<str>, Arc<dyn ErasedWorkflow>)>,
    live: Mutex<HashMap<InstanceKey, Arc<Control>>>,
    timers: Mutex<BTreeSet<(i64, InstanceKey)>>,
    timers_changed: Notify,
    shutdown: Notify,
    /// Set once the last handle is dropped or `close` is called: nothing new starts.
    closed: AtomicBool,
    runtime: tokio::runtime::Handle,
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    path: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    retry_delay: Duration,
    env: Env,
    sink: Arc<dyn LogSink>,
    transport: Arc<dyn HttpTransport>,
    durability: Durability,
    wait_for_journal: Option<Duration>,
    workflows: Vec<(&'static str, Arc<dyn ErasedWorkflow>)>,
}

impl EngineBuilder {
    /// Journal in this SQLite file (created if absent). Without it the journal is in memory.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The clock timers run on (tests use a [`VirtualClock`](crate::local::VirtualClock)).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub(crate) fn clock_arc(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The default delay between retries (production's 10 s unless changed).
    pub fn default_retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// The environment workflows see as `ctx.env`.
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// How `ctx.run` reaches the Worker (native HTTP by default; tests may plug their own).
    pub fn http_transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.transport = transport;
        self
    }

    /// Where `ctx.log` lines go (standard error by default).
    pub fn log_sink(mut self, sink: Arc<dyn LogSink>) -> Self {
        self.sink = sink;
        self
    }

    /// Fsync step completions (`Full`, the default) or rely on WAL alone (`Normal`).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// If another engine (in this process or another) has the journal file open, wait up to
    /// `timeout` for it to close instead of failing at once with an "in use" error.
    pub fn wait_for_journal(mut self, timeout: Duration) -> Self {
        self.wait_for_journal = Some(timeout);
        self
    }

    /// Registers a workflow.
    pub fn register<W: Workflow>(mut self) -> Self {
        self.workflows.push((W::NAME, Arc::new(Registered::<W>(PhantomData))));
        self
    }

    /// Opens the journal, validates the registrations and resumes unfinished instances.
    /// Must be called inside a Tokio runtime.
    pub async fn open(self) -> Result<Engine> {
        let mut workflows = HashMap::new();
        for (name, wf) in self.workflows {
            validate::workflow_name(name)?;
            if let Some(limit) = wf.step_limit() {
                if limit == 0 || limit > validate::MAX_STEP_LIMIT {
                    return Err(Error::workflow(
                        "workflow.invalid_limits",
                        format!(
                            "workflow {name:?}: limits.steps is {limit}, it must be 1..={}",
                            validate::MAX_STEP_LIMIT
                        ),
                    ));
                }
            }
            if workflows.insert(name.to_owned(), (Arc::from(name), wf)).is_some() {
                return Err(Error::workflow("workflow.duplicate", format!("workflow {name:?} is registered twice")));
            }
        }
        let (path, durability, wait) = (self.path, self.durability, self.wait_for_journal);
        // Waiting for another owner's lock blocks: keep it off the runtime's workers.
        let journal = tokio::task::spawn_blocking(move || Journal::open(path.as_deref(), durability, wait))
            .await
            .map_err(|e| Error::internal(format!("opening the journal panicked: {e}")))??;
        let inner = Arc::new(Inner {
            journal: Mutex::new(journal),
            clock: self.clock,
            defaults: ResolvedStepConfig::defaults(self.retry_delay),
            env: self.env,
            sink: self.sink,
            transport: self.transport,
            modifiers: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            workflows,
            live: Mutex::new(HashMap::new()),
            timers: Mutex::new(BTreeSet::new()),
            timers_changed: Notify::new(),
            shutdown: Notify::new(),
            closed: AtomicBool::new(false),
            runtime: tokio::runtime::Handle::current(),
        });
        inner.recover()?;
        tokio::spawn(scheduler(inner.clone()));
        Ok(Engine { inner: inner.clone(), _guard: Arc::new(ShutdownGuard(inner)) })
    }
}

/// Something workflows can be registered with: the engine's builder and the test harness's.
/// The generated registry's `register_all` takes any of them.
pub trait Registrar: Sized {
    fn register<W: Workflow>(self) -> Self;
}

impl Registrar for EngineBuilder {
    fn register<W: Workflow>(self) -> Self {
        EngineBuilder::register::<W>(self)
    }
}

struct ShutdownGuard(Arc<Inner>);

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The embedded durable engine. Cheap to clone; the scheduler stops when the last clone drops.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
    _guard: Arc<ShutdownGuard>,
}

impl Engine {
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            path: None,
            clock: Arc::new(SystemClock),
            retry_delay: DEFAULT_RETRY_DELAY,
            env: Env::new(),
            sink: Arc::new(StderrSink),
            transport: Arc::new(NativeTransport),
            durability: Durability::Full,
            wait_for_journal: None,
            workflows: Vec::new(),
        }
    }

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

impl Inner {
    fn key(&self, workflow: &str, id: &str) -> Result<InstanceKey> {
        let (name, _) = self.registered(workflow)?;
        Ok(InstanceKey { workflow: name, id: Arc::from(id) })
    }

    fn registered(&self, workflow: &str) -> Result<(Arc<str>, Arc<dyn ErasedWorkflow>)> {
        self.workflows.get(workflow).cloned().ok_or_else(|| {
            let mut known: Vec<&str> = self.workflows.keys().map(String::as_str).collect();
            known.sort_unstable();
            Error::workflow(
                "workflow.not_found",
                format!("no workflow named {workflow:?} is registered; known workflows: {}", known.join(", ")),
            )
        })
    }

    fn require_instance(&self, workflow: &str, id: &str) -> Result<InstanceRow> {
        lock(&self.journal).instance(workflow, id).map_err(storage("read of an instance"))?.ok_or_else(|| {
            Error::workflow("instance.not_found", format!("no instance {id:?} in workflow {workflow:?}"))
        })
    }

    pub fn notify_changed(&self) {
        self.changed.notify_waiters();
    }

    /// Picks up what a previous process left: runnable instances run, sleeping ones get their
    /// timer back, a pause that was in progress completes.
    fn recover(self: &Arc<Self>) -> Result<()> {
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

    pub fn add_timer(&self, at: i64, key: InstanceKey) {
        let mut timers = lock(&self.timers);
        let earliest = timers.first().is_none_or(|(first, _)| at < *first);
        timers.insert((at, key));
        if earliest {
            self.timers_changed.notify_one();
        }
    }

    /// Stops the scheduler and every running body; started attempts count as interrupted,
    /// exactly as after a crash, and resume when the journal is opened again.
    fn stop(&self) -> Vec<Arc<Control>> {
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

    fn spawn_drive(self: &Arc<Self>, key: InstanceKey, reason: Reason) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let inner = self.clone();
        self.runtime.spawn(async move { inner.drive(key, reason).await });
    }

    /// Becomes the owner of `key`, or returns the current owner.
    fn try_own(&self, key: &InstanceKey, runner: bool) -> std::result::Result<Arc<Control>, Arc<Control>> {
        let mut live = lock(&self.live);
        if let Some(owner) = live.get(key) {
            return Err(owner.clone());
        }
        let control = Control::new(runner);
        live.insert(key.clone(), control.clone());
        Ok(control)
    }

    /// Waits until `key` can be owned by an operation; with `abort`, stops a running body first.
    async fn own_exclusive(&self, key: &InstanceKey, abort: bool) -> Arc<Control> {
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

    /// Gives up ownership; `last_write` runs under the ownership lock so it cannot race with
    /// a pause or an event arriving. A poke that arrived meanwhile starts a new drive.
    fn release(self: &Arc<Self>, key: &InstanceKey, control: &Arc<Control>, last_write: impl FnOnce(&Self)) {
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
    async fn drive(self: Arc<Self>, key: InstanceKey, reason: Reason) {
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
                self.sink.write(crate::context::Level::Error, &format!("[lunora] instance {}: {err}", key.id));
                let now = self.clock.now();
                self.release(&key, &control, |inner| {
                    let _ = lock(&inner.journal).finish(
                        &key.workflow,
                        &key.id,
                        InstanceStatusKind::Errored,
                        None,
                        Some(&err),
                        None,
                        now,
                    );
                });
            }
        }
    }

    async fn drive_owned(
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

    fn new_run(self: &Arc<Self>, key: &InstanceKey, control: &Arc<Control>, mode: Mode) -> Result<Arc<Run>> {
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

    fn start_body(
        &self,
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
        };
        let dispatch = Dispatcher::for_body(
            self.transport.clone(),
            self.clock.clone(),
            self.env.clone(),
            wf.export_name(),
            &key.id,
        );
        wf.start(row.params.clone(), WorkflowStep::new(run.clone()), event, self.env.clone(), run.log.clone(), dispatch)
    }

    pub(crate) fn modifiers_for(&self, key: &InstanceKey) -> Option<Arc<Modifiers>> {
        let mods = lock(&self.modifiers);
        mods.get(&(key.workflow.clone(), Some(key.id.clone())))
            .or_else(|| mods.get(&(key.workflow.clone(), None)))
            .cloned()
    }

    // ----- operations ------------------------------------------------------------------

    fn create_one(&self, workflow: &str, req: &CreateRequest) -> Result<(String, String, Option<String>)> {
        let (_, wf) = self.registered(workflow)?;
        let id = req.id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        validate::instance_id(&id)?;
        let params = req.params.clone().unwrap_or_else(|| json!({}));
        let text = params.to_string();
        validate::size("params", text.len()).map_err(|why| Error::workflow("instance.invalid_params", why))?;
        wf.check_params(&params).map_err(|why| {
            Error::workflow("instance.invalid_params", format!("params do not match workflow {workflow:?}: {why}"))
        })?;
        let retention = req.retention.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default());
        Ok((id, text, retention))
    }

    fn after_create(self: &Arc<Self>, workflow: &str, id: &str) -> Result<()> {
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

    fn status(&self, workflow: &str, id: &str) -> Result<RawStatus> {
        self.registered(workflow)?;
        let row = self.require_instance(workflow, id)?;
        Ok(InstanceStatus { status: row.status, error: row.error, output: row.output, rollback: row.rollback })
    }

    async fn pause(self: &Arc<Self>, workflow: &str, id: &str) -> Result<()> {
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

    async fn resume(self: &Arc<Self>, workflow: &str, id: &str) -> Result<()> {
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

    async fn terminate(self: &Arc<Self>, workflow: &str, id: &str, rollback: bool) -> Result<()> {
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

    async fn terminate_owned(
        self: &Arc<Self>,
        key: &InstanceKey,
        control: &Arc<Control>,
        rollback: bool,
    ) -> Result<LastWrite> {
        let row = self.require_instance(&key.workflow, &key.id)?;
        if row.status.is_terminal() {
            return Err(Error::workflow(
                "instance.cannot_terminate",
                format!("instance {:?} is already {} and cannot be terminated", key.id, row.status),
            ));
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

    async fn restart(self: &Arc<Self>, workflow: &str, id: &str, from: Option<RestartFrom>) -> Result<()> {
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
                        None => {
                            return Err(Error::workflow(
                                "instance.cannot_restart",
                                format!(
                                    "instance {id:?} has no {} step {:?} with count {} to restart from",
                                    target.kind.as_str(),
                                    target.name,
                                    target.count
                                ),
                            ))
                        }
                    }
                }
            };
            lock(&self.journal).reset(workflow, id, keep_before).map_err(storage("restart"))?;
            control.poke.store(true, Ordering::SeqCst);
            Ok(())
        })();
        self.release(&key, &control, |_| {});
        result
    }

    async fn send_event(self: &Arc<Self>, workflow: &str, id: &str, event_type: &str, payload: Json) -> Result<()> {
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

/// What a rollback chain leaves to write: the end of the instance, or a timer.
fn chain_end(chain: Chain, phase: &Phase) -> Option<LastWrite> {
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
enum LastWrite {
    Finish { status: InstanceStatusKind, output: Option<String>, error: Option<Error>, rollback: Option<RollbackState> },
    Suspend { wake_at: Option<i64> },
}

impl LastWrite {
    fn errored(error: Error, rollback: Option<RollbackState>) -> Self {
        LastWrite::Finish { status: InstanceStatusKind::Errored, output: None, error: Some(error), rollback }
    }

    fn write(self, inner: &Inner, key: &InstanceKey, control: &Control) {
        let now = inner.clock.now();
        let mut journal = lock(&inner.journal);
        let result = match self {
            LastWrite::Finish { status, output, error, rollback } => journal.finish(
                &key.workflow,
                &key.id,
                status,
                output.as_deref(),
                error.as_ref(),
                rollback.as_ref(),
                now,
            ),
            LastWrite::Suspend { wake_at } => {
                if control.pause.load(Ordering::SeqCst) {
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
            inner.sink.write(
                crate::context::Level::Error,
                &format!("[lunora] instance {}: journal write failed: {e}", key.id),
            );
        }
    }
}

/// Fires timers: sleeps until the earliest one on the engine's clock, then drives its instance.
/// Stops when the last [`Engine`] handle is dropped.
async fn scheduler(inner: Arc<Inner>) {
    loop {
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
            timers.first().map(|(at, _)| *at)
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

/// The engine behind the typed handles.
struct EngineBackend(Arc<Inner>);

impl WorkflowsBackend for EngineBackend {
    fn create<'a>(&'a self, workflow: &'a str, request: CreateRequest) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let (id, params, retention) = self.0.create_one(workflow, &request)?;
            let new = NewInstance {
                workflow,
                id: &id,
                params: &params,
                retention: retention.as_deref(),
                created_at: self.0.clock.now(),
            };
            let inserted = lock(&self.0.journal).insert_instance(&new).map_err(storage("create"))?;
            if !inserted {
                return Err(Error::workflow(
                    "instance.already_exists",
                    format!("an instance with id {id:?} already exists in workflow {workflow:?}"),
                ));
            }
            self.0.after_create(workflow, &id)?;
            Ok(id)
        })
    }

    fn create_batch<'a>(
        &'a self,
        workflow: &'a str,
        requests: Vec<CreateRequest>,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            if requests.is_empty() || requests.len() > validate::MAX_BATCH {
                return Err(Error::workflow(
                    "instance.invalid_batch",
                    format!("createBatch takes 1 to {} instances, got {}", validate::MAX_BATCH, requests.len()),
                ));
            }
            let prepared = requests.iter().map(|r| self.0.create_one(workflow, r)).collect::<Result<Vec<_>>>()?;
            let now = self.0.clock.now();
            let news: Vec<NewInstance<'_>> = prepared
                .iter()
                .map(|(id, params, retention)| NewInstance {
                    workflow,
                    id,
                    params,
                    retention: retention.as_deref(),
                    created_at: now,
                })
                .collect();
            let inserted = lock(&self.0.journal).insert_instances(&news).map_err(storage("createBatch"))?;
            for ((id, _, _), new) in prepared.iter().zip(inserted) {
                if new {
                    self.0.after_create(workflow, id)?;
                }
            }
            Ok(prepared.into_iter().map(|(id, _, _)| id).collect())
        })
    }

    fn exists<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.0.registered(workflow)?;
            self.0.require_instance(workflow, id).map(drop)
        })
    }

    fn status<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<RawStatus>> {
        Box::pin(async move { self.0.status(workflow, id) })
    }

    fn pause<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.pause(workflow, id).await })
    }

    fn resume<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.resume(workflow, id).await })
    }

    fn terminate<'a>(&'a self, workflow: &'a str, id: &'a str, rollback: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.terminate(workflow, id, rollback).await })
    }

    fn restart<'a>(&'a self, workflow: &'a str, id: &'a str, from: Option<RestartFrom>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.restart(workflow, id, from).await })
    }

    fn send_event<'a>(
        &'a self,
        workflow: &'a str,
        id: &'a str,
        event_type: &'a str,
        payload: Json,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.send_event(workflow, id, event_type, payload).await })
    }
}
