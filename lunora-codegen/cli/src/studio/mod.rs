//! `lunora-codegen studio`: a local web UI over the Workflows REST API — the account's
//! workflows, a workflow's instances, an instance's step timeline as a Gantt chart, and the
//! actions (pause, resume, terminate, restart, send event).
//!
//! The page talks only to this process (`/api/…`), which calls the API through
//! [`WorkflowsRestClient`]: the API token stays here and never reaches the browser (the client
//! also redacts it from every answer it relays). Defences, because the server holds a
//! credential and listens on a port any page in the browser can reach:
//! - it binds 127.0.0.1 unless told otherwise, and answers only requests whose `Host` is the
//!   address it listens on (a DNS-rebinding page has another host name);
//! - actions (POSTs) need the per-process token the page carries (`x-studio-token`), and are
//!   refused when `Origin` is another origin or `Sec-Fetch-Site` says cross-site;
//! - every answer has a strict Content-Security-Policy (scripts only from this origin, no
//!   inline script), and the page writes every server string with `textContent`.
//!
//! With `--journal PATH` it serves a journal file instead, without credentials: the local REST
//! API over the file (read-only, no engine, no workflow code) on a second loopback port only
//! this process knows the token of; every action is refused there.
//!
//! `assets` holds the page (embedded in the binary), `server` the routes.

mod assets;
mod server;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::Args;

use lunora_runtime::rest::{workflows_base_url, WorkflowsRestClient};

use crate::instances::{client, ApiBase};

/// `studio`'s options.
#[derive(Args, Debug)]
pub struct StudioArgs {
    /// The port to listen on (0: any free port; the URL is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The address to listen on. Anything but a loopback address exposes the studio (and the
    /// account behind it) to the network.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// The API root to talk to instead of https://api.cloudflare.com/client/v4.
    // --help text (clap), not rustdoc.
    #[allow(rustdoc::bare_urls)]
    #[arg(long, value_name = "URL")]
    pub api_base: Option<ApiBase>,
    /// Show a lunora journal file (an engine's `--db`) read-only instead of an API: no
    /// credentials, no workflow runs, every action refused. Refused while an engine has it open.
    #[arg(long, value_name = "PATH", conflicts_with = "api_base")]
    pub journal: Option<PathBuf>,
}

/// Serves until the process is stopped; returns an error when it cannot start.
pub fn run(args: StudioArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let client = match &args.journal {
        None => Some(client(args.api_base.as_ref().map(|b| b.0.as_str()), env)?),
        Some(_) => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("studio: cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let address = SocketAddr::new(args.host, args.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| format!("studio: cannot listen on {address}: {e} (choose another --port)"))?;
        let bound = listener.local_addr().map_err(|e| format!("studio: {e}"))?;
        if !bound.ip().is_loopback() {
            eprintln!("studio: warning: listening on {bound}, reachable from the network; anyone who can reach it can steer the account's instances once they have the page");
        }
        let client = match (client, &args.journal) {
            (Some(client), _) => client,
            (None, Some(journal)) => over_journal(journal).await?,
            (None, None) => unreachable!("a client is made unless --journal is given"),
        };
        let app = server::router(server::Studio::new(client, bound));
        println!("studio: listening on http://{bound}/");
        if let Some(journal) = &args.journal {
            println!("studio: showing the journal {} read-only", journal.display());
        }
        axum::serve(listener, app).await.map_err(|e| format!("studio: the server stopped: {e}"))
    })
}

/// Serves the REST API over the journal file on a free loopback port, behind a token of this
/// process, and returns a client for it.
async fn over_journal(journal: &std::path::Path) -> Result<WorkflowsRestClient, String> {
    use lunora_runtime::server::rest_api::{RestApi, LOCAL_ACCOUNT};
    let api = RestApi::over_journal(journal).map_err(|e| format!("studio: {}", e.message()))?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let app = axum::Router::new().nest("/client/v4", api.token(Some(token.clone())).router());
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| format!("studio: cannot listen on a loopback port for the journal's API: {e}"))?;
    let address = listener.local_addr().map_err(|e| format!("studio: {e}"))?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(WorkflowsRestClient::new(LOCAL_ACCOUNT, token)
        .with_base_url(workflows_base_url(&format!("http://{address}/client/v4"), LOCAL_ACCOUNT)))
}
