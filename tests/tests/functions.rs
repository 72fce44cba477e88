//! The answering side of `ctx.run`: functions served by `DispatchEndpoint` behind a real axum
//! server on 127.0.0.1 (README, "Serving functions"), called with raw HTTP requests (so
//! hostile ones can be written byte by byte) and by workflows' `ctx.run`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lunora_runtime::functions::{server, DedupStore, SqliteDedupStore, DECLINED_HEADER, REPLAYED_HEADER};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

const TOKEN: &str = "s3cret-admin-token-0123";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChargeArgs {
    pub order_id: String,
    pub amount: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub receipt: String,
}

/// One constant for caller and callee.
const CHARGE: FunctionRef<ChargeArgs, Receipt> = FunctionRef::new("payments:charge");

/// What the handlers saw: calls per behaviour, and a gate the `amount: 3` call waits at.
struct Calls {
    charge: AtomicUsize,
    gate: Semaphore,
}

impl Default for Calls {
    fn default() -> Self {
        Self { charge: AtomicUsize::new(0), gate: Semaphore::new(0) }
    }
}

/// `amount` picks the behaviour: 0 → 422 declined (final), 1 → 503 (retryable), 2 → 429
/// (retryable), 3 → waits for the gate, 4 → a lunora non-retryable error, 5 → a retryable one;
/// otherwise a receipt naming the env's `RECEIPT_PREFIX`.
fn functions(calls: Arc<Calls>) -> Functions {
    Functions::new().register(&CHARGE, move |ctx: FunctionContext, args: ChargeArgs| {
        let calls = calls.clone();
        async move {
            calls.charge.fetch_add(1, Ordering::SeqCst);
            match args.amount {
                0 => Err(FunctionError::unprocessable("CARD_DECLINED", "the card was declined")
                    .with_data(json!({ "order": args.order_id }))),
                1 => Err(FunctionError::unavailable("BANK_DOWN", "the bank is unreachable")),
                2 => Err(FunctionError::too_many_requests("RATE_LIMITED", "slow down")),
                3 => {
                    calls.gate.acquire().await.expect("gate open").forget();
                    Ok(Receipt { receipt: format!("gated-{}", args.order_id) })
                }
                4 => Err(Error::non_retryable("refused by policy").into()),
                5 => Err(Error::new("flaky").into()),
                _ => {
                    let prefix = ctx.env.var("RECEIPT_PREFIX").unwrap_or("none");
                    Ok(Receipt { receipt: format!("{prefix}-{}-{}", args.order_id, ctx.id) })
                }
            }
        }
    })
}

fn env() -> Env {
    Env::new().with_var("LUNORA_ADMIN_TOKEN", TOKEN).with_var("RECEIPT_PREFIX", "rcpt")
}

/// An axum server on 127.0.0.1 answering dispatch; aborted when dropped.
struct Served {
    addr: std::net::SocketAddr,
    calls: Arc<Calls>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_with(
    store: Arc<dyn DedupStore>,
    configure: impl FnOnce(DispatchEndpoint) -> DispatchEndpoint,
) -> Served {
    let calls = Arc::new(Calls::default());
    let endpoint = configure(DispatchEndpoint::new(functions(calls.clone()), env(), store).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        server::serve(listener, endpoint).await.unwrap();
    });
    Served { addr, calls, task }
}

/// A server over a fresh SQLite store in `dir`.
async fn serve(dir: &tempfile::TempDir) -> Served {
    let store = SqliteDedupStore::open(dir.path().join("dedup.db")).unwrap();
    serve_with(Arc::new(store), |e| e).await
}

/// An answer as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends `raw` bytes as they are and reads the answer (the request says `connection: close`).
async fn send_raw(addr: std::net::SocketAddr, raw: &[u8]) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer (413) before reading all of a huge body; then the write fails.
    let _ = stream.write_all(raw).await;
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut bytes)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer head: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.map(|l| l.split_once(':').unwrap()).map(|(n, v)| (n.trim().into(), v.trim().into())).collect();
    Answer { status, headers, body: body.to_owned() }
}

/// A request with `headers` (each `name: value`) and `body`.
fn request(method: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} /_lunora/scheduler/dispatch HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn bearer() -> String {
    format!("authorization: Bearer {TOKEN}")
}

/// A well-formed dispatch of `payments:charge`.
async fn dispatch(served: &Served, id: &str, amount: i64) -> Answer {
    let body = json!({ "args": { "order_id": "o1", "amount": amount }, "functionPath": "payments:charge", "id": id });
    send_raw(served.addr, &request("POST", &[&bearer(), "content-type: application/json"], body.to_string().as_bytes()))
        .await
}

fn calls(served: &Served) -> usize {
    served.calls.charge.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_right_bearer_token_is_served_and_answers_do_not_tell_how_close_a_guess_was() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir).await;
    let body =
        json!({ "args": { "order_id": "o1", "amount": 10 }, "functionPath": "payments:charge", "id": "wf/i#step1.1" });
    let body = body.to_string();
    let json = "content-type: application/json";
    let mut refusals = Vec::new();
    for authorization in [
        None,
        Some("authorization: Bearer wrong-token-entirely".to_owned()),
        Some(format!("authorization: Bearer {}", &TOKEN[..TOKEN.len() - 1])), // all but the last char
        Some(format!("authorization: Bearer {}X", &TOKEN[..TOKEN.len() - 1])), // only the last char differs
        Some(format!("authorization: Basic {TOKEN}")),
        Some(format!("authorization: {TOKEN}")),
    ] {
        let headers: Vec<&str> = authorization.iter().map(String::as_str).chain([json]).collect();
        let answer = send_raw(served.addr, &request("POST", &headers, body.as_bytes())).await;
        assert_eq!((answer.status, answer.code()), (403, "DISPATCH_UNAUTHENTICATED".into()), "{authorization:?}");
        assert!(!answer.body.contains(&TOKEN[..8]), "{}", answer.body);
        refusals.push(answer.body);
    }
    // A near miss and a wild guess get the same bytes: nothing to measure but time, and the
    // comparison is constant-time.
    assert!(refusals.windows(2).all(|w| w[0] == w[1]), "{refusals:?}");
    // Two authorization headers, even with the right token among them, are ambiguous.
    let twice = send_raw(
        served.addr,
        &request("POST", &["authorization: Bearer nope-nope-nope", &bearer(), json], body.as_bytes()),
    )
    .await;
    assert_eq!(twice.status, 403);
    assert_eq!(calls(&served), 0, "no refused request ran the handler");

    let answer = send_raw(served.addr, &request("POST", &[&bearer(), json], body.as_bytes())).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json(),
        json!({ "result": { "receipt": "rcpt-o1-wf/i#step1.1" } }),
        "env and id reach the handler"
    );
    assert_eq!(calls(&served), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_without_a_usable_token_refuses_to_start() {
    for env in [Env::new(), Env::new().with_var("LUNORA_ADMIN_TOKEN", "short")] {
        let error = DispatchEndpoint::new(Functions::new(), env, Arc::new(functions::NoDedup)).unwrap_err();
        assert!(error.message().contains("LUNORA_ADMIN_TOKEN"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_functions_and_bad_args_are_final_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir).await;
    let post = |body: Value| post_json(served.addr, body);
    let unknown = post(json!({ "args": {}, "functionPath": "payments:chargee", "id": "a" })).await;
    assert_eq!((unknown.status, unknown.code()), (404, "FUNCTION_NOT_FOUND".into()));
    assert_eq!(
        unknown.json()["error"]["message"],
        "no function payments:chargee is served here (served: payments:charge)"
    );
    let bad = post(json!({ "args": { "order_id": 7 }, "functionPath": "payments:charge", "id": "b" })).await;
    assert_eq!((bad.status, bad.code()), (422, "DISPATCH_INVALID_ARGS".into()), "{}", bad.body);
    let message = bad.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("the args of payments:charge do not decode as functions::ChargeArgs: invalid type"),
        "{message}"
    );
    assert_eq!(calls(&served), 0);
}

/// An authenticated JSON request with `body`.
async fn post_json(addr: std::net::SocketAddr, body: Value) -> Answer {
    send_raw(addr, &request("POST", &[&bearer(), "content-type: application/json"], body.to_string().as_bytes())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_errors_are_stored_for_the_id_and_retryable_ones_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir).await;
    // Final: 422 from FunctionError, 422 from a lunora non-retryable Error.
    for (id, amount, code, message) in [
        ("final-1", 0, "CARD_DECLINED", "the card was declined"),
        ("final-2", 4, "FUNCTION_FAILED", "refused by policy"),
    ] {
        let before = calls(&served);
        let first = dispatch(&served, id, amount).await;
        assert_eq!((first.status, first.code()), (422, code.to_owned()));
        assert_eq!(first.json()["error"]["message"], message);
        let again = dispatch(&served, id, amount).await;
        assert_eq!((again.status, &again.body), (422, &first.body), "the stored final error, as it was");
        assert_eq!(again.header(REPLAYED_HEADER), Some("1"));
        assert_eq!(calls(&served), before + 1, "{id}: the handler ran once");
    }
    assert_eq!(dispatch(&served, "final-1", 0).await.json()["error"]["data"], json!({ "order": "o1" }));
    // Retryable: 503, 429 and a lunora retryable Error (500) release the claim.
    for (id, amount, status, code) in
        [("retry-1", 1, 503, "BANK_DOWN"), ("retry-2", 2, 429, "RATE_LIMITED"), ("retry-3", 5, 500, "FUNCTION_ERROR")]
    {
        let before = calls(&served);
        for _ in 0..2 {
            let answer = dispatch(&served, id, amount).await;
            assert_eq!((answer.status, answer.code()), (status, code.to_owned()));
            assert_eq!(answer.header(REPLAYED_HEADER), None);
        }
        assert_eq!(calls(&served), before + 2, "{id}: a retry runs the handler again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_id_is_answered_from_the_store_and_the_handler_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir).await;
    let first = dispatch(&served, "orderPipeline/o-1#step1.1", 10).await;
    assert_eq!(first.status, 200, "{}", first.body);
    for _ in 0..3 {
        let again = dispatch(&served, "orderPipeline/o-1#step1.1", 10).await;
        assert_eq!((again.status, &again.body), (200, &first.body));
        assert_eq!(again.header(REPLAYED_HEADER), Some("1"));
    }
    assert_eq!(calls(&served), 1);
    // The store is the file, not the process: a new server on it answers the same.
    drop(served);
    let served = serve(&dir).await;
    assert_eq!(dispatch(&served, "orderPipeline/o-1#step1.1", 10).await.body, first.body);
    assert_eq!(calls(&served), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_request_for_a_running_id_is_declined_then_gets_the_stored_result() {
    let dir = tempfile::tempdir().unwrap();
    let served = Arc::new(serve(&dir).await);
    let first = tokio::spawn({
        let served = served.clone();
        async move { dispatch(&served, "wf/i#step1.1", 3).await }
    });
    // Bounded wait until the first request's handler runs (it then waits at the gate).
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls(&served) == 0 {
        assert!(Instant::now() < deadline, "the first request never reached its handler");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let declined = dispatch(&served, "wf/i#step1.1", 3).await;
    assert_eq!((declined.status, declined.code()), (409, "DISPATCH_IN_PROGRESS".into()));
    assert_eq!(declined.header(DECLINED_HEADER), Some("1"));
    served.calls.gate.add_permits(1);
    let first = first.await.unwrap();
    assert_eq!(first.json(), json!({ "result": { "receipt": "gated-o1" } }));
    let later = dispatch(&served, "wf/i#step1.1", 3).await;
    assert_eq!((later.status, later.body), (200, first.body));
    assert_eq!(calls(&served), 1);
}

/// A caller whose attempt timed out hangs up while the handler runs: the handler still
/// finishes and stores its answer, so the retry gets it at once instead of being declined until
/// the claim's lease (2 minutes) lapses, and the handler runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_hangs_up_does_not_cancel_the_handler_holding_the_claim() {
    let dir = tempfile::tempdir().unwrap();
    let served = Arc::new(serve(&dir).await);
    let caller = tokio::spawn({
        let served = served.clone();
        async move { dispatch(&served, "wf/i#step1.1", 3).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls(&served) == 0 {
        assert!(Instant::now() < deadline, "the request never reached its handler");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    caller.abort(); // drops the connection while the handler waits at the gate
    let _ = caller.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    served.calls.gate.add_permits(1);
    // Bounded: well under the lease, so only a stored answer can end it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let retry = loop {
        let answer = dispatch(&served, "wf/i#step1.1", 3).await;
        if answer.status != 409 {
            break answer;
        }
        assert!(Instant::now() < deadline, "the retry was still declined: the hung-up handler was cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(retry.json(), json!({ "result": { "receipt": "gated-o1" } }));
    assert_eq!(retry.header("x-lunora-dispatch-replayed"), Some("1"));
    assert_eq!(calls(&served), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_answers_are_forgotten_after_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteDedupStore::open(dir.path().join("dedup.db")).unwrap());
    let served = serve_with(store, |e| e.retention(Duration::from_millis(300))).await;
    assert_eq!(dispatch(&served, "old", 10).await.status, 200);
    assert_eq!(dispatch(&served, "old", 10).await.header(REPLAYED_HEADER), Some("1"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = dispatch(&served, "old", 10).await;
    assert_eq!((after.status, after.header(REPLAYED_HEADER)), (200, None));
    assert_eq!(calls(&served), 2, "past the retention the id runs again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_protocol_errors_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir).await;
    let auth = bearer();
    let json_type = "content-type: application/json";
    let good = json!({ "args": { "order_id": "o1", "amount": 10 }, "functionPath": "payments:charge", "id": "x" });

    // 2 MiB of JSON: refused by size, before it is parsed.
    let huge = json!({ "args": { "order_id": "x".repeat(2 << 20), "amount": 10 }, "functionPath": "payments:charge", "id": "h" });
    let answer = send_raw(served.addr, &request("POST", &[&auth, json_type], huge.to_string().as_bytes())).await;
    assert_eq!((answer.status, answer.code()), (413, "DISPATCH_BODY_TOO_LARGE".into()));
    // Even unauthenticated, a huge body gets the authentication refusal, not a parse.
    let answer = send_raw(served.addr, &request("POST", &[json_type], huge.to_string().as_bytes())).await;
    assert_eq!(answer.status, 403);

    for (body, why) in [
        (&b"{\"args\": {"[..], "the request body is not JSON"),
        (b"[1, 2]", "the request body must be a JSON object"),
        (b"{\"args\": {}, \"id\": \"x\"}", "the request body needs \"functionPath\""),
        (b"{\"args\": {}, \"functionPath\": \"payments:charge\", \"id\": \"  \"}", "the request body needs \"id\""),
        (b"{\"args\": {}, \"functionPath\": \"payments:charge\", \"id\": 7}", "the request body needs \"id\""),
        (b"\xff\xfe{}", "the request body is not JSON"),
    ] {
        let answer = send_raw(served.addr, &request("POST", &[&auth, json_type], body)).await;
        assert_eq!((answer.status, answer.code()), (400, "DISPATCH_BAD_REQUEST".into()), "{body:?}");
        let message = answer.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(why), "{message}");
    }
    let long_id = json!({ "args": {}, "functionPath": "payments:charge", "id": "i".repeat(1025) });
    let answer = send_raw(served.addr, &request("POST", &[&auth, json_type], long_id.to_string().as_bytes())).await;
    assert_eq!(answer.status, 400);

    for content_type in
        [&["content-type: text/plain"][..], &[], &[json_type, json_type], &["content-type: application/jsonx"]]
    {
        let headers: Vec<&str> = [auth.as_str()].into_iter().chain(content_type.iter().copied()).collect();
        let answer = send_raw(served.addr, &request("POST", &headers, good.to_string().as_bytes())).await;
        assert_eq!((answer.status, answer.code()), (415, "DISPATCH_UNSUPPORTED_MEDIA_TYPE".into()), "{content_type:?}");
    }
    let answer = send_raw(
        served.addr,
        &request("POST", &[&auth, "content-type: Application/JSON; charset=utf-8"], good.to_string().as_bytes()),
    )
    .await;
    assert_eq!(answer.status, 200, "parameters and case are allowed: {}", answer.body);

    let answer = send_raw(served.addr, &request("GET", &[&auth], b"")).await;
    assert_eq!(
        (answer.status, answer.code(), answer.header("allow")),
        (405, "DISPATCH_METHOD_NOT_ALLOWED".into(), Some("POST"))
    );

    // Text from the request that comes back is escaped, and never becomes a header.
    let injected = json!({ "args": {}, "functionPath": "a\r\nx-injected: 1\r\n\r\n<b>", "id": "i" });
    let answer = send_raw(served.addr, &request("POST", &[&auth, json_type], injected.to_string().as_bytes())).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.header("x-injected"), None);
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("no function a\\r\\nx-injected: 1\\r\\n\\r\\n<b> is served"));
    assert_eq!(calls(&served), 1, "only the well-formed request ran");
}

/// The body of a dispatch child: claims `id` in the SQLite file, prints CLAIMED from inside the
/// handler, then hangs until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of a_claim_left_by_a_killed_process_expires_after_its_lease"]
async fn dispatch_child_killed_while_running() {
    let path = std::env::var("LUNORA_DEDUP_FILE").expect("run by the parent test");
    let store = Arc::new(SqliteDedupStore::open(path).unwrap());
    let functions = Functions::new().register(&CHARGE, |_ctx: FunctionContext, _args: ChargeArgs| async {
        println!("CLAIMED");
        std::future::pending::<()>().await;
        Ok(Receipt { receipt: "never".into() })
    });
    let endpoint = DispatchEndpoint::new(functions, env(), store).unwrap().lease(Duration::from_secs(2));
    let body =
        json!({ "args": { "order_id": "o1", "amount": 10 }, "functionPath": "payments:charge", "id": "crash#step1.1" });
    let request = functions::DispatchRequest {
        method: "POST".into(),
        headers: vec![
            ("authorization".into(), format!("Bearer {TOKEN}").into_bytes()),
            ("content-type".into(), b"application/json".to_vec()),
        ],
        body: body.to_string().into_bytes(),
        oversized: false,
    };
    endpoint.answer(request).await;
    unreachable!("the handler never returns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_by_a_killed_process_expires_after_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dedup.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "dispatch_child_killed_while_running", "--nocapture", "--test-threads=1"])
        .env("LUNORA_DEDUP_FILE", &file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // libtest prints the test's name on the same line, before what the test prints.
    let claimed = lines.by_ref().map_while(|l| l.ok()).any(|l| l.ends_with("CLAIMED"));
    child.kill().unwrap(); // SIGKILL, while the handler holds the claim
    child.wait().unwrap();
    assert!(claimed, "the child never reached its handler");
    let killed_at = Instant::now();

    let store = Arc::new(SqliteDedupStore::open(&file).unwrap());
    let served = serve_with(store, |e| e).await;
    let declined = dispatch(&served, "crash#step1.1", 10).await;
    // Unless the 2 s lease lapsed already (a very slow machine), the dead holder's claim holds.
    if killed_at.elapsed() < Duration::from_millis(1500) {
        assert_eq!((declined.status, declined.header(DECLINED_HEADER)), (409, Some("1")), "{}", declined.body);
        assert_eq!(calls(&served), 0);
    }
    // Bounded: the lease is 2 s.
    let deadline = Instant::now() + Duration::from_secs(15);
    let answer = loop {
        let answer = dispatch(&served, "crash#step1.1", 10).await;
        if answer.status != 409 {
            break answer;
        }
        assert!(Instant::now() < deadline, "the dead process's claim never lapsed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(calls(&served), 1, "the retry after the lease ran the handler");
    assert!(killed_at.elapsed() >= Duration::from_millis(1000), "not before the lease lapsed");
}

/// The caller and the callee share `CHARGE`: a workflow's `ctx.run` against this endpoint.
#[step(args = ChargeArgs, returns = Receipt, retries(limit = 2, delay = "1 second", backoff = "constant"))]
async fn charge(ctx: StepContext, args: ChargeArgs) -> Result<Receipt> {
    ctx.run(&CHARGE, args).await
}

#[workflow]
async fn paying(ctx: WorkflowContext<i64>) -> Result<Receipt> {
    ctx.run_step(&charge, ChargeArgs { order_id: "o9".into(), amount: ctx.params }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctx_run_calls_the_served_function_and_its_final_errors_fail_the_step_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir).await;
    let env = env().with_var("LUNORA_ORIGIN_URL", format!("http://{}", served.addr));
    let t = TestEngine::builder().env(env).register::<PayingWorkflow>().open().await.unwrap();
    let wf = t.workflow::<PayingWorkflow>();
    let inst = wf.create(CreateOptions::params(10).with_id("p-1")).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.output.unwrap(), json!({ "receipt": "rcpt-o9-paying/p-1#step1.1" }));

    let inst = wf.create(CreateOptions::params(0).with_id("p-2")).await.unwrap();
    let error = t.run_to_completion(&inst).await.unwrap().error.unwrap();
    assert_eq!((error.name(), error.code(), error.status()), ("NonRetryableError", Some("CARD_DECLINED"), Some(422)));
    assert_eq!(calls(&served), 2, "the declined card was charged once, not retried");
}
