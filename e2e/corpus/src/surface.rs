//! Cloudflare's current step options and the composition Cloudflare leaves to the user, run on
//! both engines: sensitive outputs, retry delays computed per failure, partial `retries`,
//! sub-second event timeouts, and steps run concurrently (`join` / `try_join`).

use futures_util::future::{join3, try_join3};
use lunora_runtime::*;

use crate::{undo, Input};

/// `#[step(sensitive)]`: redacted wherever an engine shows its output.
#[step(args = Input, returns = String, sensitive)]
async fn issue_token(_ctx: StepContext, args: Input) -> Result<String> {
    Ok(format!("tok-{}", args.n))
}

/// Two sensitive steps (the attribute and `StepConfig::sensitive_output`) whose real outputs
/// the next step combines: its output, and the workflow's, show them.
#[workflow]
pub async fn sensitive_output(ctx: WorkflowContext<Input>) -> Result<String> {
    let token = ctx.run_step(&issue_token, ctx.params.clone()).await?;
    let inline: String = ctx
        .step
        .do_with("inline", StepConfig::new().sensitive_output(), |_| async { Ok("inline-7".to_owned()) })
        .await?;
    ctx.step
        .do_("use", move |_| {
            let both = format!("{token} {inline}");
            async move { Ok(both) }
        })
        .await
}

/// A delay taken from the failure: errors saying `retry in <duration>` are retried after it.
fn delay_from_error(cx: &RetryDelayContext<'_>) -> Result<DurationInput> {
    match cx.error.message().strip_prefix("retry in ") {
        Some(delay) => Ok(DurationInput::from(delay.to_owned())),
        None => Err(Error::new(format!("no delay in {:?} (attempt {})", cx.error.message(), cx.attempt))),
    }
}

/// Says a duration lunora's parser refuses (Cloudflare's would read it as 5 ms).
fn unparsable_delay(_cx: &RetryDelayContext<'_>) -> Result<DurationInput> {
    Ok(DurationInput::from("5 mins"))
}

#[step(args = Input, returns = u32, retries(limit = 3, delay = delay_from_error, backoff = "constant"))]
async fn rate_limited(ctx: StepContext, _args: Input) -> Result<u32> {
    match ctx.attempt {
        1 => Err(Error::new("retry in 1 second")),
        2 => Err(Error::new("retry in 300 ms")),
        n => Ok(n),
    }
}

/// `retries(delay = fn)`: two failures whose errors say how long to wait, then success.
#[workflow]
pub async fn dynamic_delay(ctx: WorkflowContext<Input>) -> Result<u32> {
    ctx.run_step(&rate_limited, ctx.params.clone()).await
}

/// The delay function fails: the step ends at once with a `NonRetryableDelayError`.
#[workflow]
pub async fn dynamic_delay_fails(ctx: WorkflowContext<Input>) -> Result<u32> {
    let config = StepConfig::new().retries_with(3, delay_from_error).backoff(Backoff::Constant);
    ctx.step
        .do_with("no-hint", config, |s| async move { Err::<u32, _>(Error::new(format!("down {}", s.attempt))) })
        .await
}

/// The delay function returns no valid duration: the step ends at once, the same way.
#[workflow]
pub async fn dynamic_delay_invalid(ctx: WorkflowContext<Input>) -> Result<u32> {
    let config = StepConfig::new().retries_with(3, unparsable_delay).backoff(Backoff::Constant);
    ctx.step
        .do_with("bad-delay", config, |s| async move { Err::<u32, _>(Error::new(format!("down {}", s.attempt))) })
        .await
}

/// `retries: {limit}` alone (workerd's schema wants `delay` too): lunora completes it from the
/// defaults on both engines, so the step gets exactly `limit + 1` attempts.
#[workflow]
pub async fn partial_retries(ctx: WorkflowContext<Input>) -> Result<u32> {
    let config =
        StepConfig { retries: Some(RetryConfig { limit: Some(0), ..RetryConfig::default() }), ..StepConfig::default() };
    ctx.step.do_with("once", config, |s| async move { Err::<u32, _>(Error::new(format!("down {}", s.attempt))) }).await
}

/// An event wait with a 300 ms timeout (workerd accepts sub-second timeouts) times out.
#[workflow]
pub async fn short_event_timeout(ctx: WorkflowContext<Input>) -> Result<String> {
    match ctx.step.wait_for_event_with_timeout::<serde_json::Value>("brief", "never-sent", "300 ms").await {
        Ok(_) => Err(Error::new("an event nobody sent arrived")),
        Err(e) => Ok(format!("{}: {}", e.name(), e.message())),
    }
}

/// Three steps run concurrently, two of them named alike in different branches: counts follow
/// the order the branches first ask, and every output reaches the body.
#[workflow]
pub async fn parallel_steps(ctx: WorkflowContext<Input>) -> Result<Vec<String>> {
    let step = &ctx.step;
    let (a, b, c): (String, String, String) = try_join3(
        step.do_("fetch", |_| async { Ok("fetch one".to_owned()) }),
        step.do_("fetch", |_| async { Ok("fetch two".to_owned()) }),
        step.do_("other", |_| async { Ok("other".to_owned()) }),
    )
    .await?;
    let joined: String = step
        .do_("join", move |_| {
            let all = format!("{a} + {b} + {c}");
            async move { Ok(all) }
        })
        .await?;
    Ok(vec![joined])
}

/// `join` of three steps with rollbacks where the middle one fails for good: every branch
/// settles, the body fails with the failed one's error, and all three roll back (a failed step
/// too) in reverse order of their start. (`try_join` would drop the branches still running at
/// the first error, so which of them completed would depend on timing.)
#[workflow]
pub async fn parallel_branch_fails(ctx: WorkflowContext<Input>) -> Result<()> {
    let run = ctx.params.run.clone();
    let step = &ctx.step;
    let fails = |_| async { Err::<String, _>(NonRetryableError::new("branch b gave up").into()) };
    let (a, b, c) = join3(
        step.do_with_rollback("a", None, |_| async { Ok("a done".to_owned()) }, undo(&run, "a")),
        step.do_with_rollback("b", None, fails, undo(&run, "b")),
        step.do_with_rollback("c", None, |_| async { Ok("c done".to_owned()) }, undo(&run, "c")),
    )
    .await;
    // Every branch settled; the body fails with the first error, in branch order.
    a?;
    b?;
    c?;
    Ok(())
}

/// The payload of [`GO_TYPED`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Go {
    pub value: u64,
}

/// One declaration for the type string and its payload: the driver sends `{"value": n}` as
/// `go-typed`, natively with the same constant.
pub const GO_TYPED: EventType<Go> = EventType::new("go-typed");

/// Waits for the typed event and doubles its value.
#[workflow]
pub async fn typed_event(ctx: WorkflowContext<Input>) -> Result<u64> {
    let event = ctx.step.wait_for("typed", &GO_TYPED).await?;
    Ok(event.payload.value * 2)
}
