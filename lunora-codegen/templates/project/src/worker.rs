//! The Worker's routes, over the typed registry `lunora-codegen sync` writes
//! (src/lunora_workflows.rs):
//!
//! | route | does |
//! |---|---|
//! | `POST /instances` `{"id"?, "params": {"email"}}` | starts a signup → `{"id"}` |
//! | `GET /instances/:id` | its status as Cloudflare's binding returns it: `{status, error?, output?}` |
//! | `POST /instances/:id/events/:type` | sends the JSON body as the event's payload → `{"sent"}` |

use lunora_runtime::{CreateOptions, Error};
use serde::Deserialize;
use serde_json::json;
use worker::{event, Context, Env, Request, Response, RouteContext, Router};

use crate::lunora_workflows::Workflows;
use crate::workflows::SignupParams;

#[derive(Deserialize)]
struct CreateBody {
    id: Option<String>,
    params: SignupParams,
}

/// A lunora error as JSON: 404 for an unknown instance, 400 otherwise.
fn failure(error: &Error) -> worker::Result<Response> {
    let not_found = error.code().is_some_and(|c| c.contains("not_found"))
        || error.message().contains("not_found");
    let body = json!({ "error": { "name": error.name(), "message": error.message() } });
    Response::from_json(&body).map(|r| r.with_status(if not_found { 404 } else { 400 }))
}

async fn create(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let body: CreateBody = match req.json().await {
        Ok(body) => body,
        Err(e) => {
            return failure(&Error::new(format!(
                "the body must be an object with \"params\" and maybe \"id\": {e}"
            )))
        }
    };
    let mut options = CreateOptions::params(body.params);
    options.id = body.id;
    match Workflows::from_env(&ctx.env).signup().create(options).await {
        Ok(instance) => Response::from_json(&json!({ "id": instance.id() })),
        Err(error) => failure(&error),
    }
}

/// `status()` as is: `InstanceStatus` serialises to the JSON Cloudflare's binding returns.
async fn status(_req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let id = ctx.param("id").cloned().unwrap_or_default();
    let status = async {
        Workflows::from_env(&ctx.env)
            .signup()
            .get(&id)
            .await?
            .status()
            .await
    };
    match status.await {
        Ok(status) => Response::from_json(&status),
        Err(error) => failure(&error),
    }
}

async fn send_event(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let id = ctx.param("id").cloned().unwrap_or_default();
    let event_type = ctx.param("type").cloned().unwrap_or_default();
    let payload: serde_json::Value = match req.json().await {
        Ok(payload) => payload,
        Err(e) => {
            return failure(&Error::new(format!(
                "the body must be the event's JSON payload: {e}"
            )))
        }
    };
    let sent = async {
        Workflows::from_env(&ctx.env)
            .signup()
            .get(&id)
            .await?
            .send_event(&event_type, payload)
            .await
    };
    match sent.await {
        Ok(()) => Response::from_json(&json!({ "sent": event_type })),
        Err(error) => failure(&error),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    Router::new()
        .post_async("/instances", create)
        .get_async("/instances/:id", status)
        .post_async("/instances/:id/events/:type", send_event)
        .run(req, env)
        .await
}
