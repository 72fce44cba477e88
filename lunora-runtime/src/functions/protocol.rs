//! `POST /_lunora/scheduler/dispatch`, answered: a function of (method, headers, body) →
//! (status, headers, body), so the Worker's router and a native server share every rule.
//!
//! In order: the method (405), the bearer token (403 `DISPATCH_UNAUTHENTICATED`), the body's
//! size (413) and content type (415), its shape `{"args", "functionPath", "id"}` (400), the
//! function (404 `FUNCTION_NOT_FOUND`), its args (422 `DISPATCH_INVALID_ARGS`); then the dedup
//! id is claimed (409 `DISPATCH_IN_PROGRESS` + `x-lunora-dispatch-declined: 1` while another
//! request holds it; the stored answer when it finished) and the handler runs. A final answer
//! (2xx, or 4xx other than 408/429) is stored for the retention; a retryable one (408, 429,
//! 5xx) releases the claim, so the caller's retry runs the handler again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::auth::AdminToken;
use super::registry::{now_ms, FunctionError, Functions, Lookup};
use super::store::{Claim, DedupStore, StoredAnswer};
use crate::env::Env;
use crate::erased::Json;
use crate::error::Result;

/// How long a claim holds without an answer: a request arriving later for the same id while a
/// crashed holder's claim is younger is declined (409), an older claim is taken over and the
/// handler runs again. A handler that runs longer than this may run twice.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);
/// How long a final answer is kept for its id: longer than a workflow retries a step.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest request body accepted (413 above it).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The header of a `409 DISPATCH_IN_PROGRESS` decline.
pub const DECLINED_HEADER: &str = "x-lunora-dispatch-declined";
/// Set on an answer replayed from the store rather than from running the handler.
pub const REPLAYED_HEADER: &str = "x-lunora-dispatch-replayed";
/// The longest dedup id accepted (ids are `<exportName>/<instanceId>#step<i>.<n>`).
const MAX_ID_CHARS: usize = 1024;

/// A request as any transport received it. Header names are matched case-insensitively.
#[derive(Clone, Debug, Default)]
pub struct DispatchRequest {
    pub method: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The transport stopped reading the body past [`MAX_BODY_BYTES`] (answered 413).
    pub oversized: bool,
}

impl DispatchRequest {
    /// Every value of header `name`.
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

/// What to send back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl DispatchResponse {
    fn json(status: u16, body: String) -> Self {
        Self { status, headers: vec![("content-type", "application/json".into())], body }
    }

    pub(crate) fn error(error: &FunctionError) -> Self {
        Self::json(error.status, error_body(error))
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

fn error_body(error: &FunctionError) -> String {
    let mut inner = json!({ "code": error.code, "message": error.message });
    if let Some(data) = &error.data {
        inner["data"] = data.clone();
    }
    json!({ "error": inner }).to_string()
}

/// The dispatch endpoint: functions, the token callers present, the dedup store. Cheap to
/// clone.
#[derive(Clone)]
pub struct DispatchEndpoint {
    functions: Arc<Functions>,
    token: AdminToken,
    env: Env,
    store: Arc<dyn DedupStore>,
    lease: Duration,
    retention: Duration,
}

impl std::fmt::Debug for DispatchEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchEndpoint")
            .field("functions", &self.functions)
            .field("lease", &self.lease)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl DispatchEndpoint {
    /// Serves `functions` with `env` (what handlers see; its `LUNORA_ADMIN_TOKEN` is the token
    /// callers must present) over `store`. Fails when the token is missing or too short:
    /// an endpoint that cannot authenticate serves nothing.
    pub fn new(functions: Functions, env: Env, store: Arc<dyn DedupStore>) -> Result<Self> {
        let token = AdminToken::from_env(&env)?;
        let functions = Arc::new(functions);
        Ok(Self { functions, token, env, store, lease: DEFAULT_LEASE, retention: DEFAULT_RETENTION })
    }

    /// How long a claim holds without an answer ([`DEFAULT_LEASE`]).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a final answer is kept ([`DEFAULT_RETENTION`]).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Answers one request.
    pub async fn answer(&self, request: DispatchRequest) -> DispatchResponse {
        if !request.method.eq_ignore_ascii_case("POST") {
            let error = FunctionError::new(
                405,
                "DISPATCH_METHOD_NOT_ALLOWED",
                format!("the dispatch endpoint takes POST, not {}", printable(&request.method)),
            );
            return DispatchResponse::error(&error).header("allow", "POST");
        }
        let mut authorizations = request.header_values("authorization");
        let authorization = authorizations.next();
        // Two authorization headers are ambiguous: refused rather than picking one.
        if authorizations.next().is_some() || !self.token.accepts(authorization) {
            return DispatchResponse::error(&FunctionError::forbidden(
                "DISPATCH_UNAUTHENTICATED",
                "the dispatch endpoint needs `Authorization: Bearer <LUNORA_ADMIN_TOKEN>`; the header was missing or its token wrong",
            ));
        }
        let call = match self.parse(&request) {
            Ok(call) => call,
            Err(error) => return DispatchResponse::error(&error),
        };
        let pending = match self.functions.start(&call.path, self.env.clone(), call.id.clone(), call.args) {
            Lookup::Started(pending) => pending,
            Lookup::Unknown => {
                let served: Vec<&str> = self.functions.paths().collect();
                return DispatchResponse::error(
                    &FunctionError::not_found(
                        "FUNCTION_NOT_FOUND",
                        format!(
                            "no function {} is served here (served: {})",
                            printable(&call.path),
                            if served.is_empty() { "none".to_owned() } else { served.join(", ") }
                        ),
                    )
                    .with_data(json!({ "functionPath": call.path })),
                );
            }
            Lookup::BadArgs { path, args_type, why } => {
                return DispatchResponse::error(
                    &FunctionError::unprocessable(
                        "DISPATCH_INVALID_ARGS",
                        format!("the args of {path} do not decode as {args_type}: {why}"),
                    )
                    .with_data(json!({ "functionPath": path })),
                );
            }
        };
        let holder = holder_id();
        let now = now_ms();
        match self.store.claim(&call.id, &call.path, &holder, now, now + millis(self.lease)).await {
            Ok(Claim::Claimed) => {}
            Ok(Claim::Running) => {
                return DispatchResponse::error(&FunctionError::new(
                    409,
                    "DISPATCH_IN_PROGRESS",
                    format!("dispatch id {} is running elsewhere; send it again later", printable(&call.id)),
                ))
                .header(DECLINED_HEADER, "1");
            }
            Ok(Claim::Done(answer)) => {
                return DispatchResponse::json(answer.status, answer.body).header(REPLAYED_HEADER, "1");
            }
            Err(e) => return store_unavailable(&e.to_string()),
        }
        let (answer, is_final) = match pending.await {
            Ok(result) => (StoredAnswer { status: 200, body: json!({ "result": result }).to_string() }, true),
            Err(error) => (StoredAnswer { status: error.status, body: error_body(&error) }, error.is_final()),
        };
        let kept = if is_final {
            self.store.complete(&call.id, &holder, &answer, now_ms() + millis(self.retention)).await
        } else {
            self.store.release(&call.id, &holder).await
        };
        if let Err(e) = kept {
            // The handler ran; its answer still goes back. What was not kept shows here: the
            // lease then lets a later retry with this id run the handler again.
            return store_unavailable(&format!("the call ran, but its outcome was not recorded: {e}"));
        }
        DispatchResponse::json(answer.status, answer.body)
    }

    fn parse(&self, request: &DispatchRequest) -> std::result::Result<Call, FunctionError> {
        if request.oversized || request.body.len() > MAX_BODY_BYTES {
            return Err(FunctionError::new(
                413,
                "DISPATCH_BODY_TOO_LARGE",
                format!("the request body is larger than the {MAX_BODY_BYTES} bytes accepted"),
            ));
        }
        let content_types: Vec<&[u8]> = request.header_values("content-type").collect();
        let is_json = |v: &[u8]| {
            let text = String::from_utf8_lossy(v);
            text.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        };
        if content_types.len() != 1 || !is_json(content_types[0]) {
            return Err(FunctionError::new(
                415,
                "DISPATCH_UNSUPPORTED_MEDIA_TYPE",
                "the dispatch endpoint takes one `content-type: application/json` body",
            ));
        }
        let bad = |why: String| FunctionError::bad_request("DISPATCH_BAD_REQUEST", why);
        let value: Json =
            serde_json::from_slice(&request.body).map_err(|e| bad(format!("the request body is not JSON: {e}")))?;
        let Json::Object(mut body) = value else {
            return Err(bad("the request body must be a JSON object {\"args\", \"functionPath\", \"id\"}".into()));
        };
        let path = match body.remove("functionPath") {
            Some(Json::String(path)) if !path.is_empty() => path,
            _ => {
                return Err(
                    bad("the request body needs \"functionPath\", a non-empty string (module:function)".into()),
                );
            }
        };
        let id = match body.remove("id") {
            Some(Json::String(id)) if !id.trim().is_empty() && id.chars().count() <= MAX_ID_CHARS => id,
            _ => {
                return Err(bad(format!(
                    "the request body needs \"id\", the dedup id: a non-blank string of at most {MAX_ID_CHARS} characters"
                )));
            }
        };
        let args = body.remove("args").unwrap_or_else(|| json!({}));
        Ok(Call { path, id, args })
    }
}

struct Call {
    path: String,
    id: String,
    args: Json,
}

fn store_unavailable(why: &str) -> DispatchResponse {
    DispatchResponse::error(&FunctionError::unavailable(
        "DISPATCH_STORE_UNAVAILABLE",
        format!("the dispatch endpoint's dedup store failed: {why}"),
    ))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Text from the request quoted in an answer: control characters escaped, at most 200 chars.
fn printable(text: &str) -> String {
    let escaped: String = text.chars().take(200).flat_map(char::escape_debug).collect();
    if text.chars().count() > 200 {
        escaped + "…"
    } else {
        escaped
    }
}

/// Who holds a claim: unique per request, so a holder whose lease was taken over cannot store
/// over the new holder's answer.
fn holder_id() -> String {
    #[cfg(not(target_arch = "wasm32"))]
    {
        uuid::Uuid::new_v4().to_string()
    }
    #[cfg(target_arch = "wasm32")]
    {
        let random = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
        format!("{:x}-{:08x}{:08x}", now_ms(), random(), random())
    }
}
