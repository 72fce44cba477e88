//! The studio's routes: the page and its assets, the JSON API the page reads (`/api/…`, each a
//! call through [`WorkflowsRestClient`]), and the guard every request passes first.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lunora_runtime::rest::{Action, InstancePage, ListInstances, WorkflowsRestClient, WorkflowsRestError};
use lunora_runtime::{InstanceStatusKind, RestartFrom, StepKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::assets;

/// The header actions must carry, holding [`Studio::token`].
pub const TOKEN_HEADER: &str = "x-studio-token";
/// How many recent instances the workflow list shows per workflow.
const RECENT_PER_WORKFLOW: u32 = 5;
/// The most instances (or workflows) one page may ask for.
const MAX_PER_PAGE: u32 = 100;
/// Pages of workflows read at most for `/`: an account with more shows the first 1000.
const MAX_WORKFLOW_PAGES: u32 = 10;

/// What every request shares: the API client, the token actions need, where we listen.
pub struct Studio {
    client: WorkflowsRestClient,
    token: String,
    /// `Host` values requests may carry: the bound address (and `localhost:<port>` on loopback).
    hosts: Vec<String>,
}

impl Studio {
    pub fn new(client: WorkflowsRestClient, bound: SocketAddr) -> Self {
        let mut hosts = vec![bound.to_string()];
        if bound.ip().is_loopback() {
            hosts.push(format!("localhost:{}", bound.port()));
        }
        Self { client, token: uuid::Uuid::new_v4().simple().to_string(), hosts }
    }
}

pub fn router(studio: Studio) -> Router {
    let studio = Arc::new(studio);
    Router::new()
        .route("/", get(index))
        .route("/studio.js", get(|| async { asset("text/javascript; charset=utf-8", assets::SCRIPT) }))
        .route("/studio.css", get(|| async { asset("text/css; charset=utf-8", assets::STYLE) }))
        .route("/api/workflows", get(workflows))
        .route("/api/workflows/{workflow}/instances", get(instances))
        .route("/api/workflows/{workflow}/instances/{id}", get(instance))
        .route("/api/workflows/{workflow}/instances/{id}/status", post(change_status))
        .route("/api/workflows/{workflow}/instances/{id}/events", post(send_event))
        .fallback(|| async { refuse(StatusCode::NOT_FOUND, "no such page".into()) })
        .layer(middleware::from_fn_with_state(studio.clone(), guard))
        .with_state(studio)
}

/// Refuses requests for another host (DNS rebinding) and actions from another origin (CSRF)
/// or without the page's token; sets the security headers on every answer.
async fn guard(State(studio): State<Arc<Studio>>, request: Request, next: Next) -> Response {
    if let Err(why) = check(&studio, request.method(), request.headers()) {
        return with_security_headers(refuse(StatusCode::FORBIDDEN, why));
    }
    with_security_headers(next.run(request).await)
}

fn check(studio: &Studio, method: &Method, headers: &HeaderMap) -> Result<(), String> {
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let host = text(header::HOST).unwrap_or_default();
    if !studio.hosts.iter().any(|h| h == host) {
        return Err(format!("refused: the studio answers only requests for {}", studio.hosts.join(" or ")));
    }
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    if let Some(origin) = text(header::ORIGIN) {
        if origin != format!("http://{host}") {
            return Err("refused: an action from another origin (cross-site request)".into());
        }
    }
    if let Some(site) = headers.get("sec-fetch-site").map(|v| v.to_str().unwrap_or("")) {
        if site != "same-origin" {
            return Err(format!("refused: an action from a {site} request (cross-site request)"));
        }
    }
    match headers.get(TOKEN_HEADER) {
        Some(token) if token.as_bytes() == studio.token.as_bytes() => Ok(()),
        _ => Err(format!("refused: an action without the page's {TOKEN_HEADER} header")),
    }
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
         form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cache-control", "no-store");
    set(headers, "x-frame-options", "DENY");
    response
}

async fn index(State(studio): State<Arc<Studio>>) -> Response {
    // The token is hex (uuid simple form): nothing to escape in the attribute.
    let page = assets::PAGE.replace("{{STUDIO_TOKEN}}", &studio.token);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// An API failure as the page shows it: the client's message (token already redacted), the
/// API's own errors and its HTTP status.
fn api_failure(e: WorkflowsRestError) -> Response {
    let errors: Vec<Value> = e.errors().iter().map(|a| json!({"code": a.code, "message": a.message})).collect();
    (StatusCode::BAD_GATEWAY, Json(json!({ "error": e.message(), "status": e.status(), "errors": errors })))
        .into_response()
}

/// `/api/workflows`: the account's workflows, each with its most recent instances (or why
/// they could not be listed).
async fn workflows(State(studio): State<Arc<Studio>>) -> Response {
    let mut workflows = Vec::new();
    for page in 1..=MAX_WORKFLOW_PAGES {
        match studio.client.list_workflows(page, MAX_PER_PAGE).await {
            Ok(batch) => {
                let last = batch.len() < MAX_PER_PAGE as usize;
                workflows.extend(batch);
                if last {
                    break;
                }
            }
            Err(e) => return api_failure(e),
        }
    }
    let mut rows = Vec::with_capacity(workflows.len());
    for workflow in workflows {
        let query = ListInstances::new(workflow.name.clone())
            .per_page(RECENT_PER_WORKFLOW)
            .direction(lunora_runtime::rest::Direction::Desc);
        let recent = match studio.client.list_instances(&query).await {
            Ok(page) => json!({ "instances": page.instances }),
            Err(e) => json!({ "error": e.message() }),
        };
        rows.push(json!({ "workflow": workflow, "recent": recent }));
    }
    Json(json!({ "workflows": rows })).into_response()
}

#[derive(Deserialize)]
struct InstancesQuery {
    status: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
    /// Search by id: the one instance with this id, if any.
    id: Option<String>,
}

/// `/api/workflows/<workflow>/instances?status=&page=&per_page=&id=`.
async fn instances(
    State(studio): State<Arc<Studio>>,
    Path(workflow): Path<String>,
    Query(query): Query<InstancesQuery>,
) -> Response {
    if let Some(id) = query.id.as_deref().map(str::trim).filter(|id| !id.is_empty()) {
        return match studio.client.get_instance(&workflow, id).await {
            Ok(detail) => Json(json!({
                "instances": [{
                    "id": detail.id, "status": detail.status, "status_text": detail.status_text,
                    "created_on": detail.queued, "started_on": detail.start, "ended_on": detail.end,
                }],
                "page": 1, "per_page": 1, "total_count": 1,
            }))
            .into_response(),
            Err(e) if e.status() == Some(404) => {
                Json(json!({ "instances": [], "page": 1, "per_page": 1, "total_count": 0 })).into_response()
            }
            Err(e) => api_failure(e),
        };
    }
    let mut list = ListInstances::new(workflow);
    if let Some(status) = query.status.as_deref().filter(|s| !s.is_empty()) {
        let kind = InstanceStatusKind::parse(status);
        if kind == InstanceStatusKind::Unknown && status != "unknown" {
            return refuse(StatusCode::BAD_REQUEST, format!("unknown status {status:?}"));
        }
        list = list.status(kind);
    }
    list = list.page(query.page.unwrap_or(1).max(1)).per_page(query.per_page.unwrap_or(25).clamp(1, MAX_PER_PAGE));
    match studio.client.list_instances(&list).await {
        Ok(page) => Json::<InstancePage>(page).into_response(),
        Err(e) => api_failure(e),
    }
}

/// `/api/workflows/<workflow>/instances/<id>`: the instance and its step timeline.
async fn instance(State(studio): State<Arc<Studio>>, Path((workflow, id)): Path<(String, String)>) -> Response {
    match studio.client.get_instance(&workflow, &id).await {
        Ok(detail) => Json(detail).into_response(),
        Err(e) => api_failure(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusRequest {
    action: String,
    #[serde(default)]
    rollback: bool,
    #[serde(default)]
    from: Option<FromStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromStep {
    name: String,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// `POST /api/workflows/<workflow>/instances/<id>/status` with `{action, rollback?, from?}`.
async fn change_status(
    State(studio): State<Arc<Studio>>,
    Path((workflow, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: StatusRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return refuse(StatusCode::BAD_REQUEST, format!("the action is not {{action, rollback?, from?}}: {e}"))
        }
    };
    let action = match parse_action(request) {
        Ok(action) => action,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    match studio.client.set_instance_status(&workflow, &id, action).await {
        Ok(change) => Json(change).into_response(),
        Err(e) => api_failure(e),
    }
}

fn parse_action(request: StatusRequest) -> Result<Action, String> {
    Ok(match request.action.as_str() {
        "pause" => Action::Pause,
        "resume" => Action::Resume,
        "terminate" => Action::Terminate { rollback: request.rollback },
        "restart" => {
            let from = match request.from {
                None => None,
                Some(from) if from.name.trim().is_empty() => {
                    return Err("restart from a step: the step name is empty".into())
                }
                Some(from) => {
                    let kind = match from.kind.as_deref().unwrap_or("do") {
                        "do" => StepKind::Do,
                        "sleep" => StepKind::Sleep,
                        "waitForEvent" => StepKind::WaitForEvent,
                        other => {
                            return Err(format!(
                                "restart from a step: unknown step type {other:?} (do, sleep, waitForEvent)"
                            ))
                        }
                    };
                    let count = from.count.unwrap_or(1);
                    if count == 0 {
                        return Err("restart from a step: the occurrence count starts at 1".into());
                    }
                    Some(RestartFrom { name: from.name, count, kind })
                }
            };
            Action::Restart { from }
        }
        other => return Err(format!("unknown action {other:?} (pause, resume, terminate, restart)")),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    payload: Value,
}

/// `POST /api/workflows/<workflow>/instances/<id>/events` with `{type, payload}`.
async fn send_event(
    State(studio): State<Arc<Studio>>,
    Path((workflow, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: EventRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("the event is not {{type, payload}}: {e}")),
    };
    if request.event_type.trim().is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "the event type is empty".into());
    }
    match studio.client.send_event(&workflow, &id, &request.event_type, &request.payload).await {
        Ok(result) => Json(json!({ "result": result })).into_response(),
        Err(e) => api_failure(e),
    }
}
