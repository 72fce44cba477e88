//! `GET …/instances/<id>/subscribe` end to end: the project's REST client against the local
//! server (a real socket on 127.0.0.1, an engine behind it), and against a tiny hostile server
//! whose answers are cut, malformed or oversized.

mod common;
#[path = "support/http_server.rs"]
mod http_server;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use http_server::{Reply, TestServer};
use lunora_runtime::local::Engine;
use lunora_runtime::rest::subscribe::{MAX_EVENT_BYTES, SUBSCRIPTION_BROKEN};
use lunora_runtime::rest::*;
use lunora_runtime::server::axum::Router;
use lunora_runtime::server::rest_api::RestApi;
use lunora_runtime::*;
use serde_json::json;

const TOKEN: &str = "local-test-token-7Hq2ZpX9";
const PATIENCE: Duration = Duration::from_secs(20);

struct Server {
    engine: Engine,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve() -> Server {
    let engine = Engine::builder()
        .env(Env::new().with(Effects::default()))
        .register::<Waiter>()
        .register::<Sleeper>()
        .open()
        .await
        .unwrap();
    let app = Router::new().nest("/client/v4", RestApi::new(engine.clone()).token(Some(TOKEN.to_owned())).router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        lunora_runtime::server::axum::serve(listener, app).await.unwrap();
    });
    Server { engine, addr, task }
}

fn client_at(root: &str) -> WorkflowsRestClient {
    WorkflowsRestClient::new("local", TOKEN).with_base_url(workflows_base_url(root, "local"))
}

/// A client whose base URL is the hostile server itself.
fn hostile(url: &str) -> WorkflowsRestClient {
    WorkflowsRestClient::new("local", TOKEN).with_base_url(url)
}

fn client(server: &Server) -> WorkflowsRestClient {
    client_at(&format!("http://{}/client/v4", server.addr))
}

async fn drain(mut sub: Subscription) -> (Vec<InstanceEvent>, Option<Error>) {
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout(PATIENCE, sub.next()).await.expect("the stream stalled") {
            Some(Ok(event)) => events.push(event),
            Some(Err(e)) => return (events, Some(e)),
            None => return (events, None),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_streams_history_and_live_events_from_the_local_server() {
    let server = serve().await;
    let waiter = server.engine.workflow::<Waiter>();
    let inst = waiter.create(CreateOptions::params(vec!["go".to_owned()]).with_id("w1")).await.unwrap();
    server.engine.wait("waiter", "w1", WaitFor::Status(InstanceStatusKind::Waiting), Some(PATIENCE)).await.unwrap();
    let client = client(&server);
    let mut sub = client.subscribe("waiter", "w1", &SubscribeOptions::new()).await.unwrap();
    let mut seen = Vec::new();
    while let Some(event) = tokio::time::timeout(PATIENCE, sub.next()).await.unwrap() {
        let event = event.unwrap();
        let waiting = event.kind.type_name() == "workflow_waiting";
        seen.push(event);
        if waiting {
            break;
        }
    }
    inst.send_event("go", json!({"n": 1})).await.unwrap();
    let (rest, error) = drain(sub).await;
    assert!(error.is_none(), "{error:?}");
    seen.extend(rest);
    assert_eq!(seen.last().unwrap().kind.type_name(), "workflow_completed");
    // What the REST stream delivered is what the engine's own subscription reads.
    let (direct, _) = drain(inst.subscribe(SubscribeOptions::new()).await.unwrap()).await;
    assert_eq!(seen, direct);

    // Filter and cursor travel in the query.
    let cursor = direct[2].event_id;
    let options = SubscribeOptions::new().cursor(cursor).filter(["wait_started", "wait_completed"]);
    let (filtered, error) = drain(client.subscribe("waiter", "w1", &options).await.unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    let types: Vec<&str> = filtered.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(types, ["wait_started", "wait_completed"]);
    assert!(filtered[0].event_id > cursor);
}

#[tokio::test]
async fn refusals_come_before_the_stream_as_envelopes() {
    let server = serve().await;
    let client = client(&server);
    let err = client.subscribe("waiter", "missing", &SubscribeOptions::new()).await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Http, Some(404)));
    assert_eq!(err.errors()[0].message, "instance.not_found");
    let err = client.subscribe("nope", "x", &SubscribeOptions::new()).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    // An invalid filter is refused before anything is sent…
    let bad = SubscribeOptions::new().filter(["step_done"]);
    let err = client.subscribe("waiter", "missing", &bad).await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Config, None));
    // …and by the server, for clients that send one anyway.
    let url = format!(
        "http://{}/client/v4/accounts/local/workflows/waiter/instances/x/subscribe?filter=step_done",
        server.addr
    );
    let answer = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent.get(&url).header("authorization", &format!("Bearer {TOKEN}")).call().unwrap();
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(answer.0, 400, "{answer:?}");
    assert!(answer.1.contains("Invalid Workflow subscription options"), "{answer:?}");
    let wrong_token = WorkflowsRestClient::new("local", "another-token-9x8y7z6w")
        .with_base_url(workflows_base_url(&format!("http://{}/client/v4", server.addr), "local"));
    let err = wrong_token.subscribe("waiter", "x", &SubscribeOptions::new()).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
}

#[tokio::test]
async fn a_dropped_rest_subscription_lets_the_server_and_engine_go_on() {
    let server = serve().await;
    let sleeper = server.engine.workflow::<Sleeper>();
    let inst = sleeper.create(CreateOptions::params("300 milliseconds".into()).with_id("s")).await.unwrap();
    let client = client(&server);
    for _ in 0..20 {
        let mut sub = client.subscribe("sleeper", "s", &SubscribeOptions::new()).await.unwrap();
        tokio::time::timeout(PATIENCE, sub.next()).await.unwrap().unwrap().unwrap();
        drop(sub);
    }
    let status = inst.wait(Some(PATIENCE)).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    let (events, error) = drain(client.subscribe("sleeper", "s", &SubscribeOptions::new()).await.unwrap()).await;
    assert!(error.is_none());
    assert_eq!(events.last().unwrap().kind.type_name(), "workflow_completed");
}

fn event(id: u64, kind: &str) -> String {
    format!(r#"{{"instanceId":"i","eventId":{id},"timestamp":1,"type":"{kind}"}}"#)
}

fn frame(id: u64, kind: &str) -> String {
    format!("id: {id}\ndata: {}\n\n", event(id, kind))
}

/// Subscribes to a server that answers `body` as an event stream; returns what came through.
async fn against(body: String) -> (Vec<InstanceEvent>, Option<Error>) {
    let server = TestServer::start(move |_| Reply::text(200, "text/event-stream", body.clone()));
    let sub = hostile(&server.url()).subscribe("w", "i", &SubscribeOptions::new()).await.unwrap();
    drain(sub).await
}

#[tokio::test]
async fn hostile_streams_end_in_an_error_never_in_a_silent_end() {
    // The server hangs up mid-event, and between events.
    let (events, error) = against(format!("{}id: 2\ndata: {{\"instanceId\":", frame(1, "workflow_queued"))).await;
    assert_eq!(events.len(), 1);
    let error = error.expect("a cut stream is an error");
    assert_eq!(error.code(), Some(SUBSCRIPTION_BROKEN));
    assert!(error.message().contains("cursor 1"), "{error}");
    let (events, error) = against(frame(1, "workflow_queued") + &frame(2, "workflow_running")).await;
    assert_eq!(events.len(), 2);
    assert!(error.unwrap().message().contains("without its end frame"));

    // A malformed line, data that is not an event, an oversized event.
    let (_, error) = against("what is this\n\n".to_owned()).await;
    assert!(error.unwrap().message().contains("malformed line"));
    let (_, error) = against("data: [1, 2]\n\n".to_owned()).await;
    assert!(error.unwrap().message().contains("not an event"));
    let (_, error) = against(format!("data: {}\n\n", "x".repeat(MAX_EVENT_BYTES + 1))).await;
    assert!(error.unwrap().message().contains("longer than"));

    // The token a server echoes is redacted from what the client reports.
    let (_, error) = against(format!("data: {{\"echo\": \"{TOKEN}\"}}\n\n")).await;
    let error = error.unwrap();
    assert!(!error.message().contains(TOKEN) && error.message().contains("[REDACTED]"), "{error}");

    // A proper stream: events, then the end frame; a terminal event also ends it.
    let (events, error) = against(frame(1, "workflow_queued") + "event: end\ndata: {}\n\n").await;
    assert_eq!((events.len(), error), (1, None));
    let (events, error) = against(frame(1, "workflow_terminated") + &frame(2, "workflow_queued")).await;
    assert_eq!((events.len(), error), (1, None), "nothing is read after the terminal event");
}

#[tokio::test]
async fn answers_that_are_not_streams_are_errors_with_their_body() {
    let server = TestServer::start(|_| Reply::json(200, r#"{"success":true,"errors":[],"messages":[],"result":[]}"#));
    let err = hostile(&server.url()).subscribe("w", "i", &SubscribeOptions::new()).await.unwrap_err();
    assert_eq!(err.kind(), RestErrorKind::Malformed);
    assert!(err.message().contains("not an event stream"), "{err}");
    let request = server.single_request();
    assert_eq!(request.path(), "/w/instances/i/subscribe");
    assert_eq!(request.header("accept"), Some("text/event-stream"));
    assert_eq!(request.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    let server = TestServer::start(|_| Reply::text(503, "text/plain", "upstream sad"));
    let err = hostile(&server.url()).subscribe("w", "i", &SubscribeOptions::new().cursor(4)).await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Http, Some(503)));
    assert_eq!(server.single_request().query(), "cursor=4");
    let err = hostile(&http_server::closed_port_url()).subscribe("w", "i", &SubscribeOptions::new()).await.unwrap_err();
    assert_eq!(err.kind(), RestErrorKind::Transport);
}
