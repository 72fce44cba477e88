//! `corpus::functions` answer as the test origin (`e2e/src/origin.rs`) does, through the real
//! dispatch endpoint over a SQLite file: what lunora-e2e's Rust-endpoint run relies on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corpus::functions::{functions, Attempts};
use lunora_runtime::functions::{
    DispatchEndpoint, DispatchRequest, DispatchResponse, SqliteDedupStore, DECLINED_HEADER,
};
use lunora_runtime::Env;
use serde_json::{json, Value};

const TOKEN: &str = "corpus-functions-test-token";

struct Endpoint {
    endpoint: DispatchEndpoint,
    store: std::path::PathBuf,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.store.display()));
        }
    }
}

fn endpoint(name: &str, env: Env) -> Endpoint {
    let store = std::env::temp_dir().join(format!("corpus-functions-{name}-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&store);
    let dedup = SqliteDedupStore::open(&store).expect("a SQLite dedup store");
    let endpoint = DispatchEndpoint::new(functions(), env.with_var("LUNORA_ADMIN_TOKEN", TOKEN), Arc::new(dedup))
        .expect("an endpoint");
    Endpoint { endpoint, store }
}

fn with_attempts() -> Env {
    Env::new().with(Arc::new(Attempts::default()))
}

async fn call(endpoint: &Endpoint, path: &str, id: &str, args: Value) -> DispatchResponse {
    let request = DispatchRequest {
        method: "POST".into(),
        headers: vec![
            ("authorization".into(), format!("Bearer {TOKEN}").into_bytes()),
            ("content-type".into(), b"application/json".to_vec()),
        ],
        body: json!({ "functionPath": path, "id": id, "args": args }).to_string().into_bytes(),
        oversized: false,
    };
    endpoint.endpoint.answer(request).await
}

fn body(response: &DispatchResponse) -> Value {
    serde_json::from_str(&response.body).unwrap_or(Value::Null)
}

fn input() -> Value {
    json!({ "run": "t", "n": 21 })
}

#[tokio::test]
async fn flaky_fails_the_first_request_of_an_id_then_succeeds_and_keeps_that() {
    let e = endpoint("flaky", with_attempts());
    let first = call(&e, "e2e:flaky", "w/i#step1.1", input()).await;
    assert_eq!((first.status, body(&first)["error"]["code"].clone()), (503, json!("UPSTREAM_BUSY")));
    for _ in 0..2 {
        let again = call(&e, "e2e:flaky", "w/i#step1.1", input()).await;
        assert_eq!((again.status, body(&again)), (200, json!({ "result": "flaky ok" })));
    }
    // Another id is another first request.
    assert_eq!(call(&e, "e2e:flaky", "w/j#step1.1", input()).await.status, 503);
}

#[tokio::test]
async fn slow_holds_its_first_answer_and_a_concurrent_retry_is_declined() {
    let e = endpoint("slow", with_attempts());
    let started = Instant::now();
    let first = call(&e, "e2e:slow", "w/i#step2.1", input());
    let retry = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        call(&e, "e2e:slow", "w/i#step2.1", input()).await
    };
    let (first, retry) = tokio::join!(first, retry);
    assert!(started.elapsed() >= Duration::from_millis(1500), "answered after {:?}", started.elapsed());
    assert_eq!(first.status, 503, "{}", first.body);
    assert_eq!(retry.status, 409, "{}", retry.body);
    assert!(retry.headers.iter().any(|(n, v)| *n == DECLINED_HEADER && v == "1"), "{:?}", retry.headers);
    let after = call(&e, "e2e:slow", "w/i#step2.1", input()).await;
    assert_eq!((after.status, body(&after)), (200, json!({ "result": "slow done" })));
}

#[tokio::test]
async fn a_caller_giving_up_on_slow_leaves_its_claim_until_the_lease_ends() {
    let mut e = endpoint("slow-cancelled", with_attempts());
    e.endpoint = e.endpoint.clone().lease(Duration::from_secs(1));
    // The caller's timeout drops the request, as axum does when the caller disconnects.
    let gave_up = tokio::time::timeout(Duration::from_millis(300), call(&e, "e2e:slow", "w/i#step2.1", input())).await;
    assert!(gave_up.is_err(), "e2e:slow answered its first request within 300 ms");
    let retry = call(&e, "e2e:slow", "w/i#step2.1", input()).await;
    assert_eq!(retry.status, 409, "{}", retry.body);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = call(&e, "e2e:slow", "w/i#step2.1", input()).await;
    assert_eq!((after.status, body(&after)), (200, json!({ "result": "slow done" })));
}

#[tokio::test]
async fn the_other_functions_answer_as_the_test_origin() {
    let e = endpoint("others", with_attempts());
    let echo = call(&e, "e2e:echo", "w/i#body.1", json!({ "n": 21, "text": "grüße & <tags>" })).await;
    assert_eq!(body(&echo), json!({ "result": { "echo": { "n": 21, "text": "grüße & <tags>" } } }));
    assert_eq!(call(&e, "e2e:unit", "w/i#body.2", json!(null)).await.status, 200);
    assert_eq!(body(&call(&e, "e2e:charge", "w/i#step1.1", input()).await), json!({ "result": "rcpt-1" }));
    assert_eq!(call(&e, "e2e:refund", "w/i#step1rollback.1", input()).await.status, 200);
    for _ in 0..2 {
        let missing = call(&e, "e2e:missing", "w/i#step3.1", input()).await;
        assert_eq!((missing.status, body(&missing)["error"]["code"].clone()), (404, json!("NOT_FOUND")));
    }
    // busy's twice-per-id decline is the test origin's control, not a function here.
    assert_eq!(call(&e, "e2e:busy", "w/i#step4.1", input()).await.status, 404);
}

#[tokio::test]
async fn an_endpoint_without_attempts_says_what_to_add_and_stores_nothing() {
    let e = endpoint("unconfigured", Env::new());
    let answer = call(&e, "e2e:flaky", "w/i#step1.1", input()).await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(answer.body.contains("corpus::Attempts"), "{}", answer.body);
}
