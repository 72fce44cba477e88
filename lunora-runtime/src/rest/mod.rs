//! The Cloudflare Workflows REST API (spec/lunora.md §6, spec/cloudflare-workflows.md §9):
//! list, inspect, create and steer instances of a deployed workflow from outside the Worker.
//!
//! Every call goes through an [`HttpTransport`] (by default ureq natively and the Worker's
//! `fetch` on wasm32; [`WorkflowsRestClient::with_transport`] plugs in another), parses
//! Cloudflare's envelope `{success, errors, messages, result, result_info}` and fails with a
//! [`WorkflowsRestError`] on non-2xx statuses, non-JSON bodies and `success: false`.
//!
//! The API token is a secret: the client's `Debug` shows `[REDACTED]`, and every response
//! body (before it is parsed, so results too) and transport error has the token replaced by
//! `[REDACTED]` in every spelling [`crate::secret`] recognises (raw, string-escaped,
//! percent-encoded, HTML-referenced, base64), so a server that echoes the token cannot leak
//! it. URLs in messages and `Debug` never show a userinfo. The client refuses to send (a
//! [`RestErrorKind::Config`] error) with a token shorter than [`MIN_SECRET_CHARS`], which
//! could not be redacted reliably, or a base URL carrying credentials, which would not be used.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::http::{default_transport, HttpRequest, HttpTransport, TransportError};
pub use crate::secret::REDACTED;
use crate::secret::{url_for_display, url_userinfo, Redactor, MIN_SECRET_CHARS};
use crate::status::{InstanceStatusKind, RestartFrom};

/// The API root the client talks to unless told otherwise.
pub const CLOUDFLARE_API_ROOT: &str = "https://api.cloudflare.com/client/v4";

/// How long one request may take unless [`WorkflowsRestClient::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many characters of a response body an error message quotes.
pub const BODY_EXCERPT_CHARS: usize = 256;

/// `<api_root>/accounts/<account_id>/workflows`, the account id percent-encoded.
pub fn workflows_base_url(api_root: &str, account_id: &str) -> String {
    format!("{}/accounts/{}/workflows", api_root.trim_end_matches('/'), encode_path_segment(account_id))
}

/// Percent-encodes every byte of the UTF-8 text except RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`), so the result is safe as one path segment or query value.
pub fn encode_path_segment(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0x0f)] as char);
        }
    }
    out
}

/// Parses the timestamps the API returns (`2025-06-01T12:00:00.123Z`, with or without the
/// fraction, `Z` or `T`).
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim().trim_end_matches('Z')).ok()
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// A client for one account's Workflows REST API.
///
/// ```no_run
/// # async fn demo() -> Result<(), lunora_runtime::rest::WorkflowsRestError> {
/// use lunora_runtime::rest::{ListInstances, WorkflowsRestClient};
/// let client = WorkflowsRestClient::new("0123abcd", "api-token");
/// let page = client.list_instances(&ListInstances::new("order-pipeline").per_page(25)).await?;
/// for instance in &page.instances {
///     println!("{} {}", instance.id, instance.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WorkflowsRestClient {
    base_url: String,
    api_token: String,
    redactor: Redactor,
    transport: Arc<dyn HttpTransport>,
    timeout: Duration,
}

impl fmt::Debug for WorkflowsRestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowsRestClient")
            .field("base_url", &url_for_display(&self.base_url))
            .field("api_token", &REDACTED)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl WorkflowsRestClient {
    /// A client for `https://api.cloudflare.com/client/v4/accounts/<account_id>/workflows`,
    /// authenticating with `Authorization: Bearer <api_token>`, over the platform's transport
    /// (ureq natively, the Worker's `fetch` on wasm32).
    pub fn new(account_id: impl AsRef<str>, api_token: impl Into<String>) -> Self {
        Self::new_with_transport(account_id, api_token, default_transport())
    }

    /// Like [`new`](Self::new), over the given transport (the Worker's `fetch` on wasm).
    pub fn new_with_transport(
        account_id: impl AsRef<str>,
        api_token: impl Into<String>,
        transport: Arc<dyn HttpTransport>,
    ) -> Self {
        let api_token = api_token.into();
        Self {
            base_url: workflows_base_url(CLOUDFLARE_API_ROOT, account_id.as_ref()),
            redactor: Redactor::new([api_token.as_str()]),
            api_token,
            transport,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Replaces the whole workflows base URL (the part before `/<workflow>/instances`), e.g.
    /// `http://127.0.0.1:8080/accounts/abc/workflows`. See [`workflows_base_url`].
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Sends requests through another transport (the Worker's `fetch` on wasm, a mock…).
    pub fn with_transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.transport = transport;
        self
    }

    /// How long one request may take (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The workflows base URL requests go to (with its userinfo, if it has one: show
    /// [`url_for_display`] of it instead).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET /<workflow>/instances?status=&page=&per_page=&cursor=&direction=&date_start=&date_end=`.
    pub async fn list_instances(&self, query: &ListInstances) -> Result<InstancePage, WorkflowsRestError> {
        let mut path = format!("/{}/instances", encode_path_segment(&query.workflow_name));
        let params = query.query_pairs();
        if !params.is_empty() {
            let joined: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode_path_segment(v))).collect();
            path.push('?');
            path.push_str(&joined.join("&"));
        }
        let exchange = self.call("GET", &path, None).await?;
        let raw: Vec<RawSummary> = exchange.decode_result(self)?;
        let instances: Vec<InstanceSummary> = raw.into_iter().map(InstanceSummary::from).collect();
        let info = exchange.result_info.unwrap_or_default();
        Ok(InstancePage {
            page: info.page.or(query.page).unwrap_or(1),
            per_page: info.per_page.or(query.per_page).unwrap_or(instances.len() as u32),
            total_count: info.total_count,
            cursor: info.cursor.filter(|c| !c.is_empty()),
            instances,
        })
    }

    /// `GET /<workflow>/instances/<id>`: status, params, output, error and the step timeline.
    pub async fn get_instance(
        &self,
        workflow_name: &str,
        instance_id: &str,
    ) -> Result<InstanceDetail, WorkflowsRestError> {
        let path = instance_path(workflow_name, instance_id);
        let exchange = self.call("GET", &path, None).await?;
        let raw: RawDetail = exchange.decode_result(self)?;
        Ok(raw.into_detail(instance_id))
    }

    /// `PATCH /<workflow>/instances/<id>/status` with `{status, rollback?, from?}`.
    pub async fn set_instance_status(
        &self,
        workflow_name: &str,
        instance_id: &str,
        action: Action,
    ) -> Result<StatusChange, WorkflowsRestError> {
        let path = format!("{}/status", instance_path(workflow_name, instance_id));
        let body = serde_json::to_vec(&action.body()).expect("plain JSON");
        let exchange = self.call("PATCH", &path, Some(body)).await?;
        let raw: RawStatusChange = exchange.decode_result(self)?;
        Ok(StatusChange {
            status: InstanceStatusKind::parse(&raw.status),
            status_text: raw.status,
            timestamp: raw.timestamp,
        })
    }

    /// `POST /<workflow>/instances` with `{instance_id?, params?, instance_retention?}`.
    pub async fn create_instance(
        &self,
        workflow_name: &str,
        create: &CreateInstance,
    ) -> Result<CreatedInstance, WorkflowsRestError> {
        let path = format!("/{}/instances", encode_path_segment(workflow_name));
        let body = serde_json::to_vec(create).expect("plain JSON");
        let exchange = self.call("POST", &path, Some(body)).await?;
        let raw: RawCreated = exchange.decode_result(self)?;
        Ok(CreatedInstance {
            id: raw.id,
            status: InstanceStatusKind::parse(&raw.status),
            status_text: raw.status,
            version_id: raw.version_id,
            workflow_id: raw.workflow_id,
        })
    }

    /// `POST /<workflow>/instances/<id>/events/<event_type>` with the payload as the body.
    /// Returns the envelope's `result` (usually `null`).
    pub async fn send_event<P: Serialize + ?Sized>(
        &self,
        workflow_name: &str,
        instance_id: &str,
        event_type: &str,
        payload: &P,
    ) -> Result<Value, WorkflowsRestError> {
        let path = format!("{}/events/{}", instance_path(workflow_name, instance_id), encode_path_segment(event_type));
        let body = serde_json::to_vec(payload).map_err(|e| {
            WorkflowsRestError::local(
                RestErrorKind::Decode,
                self.redact(&format!("the event payload is not JSON: {e}")),
            )
        })?;
        let exchange = self.call("POST", &path, Some(body)).await?;
        Ok(exchange.result)
    }

    /// One exchange: sends, checks the status, parses the envelope.
    async fn call(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Exchange, WorkflowsRestError> {
        let url = format!("{}{path}", self.base_url);
        let what = format!("Workflows API {method} {}", url_for_display(&url));
        if let Some(why) = self.unusable() {
            return Err(WorkflowsRestError::local(RestErrorKind::Config, format!("{what}: {why}")));
        }
        let mut headers = vec![
            ("authorization".to_owned(), format!("Bearer {}", self.api_token)),
            ("accept".to_owned(), "application/json".to_owned()),
            ("user-agent".to_owned(), concat!("lunora/", env!("CARGO_PKG_VERSION")).to_owned()),
        ];
        if body.is_some() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        let request = HttpRequest { method: method.to_owned(), url, headers, body, timeout: self.timeout };
        let response = match self.transport.send(request).await {
            Ok(response) => response,
            Err(e) => {
                let cause = TransportError { message: self.redact(&e.message), timed_out: e.timed_out };
                let (kind, message) = if e.timed_out {
                    (RestErrorKind::Timeout, format!("{what}: timed out after {} ms", self.timeout.as_millis()))
                } else {
                    (RestErrorKind::Transport, format!("{what}: request failed: {}", cause.message))
                };
                return Err(WorkflowsRestError {
                    kind,
                    status: None,
                    message: self.redact(&message),
                    errors: Vec::new(),
                    cause: Some(RestCause::Transport(cause)),
                });
            }
        };
        let status = response.status;
        let text = self.redact(&String::from_utf8_lossy(&response.body));
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let fail = |kind: RestErrorKind, headline: String, errors: Vec<ApiError>| WorkflowsRestError {
            kind,
            status: Some(status),
            message: self.redact(&format!("{what}: {headline}: {}", excerpt(&text))),
            errors,
            cause: Some(RestCause::Body(text.clone())),
        };
        let errors = parsed.as_ref().map(|v| api_errors(v, self)).unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(fail(RestErrorKind::Http, format!("HTTP {status}"), errors));
        }
        let Some(Value::Object(mut envelope)) = parsed else {
            let headline = if parsed.is_none() { "a non-JSON body" } else { "not a Cloudflare API envelope" };
            let kind = if parsed.is_none() { RestErrorKind::NotJson } else { RestErrorKind::Malformed };
            return Err(fail(kind, format!("HTTP {status} with {headline}"), errors));
        };
        match envelope.get("success") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => {
                return Err(fail(RestErrorKind::Unsuccessful, format!("HTTP {status} with success: false"), errors))
            }
            _ => {
                return Err(fail(
                    RestErrorKind::Malformed,
                    format!("HTTP {status} with no boolean `success` (not a Cloudflare API envelope)"),
                    errors,
                ))
            }
        }
        let result_info = match envelope.remove("result_info") {
            None | Some(Value::Null) => None,
            Some(info) => match serde_json::from_value::<ResultInfo>(info) {
                Ok(info) => Some(info),
                Err(e) => {
                    return Err(fail(
                        RestErrorKind::Decode,
                        format!("HTTP {status} with an unreadable result_info ({e})"),
                        errors,
                    ))
                }
            },
        };
        Ok(Exchange { what, status, text, result: envelope.remove("result").unwrap_or(Value::Null), result_info })
    }

    /// Why nothing may be sent with this configuration, if so.
    fn unusable(&self) -> Option<String> {
        let length = self.api_token.chars().count();
        if length < MIN_SECRET_CHARS {
            return Some(format!(
                "the API token is {length} characters long; at least {MIN_SECRET_CHARS} are needed so that it can \
                 be told apart from other text and redacted wherever a server echoes it"
            ));
        }
        url_userinfo(&self.base_url).map(|_| {
            "the base URL carries credentials (user:password@), which would not be used: the API token \
             authenticates; remove them"
                .to_owned()
        })
    }

    /// Replaces the token, in every spelling [`crate::secret`] knows, with `[REDACTED]`.
    fn redact(&self, text: &str) -> String {
        self.redactor.redact_to_string(text)
    }
}

fn instance_path(workflow_name: &str, instance_id: &str) -> String {
    format!("/{}/instances/{}", encode_path_segment(workflow_name), encode_path_segment(instance_id))
}

/// The first [`BODY_EXCERPT_CHARS`] characters of a body, with `…` when cut.
fn excerpt(text: &str) -> String {
    let mut chars = text.char_indices();
    match chars.nth(BODY_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn api_errors(envelope: &Value, client: &WorkflowsRestClient) -> Vec<ApiError> {
    let Some(list) = envelope.get("errors").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(|e| {
            let message = match e.get("message") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None if e.is_string() => e.as_str().unwrap_or_default().to_owned(),
                None => return None,
            };
            Some(ApiError {
                code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: client.redact(&message),
            })
        })
        .collect()
}

/// A successful exchange: the envelope's `result` and `result_info`.
struct Exchange {
    what: String,
    status: u16,
    text: String,
    result: Value,
    result_info: Option<ResultInfo>,
}

impl Exchange {
    fn decode_result<T: DeserializeOwned>(&self, client: &WorkflowsRestClient) -> Result<T, WorkflowsRestError> {
        serde_json::from_value(self.result.clone()).map_err(|e| WorkflowsRestError {
            kind: RestErrorKind::Decode,
            status: Some(self.status),
            message: client.redact(&format!(
                "{}: HTTP {} with an unexpected `result` ({e}): {}",
                self.what,
                self.status,
                excerpt(&self.text)
            )),
            errors: Vec::new(),
            cause: Some(RestCause::Body(self.text.clone())),
        })
    }
}

#[derive(Default, Deserialize)]
struct ResultInfo {
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    per_page: Option<u32>,
    #[serde(default)]
    total_count: Option<u64>,
    #[serde(default)]
    cursor: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

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
    kind: RestErrorKind,
    status: Option<u16>,
    message: String,
    errors: Vec<ApiError>,
    #[source]
    cause: Option<RestCause>,
}

impl WorkflowsRestError {
    fn local(kind: RestErrorKind, message: String) -> Self {
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

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Sort order of a listing (by creation time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }
}

/// The query of `list_instances`. Page either by `page`/`per_page` or by `cursor`
/// ([`InstancePage::next`] continues whichever the first page used).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListInstances {
    pub workflow_name: String,
    pub status: Option<InstanceStatusKind>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub cursor: Option<String>,
    pub direction: Option<Direction>,
    /// ISO 8601 in UTC without offset, e.g. `2025-06-01T00:00:00Z`.
    pub date_start: Option<String>,
    pub date_end: Option<String>,
}

impl ListInstances {
    pub fn new(workflow_name: impl Into<String>) -> Self {
        Self { workflow_name: workflow_name.into(), ..Self::default() }
    }

    pub fn status(mut self, status: InstanceStatusKind) -> Self {
        self.status = Some(status);
        self
    }

    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }

    pub fn per_page(mut self, per_page: u32) -> Self {
        self.per_page = Some(per_page);
        self
    }

    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    pub fn date_range(mut self, start: Option<String>, end: Option<String>) -> Self {
        self.date_start = start;
        self.date_end = end;
        self
    }

    /// The query string's pairs, in a fixed order, unencoded.
    fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(page) = self.page {
            pairs.push(("page", page.to_string()));
        }
        if let Some(per_page) = self.per_page {
            pairs.push(("per_page", per_page.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        if let Some(direction) = self.direction {
            pairs.push(("direction", direction.as_str().to_owned()));
        }
        if let Some(start) = &self.date_start {
            pairs.push(("date_start", start.clone()));
        }
        if let Some(end) = &self.date_end {
            pairs.push(("date_end", end.clone()));
        }
        pairs
    }
}

/// What `set_instance_status` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    /// With `rollback`, the completed steps' rollbacks run before the instance is terminated.
    Terminate {
        rollback: bool,
    },
    /// Without `from`, from the beginning; with it, keeps every step before the target.
    Restart {
        from: Option<RestartFrom>,
    },
}

impl Action {
    /// The `status` value sent.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Terminate { .. } => "terminate",
            Action::Restart { .. } => "restart",
        }
    }

    /// The PATCH body: `{status, rollback?, from?: {name, count, type}}`.
    pub fn body(&self) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("status".into(), self.as_str().into());
        match self {
            Action::Terminate { rollback: true } => {
                body.insert("rollback".into(), true.into());
            }
            Action::Restart { from: Some(from) } => {
                body.insert(
                    "from".into(),
                    serde_json::json!({"name": from.name, "count": from.count, "type": from.kind.as_str()}),
                );
            }
            _ => {}
        }
        Value::Object(body)
    }
}

/// A retention duration: milliseconds or text such as `"30 days"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RetentionDuration {
    Millis(u64),
    Text(String),
}

/// `instance_retention` of a created instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRetention {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_retention: Option<RetentionDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_retention: Option<RetentionDuration>,
}

/// The body of `create_instance`: `{instance_id?, params?, instance_retention?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CreateInstance {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_retention: Option<InstanceRetention>,
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// One page of `list_instances`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstancePage {
    pub instances: Vec<InstanceSummary>,
    /// `result_info.page`, else the requested page, else 1.
    pub page: u32,
    /// `result_info.per_page`, else the requested size, else the number of instances returned.
    pub per_page: u32,
    /// `result_info.total_count`, when the API reported it.
    pub total_count: Option<u64>,
    /// `result_info.cursor`: pass it as the next request's `cursor`.
    pub cursor: Option<String>,
}

impl InstancePage {
    /// The query for the page after this one, or `None` when this is the last: by cursor when
    /// the request or the response used one, otherwise by page number (using `total_count`
    /// when known, else whether this page came back full).
    pub fn next(&self, query: &ListInstances) -> Option<ListInstances> {
        if query.cursor.is_some() || self.cursor.is_some() {
            let cursor = self.cursor.clone()?;
            return Some(ListInstances { cursor: Some(cursor), page: None, ..query.clone() });
        }
        if self.instances.is_empty() {
            return None;
        }
        let seen = u64::from(self.page) * u64::from(self.per_page);
        let more = match self.total_count {
            Some(total) => seen < total,
            None => self.instances.len() as u64 >= u64::from(self.per_page),
        };
        more.then(|| ListInstances { page: Some(self.page + 1), ..query.clone() })
    }
}

/// One row of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceSummary {
    pub id: String,
    /// Normalised; anything this crate does not know (e.g. `rollingBack`) is `Unknown`.
    pub status: InstanceStatusKind,
    /// Cloudflare's own spelling of the status.
    pub status_text: String,
    pub created_on: Option<String>,
    pub modified_on: Option<String>,
    pub started_on: Option<String>,
    pub ended_on: Option<String>,
    pub version_id: Option<String>,
    pub workflow_id: Option<String>,
}

#[derive(Deserialize)]
struct RawSummary {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    created_on: Option<String>,
    #[serde(default)]
    modified_on: Option<String>,
    #[serde(default)]
    started_on: Option<String>,
    #[serde(default)]
    ended_on: Option<String>,
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    workflow_id: Option<String>,
}

impl From<RawSummary> for InstanceSummary {
    fn from(raw: RawSummary) -> Self {
        Self {
            id: raw.id,
            status: InstanceStatusKind::parse(&raw.status),
            status_text: raw.status,
            created_on: raw.created_on,
            modified_on: raw.modified_on,
            started_on: raw.started_on,
            ended_on: raw.ended_on,
            version_id: raw.version_id,
            workflow_id: raw.workflow_id,
        }
    }
}

/// An error as the API reports it: `{name, message}` (a bare string is read as the message).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    pub name: Option<String>,
    pub message: String,
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) if !name.is_empty() => write!(f, "{name}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl<'de> Deserialize<'de> for ErrorInfo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::String(message) => ErrorInfo { name: None, message },
            Value::Object(map) => {
                let text = |key: &str| match map.get(key) {
                    Some(Value::String(s)) => Some(s.clone()),
                    None | Some(Value::Null) => None,
                    Some(other) => Some(other.to_string()),
                };
                ErrorInfo { name: text("name"), message: text("message").unwrap_or_default() }
            }
            other => ErrorInfo { name: None, message: other.to_string() },
        })
    }
}

/// What started or terminated an instance: `api`, `binding`, `event`, `cron`, `unknown`…
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    #[serde(default)]
    pub source: String,
}

/// One attempt of a `step` / `rollback` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub error: Option<ErrorInfo>,
}

/// A `step` (a `step.do`) or `rollback` entry of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    /// `None` while running.
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub output: Option<Value>,
    /// `{retries: {limit, delay, backoff}, timeout}` as Cloudflare reports it.
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
}

/// A `sleep` or `waitForEvent` entry of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaitRecord {
    pub name: String,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub finished: Option<bool>,
    #[serde(default)]
    pub error: Option<ErrorInfo>,
    /// The received event, for `waitForEvent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// A `termination` entry of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminationRecord {
    #[serde(default)]
    pub trigger: Option<Trigger>,
}

/// One entry of an instance's step timeline, by its `type`. Entries of an unknown type, or of
/// a known type in an unexpected shape, are kept whole as `Unknown`.
#[derive(Clone, Debug, PartialEq)]
pub enum TimelineStep {
    Step(StepRecord),
    Rollback(StepRecord),
    Sleep(WaitRecord),
    WaitForEvent(WaitRecord),
    Termination(TerminationRecord),
    Unknown(Value),
}

impl TimelineStep {
    fn from_value(value: Value) -> Self {
        fn record<T: DeserializeOwned>(value: &Value, wrap: fn(T) -> TimelineStep) -> Option<TimelineStep> {
            serde_json::from_value(value.clone()).ok().map(wrap)
        }
        let parsed = match value.get("type").and_then(Value::as_str) {
            Some("step") => record(&value, TimelineStep::Step),
            Some("rollback") => record(&value, TimelineStep::Rollback),
            Some("sleep") => record(&value, TimelineStep::Sleep),
            Some("waitForEvent") => record(&value, TimelineStep::WaitForEvent),
            Some("termination") => record(&value, TimelineStep::Termination),
            _ => None,
        };
        parsed.unwrap_or(TimelineStep::Unknown(value))
    }

    /// The entry's `type`: `step`, `rollback`, `sleep`, `waitForEvent`, `termination`, or
    /// whatever an unknown entry says (`unknown` if nothing).
    pub fn kind(&self) -> &str {
        match self {
            TimelineStep::Step(_) => "step",
            TimelineStep::Rollback(_) => "rollback",
            TimelineStep::Sleep(_) => "sleep",
            TimelineStep::WaitForEvent(_) => "waitForEvent",
            TimelineStep::Termination(_) => "termination",
            TimelineStep::Unknown(v) => v.get("type").and_then(Value::as_str).unwrap_or("unknown"),
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => Some(&s.name),
            TimelineStep::Sleep(w) | TimelineStep::WaitForEvent(w) => Some(&w.name),
            TimelineStep::Termination(_) => None,
            TimelineStep::Unknown(v) => v.get("name").and_then(Value::as_str),
        }
    }

    pub fn start(&self) -> Option<&str> {
        match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => s.start.as_deref(),
            TimelineStep::Sleep(w) | TimelineStep::WaitForEvent(w) => w.start.as_deref(),
            TimelineStep::Termination(_) => None,
            TimelineStep::Unknown(v) => v.get("start").and_then(Value::as_str),
        }
    }

    pub fn end(&self) -> Option<&str> {
        match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => s.end.as_deref(),
            TimelineStep::Sleep(w) | TimelineStep::WaitForEvent(w) => w.end.as_deref(),
            TimelineStep::Termination(_) => None,
            TimelineStep::Unknown(v) => v.get("end").and_then(Value::as_str),
        }
    }

    /// `end - start`, when both are present and parse.
    pub fn duration(&self) -> Option<Duration> {
        let start = parse_timestamp(self.start()?)?;
        let end = parse_timestamp(self.end()?)?;
        end.duration_since(start).ok()
    }

    /// The attempts of a `step` / `rollback` entry (empty for the others).
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => &s.attempts,
            _ => &[],
        }
    }
}

impl<'de> Deserialize<'de> for TimelineStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(TimelineStep::from_value(Value::deserialize(deserializer)?))
    }
}

impl Serialize for TimelineStep {
    /// The API's own shape: the record's fields plus `type`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let record = match self {
            TimelineStep::Step(s) | TimelineStep::Rollback(s) => serde_json::to_value(s),
            TimelineStep::Sleep(w) | TimelineStep::WaitForEvent(w) => serde_json::to_value(w),
            TimelineStep::Termination(t) => serde_json::to_value(t),
            TimelineStep::Unknown(v) => return v.serialize(serializer),
        };
        let mut value = record.map_err(S::Error::custom)?;
        if let Value::Object(map) = &mut value {
            map.insert("type".into(), self.kind().into());
        }
        value.serialize(serializer)
    }
}

/// `get_instance`: the instance and its step timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceDetail {
    /// The id asked for (the API does not repeat it).
    pub id: String,
    pub status: InstanceStatusKind,
    pub status_text: String,
    pub params: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<ErrorInfo>,
    /// The rollback chain's state, as reported.
    pub rollback: Option<Value>,
    pub trigger: Option<Trigger>,
    pub version_id: Option<String>,
    pub queued: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub success: Option<bool>,
    pub step_count: Option<u64>,
    pub steps: Vec<TimelineStep>,
}

#[derive(Deserialize)]
struct RawDetail {
    #[serde(default)]
    status: String,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<ErrorInfo>,
    #[serde(default)]
    rollback: Option<Value>,
    #[serde(default)]
    trigger: Option<Trigger>,
    #[serde(default, rename = "versionId", alias = "version_id")]
    version_id: Option<String>,
    #[serde(default)]
    queued: Option<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    step_count: Option<u64>,
    #[serde(default)]
    steps: Option<Vec<TimelineStep>>,
}

impl RawDetail {
    fn into_detail(self, id: &str) -> InstanceDetail {
        InstanceDetail {
            id: id.to_owned(),
            status: InstanceStatusKind::parse(&self.status),
            status_text: self.status,
            params: self.params,
            output: self.output,
            error: self.error,
            rollback: self.rollback,
            trigger: self.trigger,
            version_id: self.version_id,
            queued: self.queued,
            start: self.start,
            end: self.end,
            success: self.success,
            step_count: self.step_count,
            steps: self.steps.unwrap_or_default(),
        }
    }
}

/// `set_instance_status`: the status after the change and when it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub status: InstanceStatusKind,
    pub status_text: String,
    pub timestamp: Option<String>,
}

#[derive(Deserialize)]
struct RawStatusChange {
    #[serde(default)]
    status: String,
    #[serde(default)]
    timestamp: Option<String>,
}

/// `create_instance`: the new instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreatedInstance {
    pub id: String,
    pub status: InstanceStatusKind,
    pub status_text: String,
    pub version_id: Option<String>,
    pub workflow_id: Option<String>,
}

#[derive(Deserialize)]
struct RawCreated {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    workflow_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_everything_but_unreserved_characters() {
        assert_eq!(encode_path_segment("order pipeline"), "order%20pipeline");
        assert_eq!(encode_path_segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode_path_segment("café/ü?#&=+%"), "caf%C3%A9%2F%C3%BC%3F%23%26%3D%2B%25");
    }

    #[test]
    fn excerpt_cuts_on_characters_not_bytes() {
        let body = "é".repeat(300);
        let cut = excerpt(&body);
        assert_eq!(cut.chars().count(), BODY_EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn timestamps_parse_with_and_without_fraction() {
        let a = parse_timestamp("2025-06-01T12:00:00Z").unwrap();
        let b = parse_timestamp("2025-06-01T12:00:01.250Z").unwrap();
        assert_eq!(b.duration_since(a).unwrap(), Duration::from_millis(1250));
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn action_bodies() {
        assert_eq!(Action::Pause.body(), serde_json::json!({"status": "pause"}));
        assert_eq!(Action::Terminate { rollback: false }.body(), serde_json::json!({"status": "terminate"}));
        assert_eq!(
            Action::Restart { from: Some(RestartFrom::step("charge").count(2)) }.body(),
            serde_json::json!({"status": "restart", "from": {"name": "charge", "count": 2, "type": "do"}})
        );
    }
}
