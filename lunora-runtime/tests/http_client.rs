//! `http::Client` (`ctx.http()`) over real HTTP: a server on 127.0.0.1 records every request;
//! statuses become retryable or final errors that name method, URL and status; credentials
//! never show; inside steps on the embedded engine, a 503 is retried and a 404 is not.

#[path = "support/http_server.rs"]
mod http_server;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_server::{closed_port_url, Reply, TestServer};
use lunora_runtime::http::{Client, HTTP_ERROR};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const TOKEN: &str = "Zq9XwVb7Lm3KpT2sRy8N";

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Item {
    id: u64,
    name: String,
}

#[tokio::test]
async fn get_json_decodes_a_2xx_and_sends_accept_and_default_headers() {
    let server = TestServer::start(|_| Reply::json(200, r#"{"id": 7, "name": "seven"}"#));
    let client = Client::new().header("x-trace", "t-1").bearer(TOKEN);
    let item: Item = client.get_json(&format!("{}/items/7?full=1", server.url())).await.unwrap();
    assert_eq!(item, Item { id: 7, name: "seven".into() });
    let request = server.single_request();
    assert_eq!((request.method.as_str(), request.target.as_str()), ("GET", "/items/7?full=1"));
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(request.header("x-trace"), Some("t-1"));
    assert_eq!(request.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn post_json_sends_the_body_as_json_and_an_empty_answer_reads_as_unit() {
    let server = TestServer::start(|r| match r.path() {
        "/echo" => Reply::json(201, format!(r#"{{"got": {}}}"#, r.body_text())),
        _ => Reply::empty(204),
    });
    let answer: Value =
        Client::new().post_json(&format!("{}/echo", server.url()), &json!({"a": "grüße"})).await.unwrap();
    assert_eq!(answer, json!({"got": {"a": "grüße"}}));
    let () = Client::new().post_json(&format!("{}/nothing", server.url()), &json!(null)).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].body_json(), json!({"a": "grüße"}));
}

#[tokio::test]
async fn a_4xx_is_final_and_names_method_url_status_and_body() {
    let server = TestServer::start(|_| Reply::json(404, r#"{"error": "no item 9"}"#));
    let url = format!("{}/items/9", server.url());
    let err = Client::new().get_json::<Item>(&url).await.unwrap_err();
    assert_eq!(err.name(), "NonRetryableError");
    assert!(err.is_non_retryable());
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.message(), format!(r#"GET {url} returned HTTP 404: {{"error": "no item 9"}}"#));
}

#[tokio::test]
async fn a_5xx_408_and_429_are_retryable() {
    for status in [500, 503, 408, 429] {
        let server = TestServer::start(move |_| Reply::text(status, "text/plain", "busy"));
        let url = format!("{}/x", server.url());
        let err = Client::new().post_json::<_, Value>(&url, &json!({})).await.unwrap_err();
        assert_eq!((err.name(), err.status()), (HTTP_ERROR, Some(status)), "{err}");
        assert!(!err.is_non_retryable());
        assert_eq!(err.message(), format!("POST {url} returned HTTP {status}: busy"));
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_final() {
    let server = TestServer::start(|r| match r.path() {
        "/old" => Reply::empty(302).with_header("location", "/new"),
        _ => Reply::json(200, "{}"),
    });
    let err = Client::new().get_json::<Value>(&format!("{}/old", server.url())).await.unwrap_err();
    assert!(err.is_non_retryable() && err.message().contains("HTTP 302 (redirects are not followed)"), "{err}");
    assert_eq!(server.requests().len(), 1, "the redirect was followed");
}

#[tokio::test]
async fn a_2xx_that_is_not_the_expected_json_is_final() {
    let server = TestServer::start(|_| Reply::json(200, r#"{"id": "seven"}"#));
    let url = format!("{}/items/7", server.url());
    let err = Client::new().get_json::<Item>(&url).await.unwrap_err();
    assert_eq!((err.name(), err.status()), ("NonRetryableError", Some(200)));
    assert!(err.message().starts_with(&format!("GET {url} returned HTTP 200, but its body is not the JSON")), "{err}");
}

#[tokio::test]
async fn no_answer_is_retryable_and_names_method_and_url() {
    let url = format!("{}/items", closed_port_url());
    let err = Client::new().get_json::<Value>(&url).await.unwrap_err();
    assert_eq!((err.name(), err.status()), (HTTP_ERROR, None));
    assert!(err.message().starts_with(&format!("GET request to {url} failed: ")), "{err}");
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let server = TestServer::start(|_| Reply::json(200, "{}").delayed(Duration::from_secs(3)));
    let started = Instant::now();
    let client = Client::new().timeout(Duration::from_millis(300));
    let err = client.get_json::<Value>(&format!("{}/slow", server.url())).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(err.name(), HTTP_ERROR);
    assert!(err.message().contains("timed out after 300 ms"), "{err}");
}

#[tokio::test]
async fn credentials_echoed_by_the_server_or_in_the_url_never_show() {
    // The server echoes the request's headers, as some error pages do, raw and JSON-escaped.
    let server = TestServer::start(|r| {
        let auth = r.header("authorization").unwrap_or_default().to_owned();
        Reply::json(401, json!({ "saw": auth, "escaped": auth.replace('/', "\\/") }).to_string())
    });
    let url = server.url().replace("http://", "http://robot:s3cret-pa55word@");
    let err = Client::new().bearer(TOKEN).get_json::<Value>(&format!("{url}/me")).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    for secret in [TOKEN, "s3cret-pa55word", "robot"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("GET http://[REDACTED]@127.0.0.1:"), "{shown}");
    assert!(shown.contains(r#""saw":"[REDACTED]""#), "{shown}");
}

#[tokio::test]
async fn a_huge_error_body_is_quoted_only_in_part() {
    let server = TestServer::start(|_| Reply::text(500, "text/plain", "x".repeat(1_000_000)));
    let err = Client::new().get_json::<Value>(&format!("{}/big", server.url())).await.unwrap_err();
    assert!(err.message().len() < 500, "{} bytes", err.message().len());
    assert!(err.message().ends_with("x…"));
}

// ---------------------------------------------------------------------------------------------
// In steps, on the embedded engine
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Target {
    url: String,
}

fn retries(limit: u32) -> StepConfig {
    StepConfig::new().retries(limit, "1 second").backoff(Backoff::Constant)
}

#[workflow]
async fn fetch_item(ctx: WorkflowContext<Target>) -> Result<Value> {
    let url = ctx.params.url.clone();
    ctx.step
        .do_with("fetch", retries(3), move |s| {
            let url = url.clone();
            async move {
                let item: Value = s.http().get_json(&url).await?;
                Ok(json!({ "item": item, "attempt": s.attempt }))
            }
        })
        .await
}

async fn run_fetch(server: &TestServer, path: &str) -> RawStatusOf {
    let t = TestEngine::builder().register::<FetchItemWorkflow>().open().await.unwrap();
    let target = Target { url: format!("{}{path}", server.url()) };
    let instance = t.workflow::<FetchItemWorkflow>().create(CreateOptions::params(target)).await.unwrap();
    t.run_to_completion(&instance).await.unwrap()
}

type RawStatusOf = InstanceStatus<Value>;

#[tokio::test]
async fn in_a_step_a_503_is_retried_until_the_answer_comes() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let server = TestServer::start(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => Reply::text(503, "text/plain", "busy"),
        _ => Reply::json(200, r#"{"id": 1}"#),
    });
    let status = run_fetch(&server, "/items/1").await;
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(status.output, Some(json!({ "item": {"id": 1}, "attempt": 3 })));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn in_a_step_a_404_fails_the_instance_after_one_request() {
    let server = TestServer::start(|_| Reply::json(404, r#"{"error": "gone"}"#));
    let status = run_fetch(&server, "/items/2").await;
    assert_eq!(status.status, InstanceStatusKind::Errored, "{status:?}");
    let error = status.error.unwrap();
    assert_eq!(error.name(), "NonRetryableError");
    assert_eq!(error.message(), format!(r#"GET {}/items/2 returned HTTP 404: {{"error": "gone"}}"#, server.url()));
    assert_eq!(server.requests().len(), 1, "a 404 must not be retried");
}

/// Answers every request with `{"id": 42}` and records the URLs, without any network.
#[derive(Default)]
struct Canned {
    urls: std::sync::Mutex<Vec<String>>,
}

impl lunora_runtime::http::HttpTransport for Canned {
    fn send(
        &self,
        request: lunora_runtime::http::HttpRequest,
    ) -> lunora_runtime::step::BoxFuture<
        '_,
        std::result::Result<lunora_runtime::http::HttpResponse, lunora_runtime::http::TransportError>,
    > {
        self.urls.lock().unwrap().push(request.url);
        let response =
            lunora_runtime::http::HttpResponse { status: 200, headers: vec![], body: br#"{"id": 42}"#.to_vec() };
        Box::pin(std::future::ready(Ok(response)))
    }
}

#[tokio::test]
async fn in_a_step_ctx_http_goes_through_the_harness_transport() {
    let canned = Arc::new(Canned::default());
    let t = TestEngine::builder().register::<FetchItemWorkflow>().http_transport(canned.clone()).open().await.unwrap();
    let target = Target { url: "http://api.invalid/items/42".into() };
    let instance = t.workflow::<FetchItemWorkflow>().create(CreateOptions::params(target)).await.unwrap();
    let status = t.run_to_completion(&instance).await.unwrap();
    assert_eq!(status.output, Some(json!({ "item": {"id": 42}, "attempt": 1 })), "{status:?}");
    assert_eq!(*canned.urls.lock().unwrap(), ["http://api.invalid/items/42"]);
}
