//! `ctx.step.do_stream`: steps whose callback returns a byte stream (see `step_bytes` for what
//! they return and the rules the engines read the stream by).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::config::StepConfig;
use crate::error::Result;
use crate::maybe_send::MaybeSend;
use crate::step::{StepContext, StreamAttemptFn, WorkflowStep};
use crate::step_bytes::{ByteChunks, StepBytes};

/// A user stream of anything that turns into bytes, as [`ByteChunks`]. A failure is logged
/// as it passes (`log`), since workerd reports only that the stream broke off.
fn erase<S, T>(stream: S, log: crate::log::Logger, step: String) -> ByteChunks
where
    S: Stream<Item = Result<T>> + MaybeSend + 'static,
    T: Into<Vec<u8>>,
{
    struct IntoBytes<S> {
        stream: Pin<Box<S>>,
        log: crate::log::Logger,
        step: String,
    }
    impl<S: Stream<Item = Result<T>>, T: Into<Vec<u8>>> Stream for IntoBytes<S> {
        type Item = Result<Vec<u8>>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let polled = self.stream.as_mut().poll_next(cx);
            if let Poll::Ready(Some(Err(e))) = &polled {
                self.log.error(format_args!("the stream of step \"{}\" failed after it was returned: {e}", self.step));
            }
            polled.map(|item| item.map(|chunk| chunk.map(Into::into)))
        }
    }
    Box::pin(IntoBytes { stream: Box::pin(stream), log, step })
}

impl WorkflowStep {
    /// `step.do(name, callback)` where the callback returns a byte stream (Cloudflare's
    /// `ReadableStream` output): the stream is read to the end and persisted, and the step
    /// returns a [`StepBytes`] reading the persisted bytes, on this run and on every replay.
    /// Non-stream outputs are limited to 1 MiB; streamed ones count against the instance's
    /// 1 GiB. The stream must own what it reads (`'static`); how failures, retries and limits
    /// work is in [`step_bytes`](crate::step_bytes).
    pub fn do_stream<'a, F, Fut, S, T>(
        &'a self,
        name: impl Into<String>,
        callback: F,
    ) -> impl Future<Output = Result<StepBytes>> + MaybeSend + 'a
    where
        F: FnMut(StepContext) -> Fut + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
        Fut: Future<Output = Result<S>> + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
        S: Stream<Item = Result<T>> + MaybeSend + 'static,
        T: Into<Vec<u8>>,
    {
        self.run_stream_step(name.into(), None, callback)
    }

    /// [`Self::do_stream`] with a step config (`step.do(name, config, callback)`).
    pub fn do_stream_with<'a, F, Fut, S, T>(
        &'a self,
        name: impl Into<String>,
        config: StepConfig,
        callback: F,
    ) -> impl Future<Output = Result<StepBytes>> + MaybeSend + 'a
    where
        F: FnMut(StepContext) -> Fut + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
        Fut: Future<Output = Result<S>> + MaybeSend + 'a, // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
        S: Stream<Item = Result<T>> + MaybeSend + 'static,
        T: Into<Vec<u8>>,
    {
        self.run_stream_step(name.into(), Some(config), callback)
    }

    fn run_stream_step<'a, F, Fut, S, T>(
        &'a self,
        name: String,
        config: Option<StepConfig>,
        mut callback: F,
    ) -> impl Future<Output = Result<StepBytes>> + MaybeSend + 'a
    where
        F: FnMut(StepContext) -> Fut + MaybeSend + 'a,
        Fut: Future<Output = Result<S>> + MaybeSend + 'a,
        S: Stream<Item = Result<T>> + MaybeSend + 'static,
        T: Into<Vec<u8>>,
    {
        let attempt: StreamAttemptFn<'a> = Box::new(move |ctx| {
            let (log, step) = (ctx.log.clone(), ctx.step.name.clone());
            let fut = callback(ctx);
            Box::pin(async move { fut.await.map(|stream| erase(stream, log, step)) })
        });
        // Called now, not in the async block: the backend allocates the step's count here.
        self.backend().do_stream_step(name, config, attempt)
    }
}
