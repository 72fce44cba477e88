//! Crossing the JS boundary: values go through `JSON` (so objects arrive as plain objects, never
//! `Map`s, and come back exactly as the engine persisted them), errors keep `{name, message}`,
//! and a [`NonRetryableError`](crate::NonRetryableError) becomes `cloudflare:workflows`' own.

use std::future::Future;

use js_sys::{Array, Function, Object, Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::config::{ResolvedStepConfig, StepConfig};
use crate::duration::DurationInput;
use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::status::StepId;

#[wasm_bindgen(module = "cloudflare:workflows")]
extern "C" {
    /// `new NonRetryableError(message, name?)`: the engine stops retrying at once.
    #[wasm_bindgen(js_name = NonRetryableError)]
    type NativeNonRetryableError;

    #[wasm_bindgen(constructor, js_class = "NonRetryableError")]
    fn new(message: &str, name: &str) -> NativeNonRetryableError;
}

/// A property, `undefined` when absent.
pub(crate) fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

pub(crate) fn set(target: &Object, key: &str, value: &JsValue) {
    // Setting a property of a plain object we created cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// Calls `target.<method>(...args)` now and returns its result as a promise. `Reflect.apply`,
/// not `function.apply`: the engine's step and binding objects are RPC stubs, on which every
/// property (`apply` included) is a remote method.
pub(crate) fn call(target: &JsValue, method: &str, args: &Array) -> Result<Promise> {
    let function: Function = get(target, method)
        .dyn_into()
        .map_err(|_| Error::internal(format!("the engine's object has no {method}()")))?;
    let value = Reflect::apply(&function, target, args).map_err(|e| error_from_js(&e))?;
    Ok(Promise::resolve(&value))
}

/// Awaits a promise; a rejection becomes an [`Error`].
pub(crate) async fn settle(promise: Promise) -> Result<JsValue> {
    wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| error_from_js(&e))
}

/// A future that holds JS values, boxed: on wasm32 [`BoxFuture`] does not require `Send`.
pub(crate) fn boxed<'a, T: 'a>(future: impl Future<Output = T> + 'a) -> BoxFuture<'a, T> {
    Box::pin(future)
}

/// JSON → a plain JS value.
pub(crate) fn to_js(value: &Json) -> Result<JsValue> {
    let text = serde_json::to_string(value).map_err(|e| Error::internal(format!("value cannot be serialised: {e}")))?;
    JSON::parse(&text).map_err(|e| error_from_js(&e))
}

/// A JS value → JSON (`undefined` → `null`; `Date`s become ISO strings, as `JSON.stringify` does).
pub(crate) fn from_js(value: &JsValue) -> Result<Json> {
    if value.is_undefined() {
        return Ok(Json::Null);
    }
    let text = JSON::stringify(value).map_err(|e| error_from_js(&e))?;
    let text: String = text.into();
    serde_json::from_str(&text).map_err(|e| Error::internal(format!("a value from the engine is not JSON: {e}")))
}

/// A thrown JS value as `{name, message}`.
pub(crate) fn error_from_js(value: &JsValue) -> Error {
    let name = get(value, "name").as_string();
    let message = get(value, "message").as_string();
    match (name, message) {
        (Some(name), Some(message)) => unwrap_rpc_name(name, message),
        (None, Some(message)) => unwrap_rpc_name("Error".into(), message),
        _ => Error::new(value.as_string().unwrap_or_else(|| format!("{value:?}"))),
    }
}

/// Errors crossing workerd's RPC boundary keep only built-in names: the engine's
/// `WorkflowTimeoutError: Execution timed out…` arrives (and is stored in `status().error`) as
/// an `Error` whose message starts with the real name. That name is restored, so both backends
/// report the same `{name, message}`.
pub(crate) fn unwrap_rpc_name(name: String, message: String) -> Error {
    if name == "Error" {
        if let Some((inner, rest)) = message.split_once(": ") {
            let is_name = inner.ends_with("Error") && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if is_name && inner != "Error" {
                return Error::named(inner, rest);
            }
        }
    }
    Error::named(name, message)
}

/// An error as the engine should see it: a native `NonRetryableError` stops retries.
pub(crate) fn error_to_js(error: &Error) -> JsValue {
    if error.is_non_retryable() {
        return NativeNonRetryableError::new(error.message(), error.name()).into();
    }
    let js = js_sys::Error::new(error.message());
    js.set_name(error.name());
    js.into()
}

/// Durations go to the engine as strings (`"30 seconds"`); sub-second ones as milliseconds.
pub(crate) fn duration(input: &DurationInput) -> Result<JsValue> {
    match input {
        DurationInput::Text(text) => {
            // Checked here so an unknown unit fails loudly instead of being read as "× 1 ms".
            input.resolve().map_err(|e| Error::fatal(e.to_string()))?;
            Ok(JsValue::from_str(text))
        }
        DurationInput::Exact(d) if d.subsec_millis() == 0 => Ok(JsValue::from_str(&format!("{} seconds", d.as_secs()))),
        DurationInput::Exact(d) => Ok(JsValue::from_f64(d.as_millis() as f64)),
    }
}

/// A step config as `step.do` takes it. `retries` needs both `limit` and `delay` on Cloudflare,
/// so a partial `retries` is completed from the resolved config (the shallow merge Cloudflare
/// would do, made explicit).
pub(crate) fn step_config(config: &StepConfig, resolved: &ResolvedStepConfig) -> Result<JsValue> {
    let out = Object::new();
    if let Some(retries) = &config.retries {
        let r = Object::new();
        set(&r, "limit", &JsValue::from_f64(f64::from(resolved.retries.limit)));
        let delay = match (&retries.delay_fn, &retries.delay) {
            (Some(delay_fn), _) => delay_function(delay_fn.clone(), resolved.clone()),
            (None, Some(d)) => duration(d)?,
            (None, None) => JsValue::from_f64(resolved.retries.delay_ms as f64),
        };
        set(&r, "delay", &delay);
        let backoff = serde_json::to_value(resolved.retries.backoff).unwrap_or_default();
        set(&r, "backoff", &JsValue::from_str(backoff.as_str().unwrap_or("exponential")));
        set(&out, "retries", &r);
    }
    if let Some(timeout) = &config.timeout {
        set(&out, "timeout", &duration(timeout)?);
    }
    if config.sensitive.is_some() {
        set(&out, "sensitive", &JsValue::from_str("output"));
    }
    Ok(out.into())
}

/// `retries.delay` as a function the engine calls with `{ctx, error}` after a failed attempt.
/// It returns the base delay and workerd grows it by the backoff, as the embedded engine does;
/// a duration lunora's parser refuses is returned as `NaN`, which workerd reports as an invalid
/// delay value (its own parser would read `"5 mins"` as 5 ms). The engine owns the closure once
/// it is handed over (it may call it on any later attempt).
fn delay_function(delay_fn: crate::config::DelayFn, resolved: ResolvedStepConfig) -> JsValue {
    let closure = Closure::<dyn FnMut(JsValue) -> std::result::Result<JsValue, JsValue>>::new(move |input: JsValue| {
        let (step, attempt) = step_identity(&get(&input, "ctx"));
        let error = error_from_js(&get(&input, "error"));
        let cx = crate::config::RetryDelayContext { step: &step, attempt, config: &resolved, error: &error };
        match delay_fn.base(&cx) {
            Ok(base) => Ok(duration(&base).unwrap_or(JsValue::from_f64(f64::NAN))),
            Err(e) => Err(js_sys::Error::new(e.message()).into()),
        }
    });
    closure.into_js_value()
}

/// `{step: {name, count}, attempt}` of a callback's context.
pub(crate) fn step_identity(ctx: &JsValue) -> (StepId, u32) {
    let step = get(ctx, "step");
    let name = get(&step, "name").as_string().unwrap_or_default();
    let count = get(&step, "count").as_f64().unwrap_or(1.0) as u32;
    let attempt = get(ctx, "attempt").as_f64().unwrap_or(1.0) as u32;
    (StepId { name, count }, attempt)
}

/// Epoch milliseconds of a `Date` (or of a number).
pub(crate) fn epoch_ms(value: &JsValue) -> i64 {
    match value.dyn_ref::<js_sys::Date>() {
        Some(date) => date.get_time() as i64,
        None => value.as_f64().unwrap_or(0.0) as i64,
    }
}
