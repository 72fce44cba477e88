//! HTTP from steps, against the suite's origin on 127.0.0.1 (`LUNORA_ORIGIN_URL`; its
//! `/e2e/http/…` routes are in `e2e/src/origin.rs`):
//!
//! - `httpClient`: the portable [`http::Client`] (`ctx.http()`), the same code on both engines:
//!   a JSON GET, a JSON POST, a 404 (not retried) and a 503 then 200 (retried).
//! - `workerApis`: in workerd, steps and a rollback that use the Worker's own APIs directly —
//!   `worker::Fetch`, whose JS response is held across `.await`s, and KV (the trail) — with no
//!   wrapper; natively the same steps go through [`http::Client`]. The outcomes must match.

use lunora_runtime::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{as_json, trail, Input};

/// What `/e2e/http/item/:n` answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub item: u64,
    pub name: String,
}

fn origin(env: &Env) -> Result<String> {
    env.var("LUNORA_ORIGIN_URL")
        .map(|url| url.trim_end_matches('/').to_owned())
        .ok_or_else(|| Error::non_retryable("LUNORA_ORIGIN_URL is not set"))
}

fn once(limit: u32) -> StepConfig {
    // Long timeout: the embedded run's virtual clock moves much faster than a real exchange.
    StepConfig::new().retries(limit, "1 second").backoff(Backoff::Constant).timeout("1 hour")
}

/// The portable client on both engines.
#[workflow]
pub async fn http_client(ctx: WorkflowContext<Input>) -> Result<Value> {
    let n = ctx.params.n;
    let item: Item = ctx
        .step
        .do_with("get", once(0), move |s| async move {
            s.http().get_json(&format!("{}/e2e/http/item/{n}", origin(&s.env)?)).await
        })
        .await?;
    let echoed: Value = ctx
        .step
        .do_with("post", once(0), |s| async move {
            let client = s.http().bearer("e2e-http-token-1234");
            client.post_json(&format!("{}/e2e/http/echo", origin(&s.env)?), &json!({ "text": "grüße" })).await
        })
        .await?;
    // A 404 is a NonRetryableError: one request though three retries are allowed.
    let missing = ctx
        .step
        .do_with("missing", once(3), |s| async move {
            s.http().get_json::<Value>(&format!("{}/e2e/http/missing", origin(&s.env)?)).await
        })
        .await;
    // After a step only `{name, message}` cross Cloudflare's boundary; inside it the error also
    // has its status.
    let missing = missing.err().map(|e| as_json(&e));
    let inside: Value = ctx
        .step
        .do_with("missing-inside", once(0), |s| async move {
            let answer = s.http().get_json::<Value>(&format!("{}/e2e/http/missing", origin(&s.env)?)).await;
            Ok(answer.map_or_else(
                |e| json!({ "error": as_json(&e), "status": e.status(), "final": e.is_non_retryable() }),
                |unexpected| json!({ "unexpected": unexpected }),
            ))
        })
        .await?;
    // A 503 is retried: the origin answers 503 to the first request of a key, then 200.
    let key = ctx.event.instance_id.clone();
    let flaky: Value = ctx
        .step
        .do_with("flaky", once(2), move |s| {
            let key = key.clone();
            async move {
                let answer: Value = s.http().get_json(&format!("{}/e2e/http/flaky/{key}", origin(&s.env)?)).await?;
                Ok(json!({ "answer": answer, "attempt": s.attempt }))
            }
        })
        .await?;
    Ok(json!({ "item": item, "echoed": echoed, "missing": missing, "inside": inside, "flaky": flaky }))
}

/// `GET url` as JSON with the Worker's `fetch`: the JS response lives across the `.await`s.
#[cfg(target_arch = "wasm32")]
async fn fetch_json(url: &str) -> Result<Value> {
    let mut response = worker::Fetch::Url(url.parse().map_err(|e| Error::non_retryable(format!("{url}: {e}")))?)
        .send()
        .await
        .map_err(|e| Error::new(format!("GET {url}: {e}")))?;
    let status = response.status_code();
    let body: Value = response.json().await.map_err(|e| Error::new(format!("GET {url}: {e}")))?;
    match status {
        200..=299 => Ok(body),
        _ => Err(Error::non_retryable(format!("GET {url} returned HTTP {status}"))),
    }
}

#[cfg(not(target_arch = "wasm32"))]
async fn fetch_json(url: &str) -> Result<Value> {
    http::Client::new().get_json(url).await
}

/// A KV round trip in workerd (a trail line written, then read back); the trail natively.
async fn remember(env: &Env, run: &str, line: String) -> Result<usize> {
    trail(env, run, line).await?;
    Ok(crate::read_trail(env, run).await?.len())
}

/// Steps and a rollback on the Worker's own APIs; then a failure runs the rollback.
#[workflow]
pub async fn worker_apis(ctx: WorkflowContext<Input>) -> Result<()> {
    let (run, n) = (ctx.params.run.clone(), ctx.params.n);
    let fetched: Value = ctx
        .step
        .do_with("fetch", once(0), move |s| async move {
            fetch_json(&format!("{}/e2e/http/item/{n}", origin(&s.env)?)).await
        })
        .await?;
    let lines: usize = ctx
        .step
        .do_with("kv", once(0), |s| {
            let (run, fetched) = (run.clone(), fetched.clone());
            async move { remember(&s.env, &run, format!("fetched {fetched}")).await }
        })
        .await?;
    let undo_run = run.clone();
    let release = Rollback::new(move |rc: RollbackContext<String>| {
        let run = undo_run.clone();
        async move {
            let answer = fetch_json(&format!("{}/e2e/http/item/{}", origin(&rc.env)?, n + 1)).await?;
            trail(
                &rc.env,
                &run,
                format!("released {} after {}: {answer}", rc.output.unwrap_or_default(), rc.error.name()),
            )
            .await
        }
    });
    ctx.step.do_with_rollback("reserve", None, move |_| async move { Ok(format!("seat {lines}")) }, release).await?;
    ctx.step.do_("fail", |_| async { Err::<(), _>(NonRetryableError::new("no seats after all").into()) }).await
}
