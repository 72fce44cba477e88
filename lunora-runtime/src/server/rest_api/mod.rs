//! Cloudflare's Workflows REST API over a running engine: the same paths
//! (`/accounts/<account id>/workflows/<name>/instances/…`), the same envelope and the same
//! error shapes, so clients written for `https://api.cloudflare.com/client/v4` work unchanged
//! when pointed at `http://127.0.0.1:<port>/client/v4` (mount [`RestApi::router`] there).
//!
//! | call | answer |
//! |---|---|
//! | `GET /accounts/<id>/workflows` | the registered workflows |
//! | `GET …/<name>/instances?status&page&per_page&cursor&direction&date_start&date_end` | a page of instances |
//! | `POST …/<name>/instances` `{instance_id?, params?, instance_retention?}` | the created instance |
//! | `GET …/<name>/instances/<id>` | status, params, output, error and the step timeline |
//! | `PATCH …/<name>/instances/<id>/status` `{status, rollback?, from?}` | `{status, timestamp}` |
//! | `POST …/<name>/instances/<id>/events/<type>` (body: the payload) | `null` |
//! | `DELETE …/<name>/instances/<id>` | `null` |
//! | `GET …/<name>/instances/<id>/subscribe?cursor&filter` | the instance's events, as Server-Sent Events |
//!
//! Every failure is an envelope with `success: false` and `errors: [{code, message}]` (the
//! message is the engine's code, e.g. `instance.not_found`; `messages` explains it). Bodies over
//! [`MAX_BODY_BYTES`] are refused. With a token ([`RestApi::token`]) every request must carry
//! `Authorization: Bearer <token>`.

mod auth;
mod envelope;
mod read_only;
mod request;
mod shapes;
mod subscribe;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};

use envelope::{ok, ApiFailure, BAD_ACCOUNT_CODE, METHOD_CODE, NO_ROUTE_CODE};
pub use envelope::{AUTH_CODE, WORKFLOWS_CODE};
pub use read_only::READ_ONLY;
use request::{json_body, list_query, percent_decode};
pub use shapes::LOCAL_VERSION;

use crate::listing::InstanceList;
use crate::local::{Engine, MAX_VALUE_BYTES};
use crate::status::{RestartFrom, Retention, StepKind, Timestamp};
use crate::workflow::CreateRequest;

/// The account id the local server answers for unless told otherwise.
pub const LOCAL_ACCOUNT: &str = "local";
/// The largest request body accepted: a 1 MiB payload with room for its envelope.
pub const MAX_BODY_BYTES: usize = MAX_VALUE_BYTES + 64 * 1024;

/// The REST API's settings; [`router`](Self::router) builds the endpoint.
#[derive(Clone)]
pub struct RestApi {
    source: Source,
    account_id: String,
    token: Option<String>,
    started: Timestamp,
}

/// What the API serves: a running engine, or a journal file read without one.
#[derive(Clone)]
enum Source {
    Engine(Engine),
    Journal(Arc<read_only::JournalView>),
}

impl std::fmt::Debug for RestApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestApi")
            .field("account_id", &self.account_id)
            .field("token", &self.token.as_ref().map(|_| crate::secret::REDACTED))
            .finish_non_exhaustive()
    }
}

impl RestApi {
    /// The API over `engine`, for the account [`LOCAL_ACCOUNT`], without a token.
    pub fn new(engine: Engine) -> Self {
        let started = engine.now();
        Self { source: Source::Engine(engine), account_id: LOCAL_ACCOUNT.to_owned(), token: None, started }
    }

    /// The API over the journal file at `path`, read-only and without an engine: the journal's
    /// workflows, instances and timelines; every action (create, status change, event, delete)
    /// is refused with 405 and [`READ_ONLY`]. The journal is opened as an engine opens it (a
    /// missing, foreign, damaged or newer file is refused) and its lock is held while the API
    /// lives, so an engine cannot change it meanwhile (and one that holds it refuses this).
    pub fn over_journal(path: &std::path::Path) -> crate::Result<Self> {
        let view = read_only::JournalView::open(path)?;
        let started = Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        );
        Ok(Self { source: Source::Journal(Arc::new(view)), account_id: LOCAL_ACCOUNT.to_owned(), token: None, started })
    }

    /// Answers for this account id instead (others get Cloudflare's "could not route").
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// Requires `Authorization: Bearer <token>` on every request. An empty token means none.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// The endpoint: serves `/accounts/<account id>/workflows/…` (nest it under `/client/v4`).
    pub fn router(self) -> Router {
        Router::new().route("/accounts", any(handle)).route("/accounts/{*rest}", any(handle)).with_state(Arc::new(self))
    }
}

async fn handle(State(api): State<Arc<RestApi>>, request: Request) -> Response {
    match route(&api, request).await {
        Ok(response) => response,
        Err(failure) => failure.into_response(),
    }
}

async fn route(api: &RestApi, request: Request) -> Result<Response, ApiFailure> {
    auth::check(request.headers(), api.token.as_deref())?;
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let raw: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let segments = raw.iter().map(|s| percent_decode(s, false)).collect::<Result<Vec<_>, _>>()?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let no_route = || {
        ApiFailure::new(StatusCode::NOT_FOUND, NO_ROUTE_CODE, "No route for that URI")
            .with_detail(format!("{method} {path} is not a Workflows API call"))
    };
    let ["accounts", account, "workflows", rest @ ..] = segments.as_slice() else { return Err(no_route()) };
    if *account != api.account_id {
        return Err(ApiFailure::new(
            StatusCode::NOT_FOUND,
            BAD_ACCOUNT_CODE,
            format!("Could not route to /accounts/{account}/workflows, perhaps your object identifier is invalid?"),
        )
        .with_detail(format!("this server answers for the account id {:?}", api.account_id)));
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await.map_err(|_| {
        ApiFailure::new(StatusCode::PAYLOAD_TOO_LARGE, WORKFLOWS_CODE, "request.too_large")
            .with_detail(format!("request bodies are limited to {MAX_BODY_BYTES} bytes"))
    })?;
    let not_allowed = || {
        ApiFailure::new(StatusCode::METHOD_NOT_ALLOWED, METHOD_CODE, "Method not allowed")
            .with_detail(format!("{method} is not allowed on {path}"))
    };
    let engine = match &api.source {
        Source::Engine(engine) => engine,
        Source::Journal(view) => return read_journal(api, view, rest, &method, query.as_deref(), not_allowed),
    };
    match (rest, &method) {
        ([], &Method::GET) => workflows(api),
        ([_], &Method::GET) | ([_, "instances"], &Method::GET | &Method::POST) => {
            let workflow = rest[0];
            engine.class_name(workflow).map_err(ApiFailure::from)?;
            match rest {
                [_] => Ok(ok(workflow_entry(api, workflow)?, None)),
                _ if method == Method::GET => list(engine, workflow, query.as_deref()),
                _ => create(engine, workflow, &body).await,
            }
        }
        ([workflow, "instances", id], &Method::GET) => {
            let row = engine.instance_row(workflow, id)?;
            let steps = engine.steps(workflow, id)?;
            Ok(ok(shapes::detail(&row, &steps), None))
        }
        ([workflow, "instances", id], &Method::DELETE) => {
            engine.delete(workflow, &[id]).await?;
            Ok(ok(Value::Null, None))
        }
        ([workflow, "instances", id, "status"], &Method::PATCH) => status_change(engine, workflow, id, &body).await,
        ([workflow, "instances", id, "subscribe"], &Method::GET) => {
            subscribe::subscribe(engine, workflow, id, query.as_deref())
        }
        ([workflow, "instances", id, "events", event_type], &Method::POST) => {
            let payload = json_body(&body)?;
            engine.backend().send_event(workflow, id, event_type, payload).await?;
            Ok(ok(Value::Null, None))
        }
        ([] | [_] | [_, "instances"] | [_, "instances", _], _)
        | ([_, "instances", _, "status"], _)
        | ([_, "instances", _, "subscribe"], _)
        | ([_, "instances", _, "events", _], _) => Err(not_allowed()),
        _ => Err(no_route()),
    }
}

/// The calls a journal file answers: reads. Actions are refused, since no engine (and no
/// workflow code) is behind it.
fn read_journal(
    api: &RestApi,
    view: &read_only::JournalView,
    rest: &[&str],
    method: &Method,
    query: Option<&str>,
    not_allowed: impl Fn() -> ApiFailure,
) -> Result<Response, ApiFailure> {
    let refused = || {
        ApiFailure::new(StatusCode::METHOD_NOT_ALLOWED, METHOD_CODE, READ_ONLY).with_detail(format!(
            "{READ_ONLY} ({}); run the application's engine on it (for the example: scripts/example serve --db <file>) to act on its instances",
            view.path().display()
        ))
    };
    match (rest, method) {
        ([], &Method::GET) => workflows(api),
        ([workflow], &Method::GET) => {
            view.require_workflow(workflow)?;
            Ok(ok(workflow_entry(api, workflow)?, None))
        }
        ([workflow, "instances"], &Method::GET) => {
            let (query, by_cursor) = list_query(query)?;
            Ok(list_answer(workflow, view.list(workflow, &query)?, by_cursor))
        }
        ([workflow, "instances", id], &Method::GET) => {
            let row = view.instance_row(workflow, id)?;
            let steps = view.steps(workflow, id)?;
            Ok(ok(shapes::detail(&row, &steps), None))
        }
        ([_, "instances"], &Method::POST)
        | ([_, "instances", _], &Method::DELETE)
        | ([_, "instances", _, "status"], &Method::PATCH)
        | ([_, "instances", _, "events", _], &Method::POST) => Err(refused()),
        _ => Err(not_allowed()),
    }
}

fn workflow_entry(api: &RestApi, name: &str) -> Result<Value, ApiFailure> {
    let class_name = match &api.source {
        Source::Engine(engine) => Value::String(engine.class_name(name)?),
        // The journal records deployed names only.
        Source::Journal(_) => Value::Null,
    };
    Ok(json!({
        "id": name,
        "name": name,
        "class_name": class_name,
        "script_name": LOCAL_ACCOUNT,
        "created_on": api.started.to_string(),
        "modified_on": api.started.to_string(),
    }))
}

fn workflows(api: &RestApi) -> Result<Response, ApiFailure> {
    let names = match &api.source {
        Source::Engine(engine) => engine.workflow_names(),
        Source::Journal(view) => view.workflow_names()?,
    };
    let list = names.iter().map(|n| workflow_entry(api, n)).collect::<Result<Vec<_>, _>>()?;
    let count = list.len();
    Ok(ok(Value::Array(list), Some(json!({"page": 1, "per_page": count.max(1), "count": count, "total_count": count}))))
}

fn list(engine: &Engine, workflow: &str, query: Option<&str>) -> Result<Response, ApiFailure> {
    let (query, by_cursor) = list_query(query)?;
    let page: InstanceList = engine.list(workflow, &query)?;
    Ok(list_answer(workflow, page, by_cursor))
}

fn list_answer(workflow: &str, page: InstanceList, by_cursor: bool) -> Response {
    let rows: Vec<Value> = page.instances.iter().map(|i| shapes::summary(workflow, i)).collect();
    let info = if by_cursor {
        json!({"per_page": page.per_page, "count": rows.len(), "cursor": page.cursor})
    } else {
        json!({"page": page.page, "per_page": page.per_page, "count": rows.len(), "total_count": page.total_count})
    };
    ok(Value::Array(rows), Some(info))
}

/// A retention duration as the API takes it: milliseconds or text.
fn retention_text(value: Option<&Value>, field: &str) -> Result<Option<String>, ApiFailure> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(Some(format!("{} milliseconds", n.as_u64().unwrap_or(0)))),
        Some(other) => Err(ApiFailure::bad_request(
            "instance.invalid_retention",
            format!("instance_retention.{field} must be milliseconds or a duration such as \"7 days\", not {other}"),
        )),
    }
}

async fn create(engine: &Engine, workflow: &str, body: &[u8]) -> Result<Response, ApiFailure> {
    let body = json_body(body)?;
    let fields = match &body {
        Value::Null => serde_json::Map::new(),
        Value::Object(map) => map.clone(),
        other => {
            return Err(ApiFailure::bad_request(
                "request.invalid_json",
                format!("the body must be an object {{instance_id?, params?, instance_retention?}}, not {other}"),
            ));
        }
    };
    let id = match fields.get("instance_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => {
            return Err(ApiFailure::bad_request(
                "instance.invalid_id",
                format!("instance_id must be a string, not {other}"),
            ));
        }
    };
    let retention = match fields.get("instance_retention") {
        None | Some(Value::Null) => None,
        Some(Value::Object(r)) => Some(Retention {
            success_retention: retention_text(r.get("success_retention"), "success_retention")?,
            error_retention: retention_text(r.get("error_retention"), "error_retention")?,
        }),
        Some(other) => {
            return Err(ApiFailure::bad_request(
                "instance.invalid_retention",
                format!("instance_retention must be an object, not {other}"),
            ));
        }
    };
    let params = fields.get("params").cloned().filter(|p| !p.is_null());
    let backend = engine.backend();
    let id = backend.create(workflow, CreateRequest { id, params, retention }).await?;
    let status = backend.status(workflow, &id).await?;
    Ok(ok(
        json!({"id": id, "status": status.status.as_str(), "version_id": LOCAL_VERSION, "workflow_id": workflow}),
        None,
    ))
}

async fn status_change(engine: &Engine, workflow: &str, id: &str, body: &[u8]) -> Result<Response, ApiFailure> {
    let body = json_body(body)?;
    let bad = |why: String| ApiFailure::bad_request("instance.invalid_status", why);
    let action = body.get("status").and_then(Value::as_str).ok_or_else(|| {
        bad(format!(
            "the body must be {{\"status\": \"pause\" | \"resume\" | \"terminate\" | \"restart\", …}}, not {body}"
        ))
    })?;
    let backend = engine.backend();
    match action {
        "pause" => backend.pause(workflow, id).await?,
        "resume" => backend.resume(workflow, id).await?,
        "terminate" => {
            let rollback = match body.get("rollback") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => return Err(bad(format!("rollback must be true or false, not {other}"))),
            };
            backend.terminate(workflow, id, rollback).await?
        }
        "restart" => {
            let from = match body.get("from") {
                None | Some(Value::Null) => None,
                Some(from) => Some(restart_from(from).map_err(bad)?),
            };
            backend.restart(workflow, id, from).await?
        }
        other => return Err(bad(format!("status {other:?} is not pause, resume, terminate or restart"))),
    }
    let status = backend.status(workflow, id).await?;
    Ok(ok(json!({"status": status.status.as_str(), "timestamp": engine.now().to_string()}), None))
}

fn restart_from(from: &Value) -> Result<RestartFrom, String> {
    let name =
        from.get("name").and_then(Value::as_str).ok_or_else(|| format!("from.name must be a step name, in {from}"))?;
    let mut target = RestartFrom::step(name);
    match from.get("count") {
        None | Some(Value::Null) => {}
        Some(n) => {
            let count = n.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| *n >= 1);
            target = target.count(count.ok_or_else(|| format!("from.count must be a whole number from 1, not {n}"))?);
        }
    }
    match from.get("type").and_then(Value::as_str) {
        None => {}
        Some("do") => target = target.kind(StepKind::Do),
        Some("sleep") => target = target.kind(StepKind::Sleep),
        Some("waitForEvent") => target = target.kind(StepKind::WaitForEvent),
        Some(other) => return Err(format!("from.type {other:?} is not do, sleep or waitForEvent")),
    }
    Ok(target)
}
