//! `order-pipeline serve --port PORT --db PATH`: the order pipeline on a real clock and the
//! journal file `PATH`, served on 127.0.0.1:PORT until Ctrl-C / SIGTERM:
//!
//! - `/client/v4/…`: Cloudflare's Workflows REST API for the account id `local` (so
//!   `lunora-codegen instances … --api-base http://127.0.0.1:PORT/client/v4` with
//!   `CLOUDFLARE_ACCOUNT_ID=local` drives it); with `LUNORA_API_TOKEN` set, requests must carry
//!   it as their bearer token.
//! - `POST /orders` with the order's params (`{"order_id": "1001", …}`): starts an order,
//!   instance id `order-<order_id>`.
//! - `POST /orders/<instance id>/shipment` with `{"tracking_id": "…"}`: the warehouse's event.
//!
//! Waiting instances are kept in the journal, so a restart on the same `--db` carries on.

use std::sync::Arc;

use lunora_runtime::functions::SqliteDedupStore;
use lunora_runtime::local::Engine;
use lunora_runtime::server::axum::body::Bytes;
use lunora_runtime::server::axum::extract::{Path, State};
use lunora_runtime::server::axum::http::StatusCode;
use lunora_runtime::server::axum::response::IntoResponse;
use lunora_runtime::server::axum::routing::post;
use lunora_runtime::server::axum::Router;
use lunora_runtime::server::rest_api::RestApi;
use lunora_runtime::*;
use order_pipeline::lunora_workflows::register_all;
use order_pipeline::{AuditLog, OrderParams, OrderPipelineWorkflow, Shipment};
use serde_json::json;

/// The variable holding the REST API's bearer token (none: any request is served).
pub const TOKEN_VAR: &str = "LUNORA_API_TOKEN";

pub async fn serve(args: &[String]) -> Result<()> {
    let usage = || Error::new("usage: order-pipeline serve --port PORT --db PATH");
    let (mut port, mut db) = (None, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(usage)?;
        match flag.as_str() {
            "--port" => {
                port = Some(
                    value.parse::<u16>().map_err(|_| Error::new(format!("--port {value:?} is not a port number")))?,
                )
            }
            "--db" => db = Some(std::path::PathBuf::from(value)),
            _ => return Err(usage()),
        }
    }
    let (Some(port), Some(db)) = (port, db) else { return Err(usage()) };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| Error::new(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Error::new(e.to_string()))?;
    // The charge and refund call the payment functions served below, on this same port.
    let admin_token = std::env::var("LUNORA_ADMIN_TOKEN").ok().filter(|t| !t.is_empty());
    let env = Env::new()
        .with(Arc::new(AuditLog::default()))
        .with_var("LUNORA_ADMIN_TOKEN", admin_token.as_deref().unwrap_or(order_pipeline::payments::DEV_ADMIN_TOKEN))
        .with_var("LUNORA_ORIGIN_URL", format!("http://{addr}")); // the bound port (`--port 0` picks one)
    let engine = register_all(Engine::builder().path(&db).env(env.clone())).open().await?;
    let token = std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty());
    let dedup =
        SqliteDedupStore::open(format!("{}.dispatch.db", db.display())).map_err(|e| Error::new(e.to_string()))?;
    let payments = DispatchEndpoint::new(order_pipeline::payments::functions(), env, Arc::new(dedup))?;
    let app = Router::new()
        .nest("/client/v4", RestApi::new(engine.clone()).token(token).router())
        .merge(order_routes(engine.clone()))
        .merge(lunora_runtime::functions::server::router(payments));
    println!("journal: {}", db.display());
    println!("listening on http://{addr}");
    println!("REST API: http://{addr}/client/v4 (account id local)");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    lunora_runtime::server::serve(listener, app, engine).await.map_err(|e| Error::new(format!("server failed: {e}")))
}

fn order_routes(engine: Engine) -> Router {
    Router::new()
        .route("/orders", post(create_order))
        .route("/orders/{id}/shipment", post(ship_order))
        .with_state(engine)
}

fn answer(result: Result<serde_json::Value>) -> impl IntoResponse {
    match result {
        Ok(value) => (StatusCode::OK, value.to_string()),
        Err(e) => {
            let status = if e.code().is_some_and(|c| c.ends_with("not_found")) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, json!({"error": {"name": e.name(), "message": e.message()}}).to_string())
        }
    }
}

async fn create_order(State(engine): State<Engine>, body: Bytes) -> impl IntoResponse {
    answer(
        async {
            let params: OrderParams = serde_json::from_slice(&body)
                .map_err(|e| Error::new(format!("the body must be the order's params {{\"order_id\": …}}: {e}")))?;
            let id = format!("order-{}", params.order_id);
            let instance =
                engine.workflow::<OrderPipelineWorkflow>().create(CreateOptions::params(params).with_id(id)).await?;
            Ok(json!({"id": instance.id()}))
        }
        .await,
    )
}

async fn ship_order(State(engine): State<Engine>, Path(id): Path<String>, body: Bytes) -> impl IntoResponse {
    answer(
        async {
            let shipment: Shipment = serde_json::from_slice(&body)
                .map_err(|e| Error::new(format!("the body must be {{\"tracking_id\": …}}: {e}")))?;
            let instance = engine.workflow::<OrderPipelineWorkflow>().get(&id).await?;
            instance.send_event("shipment-created", shipment).await?;
            Ok(json!({"id": id}))
        }
        .await,
    )
}
