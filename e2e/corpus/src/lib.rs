//! The differential conformance corpus: each workflow exercises one rule of
//! spec/cloudflare-workflows.md. `lunora-e2e` runs every one on the embedded engine and in
//! workerd (`wrangler dev`) and compares status, output, error and step outputs, plus the
//! trail of side effects (rollbacks, restarts) each run leaves.

use lunora_runtime::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub mod lunora_workflows;
mod trail;
#[cfg(target_arch = "wasm32")]
mod worker;

pub use trail::{read_trail, trail};
#[cfg(not(target_arch = "wasm32"))]
pub use trail::Trail;

/// Every corpus workflow takes the run's name, which keys its trail.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Input {
    pub run: String,
    #[serde(default)]
    pub n: u64,
}

fn constant(limit: u32, delay: &str) -> StepConfig {
    StepConfig::new().retries(limit, delay).backoff(Backoff::Constant)
}

fn as_json(error: &Error) -> Value {
    json!({ "name": error.name(), "message": error.message() })
}

/// Three steps feeding each other.
#[workflow]
pub async fn basic_steps(ctx: WorkflowContext<Input>) -> Result<u64> {
    let a: u64 = ctx.step.do_("a", |_| async { Ok(1) }).await?;
    let b: u64 = ctx.step.do_("b", |_| async move { Ok(a + 1) }).await?;
    ctx.step.do_("c", |_| async move { Ok(b * 10) }).await
}

/// Fails twice, succeeds on attempt 3 (constant 1 s delay).
#[workflow]
pub async fn retry_then_ok(ctx: WorkflowContext<Input>) -> Result<u32> {
    ctx.step
        .do_with("flaky", constant(3, "1 second"), |s| async move {
            if s.attempt < 3 {
                return Err(Error::new(format!("flaky attempt {}", s.attempt)));
            }
            Ok(s.attempt)
        })
        .await
}

/// Every attempt fails; the last error fails the instance.
#[workflow]
pub async fn retries_exhausted(ctx: WorkflowContext<Input>) -> Result<u32> {
    ctx.step
        .do_with("always-fails", constant(1, "1 second"), |s| async move {
            Err::<u32, _>(Error::new(format!("always fails (attempt {})", s.attempt)))
        })
        .await
}

/// A NonRetryableError fails at once, with its name and message.
#[workflow]
pub async fn non_retryable_uncaught(ctx: WorkflowContext<Input>) -> Result<u32> {
    ctx.step
        .do_("stop", |_| async { Err::<u32, _>(NonRetryableError::new("stop right there").into()) })
        .await
}

/// A NonRetryableError caught by the body: the workflow goes on.
#[workflow]
pub async fn non_retryable_caught(ctx: WorkflowContext<Input>) -> Result<Value> {
    let caught = ctx.step.do_("stop", |_| async { Err::<u32, _>(NonRetryableError::new("declined").into()) }).await;
    let error = caught.err().map(|e| as_json(&e));
    let after: String = ctx.step.do_("after", |_| async { Ok("went on".to_owned()) }).await?;
    Ok(json!({ "caught": error, "after": after }))
}

/// An exhausted step caught by the body.
#[workflow]
pub async fn error_caught(ctx: WorkflowContext<Input>) -> Result<Value> {
    let caught = ctx
        .step
        .do_with("fails", constant(0, "1 second"), |_| async { Err::<u32, _>(Error::new("no luck")) })
        .await;
    Ok(json!({ "caught": caught.err().map(|e| as_json(&e)) }))
}

/// An attempt that never finishes loses against its 1 s timeout.
#[workflow]
pub async fn step_timeout(ctx: WorkflowContext<Input>) -> Result<Value> {
    let config = constant(0, "1 second").timeout("1 second");
    let caught = ctx.step.do_with("hangs", config, |_| std::future::pending::<Result<u32>>()).await;
    Ok(json!({ "caught": caught.err().map(|e| as_json(&e)) }))
}

/// Three steps with one name: counts 1, 2, 3.
#[workflow]
pub async fn duplicate_names(ctx: WorkflowContext<Input>) -> Result<Vec<u32>> {
    let mut counts = Vec::new();
    for _ in 0..3 {
        counts.push(ctx.step.do_("same", |s| async move { Ok(s.step.count) }).await?);
    }
    Ok(counts)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Go {
    pub value: u64,
}

/// The event is sent before the wait starts: it is kept and delivered.
#[workflow]
pub async fn event_before_wait(ctx: WorkflowContext<Input>) -> Result<u64> {
    ctx.step.sleep("let-it-arrive", "2 seconds").await?;
    let event: Event<Go> = ctx.step.wait_for_event_with_timeout("wait-go", "go", "1 minute").await?;
    Ok(event.payload.value)
}

/// Two waits of one type: FIFO delivery, one event each.
#[workflow]
pub async fn event_fifo(ctx: WorkflowContext<Input>) -> Result<Vec<u64>> {
    let first: Event<Go> = ctx.step.wait_for_event_with_timeout("first", "go", "1 minute").await?;
    let second: Event<Go> = ctx.step.wait_for_event_with_timeout("second", "go", "1 minute").await?;
    Ok(vec![first.payload.value, second.payload.value])
}

/// A wait that times out, caught by the body.
#[workflow]
pub async fn event_timeout_caught(ctx: WorkflowContext<Input>) -> Result<Value> {
    let caught = ctx.step.wait_for_event_with_timeout::<Go>("never", "never-sent", "1 second").await;
    Ok(json!({ "caught": caught.err().map(|e| as_json(&e)) }))
}

/// A rollback handler that leaves `undo <name> (<output>)` on the run's trail.
fn undo(run: &str, name: &'static str) -> Rollback<String> {
    let run = run.to_owned();
    Rollback::new(move |rc: RollbackContext<String>| {
        let run = run.clone();
        async move {
            let output = rc.output.unwrap_or_else(|| "no output".into());
            trail(&rc.env, &run, format!("undo {name} ({output}) after {}", rc.error.name())).await
        }
    })
}

/// Three steps with rollbacks, then an uncaught NonRetryableError: undo c, b, a.
#[workflow]
pub async fn rollback_reverse(ctx: WorkflowContext<Input>) -> Result<()> {
    for name in ["a", "b", "c"] {
        let run = ctx.params.run.clone();
        ctx.step.do_with_rollback(name, None, |_| async move { Ok(format!("{name} done")) }, undo(&run, name)).await?;
    }
    ctx.step.do_("boom", |_| async { Err::<(), _>(NonRetryableError::new("boom").into()) }).await
}

/// A step that exhausts its retries still has its rollback run (without output).
#[workflow]
pub async fn rollback_failed_step(ctx: WorkflowContext<Input>) -> Result<()> {
    let run = &ctx.params.run;
    ctx.step.do_with_rollback("a", None, |_| async { Ok("a done".to_owned()) }, undo(run, "a")).await?;
    let fails = |_| async { Err::<String, _>(Error::new("b failed")) };
    ctx.step.do_with_rollback("b", Some(constant(0, "1 second")), fails, undo(run, "b")).await?;
    Ok(())
}

/// a, b, c each leave a trail line; the driver restarts it from `b`.
#[workflow]
pub async fn restart_from(ctx: WorkflowContext<Input>) -> Result<u64> {
    let mut total = 0;
    for (name, value) in [("a", 1u64), ("b", 10), ("c", 100)] {
        let run = ctx.params.run.clone();
        total += ctx
            .step
            .do_(name, move |s| {
                let run = run.clone();
                async move {
                    trail(&s.env, &run, format!("ran {name}")).await?;
                    Ok(value)
                }
            })
            .await?;
    }
    Ok(total)
}

/// A step, a sleep, a step.
#[workflow]
pub async fn sleep_between(ctx: WorkflowContext<Input>) -> Result<String> {
    let before: String = ctx.step.do_("before", |_| async { Ok("before".to_owned()) }).await?;
    ctx.step.sleep("nap", "1 second").await?;
    let after: String = ctx.step.do_("after", |_| async { Ok(format!("{before} and after")) }).await?;
    Ok(after)
}

/// `sleep_until` 1.5 s after creation (the event's timestamp is the same on every replay).
#[workflow]
pub async fn sleep_until_step(ctx: WorkflowContext<Input>) -> Result<String> {
    let at = ctx.event.timestamp.as_millis() + 1_500;
    ctx.step.sleep_until("until", Timestamp::from_millis(at)).await?;
    ctx.step.do_("woke", |_| async { Ok("woke".to_owned()) }).await
}

/// A workflow with no output.
#[workflow]
pub async fn unit_output(ctx: WorkflowContext<Input>) -> Result<()> {
    ctx.step.do_("only", |_| async { Ok(()) }).await
}

/// Params reach the body decoded.
#[workflow]
pub async fn params_echo(ctx: WorkflowContext<Input>) -> Result<Value> {
    let n = ctx.params.n;
    let doubled: u64 = ctx.step.do_("double", move |_| async move { Ok(n * 2) }).await?;
    Ok(json!({ "run": ctx.params.run, "doubled": doubled }))
}

/// A step output that is a nested object, array and null.
#[workflow]
pub async fn structured_output(ctx: WorkflowContext<Input>) -> Result<Value> {
    ctx.step
        .do_("shape", |_| async { Ok(json!({ "list": [1, "two", null, { "deep": true }], "empty": {}, "none": null })) })
        .await
}

/// The completion-time benchmark (`lunora-e2e bench`): 200 steps in sequence. Its plain-JS
/// twin, `Bench200Js`, is in `bench.mjs`. Not part of the conformance table.
#[workflow]
pub async fn bench_200(ctx: WorkflowContext<Input>) -> Result<u64> {
    let mut total = 0u64;
    for i in 0..200u64 {
        total += ctx.step.do_(format!("s{i}"), move |_| async move { Ok(i) }).await?;
    }
    Ok(total)
}
