//! [`Client`]: HTTP calls from steps that work on both engines (ureq natively, the Worker's
//! `fetch` on wasm32), with JSON helpers and the retry decision made from the status.
//!
//! What each answer becomes is documented on [`Client`].

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::transport::{HttpRequest, HttpResponse, HttpTransport, CREDENTIAL_HEADERS};
use crate::error::{Error, Result};
use crate::secret::{url_userinfo, Redactor, MIN_SECRET_CHARS};

/// The name of retryable HTTP failures (5xx, 408, 425, 429, no answer).
pub const HTTP_ERROR: &str = "HttpError";
/// How long a request may take unless [`Client::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a failed answer's body an error quotes.
const BODY_EXCERPT_CHARS: usize = 300;

/// An HTTP client for step callbacks: `get_json`, `post_json`, default headers and a timeout.
/// Cheap to clone. Natively it sends with ureq (on Tokio's blocking pool), on wasm32 with the
/// Worker's `fetch`; redirects are never followed.
///
/// What an answer becomes:
///
/// | answer | result |
/// |---|---|
/// | 2xx | `Ok`, the body decoded as JSON (an empty body reads as `null`, so `()` works) |
/// | 408, 425, 429, 5xx | an `HttpError`: retryable, the step's retries apply |
/// | any other status (3xx — redirects are not followed —, 4xx) | a `NonRetryableError`: retrying cannot change it |
/// | no answer (refused, DNS, TLS, timeout) | an `HttpError`: retryable |
/// | a 2xx whose body is not the expected JSON | a `NonRetryableError` |
///
/// Every error names the method, the URL (without its userinfo) and the status
/// ([`Error::status`]), with the start of the body; credentials the request carried (its
/// `Authorization`-like headers, the URL's userinfo) are replaced by `[REDACTED]` wherever the
/// server echoed them.
#[derive(Clone)]
pub struct Client {
    /// `None`: the platform's ([`platform_transport`]), made when a request is sent, so a
    /// Worker whose steps never send one does not link the `fetch` transport.
    transport: Option<Arc<dyn HttpTransport>>,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Client").field("headers", &names).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client over the target's transport with a 30 s timeout and no default headers.
    pub fn new() -> Self {
        Self { transport: None, headers: Vec::new(), timeout: DEFAULT_TIMEOUT }
    }

    /// A client over another transport (a recording or scripted one in tests).
    pub fn with_transport(transport: Arc<dyn HttpTransport>) -> Self {
        Self { transport: Some(transport), headers: Vec::new(), timeout: DEFAULT_TIMEOUT }
    }

    /// A header sent with every request (an API key, `accept`…). A credential header's value
    /// (`authorization`, `cookie`, `x-api-key`…) never appears in errors.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `authorization: Bearer <token>` on every request.
    pub fn bearer(self, token: impl AsRef<str>) -> Self {
        let value = format!("Bearer {}", token.as_ref());
        self.header("authorization", value)
    }

    /// How long a whole exchange may take (default 30 s); a request that takes longer fails with
    /// a retryable `HttpError`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `GET url`, the 2xx body decoded as `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T> {
        let response = self.send("GET", url, None).await?;
        decode("GET", url, &response)
    }

    /// `POST url` with `body` as JSON, the 2xx body decoded as `T`.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(&self, url: &str, body: &B) -> Result<T> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Error::non_retryable(format!("POST {}: the body cannot be serialised: {e}", shown(url))))?;
        let response = self.send("POST", url, Some(body)).await?;
        decode("POST", url, &response)
    }

    /// Any method, any body (sent as JSON when given): the 2xx response as it is, any other
    /// answer as the error the table on [`Client`] gives.
    pub async fn send(&self, method: &str, url: &str, body: Option<Vec<u8>>) -> Result<HttpResponse> {
        let mut headers = self.headers.clone();
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("accept")) {
            headers.push(("accept".into(), "application/json".into()));
        }
        if body.is_some() && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let request =
            HttpRequest { method: method.to_owned(), url: url.to_owned(), headers, body, timeout: self.timeout };
        let redactor = redactor_for(&request);
        let transport = self.transport.clone().unwrap_or_else(platform_transport);
        let response = transport.send(request).await.map_err(|e| {
            // The transport's message already shows the URL without its userinfo.
            Error::named(HTTP_ERROR, format!("{method} {}", redactor.redact_to_string(&e.message)))
        })?;
        check_status(method, url, &redactor, response)
    }
}

/// ureq natively, the Worker's `fetch` on wasm32.
pub(crate) fn platform_transport() -> Arc<dyn HttpTransport> {
    #[cfg(not(target_arch = "wasm32"))]
    return Arc::new(super::transport::NativeTransport);
    #[cfg(target_arch = "wasm32")]
    return Arc::new(super::fetch::FetchTransport);
}

fn shown(url: &str) -> std::borrow::Cow<'_, str> {
    crate::secret::url_for_display(url)
}

/// Whether a failed status may succeed when asked again.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500..=599)
}

/// Finds the request's credentials (credential headers' values, the URL's userinfo) in echoes.
fn redactor_for(request: &HttpRequest) -> Redactor {
    let mut secrets: Vec<String> = request
        .headers
        .iter()
        .filter(|(name, _)| CREDENTIAL_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)))
        .flat_map(|(_, value)| {
            // `Bearer <token>`: the token alone may be echoed too.
            let token = value.split_once(' ').map(|(_, t)| t.trim().to_owned());
            [Some(value.clone()), token].into_iter().flatten()
        })
        .collect();
    if let Some(userinfo) = url_userinfo(&request.url) {
        secrets.push(userinfo.to_owned());
        secrets.extend(userinfo.split_once(':').map(|(_, password)| password.to_owned()));
    }
    // Shorter ones cannot be told apart from ordinary words (see `secret`).
    Redactor::new(secrets.iter().filter(|s| s.chars().count() >= MIN_SECRET_CHARS))
}

fn check_status(method: &str, url: &str, redactor: &Redactor, response: HttpResponse) -> Result<HttpResponse> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let body = String::from_utf8_lossy(&response.body);
    let mut excerpt: String = body.chars().take(BODY_EXCERPT_CHARS).collect();
    if body.chars().count() > BODY_EXCERPT_CHARS {
        excerpt.push('…');
    }
    let excerpt = redactor.redact_to_string(excerpt.trim());
    let what = if (300..400).contains(&status) { " (redirects are not followed)" } else { "" };
    let mut message = format!("{method} {} returned HTTP {status}{what}", shown(url));
    if !excerpt.is_empty() {
        message.push_str(": ");
        message.push_str(&excerpt);
    }
    let error =
        if is_retryable_status(status) { Error::named(HTTP_ERROR, message) } else { Error::non_retryable(message) };
    Err(error.with_code(None, Some(status)))
}

/// The 2xx body as `T`; an empty body reads as `null`.
fn decode<T: DeserializeOwned>(method: &str, url: &str, response: &HttpResponse) -> Result<T> {
    let body = response.body.as_slice();
    let decoded = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_value(serde_json::Value::Null)
    } else {
        serde_json::from_slice(body)
    };
    decoded.map_err(|e| {
        Error::non_retryable(format!(
            "{method} {} returned HTTP {}, but its body is not the JSON the step expects: {e}",
            shown(url),
            response.status
        ))
        .with_code(None, Some(response.status))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_that_may_change_on_retry_are_retryable() {
        for status in [408, 425, 429, 500, 502, 503, 599] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [300, 301, 400, 401, 403, 404, 409, 410, 422] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn errors_quote_the_body_without_the_request_credentials() {
        let request = HttpRequest {
            method: "GET".into(),
            url: "http://robot:pa55-word-xyz@127.0.0.1/x".into(),
            headers: vec![("Authorization".into(), "Bearer Zq9XwVb7Lm3KpT2s".into())],
            body: None,
            timeout: DEFAULT_TIMEOUT,
        };
        let redactor = redactor_for(&request);
        let body = r#"{"saw":"Bearer Zq9XwVb7Lm3KpT2s","token":"Zq9XwVb7Lm3KpT2s","pw":"pa55-word-xyz"}"#;
        let response = HttpResponse { status: 401, headers: vec![], body: body.as_bytes().to_vec() };
        let error = check_status("GET", &request.url, &redactor, response).unwrap_err();
        let text = error.to_string();
        for secret in ["Zq9XwVb7Lm3KpT2s", "pa55-word-xyz", "robot"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.starts_with("NonRetryableError: GET http://[REDACTED]@127.0.0.1/x returned HTTP 401: "), "{text}");
        assert_eq!(error.status(), Some(401));
    }

    #[test]
    fn a_huge_body_is_cut() {
        let response = HttpResponse { status: 503, headers: vec![], body: "é".repeat(100_000).into_bytes() };
        let error = check_status("GET", "http://h/", &Redactor::default(), response).unwrap_err();
        assert_eq!(error.name(), HTTP_ERROR);
        assert!(error.message().chars().count() < BODY_EXCERPT_CHARS + 60, "{}", error.message().len());
        assert!(error.message().ends_with('…'));
    }
}
