//! The local REST API (feature `server`) on a real socket on 127.0.0.1, driven by the
//! project's own `WorkflowsRestClient` (every call), compared key by key and type by type with
//! Cloudflare's recorded envelopes (`tests/rest_fixtures/`), and attacked with hostile requests,
//! which must all get Cloudflare-shaped errors.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use lunora_runtime::history::{History, RecordState};
use lunora_runtime::local::Engine;
use lunora_runtime::rest::*;
use lunora_runtime::server::axum::Router;
use lunora_runtime::server::rest_api::RestApi;
use lunora_runtime::*;
use serde_json::{json, Value};

const TOKEN: &str = "local-test-token-7Hq2ZpX9";
const LIMIT: Option<Duration> = Some(Duration::from_secs(20));

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

async fn serve(token: Option<&str>) -> Server {
    let engine = Engine::builder()
        .env(Env::new().with(Effects::default()))
        .register::<Waiter>()
        .register::<SagaFlow>()
        .register::<Sleeper>()
        .open()
        .await
        .unwrap();
    let app = Router::new().nest("/client/v4", RestApi::new(engine.clone()).token(token.map(str::to_owned)).router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        lunora_runtime::server::axum::serve(listener, app).await.unwrap();
    });
    Server { engine, addr, task }
}

fn client(server: &Server) -> WorkflowsRestClient {
    let root = format!("http://{}/client/v4", server.addr);
    WorkflowsRestClient::new("local", TOKEN).with_base_url(workflows_base_url(&root, "local"))
}

/// One raw HTTP/1.1 exchange (so malformed requests can be sent): status and JSON body.
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or_else(|_| panic!("not a JSON body: {text:?}")))
}

fn request(method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn api_code(err: &WorkflowsRestError) -> (Option<u16>, String) {
    (err.status(), err.errors().first().map(|e| e.message.clone()).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_call_works_against_the_local_server() {
    let server = serve(Some(TOKEN)).await;
    let c = client(&server);
    let engine = &server.engine;

    // create, get (waiting on an event), pause, resume, send_event, get (complete)
    let create =
        CreateInstance { instance_id: Some("w-1".into()), params: Some(json!(["go"])), instance_retention: None };
    let created = c.create_instance("waiter", &create).await.unwrap();
    assert_eq!((created.id.as_str(), created.version_id.as_deref()), ("w-1", Some("local")));
    engine.wait("waiter", "w-1", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    let detail = c.get_instance("waiter", "w-1").await.unwrap();
    assert_eq!(detail.status, InstanceStatusKind::Waiting);
    assert_eq!(detail.steps.len(), 1);
    assert_eq!((detail.steps[0].kind(), detail.steps[0].name()), ("waitForEvent", Some("wait-0-1")));
    let history = History::from_rest("waiter", &detail);
    assert_eq!((history.steps[0].name.as_str(), history.steps[0].count), ("wait-0", 1));
    assert_eq!(history.steps[0].state, RecordState::Waiting);

    let paused = c.set_instance_status("waiter", "w-1", Action::Pause).await.unwrap();
    assert!(matches!(paused.status, InstanceStatusKind::Paused | InstanceStatusKind::WaitingForPause), "{paused:?}");
    assert!(paused.timestamp.as_deref().and_then(parse_timestamp).is_some());
    engine.wait("waiter", "w-1", WaitFor::Status(InstanceStatusKind::Paused), LIMIT).await.unwrap();
    let resumed = c.set_instance_status("waiter", "w-1", Action::Resume).await.unwrap();
    assert_ne!(resumed.status, InstanceStatusKind::Paused);
    assert_eq!(c.send_event("waiter", "w-1", "go", &json!({"n": 1})).await.unwrap(), Value::Null);
    engine.wait("waiter", "w-1", WaitFor::End, LIMIT).await.unwrap();
    let done = c.get_instance("waiter", "w-1").await.unwrap();
    assert_eq!((done.status, done.success), (InstanceStatusKind::Complete, Some(true)));
    assert_eq!(done.output, Some(json!(["go={\"n\":1}"])));
    let TimelineStep::WaitForEvent(wait) = &done.steps[0] else { panic!("{:?}", done.steps) };
    assert_eq!(
        (wait.finished, wait.output.as_ref().map(|o| o["payload"].clone())),
        (Some(true), Some(json!({"n": 1})))
    );
    let replayable = History::from_rest("waiter", &done);
    assert_eq!(replayable.steps[0].state, RecordState::Done);

    // terminate with rollback: rollback entries and a termination entry; terminate again fails
    let saga = CreateInstance {
        instance_id: Some("s-1".into()),
        params: Some(json!({"wait_before_failing": true})),
        instance_retention: None,
    };
    c.create_instance("saga", &saga).await.unwrap();
    engine.wait("saga", "s-1", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    let terminated = c.set_instance_status("saga", "s-1", Action::Terminate { rollback: true }).await.unwrap();
    assert_eq!(terminated.status, InstanceStatusKind::Terminated);
    let detail = c.get_instance("saga", "s-1").await.unwrap();
    let kinds: Vec<&str> = detail.steps.iter().map(TimelineStep::kind).collect();
    assert_eq!(kinds, ["step", "step", "step", "waitForEvent", "rollback", "rollback", "rollback", "termination"]);
    let again = c.set_instance_status("saga", "s-1", Action::Terminate { rollback: false }).await.unwrap_err();
    assert_eq!(api_code(&again), (Some(409), "instance.cannot_terminate".to_owned()));

    // restart from a step, then from the top; terminate without rollback
    let from = c
        .set_instance_status("saga", "s-1", Action::Restart { from: Some(RestartFrom::step("charge")) })
        .await
        .unwrap();
    assert!(!from.status.is_terminal(), "{from:?}");
    engine.wait("saga", "s-1", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    let bad_from = Action::Restart { from: Some(RestartFrom::step("nope")) };
    assert_eq!(
        api_code(&c.set_instance_status("saga", "s-1", bad_from).await.unwrap_err()).1,
        "instance.cannot_restart"
    );
    c.set_instance_status("saga", "s-1", Action::Restart { from: None }).await.unwrap();
    engine.wait("saga", "s-1", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    let stopped = c.set_instance_status("saga", "s-1", Action::Terminate { rollback: false }).await.unwrap();
    assert_eq!(stopped.status, InstanceStatusKind::Terminated);

    // list: page by page, by cursor, by status
    for i in 0..3 {
        let create = CreateInstance {
            instance_id: Some(format!("w-{}", i + 2)),
            params: Some(json!([])),
            instance_retention: None,
        };
        c.create_instance("waiter", &create).await.unwrap();
        engine.wait("waiter", &format!("w-{}", i + 2), WaitFor::End, LIMIT).await.unwrap();
    }
    let mut query = ListInstances::new("waiter").per_page(3);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let page = c.list_instances(&query).await.unwrap();
        assert_eq!(page.total_count, Some(4));
        ids.extend(page.instances.iter().map(|i| i.id.clone()));
        match page.next(&query) {
            Some(next) => query = next,
            None => break,
        }
    }
    assert_eq!(ids, ["w-1", "w-2", "w-3", "w-4"]);
    let mut query = ListInstances::new("waiter").per_page(3).cursor("").direction(Direction::Desc);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let page = c.list_instances(&query).await.unwrap();
        ids.extend(page.instances.iter().map(|i| i.id.clone()));
        match page.next(&query) {
            Some(next) => query = next,
            None => break,
        }
    }
    assert_eq!(ids, ["w-4", "w-3", "w-2", "w-1"]);
    let terminated =
        c.list_instances(&ListInstances::new("saga").status(InstanceStatusKind::Terminated)).await.unwrap();
    assert_eq!(terminated.instances.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["s-1"]);
    assert!(terminated.instances[0].ended_on.as_deref().and_then(parse_timestamp).is_some());

    // delete; the id is free again
    c.delete_instance("waiter", "w-2").await.unwrap();
    let gone = c.get_instance("waiter", "w-2").await.unwrap_err();
    assert_eq!(api_code(&gone), (Some(404), "instance.not_found".to_owned()));
    let retention = InstanceRetention {
        success_retention: Some(RetentionDuration::Text("1 hour".into())),
        error_retention: Some(RetentionDuration::Millis(60_000)),
    };
    let again = CreateInstance {
        instance_id: Some("w-2".into()),
        params: Some(json!([])),
        instance_retention: Some(retention),
    };
    c.create_instance("waiter", &again).await.unwrap();
    let twice = c.create_instance("waiter", &again).await.unwrap_err();
    assert_eq!(api_code(&twice), (Some(409), "instance.already_exists".to_owned()));

    // the account's workflows
    let (status, workflows) = raw(server.addr, &request("GET", "/client/v4/accounts/local/workflows", ""));
    assert_eq!(status, 200);
    let names: Vec<&str> =
        workflows["result"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["saga", "sleeper", "waiter"]);
}

/// The shape of a JSON value: object keys and value types, with `null` matching anything.
fn same_shape(local: &Value, cloudflare: &Value, at: &str) {
    // User data (params, outputs, event payloads) has whatever shape the workflow gives it.
    let user_data = [".params", ".output", ".payload"].iter().any(|k| at.ends_with(k));
    match (local, cloudflare) {
        _ if user_data => {}
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(a), Value::Object(b)) => {
            let keys =
                |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<std::collections::BTreeSet<_>>();
            assert_eq!(keys(a), keys(b), "keys at {at}");
            for (k, v) in a {
                same_shape(v, &b[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            // Entries are compared with the recorded entry of the same `type` (timelines) or the first.
            for item in a {
                let twin = b.iter().find(|x| x.get("type") == item.get("type")).or(b.first());
                if let Some(twin) = twin {
                    same_shape(item, twin, &format!("{at}[]"));
                }
            }
        }
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_))
            if at.ends_with("delay") || at.ends_with("timeout") =>
        {
            // Cloudflare reports step config durations as milliseconds or text.
        }
        (a, b) => assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b), "type at {at}: {a} vs {b}"),
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/rest_fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_have_the_shapes_cloudflare_recorded() {
    let server = serve(Some(TOKEN)).await;
    let base = "/client/v4/accounts/local/workflows";
    let (status, created) = raw(
        server.addr,
        &request(
            "POST",
            &format!("{base}/saga/instances"),
            r#"{"instance_id":"s","params":{"wait_before_failing":true}}"#,
        ),
    );
    assert_eq!(status, 200);
    same_shape(&created, &fixture("create_instance.json"), "create");
    server.engine.wait("saga", "s", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    let (_, paused) =
        raw(server.addr, &request("PATCH", &format!("{base}/saga/instances/s/status"), r#"{"status":"pause"}"#));
    same_shape(&paused, &fixture("status_pause.json"), "pause");
    raw(server.addr, &request("PATCH", &format!("{base}/saga/instances/s/status"), r#"{"status":"resume"}"#));
    let (_, sent) = raw(server.addr, &request("POST", &format!("{base}/saga/instances/s/events/go"), "null"));
    same_shape(&sent, &fixture("send_event.json"), "event");
    server.engine.wait("saga", "s", WaitFor::End, LIMIT).await.unwrap();
    let (_, detail) = raw(server.addr, &request("GET", &format!("{base}/saga/instances/s"), ""));
    assert_eq!(detail["result"]["status"], "errored");
    same_shape(&detail, &fixture("get_instance_errored.json"), "detail");
    let (_, page) = raw(server.addr, &request("GET", &format!("{base}/saga/instances?per_page=2"), ""));
    let mut recorded = fixture("list_page1.json");
    // The local server reports `count` and `total_count`; Cloudflare's recorded page does too.
    recorded["result_info"]["page"] = json!(1);
    same_shape(&page, &recorded, "list");
    let (status, missing) = raw(server.addr, &request("GET", &format!("{base}/saga/instances/nope"), ""));
    assert_eq!(status, 404);
    let mut expected = fixture("error_not_found.json");
    expected["messages"] = json!([{"code": 10001, "message": "why"}]);
    same_shape(&missing, &expected, "not found");
    assert_eq!(missing["errors"], fixture("error_not_found.json")["errors"]);
    let (_, cursor) = raw(server.addr, &request("GET", &format!("{base}/saga/instances?cursor="), ""));
    let mut recorded = fixture("list_cursor_first.json");
    recorded["result_info"]["cursor"] = Value::Null;
    same_shape(&cursor, &recorded, "cursor list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required_when_configured_and_never_echoed() {
    let server = serve(Some(TOKEN)).await;
    let wrong = WorkflowsRestClient::new("local", "another-token-1234567")
        .with_base_url(workflows_base_url(&format!("http://{}/client/v4", server.addr), "local"));
    let err = wrong.list_instances(&ListInstances::new("waiter")).await.unwrap_err();
    assert_eq!((err.status(), err.errors()[0].code), (Some(403), 10000));
    let (status, body) =
        raw(server.addr, b"GET /client/v4/accounts/local/workflows HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!((status, body["errors"][0]["code"].as_i64()), (401, Some(10000)));
    let (_, body) = raw(
        server.addr,
        format!("GET /client/v4/accounts/local/workflows HTTP/1.1\r\nauthorization: Bearer {}x\r\nconnection: close\r\n\r\n", TOKEN)
            .as_bytes(),
    );
    assert!(!body.to_string().contains(&TOKEN[..8]), "{body}");
    // Without a token configured, any bearer passes (the CLI always sends one).
    let open = serve(None).await;
    client(&open).list_instances(&ListInstances::new("waiter")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_cloudflare_shaped_errors() {
    let server = serve(Some(TOKEN)).await;
    let base = "/client/v4/accounts/local/workflows";
    let huge = format!("{{\"params\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (request("POST", &format!("{base}/waiter/instances"), "{not json"), 400, "request.invalid_json"),
        (request("POST", &format!("{base}/waiter/instances"), "[1, 2]"), 400, "request.invalid_json"),
        (request("POST", &format!("{base}/waiter/instances"), r#"{"instance_id": 7}"#), 400, "instance.invalid_id"),
        (
            request("POST", &format!("{base}/waiter/instances"), r#"{"instance_id": "../../etc/passwd"}"#),
            400,
            "instance.invalid_id",
        ),
        (
            request("POST", &format!("{base}/waiter/instances"), r#"{"params": {"not": "a list"}}"#),
            400,
            "instance.invalid_params",
        ),
        (
            request(
                "POST",
                &format!("{base}/waiter/instances"),
                r#"{"instance_retention": {"success_retention": true}}"#,
            ),
            400,
            "instance.invalid_retention",
        ),
        (request("POST", &format!("{base}/waiter/instances"), &huge), 413, "request.too_large"),
        (request("GET", &format!("{base}/waiter/instances?page=0"), ""), 400, "instance.invalid_list_query"),
        (request("GET", &format!("{base}/waiter/instances?per_page=100000"), ""), 400, "instance.invalid_list_query"),
        (request("GET", &format!("{base}/waiter/instances?per_page=-3"), ""), 400, "request.invalid_query"),
        (request("GET", &format!("{base}/waiter/instances?cursor=%ZZ"), ""), 400, "request.invalid_path"),
        (request("GET", &format!("{base}/waiter/instances?cursor=bm9wZQ"), ""), 400, "instance.invalid_list_query"),
        (request("GET", &format!("{base}/waiter/instances?status=finished"), ""), 400, "request.invalid_query"),
        (request("GET", &format!("{base}/waiter/instances/..%2F..%2Fetc%2Fpasswd"), ""), 404, "instance.not_found"),
        (request("GET", &format!("{base}/waiter/instances/%FF%FE"), ""), 400, "request.invalid_path"),
        (request("GET", &format!("{base}/nope/instances"), ""), 404, "workflow.not_found"),
        (request("GET", &format!("{base}/nope/instances/x"), ""), 404, "workflow.not_found"),
        (
            request("PATCH", &format!("{base}/waiter/instances/x/status"), r#"{"status":"explode"}"#),
            400,
            "instance.invalid_status",
        ),
        (
            request(
                "PATCH",
                &format!("{base}/waiter/instances/x/status"),
                r#"{"status":"restart","from":{"name":"a","count":0}}"#,
            ),
            400,
            "instance.invalid_status",
        ),
        (request("POST", &format!("{base}/waiter/instances/x/events/go"), "{"), 400, "request.invalid_json"),
        (request("POST", &format!("{base}/waiter/instances/x/events/a%20b"), "1"), 400, "instance.invalid_event_type"),
        (request("DELETE", &format!("{base}/waiter/instances/ghost"), ""), 404, "instance.not_found"),
        (request("PUT", &format!("{base}/waiter/instances/x"), ""), 405, "Method not allowed"),
        (request("GET", &format!("{base}/waiter/elsewhere"), ""), 404, "No route for that URI"),
        (request("GET", "/client/v4/accounts/someone-else/workflows", ""), 404, ""),
    ];
    for (req, status, message) in cases {
        let (got, body) = raw(server.addr, &req);
        let shown = String::from_utf8_lossy(&req[..req.len().min(120)]).to_string();
        assert_eq!(got, status, "{shown}: {body}");
        assert_eq!(body["success"], false, "{shown}");
        assert!(body["result"].is_null() && body["messages"].is_array(), "{shown}: {body}");
        let error = &body["errors"][0];
        assert!(error["code"].is_i64(), "{shown}: {body}");
        if !message.is_empty() {
            assert_eq!(error["message"], message, "{shown}: {body}");
        }
    }
    // The server still answers after all that.
    client(&server).list_instances(&ListInstances::new("waiter")).await.unwrap();
}

/// `RestApi::over_journal`: a journal file served without an engine answers every read as the
/// engine's API does, refuses every action with 405 and `READ_ONLY`, and holds the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_file_is_served_read_only() {
    use lunora_runtime::server::rest_api::READ_ONLY;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("waiters.db");
    let engine = Engine::builder().path(&db).register::<Waiter>().open().await.unwrap();
    let waiter = engine.workflow::<Waiter>();
    for id in ["w-1", "w-2"] {
        waiter.create(CreateOptions::params(vec!["go".to_owned()]).with_id(id)).await.unwrap();
        engine.wait("waiter", id, WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    }
    waiter.get("w-2").await.unwrap().send_event("go", json!(7)).await.unwrap();
    engine.wait("waiter", "w-2", WaitFor::End, LIMIT).await.unwrap();
    engine.close().await;

    let api = RestApi::over_journal(&db).unwrap().token(Some(TOKEN.to_owned()));
    // One owner: no engine opens the journal while it is served.
    let refused = Engine::builder().path(&db).register::<Waiter>().open().await.err().expect("the journal is held");
    assert!(refused.message().contains("is in use by"), "{}", refused.message());
    let app = Router::new().nest("/client/v4", api.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { lunora_runtime::server::axum::serve(listener, app).await.unwrap() });
    let c = WorkflowsRestClient::new("local", TOKEN)
        .with_base_url(workflows_base_url(&format!("http://{addr}/client/v4"), "local"));

    let workflows = c.list_workflows(1, 100).await.unwrap();
    assert_eq!(workflows.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["waiter"]);
    let page = c.list_instances(&ListInstances::new("waiter")).await.unwrap();
    let listed: Vec<(&str, InstanceStatusKind)> = page.instances.iter().map(|i| (i.id.as_str(), i.status)).collect();
    assert_eq!(listed, [("w-1", InstanceStatusKind::Waiting), ("w-2", InstanceStatusKind::Complete)]);
    let waiting = c.get_instance("waiter", "w-1").await.unwrap();
    assert_eq!((waiting.steps[0].kind(), waiting.steps[0].name()), ("waitForEvent", Some("wait-0-1")));
    let done = c.get_instance("waiter", "w-2").await.unwrap();
    assert_eq!(done.output, Some(json!(["go=7"])));
    let missing = c.get_instance("waiter", "nope").await.unwrap_err();
    assert_eq!(missing.status(), Some(404), "{missing}");
    let unknown = c.list_instances(&ListInstances::new("other")).await.unwrap_err();
    assert_eq!(unknown.status(), Some(404), "{unknown}");

    let refusals = [
        c.set_instance_status("waiter", "w-1", Action::Pause).await.map(drop).unwrap_err(),
        c.set_instance_status("waiter", "w-1", Action::Restart { from: None }).await.map(drop).unwrap_err(),
        c.send_event("waiter", "w-1", "go", &json!(1)).await.map(drop).unwrap_err(),
        c.delete_instance("waiter", "w-2").await.unwrap_err(),
        c.create_instance("waiter", &CreateInstance { instance_id: None, params: None, instance_retention: None })
            .await
            .map(drop)
            .unwrap_err(),
    ];
    for refusal in refusals {
        assert_eq!(refusal.status(), Some(405), "{refusal}");
        assert!(refusal.errors().iter().any(|e| e.message == READ_ONLY), "{refusal}");
    }
    assert_eq!(c.get_instance("waiter", "w-1").await.unwrap().status, InstanceStatusKind::Waiting);
    task.abort();
}
