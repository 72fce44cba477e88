//! The local server (feature `server`, native only): HTTP endpoints over a running
//! [`Engine`], on [axum](https://docs.rs/axum).
//!
//! - [`rest_api`]: Cloudflare's Workflows REST API (`/accounts/<id>/workflows/…`), so the
//!   `lunora-codegen instances` CLI, [`WorkflowsRestClient`](crate::rest::WorkflowsRestClient)
//!   and any tool written for Cloudflare's API work against a local process.
//!
//! Each endpoint is its own [`axum::Router`]; an application mounts them side by side:
//!
//! ```no_run
//! # async fn demo(engine: lunora_runtime::local::Engine) -> std::io::Result<()> {
//! use lunora_runtime::server::{axum::Router, rest_api::RestApi, serve};
//! let app = Router::new().nest("/client/v4", RestApi::new(engine.clone()).router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8787").await?;
//! serve(listener, app, engine).await
//! # }
//! ```

pub mod rest_api;

pub use axum;

use std::time::Duration;

use crate::local::Engine;

/// How long [`serve`] lets step attempts in flight finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until Ctrl-C or SIGTERM, then stops taking connections, lets
/// the requests in flight finish and shuts the engine down gracefully (see
/// [`Engine::shutdown`], with [`SHUTDOWN_GRACE`]).
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router, engine: Engine) -> std::io::Result<()> {
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
    engine.shutdown(SHUTDOWN_GRACE).await;
    served
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
