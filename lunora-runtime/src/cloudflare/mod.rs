//! The Cloudflare backend (wasm32): the same API as the embedded engine, over the JS
//! `WorkflowStep`, event and `Workflow` bindings that workerd hands a Worker.
//!
//! - `#[workflow]` exports a runner class per workflow; the JS entry module that
//!   `lunora-codegen sync` writes makes a `WorkflowEntrypoint` of it, whose `run(event, step)`
//!   ends in [`run_workflow`].
//! - [`workflows`] gives the typed handles over the Worker's bindings (the generated registry's
//!   `Workflows::new` takes it).
//! - [`serve_dispatch`] answers `POST /_lunora/scheduler/dispatch` with the Worker's own
//!   functions (`ctx.run`'s other side), deduplicated in D1.
//! - Values cross as JSON, errors as `{name, message}`; a `NonRetryableError` becomes
//!   `cloudflare:workflows`' own, and `ctx.log` writes to the console with the
//!   `[workflow:<exportName>]` prefix.

mod binding;
mod fetch;
mod js;
mod serve_dispatch;
mod step;
mod stream_step;
mod subscription;

use std::sync::Arc;

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

pub use binding::{raw_status, BindingBackend};
pub use fetch::{FetchTransport, WorkerClock};
/// The `worker` crate this backend is built on, for generated code and user Workers.
pub use worker;

use crate::context::{WorkflowContext, WorkflowEvent};
use crate::dispatch::Dispatcher;
use crate::env::Env;
use crate::error::Error;
use crate::log::{Level, LogSink, Logger};
use crate::status::Timestamp;
use crate::step::{WorkflowStep, UNSERIALIZABLE};
use crate::workflow::{decode_params, Workflow, WorkflowInfo, WorkflowsBackend};

/// The Worker's own `Env` (bindings: KV, D1, other workflows…), available to workflow code as
/// `ctx.env.get::<WorkerEnv>()`. String variables and secrets are also plain [`Env::var`]s.
#[derive(Clone, Debug)]
pub struct WorkerEnv(pub worker::Env);

/// Wraps a `!Send` future into a `Send` one. No longer needed: on wasm32 step callbacks,
/// `#[step]` bodies, rollback handlers and workflow bodies take any future (see
/// [`MaybeSend`](crate::MaybeSend)), so code that holds `worker` values across an `.await` works
/// in them as it is. Kept so existing code compiles; it panics if polled on another thread,
/// which a Worker never does.
#[deprecated(note = "steps take `!Send` futures on wasm32: remove the wrapper and await the future directly")]
pub fn local<F: std::future::Future>(future: F) -> send_wrapper::SendWrapper<F> {
    send_wrapper::SendWrapper::new(future)
}

/// The backend behind the typed handles: the Worker's Workflow bindings.
pub fn workflows(env: &worker::Env, registry: &'static [WorkflowInfo]) -> Arc<dyn WorkflowsBackend> {
    Arc::new(BindingBackend::new(env, registry))
}

/// `console.*`.
struct ConsoleSink;

impl LogSink for ConsoleSink {
    fn write(&self, level: Level, line: &str) {
        let line = JsValue::from_str(line);
        match level {
            Level::Debug => web_console::debug(&line),
            Level::Info => web_console::log(&line),
            Level::Warn => web_console::warn(&line),
            Level::Error => web_console::error(&line),
        }
    }
}

mod web_console {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = console)]
        pub fn debug(line: &JsValue);
        #[wasm_bindgen(js_namespace = console)]
        pub fn log(line: &JsValue);
        #[wasm_bindgen(js_namespace = console)]
        pub fn warn(line: &JsValue);
        #[wasm_bindgen(js_namespace = console)]
        pub fn error(line: &JsValue);
    }
}

/// Answers `POST /_lunora/scheduler/dispatch` (call it from the Worker's router) with
/// `functions`, deduplicating in the D1 database bound as `d1_binding`. Handlers see the
/// Worker's env as a step does. A Worker without `LUNORA_ADMIN_TOKEN` or without that binding
/// answers 500 `DISPATCH_NOT_CONFIGURED`, naming what is missing, and runs nothing.
pub async fn serve_dispatch(
    req: worker::Request,
    env: &worker::Env,
    functions: crate::functions::Functions,
    d1_binding: &str,
) -> worker::Result<worker::Response> {
    serve_dispatch::answer(req, env, env_of(env.as_ref()), functions, d1_binding).await
}

/// The lunora [`Env`] of a Worker: its string bindings (vars, secrets) as variables, and the
/// whole JS env as [`WorkerEnv`].
pub fn env_of(env: &JsValue) -> Env {
    let mut out = Env::new();
    if let Some(object) = env.dyn_ref::<Object>() {
        for entry in Object::entries(object).iter() {
            let entry: js_sys::Array = entry.unchecked_into();
            if let (Some(name), Some(value)) = (entry.get(0).as_string(), entry.get(1).as_string()) {
                out = out.with_var(name, value);
            }
        }
    }
    out.with(WorkerEnv(env.clone().unchecked_into()))
}

/// One `run(event, step)` of workflow `W`: what the generated runner class calls.
/// `event.schedule` (`{cron, scheduledTime}`) of an instance a cron trigger started.
fn schedule_of(event: &JsValue) -> Option<crate::status::Schedule> {
    let schedule = js::get(event, "schedule");
    let cron = js::get(&schedule, "cron").as_string()?;
    Some(crate::status::Schedule {
        cron,
        scheduled_time: Timestamp::from_millis(js::epoch_ms(&js::get(&schedule, "scheduledTime"))),
    })
}

pub fn run_workflow<W: Workflow>(env: JsValue, event: JsValue, step: JsValue) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let worker_env: worker::Env = env.clone().unchecked_into();
        let siblings = crate::child::Siblings(Arc::new(move |pairs: &[(&str, &str)]| {
            Ok(Arc::new(BindingBackend::for_pairs(&worker_env, pairs)) as Arc<dyn WorkflowsBackend>)
        }));
        let env = env_of(&env).with(siblings);
        let log = Logger::new(W::EXPORT_NAME, Arc::new(ConsoleSink));
        let fail = |e: Error| js::error_to_js(&e);
        let payload = match js::get(&event, "payload") {
            p if p.is_undefined() || p.is_null() => serde_json::json!({}),
            p => js::from_js(&p).map_err(fail)?,
        };
        let (params, parent) = crate::child::split_params(&payload);
        let params: W::Params = decode_params(&params).map_err(|e| {
            fail(Error::non_retryable(format!("instance params do not decode as the workflow's params type: {e}")))
        })?;
        let instance_id = js::get(&event, "instanceId").as_string().unwrap_or_default();
        let workflow_name = js::get(&event, "workflowName").as_string().unwrap_or_else(|| W::NAME.to_owned());
        let event = WorkflowEvent {
            payload,
            timestamp: Timestamp::from_millis(js::epoch_ms(&js::get(&event, "timestamp"))),
            instance_id: instance_id.clone(),
            workflow_name,
            schedule: schedule_of(&event),
        };
        // No transport yet: the first `ctx.run` makes the Worker's `fetch` one.
        let dispatch = Dispatcher::for_body(None, Arc::new(WorkerClock), env.clone(), W::EXPORT_NAME, &instance_id);
        let step = WorkflowStep::new(Arc::new(step::JsStep::new(step, env.clone(), log.clone())))
            .with_clock(Arc::new(WorkerClock));
        let ctx = WorkflowContext::new(step, params, event, env, log, dispatch);
        let output = crate::child::run_body::<W>(ctx, parent).await.map_err(fail)?;
        let output = serde_json::to_value(output).map_err(|e| {
            fail(Error::named(UNSERIALIZABLE, format!("the workflow's output cannot be serialised: {e}")))
        })?;
        js::to_js(&output).map_err(fail)
    })
}
