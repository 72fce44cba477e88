//! The Worker: HTTP routes that drive the order pipeline through the generated typed registry.
//!
//! | route | does |
//! |---|---|
//! | `POST /orders` `{"id"?, "params"}` | creates an instance → `{"id"}` |
//! | `POST /orders/batch` `[{"id"?, "params"}, …]` | creates them in one call → `{"ids"}` |
//! | `GET /orders/:id` | `status()` as Cloudflare returns it: `{status, error?, output?, rollback?}` |
//! | `POST /orders/:id/{pause,resume,terminate,rollback,restart}` | instance control (`rollback` = terminate with rollback) |
//! | `POST /orders/:id/events/:type` | sends the JSON body as the event's payload |
//! | `GET /audit/:order_id` | the order's audit trail |
//!
//! The routes are matched by hand (`route`) rather than with `worker::Router`, and bodies are
//! read as text and parsed with serde_json rather than with `Request::json`: the router and the
//! second JSON decoder (serde_wasm_bindgen) would add about 10 KiB gzip to the Worker's download
//! for seven fixed routes (`scripts/bench-bundle`).

use lunora_runtime::{CreateOptions, Error, InstanceHandle};
use serde::Deserialize;
use serde_json::json;
use worker::{event, Context, Env, Method, Request, Response};

use crate::lunora_workflows::Workflows;
use crate::{OrderParams, OrderPipelineWorkflow};

#[derive(Deserialize)]
struct CreateBody {
    id: Option<String>,
    params: OrderParams,
}

impl CreateBody {
    fn into_options(self) -> CreateOptions<OrderParams> {
        let mut options = CreateOptions::params(self.params);
        options.id = self.id;
        options
    }
}

/// A lunora error as an HTTP response: 404 for unknown instances, 400 for what the caller got
/// wrong, 500 otherwise.
fn failure(error: &Error) -> worker::Result<Response> {
    let status = match error.code() {
        // Both engines report an unknown instance as `instance.not_found`.
        Some(code) if code.ends_with("not_found") => 404,
        _ => 400,
    };
    Response::from_json(&json!({ "error": { "name": error.name(), "message": error.message() } }))
        .map(|r| r.with_status(status))
}

fn respond(result: Result<serde_json::Value, Error>) -> worker::Result<Response> {
    match result {
        Ok(body) => Response::from_json(&body),
        Err(error) => failure(&error),
    }
}

async fn instance(env: &Env, id: &str) -> Result<InstanceHandle<OrderPipelineWorkflow>, Error> {
    Workflows::from_env(env).order_pipeline().get(id).await
}

/// The request's body as JSON (`Err` with serde_json's message when it is not).
async fn json_body<T: serde::de::DeserializeOwned>(req: &mut Request) -> Result<T, String> {
    let text = req.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

async fn create(mut req: Request, env: &Env) -> worker::Result<Response> {
    let body: CreateBody = match json_body(&mut req).await {
        Ok(body) => body,
        Err(e) => return failure(&Error::new(format!("the body must be {{\"id\"?, \"params\"}}: {e}"))),
    };
    let created = Workflows::from_env(env).order_pipeline().create(body.into_options()).await;
    respond(created.map(|i| json!({ "id": i.id() })))
}

async fn create_batch(mut req: Request, env: &Env) -> worker::Result<Response> {
    let bodies: Vec<CreateBody> = match json_body(&mut req).await {
        Ok(bodies) => bodies,
        Err(e) => return failure(&Error::new(format!("the body must be [{{\"id\"?, \"params\"}}, …]: {e}"))),
    };
    let batch = bodies.into_iter().map(CreateBody::into_options).collect();
    let created = Workflows::from_env(env).order_pipeline().create_batch(batch).await;
    respond(created.map(|instances| json!({ "ids": instances.iter().map(|i| i.id()).collect::<Vec<_>>() })))
}

/// `status()` as is: `InstanceStatus` serialises to the JSON Cloudflare's binding returns.
async fn status(env: &Env, id: &str) -> worker::Result<Response> {
    let status = async { instance(env, id).await?.status().await };
    match status.await {
        Ok(status) => Response::from_json(&status),
        Err(error) => failure(&error),
    }
}

async fn control(env: &Env, id: &str, action: &str) -> worker::Result<Response> {
    let result = async {
        let instance = instance(env, id).await?;
        match action {
            "pause" => instance.pause().await?,
            "resume" => instance.resume().await?,
            "terminate" => instance.terminate().await?,
            "rollback" => instance.terminate_with_rollback().await?,
            "restart" => instance.restart().await?,
            other => {
                return Err(Error::new(format!(
                    "unknown action {other:?}; expected pause, resume, terminate, rollback or restart"
                )))
            }
        }
        Ok(json!({ "id": instance.id(), "done": action }))
    };
    respond(result.await)
}

async fn send_event(mut req: Request, env: &Env, id: &str, event_type: &str) -> worker::Result<Response> {
    let payload: serde_json::Value = json_body(&mut req).await.unwrap_or(serde_json::Value::Null);
    let result = async {
        instance(env, id).await?.send_event(event_type, payload).await?;
        Ok(json!({ "sent": event_type }))
    };
    respond(result.await)
}

async fn audit(env: &Env, order_id: &str) -> worker::Result<Response> {
    let env = lunora_runtime::cloudflare::env_of(env.as_ref());
    respond(crate::audit_trail(&env, order_id).await.map(|lines| json!(lines)))
}

/// A matched route, with its path parameters (each one whole, non-empty segment).
enum Route<'a> {
    Create,
    CreateBatch,
    Status {
        id: &'a str,
    },
    SendEvent {
        id: &'a str,
        event_type: &'a str,
    },
    Control {
        id: &'a str,
        action: &'a str,
    },
    Audit {
        order_id: &'a str,
    },
    /// The payment functions the workflow's charge and refund call with `ctx.run`.
    Dispatch,
}

/// The route of `method` and `path`, if any. A static segment wins over a parameter
/// (`POST /orders/batch`), as in `worker::Router`.
fn route<'a>(method: &Method, path: &'a str) -> Option<Route<'a>> {
    if path == lunora_runtime::dispatch::DISPATCH_PATH {
        return (*method == Method::Post).then_some(Route::Dispatch);
    }
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if segments.iter().skip(1).any(|s| s.is_empty()) {
        return None;
    }
    match (method, segments.as_slice()) {
        (Method::Post, ["orders"]) => Some(Route::Create),
        (Method::Post, ["orders", "batch"]) => Some(Route::CreateBatch),
        (Method::Get, ["orders", id]) => Some(Route::Status { id }),
        (Method::Post, ["orders", id, "events", event_type]) => Some(Route::SendEvent { id, event_type }),
        (Method::Post, ["orders", id, action]) => Some(Route::Control { id, action }),
        (Method::Get, ["audit", order_id]) => Some(Route::Audit { order_id }),
        _ => None,
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let path = req.path();
    let Some(route) = route(&req.method(), &path) else {
        // A path some other method serves is 405, any other 404 (`worker::Router`'s answers).
        if [Method::Get, Method::Post].iter().any(|m| route(m, &path).is_some()) {
            return Response::error("Method Not Allowed", 405);
        }
        return Response::error("Not Found", 404);
    };
    match route {
        Route::Create => create(req, &env).await,
        Route::CreateBatch => create_batch(req, &env).await,
        Route::Status { id } => status(&env, id).await,
        Route::SendEvent { id, event_type } => send_event(req, &env, id, event_type).await,
        Route::Control { id, action } => control(&env, id, action).await,
        Route::Audit { order_id } => audit(&env, order_id).await,
        Route::Dispatch => {
            lunora_runtime::cloudflare::serve_dispatch(req, &env, crate::payments::functions(), "LUNORA_DISPATCH").await
        }
    }
}
