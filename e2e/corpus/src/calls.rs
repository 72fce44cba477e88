//! `ctx.run` in the corpus: workflows that call back into "the Worker".
//! lunora-e2e serves that dispatch endpoint on 127.0.0.1 (`e2e/src/origin.rs`), one per
//! engine, and compares the requests each engine sent (ids, function paths, args) as well as
//! the outcomes. What each function does is decided there, by path:
//!
//! | function | answer |
//! |---|---|
//! | `e2e:echo` | `{"result": {"echo": <args>}}` |
//! | `e2e:unit` | 200 with an empty body |
//! | `e2e:flaky` | 503 on the first request of an id, then a result |
//! | `e2e:missing` | 404 `{"error": {"code": "NOT_FOUND", …}}` |
//! | `e2e:busy` | the 409 `DISPATCH_IN_PROGRESS` decline twice per id, then a result |
//! | `e2e:slow` | no answer for 3 s on the first request of an id (the Workers set a 1 s timeout) |
//! | `e2e:charge`, `e2e:refund` | a result, an empty body |

use lunora_runtime::*;
use serde_json::{json, Value};

use crate::{as_json, Input};

pub const ECHO: FunctionRef<Value, Value> = FunctionRef::new("e2e:echo");
pub const UNIT: FunctionRef<Value, ()> = FunctionRef::new("e2e:unit");
pub const FLAKY: FunctionRef<Input, String> = FunctionRef::new("e2e:flaky");
pub const MISSING: FunctionRef<Input, String> = FunctionRef::new("e2e:missing");
pub const BUSY: FunctionRef<Input, String> = FunctionRef::new("e2e:busy");
pub const SLOW: FunctionRef<Input, String> = FunctionRef::new("e2e:slow");
pub const CHARGE: FunctionRef<Input, String> = FunctionRef::new("e2e:charge");
pub const REFUND: FunctionRef<Input, ()> = FunctionRef::new("e2e:refund");

// The steps' timeouts are long on purpose: the embedded run pushes its virtual clock ahead
// much faster than real time, and a real HTTP exchange must not lose a race against it.

#[step(args = Input, returns = String, retries(limit = 2, delay = "1 second", backoff = "constant"), timeout = "1 hour")]
async fn flaky_call(ctx: StepContext, args: Input) -> Result<String> {
    ctx.run(&FLAKY, args).await
}

#[step(args = Input, returns = String, retries(limit = 1, delay = "1 second", backoff = "constant"), timeout = "1 hour")]
async fn slow_call(ctx: StepContext, args: Input) -> Result<String> {
    ctx.run(&SLOW, args).await
}

#[step(args = Input, returns = String, retries(limit = 3, delay = "1 second", backoff = "constant"), timeout = "1 hour")]
async fn missing_call(ctx: StepContext, args: Input) -> Result<String> {
    ctx.run(&MISSING, args).await
}

#[step(args = Input, returns = String, retries(limit = 0, delay = "1 second"), timeout = "1 hour")]
async fn busy_call(ctx: StepContext, args: Input) -> Result<String> {
    ctx.run(&BUSY, args).await
}

#[step(args = Input, returns = String, retries(limit = 0, delay = "1 second"), timeout = "1 hour", rollback = refund_call)]
async fn charge_call(ctx: StepContext, args: Input) -> Result<String> {
    ctx.run(&CHARGE, args).await
}

async fn refund_call(ctx: StepRollbackContext<Input, String>) -> Result<()> {
    ctx.run(&REFUND, ctx.args.clone()).await
}

/// Body calls: a result, an empty body (unit), another result; ids `#body.1..3`.
#[workflow]
pub async fn dispatch_body(ctx: WorkflowContext<Input>) -> Result<Value> {
    let n = ctx.params.n;
    let first = ctx.run(&ECHO, json!({ "n": n, "text": "grüße & <tags>" })).await?;
    ctx.run(&UNIT, json!(null)).await?;
    let second = ctx.run(&ECHO, json!({ "n": n + 1 })).await?;
    Ok(json!({ "first": first, "second": second }))
}

/// Inside steps a 503 and a request timeout are retried, with the same id.
#[workflow]
pub async fn dispatch_step_retry(ctx: WorkflowContext<Input>) -> Result<Value> {
    let flaky = ctx.run_step(&flaky_call, ctx.params.clone()).await?;
    let slow = ctx.run_step(&slow_call, ctx.params.clone()).await?;
    Ok(json!([flaky, slow]))
}

/// A 404 inside a step is final: one request, then the instance fails.
#[workflow]
pub async fn dispatch_not_found(ctx: WorkflowContext<Input>) -> Result<String> {
    ctx.run_step(&missing_call, ctx.params.clone()).await
}

/// "Already running elsewhere" is waited out (1 s, then 2 s) on the same id.
#[workflow]
pub async fn dispatch_declined(ctx: WorkflowContext<Input>) -> Result<String> {
    ctx.run_step(&busy_call, ctx.params.clone()).await
}

/// A request that outlives `LUNORA_DISPATCH_TIMEOUT` fails with a catchable error.
#[workflow]
pub async fn dispatch_timeout_caught(ctx: WorkflowContext<Input>) -> Result<Value> {
    match ctx.run(&SLOW, ctx.params.clone()).await {
        Ok(answer) => Ok(json!({ "answer": answer })),
        Err(e) => Ok(json!({ "caught": as_json(&e), "code": e.code(), "status": e.status() })),
    }
}

/// A step's rollback dispatches with its own ids (`#step1rollback.1`).
#[workflow]
pub async fn dispatch_rollback(ctx: WorkflowContext<Input>) -> Result<String> {
    let receipt = ctx.run_step(&charge_call, ctx.params.clone()).await?;
    Err(NonRetryableError::new(format!("failed after {receipt}")).into())
}
