//! Cloudflare semantics not covered elsewhere: `sleep_until`, disabled sleeps, rollback retries
//! and rollback context, steps refused during rollback, unserialisable values, the step limit
//! across replays, and duration / timeout bounds.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lunora_runtime::local::Modifiers;
use lunora_runtime::local::{RowKind, StepRow, StepState};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;

/// `engine_with`'s virtual start time (2026-01-01T00:00:00Z).
const T0: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn row<'a>(steps: &'a [StepRow], kind: RowKind, name: &str, count: u32) -> &'a StepRow {
    steps
        .iter()
        .find(|s| s.kind == kind && s.name == name && s.count == count)
        .unwrap_or_else(|| panic!("no {kind:?} row {name}-{count} in {steps:#?}"))
}

fn error_of(status: &workflow::RawStatus) -> (String, String) {
    let err = status.error.as_ref().unwrap_or_else(|| panic!("no error in {status:?}"));
    (err.name().to_owned(), err.message().to_owned())
}

/// Lets spawned engine tasks run a little (wall time), for "nothing happens" checks.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Rollback retry delays are slept inside the runner on the virtual clock (the instance is
/// `running`, with no wake time the harness could jump to): advance the clock to each of them
/// by hand until the instance ends. Only short timers (< 1 min) are taken, so the stale 10-min
/// attempt-timeout sleepers left on the clock are never jumped to.
async fn drive_in_runner_delays<W>(t: &TestEngine, inst: &InstanceHandle<W>) -> workflow::RawStatus {
    let deadline = Instant::now() + testing::DEFAULT_WAIT;
    loop {
        let status = inst.status_json().await.unwrap();
        if status.status.is_terminal() {
            return status;
        }
        assert!(Instant::now() < deadline, "instance never ended: {status:?}");
        let now = t.clock().now_ms();
        match t.clock().next_timer() {
            Some(at) if at > now && at - now < 60_000 => t.advance(Duration::from_millis((at - now) as u64)).await,
            _ => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

// ----- sleep_until ---------------------------------------------------------------------------

/// before → sleep_until(params) → after → sleep "tail" 1 hour (a second replay after the wake).
struct Until;

impl Workflow for Until {
    type Params = i64;
    type Output = String;
    const NAME: &'static str = "until";
    const EXPORT_NAME: &'static str = "until";

    async fn run(ctx: WorkflowContext<i64>) -> Result<String> {
        let fx = effects(&ctx.env);
        fx.push("body");
        let fx1 = fx.clone();
        let _: () = ctx
            .step
            .do_("before", move |_| {
                let fx = fx1.clone();
                async move {
                    fx.push("before");
                    Ok(())
                }
            })
            .await?;
        ctx.step.sleep_until("until", Timestamp::from_millis(ctx.params)).await?;
        let fx2 = fx.clone();
        let _: () = ctx
            .step
            .do_("after", move |_| {
                let fx = fx2.clone();
                async move {
                    fx.push("after");
                    Ok(())
                }
            })
            .await?;
        ctx.step.sleep("tail", "1 hour").await?;
        Ok("done".to_owned())
    }
}

#[tokio::test]
async fn sleep_until_a_past_timestamp_completes_at_once() {
    let (t, fx) = engine_with(|b| b.register::<Until>()).await;
    t.modify_instance::<Until>("past", Modifiers::new().disable_sleeps(Some(&["tail"])));
    let inst = t.workflow::<Until>().create(CreateOptions::params(T0 - 5_000).with_id("past")).await.unwrap();
    // No clock movement at all: the past target does not wait.
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), "done");
    assert_eq!(t.clock().now_ms(), T0);
    assert_eq!(fx.all(), ["body", "before", "after"], "no replay was needed");
    let steps = t.steps(&inst).unwrap();
    let sleep = row(&steps, RowKind::Sleep, "until", 1);
    assert_eq!(sleep.state, StepState::Done);
    assert_eq!((sleep.started_at, sleep.ended_at, sleep.wake_at), (T0, Some(T0), None));

    // The epoch itself is just as past.
    t.modify_instance::<Until>("epoch", Modifiers::new().disable_sleeps(Some(&["tail"])));
    let inst = t.workflow::<Until>().create(CreateOptions::params(0).with_id("epoch")).await.unwrap();
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), "done");
}

#[tokio::test]

async fn sleep_until_the_most_distant_past_completes_at_once() {
    let (t, _) = engine_with(|b| b.register::<Until>()).await;
    t.modify_instance::<Until>("min", Modifiers::new().disable_sleeps(Some(&["tail"])));
    let inst = t.workflow::<Until>().create(CreateOptions::params(i64::MIN).with_id("min")).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!((status.status, status.error), (InstanceStatusKind::Complete, None));
}

#[tokio::test]
async fn sleep_until_wakes_exactly_at_its_timestamp_and_stays_done_on_later_replays() {
    let (t, fx) = engine_with(|b| b.register::<Until>()).await;
    let target = T0 + 3 * HOUR + 17;
    let inst = t.workflow::<Until>().create(CreateOptions::params(target)).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let steps = t.steps(&inst).unwrap();
    let sleep = row(&steps, RowKind::Sleep, "until", 1);
    assert_eq!((sleep.state, sleep.wake_at), (StepState::Waiting, Some(target)));

    // One millisecond early: still asleep.
    t.advance(Duration::from_millis((target - T0 - 1) as u64)).await;
    settle().await;
    assert_eq!(inst.status().await.unwrap().status, InstanceStatusKind::Waiting);
    assert_eq!(fx.all(), ["body", "before"]);

    // Exactly on time: the body replays, passes the sleep and parks on "tail".
    t.advance(Duration::from_millis(1)).await;
    t.wait_for_step_result::<_, ()>(&inst, local::StepSelector::name("after")).await.unwrap();
    let steps = t.steps(&inst).unwrap();
    let sleep = row(&steps, RowKind::Sleep, "until", 1);
    assert_eq!((sleep.state, sleep.ended_at, sleep.wake_at), (StepState::Done, Some(target), None));
    assert_eq!(row(&steps, RowKind::Do, "after", 1).started_at, target);

    // The replay after "tail" meets sleep_until again: memoised, its row untouched.
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(status.output.unwrap(), "done");
    assert_eq!(t.clock().now_ms(), target + HOUR);
    assert_eq!(fx.all(), ["body", "before", "body", "after", "body"], "each step ran once, the body three times");
    let steps = t.steps(&inst).unwrap();
    assert_eq!(row(&steps, RowKind::Sleep, "until", 1).ended_at, Some(target));
    assert_eq!(steps.iter().filter(|s| s.kind == RowKind::Sleep).count(), 2, "{steps:#?}");
}

#[tokio::test]
async fn sleep_until_more_than_365_days_away_is_a_fatal_error() {
    let (t, _) = engine_with(|b| b.register::<Until>()).await;
    let inst = t.workflow::<Until>().create(CreateOptions::params(T0 + 366 * DAY)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(
        error_of(&status),
        (
            "WorkflowFatalError".to_owned(),
            "sleepUntil \"until\": 2027-01-02T00:00:00.000Z is more than 365 days away".to_owned()
        )
    );
}

// ----- disable_sleeps --------------------------------------------------------------------------

/// sleep "short" 1 hour → sleep "long" 2 hours → done.
struct TwoNaps;

impl Workflow for TwoNaps {
    type Params = ();
    type Output = String;
    const NAME: &'static str = "two-naps";
    const EXPORT_NAME: &'static str = "twoNaps";

    async fn run(ctx: WorkflowContext<()>) -> Result<String> {
        ctx.step.sleep("short", "1 hour").await?;
        ctx.step.sleep("long", "2 hours").await?;
        Ok("rested".to_owned())
    }
}

#[tokio::test]
async fn disable_sleeps_for_all_sleeps_completes_without_moving_the_clock() {
    let (t, _) = engine_with(|b| b.register::<TwoNaps>()).await;
    t.modify_instance::<TwoNaps>("all", Modifiers::new().disable_sleeps(None));
    let inst = t.workflow::<TwoNaps>().create(CreateOptions::default().with_id("all")).await.unwrap();
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), "rested");
    assert_eq!(t.clock().now_ms(), T0);
    let steps = t.steps(&inst).unwrap();
    for name in ["short", "long"] {
        let s = row(&steps, RowKind::Sleep, name, 1);
        assert_eq!((s.state, s.started_at, s.ended_at), (StepState::Done, T0, Some(T0)), "{name}");
    }
}

#[tokio::test]
async fn disable_sleeps_for_named_sleeps_skips_only_those() {
    let (t, _) = engine_with(|b| b.register::<TwoNaps>()).await;
    t.modify_instance::<TwoNaps>("some", Modifiers::new().disable_sleeps(Some(&["short"])));
    let inst = t.workflow::<TwoNaps>().create(CreateOptions::default().with_id("some")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let steps = t.steps(&inst).unwrap();
    let short = row(&steps, RowKind::Sleep, "short", 1);
    assert_eq!((short.state, short.ended_at), (StepState::Done, Some(T0)));
    let long = row(&steps, RowKind::Sleep, "long", 1);
    assert_eq!((long.state, long.wake_at), (StepState::Waiting, Some(T0 + 2 * HOUR)));

    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.output.unwrap(), "rested");
    assert_eq!(t.clock().now_ms(), T0 + 2 * HOUR, "only the long sleep took time");
    let long = row(&t.steps(&inst).unwrap(), RowKind::Sleep, "long", 1).clone();
    assert_eq!(long.ended_at, Some(T0 + 2 * HOUR));

    // An instance without the modifier sleeps both.
    let plain = t.workflow::<TwoNaps>().create(CreateOptions::default().with_id("plain")).await.unwrap();
    t.run_to_completion(&plain).await.unwrap();
    let steps = t.steps(&plain).unwrap();
    let short = row(&steps, RowKind::Sleep, "short", 1);
    assert_eq!(short.ended_at.unwrap() - short.started_at, HOUR);
}

// ----- rollback retries ------------------------------------------------------------------------

/// "book" (rollback with retries(2, "1 second")) → "explode" (NonRetryable). The rollback
/// handler fails its first `params` calls.
struct RetriedUndo;

impl Workflow for RetriedUndo {
    type Params = u32;
    type Output = ();
    const NAME: &'static str = "retried-undo";
    const EXPORT_NAME: &'static str = "retriedUndo";

    async fn run(ctx: WorkflowContext<u32>) -> Result<()> {
        let fx = effects(&ctx.env);
        let fail_times = ctx.params;
        let fx_rb = fx.clone();
        let rollback = Rollback::new(move |_rc: RollbackContext<String>| {
            let fx = fx_rb.clone();
            async move {
                fx.push("undo");
                let n = fx.count("undo");
                if n as u32 <= fail_times {
                    return Err(Error::new(format!("undo failed {n}")));
                }
                Ok(())
            }
        })
        .config(StepConfig::new().retries(2, "1 second"));
        let _: String =
            ctx.step.do_with_rollback("book", None, |_| async { Ok("booked".to_owned()) }, rollback).await?;
        let _: () = ctx.step.do_("explode", |_| async { Err(NonRetryableError::new("boom").into()) }).await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_rollback_with_its_own_retries_fails_twice_then_succeeds() {
    let (t, fx) = engine_with(|b| b.register::<RetriedUndo>()).await;
    let inst = t.workflow::<RetriedUndo>().create(CreateOptions::params(2)).await.unwrap();
    let status = drive_in_runner_delays(&t, &inst).await;
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(error_of(&status), ("NonRetryableError".to_owned(), "boom".to_owned()));
    assert_eq!(status.rollback, Some(RollbackState { outcome: RollbackOutcome::Complete, error: None }));
    assert_eq!(fx.all(), ["undo", "undo", "undo"]);

    let steps = t.steps(&inst).unwrap();
    let rb = row(&steps, RowKind::Rollback, "book", 1);
    assert_eq!((rb.state, rb.attempts), (StepState::Done, 3));
    let cfg = rb.config.as_ref().unwrap();
    assert_eq!((cfg.retries.limit, cfg.retries.delay_ms, cfg.retries.backoff), (2, 1_000, Backoff::Exponential));
    let starts: Vec<i64> = rb.attempt_log.iter().map(|a| a.start - rb.started_at).collect();
    assert_eq!(starts, [0, 1_000, 3_000], "exponential delays of 1 s then 2 s");
    let errors: Vec<Option<String>> =
        rb.attempt_log.iter().map(|a| a.error.as_ref().map(|e| e.message().to_owned())).collect();
    assert_eq!(errors, [Some("undo failed 1".to_owned()), Some("undo failed 2".to_owned()), None]);
    assert_eq!(rb.attempt_log.iter().map(|a| a.success).collect::<Vec<_>>(), [Some(false), Some(false), Some(true)]);
}

#[tokio::test]
async fn a_rollback_that_always_fails_stops_after_limit_plus_one_attempts() {
    let (t, fx) = engine_with(|b| b.register::<RetriedUndo>()).await;
    let inst = t.workflow::<RetriedUndo>().create(CreateOptions::params(u32::MAX)).await.unwrap();
    let status = drive_in_runner_delays(&t, &inst).await;
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(error_of(&status), ("NonRetryableError".to_owned(), "boom".to_owned()), "the instance error is kept");
    assert_eq!(
        status.rollback,
        Some(RollbackState { outcome: RollbackOutcome::Failed, error: Some(Error::new("undo failed 3")) })
    );
    assert_eq!(fx.count("undo"), 3, "limit 2 → 3 attempts");
    let steps = t.steps(&inst).unwrap();
    let rb = row(&steps, RowKind::Rollback, "book", 1);
    assert_eq!((rb.state, rb.attempts), (StepState::Failed, 3));
    assert_eq!(rb.error, Some(Error::new("undo failed 3")));
}

#[tokio::test]

async fn run_to_completion_jumps_over_rollback_retry_delays() {
    let (t, fx) = engine_with(|b| b.register::<RetriedUndo>()).await;
    let inst = t.workflow::<RetriedUndo>().create(CreateOptions::params(2)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.rollback.unwrap().outcome, RollbackOutcome::Complete);
    assert_eq!(fx.count("undo"), 3);
}

// ----- steps during rollback -------------------------------------------------------------------

/// "reserve" whose rollback calls `do_` / `sleep` / `wait_for_event` (per params) through a
/// captured `ctx.step`; then "explode".
struct StepsInUndo;

impl Workflow for StepsInUndo {
    type Params = String;
    type Output = ();
    const NAME: &'static str = "steps-in-undo";
    const EXPORT_NAME: &'static str = "stepsInUndo";

    async fn run(ctx: WorkflowContext<String>) -> Result<()> {
        let fx = effects(&ctx.env);
        let step = ctx.step.clone();
        let what = ctx.params.clone();
        let fx_rb = fx.clone();
        let rollback = Rollback::new(move |_rc: RollbackContext<u32>| {
            let step = step.clone();
            let what = what.clone();
            let fx = fx_rb.clone();
            async move {
                fx.push("undo started");
                match what.as_str() {
                    "do" => {
                        let fx = fx.clone();
                        let _: u32 = step
                            .do_("nested", move |_| {
                                let fx = fx.clone();
                                async move {
                                    fx.push("nested ran");
                                    Ok(1)
                                }
                            })
                            .await?;
                    }
                    "sleep" => step.sleep("nested-nap", "1 second").await?,
                    _ => {
                        let _: Event<u32> = step.wait_for_event("nested-wait", "never").await?;
                    }
                }
                fx.push("undo finished");
                Ok(())
            }
        });
        let _: u32 = ctx.step.do_with_rollback("reserve", None, |_| async { Ok(7) }, rollback).await?;
        let _: () = ctx.step.do_("explode", |_| async { Err(NonRetryableError::new("boom").into()) }).await?;
        Ok(())
    }
}

#[tokio::test]
async fn steps_called_from_a_rollback_handler_are_refused() {
    let (t, fx) = engine_with(|b| b.register::<StepsInUndo>()).await;
    for what in ["do", "sleep", "wait"] {
        let inst =
            t.workflow::<StepsInUndo>().create(CreateOptions::params(what.to_owned()).with_id(what)).await.unwrap();
        let status = t.run_to_completion(&inst).await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Errored, "{what}");
        assert_eq!(error_of(&status), ("NonRetryableError".to_owned(), "boom".to_owned()), "{what}");
        let rollback = status.rollback.unwrap_or_else(|| panic!("{what}: no rollback"));
        assert_eq!(rollback.outcome, RollbackOutcome::Failed, "{what}");
        let err = rollback.error.unwrap();
        assert_eq!(err.to_string(), "WorkflowFatalError: Cannot execute steps during rollback phase", "{what}");
        let steps = t.steps(&inst).unwrap();
        let rb = row(&steps, RowKind::Rollback, "reserve", 1);
        assert_eq!((rb.state, rb.attempts), (StepState::Failed, 1), "{what}: a fatal error is not retried");
        assert!(!steps.iter().any(|s| s.name.starts_with("nested")), "{what}: no row for the refused step: {steps:#?}");
    }
    assert_eq!(fx.count("undo started"), 3);
    assert_eq!(fx.count("nested ran") + fx.count("undo finished"), 0, "{:?}", fx.all());
}

// ----- unserialisable values -------------------------------------------------------------------

/// "reserve" (with rollback) → "bad" returning a map with tuple keys (or, with params `true`,
/// the same map as the workflow output).
struct Unserialisable;

impl Workflow for Unserialisable {
    type Params = bool;
    type Output = HashMap<(u8, u8), u8>;
    const NAME: &'static str = "unserialisable";
    const EXPORT_NAME: &'static str = "unserialisable";

    async fn run(ctx: WorkflowContext<bool>) -> Result<HashMap<(u8, u8), u8>> {
        let fx = effects(&ctx.env);
        let fx_rb = fx.clone();
        let rollback = Rollback::new(move |_rc: RollbackContext<String>| {
            let fx = fx_rb.clone();
            async move {
                fx.push("undo reserve");
                Ok(())
            }
        });
        let _: String = ctx.step.do_with_rollback("reserve", None, |_| async { Ok("r".to_owned()) }, rollback).await?;
        let map = HashMap::from([((1u8, 2u8), 3u8)]);
        if ctx.params {
            return Ok(map);
        }
        let fx_bad = fx.clone();
        let _: HashMap<(u8, u8), u8> = ctx
            .step
            .do_with("bad", StepConfig::new().retries(3, "1 second"), move |_| {
                let fx = fx_bad.clone();
                let map = map.clone();
                async move {
                    fx.push("bad attempt");
                    Ok(map)
                }
            })
            .await?;
        Ok(HashMap::new())
    }
}

#[tokio::test]
async fn an_unserialisable_step_output_fails_the_instance_without_retry_or_rollback() {
    let (t, fx) = engine_with(|b| b.register::<Unserialisable>()).await;
    let inst = t.workflow::<Unserialisable>().create(CreateOptions::params(false)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(
        error_of(&status),
        (
            "WorkflowFatalError".to_owned(),
            "Step bad-1 returned a value that cannot be serialised: value cannot be serialised: key must be a string"
                .to_owned()
        )
    );
    assert_eq!(status.rollback, None, "no rollback even though reserve registered one");
    assert_eq!(fx.all(), ["bad attempt"], "one attempt, no undo");
    assert_eq!(t.clock().now_ms(), T0, "no retry delay was waited");
}

#[tokio::test]

async fn an_unserialisable_workflow_output_fails_the_instance_without_rollback() {
    let (t, fx) = engine_with(|b| b.register::<Unserialisable>()).await;
    let inst = t.workflow::<Unserialisable>().create(CreateOptions::params(true)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(
        error_of(&status),
        (
            "WorkflowFatalError".to_owned(),
            "the workflow's output cannot be serialised: key must be a string".to_owned()
        )
    );
    assert_eq!(status.rollback, None);
    assert_eq!(fx.count("undo reserve"), 0);
}

// ----- step limit across replays ---------------------------------------------------------------

/// STEP_LIMIT 3: s1, s2, sleep, s3, s4.
struct LimitAcrossReplay;

impl Workflow for LimitAcrossReplay {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "limit-replay";
    const EXPORT_NAME: &'static str = "limitReplay";
    const STEP_LIMIT: Option<u32> = Some(3);

    async fn run(ctx: WorkflowContext<()>) -> Result<()> {
        let fx = effects(&ctx.env);
        for (i, name) in ["s1", "s2", "s3", "s4"].into_iter().enumerate() {
            if i == 2 {
                ctx.step.sleep("nap", "1 minute").await?;
            }
            let fx = fx.clone();
            let _: () = ctx
                .step
                .do_(name, move |_| {
                    let fx = fx.clone();
                    async move {
                        fx.push(name);
                        Ok(())
                    }
                })
                .await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn the_step_limit_counts_replayed_do_calls() {
    let (t, fx) = engine_with(|b| b.register::<LimitAcrossReplay>()).await;
    let inst = t.workflow::<LimitAcrossReplay>().create(CreateOptions::default()).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    assert_eq!(fx.all(), ["s1", "s2"]);
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(
        error_of(&status),
        (
            "WorkflowFatalError".to_owned(),
            "The limit of 3 steps has been reached. Raise limits.steps (at most 25000) or split the work across instances."
                .to_owned()
        )
    );
    assert_eq!(fx.all(), ["s1", "s2", "s3"], "s1, s2 replayed (and counted), s3 is the 3rd call, s4 refused");
    let names: Vec<String> =
        t.steps(&inst).unwrap().iter().filter(|s| s.kind == RowKind::Do).map(|s| s.name.clone()).collect();
    assert_eq!(names, ["s1", "s2", "s3"]);
}

// ----- durations and event timeouts ------------------------------------------------------------

#[tokio::test]
async fn sleep_durations_reject_unknown_units_and_more_than_365_days() {
    let (t, fx) = engine_with(|b| b.register::<Sleeper>()).await;
    let cases = [
        (
            "5 mins",
            "sleep \"nap\": invalid duration \"5 mins\": unknown unit \"mins\"; expected one of ms, millisecond, \
             second, minute, hour, day, week, month, year (singular or plural)",
        ),
        ("366 days", "sleep \"nap\": 31622400000ms exceeds the maximum of 365 days"),
        ("1.01 years", "sleep \"nap\": 31873176000ms exceeds the maximum of 365 days"),
    ];
    for (duration, message) in cases {
        let inst = t.workflow::<Sleeper>().create(CreateOptions::params(duration.to_owned())).await.unwrap();
        let status = t.run_to_completion(&inst).await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Errored, "{duration}");
        assert_eq!(error_of(&status), ("WorkflowFatalError".to_owned(), message.to_owned()), "{duration}");
        assert!(!t.steps(&inst).unwrap().iter().any(|s| s.kind == RowKind::Sleep), "{duration}: no sleep row");
    }
    assert_eq!(fx.count("before"), 3);

    // Exactly 365 days is allowed and takes exactly that long.
    let inst = t.workflow::<Sleeper>().create(CreateOptions::params("365 days".to_owned())).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    let nap = row(&t.steps(&inst).unwrap(), RowKind::Sleep, "nap", 1).clone();
    assert_eq!(nap.ended_at.unwrap() - nap.started_at, 365 * DAY);
}

/// Waits for "go" with the timeout in params.
struct TimedWait;

impl Workflow for TimedWait {
    type Params = String;
    type Output = u32;
    const NAME: &'static str = "timed-wait";
    const EXPORT_NAME: &'static str = "timedWait";

    async fn run(ctx: WorkflowContext<String>) -> Result<u32> {
        let ev: Event<u32> = ctx.step.wait_for_event_with_timeout("w", "go", ctx.params.clone()).await?;
        Ok(ev.payload)
    }
}

#[tokio::test]
async fn event_timeouts_may_be_short_but_at_most_365_days() {
    let (t, _) = engine_with(|b| b.register::<TimedWait>()).await;
    let cases = [
        ("366 days", "waitForEvent \"w\": timeout is 31622400000ms, it must be at most 365 days"),
        (
            "1 sec",
            "waitForEvent \"w\": timeout: invalid duration \"1 sec\": unknown unit \"sec\"; expected one of ms, \
             millisecond, second, minute, hour, day, week, month, year (singular or plural)",
        ),
    ];
    for (timeout, message) in cases {
        let inst = t.workflow::<TimedWait>().create(CreateOptions::params(timeout.to_owned())).await.unwrap();
        let status = t.run_to_completion(&inst).await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Errored, "{timeout}");
        assert_eq!(error_of(&status), ("WorkflowFatalError".to_owned(), message.to_owned()), "{timeout}");
        assert!(t.steps(&inst).unwrap().is_empty(), "{timeout}: no wait row");
    }

    // Sub-second timeouts are accepted, as workerd accepts them, and time out exactly then…
    for (timeout, ms) in [("1 second", 1_000), ("500 ms", 500), ("1 ms", 1), ("0 ms", 0)] {
        let inst = t.workflow::<TimedWait>().create(CreateOptions::params(timeout.to_owned())).await.unwrap();
        let status = t.run_to_completion(&inst).await.unwrap();
        let message = format!("Execution timed out after {ms}ms");
        assert_eq!(error_of(&status), ("WorkflowTimeoutError".to_owned(), message), "{timeout}");
        let w = row(&t.steps(&inst).unwrap(), RowKind::WaitForEvent, "w", 1).clone();
        assert_eq!((w.state, w.ended_at.unwrap() - w.started_at), (StepState::Failed, ms), "{timeout}");
    }

    // …and 365 days waits that long for its event.
    let inst = t.workflow::<TimedWait>().create(CreateOptions::params("365 days".to_owned())).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let w = row(&t.steps(&inst).unwrap(), RowKind::WaitForEvent, "w", 1).clone();
    assert_eq!(w.wake_at, Some(w.started_at + 365 * DAY));
    inst.send_event("go", 9).await.unwrap();
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), 9);
}

// ----- rollback context ------------------------------------------------------------------------

/// "a" (rollback) succeeds; a second "a" (rollback, retries(2, "1 second")) always fails; the
/// body catches that and fails with its own error.
struct UndoContext;

impl Workflow for UndoContext {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "undo-context";
    const EXPORT_NAME: &'static str = "undoContext";

    async fn run(ctx: WorkflowContext<()>) -> Result<()> {
        let fx = effects(&ctx.env);
        let undo = |fx: Effects| {
            Rollback::new(move |rc: RollbackContext<String>| {
                let fx = fx.clone();
                async move {
                    fx.push(format!(
                        "undo {} name={} count={} attempt={} limit={} delay={} output={:?} error={}",
                        rc.ctx.step,
                        rc.ctx.step.name,
                        rc.ctx.step.count,
                        rc.ctx.attempt,
                        rc.ctx.config.retries.limit,
                        rc.ctx.config.retries.delay_ms,
                        rc.output,
                        rc.error
                    ));
                    Ok(())
                }
            })
        };
        let _: String =
            ctx.step.do_with_rollback("a", None, |_| async { Ok("first".to_owned()) }, undo(fx.clone())).await?;
        let second: Result<String> = ctx
            .step
            .do_with_rollback(
                "a",
                Some(StepConfig::new().retries(2, "1 second")),
                |s| async move { Err(Error::new(format!("flaky {}", s.attempt))) },
                undo(fx.clone()),
            )
            .await;
        let err = second.unwrap_err();
        Err(Error::named("OrderError", format!("gave up after {}", err.message())))
    }
}

#[tokio::test]
async fn the_rollback_context_carries_the_workflow_error_the_step_and_its_output() {
    let (t, fx) = engine_with(|b| b.register::<UndoContext>()).await;
    let inst = t.workflow::<UndoContext>().create(CreateOptions::default()).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(error_of(&status), ("OrderError".to_owned(), "gave up after flaky 3".to_owned()));
    assert_eq!(status.rollback, Some(RollbackState { outcome: RollbackOutcome::Complete, error: None }));
    assert_eq!(
        fx.all(),
        [
            "undo a-2 name=a count=2 attempt=3 limit=2 delay=1000 output=None error=OrderError: gave up after flaky 3",
            "undo a-1 name=a count=1 attempt=1 limit=5 delay=10000 output=Some(\"first\") error=OrderError: gave up after flaky 3",
        ]
    );
    let steps = t.steps(&inst).unwrap();
    let second = row(&steps, RowKind::Do, "a", 2);
    assert_eq!((second.state, second.attempts), (StepState::Failed, 3));
    assert_eq!(row(&steps, RowKind::Rollback, "a", 2).state, StepState::Done);
    assert_eq!(row(&steps, RowKind::Rollback, "a", 1).state, StepState::Done);
}

// ----- rollback timeline -----------------------------------------------------------------------

#[tokio::test]

async fn the_step_timeline_lists_rollbacks_in_the_order_they_ran() {
    let (t, fx) = engine_with(|b| b.register::<SagaFlow>()).await;
    let inst = t.workflow::<SagaFlow>().create(CreateOptions::params(Saga::default())).await.unwrap();
    t.run_to_completion(&inst).await.unwrap();
    let ran: Vec<String> = fx
        .all()
        .into_iter()
        .filter(|e| e.starts_with("undo"))
        .map(|e| e[5..].split('-').next().unwrap().to_owned())
        .collect();
    assert_eq!(ran, ["ship", "charge", "reserve"]);
    let listed: Vec<String> =
        t.steps(&inst).unwrap().into_iter().filter(|s| s.kind == RowKind::Rollback).map(|s| s.name).collect();
    assert_eq!(listed, ran);
}

/// "first" (rollback) → try_join!("slow" (rollback, never finishes), "fail" (NonRetryable)).
struct InFlightUndo;

impl Workflow for InFlightUndo {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "in-flight-undo";
    const EXPORT_NAME: &'static str = "inFlightUndo";

    async fn run(ctx: WorkflowContext<()>) -> Result<()> {
        let fx = effects(&ctx.env);
        let undo = |fx: Effects| {
            Rollback::new(move |rc: RollbackContext<String>| {
                let fx = fx.clone();
                async move {
                    fx.push(format!(
                        "undo {} attempt={} output={:?} error={}",
                        rc.ctx.step, rc.ctx.attempt, rc.output, rc.error
                    ));
                    Ok(())
                }
            })
        };
        let _: String =
            ctx.step.do_with_rollback("first", None, |_| async { Ok("one".to_owned()) }, undo(fx.clone())).await?;
        let fx_slow = fx.clone();
        let slow = ctx.step.do_with_rollback(
            "slow",
            None,
            move |_| {
                let fx = fx_slow.clone();
                async move {
                    fx.push("slow started");
                    std::future::pending::<()>().await;
                    Ok("never".to_owned())
                }
            },
            undo(fx.clone()),
        );
        let fail = ctx.step.do_("fail", |_| async { Err::<String, _>(NonRetryableError::new("nope").into()) });
        tokio::try_join!(slow, fail)?;
        Ok(())
    }
}

#[tokio::test]
async fn a_step_still_in_flight_when_the_workflow_fails_is_rolled_back_without_output() {
    let (t, fx) = engine_with(|b| b.register::<InFlightUndo>()).await;
    let inst = t.workflow::<InFlightUndo>().create(CreateOptions::default()).await.unwrap();
    let status = t.wait_for_status(&inst, InstanceStatusKind::Errored).await.unwrap();
    assert_eq!(error_of(&status), ("NonRetryableError".to_owned(), "nope".to_owned()));
    assert_eq!(status.rollback, Some(RollbackState { outcome: RollbackOutcome::Complete, error: None }));
    assert_eq!(
        fx.all(),
        [
            "slow started",
            "undo slow-1 attempt=1 output=None error=NonRetryableError: nope",
            "undo first-1 attempt=1 output=Some(\"one\") error=NonRetryableError: nope",
        ]
    );
}

/// "book" whose rollback hangs, with rollbackConfig {retries: 1 × 1 s constant, timeout 2 s}.
struct HangingUndo;

impl Workflow for HangingUndo {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "hanging-undo";
    const EXPORT_NAME: &'static str = "hangingUndo";

    async fn run(ctx: WorkflowContext<()>) -> Result<()> {
        let fx = effects(&ctx.env);
        let rollback = Rollback::new(move |_rc: RollbackContext<()>| {
            let fx = fx.clone();
            async move {
                fx.push("undo");
                std::future::pending::<()>().await;
                Ok(())
            }
        })
        .config(StepConfig::new().retries(1, "1 second").backoff(Backoff::Constant).timeout("2 seconds"));
        ctx.step.do_with_rollback("book", None, |_| async { Ok(()) }, rollback).await?;
        ctx.step.do_("explode", |_| async { Err::<(), _>(NonRetryableError::new("boom").into()) }).await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_rollback_attempt_races_its_own_timeout() {
    let (t, fx) = engine_with(|b| b.register::<HangingUndo>()).await;
    let inst = t.workflow::<HangingUndo>().create(CreateOptions::default()).await.unwrap();
    let status = drive_in_runner_delays(&t, &inst).await;
    let timeout = Error::named("WorkflowTimeoutError", "Execution timed out after 2000ms");
    assert_eq!(status.rollback, Some(RollbackState { outcome: RollbackOutcome::Failed, error: Some(timeout.clone()) }));
    assert_eq!(fx.count("undo"), 2);
    let rb = row(&t.steps(&inst).unwrap(), RowKind::Rollback, "book", 1).clone();
    assert_eq!((rb.state, rb.attempts), (StepState::Failed, 2));
    let spans: Vec<(i64, i64)> =
        rb.attempt_log.iter().map(|a| (a.start - rb.started_at, a.end.unwrap() - rb.started_at)).collect();
    assert_eq!(spans, [(0, 2_000), (3_000, 5_000)], "2 s timeout, 1 s delay, 2 s timeout");
    assert!(rb.attempt_log.iter().all(|a| a.error.as_ref() == Some(&timeout)));
}

#[tokio::test]

async fn terminate_during_a_rollback_retry_delay_returns_promptly() {
    let (t, _) = engine_with(|b| b.register::<RetriedUndo>()).await;
    let inst = t.workflow::<RetriedUndo>().create(CreateOptions::params(u32::MAX)).await.unwrap();
    // Wait until the first rollback attempt failed: the runner now sleeps the 1 s retry delay.
    let deadline = Instant::now() + testing::DEFAULT_WAIT;
    loop {
        let steps = t.steps(&inst).unwrap();
        if steps.iter().any(|s| s.kind == RowKind::Rollback && s.attempt_log.first().is_some_and(|a| a.end.is_some())) {
            break;
        }
        assert!(Instant::now() < deadline, "rollback never started: {steps:#?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let handle = inst.clone();
    let mut terminate = tokio::spawn(async move { handle.terminate().await });
    let finished = tokio::time::timeout(Duration::from_secs(2), &mut terminate).await;
    // Let the chain end either way, so nothing is left hanging.
    drive_in_runner_delays(&t, &inst).await;
    let result = match finished {
        Ok(joined) => joined.unwrap(),
        Err(_) => panic!("terminate() was still blocked after 2 s; it then returned {:?}", terminate.await.unwrap()),
    };
    result.unwrap();
    assert_eq!(inst.status().await.unwrap().status, InstanceStatusKind::Terminated);
}

// ----- recovery ---------------------------------------------------------------------------------

#[tokio::test]

async fn an_event_accepted_just_before_a_crash_is_delivered_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    // The dropped engine lets go of the journal shortly after its -wal is gone.
    let open = || {
        TestEngine::builder()
            .path(&db)
            .start_time(T0)
            .wait_for_journal(Duration::from_secs(5))
            .register::<TimedWait>()
            .open()
    };
    let t = open().await.unwrap();
    let inst = t.workflow::<TimedWait>().create(CreateOptions::params("1 hour".to_owned()).with_id("e")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    drop(inst);
    drop(t);
    // What send_event's first commit leaves if the process dies before its second one.
    let wal = format!("{}-wal", db.display());
    for _ in 0..500 {
        if !std::path::Path::new(&wal).exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO events (workflow, instance, type, payload, timestamp) VALUES ('timed-wait', 'e', 'go', '5', ?1)",
            [T0],
        )
        .unwrap();

    let t = open().await.unwrap();
    let inst = t.workflow::<TimedWait>().get("e").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !inst.status().await.unwrap().status.is_terminal() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = inst.status().await.unwrap();
    assert_eq!((status.status, status.output), (InstanceStatusKind::Complete, Some(5)), "without moving the clock");
}

// ----- a rollback handler the code no longer registers -----------------------------------

/// Whether `Forgetful` still declares the rollback of "a" (flipped by the test between runs).
#[derive(Clone, Default)]
struct KeepsHandler(Arc<AtomicBool>);

/// "a" (with a rollback only while `KeepsHandler` is set), "b" (always with one), a 1-hour
/// sleep, then an uncaught failure.
struct Forgetful;

impl Workflow for Forgetful {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "forgetful";
    const EXPORT_NAME: &'static str = "forgetful";

    async fn run(ctx: WorkflowContext<()>) -> Result<()> {
        let fx = effects(&ctx.env);
        let keeps = ctx.env.get::<KeepsHandler>().expect("tests put KeepsHandler in the env").0.load(SeqCst);
        let undo = |name: &'static str| {
            let fx = fx.clone();
            Rollback::new(move |_: RollbackContext<String>| {
                let fx = fx.clone();
                async move {
                    fx.push(format!("undo {name}"));
                    Ok(())
                }
            })
        };
        let a = |_| async { Ok("a".to_owned()) };
        let _: String = match keeps {
            true => ctx.step.do_with_rollback("a", None, a, undo("a")).await?,
            false => ctx.step.do_("a", a).await?,
        };
        let _: String = ctx.step.do_with_rollback("b", None, |_| async { Ok("b".to_owned()) }, undo("b")).await?;
        ctx.step.sleep("nap", "1 hour").await?;
        Err(NonRetryableError::new("give up").into())
    }
}

#[tokio::test]
async fn a_rollback_the_resumed_code_no_longer_registers_fails_the_chain_as_in_workerd() {
    let keeps = KeepsHandler::default();
    keeps.0.store(true, SeqCst);
    let fx = Effects::default();
    let env = Env::new().with(fx.clone()).with(keeps.clone());
    let (t, _) = engine_with(|b| b.register::<Forgetful>().env(env)).await;
    let inst = t.workflow::<Forgetful>().create(CreateOptions::params(())).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    // The instance resumes after its sleep with code that registers no rollback for "a".
    keeps.0.store(false, SeqCst);
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    let missing = Error::named("RollbackMissing", "Rollback function not available in registry");
    assert_eq!(status.rollback, Some(RollbackState { outcome: RollbackOutcome::Failed, error: Some(missing.clone()) }));
    assert_eq!(fx.all(), ["undo b"], "b, started later, rolled back first; then the chain stops at a");
    let steps = t.steps(&inst).unwrap();
    let rb = row(&steps, RowKind::Rollback, "a", 1);
    assert_eq!((rb.state, rb.error.clone()), (StepState::Failed, Some(missing)));
    assert_eq!(row(&steps, RowKind::Rollback, "b", 1).state, StepState::Done);
}
