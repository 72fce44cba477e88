//! `GET …/<name>/instances/<id>/subscribe?cursor=&filter=`: the instance's events as
//! Server-Sent Events (the frames of [`crate::rest::subscribe`]), with a keep-alive comment
//! while nothing happens, so that a client whose consumer went away notices and hangs up.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_core::Stream;

use super::envelope::ApiFailure;
use super::request::percent_decode;
use crate::local::Engine;
use crate::rest::subscribe::{error_frame, event_frame, END_FRAME};
use crate::subscription::{SubscribeOptions, Subscription};

/// How long the stream stays silent before a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn invalid(detail: String) -> ApiFailure {
    ApiFailure::bad_request("instance.invalid_subscription", format!("Invalid Workflow subscription options: {detail}"))
}

/// `cursor=<event id>` and `filter=<type>,<type>` (or `filter` repeated); nothing else.
pub fn options(query: Option<&str>) -> Result<SubscribeOptions, ApiFailure> {
    let mut options = SubscribeOptions::new();
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value, true)?;
        match key {
            "cursor" => {
                let cursor = value.parse::<u64>().map_err(|_| {
                    invalid(format!("cursor must be an event id (a whole number from 0), not {value:?}"))
                })?;
                options.cursor = Some(cursor);
            }
            "filter" => {
                let names = value.split(',').filter(|t| !t.is_empty()).map(str::to_owned);
                options.filter.get_or_insert_with(Vec::new).extend(names);
            }
            other => return Err(invalid(format!("unknown parameter {other:?} (only cursor and filter)"))),
        }
    }
    options
        .validate()
        .map_err(|e| invalid(e.message().trim_start_matches("Invalid Workflow subscription options: ").to_owned()))?;
    Ok(options)
}

pub fn subscribe(engine: &Engine, workflow: &str, id: &str, query: Option<&str>) -> Result<Response, ApiFailure> {
    let options = options(query)?;
    let subscription = engine.subscribe(workflow, id, options)?;
    let frames = Frames { subscription, keep_alive: keep_alive(), ended: false };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
        Body::from_stream(frames),
    )
        .into_response())
}

fn keep_alive() -> tokio::time::Interval {
    tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE)
}

/// The subscription as frames: its events, then the end frame (or an error frame).
struct Frames {
    subscription: Subscription,
    keep_alive: tokio::time::Interval,
    ended: bool,
}

impl Stream for Frames {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let frame = match Pin::new(&mut self.subscription).poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => event_frame(&event),
            Poll::Ready(Some(Err(error))) => {
                self.ended = true;
                error_frame(&error)
            }
            Poll::Ready(None) => {
                self.ended = true;
                END_FRAME.to_owned()
            }
            Poll::Pending => {
                if self.keep_alive.poll_tick(cx).is_pending() {
                    return Poll::Pending;
                }
                return Poll::Ready(Some(Ok(Bytes::from_static(b": keep-alive\n\n"))));
            }
        };
        self.keep_alive.reset();
        Poll::Ready(Some(Ok(Bytes::from(frame))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked() {
        let o = options(Some("cursor=12&filter=step_completed,workflow_errored&filter=wait_started")).unwrap();
        assert_eq!(o.cursor, Some(12));
        assert_eq!(o.filter.unwrap(), ["step_completed", "workflow_errored", "wait_started"]);
        assert_eq!(options(None).unwrap(), SubscribeOptions::new());
        for (query, expected) in [
            ("cursor=-1", "cursor must be an event id"),
            ("cursor=abc", "cursor must be an event id"),
            ("filter=step_done", "\"step_done\""),
            ("limit=3", "unknown parameter"),
        ] {
            let failure = options(Some(query)).unwrap_err();
            let detail = failure.detail.unwrap_or_default();
            assert!(
                detail.starts_with("Invalid Workflow subscription options") && detail.contains(expected),
                "{query}: {detail}"
            );
        }
    }
}
