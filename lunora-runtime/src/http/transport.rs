//! The transport: one object-safe trait, [`HttpRequest`] / [`HttpResponse`], and the native
//! implementation (ureq with rustls, run on Tokio's blocking pool).
//!
//! Requests carry credentials, so what this module prints never shows them: a request's
//! `Debug` hides credential headers, and messages show URLs without their userinfo
//! ([`crate::secret::url_for_display`]). The native transport follows no redirect: a 3xx
//! comes back as a response, so a redirect can neither carry a request elsewhere nor hide
//! where it pointed.

use std::fmt;
use std::time::Duration;

use crate::duration::millis;
use crate::erased::BoxFuture;
use crate::secret::{url_for_display, REDACTED};

/// Headers whose values are credentials.
pub(crate) const CREDENTIAL_HEADERS: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "x-api-key"];

/// An HTTP request. Its `Debug` hides credential headers and the URL's userinfo.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The whole exchange must finish within this time.
    pub timeout: Duration,
}

impl HttpRequest {
    /// The URL as messages may show it: without its userinfo.
    pub fn url_for_display(&self) -> std::borrow::Cow<'_, str> {
        url_for_display(&self.url)
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let hidden = CREDENTIAL_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h));
                (name.as_str(), if hidden { REDACTED } else { value.as_str() })
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url_for_display())
            .field("headers", &headers)
            .field("body", &self.body.as_ref().map(|b| b.len()))
            .field("timeout", &self.timeout)
            .finish()
    }
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

/// The one wording of a timeout, whichever transport hit it.
pub(crate) fn timed_out(request: &HttpRequest) -> TransportError {
    TransportError {
        // In i64: formatting the u128 of `as_millis` would link u128 formatting into a Worker.
        message: format!("request to {} timed out after {} ms", request.url_for_display(), millis(request.timeout)),
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
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(request.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let url = request.url_for_display();
    let method: ureq::http::Method = request.method.parse().map_err(|_| TransportError {
        message: format!("invalid HTTP method {:?}", request.method),
        timed_out: false,
    })?;
    let mut builder = ureq::http::Request::builder().method(method).uri(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let http_request = builder
        .body(request.body.clone().unwrap_or_default())
        .map_err(|e| TransportError { message: format!("invalid request to {url}: {e}"), timed_out: false })?;
    let mut response = agent.run(http_request).map_err(|e| match e {
        ureq::Error::Timeout(_) => timed_out(&request),
        e => TransportError { message: format!("request to {url} failed: {e}"), timed_out: false },
    })?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_vec().map_err(|e| match e {
        ureq::Error::Timeout(_) => timed_out(&request),
        e => TransportError { message: format!("reading the response of {url} failed: {e}"), timed_out: false },
    })?;
    Ok(HttpResponse { status, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_credentials() {
        let request = HttpRequest {
            method: "POST".into(),
            url: "https://user:hunter2-secret@example.com/x".into(),
            headers: vec![
                ("authorization".into(), "Bearer Zq9XwVb7Lm3KpT2s".into()),
                ("Cookie".into(), "session=abcdef0123".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(b"{}".to_vec()),
            timeout: Duration::from_secs(1),
        };
        let debug = format!("{request:?} {request:#?}");
        for secret in ["hunter2-secret", "user:", "Zq9XwVb7Lm3KpT2s", "abcdef0123"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains(r#"("authorization", "[REDACTED]")"#) && debug.contains("application/json"), "{debug}");
        assert!(debug.contains("https://[REDACTED]@example.com/x"), "{debug}");
        assert_eq!(timed_out(&request).message, "request to https://[REDACTED]@example.com/x timed out after 1000 ms");
    }
}
