//! Replay: histories recorded by the embedded engine (through `Engine::history`) replayed
//! against the same code and against changed code. Compatible histories at every kind of
//! waiting point name the next step; each kind of change names the first divergence; step
//! bodies, rollback handlers and `ctx.run` are never called.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lunora_runtime::history::{History, RecordKind};
use lunora_runtime::local::StepRow;
use lunora_runtime::replay::{replay, Continuation, ReplayReport, Replayer};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};

const T0: i64 = 1_767_225_600_000;
const DAY: i64 = 24 * 3_600_000;

/// Counts the step bodies and rollback handlers called (through `ctx.env`).
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

fn called(env: &Env) {
    if let Some(calls) = env.get::<Calls>() {
        calls.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Params {
    #[serde(default)]
    charge_failures: u32,
}

/// The order workflow as deployed: load → sleep 30 days → charge (retried) → wait for the
/// shipment → done. Every variant below is one change to it.
macro_rules! orders {
    ($ty:ident, |$ctx:ident| $body:block) => {
        struct $ty;
        impl Workflow for $ty {
            type Params = Params;
            type Output = String;
            const NAME: &'static str = "orders";
            const EXPORT_NAME: &'static str = "orders";
            async fn run($ctx: WorkflowContext<Params>) -> Result<String> $body
        }
    };
}

fn retries() -> StepConfig {
    StepConfig::default().retries(3, "1 hour")
}

async fn load(ctx: &WorkflowContext<Params>) -> Result<u32> {
    ctx.step
        .do_("load", |c| async move {
            called(&c.env);
            Ok(7u32)
        })
        .await
}

async fn charge(ctx: &WorkflowContext<Params>, name: &str) -> Result<String> {
    let failures = ctx.params.charge_failures;
    ctx.step
        .do_with(name, retries(), move |c| async move {
            called(&c.env);
            if c.attempt <= failures {
                return Err(Error::new(format!("gateway down (attempt {})", c.attempt)));
            }
            Ok("rcpt-1".to_owned())
        })
        .await
}

async fn ship(ctx: &WorkflowContext<Params>) -> Result<String> {
    let event: Event<String> = ctx.step.wait_for_event("ship", "shipped").await?;
    Ok(event.payload)
}

orders!(Deployed, |ctx| {
    let n = load(&ctx).await?;
    ctx.step.sleep("cool-off", "30 days").await?;
    let receipt = charge(&ctx, "charge").await?;
    let tracking = ship(&ctx).await?;
    Ok(format!("{n} {receipt} {tracking}"))
});

orders!(Renamed, |ctx| {
    load(&ctx).await?;
    ctx.step.sleep("cool-off", "30 days").await?;
    charge(&ctx, "charge-card").await?;
    ship(&ctx).await
});

orders!(Reordered, |ctx| {
    load(&ctx).await?;
    charge(&ctx, "charge").await?;
    ctx.step.sleep("cool-off", "30 days").await?;
    ship(&ctx).await
});

orders!(Removed, |ctx| {
    ctx.step.sleep("cool-off", "30 days").await?;
    charge(&ctx, "charge").await?;
    ship(&ctx).await
});

orders!(AddedInTheMiddle, |ctx| {
    load(&ctx).await?;
    ctx.step.do_("audit", |_| async { Ok(()) }).await?;
    ctx.step.sleep("cool-off", "30 days").await?;
    charge(&ctx, "charge").await?;
    ship(&ctx).await
});

orders!(ChangedKind, |ctx| {
    load(&ctx).await?;
    ctx.step.do_("cool-off", |_| async { Ok(()) }).await?;
    charge(&ctx, "charge").await?;
    ship(&ctx).await
});

orders!(OutputTypeChanged, |ctx| {
    let loaded: String = ctx.step.do_("load", |_| async { Ok("seven".to_owned()) }).await?;
    ctx.step.sleep("cool-off", "30 days").await?;
    charge(&ctx, "charge").await?;
    Ok(loaded)
});

orders!(EndsEarly, |ctx| {
    let n = load(&ctx).await?;
    Ok(n.to_string())
});

/// Records `W` until `done` holds for its steps (and the instance has settled), then returns
/// the history; the engine's step bodies count in `calls`.
async fn record<W: Workflow<Params = Params>>(
    params: Params,
    pause: bool,
    done: impl Fn(&[StepRow]) -> bool,
) -> (History, Calls) {
    let calls = Calls::default();
    let t =
        TestEngine::builder().register::<W>().env(Env::new().with(calls.clone())).start_time(T0).open().await.unwrap();
    let instance = t.workflow::<W>().create(CreateOptions::params(params).with_id("o-1")).await.unwrap();
    t.run_until(&instance, "the recording point", |_, steps| done(steps)).await.unwrap();
    if pause {
        instance.pause().await.unwrap();
        t.wait_for_status(&instance, InstanceStatusKind::Paused).await.unwrap();
    }
    let history = t.engine().history(W::NAME, "o-1").unwrap();
    (history, calls)
}

fn has(steps: &[StepRow], name: &str) -> bool {
    steps.iter().any(|s| s.name == name)
}

/// Replays with a fresh body counter and checks no body ran.
fn replay_counting<W: Workflow>(history: &History) -> ReplayReport {
    let calls = Calls::default();
    let report = Replayer::new().register::<W>().env(Env::new().with(calls.clone())).replay(history).unwrap();
    assert_eq!(calls.0.load(Ordering::SeqCst), 0, "replay called a step body: {report}");
    report
}

async fn waiting_for_shipment() -> History {
    record::<Deployed>(Params::default(), false, |s| has(s, "ship")).await.0
}

fn divergence<W: Workflow>(history: &History) -> String {
    let report = replay_counting::<W>(history);
    match &report.outcome {
        Err(d) => d.to_string(),
        Ok(next) => panic!("expected a divergence, the replay was compatible: {next}"),
    }
}

// ----- compatible histories at every waiting point -----------------------------------------

#[tokio::test]
async fn sleeping_instance_resumes_at_its_sleep() {
    let (history, _) = record::<Deployed>(Params::default(), false, |s| has(s, "cool-off")).await;
    let report = replay_counting::<Deployed>(&history);
    assert_eq!(
        report.to_string(),
        "instance \"o-1\" of orders: compatible; next step #2 sleep \"cool-off\" (count 1) (recorded waiting, \
         wakes at 2026-01-31T00:00:00.000Z)"
    );
    assert_eq!(report.steps_replayed, 1);
}

#[tokio::test]
async fn instance_between_retries_resumes_at_the_retried_step() {
    let (history, calls) = record::<Deployed>(Params { charge_failures: 1 }, false, |s| {
        s.iter().any(|r| r.name == "charge" && r.attempts == 1 && !r.state.is_final())
    })
    .await;
    assert_eq!(calls.0.load(Ordering::SeqCst), 2, "the recording ran load and one charge attempt");
    let report = replay_counting::<Deployed>(&history);
    let Ok(Continuation::Steps(next)) = &report.outcome else { panic!("{report}") };
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].to_string(),
        "#3 do \"charge\" (count 1) (recorded waiting after 1 attempt, wakes at 2026-01-31T01:00:00.000Z)"
    );
}

#[tokio::test]
async fn instance_waiting_for_an_event_resumes_at_the_wait_and_a_30_day_history_takes_no_time() {
    let history = waiting_for_shipment().await;
    let report = replay_counting::<Deployed>(&history);
    assert!(report.to_string().ends_with("compatible; next step #4 waitForEvent \"ship\" (count 1) (recorded waiting, wakes at 2026-02-01T00:00:00.000Z)"), "{report}");
    assert_eq!(report.steps_replayed, 3);
    // The replay's clock followed the history through the 30-day sleep and the charge.
    assert_eq!(report.virtual_time, Some(T0 + 30 * DAY));
}

#[tokio::test]
async fn paused_instance_resumes_where_it_stopped() {
    let (history, _) = record::<Deployed>(Params::default(), true, |s| has(s, "ship")).await;
    assert_eq!(history.status, "paused");
    let report = replay_counting::<Deployed>(&history);
    assert!(
        report
            .to_string()
            .ends_with("(count 1) (recorded waiting, wakes at 2026-02-01T00:00:00.000Z) once the instance is resumed"),
        "{report}"
    );
}

#[tokio::test]
async fn a_delivered_event_and_a_completed_instance_replay_to_completion() {
    let calls = Calls::default();
    let t =
        TestEngine::builder().register::<Deployed>().env(Env::new().with(calls)).start_time(T0).open().await.unwrap();
    let instance =
        t.workflow::<Deployed>().create(CreateOptions::params(Params::default()).with_id("o-1")).await.unwrap();
    t.run_until(&instance, "the wait", |_, s| has(s, "ship")).await.unwrap();
    instance.send_event("shipped", serde_json::json!("1Z")).await.unwrap();
    t.wait_for_status(&instance, InstanceStatusKind::Complete).await.unwrap();
    let history = t.engine().history("orders", "o-1").unwrap();
    let report = replay_counting::<Deployed>(&history);
    assert_eq!(report.outcome, Ok(Continuation::Completes(serde_json::json!("7 rcpt-1 1Z"))));
    // The same history against code that would fail at the end: the outcomes differ.
    orders!(FailsAtTheEnd, |ctx| {
        load(&ctx).await?;
        ctx.step.sleep("cool-off", "30 days").await?;
        charge(&ctx, "charge").await?;
        ship(&ctx).await?;
        Err(Error::new("new validation"))
    });
    assert_eq!(
        divergence::<FailsAtTheEnd>(&history),
        "the history's instance ended complete, the code failed (Error: new validation)"
    );
}

// ----- each kind of change, its message ------------------------------------------------------

#[tokio::test]
async fn a_renamed_step_is_named_with_both_names() {
    assert_eq!(
        divergence::<Renamed>(&waiting_for_shipment().await),
        "step #3: the history recorded do \"charge\" (count 1), the code asked for do \"charge-card\" (count 1)"
    );
}

#[tokio::test]
async fn reordered_removed_added_and_rekinded_steps_are_caught_at_the_first_difference() {
    let history = waiting_for_shipment().await;
    assert_eq!(
        divergence::<Reordered>(&history),
        "step #2: the history recorded sleep \"cool-off\" (count 1), the code asked for do \"charge\" (count 1)"
    );
    assert_eq!(
        divergence::<Removed>(&history),
        "step #1: the history recorded do \"load\" (count 1), the code asked for sleep \"cool-off\" (count 1)"
    );
    assert_eq!(
        divergence::<AddedInTheMiddle>(&history),
        "step #2: the history recorded sleep \"cool-off\" (count 1), the code asked for do \"audit\" (count 1)"
    );
    assert_eq!(
        divergence::<ChangedKind>(&history),
        "step #2: the history recorded sleep \"cool-off\" (count 1), the code asked for do \"cool-off\" (count 1)"
    );
}

#[tokio::test]
async fn an_output_that_no_longer_decodes_names_the_step_and_the_serde_error() {
    assert_eq!(
        divergence::<OutputTypeChanged>(&waiting_for_shipment().await),
        "step #1: the recorded output of do \"load\" (count 1) no longer decodes into the code's type: \
         invalid type: integer `7`, expected a string"
    );
}

#[tokio::test]
async fn code_that_ends_before_the_history_is_named() {
    assert_eq!(
        divergence::<EndsEarly>(&waiting_for_shipment().await),
        "the code completed before the history ended: it recorded 3 more steps, from #2 sleep \"cool-off\" (count 1)"
    );
}

/// Counts are allocated when a step is called: a step future built and dropped unpolled still
/// takes a count, so removing it shifts the counts of the later steps of that name.
#[tokio::test]
async fn a_shifted_count_of_a_repeated_name_is_caught() {
    struct WithUnusedCall;
    impl Workflow for WithUnusedCall {
        type Params = ();
        type Output = ();
        const NAME: &'static str = "items";
        const EXPORT_NAME: &'static str = "items";
        async fn run(ctx: WorkflowContext<()>) -> Result<()> {
            let unused = ctx.step.do_("item", |_| async { Ok(1u8) });
            drop(unused);
            let _: u8 = ctx.step.do_("item", |_| async { Ok(2u8) }).await?;
            ctx.step.sleep("rest", "1 day").await
        }
    }
    struct WithoutIt;
    impl Workflow for WithoutIt {
        type Params = ();
        type Output = ();
        const NAME: &'static str = "items";
        const EXPORT_NAME: &'static str = "items";
        async fn run(ctx: WorkflowContext<()>) -> Result<()> {
            let _: u8 = ctx.step.do_("item", |_| async { Ok(2u8) }).await?;
            ctx.step.sleep("rest", "1 day").await
        }
    }
    let t = TestEngine::builder().register::<WithUnusedCall>().start_time(T0).open().await.unwrap();
    let instance = t.workflow::<WithUnusedCall>().create(CreateOptions::default().with_id("i-1")).await.unwrap();
    t.run_until(&instance, "the rest", |_, s| has(s, "rest")).await.unwrap();
    let history = t.engine().history("items", "i-1").unwrap();
    assert!(replay::<WithUnusedCall>(&history).unwrap().is_compatible());
    let report = replay::<WithoutIt>(&history).unwrap();
    assert_eq!(
        report.outcome.unwrap_err().to_string(),
        "step #1: the history recorded do \"item\" (count 2), the code asked for do \"item\" (count 1)"
    );
}

// ----- rollbacks, ctx.run --------------------------------------------------------------------

macro_rules! reserving {
    ($ty:ident, $with_rollback:expr) => {
        struct $ty;
        impl Workflow for $ty {
            type Params = ();
            type Output = ();
            const NAME: &'static str = "reserving";
            const EXPORT_NAME: &'static str = "reserving";
            async fn run(ctx: WorkflowContext<()>) -> Result<()> {
                let body = |c: StepContext| async move {
                    called(&c.env);
                    Ok("rsv-1".to_owned())
                };
                let _: String = if $with_rollback {
                    let release = Rollback::new(|rc: RollbackContext<String>| async move {
                        called(&rc.env);
                        Ok(())
                    });
                    ctx.step.do_with_rollback("reserve", None, body, release).await?
                } else {
                    ctx.step.do_("reserve", body).await?
                };
                ctx.step.do_("charge", |_| async { Err::<(), _>(NonRetryableError::new("declined").into()) }).await
            }
        }
    };
}

reserving!(WithRelease, true);
reserving!(WithoutRelease, false);

#[tokio::test]
async fn rollbacks_replay_without_running_their_handlers() {
    let calls = Calls::default();
    let t = TestEngine::builder()
        .register::<WithRelease>()
        .env(Env::new().with(calls.clone()))
        .start_time(T0)
        .open()
        .await
        .unwrap();
    let instance = t.workflow::<WithRelease>().create(CreateOptions::default().with_id("r-1")).await.unwrap();
    t.run_to_completion(&instance).await.unwrap();
    assert_eq!(calls.0.load(Ordering::SeqCst), 2, "reserve and its rollback ran once each");
    let history = t.engine().history("reserving", "r-1").unwrap();
    assert_eq!(history.steps.last().map(|s| s.kind.clone()), Some(RecordKind::Rollback));

    let report = replay_counting::<WithRelease>(&history);
    assert_eq!(
        report.outcome.as_ref().map(ToString::to_string),
        Ok("the code fails (NonRetryableError: declined)".into())
    );
    assert_eq!(
        divergence::<WithoutRelease>(&history),
        "step #3: the history recorded the rollback of do \"reserve\" (count 1), the code registers no rollback for it"
    );

    // Taken before the rollback ran: the rollback is what comes next.
    let mut before = history.clone();
    before.steps.pop();
    before.status = "running".into();
    let report = replay_counting::<WithRelease>(&before);
    assert_eq!(
        report.outcome.map(|c| c.to_string()),
        Ok("the code fails (NonRetryableError: declined); the rollback of do \"reserve\" (count 1) runs next".into())
    );
    // An instance that already ended runs no rollback any more (a REST timeline may omit them).
    before.status = "errored".into();
    let report = replay_counting::<WithRelease>(&before);
    assert_eq!(report.outcome.map(|c| c.to_string()), Ok("the code fails (NonRetryableError: declined)".into()));
}

#[test]
fn ctx_run_in_the_body_is_never_dispatched() {
    const NOTIFY: FunctionRef<String, ()> = FunctionRef::new("orders:notify");
    struct Notifies;
    impl Workflow for Notifies {
        type Params = ();
        type Output = ();
        const NAME: &'static str = "notifies";
        const EXPORT_NAME: &'static str = "notifies";
        async fn run(ctx: WorkflowContext<()>) -> Result<()> {
            let _: u8 = ctx.step.do_("first", |_| async { Ok(1u8) }).await?;
            ctx.run(&NOTIFY, "hello".into()).await?;
            ctx.step.do_("second", |_| async { Ok(()) }).await
        }
    }
    let history = History::parse(
        r#"{"format": "lunora-history", "version": 1, "workflow": "notifies", "instance_id": "n-1",
            "status": "running", "params": null,
            "steps": [{"kind": "do", "name": "first", "count": 1, "state": "done", "output": 1}]}"#,
        "<input>",
    )
    .unwrap();
    let report = replay::<Notifies>(&history).unwrap();
    assert_eq!(report.outcome, Ok(Continuation::Dispatches("orders:notify".into())));
}

// ----- concurrency -----------------------------------------------------------------------------

/// Two branches joined: counts follow call order, each branch parks at its own waiting point,
/// and both are named as next steps.
#[tokio::test]
async fn joined_branches_replay_and_each_names_its_waiting_step() {
    struct Joined;
    impl Workflow for Joined {
        type Params = ();
        type Output = ();
        const NAME: &'static str = "joined";
        const EXPORT_NAME: &'static str = "joined";
        async fn run(ctx: WorkflowContext<()>) -> Result<()> {
            let left = async {
                let _: u8 = ctx.step.do_("fetch", |_| async { Ok(1u8) }).await?;
                ctx.step.sleep("left-nap", "1 day").await
            };
            let right = async {
                let _: u8 = ctx.step.do_("fetch", |_| async { Ok(2u8) }).await?;
                let _: Event<u8> = ctx.step.wait_for_event("ping", "ping").await?;
                Ok::<_, Error>(())
            };
            let (a, b) = tokio::join!(left, right);
            a.and(b)
        }
    }
    let t = TestEngine::builder().register::<Joined>().start_time(T0).open().await.unwrap();
    let instance = t.workflow::<Joined>().create(CreateOptions::default().with_id("j-1")).await.unwrap();
    t.run_until(&instance, "both waits", |_, s| has(s, "left-nap") && has(s, "ping")).await.unwrap();
    let history = t.engine().history("joined", "j-1").unwrap();
    let report = replay::<Joined>(&history).unwrap();
    let Ok(Continuation::Steps(next)) = &report.outcome else { panic!("{report}") };
    let names: Vec<String> = next.iter().map(|n| n.step.to_string()).collect();
    assert_eq!(names, ["sleep \"left-nap\" (count 1)", "waitForEvent \"ping\" (count 1)"]);
    assert_eq!(report.steps_replayed, 2);

    // A history cut after the first fetch: each branch's next step, numbered past the end.
    let mut cut = history.clone();
    cut.steps.truncate(1);
    let report = replay::<Joined>(&cut).unwrap();
    let Ok(Continuation::Steps(next)) = &report.outcome else { panic!("{report}") };
    let next: Vec<String> = next.iter().map(ToString::to_string).collect();
    assert_eq!(
        next,
        ["#2 sleep \"left-nap\" (count 1) (not reached yet)", "#3 do \"fetch\" (count 2) (not reached yet)"]
    );
}

/// A body that waits on something other than a step (here: a future that never resolves) is
/// reported as such, not as compatible with no next step.
#[test]
fn a_body_waiting_on_something_else_is_named() {
    struct WaitsElsewhere;
    impl Workflow for WaitsElsewhere {
        type Params = ();
        type Output = ();
        const NAME: &'static str = "elsewhere";
        const EXPORT_NAME: &'static str = "elsewhere";
        async fn run(ctx: WorkflowContext<()>) -> Result<()> {
            let _: u8 = ctx.step.do_("first", |_| async { Ok(1u8) }).await?;
            std::future::pending::<()>().await;
            Ok(())
        }
    }
    let history = History::parse(
        r#"{"format": "lunora-history", "version": 1, "workflow": "elsewhere", "instance_id": "e-1",
            "status": "running", "steps": [{"kind": "do", "name": "first", "count": 1, "state": "done", "output": 1}]}"#,
        "<input>",
    )
    .unwrap();
    let report = replay::<WaitsElsewhere>(&history).unwrap();
    assert_eq!(
        report.to_string(),
        "instance \"e-1\" of elsewhere: compatible; the body waits on something that is not a step (replay cannot \
         tell what comes next)"
    );
}
