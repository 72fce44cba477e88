//! `instance.subscribe(options)` over the binding: the RPC subscription's `next()` until it says
//! `done`, as a Rust stream. Dropping the stream disposes the subscription
//! (`subscription[Symbol.dispose]()`), which releases it in the engine, as a JS `using` would.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::js;
use crate::erased::Json;
use crate::error::Result;
use crate::subscription::SubscribeOptions;

/// `{cursor?, filter?}` as the binding takes it.
pub(super) fn options(options: &SubscribeOptions) -> JsValue {
    let object = Object::new();
    if let Some(cursor) = options.cursor {
        js::set(&object, "cursor", &JsValue::from_f64(cursor as f64));
    }
    if let Some(filter) = &options.filter {
        let list: Array = filter.iter().map(|t| JsValue::from_str(t)).collect();
        js::set(&object, "filter", &list);
    }
    object.into()
}

/// The binding's subscription as a stream.
pub(super) struct JsEvents {
    target: JsValue,
    pending: Option<JsFuture>,
    done: bool,
}

impl JsEvents {
    pub fn new(target: JsValue) -> Self {
        Self { target, pending: None, done: false }
    }

    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.pending = None;
            dispose(&self.target);
        }
    }
}

/// Yields the events as JSON: `Subscription::from_json` decodes them when they are read, so a
/// Worker that never subscribes does not carry the decoder (see `Subscription`).
impl futures_core::Stream for JsEvents {
    type Item = Result<Json>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.pending.is_none() {
            match js::call(&self.target, "next", &Array::new()) {
                Ok(promise) => self.pending = Some(JsFuture::from(promise)),
                Err(e) => {
                    self.finish();
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
        let polled = match self.pending.as_mut() {
            Some(pending) => Pin::new(pending).poll(cx),
            None => return Poll::Ready(None),
        };
        let result = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        self.pending = None;
        let item = match result {
            Err(e) => Err(js::error_from_js(&e)),
            Ok(step) if js::get(&step, "done").is_truthy() => {
                self.finish();
                return Poll::Ready(None);
            }
            Ok(step) => js::from_js(&js::get(&step, "value")),
        };
        if item.is_err() {
            self.finish();
        }
        Poll::Ready(Some(item))
    }
}

impl Drop for JsEvents {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `target[Symbol.dispose]()`, if the runtime has `Symbol.dispose` and the target the method.
fn dispose(target: &JsValue) {
    let symbol = Reflect::get(&js_sys::global(), &JsValue::from_str("Symbol")).unwrap_or(JsValue::UNDEFINED);
    let key = Reflect::get(&symbol, &JsValue::from_str("dispose")).unwrap_or(JsValue::UNDEFINED);
    if key.is_undefined() {
        return;
    }
    if let Ok(method) = Reflect::get(target, &key).and_then(|m| m.dyn_into::<Function>()) {
        // A failed release is the engine's to clean up; the stream is over either way.
        let _ = Reflect::apply(&method, target, &Array::new());
    }
}
