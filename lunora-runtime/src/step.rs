//! The durable step API (`ctx.step`), typed over an object-safe, JSON-level backend.
//!
//! Both backends (the embedded engine and, on wasm32, Cloudflare's `WorkflowStep`) implement
//! [`StepBackend`]; [`WorkflowStep`] adds the serde conversions so users work with their own
//! types. Step identities (name, count) are allocated when a step method is *called*, not when
//! its future is first polled, so `join!`ed steps get counts in call order on every replay.

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{ResolvedStepConfig, StepConfig};
use crate::dispatch::{make_deterministic_failures_final, Dispatcher, FunctionRef, InStepCallback};
use crate::duration::DurationInput;
use crate::env::Env;
pub use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::log::Logger;
pub use crate::maybe_send::{MaybeSend, MaybeSync};
use crate::status::{Event, StepId, Timestamp};

/// What a step callback receives on every attempt: `{step: {name, count}, attempt, config}`
/// plus the environment and logger.
#[derive(Clone, Debug)]
pub struct StepContext {
    pub step: StepId,
    /// 1-based attempt number.
    pub attempt: u32,
    /// The resolved config the step runs with.
    pub config: ResolvedStepConfig,
    pub env: Env,
    pub log: Logger,
    /// Set for the bodies of `#[step]`s run through `ctx.run_step` (the `#step<i>` runner).
    pub(crate) dispatch: Option<Dispatcher>,
    /// What [`StepContext::http`] hands out: over the engine's transport.
    pub(crate) http: crate::http::Client,
}

impl StepContext {
    /// An HTTP client for this attempt: JSON helpers, and statuses mapped to retryable
    /// (`HttpError`: 5xx, 408, 425, 429, no answer) or not (`NonRetryableError`: other 4xx and
    /// 3xx). It sends over the engine's transport: the network on both engines, or what a test
    /// gave `TestEngineBuilder::http_transport`.
    pub fn http(&self) -> crate::http::Client {
        self.http.clone()
    }

    /// `ctx.run` inside a `#[step]` body: ids `…#step<i>.<n>`, reused by a retried attempt.
    pub async fn run<A: Serialize, R: DeserializeOwned>(&self, function: &FunctionRef<A, R>, args: A) -> Result<R> {
        match &self.dispatch {
            Some(d) => d.call(function, &args).await,
            None => Err(crate::error::Error::non_retryable(format!(
                "ctx.run({}) is available in #[step] bodies run through ctx.run_step; in a plain step \
                 callback, call the workflow's ctx.run",
                function.path()
            ))),
        }
    }
}

/// What a rollback handler receives.
#[derive(Clone, Debug)]
pub struct RollbackContext<T> {
    /// The forward step's context (`{step, attempt, config}` of its last attempt).
    pub ctx: StepContext,
    /// The error that failed the workflow (or the termination that asked for rollback).
    pub error: Error,
    /// The forward step's output; `None` when the step failed or never finished.
    pub output: Option<T>,
    pub env: Env,
    pub log: Logger,
}

/// One attempt of a step callback, type-erased (`Send` natively; see [`MaybeSend`]).
#[cfg(not(target_arch = "wasm32"))]
pub type AttemptFn<'a> = Box<dyn FnMut(StepContext) -> BoxFuture<'a, Result<Json>> + Send + 'a>;
/// One attempt of a step callback, type-erased (`Send` natively; see [`MaybeSend`]).
#[cfg(target_arch = "wasm32")]
pub type AttemptFn<'a> = Box<dyn FnMut(StepContext) -> BoxFuture<'a, Result<Json>> + 'a>;
/// One attempt of a stream step's callback (`do_stream`), type-erased.
#[cfg(not(target_arch = "wasm32"))]
pub type StreamAttemptFn<'a> =
    Box<dyn FnMut(StepContext) -> BoxFuture<'a, Result<crate::step_bytes::ByteChunks>> + Send + 'a>;
/// One attempt of a stream step's callback (`do_stream`), type-erased.
#[cfg(target_arch = "wasm32")]
pub type StreamAttemptFn<'a> = Box<dyn FnMut(StepContext) -> BoxFuture<'a, Result<crate::step_bytes::ByteChunks>> + 'a>;
/// A rollback handler, type-erased. Called once per rollback attempt.
pub type RollbackFn = TypedRollbackFn<Json>;

/// A typed rollback handler (`Send + Sync` natively; see [`MaybeSend`]).
#[cfg(not(target_arch = "wasm32"))]
type TypedRollbackFn<T> = Arc<dyn Fn(RollbackContext<T>) -> BoxFuture<'static, Result<()>> + Send + Sync>;
/// A typed rollback handler (`Send + Sync` natively; see [`MaybeSend`]).
#[cfg(target_arch = "wasm32")]
type TypedRollbackFn<T> = Arc<dyn Fn(RollbackContext<T>) -> BoxFuture<'static, Result<()>>>;

/// A rollback handler with its own config.
#[derive(Clone)]
pub struct RollbackSpec {
    pub handler: RollbackFn,
    pub config: Option<StepConfig>,
}

/// The name serialisation failures carry so the engine can fail the instance fatally.
pub(crate) const UNSERIALIZABLE: &str = "WorkflowUnserializableValue";

/// The step primitives a backend provides.
pub trait StepBackend: MaybeSend + MaybeSync {
    fn do_step<'a>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        attempt: AttemptFn<'a>,
        rollback: Option<RollbackSpec>,
    ) -> BoxFuture<'a, Result<Json>>;

    /// A step whose callback returns a byte stream (`ctx.step.do_stream`): the backend reads
    /// and persists the stream and answers with a reader over the persisted bytes.
    fn do_stream_step<'a>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        attempt: StreamAttemptFn<'a>,
    ) -> BoxFuture<'a, Result<crate::step_bytes::StepBytes>>;

    fn sleep<'a>(&'a self, name: String, duration: DurationInput) -> BoxFuture<'a, Result<()>>;

    fn sleep_until<'a>(&'a self, name: String, at: Timestamp) -> BoxFuture<'a, Result<()>>;

    fn wait_for_event<'a>(
        &'a self,
        name: String,
        event_type: String,
        timeout: Option<DurationInput>,
    ) -> BoxFuture<'a, Result<Event<Json>>>;

    /// Told when a value this backend returned for step `name` does not decode into the type
    /// the code expects (replay reports it as a divergence; the engines need not care).
    fn value_rejected(&self, _name: &str, _error: &serde_json::Error) {}
}

/// A typed rollback handler for a step whose output is `T`.
pub struct Rollback<T> {
    handler: TypedRollbackFn<T>,
    config: Option<StepConfig>,
}

impl<T: DeserializeOwned + MaybeSend + 'static> Rollback<T> {
    /// A rollback handler; it runs as a durable step with the default config unless
    /// [`Rollback::config`] sets one.
    pub fn new<F, Fut>(handler: F) -> Self
    where
        F: Fn(RollbackContext<T>) -> Fut + MaybeSend + MaybeSync + 'static, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
        Fut: Future<Output = Result<()>> + MaybeSend + 'static, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
    {
        Self { handler: Arc::new(move |rc| Box::pin(handler(rc))), config: None }
    }

    /// The rollback's own retries and timeout (`rollbackConfig`).
    pub fn config(mut self, config: StepConfig) -> Self {
        self.config = Some(config);
        self
    }

    fn erase(self) -> RollbackSpec {
        let typed = self.handler;
        let handler: RollbackFn = Arc::new(move |rc: RollbackContext<Json>| {
            let typed = typed.clone();
            Box::pin(async move {
                let output = match rc.output {
                    Some(json) => Some(from_json::<T>(json, &rc.ctx.step.to_string())?),
                    None => None,
                };
                let rc = RollbackContext { ctx: rc.ctx, error: rc.error, output, env: rc.env, log: rc.log };
                typed(rc).await
            })
        });
        RollbackSpec { handler, config: self.config }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Json> {
    serde_json::to_value(value).map_err(|e| Error::named(UNSERIALIZABLE, format!("value cannot be serialised: {e}")))
}

fn from_json<T: DeserializeOwned>(json: Json, what: &str) -> Result<T> {
    serde_json::from_value(json).map_err(|e| type_mismatch(what, e))
}

fn type_mismatch(what: &str, e: serde_json::Error) -> Error {
    Error::fatal(format!(
        "Stored value of {what} does not match the type the code expects: {e}. \
         Did the step's return type change while instances were in flight?"
    ))
}

/// `ctx.step`: the durable step API. Cheap to clone.
#[derive(Clone)]
pub struct WorkflowStep {
    backend: Arc<dyn StepBackend>,
    /// The engine's clock: when a callback's attempt times out, for the `ctx.run`s it makes.
    clock: Option<Arc<dyn Clock>>,
}

impl WorkflowStep {
    pub fn new(backend: Arc<dyn StepBackend>) -> Self {
        Self { backend, clock: None }
    }

    pub(crate) fn backend(&self) -> &dyn StepBackend {
        &*self.backend
    }

    /// The engine's clock, so `ctx.run` inside a step callback ends its decline waits 2 s
    /// before the attempt's timeout.
    pub(crate) fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// `step.do(name, callback)`: runs `callback` once per attempt (default config) and
    /// memoises its output; a replay returns the stored output without calling it.
    pub fn do_<'a, T, F, Fut>(
        &'a self,
        name: impl Into<String>,
        callback: F,
    ) -> impl Future<Output = Result<T>> + MaybeSend + 'a
    where
        T: Serialize + DeserializeOwned + MaybeSend + 'a,
        F: FnMut(StepContext) -> Fut + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
        Fut: Future<Output = Result<T>> + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
    {
        self.run_step(name.into(), None, callback, None)
    }

    /// `step.do(name, config, callback)`.
    pub fn do_with<'a, T, F, Fut>(
        &'a self,
        name: impl Into<String>,
        config: StepConfig,
        callback: F,
    ) -> impl Future<Output = Result<T>> + MaybeSend + 'a
    where
        T: Serialize + DeserializeOwned + MaybeSend + 'a,
        F: FnMut(StepContext) -> Fut + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
        Fut: Future<Output = Result<T>> + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
    {
        self.run_step(name.into(), Some(config), callback, None)
    }

    /// `step.do(name, config?, callback, {rollback, rollbackConfig})`: the rollback runs if the
    /// instance later fails terminally (or is terminated with `rollback: true`).
    pub fn do_with_rollback<'a, T, F, Fut>(
        &'a self,
        name: impl Into<String>,
        config: Option<StepConfig>,
        callback: F,
        rollback: Rollback<T>,
    ) -> impl Future<Output = Result<T>> + MaybeSend + 'a
    where
        T: Serialize + DeserializeOwned + MaybeSend + 'static,
        F: FnMut(StepContext) -> Fut + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
        Fut: Future<Output = Result<T>> + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
    {
        self.run_step(name.into(), config, callback, Some(rollback.erase()))
    }

    /// The general form behind `run_step`: optional config and rollback.
    pub(crate) fn do_general<'a, T, F, Fut>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        callback: F,
        rollback: Option<Rollback<T>>,
    ) -> impl Future<Output = Result<T>> + MaybeSend + 'a
    where
        T: Serialize + DeserializeOwned + MaybeSend + 'static,
        F: FnMut(StepContext) -> Fut + MaybeSend + 'a,
        Fut: Future<Output = Result<T>> + MaybeSend + 'a,
    {
        self.run_step(name, config, callback, rollback.map(Rollback::erase))
    }

    fn run_step<'a, T, F, Fut>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        mut callback: F,
        rollback: Option<RollbackSpec>,
    ) -> impl Future<Output = Result<T>> + MaybeSend + 'a
    where
        T: Serialize + DeserializeOwned + MaybeSend + 'a,
        F: FnMut(StepContext) -> Fut + MaybeSend + 'a,
        Fut: Future<Output = Result<T>> + MaybeSend + 'a,
    {
        let what = name.clone();
        let clock = self.clock.clone();
        let attempt: AttemptFn<'a> = Box::new(move |ctx| {
            let deadline = clock.as_ref().map(|clock| clock.now() + ctx.config.timeout_ms);
            let fut = InStepCallback::new(deadline, callback(ctx));
            // `ctx.run` in a callback follows a `#[step]` body's rules: a deterministic
            // dispatch failure (400/403/404/422) fails the step at once.
            Box::pin(async move { to_json(&fut.await.map_err(make_deterministic_failures_final)?) })
        });
        // Called now, not in the async block: the backend allocates the step's count here.
        let pending = self.backend.do_step(name, config, attempt, rollback);
        async move { self.decode(pending.await?, &what) }
    }

    /// A stored value as the code's type; a mismatch is also reported to the backend.
    fn decode<T: DeserializeOwned>(&self, json: Json, what: &str) -> Result<T> {
        serde_json::from_value(json).map_err(|e| {
            self.backend.value_rejected(what, &e);
            type_mismatch(what, e)
        })
    }

    /// `step.sleep(name, duration)`: at most 365 days; not counted in the step limit.
    pub fn sleep(&self, name: impl Into<String>, duration: impl Into<DurationInput>) -> BoxFuture<'_, Result<()>> {
        self.backend.sleep(name.into(), duration.into())
    }

    /// `step.sleepUntil(name, at)`.
    pub fn sleep_until(&self, name: impl Into<String>, at: impl Into<Timestamp>) -> BoxFuture<'_, Result<()>> {
        self.backend.sleep_until(name.into(), at.into())
    }

    /// `step.waitForEvent(name, {type, timeout?})` with the default 24 h timeout.
    pub fn wait_for_event<'a, T: DeserializeOwned + MaybeSend + 'a>(
        &'a self,
        name: impl Into<String>,
        event_type: impl Into<String>,
    ) -> impl Future<Output = Result<Event<T>>> + MaybeSend + 'a {
        self.wait_for_event_inner(name.into(), event_type.into(), None)
    }

    /// `step.waitForEvent(name, {type, timeout})`; the timeout is at most 365 days.
    pub fn wait_for_event_with_timeout<'a, T: DeserializeOwned + MaybeSend + 'a>(
        &'a self,
        name: impl Into<String>,
        event_type: impl Into<String>,
        timeout: impl Into<DurationInput>,
    ) -> impl Future<Output = Result<Event<T>>> + MaybeSend + 'a {
        self.wait_for_event_inner(name.into(), event_type.into(), Some(timeout.into()))
    }

    /// [`Self::wait_for_event`] for a typed event: its type string and payload type come from
    /// one declaration (see [`EventType`](crate::event_type::EventType)).
    pub fn wait_for<'a, P: DeserializeOwned + MaybeSend + 'a>(
        &'a self,
        name: impl Into<String>,
        event: &crate::event_type::EventType<P>,
    ) -> impl Future<Output = Result<Event<P>>> + MaybeSend + 'a {
        self.wait_for_event_inner(name.into(), event.name().to_owned(), None)
    }

    /// [`Self::wait_for_event_with_timeout`] for a typed event.
    pub fn wait_for_with_timeout<'a, P: DeserializeOwned + MaybeSend + 'a>(
        &'a self,
        name: impl Into<String>,
        event: &crate::event_type::EventType<P>,
        timeout: impl Into<DurationInput>,
    ) -> impl Future<Output = Result<Event<P>>> + MaybeSend + 'a {
        self.wait_for_event_inner(name.into(), event.name().to_owned(), Some(timeout.into()))
    }

    fn wait_for_event_inner<'a, T: DeserializeOwned + MaybeSend + 'a>(
        &'a self,
        name: String,
        event_type: String,
        timeout: Option<DurationInput>,
    ) -> impl Future<Output = Result<Event<T>>> + MaybeSend + 'a {
        let what = name.clone();
        let pending = self.backend.wait_for_event(name, event_type, timeout);
        async move {
            let event = pending.await?;
            Ok(Event {
                payload: self.decode(event.payload, &what)?,
                timestamp: event.timestamp,
                event_type: event.event_type,
            })
        }
    }
}
