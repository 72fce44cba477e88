//! [`StepBackend`] over the JS `WorkflowStep`: Cloudflare allocates step identities, runs the
//! retries and timeouts and persists results; this side only bridges callbacks and values.
//!
//! `step.do` is called as soon as the Rust step method is called (not when its future is first
//! polled), so concurrent steps get their counts in call order, as in JS.

use std::cell::RefCell;
use std::rc::Rc;
use std::task::Poll;

use js_sys::{Array, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::js;
use super::js::{boxed, settle};
use crate::config::{ResolvedStepConfig, StepConfig};
use crate::duration::DurationInput;
use crate::env::Env;
use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::log::Logger;
use crate::status::{Event, Timestamp};
use crate::step::{AttemptFn, RollbackContext, RollbackSpec, StepBackend, StepContext};

/// A JS callback that answers with a promise (an attempt or a rollback handler workerd calls).
pub(super) type PromiseCallback = Closure<dyn FnMut(JsValue) -> Promise>;

/// The JS `step` object of one `run(event, step)` call.
pub(crate) struct JsStep {
    step: JsValue,
    env: Env,
    log: Logger,
    defaults: ResolvedStepConfig,
}

impl JsStep {
    pub(crate) fn new(step: JsValue, env: Env, log: Logger) -> Self {
        Self { step, env, log, defaults: ResolvedStepConfig::default() }
    }

    /// Calls `step.<method>(...args)` now and returns its promise.
    fn call(&self, method: &str, args: &Array) -> Result<Promise> {
        js::call(&self.step, method, args)
    }
}

/// What a step callback or rollback handler receives: the identity and attempt the engine
/// passes in `ctx`, with the resolved config, environment and logger.
fn step_context(ctx: &JsValue, config: &ResolvedStepConfig, env: &Env, log: &Logger) -> StepContext {
    let (step, attempt) = js::step_identity(ctx);
    StepContext {
        step,
        attempt,
        config: config.clone(),
        env: env.clone(),
        log: log.clone(),
        dispatch: None,
        http: crate::http::Client::new(),
    }
}

pub(super) fn ready<'a, T: 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

/// A step callback, type-erased over what one attempt returns: a value ([`AttemptFn`] is
/// `Callback<'a, Json>`) or the chunks of a stream step.
pub(super) type Callback<'a, O> = Box<dyn FnMut(StepContext) -> BoxFuture<'a, Result<O>> + 'a>;

type Pending<O> = Rc<RefCell<Option<BoxFuture<'static, Result<O>>>>>;

/// How an attempt's result crosses to JS (a rejection value on failure).
pub(super) type ToJs<O> = fn(O) -> std::result::Result<JsValue, JsValue>;

/// The step callback as JS sees it. The Rust callback and its attempts borrow from the step's
/// caller (lifetime `'a`), but JS needs `'static` closures and promises, so both are held here
/// with the lifetime erased and dropped by [`Attempts::drop`] before `'a` ends: a JS call or poll
/// after that (a timed-out attempt still running, a dropped step future) finds nothing and
/// rejects, and never touches freed borrows. Sound because wasm32 Workers are single-threaded.
struct AttemptState<O> {
    callback: RefCell<Option<Callback<'static, O>>>,
    running: RefCell<Vec<Pending<O>>>,
    to_js: ToJs<O>,
}

/// Owns the [`AttemptState`] for the step's lifetime and clears it when dropped.
pub(super) struct Attempts<O: 'static>(Rc<AttemptState<O>>);

impl<O: 'static> Attempts<O> {
    fn new(attempt: Callback<'_, O>, to_js: ToJs<O>) -> Self {
        // SAFETY: only the lifetime changes; `Drop` below ends every use before `'a` does.
        let attempt: Callback<'static, O> = unsafe { std::mem::transmute(attempt) };
        Self(Rc::new(AttemptState { callback: RefCell::new(Some(attempt)), running: RefCell::default(), to_js }))
    }
}

impl<O: 'static> Drop for Attempts<O> {
    fn drop(&mut self) {
        self.0.callback.borrow_mut().take();
        for pending in self.0.running.borrow_mut().drain(..) {
            pending.borrow_mut().take();
        }
    }
}

impl<O: 'static> AttemptState<O> {
    /// Starts one attempt and returns the promise the engine awaits.
    fn start(&self, ctx: StepContext) -> Promise {
        let future = match self.callback.borrow_mut().as_mut() {
            Some(callback) => callback(ctx),
            None => return Promise::reject(&js::error_to_js(&cancelled())),
        };
        let pending: Pending<O> = Rc::new(RefCell::new(Some(future)));
        self.running.borrow_mut().push(pending.clone());
        let to_js = self.to_js;
        future_to_promise(async move {
            let result = std::future::poll_fn(|cx| {
                let mut slot = pending.borrow_mut();
                let Some(future) = slot.as_mut() else { return Poll::Ready(Err(cancelled())) };
                let poll = future.as_mut().poll(cx);
                if poll.is_ready() {
                    *slot = None;
                }
                poll
            })
            .await;
            match result {
                Ok(output) => to_js(output),
                Err(error) => Err(js::error_to_js(&error)),
            }
        })
    }
}

/// A step's output as the engine persists it.
fn json_to_js(json: Json) -> std::result::Result<JsValue, JsValue> {
    js::to_js(&json).map_err(|e| js::error_to_js(&e))
}

fn cancelled() -> Error {
    Error::new("the step was cancelled: its future was dropped before the attempt finished")
}

impl JsStep {
    fn rollback_options(&self, spec: RollbackSpec, resolved: &ResolvedStepConfig) -> Result<JsValue> {
        let (env, log, resolved) = (self.env.clone(), self.log.clone(), resolved.clone());
        let handler = spec.handler;
        // Called by the engine after `run` has settled, so it owns everything it uses and JS's
        // garbage collector owns it.
        let rollback = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |rc: JsValue| {
            let ctx = step_context(&js::get(&rc, "ctx"), &resolved, &env, &log);
            let output = js::get(&rc, "output");
            let output = if output.is_undefined() { None } else { js::from_js(&output).ok() };
            let error = js::error_from_js(&js::get(&rc, "error"));
            let future = handler(RollbackContext { ctx, error, output, env: env.clone(), log: log.clone() });
            future_to_promise(async move { future.await.map(|()| JsValue::UNDEFINED).map_err(|e| js::error_to_js(&e)) })
        });
        let options = Object::new();
        js::set(&options, "rollback", &rollback.into_js_value());
        if let Some(config) = &spec.config {
            let rollback_resolved = config.resolve(&self.defaults, "rollback")?;
            js::set(&options, "rollbackConfig", &js::step_config(config, &rollback_resolved)?);
        }
        Ok(options.into())
    }

    /// Calls `step.do(name, config?, callback, options?)` now, with `attempt` as the callback.
    pub(super) fn start_do<'a, O: 'static>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        attempt: Callback<'a, O>,
        to_js: ToJs<O>,
        rollback: Option<RollbackSpec>,
    ) -> Result<(Promise, Attempts<O>, PromiseCallback)> {
        let resolved = match &config {
            Some(c) => c.resolve(&self.defaults, &name)?,
            None => self.defaults.clone(),
        };
        let attempts = Attempts::new(attempt, to_js);
        let state = attempts.0.clone();
        let (env, log, step_resolved) = (self.env.clone(), self.log.clone(), resolved.clone());
        let callback = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |ctx: JsValue| {
            state.start(step_context(&ctx, &step_resolved, &env, &log))
        });
        let args = Array::new();
        args.push(&JsValue::from_str(&name));
        if let Some(config) = &config {
            args.push(&js::step_config(config, &resolved)?);
        }
        args.push(callback.as_ref());
        if let Some(spec) = rollback {
            args.push(&self.rollback_options(spec, &resolved)?);
        }
        let promise = self.call("do", &args)?;
        Ok((promise, attempts, callback))
    }
}

impl StepBackend for JsStep {
    fn do_step<'a>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        attempt: AttemptFn<'a>,
        rollback: Option<RollbackSpec>,
    ) -> BoxFuture<'a, Result<Json>> {
        match self.start_do(name, config, attempt, json_to_js, rollback) {
            Err(e) => ready(Err(e)),
            Ok((promise, attempts, callback)) => boxed(async move {
                let result = settle(promise).await;
                // Order matters: the attempts (and their borrows) go first, then the callback.
                drop(attempts);
                drop(callback);
                js::from_js(&result?)
            }),
        }
    }

    fn do_stream_step<'a>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        attempt: crate::step::StreamAttemptFn<'a>,
    ) -> BoxFuture<'a, Result<crate::step_bytes::StepBytes>> {
        self.do_stream(name, config, attempt)
    }

    fn sleep<'a>(&'a self, name: String, duration: DurationInput) -> BoxFuture<'a, Result<()>> {
        let started =
            js::duration(&duration).and_then(|d| self.call("sleep", &Array::of2(&JsValue::from_str(&name), &d)));
        match started {
            Err(e) => ready(Err(e)),
            Ok(promise) => boxed(async move { settle(promise).await.map(drop) }),
        }
    }

    fn sleep_until<'a>(&'a self, name: String, at: Timestamp) -> BoxFuture<'a, Result<()>> {
        let date = js_sys::Date::new(&JsValue::from_f64(at.as_millis() as f64));
        match self.call("sleepUntil", &Array::of2(&JsValue::from_str(&name), &date)) {
            Err(e) => ready(Err(e)),
            Ok(promise) => boxed(async move { settle(promise).await.map(drop) }),
        }
    }

    fn wait_for_event<'a>(
        &'a self,
        name: String,
        event_type: String,
        timeout: Option<DurationInput>,
    ) -> BoxFuture<'a, Result<Event<Json>>> {
        let options = Object::new();
        js::set(&options, "type", &JsValue::from_str(&event_type));
        let started = match &timeout {
            Some(t) => js::duration(t).map(|t| js::set(&options, "timeout", &t)),
            None => Ok(()),
        }
        .and_then(|()| self.call("waitForEvent", &Array::of2(&JsValue::from_str(&name), &options)));
        match started {
            Err(e) => ready(Err(e)),
            Ok(promise) => boxed(async move {
                let event = settle(promise).await?;
                Ok(Event {
                    payload: js::from_js(&js::get(&event, "payload"))?,
                    timestamp: Timestamp::from_millis(js::epoch_ms(&js::get(&event, "timestamp"))),
                    event_type: js::get(&event, "type").as_string().unwrap_or(event_type),
                })
            }),
        }
    }
}
