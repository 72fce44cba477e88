//! The Worker's `fetch` as [`HttpTransport`] (wasm32): what `ctx.run`, the REST client and
//! [`Client`](super::Client) send with in a Worker.
//!
//! Written against `web_sys`'s `fetch` rather than `worker::Fetch`: worker's `Request` and
//! `RequestInit` conversions carry its `cf` options (image resizing and more, serialised with
//! serde_wasm_bindgen), code every Worker would download although no request here sets them.

use futures_util::future::{select, Either};
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, RequestInit, RequestRedirect, Response, WorkerGlobalScope};
use worker::Delay;

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

fn failed(url: &str, detail: &JsValue) -> TransportError {
    TransportError { message: format!("request to {url} failed: {}", describe(detail)), timed_out: false }
}

/// A thrown JS value as text: `Name: message` (`Name [code]: message` when it has a code) for
/// an `Error`, the string itself for a string.
fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        let name = error.name().as_string().unwrap_or_else(|| "Error".into());
        let message = String::from(error.message());
        let code = js_sys::Reflect::get(error, &JsValue::from_str("code")).ok().and_then(|c| c.as_string());
        return match code {
            Some(code) => format!("{name} [{code}]: {message}"),
            None => format!("{name}: {message}"),
        };
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

async fn send(request: HttpRequest) -> Result<HttpResponse, TransportError> {
    // Messages show the URL without its userinfo (`failed` formats it).
    let shown = request.url_for_display().into_owned();
    let fail = |e: JsValue| failed(&shown, &e);
    let headers = Headers::new().map_err(fail)?;
    for (name, value) in &request.headers {
        headers.append(name, value).map_err(fail)?;
    }
    let init = RequestInit::new();
    // Upper-cased, as `fetch` itself does only for the six standard methods (not PATCH).
    init.set_method(&request.method.to_ascii_uppercase());
    init.set_headers(&headers);
    // Like the native transport: a 3xx comes back as it is, never followed.
    init.set_redirect(RequestRedirect::Manual);
    if let Some(body) = &request.body {
        init.set_body(&Uint8Array::from(body.as_slice()));
    }
    let controller = AbortController::new().map_err(fail)?;
    init.set_signal(Some(&controller.signal()));
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let started = global.fetch_with_str_and_init(&request.url, &init);
    let exchange = Box::pin(async {
        let response: Response = JsFuture::from(started).await.map_err(fail)?.unchecked_into();
        let status = response.status();
        let mut headers = Vec::new();
        let entries = js_sys::try_iter(&response.headers()).map_err(fail)?.into_iter().flatten();
        for entry in entries {
            let pair: js_sys::Array = entry.map_err(fail)?.unchecked_into();
            let (name, value) = (pair.get(0).as_string(), pair.get(1).as_string());
            headers.push((name.unwrap_or_default().to_ascii_lowercase(), value.unwrap_or_default()));
        }
        let buffer = JsFuture::from(response.array_buffer().map_err(fail)?).await.map_err(fail)?;
        Ok(HttpResponse { status, headers, body: Uint8Array::new(&buffer).to_vec() })
    });
    let timer = Delay::from(request.timeout);
    let outcome = match select(exchange, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => {
            controller.abort();
            Err(timed_out(&request))
        }
    };
    outcome
}
