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

use lunora_runtime::{CreateOptions, Error, InstanceHandle};
use serde::Deserialize;
use serde_json::json;
use worker::{event, Context, Env, Request, Response, RouteContext, Router};

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

async fn instance(ctx: &RouteContext<()>) -> Result<InstanceHandle<OrderPipelineWorkflow>, Error> {
    let id = ctx.param("id").cloned().unwrap_or_default();
    Workflows::from_env(&ctx.env).order_pipeline().get(&id).await
}

async fn create(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let body: CreateBody = match req.json().await {
        Ok(body) => body,
        Err(e) => return failure(&Error::new(format!("the body must be {{\"id\"?, \"params\"}}: {e}"))),
    };
    let created = Workflows::from_env(&ctx.env).order_pipeline().create(body.into_options()).await;
    respond(created.map(|i| json!({ "id": i.id() })))
}

async fn create_batch(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let bodies: Vec<CreateBody> = match req.json().await {
        Ok(bodies) => bodies,
        Err(e) => return failure(&Error::new(format!("the body must be [{{\"id\"?, \"params\"}}, …]: {e}"))),
    };
    let batch = bodies.into_iter().map(CreateBody::into_options).collect();
    let created = Workflows::from_env(&ctx.env).order_pipeline().create_batch(batch).await;
    respond(created.map(|instances| json!({ "ids": instances.iter().map(|i| i.id()).collect::<Vec<_>>() })))
}

/// `status()` as is: `InstanceStatus` serialises to the JSON Cloudflare's binding returns.
async fn status(_req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let status = async { instance(&ctx).await?.status().await };
    match status.await {
        Ok(status) => Response::from_json(&status),
        Err(error) => failure(&error),
    }
}

async fn control(_req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let action = ctx.param("action").cloned().unwrap_or_default();
    let result = async {
        let instance = instance(&ctx).await?;
        match action.as_str() {
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

async fn send_event(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let payload: serde_json::Value = req.json().await.unwrap_or(serde_json::Value::Null);
    let event_type = ctx.param("type").cloned().unwrap_or_default();
    let result = async {
        instance(&ctx).await?.send_event(&event_type, payload).await?;
        Ok(json!({ "sent": event_type }))
    };
    respond(result.await)
}

async fn audit(_req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let order_id = ctx.param("order_id").cloned().unwrap_or_default();
    let env = lunora_runtime::cloudflare::env_of(&ctx.env.clone().into());
    respond(crate::audit_trail(&env, &order_id).await.map(|lines| json!(lines)))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    Router::new()
        .post_async("/orders", create)
        .post_async("/orders/batch", create_batch)
        .get_async("/orders/:id", status)
        .post_async("/orders/:id/events/:type", send_event)
        .post_async("/orders/:id/:action", control)
        .get_async("/audit/:order_id", audit)
        // The payment functions the workflow's charge and refund call with ctx.run.
        .post_async(lunora_runtime::dispatch::DISPATCH_PATH, |req, ctx| async move {
            lunora_runtime::cloudflare::serve_dispatch(req, &ctx.env, crate::payments::functions(), "LUNORA_DISPATCH")
                .await
        })
        .run(req, env)
        .await
}
