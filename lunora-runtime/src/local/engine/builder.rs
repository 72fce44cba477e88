//! Building an [`Engine`]: journal, clock, defaults, transport, registrations; `open` checks
//! the registrations, opens the journal and resumes what a previous process left.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::drive::scheduler;
use super::handle::{Engine, ShutdownGuard};
use super::registry::{ErasedWorkflow, Registered};
use super::retention::{check_retention, RetentionDefaults};
use super::schedule::CronSchedule;
use super::state::Inner;
use crate::config::{ResolvedStepConfig, DEFAULT_RETRY_DELAY};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::http::{HttpTransport, NativeTransport};
use crate::local::clock::{Clock, SystemClock};
use crate::local::journal::{Durability, Journal};
use crate::local::validate;
use crate::log::{LogSink, StderrSink};
use crate::status::Retention;
use crate::workflow::Workflow;

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
    retention: RetentionDefaults,
    in_memory_wait_limit: Duration,
    stream_limit: u64,
}

/// The longest wait (sleep, `sleep_until`, retry delay) the engine spends with the instance
/// kept in memory by default; see [`EngineBuilder::in_memory_wait_limit`].
pub const DEFAULT_IN_MEMORY_WAIT_LIMIT: Duration = Duration::from_secs(5);

impl EngineBuilder {
    /// Journal in this SQLite file (created if absent). Without it the journal is in memory.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The most bytes one instance's stream steps (`do_stream`) may store: Cloudflare's 1 GiB
    /// unless lowered (a larger value is taken as 1 GiB). Streaming past it ends the instance with
    /// `WorkflowFatalError: The instance has exceeded the <limit> storage limit`, as in workerd.
    pub fn stream_storage_limit(mut self, bytes: u64) -> Self {
        self.stream_limit = bytes.min(crate::step_bytes::MAX_INSTANCE_STREAM_BYTES);
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

    /// How `ctx.run` reaches the Worker and `ctx.http()` the network (native HTTP by default;
    /// tests may plug their own).
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

    /// How long finished instances are kept when neither their `create` nor their workflow
    /// says (see [`workflow_retention`](Self::workflow_retention)): `successRetention` for
    /// `complete` ones, `errorRetention` for `errored` and `terminated` ones. Without it they
    /// are kept until deleted (Cloudflare's default is 7 days).
    pub fn default_retention(mut self, retention: Retention) -> Self {
        self.retention.engine = Some(retention);
        self
    }

    /// The retention of a workflow's finished instances (its `default_retention`), unless their
    /// `create` says otherwise.
    pub fn workflow_retention<W: Workflow>(mut self, retention: Retention) -> Self {
        self.retention.workflows.insert(W::NAME.to_owned(), retention);
        self
    }

    /// Waits of at most `limit` (a sleep, a `sleep_until`, the delay before a step's next
    /// attempt) keep the instance in memory: the body stays where it is and a timer on the
    /// engine's clock wakes it, instead of hibernating the instance and replaying the body from
    /// its journal. The journal records the wait exactly as for a hibernating one, so a crash
    /// during it recovers the same way. Longer waits, and event waits, hibernate.
    /// [`DEFAULT_IN_MEMORY_WAIT_LIMIT`] (5 s) unless changed; `Duration::ZERO` hibernates on
    /// every wait.
    pub fn in_memory_wait_limit(mut self, limit: Duration) -> Self {
        self.in_memory_wait_limit = limit;
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
        let mut workflows: HashMap<String, (Arc<str>, Arc<dyn ErasedWorkflow>)> = HashMap::new();
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
        if let Some(r) = &self.retention.engine {
            check_retention(r)?;
        }
        for (name, r) in &self.retention.workflows {
            check_retention(r).map_err(|e| {
                Error::workflow("workflow.invalid_retention", format!("workflow {name:?}: {}", e.message()))
            })?;
        }
        let mut schedules = Vec::new();
        for (name, wf) in workflows.values() {
            for (index, text) in wf.schedules().iter().enumerate() {
                schedules.push(CronSchedule::parse(name.clone(), index, text)?);
            }
        }
        let (path, durability, wait) = (self.path, self.durability, self.wait_for_journal);
        // Waiting for another owner's lock blocks: keep it off the runtime's workers.
        let journal = tokio::task::spawn_blocking(move || Journal::open(path.as_deref(), durability, wait))
            .await
            .map_err(|e| Error::internal(format!("opening the journal panicked: {e}")))??;
        let mut journal = journal;
        journal.set_clock(self.clock.clone());
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
            in_memory_wait_ms: i64::try_from(self.in_memory_wait_limit.as_millis()).unwrap_or(i64::MAX),
            retention: self.retention,
            schedules,
            next_expiry: std::sync::atomic::AtomicI64::new(i64::MIN),
            unreclaimed: std::sync::atomic::AtomicUsize::new(0),
            stream_limit: self.stream_limit,
        });
        inner.recover()?;
        tokio::spawn(scheduler(inner.clone()));
        Ok(Engine { inner: inner.clone(), _guard: Arc::new(ShutdownGuard(inner)) })
    }
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
            retention: RetentionDefaults::default(),
            in_memory_wait_limit: DEFAULT_IN_MEMORY_WAIT_LIMIT,
            stream_limit: crate::step_bytes::MAX_INSTANCE_STREAM_BYTES,
        }
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
