//! The client: builds each call's request, sends it through the transport and reads
//! Cloudflare's envelope `{success, errors, messages, result, result_info}`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{excerpt, ApiError, RestCause, RestErrorKind, WorkflowsRestError};
use super::query::{encode_path_segment, Action, CreateInstance, ListInstances};
use super::subscribe::subscribe_query;
use super::wire::{
    CreatedInstance, InstanceDetail, InstancePage, InstanceSummary, RawCreated, RawDetail, RawStatusChange, RawSummary,
    StatusChange, WorkflowSummary,
};
use crate::http::{HttpRequest, HttpTransport, TransportError};
use crate::secret::{url_for_display, url_userinfo, Redactor, MIN_SECRET_CHARS, REDACTED};
use crate::status::InstanceStatusKind;
use crate::subscription::{SubscribeOptions, Subscription};

/// The API root the client talks to unless told otherwise.
pub const CLOUDFLARE_API_ROOT: &str = "https://api.cloudflare.com/client/v4";

/// How long one request may take unless [`WorkflowsRestClient::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `<api_root>/accounts/<account_id>/workflows`, the account id percent-encoded.
pub fn workflows_base_url(api_root: &str, account_id: &str) -> String {
    format!("{}/accounts/{}/workflows", api_root.trim_end_matches('/'), encode_path_segment(account_id))
}

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
        Self::new_with_transport(account_id, api_token, platform_transport())
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

    /// `GET /accounts/<id>/workflows?page=&per_page=`: one page of the account's workflows.
    pub async fn list_workflows(&self, page: u32, per_page: u32) -> Result<Vec<WorkflowSummary>, WorkflowsRestError> {
        let exchange = self.call("GET", &format!("?page={page}&per_page={per_page}"), None).await?;
        exchange.decode_result(self)
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

    /// `DELETE /<workflow>/instances/<id>`: removes the instance and its state.
    pub async fn delete_instance(&self, workflow_name: &str, instance_id: &str) -> Result<(), WorkflowsRestError> {
        self.call("DELETE", &instance_path(workflow_name, instance_id), None).await.map(drop)
    }

    /// `GET /<workflow>/instances/<id>/subscribe?cursor=&filter=`: the instance's events as a
    /// stream (Server-Sent Events, see [`super::subscribe`]), its history first, then new events
    /// until its terminal one. A stream that breaks (cut connection, malformed or oversized
    /// frame) yields one error, `instance.subscription_broken`, naming the cursor to resume
    /// from; resuming is the caller's choice (subscribe again with that cursor).
    ///
    /// Natively the stream is its own ureq connection on a blocking thread (not the pluggable
    /// transport, which answers whole bodies): connecting and the answer's headers are bounded by
    /// the client's timeout, the stream itself is not. In a Worker, subscribe through the
    /// binding (`InstanceHandle::subscribe`) instead: this call fails there with a `Config` error.
    pub async fn subscribe(
        &self,
        workflow_name: &str,
        instance_id: &str,
        options: &SubscribeOptions,
    ) -> Result<Subscription, WorkflowsRestError> {
        let path = format!("{}/subscribe{}", instance_path(workflow_name, instance_id), subscribe_query(options));
        let url = format!("{}{path}", self.base_url);
        let what = format!("Workflows API GET {}", url_for_display(&url));
        if let Err(e) = options.validate() {
            return Err(WorkflowsRestError::local(RestErrorKind::Config, format!("{what}: {}", e.message())));
        }
        if let Some(why) = self.unusable() {
            return Err(WorkflowsRestError::local(RestErrorKind::Config, format!("{what}: {why}")));
        }
        #[cfg(target_arch = "wasm32")]
        {
            Err(WorkflowsRestError::local(
                RestErrorKind::Config,
                format!("{what}: a Worker subscribes through its Workflow binding (InstanceHandle::subscribe), not the REST API"),
            ))
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.open_stream(url, what).await
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    async fn open_stream(&self, url: String, what: String) -> Result<Subscription, WorkflowsRestError> {
        let (token, timeout) = (self.api_token.clone(), self.timeout);
        let opened = {
            let label = what.clone();
            tokio::task::spawn_blocking(move || -> Result<ureq::http::Response<ureq::Body>, (bool, String)> {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_connect(Some(timeout))
                    .timeout_send_request(Some(timeout))
                    .timeout_recv_response(Some(timeout))
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .build()
                    .into();
                agent
                    .get(&url)
                    .header("authorization", &format!("Bearer {token}"))
                    .header("accept", "text/event-stream")
                    .header("user-agent", concat!("lunora/", env!("CARGO_PKG_VERSION")))
                    .call()
                    .map_err(|e| (matches!(e, ureq::Error::Timeout(_)), format!("{label}: request failed: {e}")))
            })
            .await
            .map_err(|e| (false, format!("{what}: the HTTP task failed: {e}")))
            .and_then(|r| r)
        };
        let mut response = match opened {
            Ok(response) => response,
            Err((timed_out, message)) => {
                let kind = if timed_out { RestErrorKind::Timeout } else { RestErrorKind::Transport };
                let message = self.redact(&message);
                let cause = TransportError { message: message.clone(), timed_out };
                return Err(WorkflowsRestError {
                    kind,
                    status: None,
                    message,
                    errors: Vec::new(),
                    cause: Some(RestCause::Transport(cause)),
                });
            }
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if (200..300).contains(&status) && content_type.starts_with("text/event-stream") {
            let redactor = self.redactor.clone();
            return Ok(super::subscribe::native::spawn(response.into_body(), what, move |text| {
                redactor.redact_to_string(text)
            }));
        }
        // Not a stream: an envelope (an error, most likely), read whole but bounded.
        let body = tokio::task::spawn_blocking(move || {
            response.body_mut().with_config().limit(1024 * 1024).read_to_vec().unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        let text = self.redact(&String::from_utf8_lossy(&body));
        let errors = serde_json::from_str::<Value>(&text).ok().map(|v| api_errors(&v, self)).unwrap_or_default();
        let (kind, headline) = if (200..300).contains(&status) {
            (RestErrorKind::Malformed, format!("HTTP {status} with content-type {content_type:?}, not an event stream"))
        } else {
            (RestErrorKind::Http, format!("HTTP {status}"))
        };
        Err(WorkflowsRestError {
            kind,
            status: Some(status),
            message: self.redact(&format!("{what}: {headline}: {}", excerpt(&text))),
            errors,
            cause: Some(RestCause::Body(text)),
        })
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
                return Err(fail(RestErrorKind::Unsuccessful, format!("HTTP {status} with success: false"), errors));
            }
            _ => {
                return Err(fail(
                    RestErrorKind::Malformed,
                    format!("HTTP {status} with no boolean `success` (not a Cloudflare API envelope)"),
                    errors,
                ));
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
                    ));
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

/// The platform's transport: ureq natively, the Worker's `fetch` on wasm32.
fn platform_transport() -> Arc<dyn HttpTransport> {
    #[cfg(not(target_arch = "wasm32"))]
    return Arc::new(crate::http::NativeTransport);
    #[cfg(target_arch = "wasm32")]
    return Arc::new(crate::http::FetchTransport);
}

fn instance_path(workflow_name: &str, instance_id: &str) -> String {
    format!("/{}/instances/{}", encode_path_segment(workflow_name), encode_path_segment(instance_id))
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
