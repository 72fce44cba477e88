//! One execution of a workflow body against its journal: the embedded [`StepBackend`].
//!
//! A step that must wait *parks*: its future never resolves and it records when the instance
//! should wake. [`Run::execute`] polls the body and, as soon as nothing is in flight and some
//! branch is parked, stops and reports `Suspended`; the engine then drops the body (hibernation).
//!
//! A sleep or retry delay no longer than the engine's in-memory wait limit does not park: it
//! waits *in memory* on the engine's clock and the body goes on in the same execution, which
//! saves replaying the body from the top after every short wait. Its journal rows are written
//! as for a parked wait, so a crash during it recovers by replay. Pause, shutdown, terminate
//! and delete still stop the body there: `execute` checks them whenever it is woken, and drops
//! the body, in-memory waits included, as it does a parked one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use super::control::{Control, InstanceKey};
use super::state::Inner;
use super::stream_output;
use crate::config::{ResolvedStepConfig, StepConfig};
use crate::duration::{millis, DurationInput};
use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::local::journal::{storage, AttemptRecord, RowKind, StepRow, StepState};
use crate::local::modifiers::{MockedAttempt, Modifiers};
use crate::local::mutex::lock;
use crate::local::validate;
use crate::log::Logger;
use crate::status::{Event, RollbackOutcome, RollbackState, StepId, Timestamp};
use crate::step::{AttemptFn, RollbackContext, RollbackSpec, StepBackend, StepContext, UNSERIALIZABLE};

const MAX_WAIT_MS: i64 = 365 * 24 * 3_600_000;
const DEFAULT_EVENT_TIMEOUT_MS: i64 = 24 * 3_600_000;

/// What the execution is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Normal forward execution.
    Normal,
    /// Replays memoised steps only, to re-register rollback handlers; parks at the first
    /// step that is not finished.
    Collect,
    /// Rollback handlers are running: new steps are refused.
    RollingBack,
}

/// How a rollback chain run ended.
pub(crate) enum Chain {
    Done(RollbackState),
    /// A rollback waits for its next attempt until this time.
    Suspended(i64),
    /// Stopped by terminate or restart.
    Aborted,
}

enum RollbackStep {
    Done,
    WaitUntil(i64),
    Aborted,
}

/// How an execution ended.
pub(crate) enum Outcome {
    Finished(Result<Json>),
    /// Every live branch waits; wake at this time (`None`: only an event or resume wakes it).
    Suspended {
        wake_at: Option<i64>,
    },
    /// Failed in a way that skips rollback (an unserialisable value, a journal failure).
    Fatal(Error),
    /// Stopped by terminate or restart.
    Aborted,
}

struct Registration {
    name: String,
    count: u32,
    spec: RollbackSpec,
    attempt: u32,
    config: ResolvedStepConfig,
    output: Option<Json>,
}

/// A rollback the chain owes: its handler, or only the step (name, count) when the code no
/// longer registers one.
enum Owed {
    Handler(Registration),
    Missing(String, u32),
}

struct RunState {
    mode: Mode,
    journal: HashMap<(RowKind, String, u32), StepRow>,
    counts: HashMap<(RowKind, String), u32>,
    do_calls: u32,
    next_seq: i64,
    in_flight: u32,
    parked: u32,
    wake_at: Option<i64>,
    /// Branches waiting in memory, by (wake time, id).
    in_memory: BTreeSet<(i64, u64)>,
    next_wait_id: u64,
    /// The instance's status reads `waiting` because every branch waits in memory.
    shown_waiting: Option<i64>,
    fatal: Option<Error>,
    rollbacks: BTreeMap<i64, Registration>,
}

pub(crate) struct Run {
    inner: Arc<Inner>,
    key: InstanceKey,
    pub log: Logger,
    step_limit: u32,
    control: Arc<Control>,
    modifiers: Option<Arc<Modifiers>>,
    state: Mutex<RunState>,
}

impl Run {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inner: Arc<Inner>,
        key: InstanceKey,
        export_name: &str,
        step_limit: u32,
        control: Arc<Control>,
        modifiers: Option<Arc<Modifiers>>,
        steps: Vec<StepRow>,
        mode: Mode,
    ) -> Arc<Self> {
        let next_seq = steps.iter().map(|s| s.seq + 1).max().unwrap_or(1);
        let journal = steps.into_iter().map(|s| ((s.kind, s.name.clone(), s.count), s)).collect();
        let log = Logger::new(export_name, inner.sink.clone());
        let state = RunState {
            mode,
            journal,
            counts: HashMap::new(),
            do_calls: 0,
            next_seq,
            in_flight: 0,
            parked: 0,
            wake_at: None,
            in_memory: BTreeSet::new(),
            next_wait_id: 0,
            shown_waiting: None,
            fatal: None,
            rollbacks: BTreeMap::new(),
        };
        Arc::new(Self { inner, key, log, step_limit, control, modifiers, state: Mutex::new(state) })
    }

    fn st(&self) -> std::sync::MutexGuard<'_, RunState> {
        lock(&self.state)
    }

    fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// Polls the body until it finishes, every branch waits, or an owner stops it.
    pub async fn execute(&self, mut body: BoxFuture<'static, Result<Json>>) -> Outcome {
        poll_fn(|cx| {
            if self.control.abort.load(Ordering::SeqCst) {
                return Poll::Ready(Outcome::Aborted);
            }
            self.control.set_waker(cx.waker());
            let polled = catch_panic(|| body.as_mut().poll(cx));
            let mut st = self.st();
            // A fatal failure wins even if the body finished in the same poll.
            if let Some(err) = st.fatal.take() {
                return Poll::Ready(Outcome::Fatal(err));
            }
            match polled {
                Ok(Poll::Ready(result)) => return Poll::Ready(Outcome::Finished(result)),
                Err(panic) => return Poll::Ready(Outcome::Finished(Err(panic))),
                Ok(Poll::Pending) => {}
            }
            let pausing = self.pausing();
            if st.in_flight == 0 && (st.parked > 0 || pausing) {
                // In-memory waits end with the body: their wake times go to the timer.
                let in_memory = st.in_memory.first().map(|(at, _)| *at);
                let wake_at = match (st.wake_at, in_memory) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                return Poll::Ready(Outcome::Suspended { wake_at });
            }
            // `waiting` while every branch waits in memory, as a hibernating instance reads.
            let waiting = if st.in_flight == 0 { st.in_memory.first().map(|(at, _)| *at) } else { None };
            if waiting != st.shown_waiting {
                st.shown_waiting = waiting;
                drop(st);
                self.show_status(waiting);
            }
            Poll::Pending
        })
        .await
    }

    /// Whether a wait that ends at `wake_at` is short enough to be waited in memory.
    fn waits_in_memory(&self, wake_at: i64, now: i64) -> bool {
        self.mode() == Mode::Normal && wake_at.saturating_sub(now) <= self.inner.in_memory_wait_ms
    }

    /// Waits until `wake_at` on the engine's clock with the body kept alive. Dropping the body
    /// (pause, shutdown, terminate, a parked sibling) ends the wait; its journal row already
    /// says when the instance wakes.
    async fn wait_in_memory(&self, wake_at: i64) {
        let entry = {
            let mut st = self.st();
            let id = st.next_wait_id;
            st.next_wait_id += 1;
            st.in_memory.insert((wake_at, id));
            (wake_at, id)
        };
        let waiting = InMemoryWait { run: self, entry };
        // A timer may fire a hair early by the clock's reading (the system clock's ms against
        // tokio's monotonic timer): the wait ends only once the clock says so.
        while self.now() < wake_at {
            self.inner.clock.sleep_until(wake_at).await;
        }
        drop(waiting);
        let shown = self.st().shown_waiting.take();
        if shown.is_some() {
            self.show_status(None);
        }
    }

    /// Shows, while the body stays in memory, that every branch waits until `wake_at` (the
    /// status a hibernating instance has), or with `None` that it runs again. Written under the
    /// ownership lock so it cannot overwrite the status of a pause asked meanwhile, and not
    /// fsynced: after a crash either status recovers the same way.
    fn show_status(&self, wake_at: Option<i64>) {
        let _live = lock(&self.inner.live);
        if self.pausing() || self.control.abort.load(Ordering::SeqCst) {
            return; // the owner's last write says where the instance stands
        }
        let now = self.now();
        let mut journal = lock(&self.inner.journal);
        let written = match wake_at {
            Some(at) => journal.mark_waiting_in_memory(&self.key.workflow, &self.key.id, at),
            None => journal.mark_running(&self.key.workflow, &self.key.id, now),
        };
        drop(journal);
        match written {
            Ok(()) => self.inner.notify_changed(),
            // Only the status shown is at stake: the step rows say what waits.
            Err(e) => self.inner.sink.write(
                crate::log::Level::Error,
                &format!("[lunora] instance {}: journal status write failed: {e}", self.key.id),
            ),
        }
    }

    pub fn has_rollbacks(&self) -> bool {
        !self.st().rollbacks.is_empty()
    }

    /// Never resolves: this branch waits until `wake_at` (or an event / resume).
    async fn park<T>(&self, wake_at: Option<i64>) -> T {
        {
            let mut st = self.st();
            st.parked += 1;
            if let Some(at) = wake_at {
                st.wake_at = Some(st.wake_at.map_or(at, |w| w.min(at)));
            }
        }
        std::future::pending().await
    }

    /// Fails the instance without rollback and parks this branch.
    async fn fail_fatally<T>(&self, err: Error) -> T {
        self.st().fatal = Some(err);
        self.park(None).await
    }

    /// Allocates the next occurrence count of a step name, at call time.
    fn allocate(&self, kind: RowKind, name: &str) -> u32 {
        let mut st = self.st();
        let count = st.counts.entry((kind, name.to_owned())).or_insert(0);
        *count += 1;
        *count
    }

    fn stored(&self, kind: RowKind, name: &str, count: u32) -> Option<StepRow> {
        self.st().journal.get(&(kind, name.to_owned(), count)).cloned()
    }

    fn new_row(&self, kind: RowKind, name: &str, count: u32, state: StepState) -> StepRow {
        let seq = {
            let mut st = self.st();
            let seq = st.next_seq;
            st.next_seq += 1;
            seq
        };
        StepRow {
            kind,
            name: name.to_owned(),
            count,
            seq,
            state,
            attempts: 0,
            output: None,
            error: None,
            config: None,
            started_at: self.now(),
            ended_at: None,
            wake_at: None,
            attempt_log: Vec::new(),
        }
    }

    /// Writes a step row to the journal and the in-memory copy.
    fn save(&self, row: &StepRow, durable: bool) -> Result<()> {
        lock(&self.inner.journal)
            .put_step(&self.key.workflow, &self.key.id, row, durable)
            .map_err(storage("step write"))?;
        self.st().journal.insert((row.kind, row.name.clone(), row.count), row.clone());
        self.inner.notify_changed();
        Ok(())
    }

    /// [`Self::save`] for a wait, whose events name the event type it waits for.
    fn save_wait(&self, row: &StepRow, durable: bool, event_type: &str) -> Result<()> {
        lock(&self.inner.journal)
            .put_wait_step(&self.key.workflow, &self.key.id, row, durable, event_type)
            .map_err(storage("step write"))?;
        self.st().journal.insert((row.kind, row.name.clone(), row.count), row.clone());
        self.inner.notify_changed();
        Ok(())
    }

    /// Writes a finished step row durably, sharing its fsync with the completions of other
    /// instances committed meanwhile (see `group_commit`); returns once it is on disk.
    async fn save_durable(&self, row: &StepRow) -> Result<()> {
        let pending = lock(&self.inner.journal)
            .put_step_grouped(&self.key.workflow, &self.key.id, row)
            .map_err(storage("step write"))?;
        if let Some(pending) = pending {
            pending.durable().await.map_err(|e| Error::internal(format!("journal step write failed: {e}")))?;
        }
        self.st().journal.insert((row.kind, row.name.clone(), row.count), row.clone());
        self.inner.notify_changed();
        Ok(())
    }

    fn mode(&self) -> Mode {
        self.st().mode
    }

    fn refuse_during_rollback(&self) -> Result<()> {
        if self.mode() == Mode::RollingBack {
            return Err(Error::fatal("Cannot execute steps during rollback phase"));
        }
        Ok(())
    }

    /// Paused or draining for a shutdown: no new step starts, the ones in flight finish.
    fn pausing(&self) -> bool {
        self.control.pause.load(Ordering::SeqCst) || self.control.drain.load(Ordering::SeqCst)
    }

    fn step_context(&self, name: &str, count: u32, attempt: u32, config: ResolvedStepConfig) -> StepContext {
        StepContext {
            step: StepId { name: name.to_owned(), count },
            attempt,
            config,
            env: self.inner.env.clone(),
            log: self.log.clone(),
            dispatch: None,
            http: crate::http::Client::with_transport(self.inner.transport.clone()),
        }
    }

    fn register_rollback(&self, spec: &Option<RollbackSpec>, row: &StepRow) {
        let Some(spec) = spec else { return };
        let registration = Registration {
            name: row.name.clone(),
            count: row.count,
            spec: spec.clone(),
            attempt: row.attempts.max(1),
            config: row.config.clone().unwrap_or_else(|| self.inner.defaults.clone()),
            output: if row.state == StepState::Done { row.output.clone() } else { None },
        };
        self.st().rollbacks.insert(row.seq, registration);
    }

    /// Runs the registered rollback handlers in reverse step-start order, each as a durable
    /// step with its own retries; stops at the first that exhausts them. A retry delay
    /// suspends the chain like any other timer (the instance hibernates and resumes the chain
    /// when it fires); terminate or restart abort it.
    pub async fn run_rollbacks(&self, error: &Error) -> Chain {
        let owed: Vec<(i64, Owed)> = {
            let mut st = self.st();
            st.mode = Mode::RollingBack;
            let mut owed: BTreeMap<i64, Owed> =
                std::mem::take(&mut st.rollbacks).into_iter().map(|(seq, reg)| (seq, Owed::Handler(reg))).collect();
            // Steps an earlier execution ran with a handler that this one did not register.
            for row in st.journal.values() {
                if row.kind == RowKind::Do && row.config.as_ref().is_some_and(|c| c.rollback) {
                    owed.entry(row.seq).or_insert_with(|| Owed::Missing(row.name.clone(), row.count));
                }
            }
            owed.into_iter().rev().collect()
        };
        for (seq, owed) in owed {
            let reg = match owed {
                Owed::Handler(reg) => reg,
                Owed::Missing(name, count) => match self.missing_rollback(seq, &name, count) {
                    Ok(()) => continue,
                    Err(err) => {
                        return Chain::Done(RollbackState { outcome: RollbackOutcome::Failed, error: Some(err) })
                    }
                },
            };
            match self.run_one_rollback(seq, &reg, error).await {
                Ok(RollbackStep::Done) => {}
                Ok(RollbackStep::WaitUntil(at)) => return Chain::Suspended(at),
                Ok(RollbackStep::Aborted) => return Chain::Aborted,
                Err(err) => return Chain::Done(RollbackState { outcome: RollbackOutcome::Failed, error: Some(err) }),
            }
        }
        Chain::Done(RollbackState { outcome: RollbackOutcome::Complete, error: None })
    }

    /// A rollback owed by a step whose handler the code no longer registers: workerd fails the
    /// chain there (`RollbackMissing`) rather than skip it, and so does the engine. `Ok` when an
    /// earlier execution already ran it.
    fn missing_rollback(&self, seq: i64, name: &str, count: u32) -> Result<()> {
        let row = match self.stored(RowKind::Rollback, name, count) {
            Some(row) if row.state == StepState::Done => return Ok(()),
            Some(row) if row.state == StepState::Failed => {
                return Err(row.error.unwrap_or_else(|| Error::internal("rollback failed")))
            }
            Some(row) => row,
            None => {
                let mut row = self.new_row(RowKind::Rollback, name, count, StepState::Running);
                row.seq = seq;
                row
            }
        };
        self.fail_rollback(row, Error::named("RollbackMissing", "Rollback function not available in registry"))
    }

    async fn run_one_rollback(&self, seq: i64, reg: &Registration, error: &Error) -> Result<RollbackStep> {
        let mut row = match self.stored(RowKind::Rollback, &reg.name, reg.count) {
            Some(row) if row.state == StepState::Done => return Ok(RollbackStep::Done),
            Some(row) if row.state == StepState::Failed => {
                return Err(row.error.unwrap_or_else(|| Error::internal("rollback failed")));
            }
            Some(row) => row,
            None => {
                let mut row = self.new_row(RowKind::Rollback, &reg.name, reg.count, StepState::Running);
                row.seq = seq;
                row
            }
        };
        let label = format!("rollback of {}-{}", reg.name, reg.count);
        let config = match &row.config {
            Some(persisted) => persisted.clone(),
            None => match &reg.spec.config {
                Some(cfg) => cfg.resolve(&self.inner.defaults, &label)?,
                None => self.inner.defaults.clone(),
            },
        };
        row.config = Some(config.clone());
        let forward = self.step_context(&reg.name, reg.count, reg.attempt, reg.config.clone());
        let no_delay = self.modifiers.as_ref().is_some_and(|m| m.retry_delays_disabled(&reg.name));
        loop {
            if self.control.abort.load(Ordering::SeqCst) {
                return Ok(RollbackStep::Aborted);
            }
            let now = self.now();
            if row.state == StepState::Waiting && !no_delay {
                if let Some(at) = row.wake_at.filter(|at| *at > now) {
                    return Ok(RollbackStep::WaitUntil(at));
                }
            }
            if let Some(err) = close_interrupted_attempt(&mut row, now) {
                if row.attempts >= config.max_attempts() {
                    return self.fail_rollback(row, err).map(|()| RollbackStep::Done);
                }
            }
            row.attempts += 1;
            row.state = StepState::Running;
            row.wake_at = None;
            row.attempt_log.push(AttemptRecord { start: now, end: None, success: None, error: None });
            self.save(&row, false)?;
            let rc = RollbackContext {
                ctx: forward.clone(),
                error: error.clone(),
                output: reg.output.clone(),
                env: self.inner.env.clone(),
                log: self.log.clone(),
            };
            let deadline = now + config.timeout_ms;
            let mut handler = (reg.spec.handler)(rc);
            let handler =
                poll_fn(|cx| catch_panic(|| handler.as_mut().poll(cx)).unwrap_or_else(|p| Poll::Ready(Err(p))));
            let result = tokio::select! {
                r = handler => r,
                _ = self.inner.clock.sleep_until(deadline) => Err(timeout_error(config.timeout_ms)),
                _ = self.control.aborted() => return Ok(RollbackStep::Aborted),
            };
            let now = self.now();
            match result {
                Ok(()) => {
                    close_attempt(&mut row, now, None);
                    row.state = StepState::Done;
                    row.ended_at = Some(now);
                    self.save_durable(&row).await?;
                    return Ok(RollbackStep::Done);
                }
                Err(err) => {
                    close_attempt(&mut row, now, Some(err.clone()));
                    if err.is_non_retryable() || row.attempts >= config.max_attempts() {
                        return self.fail_rollback(row, err).map(|()| RollbackStep::Done);
                    }
                    let live_delay =
                        reg.spec.config.as_ref().and_then(|c| c.retries.as_ref()).and_then(|r| r.delay_fn.as_ref());
                    let delay = match retry_delay(&config, live_delay, &reg.name, reg.count, row.attempts, &err) {
                        Ok(delay) => millis(delay),
                        Err(delay_err) => return self.fail_rollback(row, delay_err).map(|()| RollbackStep::Done),
                    };
                    if !no_delay && delay > 0 {
                        row.state = StepState::Waiting;
                        row.wake_at = Some(now + delay);
                    }
                    self.save(&row, false)?;
                }
            }
        }
    }

    /// Drops what this execution registered: rollback handlers may hold `ctx.step`, which
    /// holds this run, and would otherwise keep it alive forever.
    pub fn dispose(&self) {
        self.st().rollbacks.clear();
    }

    fn fail_rollback(&self, mut row: StepRow, err: Error) -> Result<()> {
        row.state = StepState::Failed;
        row.error = Some(err.clone());
        row.ended_at = Some(self.now());
        self.save(&row, true)?;
        Err(err)
    }

    async fn do_step_inner<'a>(
        &'a self,
        name: String,
        count: u32,
        config: Option<StepConfig>,
        mut attempt_fn: AttemptFn<'a>,
        rollback: Option<RollbackSpec>,
    ) -> Result<Json> {
        self.refuse_during_rollback()?;
        // The code's delay function, called on every failure (it cannot be journaled).
        let live_delay = config.as_ref().and_then(|c| c.retries.as_ref()).and_then(|r| r.delay_fn.clone());
        let existing = self.stored(RowKind::Do, &name, count);
        if let Some(row) = &existing {
            match row.state {
                StepState::Done => {
                    self.register_rollback(&rollback, row);
                    return Ok(row.output.clone().unwrap_or(Json::Null));
                }
                StepState::Failed => {
                    self.register_rollback(&rollback, row);
                    return Err(row.error.clone().unwrap_or_else(|| Error::internal("step failed")));
                }
                _ => {}
            }
        }
        if self.mode() == Mode::Collect {
            if let Some(row) = &existing {
                self.register_rollback(&rollback, row);
            }
            return self.park(None).await;
        }
        if self.pausing() {
            return self.park(None).await;
        }
        let mut row = match existing {
            Some(row) => row,
            None => {
                let mut resolved = match &config {
                    Some(cfg) => cfg.resolve(&self.inner.defaults, &name)?,
                    None => self.inner.defaults.clone(),
                };
                resolved.rollback = rollback.is_some();
                let mut row = self.new_row(RowKind::Do, &name, count, StepState::Running);
                row.config = Some(resolved);
                row
            }
        };
        // The config persisted at first execution wins over the code's current one.
        let config = row.config.clone().unwrap_or_else(|| self.inner.defaults.clone());
        self.register_rollback(&rollback, &row);
        loop {
            let now = self.now();
            if let Some(err) = close_interrupted_attempt(&mut row, now) {
                if row.attempts >= config.max_attempts() {
                    return self.fail_step(row, err, &rollback);
                }
            }
            if row.state == StepState::Waiting {
                if let Some(at) = row.wake_at.filter(|at| *at > now) {
                    if !self.waits_in_memory(at, now) {
                        return self.park(Some(at)).await;
                    }
                    self.wait_in_memory(at).await;
                    continue;
                }
            }
            if self.pausing() {
                return self.park(None).await;
            }
            row.attempts += 1;
            row.state = StepState::Running;
            row.wake_at = None;
            row.attempt_log.push(AttemptRecord { start: now, end: None, success: None, error: None });
            // Not fsynced: losing this marker on power loss only un-counts one attempt.
            self.save(&row, false)?;
            self.st().in_flight += 1;
            let ctx = self.step_context(&name, count, row.attempts, config.clone());
            let result = self.attempt(&name, count, &config, &mut attempt_fn, ctx).await;
            self.st().in_flight -= 1;
            let now = self.now();
            match result {
                Ok(output) => {
                    let size = output.to_string().len();
                    if let Err(why) = validate::size("the output", size) {
                        let err = Error::internal(format!("Step {name}-{count} output is too large: {why}"));
                        close_attempt(&mut row, now, Some(err.clone()));
                        return self.fail_step(row, err, &rollback);
                    }
                    close_attempt(&mut row, now, None);
                    row.state = StepState::Done;
                    row.output = Some(output.clone());
                    row.ended_at = Some(now);
                    self.save_durable(&row).await?;
                    self.register_rollback(&rollback, &row);
                    return Ok(output);
                }
                // A stream step's stream failed, or broke a limit, after it was returned: the
                // instance ends, as in workerd (the attempt's bytes are already discarded).
                Err(err) if crate::step_bytes::ends_instance(&name, &err).is_some() => {
                    let (step_error, instance_error) =
                        crate::step_bytes::ends_instance(&name, &err).expect("checked by the guard");
                    close_attempt(&mut row, now, Some(step_error));
                    row.state = StepState::Failed;
                    row.ended_at = Some(now);
                    self.save(&row, true)?;
                    return self.fail_fatally(instance_error).await;
                }
                Err(err) if err.name() == UNSERIALIZABLE => {
                    let err = Error::fatal(format!(
                        "Step {name}-{count} returned a value that cannot be serialised: {}",
                        err.message()
                    ));
                    return self.fail_fatally(err).await;
                }
                Err(err) => {
                    close_attempt(&mut row, now, Some(err.clone()));
                    if err.is_non_retryable() || row.attempts >= config.max_attempts() {
                        return self.fail_step(row, err, &rollback);
                    }
                    let no_delay = self.modifiers.as_ref().is_some_and(|m| m.retry_delays_disabled(&name));
                    let delay = match retry_delay(&config, live_delay.as_ref(), &name, count, row.attempts, &err) {
                        Ok(delay) => millis(delay),
                        Err(delay_err) => return self.fail_step(row, delay_err, &rollback),
                    };
                    if no_delay || delay == 0 {
                        continue;
                    }
                    row.state = StepState::Waiting;
                    row.wake_at = Some(now + delay);
                    self.save(&row, false)?;
                }
            }
        }
    }

    /// One attempt: a mock if the harness set one, else the callback raced against the timeout.
    async fn attempt<'a>(
        &self,
        name: &str,
        count: u32,
        config: &ResolvedStepConfig,
        attempt_fn: &mut AttemptFn<'a>,
        ctx: StepContext,
    ) -> Result<Json> {
        match self.modifiers.as_ref().and_then(|m| m.attempt(name, count)) {
            Some(MockedAttempt::Result(v)) => return Ok(v),
            Some(MockedAttempt::Error(e)) => return Err(e),
            Some(MockedAttempt::Timeout) => return Err(timeout_error(config.timeout_ms)),
            None => {}
        }
        let deadline = self.now() + config.timeout_ms;
        let mut attempt = attempt_fn(ctx);
        let attempt = poll_fn(|cx| catch_panic(|| attempt.as_mut().poll(cx)).unwrap_or_else(|p| Poll::Ready(Err(p))));
        tokio::select! {
            r = attempt => r,
            _ = self.inner.clock.sleep_until(deadline) => Err(timeout_error(config.timeout_ms)),
        }
    }

    fn fail_step(&self, mut row: StepRow, err: Error, rollback: &Option<RollbackSpec>) -> Result<Json> {
        row.state = StepState::Failed;
        row.error = Some(err.clone());
        row.ended_at = Some(self.now());
        row.wake_at = None;
        self.save(&row, true)?;
        self.register_rollback(rollback, &row);
        Err(err)
    }

    /// Shared by `sleep` and `sleep_until`: `target` computes the wake time at first call.
    async fn sleep_inner(&self, name: String, count: u32, target: impl FnOnce(i64) -> Result<i64>) -> Result<()> {
        self.refuse_during_rollback()?;
        let existing = self.stored(RowKind::Sleep, &name, count);
        if existing.as_ref().is_some_and(|r| r.state == StepState::Done) {
            return Ok(());
        }
        if self.mode() == Mode::Collect || self.pausing() {
            return self.park(None).await;
        }
        let now = self.now();
        let mut row = match existing {
            Some(row) => row,
            None => {
                let wake_at = target(now)?;
                let mut row = self.new_row(RowKind::Sleep, &name, count, StepState::Waiting);
                // The instant the wake time counts from, so a row never shows a shorter sleep.
                row.started_at = now;
                row.wake_at = Some(wake_at);
                row
            }
        };
        let skip = self.modifiers.as_ref().is_some_and(|m| m.sleeps_disabled(&name));
        let wake_at = row.wake_at.unwrap_or(now);
        if skip || wake_at <= now {
            row.state = StepState::Done;
            row.ended_at = Some(now);
            row.wake_at = None;
            return self.save_durable(&row).await;
        }
        self.save(&row, false)?;
        if !self.waits_in_memory(wake_at, now) {
            return self.park(Some(wake_at)).await;
        }
        self.wait_in_memory(wake_at).await;
        let now = self.now();
        row.state = StepState::Done;
        row.ended_at = Some(now);
        row.wake_at = None;
        self.save_durable(&row).await
    }

    async fn wait_inner(
        &self,
        name: String,
        count: u32,
        event_type: String,
        timeout: Option<DurationInput>,
    ) -> Result<Event<Json>> {
        self.refuse_during_rollback()?;
        validate::event_type(&event_type)?;
        let existing = self.stored(RowKind::WaitForEvent, &name, count);
        match &existing {
            Some(row) if row.state == StepState::Done => {
                return decode_event(row.output.clone().unwrap_or(Json::Null));
            }
            Some(row) if row.state == StepState::Failed => {
                return Err(row.error.clone().unwrap_or_else(|| Error::timeout("event wait timed out")));
            }
            _ => {}
        }
        if self.mode() == Mode::Collect || self.pausing() {
            return self.park(None).await;
        }
        let timeout_ms = match timeout {
            None => DEFAULT_EVENT_TIMEOUT_MS,
            Some(t) => {
                let ms = t
                    .resolve()
                    .map(millis)
                    .map_err(|e| Error::fatal(format!("waitForEvent \"{name}\": timeout: {e}")))?;
                // workerd takes any timeout (0 and sub-second ones time out that soon); the
                // upper bound is production's limit on a wait.
                if ms > MAX_WAIT_MS {
                    return Err(Error::fatal(format!(
                        "waitForEvent \"{name}\": timeout is {ms}ms, it must be at most 365 days"
                    )));
                }
                ms
            }
        };
        let now = self.now();
        let fresh = existing.is_none();
        let mut row = existing.unwrap_or_else(|| {
            let mut row = self.new_row(RowKind::WaitForEvent, &name, count, StepState::Waiting);
            row.started_at = now;
            row.wake_at = Some(now + timeout_ms);
            row
        });
        let forced = self.modifiers.as_ref().is_some_and(|m| m.event_timeout(&name, count));
        if !forced {
            let consumed = lock(&self.inner.journal)
                .consume_event(&self.key.workflow, &self.key.id, &event_type, &mut row, now)
                .map_err(storage("event delivery"))?;
            if let Some(event) = consumed {
                self.st().journal.insert((row.kind, row.name.clone(), row.count), row.clone());
                self.inner.notify_changed();
                return decode_event(event);
            }
        }
        let deadline = row.wake_at.unwrap_or(now);
        if forced || deadline <= now {
            // workerd's own wording (checked by the conformance corpus, eventTimeoutCaught).
            let err = Error::timeout(format!("Execution timed out after {timeout_ms}ms"));
            row.state = StepState::Failed;
            row.error = Some(err.clone());
            row.ended_at = Some(now);
            row.wake_at = None;
            self.save_wait(&row, true, &event_type)?;
            return Err(err);
        }
        if fresh {
            self.save_wait(&row, false, &event_type)?;
        }
        self.park(Some(deadline)).await
    }
}

/// A branch's entry among the in-memory waits, removed however the wait ends.
struct InMemoryWait<'a> {
    run: &'a Run,
    entry: (i64, u64),
}

impl Drop for InMemoryWait<'_> {
    fn drop(&mut self) {
        self.run.st().in_memory.remove(&self.entry);
    }
}

/// Runs `poll`, turning a panic into an ordinary (retryable) error so one bad step cannot take
/// the engine's task, and the instance with it, down.
fn catch_panic<T>(poll: impl FnOnce() -> T) -> std::result::Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(poll)).map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_owned());
        Error::new(format!("panicked: {what}"))
    })
}

fn timeout_error(timeout_ms: i64) -> Error {
    Error::timeout(format!("Execution timed out after {timeout_ms}ms"))
}

fn decode_event(json: Json) -> Result<Event<Json>> {
    serde_json::from_value(json).map_err(|e| Error::internal(format!("stored event is malformed: {e}")))
}

fn close_attempt(row: &mut StepRow, now: i64, error: Option<Error>) {
    if let Some(last) = row.attempt_log.last_mut() {
        last.end = Some(now);
        last.success = Some(error.is_none());
        last.error = error.clone();
    }
    if error.is_some() {
        row.error = error;
    }
}

/// An attempt that started but never ended was interrupted by a crash: it counts as failed.
fn close_interrupted_attempt(row: &mut StepRow, now: i64) -> Option<Error> {
    let open = row.state == StepState::Running && row.attempt_log.last().is_some_and(|a| a.end.is_none());
    if !open {
        return None;
    }
    let err = Error::internal(format!(
        "attempt {} of step {}-{} was interrupted (the engine stopped while it ran)",
        row.attempts, row.name, row.count
    ));
    close_attempt(row, now, Some(err.clone()));
    Some(err)
}

impl Run {
    /// Runs (or replays) stream step `name`/`count`: a `do` step whose attempts persist the
    /// callback's stream (see `stream_output`), answered with a reader over the stored bytes.
    async fn do_stream<'a>(
        &'a self,
        name: String,
        count: u32,
        config: Option<StepConfig>,
        attempt: crate::step::StreamAttemptFn<'a>,
    ) -> Result<crate::step_bytes::StepBytes> {
        let key = crate::local::journal::StreamKey {
            workflow: self.key.workflow.to_string(),
            instance: self.key.id.to_string(),
            name: name.clone(),
            count,
        };
        let persisting = stream_output::persisting(self.inner.clone(), key.clone(), attempt);
        match self.do_step_inner(name, count, config, persisting, None).await {
            Ok(_preview) => stream_output::open(&self.inner, key),
            Err(err) => {
                stream_output::discard(&self.inner, &key);
                Err(err)
            }
        }
    }

    /// Gives a `do` step its count (at call time) and checks the step limit and its name.
    fn admit_do(&self, name: &str) -> (u32, Result<()>) {
        let count = self.allocate(RowKind::Do, name);
        let mut st = self.st();
        st.do_calls += 1;
        let admitted = if st.do_calls > self.step_limit {
            Err(Error::fatal(format!(
                "The limit of {} steps has been reached. Raise limits.steps (at most {}) or split the work across instances.",
                self.step_limit,
                validate::MAX_STEP_LIMIT
            )))
        } else {
            validate::step_name(name)
        };
        (count, admitted)
    }
}

impl StepBackend for Run {
    fn do_step<'a>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        attempt: AttemptFn<'a>,
        rollback: Option<RollbackSpec>,
    ) -> BoxFuture<'a, Result<Json>> {
        let (count, admitted) = self.admit_do(&name);
        Box::pin(async move {
            admitted?;
            self.do_step_inner(name, count, config, attempt, rollback).await
        })
    }

    fn do_stream_step<'a>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        attempt: crate::step::StreamAttemptFn<'a>,
    ) -> BoxFuture<'a, Result<crate::step_bytes::StepBytes>> {
        let (count, admitted) = self.admit_do(&name);
        Box::pin(async move {
            admitted?;
            self.do_stream(name, count, config, attempt).await
        })
    }

    fn sleep<'a>(&'a self, name: String, duration: DurationInput) -> BoxFuture<'a, Result<()>> {
        let count = self.allocate(RowKind::Sleep, &name);
        let admitted = validate::step_name(&name);
        Box::pin(async move {
            admitted?;
            let label = name.clone();
            self.sleep_inner(name, count, move |now| {
                let ms = duration.resolve().map(millis).map_err(|e| Error::fatal(format!("sleep \"{label}\": {e}")))?;
                if ms > MAX_WAIT_MS {
                    return Err(Error::fatal(format!("sleep \"{label}\": {ms}ms exceeds the maximum of 365 days")));
                }
                Ok(now + ms)
            })
            .await
        })
    }

    fn sleep_until<'a>(&'a self, name: String, at: Timestamp) -> BoxFuture<'a, Result<()>> {
        let count = self.allocate(RowKind::Sleep, &name);
        let admitted = validate::step_name(&name);
        Box::pin(async move {
            admitted?;
            let label = name.clone();
            self.sleep_inner(name, count, move |now| {
                if at.0.saturating_sub(now) > MAX_WAIT_MS {
                    return Err(Error::fatal(format!("sleepUntil \"{label}\": {at} is more than 365 days away")));
                }
                Ok(at.0)
            })
            .await
        })
    }

    fn wait_for_event<'a>(
        &'a self,
        name: String,
        event_type: String,
        timeout: Option<DurationInput>,
    ) -> BoxFuture<'a, Result<Event<Json>>> {
        let count = self.allocate(RowKind::WaitForEvent, &name);
        let admitted = validate::step_name(&name);
        Box::pin(async move {
            admitted?;
            self.wait_inner(name, count, event_type, timeout).await
        })
    }
}

/// The delay before the attempt after `failed_attempt`: from the code's delay function when the
/// step was first run with one (workerd calls the live function too), else from the config.
fn retry_delay(
    config: &ResolvedStepConfig,
    live: Option<&crate::config::DelayFn>,
    name: &str,
    count: u32,
    failed_attempt: u32,
    error: &Error,
) -> Result<std::time::Duration> {
    match live.filter(|_| config.retries.dynamic_delay) {
        Some(delay_fn) => {
            let step = StepId { name: name.to_owned(), count };
            delay_fn.delay_after(&crate::config::RetryDelayContext {
                step: &step,
                attempt: failed_attempt,
                config,
                error,
            })
        }
        None => Ok(config.delay_after(failed_attempt)),
    }
}
