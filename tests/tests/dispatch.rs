//! `ctx.run` against a real HTTP server on 127.0.0.1 that speaks the dispatch protocol
//! (README, "Calling back into the Worker (`ctx.run`)"), with workflows and steps written with
//! the macros.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};

/// One recorded request.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

/// A scripted dispatch endpoint: answers requests from a queue (the last answer repeats).
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Answer = (u16, Vec<(&'static str, &'static str)>, String);
/// An [`Answer`] status meaning "hold the connection 1.5 s without answering".
const HANG: u16 = 0;

impl Server {
    fn start(answers: Vec<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut served = 0usize;
            // Bounded: stops when told to, or after 60 s of wall time.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !stop2.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let mut headers = Vec::new();
                let mut length = 0usize;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (name, value) = h.split_once(':').unwrap();
                    let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
                    if name == "content-length" {
                        length = value.parse().unwrap();
                    }
                    headers.push((name, value));
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                seen2.lock().unwrap().push(Seen { path, headers, body });
                let (status, extra, text) = answers[served.min(answers.len() - 1)].clone();
                served += 1;
                if status == HANG {
                    // Never answers: the client's request timeout has to end the exchange.
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(1_500));
                        drop(reader);
                    });
                    continue;
                }
                let mut response =
                    format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n", text.len());
                for (n, v) in extra {
                    response.push_str(&format!("{n}: {v}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(&text);
                let mut stream = stream;
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Server { url, seen, stop, thread: Some(thread) }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests called `function`.
    fn calls(&self, function: &str) -> usize {
        self.seen().iter().filter(|s| s.body["functionPath"] == function).count()
    }

    fn ids(&self) -> Vec<String> {
        self.seen().iter().map(|s| s.body["id"].as_str().unwrap_or("").to_owned()).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn ok(result: &str) -> Answer {
    (200, vec![], format!("{{\"result\": {result}}}"))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Charge {
    pub order_id: String,
}

const GET_ORDER: FunctionRef<Charge, serde_json::Value> = FunctionRef::new("orders:get");
const CHARGE: FunctionRef<Charge, String> = FunctionRef::new("payments:charge");
const REFUND: FunctionRef<Charge, ()> = FunctionRef::new("payments:refund");

#[step(args = Charge, returns = String, retries(limit = 2, delay = "1 second", backoff = "constant"), timeout = "10 seconds",
       rollback = refund)]
async fn charge_step(ctx: StepContext, args: Charge) -> Result<String> {
    ctx.run(&CHARGE, args).await
}

async fn refund(ctx: StepRollbackContext<Charge, String>) -> Result<()> {
    ctx.run(&REFUND, ctx.args.clone()).await
}

#[step(args = Charge, returns = String, retries(limit = 0, delay = "1 second"), timeout = "10 seconds")]
async fn charge_once(ctx: StepContext, args: Charge) -> Result<String> {
    ctx.run(&CHARGE, args).await
}

/// `mode`: "body" calls ctx.run twice in the body; "step" runs charge_step; "step-then-fail"
/// runs it then fails; "do" ("do-once": no retries) calls ctx.run inside a plain
/// `ctx.step.do_with` callback; "once"
/// runs charge_once.
#[workflow]
async fn dispatching(ctx: WorkflowContext<String>) -> Result<String> {
    match ctx.params.as_str() {
        "body" => {
            let a = ctx.run(&GET_ORDER, Charge { order_id: "o1".into() }).await?;
            let b = ctx.run(&GET_ORDER, Charge { order_id: "o2".into() }).await?;
            Ok(format!("{a} {b}"))
        }
        "step" => ctx.run_step(&charge_step, Charge { order_id: "o3".into() }).await,
        // The seed's own pattern: the workflow's ctx.run inside a plain step callback.
        "do" | "do-once" => {
            let limit = if ctx.params == "do" { 2 } else { 0 };
            let config = StepConfig::new().retries(limit, "1 second").backoff(Backoff::Constant).timeout("10 seconds");
            ctx.step
                .do_with("charge in a callback", config, |_| ctx.run(&CHARGE, Charge { order_id: "o6".into() }))
                .await
        }
        "step-then-fail" => {
            ctx.run_step(&charge_step, Charge { order_id: "o4".into() }).await?;
            Err(NonRetryableError::new("later failure").into())
        }
        _ => ctx.run_step(&charge_once, Charge { order_id: "o5".into() }).await,
    }
}

fn env(server: &Server) -> Env {
    Env::new()
        .with_var("LUNORA_ORIGIN_URL", format!("{}/", server.url))
        .with_var("LUNORA_ADMIN_TOKEN", "s3cret-admin-token")
}

async fn engine(server: &Server) -> TestEngine {
    engine_with(env(server)).await
}

async fn engine_with(env: Env) -> TestEngine {
    TestEngine::builder().env(env).register::<DispatchingWorkflow>().open().await.unwrap()
}

async fn run(t: &TestEngine, id: &str, mode: &str) -> workflow::RawStatus {
    let inst =
        t.workflow::<DispatchingWorkflow>().create(CreateOptions::params(mode.to_owned()).with_id(id)).await.unwrap();
    t.run_to_completion(&inst).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_calls_post_the_protocol_and_return_results() {
    let server = Server::start(vec![ok("{\"total\": 42}"), (200, vec![], String::new())]);
    let t = engine(&server).await;
    let status = run(&t, "i-1", "body").await;
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(status.output.unwrap(), "{\"total\":42} null", "an empty 2xx body is unit/null");
    let seen = server.seen();
    assert_eq!(seen[0].path, "/_lunora/scheduler/dispatch", "no double slash after the origin");
    assert!(seen[0].headers.contains(&("authorization".into(), "Bearer s3cret-admin-token".into())));
    assert!(seen[0].headers.contains(&("content-type".into(), "application/json".into())));
    assert_eq!(
        seen[0].body,
        serde_json::json!({"args": {"order_id": "o1"}, "functionPath": "orders:get", "id": "dispatching/i-1#body.1"})
    );
    assert_eq!(server.ids(), ["dispatching/i-1#body.1", "dispatching/i-1#body.2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_attempt_reuses_its_ids_and_5xx_stays_retryable() {
    let server = Server::start(vec![(503, vec![], "busy".into()), ok("\"rcpt-1\"")]);
    let t = engine(&server).await;
    let status = run(&t, "i-2", "step").await;
    assert_eq!(status.output.unwrap(), "rcpt-1");
    assert_eq!(server.ids(), ["dispatching/i-2#step1.1", "dispatching/i-2#step1.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deterministic_failures_are_final_inside_a_step() {
    let server = Server::start(vec![(
        404,
        vec![],
        "{\"error\": {\"code\": \"NOT_FOUND\", \"message\": \"no such order\"}}".into(),
    )]);
    let t = engine(&server).await;
    let status = run(&t, "i-3", "step").await;
    let err = status.error.unwrap();
    assert_eq!(err.name(), "NonRetryableError");
    assert_eq!(err.message(), "no such order (NOT_FOUND, HTTP 404)");
    assert_eq!((err.code(), err.status()), (Some("NOT_FOUND"), Some(404)));
    assert_eq!(server.calls("payments:charge"), 1, "not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deterministic_failures_are_final_inside_a_plain_step_callback_and_5xx_is_retried() {
    let server = Server::start(vec![(
        404,
        vec![],
        "{\"error\": {\"code\": \"NOT_FOUND\", \"message\": \"no such order\"}}".into(),
    )]);
    let t = engine(&server).await;
    let err = run(&t, "i-3d", "do").await.error.unwrap();
    assert_eq!((err.name(), err.code(), err.status()), ("NonRetryableError", Some("NOT_FOUND"), Some(404)));
    assert_eq!(server.calls("payments:charge"), 1, "not retried");
    assert_eq!(server.ids(), ["dispatching/i-3d#body.1"], "the workflow's own runner: body ids");

    let server = Server::start(vec![(503, vec![], "busy".into()), ok("\"rcpt-6\"")]);
    let t = engine(&server).await;
    let (status, _) = drive_timers_within(&t, "i-3e", "do", 9_000).await;
    assert_eq!(status.output.unwrap(), "rcpt-6", "{:?}", status.error);
    assert_eq!(server.calls("payments:charge"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declines_in_a_plain_step_callback_stop_two_seconds_before_its_timeout() {
    let declined: Answer = (DECLINED.0, vec![("x-lunora-dispatch-declined", "1")], DECLINED.1.into());
    let server = Server::start(vec![declined]);
    let t = engine(&server).await;
    let (status, _) = drive_declines(&t, "i-8d", "do-once").await;
    let err = status.error.unwrap();
    assert_eq!((err.code(), err.status()), (Some("DISPATCH_IN_PROGRESS"), Some(409)), "{err:?}");
    assert!(err.message().contains("is still running elsewhere after 7 s"), "{err}");
    // Waits of 1, 2 and 4 s fit before 10 s − 2 s; the next (8 s) does not.
    assert_eq!(server.seen().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authentication_failure_stays_retryable_and_bodies_without_an_error_are_quoted() {
    let server = Server::start(vec![(403, vec![], "{\"error\": {\"code\": \"DISPATCH_UNAUTHENTICATED\"}}".into())]);
    let t = engine(&server).await;
    let status = run(&t, "i-4", "step").await;
    let err = status.error.unwrap();
    assert_eq!((err.name(), err.code(), err.status()), ("DispatchError", Some("DISPATCH_UNAUTHENTICATED"), Some(403)));
    assert_eq!(server.calls("payments:charge"), 3, "limit 2 → 3 attempts");

    let server = Server::start(vec![(500, vec![], "<html>oops</html>".into())]);
    let t = engine(&server).await;
    let err = run(&t, "i-5", "once").await.error.unwrap();
    assert_eq!(err.message(), "function dispatch failed (500): <html>oops</html>");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_dispatches_with_its_own_ids() {
    let server = Server::start(vec![ok("\"rcpt-9\""), (200, vec![], String::new())]);
    let t = engine(&server).await;
    let status = run(&t, "i-6", "step-then-fail").await;
    assert_eq!(status.rollback.unwrap().outcome, RollbackOutcome::Complete);
    assert_eq!(server.ids(), ["dispatching/i-6#step1.1", "dispatching/i-6#step1rollback.1"]);
    assert_eq!(server.seen()[1].body["functionPath"], "payments:refund");
}

const DECLINED: (u16, &str) = (409, "{\"error\": {\"code\": \"DISPATCH_IN_PROGRESS\"}}");

/// Runs the instance, jumping the virtual clock to each decline wait (timers less than 9 s
/// away; the attempt's own 10 s timeout timer is never jumped to). Bounded.
async fn drive_declines(t: &TestEngine, id: &str, mode: &str) -> (workflow::RawStatus, i64) {
    drive_timers_within(t, id, mode, 9_000).await
}

/// Runs the instance, jumping the virtual clock to every timer less than `horizon_ms` after
/// the start. Bounded.
async fn drive_timers_within(t: &TestEngine, id: &str, mode: &str, horizon_ms: i64) -> (workflow::RawStatus, i64) {
    let start = t.clock().now_ms();
    let inst =
        t.workflow::<DispatchingWorkflow>().create(CreateOptions::params(mode.to_owned()).with_id(id)).await.unwrap();
    for _ in 0..5_000 {
        let status = inst.status_json().await.unwrap();
        if status.status.is_terminal() {
            return (status, t.clock().now_ms() - start);
        }
        match t.clock().next_timer() {
            Some(at) if at - start < horizon_ms => {
                let by = (at - t.clock().now_ms()).max(0) as u64;
                t.advance(Duration::from_millis(by)).await;
            }
            _ => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    panic!("instance {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declines_are_waited_out_with_doubling_delays_on_the_same_id() {
    let declined: Answer = (DECLINED.0, vec![("x-lunora-dispatch-declined", "1")], DECLINED.1.into());
    let server = Server::start(vec![declined.clone(), declined, ok("\"rcpt-2\"")]);
    let t = engine(&server).await;
    let (status, _) = drive_declines(&t, "i-7", "once").await;
    assert_eq!(status.output.unwrap(), "rcpt-2", "{:?}", status.error);
    assert_eq!(server.ids(), ["dispatching/i-7#step1.1"; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declines_stop_two_seconds_before_the_step_timeout() {
    let declined: Answer = (DECLINED.0, vec![("x-lunora-dispatch-declined", "1")], DECLINED.1.into());
    let server = Server::start(vec![declined]);
    let t = engine(&server).await;
    let (status, _) = drive_declines(&t, "i-8", "once").await;
    let err = status.error.unwrap();
    assert_eq!((err.code(), err.status()), (Some("DISPATCH_IN_PROGRESS"), Some(409)));
    assert!(err.message().contains("is still running elsewhere after 7 s"), "{err}");
    // Waits of 1, 2 and 4 s fit before 10 s − 2 s; the next (8 s) does not.
    assert_eq!(server.seen().len(), 4);

    // Without the marker header a 409 is an ordinary error, not a decline.
    let server = Server::start(vec![(DECLINED.0, vec![], DECLINED.1.into())]);
    let t = engine(&server).await;
    let (status, _) = drive_declines(&t, "i-9", "once").await;
    assert_eq!(server.seen().len(), 1);
    assert_eq!(status.error.unwrap().code(), Some("DISPATCH_IN_PROGRESS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_variables_are_named() {
    let t = TestEngine::builder()
        .env(Env::new().with_var("LUNORA_ORIGIN_URL", "http://127.0.0.1:9"))
        .register::<DispatchingWorkflow>()
        .open()
        .await
        .unwrap();
    let status = run(&t, "i-10", "body").await;
    assert_eq!(
        status.error.unwrap().message(),
        "ctx.run needs the environment variable LUNORA_ADMIN_TOKEN; set it in the Worker's vars (or the engine's Env)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_declines_give_up_after_fifteen_minutes() {
    let declined: Answer = (DECLINED.0, vec![("x-lunora-dispatch-declined", "1")], DECLINED.1.into());
    let server = Server::start(vec![declined]);
    let t = engine(&server).await;
    let (status, elapsed) = drive_timers_within(&t, "i-11", "body", i64::MAX).await;
    let err = status.error.unwrap();
    // Waits of 1, 2, 4, 8, 16 s, then 28 × 30 s: 871 s; one more 30 s would pass 900 s.
    assert_eq!(
        err.message(),
        "function orders:get (id dispatching/i-11#body.1) is still running elsewhere after 871 s of waiting"
    );
    assert_eq!(elapsed, 871_000);
    assert_eq!(server.ids(), vec!["dispatching/i-11#body.1"; 34]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_stays_retryable_inside_a_step() {
    let limited = (429, vec![], "{\"error\": {\"code\": \"RATE_LIMITED\", \"message\": \"slow down\"}}".into());
    let server = Server::start(vec![limited, ok("\"rcpt-4\"")]);
    let t = engine(&server).await;
    let status = run(&t, "i-12", "step").await;
    assert_eq!(status.output.unwrap(), "rcpt-4", "{:?}", status.error);
    assert_eq!(server.ids(), ["dispatching/i-12#step1.1"; 2]);
}

/// Records each request's timeout, then sends it over the network.
#[derive(Default)]
struct RecordingTransport {
    timeouts: Mutex<Vec<Duration>>,
}

impl http::HttpTransport for RecordingTransport {
    fn send(
        &self,
        request: http::HttpRequest,
    ) -> step::BoxFuture<'_, Result<http::HttpResponse, http::TransportError>> {
        self.timeouts.lock().unwrap().push(request.timeout);
        http::NativeTransport.send(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_may_take_thirty_seconds_by_default() {
    let server = Server::start(vec![ok("1")]);
    let recording = Arc::new(RecordingTransport::default());
    let t = TestEngine::builder()
        .env(env(&server))
        .http_transport(recording.clone())
        .register::<DispatchingWorkflow>()
        .open()
        .await
        .unwrap();
    assert_eq!(run(&t, "i-13", "body").await.output.unwrap(), "1 1");
    assert_eq!(*recording.timeouts.lock().unwrap(), [Duration::from_secs(30); 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_request_times_out_as_configured_and_a_step_retries_it() {
    let server = Server::start(vec![(HANG, vec![], String::new())]);
    let t = engine_with(env(&server).with_var("LUNORA_DISPATCH_TIMEOUT", "300 ms")).await;
    let started = std::time::Instant::now();
    let err = run(&t, "i-14", "body").await.error.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(err.name(), "DispatchError");
    assert_eq!(
        err.message(),
        format!(
            "function dispatch of orders:get failed: request to {}/_lunora/scheduler/dispatch timed out after 300 ms",
            server.url
        )
    );

    let server = Server::start(vec![(HANG, vec![], String::new()), ok("\"rcpt-5\"")]);
    let t = engine_with(env(&server).with_var("LUNORA_DISPATCH_TIMEOUT", "300 ms")).await;
    let status = run(&t, "i-15", "step").await;
    assert_eq!(status.output.unwrap(), "rcpt-5", "{:?}", status.error);
    assert_eq!(server.ids(), ["dispatching/i-15#step1.1"; 2], "the retry re-sends the same id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_timeout_variable_is_named_and_nothing_is_sent() {
    for (value, why) in [
        ("soon", "invalid duration \"soon\": expected \"<number> <unit>\", e.g. \"10 seconds\""),
        ("0 seconds", "\"0 seconds\" is zero; a request needs time"),
    ] {
        let server = Server::start(vec![ok("1")]);
        let t = engine_with(env(&server).with_var("LUNORA_DISPATCH_TIMEOUT", value)).await;
        let err = run(&t, "i-16", "body").await.error.unwrap();
        assert_eq!(err.message(), format!("the environment variable LUNORA_DISPATCH_TIMEOUT: {why}"));
        assert!(server.seen().is_empty());
    }
}
