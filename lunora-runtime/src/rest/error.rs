//! Why a REST call failed: [`WorkflowsRestError`], with the token redacted everywhere.

use crate::http::TransportError;
use serde::{Deserialize, Serialize};

/// How many characters of a response body an error message quotes.
pub const BODY_EXCERPT_CHARS: usize = 256;

/// The first [`BODY_EXCERPT_CHARS`] characters of a body, with `…` when cut.
pub(super) fn excerpt(text: &str) -> String {
    let mut chars = text.char_indices();
    match chars.nth(BODY_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestErrorKind {
    /// No response: connection refused, DNS, TLS…
    Transport,
    /// No response within the timeout.
    Timeout,
    /// A non-2xx status.
    Http,
    /// A 2xx status whose body is not JSON.
    NotJson,
    /// A 2xx JSON body that is not an envelope (no boolean `success`).
    Malformed,
    /// A 2xx envelope with `success: false`.
    Unsuccessful,
    /// A successful envelope whose `result` does not have the expected shape (or a request
    /// body that could not be serialised).
    Decode,
    /// Nothing was sent: the client's token is too short to be redacted reliably, or its
    /// base URL carries credentials.
    Config,
}

/// One entry of the envelope's `errors`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: i64,
    pub message: String,
}

/// What a [`WorkflowsRestError`] was caused by: the whole response body, or the transport's
/// failure. Both have the API token redacted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestCause {
    #[error("{0}")]
    Body(String),
    #[error(transparent)]
    Transport(TransportError),
}

/// A failed Workflows REST call: the HTTP status (none when no response came back), a message
/// quoting at most [`BODY_EXCERPT_CHARS`] characters of the body, Cloudflare's `errors`, and
/// the whole body as the cause. The API token never appears in any of them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WorkflowsRestError {
    pub(super) kind: RestErrorKind,
    pub(super) status: Option<u16>,
    pub(super) message: String,
    pub(super) errors: Vec<ApiError>,
    #[source]
    pub(super) cause: Option<RestCause>,
}

impl WorkflowsRestError {
    pub(super) fn local(kind: RestErrorKind, message: String) -> Self {
        Self { kind, status: None, message, errors: Vec::new(), cause: None }
    }

    pub fn kind(&self) -> RestErrorKind {
        self.kind
    }

    /// The HTTP status, or `None` when no response was received.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The message (also the `Display`): what was called, what went wrong, the body's start.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Cloudflare's `errors[{code, message}]`, when the body carried them.
    pub fn errors(&self) -> &[ApiError] {
        &self.errors
    }

    /// The whole response body, when there was one.
    pub fn body(&self) -> Option<&str> {
        match &self.cause {
            Some(RestCause::Body(body)) => Some(body),
            _ => None,
        }
    }

    /// The cause: the whole body or the transport error.
    pub fn cause(&self) -> Option<&RestCause> {
        self.cause.as_ref()
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == RestErrorKind::Timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_on_characters_not_bytes() {
        let body = "é".repeat(300);
        let cut = excerpt(&body);
        assert_eq!(cut.chars().count(), BODY_EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("short"), "short");
    }
}
