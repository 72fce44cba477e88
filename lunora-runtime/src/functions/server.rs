//! The dispatch endpoint natively, as an axum router (feature `server`):
//! `functions::server::serve(listener, endpoint)`, or `.merge(router(endpoint))` into the
//! app's own axum router.
//!
//! axum only moves bytes: reading at most [`MAX_BODY_BYTES`] + 1 of the body, every decision is
//! [`DispatchEndpoint::answer`]'s, the same as in a Worker.

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use super::protocol::{DispatchEndpoint, DispatchRequest, DispatchResponse, MAX_BODY_BYTES};
use super::registry::FunctionError;
use crate::dispatch::DISPATCH_PATH;

/// Serves `endpoint` on `listener` until the task is dropped or the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, endpoint: DispatchEndpoint) -> std::io::Result<()> {
    axum::serve(listener, router(endpoint)).await
}

/// A router answering [`DISPATCH_PATH`] (every method: a wrong one gets the protocol's 405).
pub fn router(endpoint: DispatchEndpoint) -> Router {
    Router::new().route(DISPATCH_PATH, any(answer)).with_state(endpoint)
}

async fn answer(State(endpoint): State<DispatchEndpoint>, method: Method, headers: HeaderMap, body: Body) -> Response {
    // One byte past the limit is enough for the endpoint to refuse the body as too large.
    let (body, oversized) = match to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(bytes) => (bytes.to_vec(), false),
        Err(_) => (Vec::new(), true),
    };
    let request = DispatchRequest {
        method: method.as_str().to_owned(),
        headers: headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect(),
        body,
        oversized,
    };
    // The answer runs in its own task: a caller that hangs up (its attempt timed out) must not
    // cancel a handler that holds the id's claim, or every retry would be declined until the
    // lease lapsed. Detached, the handler finishes and stores its answer for the retry.
    let answer = match tokio::spawn(async move { endpoint.answer(request).await }).await {
        Ok(answer) => answer,
        Err(e) => {
            let message = if e.is_panic() { "the function's handler panicked" } else { "the dispatch was cancelled" };
            DispatchResponse::error(&FunctionError::internal("DISPATCH_FAILED", message))
        }
    };
    let mut response =
        (StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), answer.body).into_response();
    for (name, value) in answer.headers {
        // The endpoint's own names and values (escaped text): never fails; skipped if it did.
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(HeaderName::from_static(name), value);
        }
    }
    response
}
