//! The Worker's `fetch` as [`HttpTransport`] (wasm32): what `ctx.run`, the REST client and
//! [`Client`](super::Client) send with in a Worker.

use futures_util::future::{select, Either};
use wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

use super::transport::{timed_out, HttpRequest, HttpResponse, HttpTransport, TransportError};
use crate::erased::BoxFuture;

/// `fetch`, with the request's timeout enforced by aborting it.
#[derive(Clone, Debug, Default)]
pub struct FetchTransport;

impl HttpTransport for FetchTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(send(request))
    }
}

fn failed(url: &str, detail: impl std::fmt::Display) -> TransportError {
    TransportError { message: format!("request to {url} failed: {detail}"), timed_out: false }
}

async fn send(request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let url = request.url.clone();
    // Messages show the URL without its userinfo (`failed` formats it).
    let shown = request.url_for_display().into_owned();
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.append(name, value).map_err(|e| failed(&shown, e))?;
    }
    let mut init = RequestInit::new();
    // Like the native transport: a 3xx comes back as it is, never followed.
    init.with_method(Method::from(request.method.clone())).with_headers(headers).with_redirect(RequestRedirect::Manual);
    if let Some(body) = &request.body {
        init.with_body(Some(JsValue::from(js_sys::Uint8Array::from(body.as_slice()))));
    }
    let js_request = Request::new_with_init(&url, &init).map_err(|e| failed(&shown, e))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = Box::pin(async move {
        let fetch = Fetch::Request(js_request);
        let mut response = fetch.send_with_signal(&signal).await.map_err(|e| failed(&shown, e))?;
        let status = response.status_code();
        let headers = response.headers().entries().map(|(n, v)| (n.to_ascii_lowercase(), v)).collect();
        let body = response.bytes().await.map_err(|e| failed(&shown, e))?;
        Ok(HttpResponse { status, headers, body })
    });
    let timer = Delay::from(request.timeout);
    match select(exchange, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => {
            controller.abort();
            Err(timed_out(&request))
        }
    }
}
