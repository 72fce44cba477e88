//! The Cloudflare Workflows REST API: list, inspect, create and steer instances of a deployed
//! workflow from outside the Worker.
//!
//! Every call goes through an [`HttpTransport`](crate::http::HttpTransport) (by default ureq
//! natively and the Worker's `fetch` on wasm32; [`WorkflowsRestClient::with_transport`] plugs in
//! another), parses Cloudflare's envelope `{success, errors, messages, result, result_info}` and
//! fails with a [`WorkflowsRestError`] on non-2xx statuses, non-JSON bodies and `success: false`.
//!
//! The API token is a secret: the client's `Debug` shows `[REDACTED]`, and every response
//! body (before it is parsed, so results too) and transport error has the token replaced by
//! `[REDACTED]` in every spelling [`crate::secret`] recognises (raw, string-escaped,
//! percent-encoded, HTML-referenced, base64), so a server that echoes the token cannot leak
//! it. URLs in messages and `Debug` never show a userinfo. The client refuses to send (a
//! [`RestErrorKind::Config`] error) with a token shorter than
//! [`MIN_SECRET_CHARS`](crate::secret::MIN_SECRET_CHARS), which could not be redacted reliably,
//! or a base URL carrying credentials, which would not be used.
//!
//! One file per part: `client` makes the calls and reads the envelope, `error` says why a call
//! failed, `query` holds what requests carry, `wire` what responses hold and [`subscribe`] the
//! event stream of `GET …/subscribe`.

mod client;
mod error;
mod query;
pub mod subscribe;
mod wire;

pub use crate::secret::REDACTED;
pub use client::{workflows_base_url, WorkflowsRestClient, CLOUDFLARE_API_ROOT, DEFAULT_TIMEOUT};
pub use error::{ApiError, RestCause, RestErrorKind, WorkflowsRestError, BODY_EXCERPT_CHARS};
pub use query::{
    encode_path_segment, Action, CreateInstance, Direction, InstanceRetention, ListInstances, RetentionDuration,
};
pub use wire::{
    parse_timestamp, Attempt, CreatedInstance, ErrorInfo, InstanceDetail, InstancePage, InstanceSummary, StatusChange,
    StepRecord, TerminationRecord, TimelineStep, Trigger, WaitRecord, WorkflowSummary,
};
