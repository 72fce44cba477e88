//! Step options of Cloudflare's current surface on the embedded engine: `sensitive: "output"`
//! (redacted wherever the engine shows an output, real for the steps after it) and
//! `retries.delay` as a function of the failed attempt; and typed events (`EventType`).

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use lunora_runtime::history::REDACTED_OUTPUT;
use lunora_runtime::local::{RowKind, StepRow, StepState};
use lunora_runtime::replay::Continuation;
use lunora_runtime::*;
use serde_json::json;

fn row<'a>(steps: &'a [StepRow], name: &str) -> &'a StepRow {
    steps
        .iter()
        .find(|s| s.kind == RowKind::Do && s.name == name)
        .unwrap_or_else(|| panic!("no do row {name} in {steps:#?}"))
}

// ----- sensitive output ----------------------------------------------------------------------

/// "token" (sensitive) → "use" builds on its real output → the workflow returns that.
struct Sensitive;

impl Workflow for Sensitive {
    type Params = ();
    type Output = String;
    const NAME: &'static str = "sensitive";
    const EXPORT_NAME: &'static str = "sensitive";

    async fn run(ctx: WorkflowContext<()>) -> Result<String> {
        let token: String = ctx
            .step
            .do_with("token", StepConfig::new().sensitive_output(), |_| async { Ok("s3cr3t-1".into()) })
            .await?;
        let used: String = ctx
            .step
            .do_("use", move |_| {
                let token = token.clone();
                async move { Ok(format!("used {token}")) }
            })
            .await?;
        Ok(used)
    }
}

#[tokio::test]
async fn a_sensitive_output_reaches_the_next_step_but_no_history_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let (t, _) = engine_with(|b| b.register::<Sensitive>().path(&path)).await;
    let inst = t.workflow::<Sensitive>().create(CreateOptions::params(()).with_id("s-1")).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    assert_eq!(status.output, Some(json!("used s3cr3t-1")), "the real value flowed on");

    // The journal keeps the value (replays answer the step from it) …
    let steps = t.steps(&inst).unwrap();
    assert_eq!(row(&steps, "token").output, Some(json!("s3cr3t-1")));
    // … the history shows it redacted, and the next step's output as it is.
    let history = t.engine().history("sensitive", "s-1").unwrap();
    let outputs: Vec<_> = history.steps.iter().map(|s| (s.name.as_str(), s.output.clone())).collect();
    assert_eq!(outputs, [("token", Some(json!(REDACTED_OUTPUT))), ("use", Some(json!("used s3cr3t-1")))]);
    let text = history.to_pretty_string();
    assert_eq!(text.matches("s3cr3t-1").count(), 1, "only inside the next step's output: {text}");

    // Replay stops at the redacted step rather than feed the body a wrong value.
    let report = replay::replay::<Sensitive>(&history).unwrap();
    match &report.outcome {
        Ok(Continuation::Redacted(step)) => assert_eq!((step.index, step.step.name.as_str()), (1, "token")),
        other => panic!("expected a stop at the redacted step, got {other:?}"),
    }
    assert!(report.to_string().contains("whose output is redacted (sensitive)"), "{report}");

    // A journal read from its file (`lunora-codegen history --journal`) is redacted too.
    t.engine().clone().close().await;
    drop(t);
    let selection = local::Selection::Ids(vec!["s-1".into()]);
    let read = local::read_histories(&path, "sensitive", &selection).unwrap();
    assert_eq!(read[0].steps[0].output, Some(json!(REDACTED_OUTPUT)));
}

// ----- dynamic retry delays ------------------------------------------------------------------

/// What the delay function was asked with: (step, attempt, error message).
type Seen = Arc<Mutex<Vec<(String, u32, String)>>>;

/// "flaky" fails `fails` times; its delay comes from `delay` (`base` returned by the fn).
struct Dynamic;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct DynamicParams {
    fails: u32,
    backoff: Backoff,
    /// What the delay fn returns: `"<n> seconds"` × attempt, a text to return as is, or an error.
    answer: Answer,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
enum Answer {
    SecondsTimesAttempt,
    Text(String),
    Fails,
    Panics,
}

impl Workflow for Dynamic {
    type Params = DynamicParams;
    type Output = u32;
    const NAME: &'static str = "dynamic";
    const EXPORT_NAME: &'static str = "dynamic";

    async fn run(ctx: WorkflowContext<DynamicParams>) -> Result<u32> {
        let seen = ctx.env.get::<Seen>().cloned().expect("tests put Seen in the env");
        let p = ctx.params.clone();
        let answer = p.answer.clone();
        let config = StepConfig::new()
            .retries_with(5, move |cx: &RetryDelayContext<'_>| {
                seen.lock().unwrap().push((cx.step.to_string(), cx.attempt, cx.error.message().to_owned()));
                match &answer {
                    Answer::SecondsTimesAttempt => Ok(DurationInput::from(format!("{} seconds", cx.attempt))),
                    Answer::Text(text) => Ok(DurationInput::from(text.clone())),
                    Answer::Fails => Err(Error::new("no delay for you")),
                    Answer::Panics => panic!("delay fn blew up"),
                }
            })
            .backoff(p.backoff);
        ctx.step
            .do_with("flaky", config, move |sc| async move {
                if sc.attempt <= p.fails {
                    Err(Error::new(format!("down {}", sc.attempt)))
                } else {
                    Ok(sc.attempt)
                }
            })
            .await
    }
}

async fn run_dynamic(params: DynamicParams) -> (workflow::RawStatus, StepRow, Vec<(String, u32, String)>) {
    let seen: Seen = Arc::default();
    let t = testing::TestEngine::builder()
        .env(Env::new().with(seen.clone()))
        .start_time(1_767_225_600_000)
        .register::<Dynamic>()
        .open()
        .await
        .unwrap();
    let inst = t.workflow::<Dynamic>().create(CreateOptions::params(params)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    let steps = t.steps(&inst).unwrap();
    let flaky = row(&steps, "flaky").clone();
    let seen = seen.lock().unwrap().clone();
    (status, flaky, seen)
}

fn starts(row: &StepRow) -> Vec<i64> {
    row.attempt_log.iter().map(|a| a.start - row.started_at).collect()
}

#[tokio::test]
async fn a_delay_function_sees_each_failure_and_sets_the_base_the_backoff_grows() {
    let constant = DynamicParams { fails: 3, backoff: Backoff::Constant, answer: Answer::SecondsTimesAttempt };
    let (status, flaky, seen) = run_dynamic(constant).await;
    assert_eq!(status.output, Some(json!(4)));
    assert_eq!(starts(&flaky), [0, 1_000, 3_000, 6_000], "1 s, 2 s, 3 s as the function said");
    assert_eq!(
        seen,
        [
            ("flaky-1".into(), 1, "down 1".into()),
            ("flaky-1".into(), 2, "down 2".into()),
            ("flaky-1".into(), 3, "down 3".into())
        ]
    );
    assert!(flaky.config.as_ref().unwrap().retries.dynamic_delay, "the journal records a dynamic delay");

    // As in workerd, the backoff still applies to what the function returns: 1·1, 2·2, 3·4 s.
    let exponential = DynamicParams { fails: 3, backoff: Backoff::Exponential, answer: Answer::SecondsTimesAttempt };
    let (_, flaky, _) = run_dynamic(exponential).await;
    assert_eq!(starts(&flaky), [0, 1_000, 5_000, 17_000]);
}

#[tokio::test]
async fn a_delay_function_that_fails_or_returns_no_duration_ends_the_step_at_once() {
    let fails = DynamicParams { fails: 9, backoff: Backoff::Constant, answer: Answer::Fails };
    let (status, flaky, seen) = run_dynamic(fails).await;
    assert_eq!(status.status, InstanceStatusKind::Errored);
    let error = status.error.unwrap();
    assert_eq!(error.name(), "NonRetryableDelayError");
    assert_eq!(error.message(), "The delay function for step \"flaky-1\" threw an error: no delay for you");
    assert_eq!((flaky.state, flaky.attempts, seen.len()), (StepState::Failed, 1, 1), "no second attempt");

    // Cloudflare's parser would read "5 mins" as 5 ms; lunora refuses it, as for every duration.
    let invalid = DynamicParams { fails: 9, backoff: Backoff::Constant, answer: Answer::Text("5 mins".into()) };
    let (status, flaky, _) = run_dynamic(invalid).await;
    let error = status.error.unwrap();
    assert_eq!(error.name(), "NonRetryableDelayError");
    assert_eq!(
        error.message(),
        "The delay function for step \"flaky-1\" returned an invalid delay value (expected a number of ms or a \
         duration string like \"30 seconds\")"
    );
    assert_eq!(flaky.attempts, 1);

    // A panic in the function is the function failing; the engine carries on.
    let panics = DynamicParams { fails: 9, backoff: Backoff::Constant, answer: Answer::Panics };
    let (status, flaky, _) = run_dynamic(panics).await;
    let error = status.error.unwrap();
    assert_eq!(error.message(), "The delay function for step \"flaky-1\" threw an error: panicked: delay fn blew up");
    assert_eq!((flaky.state, flaky.attempts), (StepState::Failed, 1));
}

// ----- typed events --------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Shipment {
    tracking_id: String,
}

const SHIPPED: EventType<Shipment> = EventType::new("shipment-created");

/// Waits for `SHIPPED` (typed), then for it again with a short timeout.
struct Typed;

impl Workflow for Typed {
    type Params = ();
    type Output = (String, String);
    const NAME: &'static str = "typed";
    const EXPORT_NAME: &'static str = "typed";

    async fn run(ctx: WorkflowContext<()>) -> Result<(String, String)> {
        let first = ctx.step.wait_for("first", &SHIPPED).await?;
        let second = match ctx.step.wait_for_with_timeout("second", &SHIPPED, "100 ms").await {
            Ok(event) => event.payload.tracking_id,
            Err(e) => e.name().to_owned(),
        };
        Ok((first.payload.tracking_id, second))
    }
}

#[tokio::test]
async fn a_typed_event_is_sent_and_received_under_one_declaration() {
    let (t, _) = engine_with(|b| b.register::<Typed>()).await;
    let inst = t.workflow::<Typed>().create(CreateOptions::params(())).await.unwrap();
    inst.send(&SHIPPED, Shipment { tracking_id: "1Z".into() }).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.output, Some(json!(["1Z", "WorkflowTimeoutError"])));
    let steps = t.steps(&inst).unwrap();
    let first = steps.iter().find(|s| s.name == "first").unwrap();
    assert_eq!(first.output.as_ref().unwrap()["type"], json!("shipment-created"));
    assert_eq!(SHIPPED.name(), "shipment-created");
}
