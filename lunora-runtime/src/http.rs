//! The HTTP transport behind `ctx.run` dispatch and the Workflows REST client: one object-safe
//! trait, with a native implementation here (ureq with rustls, run on Tokio's blocking pool)
//! and, on wasm32, the Worker's `fetch` (the Cloudflare backend).

use std::time::Duration;

use crate::step::BoxFuture;

/// An HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The whole exchange must finish within this time.
    pub timeout: Duration,
}

/// An HTTP response, whatever its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why no response was received (connection refused, DNS, TLS, timeout…).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub message: String,
    pub timed_out: bool,
}

/// Sends requests.
pub trait HttpTransport: Send + Sync {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

/// The platform's transport: [`NativeTransport`] natively, the Worker's `fetch`
/// ([`crate::cloudflare::FetchTransport`]) on wasm32.
pub fn default_transport() -> std::sync::Arc<dyn HttpTransport> {
    #[cfg(not(target_arch = "wasm32"))]
    return std::sync::Arc::new(NativeTransport);
    #[cfg(target_arch = "wasm32")]
    return std::sync::Arc::new(crate::cloudflare::FetchTransport);
}

/// The one wording of a timeout, whichever transport hit it.
pub(crate) fn timed_out(request: &HttpRequest) -> TransportError {
    TransportError {
        message: format!("request to {} timed out after {} ms", request.url, request.timeout.as_millis()),
        timed_out: true,
    }
}

/// The native transport: ureq (rustls with ring, so no system TLS library is needed),
/// each request on Tokio's blocking pool.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug, Default)]
pub struct NativeTransport;

#[cfg(not(target_arch = "wasm32"))]
impl HttpTransport for NativeTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || send_blocking(request))
                .await
                .map_err(|e| TransportError { message: format!("the HTTP task failed: {e}"), timed_out: false })?
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn send_blocking(request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(request.timeout)).http_status_as_error(false).build().into();
    let method: ureq::http::Method = request.method.parse().map_err(|_| TransportError {
        message: format!("invalid HTTP method {:?}", request.method),
        timed_out: false,
    })?;
    let mut builder = ureq::http::Request::builder().method(method).uri(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let http_request = builder.body(request.body.clone().unwrap_or_default()).map_err(|e| TransportError {
        message: format!("invalid request to {}: {e}", request.url),
        timed_out: false,
    })?;
    let mut response = agent.run(http_request).map_err(|e| match e {
        ureq::Error::Timeout(_) => timed_out(&request),
        e => TransportError { message: format!("request to {} failed: {e}", request.url), timed_out: false },
    })?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_vec().map_err(|e| match e {
        ureq::Error::Timeout(_) => timed_out(&request),
        e => {
            TransportError { message: format!("reading the response of {} failed: {e}", request.url), timed_out: false }
        }
    })?;
    Ok(HttpResponse { status, headers, body })
}
