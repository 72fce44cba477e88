//! The corpus's `ctx.run` functions in Rust (`crate::calls` names them), served by
//! `lunora_runtime::functions`: by the corpus Worker at `POST /_lunora/scheduler/dispatch` over
//! D1, and natively by lunora-e2e's axum endpoint over SQLite. lunora-e2e runs the dispatch
//! workflows against them as well as against its test origin (`e2e/src/origin.rs`), whose
//! answers they reproduce:
//!
//! | function | answer |
//! |---|---|
//! | `e2e:echo` | `{"echo": <args>}` |
//! | `e2e:unit` | nothing (unit) |
//! | `e2e:flaky` | 503 on the first request of an id, then `"flaky ok"` |
//! | `e2e:missing` | 404 `NOT_FOUND` (final) |
//! | `e2e:slow` | no answer for 1.5 s on the first request of an id, then `"slow done"` |
//! | `e2e:charge`, `e2e:refund` | `"rcpt-1"`, nothing |
//!
//! "The first request of an id" is the functions' own state: how often each ran for a dedup
//! id, in the D1 database's `corpus_attempts` table in a Worker, in [`Attempts`] (in the
//! endpoint's `Env`) natively. `e2e:busy` is not here: the test origin's twice-per-id 409
//! decline is a test control, while the endpoint declines only while another request holds
//! the id's claim, which one caller retrying in sequence never meets.
//!
//! `e2e:slow`'s late first answer reaches nobody (the caller gave up after 1 s), as the test
//! origin's does; it is a 503 rather than a result, because the endpoint keeps a result for
//! the id and would replay it to the retry, where the test origin answers the retry afresh.
//! The retry meanwhile finds the id claimed and waits out the endpoint's decline.

use std::time::Duration;

use lunora_runtime::{Env, FunctionContext, FunctionError, Functions};
use serde_json::{json, Value};

use crate::calls::{CHARGE, ECHO, FLAKY, MISSING, REFUND, SLOW, UNIT};
use crate::Input;

/// How long `e2e:slow` holds its first answer: longer than the corpus's 1 s request timeout,
/// so the caller gives up as it does with the test origin's 3 s. Not 3 s: the retry waits out
/// the endpoint's decline until then, and in the embedded run the virtual clock races ahead of
/// real time meanwhile (about 250 virtual seconds per real one at most), which must stay well
/// within the driver's 10 virtual minutes.
const SLOW_ANSWER: Duration = Duration::from_millis(1500);

/// Every function the corpus's dispatch workflows call.
pub fn functions() -> Functions {
    Functions::new()
        .register(&ECHO, echo)
        .register(&UNIT, unit)
        .register(&FLAKY, flaky)
        .register(&MISSING, missing)
        .register(&SLOW, slow)
        .register(&CHARGE, charge)
        .register(&REFUND, refund)
}

async fn echo(_ctx: FunctionContext, args: Value) -> Result<Value, FunctionError> {
    Ok(json!({ "echo": args }))
}

async fn unit(_ctx: FunctionContext, _args: Value) -> Result<(), FunctionError> {
    Ok(())
}

async fn flaky(ctx: FunctionContext, _args: Input) -> Result<String, FunctionError> {
    match next_attempt(&ctx.env, &ctx.id).await? {
        1 => Err(FunctionError::unavailable("UPSTREAM_BUSY", "upstream busy")),
        _ => Ok("flaky ok".into()),
    }
}

async fn missing(_ctx: FunctionContext, _args: Input) -> Result<String, FunctionError> {
    Err(FunctionError::not_found("NOT_FOUND", "no such function"))
}

async fn slow(ctx: FunctionContext, _args: Input) -> Result<String, FunctionError> {
    if next_attempt(&ctx.env, &ctx.id).await? == 1 {
        sleep(SLOW_ANSWER).await;
        return Err(FunctionError::unavailable("TOO_LATE", "answered after the caller gave up"));
    }
    Ok("slow done".into())
}

async fn charge(_ctx: FunctionContext, _args: Input) -> Result<String, FunctionError> {
    Ok("rcpt-1".into())
}

async fn refund(_ctx: FunctionContext, _args: Input) -> Result<(), FunctionError> {
    Ok(())
}

/// How many times a function ran for each dedup id, natively (put one in the endpoint's `Env`).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Default)]
pub struct Attempts(std::sync::Mutex<std::collections::HashMap<String, u32>>);

/// Counts this run of the function for `id` and returns the count (1 for the first).
#[cfg(not(target_arch = "wasm32"))]
async fn next_attempt(env: &Env, id: &str) -> Result<u32, FunctionError> {
    let attempts = env.get::<std::sync::Arc<Attempts>>().ok_or_else(|| {
        FunctionError::internal("NO_ATTEMPTS", "the endpoint's Env has no corpus::Attempts (add one with Env::with)")
    })?;
    let mut counts = attempts.0.lock().unwrap_or_else(|p| p.into_inner());
    let count = counts.entry(id.to_owned()).or_insert(0);
    *count += 1;
    Ok(*count)
}

#[cfg(not(target_arch = "wasm32"))]
async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Counts this run of the function for `id` in D1 and returns the count (1 for the first).
#[cfg(target_arch = "wasm32")]
async fn next_attempt(env: &Env, id: &str) -> Result<u32, FunctionError> {
    let d1_error = |e: worker::Error| FunctionError::internal("ATTEMPTS_D1", format!("corpus_attempts in D1: {e}"));
    let worker_env = env
        .get::<lunora_runtime::cloudflare::WorkerEnv>()
        .ok_or_else(|| FunctionError::internal("NO_WORKER_ENV", "the function's Env has no Worker env"))?;
    let db = worker_env.0.d1("LUNORA_DISPATCH").map_err(d1_error)?;
    db.exec("CREATE TABLE IF NOT EXISTS corpus_attempts (id TEXT PRIMARY KEY, n INTEGER NOT NULL)")
        .await
        .map_err(d1_error)?;
    let count: Option<u32> = db
        .prepare(
            "INSERT INTO corpus_attempts (id, n) VALUES (?1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1 RETURNING n",
        )
        .bind(&[worker::wasm_bindgen::JsValue::from_str(id)])
        .map_err(d1_error)?
        .first(Some("n"))
        .await
        .map_err(d1_error)?;
    count.ok_or_else(|| FunctionError::internal("ATTEMPTS_D1", "corpus_attempts returned no count"))
}

#[cfg(target_arch = "wasm32")]
async fn sleep(duration: Duration) {
    worker::Delay::from(duration).await;
}
