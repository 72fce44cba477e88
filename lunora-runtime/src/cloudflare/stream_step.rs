//! Stream steps on Cloudflare: the callback hands workerd a JS `ReadableStream` fed by the Rust
//! stream (each chunk copied into its own `Uint8Array`), and the `ReadableStream` `step.do`
//! resolves to (workerd's replay of the persisted chunks) is read back as a [`StepBytes`].
//! workerd persists, re-chunks, replays and enforces the limits itself.

use futures_util::StreamExt;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js::{self, boxed, settle};
use super::step::{ready, JsStep};
use crate::config::StepConfig;
use crate::erased::BoxFuture;
use crate::error::{Error, Result};
use crate::step::StreamAttemptFn;
use crate::step_bytes::{ByteChunks, StepBytes};

impl JsStep {
    pub(super) fn do_stream<'a>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        attempt: StreamAttemptFn<'a>,
    ) -> BoxFuture<'a, Result<StepBytes>> {
        match self.start_do(name, config, attempt, chunks_to_js, None) {
            Err(e) => ready(Err(e)),
            Ok((promise, attempts, callback)) => boxed(async move {
                let result = settle(promise).await;
                // As for `do_step`: the attempts (and their borrows) go first, then the callback.
                drop(attempts);
                drop(callback);
                stored_bytes(result?)
            }),
        }
    }
}

/// The callback's stream as the `ReadableStream` workerd reads; a chunk that fails errors it.
fn chunks_to_js(chunks: ByteChunks) -> std::result::Result<JsValue, JsValue> {
    let items = chunks.map(|item| match item {
        Ok(bytes) => Ok(js_sys::Uint8Array::from(bytes.as_slice()).into()),
        Err(error) => Err(js::error_to_js(&error)),
    });
    Ok(wasm_streams::ReadableStream::from_stream(items).into_raw().into())
}

/// The `ReadableStream` `step.do` resolved to, read chunk by chunk.
fn stored_bytes(value: JsValue) -> Result<StepBytes> {
    let raw: web_sys::ReadableStream = value.dyn_into().map_err(|other| {
        Error::internal(format!("the engine answered a stream step with {other:?}, not a ReadableStream"))
    })?;
    let stream =
        wasm_streams::ReadableStream::from_raw(raw).try_into_stream().map_err(|(e, _)| js::error_from_js(&e))?;
    let chunks = stream.map(|item| match item {
        Ok(chunk) => Ok(js_sys::Uint8Array::new(&chunk).to_vec()),
        Err(error) => Err(js::error_from_js(&error)),
    });
    Ok(StepBytes::new(Box::pin(chunks), None))
}
