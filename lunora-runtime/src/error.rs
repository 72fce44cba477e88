//! Errors with Cloudflare's names and messages.
//!
//! Every error a workflow sees is `{name, message}`, exactly the shape Cloudflare reports in
//! `status().error`, so code can match on the same names in both backends. [`Error`] works
//! like `anyhow::Error`: any `std::error::Error` converts into it with `?` (name `"Error"`),
//! which is why it does not implement `std::error::Error` itself.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The result type of workflow bodies, step callbacks and engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error as Cloudflare Workflows reports it: a `name` and a `message`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    name: String,
    message: String,
    /// A machine-readable code, e.g. a dispatch error's `FORBIDDEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    /// The HTTP status behind the error, for dispatch failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
}

/// The error families the engine distinguishes, derived from [`Error::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `NonRetryableError`: stops retries at once.
    NonRetryable,
    /// `WorkflowTimeoutError`: a step attempt or an event wait timed out (retryable).
    Timeout,
    /// `WorkflowFatalError`: bad names or config, step limit, steps during rollback.
    Fatal,
    /// `WorkflowInternalError`: storage failures, output too large.
    Internal,
    /// `NonRetryableDelayError`.
    NonRetryableDelay,
    /// `WorkflowError`: API misuse such as `(instance.not_found)`.
    Workflow,
    /// Any other name: an ordinary, retryable application error.
    Application,
}

pub(crate) const NON_RETRYABLE: &str = "NonRetryableError";
pub(crate) const TIMEOUT: &str = "WorkflowTimeoutError";
pub(crate) const FATAL: &str = "WorkflowFatalError";
pub(crate) const INTERNAL: &str = "WorkflowInternalError";
pub(crate) const NON_RETRYABLE_DELAY: &str = "NonRetryableDelayError";
pub(crate) const WORKFLOW: &str = "WorkflowError";

impl Error {
    /// An application error named `"Error"`, like `new Error(message)` in JS.
    pub fn new(message: impl Into<String>) -> Self {
        Self::named("Error", message)
    }

    /// An error with an explicit name.
    pub fn named(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self { name: name.into(), message: message.into(), code: None, status: None }
    }

    /// Attaches a code and an HTTP status (dispatch failures).
    pub fn with_code(mut self, code: Option<String>, status: Option<u16>) -> Self {
        self.code = code;
        self.status = status;
        self
    }

    /// The HTTP status behind the error, if it came from an HTTP call.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// A `NonRetryableError`: fails the step (and, uncaught, the instance) without retries.
    pub fn non_retryable(message: impl Into<String>) -> Self {
        Self::named(NON_RETRYABLE, message)
    }

    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // raised by the embedded engine
    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Self::named(TIMEOUT, message)
    }

    pub(crate) fn fatal(message: impl Into<String>) -> Self {
        Self::named(FATAL, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::named(INTERNAL, message)
    }

    /// A `WorkflowError` with Cloudflare's `(<code>) <detail>` message shape.
    pub(crate) fn workflow(code: &str, detail: impl fmt::Display) -> Self {
        Self::named(WORKFLOW, format!("({code}) {detail}"))
    }

    /// The error's name, e.g. `"NonRetryableError"` or `"WorkflowTimeoutError"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Which family the error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self.name.as_str() {
            NON_RETRYABLE => ErrorKind::NonRetryable,
            TIMEOUT => ErrorKind::Timeout,
            FATAL => ErrorKind::Fatal,
            INTERNAL => ErrorKind::Internal,
            NON_RETRYABLE_DELAY => ErrorKind::NonRetryableDelay,
            WORKFLOW => ErrorKind::Workflow,
            _ => ErrorKind::Application,
        }
    }

    /// Whether retrying the step is pointless. Cloudflare recognises a non-retryable error by
    /// its name or by a message that starts with the name.
    pub fn is_non_retryable(&self) -> bool {
        self.name == NON_RETRYABLE
            || self.message.starts_with(NON_RETRYABLE)
            || matches!(self.kind(), ErrorKind::Fatal | ErrorKind::NonRetryableDelay)
    }

    /// The error's code: a dispatch error's code, or for `WorkflowError`s the code between
    /// the leading parentheses, e.g. `instance.not_found`.
    pub fn code(&self) -> Option<&str> {
        if let Some(code) = &self.code {
            return Some(code);
        }
        if self.name != WORKFLOW {
            return None;
        }
        let rest = self.message.strip_prefix('(')?;
        rest.split_once(')').map(|(code, _)| code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("name", &self.name).field("message", &self.message);
        if let Some(code) = &self.code {
            d.field("code", code);
        }
        if let Some(status) = self.status {
            d.field("status", &status);
        }
        d.finish()
    }
}

impl<E> From<E> for Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(err: E) -> Self {
        // A NonRetryableError must keep its name through `?`, or retries would not stop.
        if let Some(nr) = (&err as &dyn std::any::Any).downcast_ref::<NonRetryableError>() {
            return Error::named(nr.name.clone(), nr.message.clone());
        }
        Error::new(err.to_string())
    }
}

/// The portable mirror of `cloudflare:workflows`' `NonRetryableError`: returning it from a step
/// fails the step at once, without retries. Usable with `?` anywhere an [`Error`] is expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct NonRetryableError {
    name: String,
    message: String,
}

impl NonRetryableError {
    /// A non-retryable error named `"NonRetryableError"`.
    pub fn new(message: impl Into<String>) -> Self {
        Self { name: NON_RETRYABLE.to_owned(), message: message.into() }
    }

    /// A non-retryable error with a custom name (the JS constructor's second argument).
    /// Its message is prefixed with `NonRetryableError` so the engine still recognises it.
    pub fn with_name(message: impl Into<String>, name: impl Into<String>) -> Self {
        let name = name.into();
        let message = message.into();
        if name == NON_RETRYABLE {
            return Self { name, message };
        }
        Self { name, message: format!("{NON_RETRYABLE}: {message}") }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_retryable_keeps_its_name_through_question_mark() {
        fn fails() -> Result<()> {
            Err(NonRetryableError::new("order cancelled"))?
        }
        let err = fails().unwrap_err();
        assert_eq!(err.name(), "NonRetryableError");
        assert_eq!(err.message(), "order cancelled");
        assert!(err.is_non_retryable());
    }

    #[test]
    fn std_errors_become_plain_retryable_errors() {
        let err: Error = std::io::Error::other("disk on fire").into();
        assert_eq!(err.name(), "Error");
        assert_eq!(err.kind(), ErrorKind::Application);
        assert!(!err.is_non_retryable());
    }

    #[test]
    fn custom_named_non_retryable_is_recognised_by_message_prefix() {
        let err: Error = NonRetryableError::with_name("bad card", "CardError").into();
        assert_eq!(err.name(), "CardError");
        assert!(err.is_non_retryable());
    }

    #[test]
    fn workflow_error_code_is_parsed() {
        let err = Error::workflow("instance.not_found", "no instance \"x\"");
        assert_eq!(err.code(), Some("instance.not_found"));
        assert_eq!(err.to_string(), "WorkflowError: (instance.not_found) no instance \"x\"");
    }
}
