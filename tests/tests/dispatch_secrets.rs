//! `ctx.run` must never store `LUNORA_ADMIN_TOKEN` or the userinfo of `LUNORA_ORIGIN_URL`:
//! not in `status().error`, not in step outputs, not in `ctx.log` lines, not in the journal's
//! bytes, whatever a hostile or buggy Worker echoes back (raw, JSON-escaped, percent-encoded,
//! base64, in an error code, a 409, a redirect's Location). A real dispatch endpoint on
//! 127.0.0.1 and the embedded engine on a real SQLite file.

#[path = "../../lunora-runtime/tests/support/http_server.rs"]
mod http_server;

use http_server::{closed_port_url, Recorded, Reply, TestServer};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

const TOKEN: &str = "Adm1n/T0ken+Zq9XwVb7";
/// The token with some characters `\u`-escaped (both hex cases) and `/` as `\/`.
const TOKEN_JSON_ESCAPED: &str = r"\u0041dm\u0031n\/T0ke\u006E\u002bZq9\u0058wVb7";
/// `base64("Bearer " + TOKEN)`: a Worker echoing the header in an encoded dump.
const BEARER_BASE64: &str = "QmVhcmVyIEFkbTFuL1Qwa2VuK1pxOVh3VmI3";
const ORIGIN_PASSWORD: &str = "Pa55w0rd-origin-9";

/// Every spelling of a secret the journal must not hold.
fn spellings(secret: &str) -> Vec<String> {
    let percent = |upper: bool| -> String {
        secret
            .bytes()
            .map(|b| match (b.is_ascii_alphanumeric(), upper) {
                (true, _) => (b as char).to_string(),
                (false, true) => format!("%{b:02X}"),
                (false, false) => format!("%{b:02x}"),
            })
            .collect()
    };
    vec![secret.to_owned(), secret.replace('/', "\\/"), percent(true), percent(false)]
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Echo {
    pub mode: String,
}

const ECHO: FunctionRef<Echo, serde_json::Value> = FunctionRef::new("echo:it");

#[step(args = Echo, returns = serde_json::Value, retries(limit = 0, delay = "1 second"), timeout = "10 seconds")]
async fn call_once(ctx: StepContext, args: Echo) -> Result<serde_json::Value> {
    ctx.run(&ECHO, args).await
}

/// Calls the endpoint once in the given mode and logs what came back, as a user would.
#[workflow]
async fn leaky(ctx: WorkflowContext<String>) -> Result<serde_json::Value> {
    match ctx.run_step(&call_once, Echo { mode: ctx.params.clone() }).await {
        Ok(value) => {
            ctx.log.info(format!("ctx.run answered {value}"));
            Ok(value)
        }
        Err(e) => {
            ctx.log.error(format!("ctx.run failed: {e} ({e:?})"));
            Err(e)
        }
    }
}

/// A Worker that echoes the `authorization` header back in every way it can.
fn hostile_worker(request: &Recorded) -> Reply {
    if request.path() == "/landing" {
        // Where a followed redirect would land: echoes the target, token included.
        let message = format!("no route for {}", http_server::percent_decode(&request.target));
        return Reply::json(404, json!({"error": {"code": "NOT_FOUND", "message": message}}).to_string());
    }
    let auth = request.header("authorization").unwrap_or_default().to_owned();
    let error = |status: u16, code: &str, message: String| {
        Reply::json(status, json!({"error": {"code": code, "message": message}}).to_string())
    };
    match request.body_json()["args"]["mode"].as_str().unwrap_or_default() {
        "forbidden" => error(403, "FORBIDDEN", format!("bad credentials: {auth}")),
        "json-escaped" => Reply::json(500, format!(r#"{{"detail": "token {TOKEN_JSON_ESCAPED} is wrong"}}"#)),
        "percent" => Reply::text(
            502,
            "text/plain",
            "GET /login?token=Adm1n%2fT0ken%2BZq9XwVb7&twice=Adm1n%252FT0ken%252BZq9XwVb7",
        ),
        "base64" => Reply::text(500, "text/plain", format!("Authorization: {BEARER_BASE64}")),
        "conflict" => error(409, "DISPATCH_IN_PROGRESS", format!("already running for {auth}")),
        "code" => Reply::json(422, json!({"error": {"code": auth, "message": "rejected"}}).to_string()),
        "result" => Reply::json(200, format!(r#"{{"result": {{"seen": "Bearer {TOKEN_JSON_ESCAPED}"}}}}"#)),
        "redirect" => Reply::empty(302).with_header("location", "/landing?t=Adm1n%2FT0ken%2BZq9XwVb7"),
        "html" => Reply::text(200, "text/html", format!("<html>hello {auth}</html>")),
        other => error(400, "BAD_MODE", format!("unknown mode {other}")),
    }
}

fn env(origin: &str, token: &str) -> Env {
    Env::new().with_var("LUNORA_ORIGIN_URL", origin).with_var("LUNORA_ADMIN_TOKEN", token)
}

async fn engine(path: &std::path::Path, env: Env) -> TestEngine {
    TestEngine::builder().path(path).env(env).register::<LeakyWorkflow>().open().await.unwrap()
}

async fn run(t: &TestEngine, mode: &str) -> workflow::RawStatus {
    let instance =
        t.workflow::<LeakyWorkflow>().create(CreateOptions::params(mode.to_owned()).with_id(mode)).await.unwrap();
    t.run_to_completion(&instance).await.unwrap()
}

/// The journal's files (the database, `-wal`, `-shm`) as bytes, lossily as text.
fn journal_bytes(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        files.push((path.display().to_string(), String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned()));
    }
    assert!(files.iter().any(|(name, _)| name.ends_with("journal.sqlite")), "{files:?}");
    files
}

fn assert_absent(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!text.contains(secret.as_str()), "{secret:?} leaked into {what}: {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatever_the_worker_echoes_the_token_is_never_stored() {
    let server = TestServer::start(hostile_worker);
    let dir = tempfile::tempdir().unwrap();
    let t = engine(&dir.path().join("journal.sqlite"), env(&format!("{}/", server.url()), TOKEN)).await;

    let failures = [
        ("forbidden", "NonRetryableError", "bad credentials: Bearer [REDACTED] (FORBIDDEN, HTTP 403)"),
        ("json-escaped", "DispatchError", r#"function dispatch failed (500): {"detail": "token [REDACTED] is wrong"}"#),
        ("percent", "DispatchError", "function dispatch failed (502): GET /login?token=[REDACTED]&twice=[REDACTED]"),
        ("base64", "DispatchError", "function dispatch failed (500): Authorization: [REDACTED]"),
        ("conflict", "DispatchError", "already running for Bearer [REDACTED] (DISPATCH_IN_PROGRESS, HTTP 409)"),
        ("code", "NonRetryableError", "rejected (Bearer [REDACTED], HTTP 422)"),
        (
            "redirect",
            "DispatchError",
            "function dispatch of echo:it was redirected (HTTP 302) to /landing?t=[REDACTED]; ctx.run does not \
             follow redirects: set LUNORA_ORIGIN_URL to the origin that answers",
        ),
        (
            "html",
            "DispatchError",
            "function dispatch of echo:it answered with an unexpected body: <html>hello Bearer [REDACTED]</html>",
        ),
    ];
    // All modes first, compared at once, so a failure shows every leak.
    let (mut seen, mut codes) = (Vec::new(), Vec::new());
    for (mode, _, _) in failures {
        let status = run(&t, mode).await;
        assert_eq!(status.status, InstanceStatusKind::Errored, "{mode}: {status:?}");
        let error = status.error.unwrap();
        seen.push((mode, error.name().to_owned(), error.message().to_owned()));
        codes.push((mode, error.code().map(str::to_owned)));
    }
    let expected: Vec<_> = failures.iter().map(|(m, n, t)| (*m, n.to_string(), t.to_string())).collect();
    assert_eq!(seen, expected);
    assert!(codes.contains(&("code", Some("Bearer [REDACTED]".to_owned()))), "{codes:?}");

    let status = run(&t, "result").await;
    assert_eq!(status.output, Some(json!({"seen": "Bearer [REDACTED]"})), "{status:?}");

    // Nothing followed the redirect.
    assert!(server.requests().iter().all(|r| r.path() == "/_lunora/scheduler/dispatch"), "{:?}", server.requests());

    let secrets: Vec<String> =
        [spellings(TOKEN), vec![TOKEN_JSON_ESCAPED.to_owned(), BEARER_BASE64.to_owned()]].concat();
    let logs = format!("{:?}", t.logs());
    assert!(logs.contains("Bearer [REDACTED]"), "{logs}");
    assert_absent("the logs", &logs, &secrets);
    for (file, bytes) in journal_bytes(dir.path()) {
        assert_absent(&file, &bytes, &secrets);
    }
    t.engine().clone().close().await;
    drop(t);
    let files = journal_bytes(dir.path());
    for (file, bytes) in &files {
        assert_absent(file, bytes, &secrets);
    }
    // The errors and outputs are in what was searched.
    assert!(files.iter().any(|(_, bytes)| bytes.contains("bad credentials: Bearer [REDACTED]")), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_origin_url_are_refused_and_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let closed = closed_port_url();
    let origin = closed.replace("http://", &format!("http://lunora:{ORIGIN_PASSWORD}@"));
    let t = engine(&dir.path().join("journal.sqlite"), env(&format!("{origin}/"), TOKEN)).await;
    let error = run(&t, "forbidden").await.error.unwrap();
    let shown = closed.replace("http://", "http://[REDACTED]@");
    assert_eq!(
        (error.name(), error.message().to_owned()),
        (
            "DispatchError",
            format!(
                "LUNORA_ORIGIN_URL must not carry credentials ({shown}/): ctx.run authenticates with \
                 LUNORA_ADMIN_TOKEN, and a user name or password in the URL would not be used"
            )
        )
    );
    let secrets = [spellings(ORIGIN_PASSWORD), vec!["lunora:".to_owned()]].concat();
    assert_absent("the logs", &format!("{:?}", t.logs()), &secrets);
    t.engine().clone().close().await;
    drop(t);
    for (file, bytes) in journal_bytes(dir.path()) {
        assert_absent(&file, &bytes, &secrets);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_too_short_to_redact_is_refused_before_anything_is_sent() {
    let server = TestServer::start(hostile_worker);
    let dir = tempfile::tempdir().unwrap();
    for token in ["abc", "1234567"] {
        let t = engine(&dir.path().join(format!("journal-{token}.sqlite")), env(&server.url(), token)).await;
        let error = run(&t, "forbidden").await.error.unwrap();
        assert_eq!(
            error.message(),
            format!(
                "LUNORA_ADMIN_TOKEN is {} characters long; ctx.run needs at least 8, so that the token can be \
                 told apart from other text and redacted wherever a Worker echoes it (use a long random token)",
                token.len()
            )
        );
        t.engine().clone().close().await;
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    // Eight characters are enough.
    let t = engine(&dir.path().join("journal-8.sqlite"), env(&server.url(), "12345678")).await;
    assert_eq!(
        run(&t, "forbidden").await.error.unwrap().message(),
        "bad credentials: Bearer [REDACTED] (FORBIDDEN, HTTP 403)"
    );
}
