//! Macro-generated workflows and steps running on the embedded engine.

use lunora_runtime::local::{RowKind, StepSelector};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use lunora_tests::*;

async fn engine() -> (TestEngine, Journal) {
    let journal = Journal::default();
    let t = TestEngine::builder()
        .env(Env::new().with(journal.clone()))
        .register::<CheckoutWorkflow>()
        .register::<ReportWorkflow>()
        .open()
        .await
        .unwrap();
    (t, journal)
}

fn params(order_id: &str, amount: u64, failures: u32) -> CheckoutParams {
    CheckoutParams { order_id: order_id.into(), amount, failures, ..CheckoutParams::default() }
}

#[test]
fn descriptors_carry_the_shared_names_and_declared_settings() {
    assert_eq!(CheckoutWorkflow::NAME, "checkout");
    assert_eq!(CheckoutWorkflow::EXPORT_NAME, "checkout");
    assert_eq!(CheckoutWorkflow::class_name(), "CheckoutWorkflow");
    assert_eq!(CheckoutWorkflow::binding(), "WORKFLOW_CHECKOUT");
    assert_eq!(CheckoutWorkflow::STEP_LIMIT, Some(50));
    assert_eq!(CheckoutWorkflow::SCHEDULES, ["0 3 * * *", "*/15 * * * MON-FRI"]);
    assert_eq!(ReportWorkflow::NAME, "nightly-report");
    assert_eq!(ReportWorkflow::EXPORT_NAME, "report");
    assert_eq!(<charge as Step>::NAME, "charge");
    assert_eq!(<ship as Step>::NAME, "ship-it");
    let cfg = <charge as Step>::config().unwrap().resolve(&ResolvedStepConfig::default(), "charge").unwrap();
    assert_eq!((cfg.retries.limit, cfg.retries.delay_ms, cfg.timeout_ms), (3, 10_000, 30_000));
    assert_eq!(cfg.retries.backoff, Backoff::Exponential);
    assert!(<ship as Step>::config().is_none());
}

#[tokio::test]
async fn a_flaky_charge_is_retried_and_the_workflow_completes() {
    let (t, journal) = engine().await;
    let inst = t.workflow::<CheckoutWorkflow>().create(CreateOptions::params(params("o1", 4200, 1))).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(inst.status().await.unwrap().output.unwrap(), "rcpt-o1 / shipped o1");
    assert_eq!(journal.all(), ["charge attempt 1", "charge attempt 2"]);
    let charge_row = &t.steps(&inst).unwrap()[0];
    let delay = charge_row.attempt_log[1].start - charge_row.attempt_log[0].start;
    assert_eq!(delay, 10_000, "the declared 10 s delay");
}

#[tokio::test]
async fn retries_stop_at_the_declared_limit() {
    let (t, journal) = engine().await;
    let inst = t.workflow::<CheckoutWorkflow>().create(CreateOptions::params(params("o2", 10, 99))).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.error.unwrap().message(), "gateway timeout");
    let attempts = journal.all().iter().filter(|l| l.starts_with("charge attempt")).count();
    assert_eq!(attempts, 4, "limit 3 → 4 attempts");
    // A failed step that registered a rollback is rolled back too (with no output).
    assert_eq!(journal.all().last().unwrap(), "refund o2 none (gateway timeout)");
}

#[tokio::test]
async fn invalid_args_fail_before_the_body_runs_with_field_paths() {
    let (t, journal) = engine().await;
    let inst = t.workflow::<CheckoutWorkflow>().create(CreateOptions::params(params("", 0, 0))).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    let err = status.error.unwrap();
    assert_eq!(err.name(), "ValidationError");
    assert!(err.message().starts_with("step \"charge\" args validation failed: "), "{err}");
    assert!(err.message().contains("order_id: ") && err.message().contains("amount: "), "{err}");
    assert!(journal.all().is_empty(), "the body never ran");
    assert!(t.steps(&inst).unwrap().is_empty(), "no durable step was recorded");
}

#[tokio::test]
async fn invalid_returns_are_non_retryable() {
    let (t, journal) = engine().await;
    let inst = t.workflow::<CheckoutWorkflow>().create(CreateOptions::params(params("short", 5, 0))).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    let err = status.error.unwrap();
    assert_eq!(err.name(), "NonRetryableError");
    assert!(err.message().starts_with("step \"charge\" returns validation failed: receipt_id: "), "{err}");
    assert_eq!(
        journal.all(),
        [
            "charge attempt 1",
            "refund short none (step \"charge\" returns validation failed: receipt_id: length is lower than 3)"
        ],
        "not retried; the failed step's rollback ran"
    );
}

#[tokio::test]
async fn a_later_failure_runs_the_declared_rollback_with_args_output_and_error() {
    let (t, journal) = engine().await;
    let inst =
        t.workflow::<CheckoutWorkflow>().create(CreateOptions::params(params("unshippable", 5, 0))).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(status.rollback.unwrap().outcome, RollbackOutcome::Complete);
    assert_eq!(
        journal.all(),
        ["charge attempt 1", "refund unshippable rcpt-unshippable (no carrier serves this address)"]
    );
    let rollback_row = t.steps(&inst).unwrap().into_iter().find(|s| s.kind == RowKind::Rollback).unwrap();
    assert_eq!(rollback_row.config.unwrap().retries.limit, 1, "rollback_config applied");
}

#[tokio::test]
async fn per_call_overrides_of_name_and_config_win() {
    let (t, journal) = engine().await;
    let mut p = params("o3", 5, 0);
    p.charge_name = Some("charge-v2".into());
    let inst = t.workflow::<CheckoutWorkflow>().create(CreateOptions::params(p)).await.unwrap();
    assert_eq!(
        t.wait_for_step_result::<_, Receipt>(&inst, StepSelector::name("charge-v2")).await.unwrap(),
        Receipt { receipt_id: "rcpt-o3".into() }
    );

    let mut p = params("o4", 5, 1);
    p.no_retries = true;
    let inst = t.workflow::<CheckoutWorkflow>().create(CreateOptions::params(p)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.error.unwrap().message(), "gateway timeout", "no retries with the per-call config");
    assert_eq!(journal.all().iter().filter(|l| l.as_str() == "charge attempt 1").count(), 2);
}

#[tokio::test]
async fn reserved_names_are_refused_before_anything_runs() {
    let (t, journal) = engine().await;
    let mut p = params("o5", 5, 0);
    p.charge_name = Some("lunora:charge".into());
    let inst = t.workflow::<CheckoutWorkflow>().create(CreateOptions::params(p)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    let err = status.error.unwrap();
    assert_eq!(err.name(), "NonRetryableError");
    assert_eq!(
        err.message(),
        "step name \"lunora:charge\" is reserved: names starting with \"lunora:\" belong to lunora"
    );
    assert!(journal.all().is_empty());
    assert!(t.steps(&inst).unwrap().is_empty());
}

#[tokio::test]
async fn an_explicitly_named_workflow_runs_under_its_deployed_name() {
    let (t, _) = engine().await;
    let inst = t.workflow::<ReportWorkflow>().create(CreateOptions::default()).await.unwrap();
    assert_eq!(inst.workflow_name(), "nightly-report");
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), 7);
}

#[tokio::test]
async fn the_generated_registry_gives_typed_handles_and_registers_everything() {
    use lunora_tests::registry::{register_all, Workflows, WORKFLOWS};
    let journal = Journal::default();
    let t = register_all(TestEngine::builder().env(Env::new().with(journal.clone()))).open().await.unwrap();
    let workflows = Workflows::new(t.engine().backend());
    // Typed: create takes CheckoutParams, status().output is a String.
    let inst = workflows.checkout().create(CreateOptions::params(params("reg-1", 5, 0))).await.unwrap();
    t.run_to_completion(&inst).await.unwrap();
    let output: Option<String> = inst.status().await.unwrap().output;
    assert_eq!(output.as_deref(), Some("rcpt-reg-1 / shipped reg-1"));
    // By export name, untyped.
    let report = workflows.get("report").unwrap();
    assert_eq!(report.name(), "nightly-report");
    let err = workflows.get("nope").err().unwrap();
    assert_eq!(
        err.to_string(),
        "WorkflowError: (workflow.not_found) no workflow is exported as \"nope\"; known workflows: checkout, \
         orderPipeline, report"
    );
    let names: Vec<(&str, &str, &str, &str)> =
        WORKFLOWS.iter().map(|w| (w.export_name, w.name, w.binding, w.class_name)).collect();
    assert_eq!(
        names,
        [
            ("checkout", "checkout", "WORKFLOW_CHECKOUT", "CheckoutWorkflow"),
            ("orderPipeline", "orders", "MY_WORKFLOW", "OrderWorkflow"),
            ("report", "nightly-report", "WORKFLOW_REPORT", "ReportWorkflow"),
        ]
    );
}

/// `#[workflow(class = "OrderWorkflow", binding = "MY_WORKFLOW")]`: the descriptor is the
/// declared class, the trait reports the declared names, and it runs like any other workflow,
/// registered by hand or through the generated registry's typed accessor.
#[tokio::test]
async fn a_workflow_with_a_declared_class_and_binding_runs_under_them() {
    assert_eq!(OrderWorkflow::class_name(), "OrderWorkflow");
    assert_eq!(OrderWorkflow::binding(), "MY_WORKFLOW");
    assert_eq!((OrderWorkflow::NAME, OrderWorkflow::EXPORT_NAME), ("orders", "orderPipeline"));

    let t = TestEngine::builder().register::<OrderWorkflow>().open().await.unwrap();
    let inst = t.workflow::<OrderWorkflow>().create(CreateOptions::params(3).with_id("port-1")).await.unwrap();
    assert_eq!(inst.workflow_name(), "orders");
    assert_eq!(t.run_to_completion(&inst).await.unwrap().status, InstanceStatusKind::Complete);
    assert_eq!(inst.status().await.unwrap().output, Some(750));

    let t = lunora_tests::registry::register_all(TestEngine::builder()).open().await.unwrap();
    let workflows = lunora_tests::registry::Workflows::new(t.engine().backend());
    let typed: WorkflowHandle<OrderWorkflow> = workflows.order_pipeline();
    let inst = typed.create(CreateOptions::params(2)).await.unwrap();
    t.run_to_completion(&inst).await.unwrap();
    assert_eq!(inst.status().await.unwrap().output, Some(500));
    // By export name, the instance is the same workflow's.
    let untyped = workflows.get("orderPipeline").unwrap();
    assert_eq!(untyped.name(), "orders");
    let same = untyped.get(inst.id()).await.unwrap().status_json().await.unwrap();
    assert_eq!((same.status, same.output), (InstanceStatusKind::Complete, Some(serde_json::json!(500))));
}

fn wait_as_told(cx: &RetryDelayContext<'_>) -> Result<DurationInput> {
    Ok(DurationInput::from(format!("{} seconds", cx.attempt * 2)))
}

#[step(args = u32, returns = String, sensitive, retries(limit = 2, delay = wait_as_told, backoff = "constant"))]
async fn guarded(_ctx: StepContext, n: u32) -> Result<String> {
    Ok(format!("secret {n}"))
}

#[step(args = u32, returns = u32, rollback = forget, rollback_config(retries(limit = 1, delay = wait_as_told)))]
async fn remembered(_ctx: StepContext, n: u32) -> Result<u32> {
    Ok(n)
}

async fn forget(_ctx: StepRollbackContext<u32, u32>) -> Result<()> {
    Ok(())
}

#[test]
fn sensitive_and_a_delay_fn_reach_the_step_config() {
    let config = <guarded as Step>::config().unwrap();
    assert_eq!(config.sensitive, Some(Sensitive::Output));
    let retries = config.retries.as_ref().unwrap();
    assert!(retries.delay_fn.is_some() && retries.delay.is_none());
    let resolved = config.resolve(&ResolvedStepConfig::default(), "guarded").unwrap();
    assert_eq!((resolved.retries.limit, resolved.retries.backoff), (2, Backoff::Constant));
    assert!(resolved.retries.dynamic_delay);
    let (step, error) = (StepId { name: "guarded".into(), count: 1 }, Error::new("x"));
    let cx = RetryDelayContext { step: &step, attempt: 3, config: &resolved, error: &error };
    assert_eq!(retries.delay_fn.as_ref().unwrap().delay_after(&cx).unwrap(), std::time::Duration::from_secs(6));
    // The rollback's own config takes a fn too (and `sensitive` only on the step).
    let rollback = <remembered as Step>::rollback_config().unwrap();
    assert!(rollback.retries.unwrap().delay_fn.is_some());
    assert_eq!(<remembered as Step>::config(), None);
}
