//! The corpus Worker: create, inspect (raw status with wrangler dev's step outputs), send
//! events to and restart any corpus workflow by export name; run the REST client's tour.

use std::sync::{Arc, OnceLock};

use lunora_runtime::cloudflare::BindingBackend;
use lunora_runtime::{CreateOptions, Error, RestartFrom, Untyped, WorkflowHandle, WorkflowInfo};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{event, Context, Env, Request, Response, RouteContext, Router};

use crate::lunora_workflows::{Workflows, WORKFLOWS};

#[derive(Deserialize)]
struct CreateBody {
    id: String,
    params: Value,
}

fn respond(result: Result<Value, Error>) -> worker::Result<Response> {
    match result {
        Ok(body) => Response::from_json(&body),
        Err(e) => Response::from_json(&json!({ "error": { "name": e.name(), "message": e.message() } }))
            .map(|r| r.with_status(400)),
    }
}

fn param(ctx: &RouteContext<()>, name: &str) -> String {
    ctx.param(name).cloned().unwrap_or_default()
}

async fn create(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let body: CreateBody = req.json().await?;
    let handle = Workflows::from_env(&ctx.env).get(&param(&ctx, "export"));
    let result = async {
        let options = CreateOptions { id: Some(body.id), params: Some(body.params), retention: None };
        Ok(json!({ "id": handle?.create(options).await?.id() }))
    };
    respond(result.await)
}

async fn status(_req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let export = param(&ctx, "export");
    let result = async {
        let info = WORKFLOWS.iter().find(|w| w.export_name == export).ok_or_else(|| Error::new("unknown workflow"))?;
        lunora_runtime::cloudflare::raw_status(&ctx.env, info.binding, &param(&ctx, "id")).await
    };
    respond(result.await)
}

async fn send_event(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let payload: Value = req.json().await?;
    let result = async {
        let handle = Workflows::from_env(&ctx.env).get(&param(&ctx, "export"))?;
        handle.get(&param(&ctx, "id")).await?.send_event(&param(&ctx, "type"), payload).await?;
        Ok(json!({}))
    };
    respond(result.await)
}

async fn restart(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let from: Option<String> = req.json().await.ok();
    let result = async {
        let handle = Workflows::from_env(&ctx.env).get(&param(&ctx, "export"))?;
        let instance = handle.get(&param(&ctx, "id")).await?;
        match from {
            Some(step) => instance.restart_from(RestartFrom::step(step)).await?,
            None => instance.restart().await?,
        }
        Ok(json!({}))
    };
    respond(result.await)
}

/// The registry's workflows plus the plain-JS `bench-200-js` (bench.mjs), for `lunora-e2e bench`.
fn bench_workflows() -> &'static [WorkflowInfo] {
    static ALL: OnceLock<Vec<WorkflowInfo>> = OnceLock::new();
    ALL.get_or_init(|| {
        let js = WorkflowInfo {
            export_name: "bench200Js",
            name: "bench-200-js",
            binding: "WORKFLOW_BENCH_200_JS",
            class_name: "Bench200Js",
            schedules: &[],
            step_limit: None,
        };
        WORKFLOWS.iter().copied().chain([js]).collect()
    })
}

fn bench_handle(ctx: &RouteContext<()>) -> WorkflowHandle<Untyped> {
    WorkflowHandle::named(Arc::new(BindingBackend::new(&ctx.env, bench_workflows())), param(ctx, "name"))
}

async fn bench_create(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let body: Value = req.json().await?;
    let id = body["id"].as_str().map(str::to_owned);
    let result = async {
        let options = CreateOptions { id, params: Some(json!({ "run": "bench" })), retention: None };
        Ok(json!({ "id": bench_handle(&ctx).create(options).await?.id() }))
    };
    respond(result.await)
}

async fn bench_status(_req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let result = async {
        let status = bench_handle(&ctx).get(&param(&ctx, "id")).await?.status_json().await?;
        Ok(json!({ "status": status.status.as_str(), "output": status.output }))
    };
    respond(result.await)
}

#[derive(Deserialize)]
struct RestBody {
    api_root: String,
    token: String,
}

/// The REST client's tour (`crate::rest_tour`), sending with the Worker's `fetch`.
async fn rest(mut req: Request, _ctx: RouteContext<()>) -> worker::Result<Response> {
    let body: RestBody = req.json().await?;
    respond(Ok(crate::rest_tour::rest_tour(&body.api_root, &body.token).await))
}

async fn trail(_req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let env = lunora_runtime::cloudflare::env_of(&ctx.env.clone().into());
    respond(crate::read_trail(&env, &param(&ctx, "run")).await.map(|lines| json!(lines)))
}

/// Every event of a subscription to the instance (`crate::subscriptions`), once it ends.
async fn subscribe(mut req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let ask: crate::subscriptions::Observe = req.json().await.unwrap_or_default();
    let result = async {
        let handle = Workflows::from_env(&ctx.env).get(&param(&ctx, "export"))?;
        crate::subscriptions::observe(&handle, &param(&ctx, "id"), &ask).await.map(|events| json!(events))
    };
    respond(result.await)
}

/// The instance-operation errors on a complete instance (`crate::handle_errors`).
async fn probe(_req: Request, ctx: RouteContext<()>) -> worker::Result<Response> {
    let workflows = Workflows::from_env(&ctx.env);
    let result = crate::handle_errors::probe(&workflows, &param(&ctx, "id")).await;
    Response::from_json(
        &result.map(|outcomes| json!(outcomes)).unwrap_or_else(|e| crate::handle_errors::probe_failed(&e)),
    )
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    Router::new()
        .post_async("/run/:export", create)
        .get_async("/status/:export/:id", status)
        .post_async("/event/:export/:id/:type", send_event)
        .post_async("/restart/:export/:id", restart)
        .get_async("/trail/:run", trail)
        .post_async("/rest", rest)
        .post_async("/probe/:id", probe)
        .post_async("/subscribe/:export/:id", subscribe)
        .post_async("/bench/:name", bench_create)
        .get_async("/bench/:name/:id", bench_status)
        // The corpus's own ctx.run functions (crate::functions), deduplicated in D1.
        .post_async(lunora_runtime::dispatch::DISPATCH_PATH, |req, ctx| async move {
            lunora_runtime::cloudflare::serve_dispatch(req, &ctx.env, crate::functions::functions(), "LUNORA_DISPATCH")
                .await
        })
        .run(req, env)
        .await
}
