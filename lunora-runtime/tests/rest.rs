//! The Workflows REST client over real HTTP: a server on 127.0.0.1 answering with Cloudflare's
//! envelopes (`tests/rest_fixtures/`), recording every request so methods, paths, queries,
//! headers and bodies are asserted exactly.

#[path = "support/http_server.rs"]
mod http_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_server::{closed_port_url, fixture, Reply, TestServer};
use lunora_runtime::http::{HttpRequest, HttpResponse, HttpTransport, TransportError};
use lunora_runtime::rest::*;
use lunora_runtime::step::BoxFuture;
use lunora_runtime::{InstanceStatusKind, RestartFrom, StepKind};
use serde_json::json;

const ACCOUNT: &str = "acc-123";
const TOKEN: &str = "Zq9XwVb7Lm3KpT2sRy8N";
const PREFIX: &str = "/accounts/acc-123/workflows";

fn client(server: &TestServer) -> WorkflowsRestClient {
    WorkflowsRestClient::new(ACCOUNT, TOKEN).with_base_url(workflows_base_url(&server.url(), ACCOUNT))
}

/// No 4-character window of the token appears in `text`.
fn assert_no_token(text: &str) {
    let chars: Vec<char> = TOKEN.chars().collect();
    for window in chars.windows(4) {
        let piece: String = window.iter().collect();
        assert!(!text.contains(&piece), "token fragment {piece:?} leaked into {text:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// list_instances
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn lists_page_by_page_through_result_info() {
    let server = TestServer::start(|req| match req.query_param("page").as_deref() {
        None | Some("1") => Reply::fixture(200, "list_page1.json"),
        Some("2") => Reply::fixture(200, "list_page2.json"),
        Some("3") => Reply::fixture(200, "list_page3.json"),
        Some(_) => Reply::fixture(200, "list_empty.json"),
    });
    let client = client(&server);
    let mut query = ListInstances::new("order-pipeline").per_page(2);
    let mut pages = Vec::new();
    for _ in 0..10 {
        let page = client.list_instances(&query).await.unwrap();
        let next = page.next(&query);
        pages.push(page);
        match next {
            Some(q) => query = q,
            None => break,
        }
    }
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages.iter().map(|p| (p.page, p.per_page, p.total_count)).collect::<Vec<_>>(),
        vec![(1, 2, Some(5)), (2, 2, Some(5)), (3, 2, Some(5))]
    );
    let ids: Vec<&str> = pages.iter().flat_map(|p| &p.instances).map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["order-1001", "order-1002", "order-1003", "order-1004", "order-1005"]);

    let first = &pages[0].instances[0];
    assert_eq!(first.status, InstanceStatusKind::Complete);
    assert_eq!(first.created_on.as_deref(), Some("2025-06-01T12:00:00.000Z"));
    assert_eq!(first.started_on.as_deref(), Some("2025-06-01T12:00:00.120Z"));
    assert_eq!(first.ended_on.as_deref(), Some("2025-06-01T12:00:04.250Z"));
    assert_eq!(first.modified_on.as_deref(), Some("2025-06-01T12:00:04.250Z"));
    assert_eq!(first.version_id.as_deref(), Some("6f1c2d9e-0a4b-4c1e-9d55-3b8a7e0f1a21"));
    assert_eq!(first.workflow_id.as_deref(), Some("b7e3a1f0-5c2d-4e8f-a9b6-1d0c3e2f4a58"));
    assert_eq!(pages[0].instances[1].status, InstanceStatusKind::WaitingForPause);
    assert_eq!(pages[0].instances[1].ended_on, None);
    // REST's own `rollingBack` status has its variant; the original spelling is kept too.
    let rolling = &pages[1].instances[0];
    assert_eq!((rolling.status, rolling.status_text.as_str()), (InstanceStatusKind::RollingBack, "rollingBack"));
    assert_eq!(pages[2].cursor, None);

    let requests = server.shutdown();
    let targets: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.target.as_str())).collect();
    assert_eq!(
        targets,
        [
            ("GET", "/accounts/acc-123/workflows/order-pipeline/instances?per_page=2"),
            ("GET", "/accounts/acc-123/workflows/order-pipeline/instances?page=2&per_page=2"),
            ("GET", "/accounts/acc-123/workflows/order-pipeline/instances?page=3&per_page=2"),
        ]
    );
    for r in &requests {
        assert!(r.body.is_empty(), "a GET carries no body: {r:?}");
        assert_eq!(r.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(r.header("accept"), Some("application/json"));
        assert_eq!(r.header("content-type"), None);
    }
}

#[tokio::test]
async fn lists_by_cursor_until_the_cursor_runs_out() {
    const CURSOR: &str = "eyJpZCI6MiwiYXQiOiIyMDI1In0=/+x";
    let server = TestServer::start(|req| match req.query_param("cursor").as_deref() {
        None => Reply::fixture(200, "list_cursor_first.json"),
        Some(CURSOR) => Reply::fixture(200, "list_cursor_last.json"),
        Some(other) => Reply::json(
            400,
            format!(
                r#"{{"success":false,"errors":[{{"code":1,"message":"bad cursor {other}"}}],"messages":[],"result":null}}"#
            ),
        ),
    });
    let client = client(&server);
    let query = ListInstances::new("order-pipeline")
        .status(InstanceStatusKind::Running)
        .per_page(2)
        .direction(Direction::Desc)
        .date_range(Some("2025-06-01T00:00:00Z".into()), Some("2025-06-30T23:59:59Z".into()));
    let first = client.list_instances(&query).await.unwrap();
    assert_eq!(first.cursor.as_deref(), Some(CURSOR));
    assert_eq!((first.page, first.per_page, first.total_count), (1, 2, None));
    assert_eq!(first.instances.len(), 2);
    assert_eq!(first.instances[1].status, InstanceStatusKind::Paused);

    let second_query = first.next(&query).expect("a cursor means more");
    assert_eq!(second_query.cursor.as_deref(), Some(CURSOR));
    let second = client.list_instances(&second_query).await.unwrap();
    assert_eq!(second.instances.len(), 1);
    assert_eq!(second.instances[0].status, InstanceStatusKind::Terminated);
    assert_eq!(second.cursor, None, "an empty cursor is no cursor");
    assert_eq!(second.next(&second_query), None);

    let requests = server.shutdown();
    assert_eq!(
        requests[0].target,
        "/accounts/acc-123/workflows/order-pipeline/instances?status=running&per_page=2&direction=desc\
         &date_start=2025-06-01T00%3A00%3A00Z&date_end=2025-06-30T23%3A59%3A59Z"
    );
    assert_eq!(
        requests[1].target,
        "/accounts/acc-123/workflows/order-pipeline/instances?status=running&per_page=2\
         &cursor=eyJpZCI6MiwiYXQiOiIyMDI1In0%3D%2F%2Bx&direction=desc\
         &date_start=2025-06-01T00%3A00%3A00Z&date_end=2025-06-30T23%3A59%3A59Z"
    );
    assert_eq!(requests.len(), 2);
}

#[tokio::test]
async fn without_result_info_the_page_falls_back_to_the_request() {
    let server = TestServer::routes(vec![(
        "GET",
        "/accounts/acc-123/workflows/order-pipeline/instances",
        Reply::fixture(200, "list_no_result_info.json"),
    )]);
    let client = client(&server);

    let query = ListInstances::new("order-pipeline").page(4).per_page(10);
    let page = client.list_instances(&query).await.unwrap();
    assert_eq!((page.page, page.per_page, page.total_count, page.cursor.clone()), (4, 10, None, None));
    assert_eq!(page.instances[0].id, "bestellung-ä-1");
    assert_eq!(page.instances[0].status, InstanceStatusKind::Unknown);
    assert_eq!(page.instances[0].status_text, "somethingNew");
    assert_eq!(page.next(&query), None, "a short page without a total is the last");

    // Nothing in the request either: page 1, as many per page as came back.
    let bare = client.list_instances(&ListInstances::new("order-pipeline")).await.unwrap();
    assert_eq!((bare.page, bare.per_page, bare.total_count), (1, 1, None));

    let requests = server.shutdown();
    assert_eq!(requests[0].query(), "page=4&per_page=10");
    assert_eq!(requests[1].query(), "");
    assert_eq!(requests[1].target, "/accounts/acc-123/workflows/order-pipeline/instances");
}

#[tokio::test]
async fn an_empty_listing_has_no_next_page() {
    let server = TestServer::start(|_| Reply::fixture(200, "list_empty.json"));
    let query = ListInstances::new("order-pipeline").status(InstanceStatusKind::WaitingForPause);
    let page = client(&server).list_instances(&query).await.unwrap();
    assert!(page.instances.is_empty());
    assert_eq!((page.page, page.per_page, page.total_count), (1, 50, Some(0)));
    assert_eq!(page.next(&query), None);
    assert_eq!(server.single_request().query(), "status=waitingForPause");
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn names_ids_and_event_types_are_percent_encoded_in_paths() {
    let server = TestServer::start(|req| match req.method.as_str() {
        "GET" if req.path().ends_with("/instances") => Reply::fixture(200, "list_page3.json"),
        "GET" => Reply::fixture(200, "get_instance_terminated.json"),
        "PATCH" => Reply::fixture(200, "status_pause.json"),
        "POST" if req.path().contains("/events/") => Reply::fixture(200, "send_event.json"),
        _ => Reply::fixture(200, "create_instance.json"),
    });
    let workflow = "order pipeline ü";
    let id = "inst/1 ä?#&=+%";
    let client = WorkflowsRestClient::new("acc 9/ß", TOKEN).with_base_url(workflows_base_url(&server.url(), "acc 9/ß"));

    client.list_instances(&ListInstances::new(workflow)).await.unwrap();
    let detail = client.get_instance(workflow, id).await.unwrap();
    assert_eq!(detail.id, id);
    client.set_instance_status(workflow, id, Action::Pause).await.unwrap();
    client.send_event(workflow, id, "payment received ✓", &json!({"ok": true})).await.unwrap();
    client.create_instance(workflow, &CreateInstance::default()).await.unwrap();

    let base = "/accounts/acc%209%2F%C3%9F/workflows/order%20pipeline%20%C3%BC/instances";
    let instance = "inst%2F1%20%C3%A4%3F%23%26%3D%2B%25";
    let seen: Vec<(String, String)> = server.shutdown().into_iter().map(|r| (r.method, r.target)).collect();
    let expected: Vec<(String, String)> = [
        ("GET", base.to_owned()),
        ("GET", format!("{base}/{instance}")),
        ("PATCH", format!("{base}/{instance}/status")),
        ("POST", format!("{base}/{instance}/events/payment%20received%20%E2%9C%93")),
        ("POST", base.to_owned()),
    ]
    .into_iter()
    .map(|(m, t)| (m.to_owned(), t))
    .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn query_values_are_encoded_too() {
    let server = TestServer::start(|_| Reply::fixture(200, "list_empty.json"));
    let query = ListInstances::new("wf")
        .page(2)
        .per_page(25)
        .cursor("a b&c=d/é")
        .direction(Direction::Asc)
        .status(InstanceStatusKind::Errored)
        .date_range(Some("2025-06-01 00:00".into()), None);
    client(&server).list_instances(&query).await.unwrap();
    let request = server.single_request();
    assert_eq!(
        request.query(),
        "status=errored&page=2&per_page=25&cursor=a%20b%26c%3Dd%2F%C3%A9&direction=asc&date_start=2025-06-01%2000%3A00"
    );
    assert_eq!(request.query_param("cursor").as_deref(), Some("a b&c=d/é"));
}

// ---------------------------------------------------------------------------------------------
// get_instance
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn get_instance_types_the_whole_timeline() {
    let server = TestServer::routes(vec![(
        "GET",
        "/accounts/acc-123/workflows/order-pipeline/instances/order-1004",
        Reply::fixture(200, "get_instance_errored.json"),
    )]);
    let detail = client(&server).get_instance("order-pipeline", "order-1004").await.unwrap();
    assert_eq!(detail.id, "order-1004");
    assert_eq!((detail.status, detail.status_text.as_str()), (InstanceStatusKind::Errored, "errored"));
    assert_eq!(detail.params, Some(json!({"orderId": "o-1001", "amount": 4200})));
    assert_eq!(detail.output, None);
    assert_eq!(
        detail.error,
        Some(ErrorInfo { name: Some("NonRetryableError".into()), message: "card declined".into() })
    );
    assert_eq!(detail.error.as_ref().unwrap().to_string(), "NonRetryableError: card declined");
    assert_eq!(detail.rollback, None);
    assert_eq!(detail.trigger, Some(Trigger { source: "api".into() }));
    assert_eq!(detail.version_id.as_deref(), Some("6f1c2d9e-0a4b-4c1e-9d55-3b8a7e0f1a21"));
    assert_eq!(detail.queued.as_deref(), Some("2025-06-01T12:00:00.000Z"));
    assert_eq!(detail.start.as_deref(), Some("2025-06-01T12:00:00.120Z"));
    assert_eq!(detail.end.as_deref(), Some("2025-06-01T12:05:03.900Z"));
    assert_eq!(detail.success, Some(false));
    assert_eq!(detail.step_count, Some(6));
    assert_eq!(detail.steps.len(), 6);

    let kinds: Vec<&str> = detail.steps.iter().map(TimelineStep::kind).collect();
    assert_eq!(kinds, ["step", "sleep", "waitForEvent", "step", "rollback", "checkpoint"]);

    let TimelineStep::Step(load) = &detail.steps[0] else { panic!("{:?}", detail.steps[0]) };
    assert_eq!(load.name, "load-order");
    assert_eq!(load.success, Some(true));
    assert_eq!(load.output, Some(json!({"id": "o-1001", "total": 4200})));
    assert_eq!(
        load.config,
        Some(json!({"retries": {"limit": 5, "delay": 10000, "backoff": "exponential"}, "timeout": "10 minutes"}))
    );
    assert_eq!(
        load.attempts,
        vec![Attempt {
            start: Some("2025-06-01T12:00:00.150Z".into()),
            end: Some("2025-06-01T12:00:00.480Z".into()),
            success: Some(true),
            error: None,
        }]
    );
    assert_eq!(detail.steps[0].duration(), Some(Duration::from_millis(330)));

    let TimelineStep::Sleep(sleep) = &detail.steps[1] else { panic!() };
    assert_eq!((sleep.name.as_str(), sleep.finished, sleep.error.clone()), ("cool-off", Some(true), None));
    assert_eq!(detail.steps[1].duration(), Some(Duration::from_secs(60)));

    let TimelineStep::WaitForEvent(wait) = &detail.steps[2] else { panic!() };
    assert_eq!(wait.name, "await-approval");
    assert_eq!(wait.output.as_ref().unwrap()["payload"], json!({"approved": true}));

    let TimelineStep::Step(charge) = &detail.steps[3] else { panic!() };
    assert_eq!(charge.success, Some(false));
    assert_eq!(charge.attempts.len(), 2);
    assert_eq!(
        charge.attempts[0].error,
        Some(ErrorInfo { name: Some("Error".into()), message: "payment gateway answered 503".into() })
    );
    assert_eq!(charge.attempts[1].error.as_ref().unwrap().name.as_deref(), Some("NonRetryableError"));
    assert_eq!(detail.steps[3].attempts().len(), 2);

    let TimelineStep::Rollback(rollback) = &detail.steps[4] else { panic!() };
    assert_eq!((rollback.name.as_str(), rollback.success), ("load-order", Some(true)));

    let TimelineStep::Unknown(entry) = &detail.steps[5] else { panic!() };
    assert_eq!(entry["detail"], json!({"anything": [1, 2, 3]}));
    assert_eq!(detail.steps[5].name(), Some("future-entry-kind"));

    // Serialising gives the API's own shape back, `type` included.
    let round: Vec<serde_json::Value> = detail.steps.iter().map(|s| serde_json::to_value(s).unwrap()).collect();
    let original = http_server::fixture_json("get_instance_errored.json")["result"]["steps"].clone();
    assert_eq!(serde_json::Value::Array(round), original);

    let request = server.single_request();
    assert_eq!(request.method, "GET");
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn get_instance_of_a_terminated_run_keeps_unfinished_and_odd_entries() {
    let server = TestServer::start(|_| Reply::fixture(200, "get_instance_terminated.json"));
    let detail = client(&server).get_instance("order-pipeline", "order-2002").await.unwrap();
    assert_eq!(detail.status, InstanceStatusKind::Terminated);
    assert_eq!((detail.success, detail.error.clone(), detail.output.clone()), (None, None, None));
    assert_eq!(detail.trigger.as_ref().map(|t| t.source.as_str()), Some("binding"));

    let TimelineStep::Step(reserve) = &detail.steps[0] else { panic!() };
    assert_eq!(reserve.name, "reserve stock — café ☕");
    assert_eq!(reserve.output, Some(json!("reserved")));
    let TimelineStep::Sleep(sleep) = &detail.steps[1] else { panic!() };
    assert_eq!(sleep.finished, Some(false));
    // A `step` without a name is not a step record: kept whole, not dropped, not fatal.
    let TimelineStep::Unknown(nameless) = &detail.steps[2] else { panic!("{:?}", detail.steps[2]) };
    assert_eq!(nameless["type"], "step");
    assert_eq!(detail.steps[2].kind(), "step");
    assert_eq!(detail.steps[2].duration(), None);
    let TimelineStep::Termination(end) = &detail.steps[3] else { panic!() };
    assert_eq!(end.trigger, Some(Trigger { source: "api".into() }));
    assert_eq!(detail.steps[3].name(), None);
}

// ---------------------------------------------------------------------------------------------
// set_instance_status, create_instance, send_event
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn status_changes_send_exact_patch_bodies() {
    let server = TestServer::start(|req| {
        let fixture = match req.body_json()["status"].as_str() {
            Some("pause") => "status_pause.json",
            Some("resume") => "status_resume.json",
            Some("terminate") => "status_terminate.json",
            _ => "status_restart.json",
        };
        Reply::fixture(200, fixture)
    });
    let client = client(&server);
    let actions = [
        Action::Pause,
        Action::Resume,
        Action::Terminate { rollback: false },
        Action::Terminate { rollback: true },
        Action::Restart { from: None },
        Action::Restart { from: Some(RestartFrom::step("await-approval").count(2).kind(StepKind::WaitForEvent)) },
    ];
    let mut changes = Vec::new();
    for action in actions {
        changes.push(client.set_instance_status("order-pipeline", "order-1002", action).await.unwrap());
    }
    assert_eq!(
        changes[0],
        StatusChange {
            status: InstanceStatusKind::WaitingForPause,
            status_text: "waitingForPause".into(),
            timestamp: Some("2025-06-01T12:10:00.000Z".into()),
        }
    );
    assert_eq!(changes[1].status, InstanceStatusKind::Queued);
    assert_eq!((changes[2].status, changes[2].status_text.as_str()), (InstanceStatusKind::RollingBack, "rollingBack"));
    assert_eq!(changes[5].timestamp.as_deref(), Some("2025-06-01T12:40:00.000Z"));

    let requests = server.shutdown();
    for r in &requests {
        assert_eq!(r.method, "PATCH");
        assert_eq!(r.target, "/accounts/acc-123/workflows/order-pipeline/instances/order-1002/status");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let bodies: Vec<String> = requests.iter().map(|r| r.body_text()).collect();
    assert_eq!(
        bodies,
        [
            r#"{"status":"pause"}"#,
            r#"{"status":"resume"}"#,
            r#"{"status":"terminate"}"#,
            r#"{"rollback":true,"status":"terminate"}"#,
            r#"{"status":"restart"}"#,
            r#"{"from":{"count":2,"name":"await-approval","type":"waitForEvent"},"status":"restart"}"#,
        ]
    );
}

#[tokio::test]
async fn create_instance_posts_the_options_it_was_given() {
    let server = TestServer::routes(vec![(
        "POST",
        "/accounts/acc-123/workflows/order-pipeline/instances",
        Reply::fixture(200, "create_instance.json"),
    )]);
    let client = client(&server);
    let full = CreateInstance {
        instance_id: Some("order-2001".into()),
        params: Some(json!({"orderId": "o-2001", "items": [1, 2]})),
        instance_retention: Some(InstanceRetention {
            success_retention: Some(RetentionDuration::Text("30 days".into())),
            error_retention: Some(RetentionDuration::Millis(86_400_000)),
        }),
    };
    let created = client.create_instance("order-pipeline", &full).await.unwrap();
    assert_eq!(
        created,
        CreatedInstance {
            id: "order-2001".into(),
            status: InstanceStatusKind::Queued,
            status_text: "queued".into(),
            version_id: Some("6f1c2d9e-0a4b-4c1e-9d55-3b8a7e0f1a21".into()),
            workflow_id: Some("b7e3a1f0-5c2d-4e8f-a9b6-1d0c3e2f4a58".into()),
        }
    );
    client.create_instance("order-pipeline", &CreateInstance::default()).await.unwrap();

    let requests = server.shutdown();
    assert!(requests.iter().all(|r| r.method == "POST"));
    assert_eq!(
        requests[0].body_json(),
        json!({
            "instance_id": "order-2001",
            "params": {"orderId": "o-2001", "items": [1, 2]},
            "instance_retention": {"success_retention": "30 days", "error_retention": 86_400_000},
        })
    );
    assert_eq!(requests[1].body_text(), "{}");
}

#[tokio::test]
async fn send_event_posts_the_payload_as_the_body() {
    let server = TestServer::routes(vec![(
        "POST",
        "/accounts/acc-123/workflows/order-pipeline/instances/order-1002/events/approval",
        Reply::fixture(200, "send_event.json"),
    )]);
    let client = client(&server);
    let result = client
        .send_event("order-pipeline", "order-1002", "approval", &json!({"approved": true, "by": "Zoë"}))
        .await
        .unwrap();
    assert_eq!(result, serde_json::Value::Null);
    #[derive(serde::Serialize)]
    struct Shipment<'a> {
        tracking_id: &'a str,
    }
    client.send_event("order-pipeline", "order-1002", "approval", &Shipment { tracking_id: "TRK-1" }).await.unwrap();
    client.send_event("order-pipeline", "order-1002", "approval", "plain text").await.unwrap();

    let requests = server.shutdown();
    let bodies: Vec<String> = requests.iter().map(|r| r.body_text()).collect();
    assert_eq!(bodies, [r#"{"approved":true,"by":"Zoë"}"#, r#"{"tracking_id":"TRK-1"}"#, r#""plain text""#]);
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].header("content-length"), Some("29"));
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn non_2xx_with_cloudflare_errors() {
    let server = TestServer::start(|_| Reply::fixture(404, "error_not_found.json"));
    let err = client(&server).get_instance("order-pipeline", "nope").await.unwrap_err();
    assert_eq!(err.kind(), RestErrorKind::Http);
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.errors(), [ApiError { code: 10001, message: "instance.not_found".into() }]);
    let body = fixture("error_not_found.json");
    assert_eq!(err.body(), Some(body.as_str()));
    let url = format!("{}{PREFIX}/order-pipeline/instances/nope", server.url());
    assert_eq!(err.to_string(), format!("Workflows API GET {url}: HTTP 404: {body}"));
    // The whole body is the std::error::Error source.
    let source = std::error::Error::source(&err).expect("a source");
    assert_eq!(source.to_string(), body);
    assert!(matches!(err.cause(), Some(RestCause::Body(_))));
}

#[tokio::test]
async fn a_rejected_token_is_an_http_error_with_cloudflares_code() {
    let server = TestServer::start(|_| Reply::fixture(403, "error_auth.json"));
    let err = client(&server).list_instances(&ListInstances::new("order-pipeline")).await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Http, Some(403)));
    assert_eq!(err.errors(), [ApiError { code: 10000, message: "Authentication error".into() }]);
    assert!(!err.is_timeout());
    let url = format!("{}{PREFIX}/order-pipeline/instances", server.url());
    assert_eq!(err.to_string(), format!("Workflows API GET {url}: HTTP 403: {}", fixture("error_auth.json")));
}

#[tokio::test]
async fn non_2xx_without_json_cuts_the_body_to_256_characters() {
    let html = format!("<html><body>{}</body></html>", "502 Bad Gateway — é ".repeat(60));
    assert!(html.chars().count() > 1000);
    let body = html.clone();
    let server = TestServer::start(move |_| Reply::text(502, "text/html", body.clone()));
    let err = client(&server).list_instances(&ListInstances::new("order-pipeline")).await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Http, Some(502)));
    assert!(err.errors().is_empty());
    assert_eq!(err.body(), Some(html.as_str()), "the cause keeps the whole body");
    let quoted = err.message().split_once(": HTTP 502: ").expect("status in the message").1;
    let expected: String = html.chars().take(256).collect();
    assert_eq!(quoted, format!("{expected}…"));
}

#[tokio::test]
async fn a_2xx_non_json_body_is_an_error() {
    let server = TestServer::start(|_| Reply::text(200, "text/plain", "upstream says hi"));
    let err = client(&server).get_instance("order-pipeline", "x").await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::NotJson, Some(200)));
    assert!(err.message().ends_with("HTTP 200 with a non-JSON body: upstream says hi"), "{}", err.message());
    assert_eq!(err.body(), Some("upstream says hi"));
}

#[tokio::test]
async fn success_false_in_a_2xx_envelope_is_an_error() {
    let server = TestServer::start(|_| Reply::fixture(200, "error_cannot_terminate.json"));
    let err = client(&server)
        .set_instance_status("order-pipeline", "order-1001", Action::Terminate { rollback: false })
        .await
        .unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Unsuccessful, Some(200)));
    assert_eq!(
        err.errors(),
        [
            ApiError { code: 10500, message: "instance.cannot_terminate".into() },
            ApiError { code: 10501, message: "Instance is already in a terminal state (complete)".into() },
        ]
    );
    assert!(err.message().contains("success: false"), "{}", err.message());
}

#[tokio::test]
async fn json_that_is_not_an_envelope_or_has_the_wrong_result_is_an_error() {
    let server = TestServer::start(|req| {
        if req.path().ends_with("/instances") {
            Reply::fixture(200, "unexpected_result.json")
        } else {
            Reply::fixture(200, "not_an_envelope.json")
        }
    });
    let client = client(&server);
    let err = client.get_instance("order-pipeline", "order-1001").await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Malformed, Some(200)));
    let err = client.list_instances(&ListInstances::new("order-pipeline")).await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Decode, Some(200)));
    assert!(err.message().contains("unexpected `result`"), "{}", err.message());
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_without_status() {
    let base = workflows_base_url(&closed_port_url(), ACCOUNT);
    let client = WorkflowsRestClient::new(ACCOUNT, TOKEN).with_base_url(base);
    let err = client.get_instance("order-pipeline", "order-1001").await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Transport, None));
    assert!(err.body().is_none());
    assert!(matches!(err.cause(), Some(RestCause::Transport(t)) if !t.timed_out));
    assert!(err.message().contains("request failed"), "{}", err.message());
    assert_no_token(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = TestServer::start(|_| Reply::fixture(200, "send_event.json").delayed(Duration::from_secs(20)));
    let client = client(&server).with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = client.send_event("order-pipeline", "order-1001", "approval", &json!({})).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!((err.kind(), err.status()), (RestErrorKind::Timeout, None));
    let url = format!("{}{PREFIX}/order-pipeline/instances/order-1001/events/approval", server.url());
    assert_eq!(err.message(), format!("Workflows API POST {url}: timed out after 300 ms"));
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(2), "shutdown does not wait out the delay");
}

// ---------------------------------------------------------------------------------------------
// The token
// ---------------------------------------------------------------------------------------------

#[test]
fn the_clients_debug_output_hides_the_token() {
    let client = WorkflowsRestClient::new(ACCOUNT, TOKEN);
    let debug = format!("{client:?} {client:#?}");
    assert_no_token(&debug);
    assert!(debug.contains("[REDACTED]"));
    assert!(debug.contains("https://api.cloudflare.com/client/v4/accounts/acc-123/workflows"), "{debug}");
}

#[tokio::test]
async fn a_server_echoing_the_token_cannot_leak_it_into_errors() {
    // The token in the CF error message, in a header-like echo, JSON-escaped and encoded.
    let server = TestServer::start(|req| {
        let auth = req.header("authorization").unwrap_or_default().to_owned();
        let body = json!({
            "success": false,
            "errors": [{"code": 10000, "message": format!("Authentication error: token {TOKEN} is not valid")}],
            "messages": [format!("you sent {auth}")],
            "result": null,
        });
        Reply::json(403, body.to_string())
    });
    let err = client(&server).list_instances(&ListInstances::new("order-pipeline")).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.errors()[0].message, "Authentication error: token [REDACTED] is not valid");
    for text in [err.to_string(), format!("{err:?}"), format!("{err:#?}"), err.body().unwrap().to_owned()] {
        assert_no_token(&text);
        assert!(text.contains("[REDACTED]"), "{text}");
    }
    assert_no_token(&std::error::Error::source(&err).unwrap().to_string());
}

#[tokio::test]
async fn the_token_is_redacted_before_the_body_is_cut() {
    // The token straddles the 256th character: cutting first would leak its first half.
    let body = format!("{}{TOKEN}{}", "x".repeat(250), "y".repeat(100));
    let reply_body = body.clone();
    let server = TestServer::start(move |_| Reply::text(500, "text/plain", reply_body.clone()));
    let err = client(&server).get_instance("order-pipeline", "order-1001").await.unwrap_err();
    assert_no_token(err.message());
    assert_no_token(err.body().unwrap());
    assert_eq!(err.body().unwrap(), format!("{}[REDACTED]{}", "x".repeat(250), "y".repeat(100)));
}

/// A transport that fails, quoting the token (as a careless fetch binding might).
struct LeakyTransport;

impl HttpTransport for LeakyTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let auth = request.headers.iter().find(|(n, _)| n == "authorization").map(|(_, v)| v.clone());
        Box::pin(async move {
            Err(TransportError {
                message: format!("could not send with header {}", auth.unwrap_or_default()),
                timed_out: false,
            })
        })
    }
}

#[tokio::test]
async fn transport_errors_are_redacted_too_and_other_transports_plug_in() {
    let client = WorkflowsRestClient::new(ACCOUNT, TOKEN).with_transport(Arc::new(LeakyTransport));
    let err = client.get_instance("wf", "id").await.unwrap_err();
    assert_eq!(err.kind(), RestErrorKind::Transport);
    let Some(RestCause::Transport(cause)) = err.cause() else { panic!("{err:?}") };
    assert_eq!(cause.message, "could not send with header Bearer [REDACTED]");
    assert_no_token(&format!("{err} {err:?}"));
}

/// A token with characters JSON escapes can spell differently (`/` as `\/`).
const SLASHED_TOKEN: &str = "Zq9X/wVb7+Lm3KpT2sRy8N";
/// `SLASHED_TOKEN` with a few characters `\u`-escaped (both hex cases) and `\/` for `/`.
const SLASHED_TOKEN_ESCAPED: &str = r"\u005Aq9X\/wVb7\u002bLm3K\u0070T2sRy8N";

fn slashed_client(server: &TestServer) -> WorkflowsRestClient {
    WorkflowsRestClient::new(ACCOUNT, SLASHED_TOKEN).with_base_url(workflows_base_url(&server.url(), ACCOUNT))
}

#[tokio::test]
async fn a_token_echoed_json_escaped_percent_encoded_or_in_base64_is_redacted_everywhere() {
    // `base64("Bearer " + SLASHED_TOKEN)`, as a header dump would show it.
    let bearer_base64 = "QmVhcmVyIFpxOVgvd1ZiNytMbTNLcFQyc1J5OE4=";
    let server = TestServer::start(move |_| {
        let body = format!(
            r#"{{"success": false, "errors": [{{"code": 10000, "message": "token {SLASHED_TOKEN_ESCAPED} is not valid"}}],
                "messages": ["sent: Zq9X%2fwVb7%2BLm3KpT2sRy8N", "auth: {bearer_base64}"], "result": null}}"#
        );
        Reply::json(401, body)
    });
    let err = slashed_client(&server).list_instances(&ListInstances::new("order-pipeline")).await.unwrap_err();
    assert_eq!(err.errors()[0].message, "token [REDACTED] is not valid");
    let body = err.body().unwrap();
    assert!(
        body.contains(r#""messages": ["sent: [REDACTED]", "auth: [REDACTED]"]"#)
            && body.contains("token [REDACTED] is"),
        "{body}"
    );
    for text in [err.to_string(), format!("{err:?}"), body.to_owned()] {
        for spelling in [SLASHED_TOKEN, SLASHED_TOKEN_ESCAPED, "Zq9X%2fwVb7", bearer_base64, "wVb7"] {
            assert!(!text.contains(spelling), "{spelling} in {text}");
        }
    }
}

#[tokio::test]
async fn a_token_inside_a_successful_result_is_redacted_too() {
    let server = TestServer::start(|_| {
        Reply::json(
            200,
            format!(
                r#"{{"success": true, "errors": [], "messages": [], "result": {{"status": "complete",
                    "output": {{"echo": "Bearer {SLASHED_TOKEN_ESCAPED}"}}, "steps": []}}}}"#
            ),
        )
    });
    let detail = slashed_client(&server).get_instance("order-pipeline", "order-1").await.unwrap();
    assert_eq!(detail.output, Some(json!({"echo": "Bearer [REDACTED]"})));
}

#[tokio::test]
async fn credentials_in_the_base_url_are_refused_and_never_shown() {
    let server = TestServer::start(|_| Reply::text(500, "text/plain", "nope"));
    let base = workflows_base_url(&server.url().replace("http://", "http://ops:hunter2-base-pw@"), ACCOUNT);
    let client = WorkflowsRestClient::new(ACCOUNT, TOKEN).with_base_url(base);
    let err = client.get_instance("order-pipeline", "order-1").await.unwrap_err();
    let shown = server.url().replace("http://", "http://[REDACTED]@");
    assert_eq!(err.kind(), RestErrorKind::Config);
    assert_eq!(
        err.message(),
        format!(
            "Workflows API GET {shown}/accounts/acc-123/workflows/order-pipeline/instances/order-1: the base URL \
             carries credentials (user:password@), which would not be used: the API token authenticates; remove them"
        )
    );
    for text in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains("hunter2-base-pw") && !text.contains("ops:"), "{text}");
    }
    assert!(format!("{client:?}").contains(&shown), "{client:?}");
    assert!(server.shutdown().is_empty(), "nothing is sent");
}

#[tokio::test]
async fn a_token_too_short_to_redact_is_refused_before_anything_is_sent() {
    let server = TestServer::start(|_| Reply::fixture(200, "list_empty.json"));
    let client = WorkflowsRestClient::new(ACCOUNT, "abc").with_base_url(workflows_base_url(&server.url(), ACCOUNT));
    let err = client.list_instances(&ListInstances::new("order-pipeline")).await.unwrap_err();
    assert_eq!(err.kind(), RestErrorKind::Config);
    assert!(
        err.message().ends_with(
            "/accounts/acc-123/workflows/order-pipeline/instances: the API token is 3 characters long; at least 8 \
             are needed so that it can be told apart from other text and redacted wherever a server echoes it"
        ),
        "{err}"
    );
    assert!(server.shutdown().is_empty(), "nothing is sent");
}

#[tokio::test]
async fn lists_the_accounts_workflows() {
    let body = json!({"success": true, "errors": [], "messages": [], "result": [
        {"id": "wf-1", "name": "order-pipeline", "class_name": "OrderPipeline", "script_name": "shop",
         "created_on": "2025-06-01T12:00:00Z", "modified_on": "2025-06-02T12:00:00Z", "instances": {}},
        {"name": "bare"},
    ]});
    let server = TestServer::start(move |_| Reply::json(200, body.to_string()));
    let workflows = client(&server).list_workflows(2, 50).await.unwrap();
    assert_eq!(workflows.len(), 2);
    assert_eq!(workflows[0].name, "order-pipeline");
    assert_eq!(workflows[0].class_name.as_deref(), Some("OrderPipeline"));
    assert_eq!(
        workflows[1],
        WorkflowSummary {
            name: "bare".into(),
            id: None,
            class_name: None,
            script_name: None,
            created_on: None,
            modified_on: None
        }
    );
    let request = server.single_request();
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("GET", "/accounts/acc-123/workflows?page=2&per_page=50")
    );

    // A workflow without a name is not one: a decode error, not an empty row.
    let server = TestServer::start(|_| Reply::json(200, r#"{"success":true,"errors":[],"result":[{"id":"x"}]}"#));
    let error = client(&server).list_workflows(1, 10).await.unwrap_err();
    assert_eq!(error.kind(), RestErrorKind::Decode, "{error}");
}
