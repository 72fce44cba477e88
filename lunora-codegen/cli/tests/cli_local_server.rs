//! `lunora-codegen instances …` against the local server (lunora-runtime's feature `server`):
//! the real binary, `--api-base http://127.0.0.1:<port>/client/v4` and
//! `CLOUDFLARE_ACCOUNT_ID=local`, over a real engine: every subcommand works unchanged, and the
//! histories `pull` writes are the engine's.

use std::process::Output;
use std::time::Duration;

use lunora_runtime::history::{History, RecordState};
use lunora_runtime::local::Engine;
use lunora_runtime::server::axum::Router;
use lunora_runtime::server::rest_api::RestApi;
use lunora_runtime::*;

#[path = "common/gate.rs"]
mod gate;
use gate::Gate;

const TOKEN: &str = "local-cli-token-Hq2ZpX9w";
const LIMIT: Option<Duration> = Some(Duration::from_secs(20));

async fn cli(root: &str, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lunora-codegen"));
    cmd.arg("instances")
        .args(args)
        .args(["--api-base", root])
        .env("CLOUDFLARE_ACCOUNT_ID", "local")
        .env("CLOUDFLARE_API_TOKEN", TOKEN);
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instances_subcommand_works_against_the_local_server() {
    let engine = Engine::builder().register::<Gate>().open().await.unwrap();
    let app = Router::new().nest("/client/v4", RestApi::new(engine.clone()).token(Some(TOKEN.into())).router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = format!("http://{}/client/v4", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { lunora_runtime::server::axum::serve(listener, app).await });

    let gate = engine.workflow::<Gate>();
    for id in ["a", "b", "c"] {
        gate.create(CreateOptions::params(id.to_owned()).with_id(id)).await.unwrap();
        engine.wait("gate", id, WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    }

    let listed = ok(&cli(&root, &["list", "gate", "--per-page", "2"]).await);
    assert!(listed.starts_with("ID  STATUS   CREATED"), "{listed}");
    assert!(
        listed.contains("\na   waiting") && listed.contains("\nb   waiting") && !listed.contains("\nc "),
        "{listed}"
    );
    assert!(listed.ends_with("page 1 (2 shown, 3 in all); next page: --page 2\n"), "{listed}");
    let second = ok(&cli(&root, &["list", "gate", "--per-page", "2", "--page", "2"]).await);
    assert!(second.contains("\nc   waiting") && second.ends_with("last page\n"), "{second}");

    let shown = ok(&cli(&root, &["show", "gate", "a"]).await);
    assert!(shown.starts_with("instance  a\nstatus    waiting\n"), "{shown}");
    assert!(shown.contains("prepare-1") && shown.contains("ok: \"ready a\""), "{shown}");
    assert!(shown.contains("await-go-1") && shown.contains("waitForEvent"), "{shown}");

    let paused = ok(&cli(&root, &["pause", "gate", "a"]).await);
    assert!(paused.contains("a"), "{paused}");
    engine.wait("gate", "a", WaitFor::Status(InstanceStatusKind::Paused), LIMIT).await.unwrap();
    ok(&cli(&root, &["resume", "gate", "a"]).await);
    ok(&cli(&root, &["send-event", "gate", "a", "--type", "go", "--payload", "{\"n\": 1}"]).await);
    let done = engine.wait("gate", "a", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!(done.output, Some(serde_json::json!("ready a, went {\"n\":1}")));

    ok(&cli(&root, &["terminate", "gate", "b"]).await);
    assert_eq!(engine.backend().status("gate", "b").await.unwrap().status, InstanceStatusKind::Terminated);
    let refused = cli(&root, &["terminate", "gate", "b"]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("instance.cannot_terminate"));
    ok(&cli(&root, &["restart", "gate", "b", "--from-step", "prepare"]).await);
    engine.wait("gate", "b", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    ok(&cli(&root, &["restart", "gate", "b"]).await);
    engine.wait("gate", "b", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();

    // pull: the waiting instances' histories, replayable like Cloudflare's.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("histories");
    ok(&cli(&root, &["pull", "gate", "--out", out.to_str().unwrap()]).await);
    let mut pulled: Vec<History> =
        std::fs::read_dir(&out).unwrap().map(|e| History::read(&e.unwrap().path()).unwrap()).collect();
    pulled.sort_by(|x, y| x.instance_id.cmp(&y.instance_id));
    assert_eq!(pulled.iter().map(|h| h.instance_id.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    let steps: Vec<(&str, u32, RecordState)> =
        pulled[1].steps.iter().map(|s| (s.name.as_str(), s.count, s.state)).collect();
    assert_eq!(steps, [("prepare", 1, RecordState::Done), ("await-go", 1, RecordState::Waiting)]);
    assert_eq!(pulled[1].steps[0].output, Some(serde_json::json!("ready c")));

    let missing = cli(&root, &["show", "gate", "ghost"]).await;
    assert!(String::from_utf8_lossy(&missing.stderr).contains("instance.not_found"));
    server.abort();
    engine.close().await;
}
