//! The embedded engine through the public API: Cloudflare's semantics, the harness, bad input.

mod common;

use std::time::{Duration, Instant};

use common::*;
use lunora_runtime::local::{Modifiers, RowKind, StepSelector, StepState};
use lunora_runtime::*;

#[tokio::test]
async fn a_thirty_day_sleep_finishes_in_milliseconds_and_steps_are_memoised() {
    let (t, fx) = engine_with(|b| b.register::<Pipeline>()).await;
    t.modify_instance::<Pipeline>(
        "o-1",
        Modifiers::new().mock_event("shipment-created", serde_json::json!({"tracking": "T-9"})),
    );
    let wall = Instant::now();
    let inst = t
        .workflow::<Pipeline>()
        .create(CreateOptions::params(Order { order_id: "42".into() }).with_id("o-1"))
        .await
        .unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(inst.status().await.unwrap().output.as_deref(), Some("order 42 r-1 T-9"));
    assert!(wall.elapsed() < Duration::from_secs(2), "took {:?}", wall.elapsed());
    // The body was replayed after the sleep, but `load` ran exactly once.
    assert_eq!(fx.all(), ["load", "charge"]);
    let steps = t.steps(&inst).unwrap();
    let sleep = steps.iter().find(|s| s.kind == RowKind::Sleep).unwrap();
    assert_eq!(sleep.ended_at.unwrap() - sleep.started_at, 30 * 86_400_000);
}

#[tokio::test]
async fn retries_follow_the_exponential_backoff_and_then_succeed() {
    let (t, fx) = engine_with(|b| b.register::<FlakyFlow>()).await;
    let params = Flaky { fail_times: 2, limit: 3, non_retryable: false, catch: false };
    let inst = t.workflow::<FlakyFlow>().create(CreateOptions::params(params)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    assert_eq!(inst.status().await.unwrap().output.as_deref(), Some("ok on 3"));
    assert_eq!(fx.all(), ["attempt 1", "attempt 2", "attempt 3"]);
    let step = &t.steps(&inst).unwrap()[0];
    assert_eq!(step.attempts, 3);
    let starts: Vec<i64> = step.attempt_log.iter().map(|a| a.start - step.started_at).collect();
    assert_eq!(starts, [0, 10_000, 30_000], "delays of 10 s then 20 s");
    assert_eq!(step.attempt_log[0].error.as_ref().unwrap().message(), "boom 1");
}

#[tokio::test]
async fn exhausted_retries_fail_the_instance_with_the_last_error() {
    let (t, fx) = engine_with(|b| b.register::<FlakyFlow>()).await;
    let params = Flaky { fail_times: 99, limit: 2, non_retryable: false, catch: false };
    let inst = t.workflow::<FlakyFlow>().create(CreateOptions::params(params)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    let err = status.error.unwrap();
    assert_eq!((err.name(), err.message()), ("Error", "boom 3"));
    assert_eq!(fx.all().len(), 3, "at most limit + 1 attempts");
}

#[tokio::test]
async fn non_retryable_errors_stop_at_once_and_can_be_caught() {
    let (t, fx) = engine_with(|b| b.register::<FlakyFlow>()).await;
    let params = Flaky { fail_times: 99, limit: 5, non_retryable: true, catch: false };
    let inst = t.workflow::<FlakyFlow>().create(CreateOptions::params(params)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    let err = status.error.unwrap();
    assert_eq!((err.name(), err.message()), ("NonRetryableError", "card declined"));
    assert_eq!(fx.all(), ["attempt 1"]);

    let params = Flaky { fail_times: 99, limit: 5, non_retryable: true, catch: true };
    let inst = t.workflow::<FlakyFlow>().create(CreateOptions::params(params)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    assert_eq!(inst.status().await.unwrap().output.unwrap(), "caught NonRetryableError: card declined");
}

#[tokio::test]
async fn harness_mocks_step_errors_results_and_timeouts() {
    let (t, fx) = engine_with(|b| b.register::<FlakyFlow>()).await;
    let params = Flaky { fail_times: 0, limit: 3, non_retryable: false, catch: true };
    t.modify_instance::<FlakyFlow>(
        "mocked-error",
        Modifiers::new()
            .mock_step_error(StepSelector::name("call"), Error::new("mocked outage"), Some(2))
            .disable_retry_delays(None),
    );
    let inst =
        t.workflow::<FlakyFlow>().create(CreateOptions::params(params.clone()).with_id("mocked-error")).await.unwrap();
    assert_eq!(t.wait_for_step_result::<_, String>(&inst, StepSelector::name("call")).await.unwrap(), "ok on 3");
    assert_eq!(fx.all(), ["attempt 3"], "the two mocked attempts never ran the callback");

    t.modify_instance::<FlakyFlow>(
        "mocked-result",
        Modifiers::new().mock_step_result(StepSelector::name("call"), "from mock"),
    );
    let inst =
        t.workflow::<FlakyFlow>().create(CreateOptions::params(params.clone()).with_id("mocked-result")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(inst.status().await.unwrap().output.unwrap(), "from mock");

    t.modify_instance::<FlakyFlow>(
        "timeouts",
        Modifiers::new().force_step_timeout(StepSelector::name("call"), None).disable_retry_delays(None),
    );
    let inst = t.workflow::<FlakyFlow>().create(CreateOptions::params(params).with_id("timeouts")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(
        inst.status().await.unwrap().output.unwrap(),
        "caught WorkflowTimeoutError: Execution timed out after 600000ms"
    );
    assert_eq!(t.steps(&inst).unwrap()[0].attempts, 4, "every attempt of limit 3 timed out");
}

#[tokio::test]
async fn events_queue_per_type_in_fifo_order_and_time_out() {
    let (t, _) = engine_with(|b| b.register::<Waiter>()).await;
    let types = vec!["a".to_owned(), "b".to_owned(), "a".to_owned(), "c".to_owned()];
    let inst = t.workflow::<Waiter>().create(CreateOptions::params(types).with_id("w")).await.unwrap();
    // Sent before any wait: kept per type, delivered in order.
    inst.send_event("a", 1).await.unwrap();
    inst.send_event("a", 2).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    inst.send_event("b", "x").await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    let out: Vec<String> = serde_json::from_value(status.output.unwrap()).unwrap();
    assert_eq!(out, ["a=1", "b=\"x\"", "a=2", "timeout"]);
    let steps = t.steps(&inst).unwrap();
    let last = steps.last().unwrap();
    assert_eq!(last.state, StepState::Failed);
    assert_eq!(last.ended_at.unwrap() - last.started_at, 3_600_000, "timed out after exactly 1 hour");
}

#[tokio::test]
async fn forced_event_timeout_is_catchable() {
    let (t, _) = engine_with(|b| b.register::<Waiter>()).await;
    t.modify_instance::<Waiter>("w", Modifiers::new().force_event_timeout(StepSelector::name("wait-0")));
    let inst = t.workflow::<Waiter>().create(CreateOptions::params(vec!["a".into()]).with_id("w")).await.unwrap();
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), serde_json::json!(["timeout"]));
}

#[tokio::test]
async fn rollbacks_run_in_reverse_start_order_when_the_instance_fails() {
    let (t, fx) = engine_with(|b| b.register::<SagaFlow>()).await;
    let inst = t.workflow::<SagaFlow>().create(CreateOptions::params(Saga::default())).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(status.error.as_ref().unwrap().message(), "warehouse on fire");
    assert_eq!(status.rollback, Some(RollbackState { outcome: RollbackOutcome::Complete, error: None }));
    assert_eq!(
        fx.all(),
        [
            "do reserve",
            "do charge",
            "do ship",
            "undo ship-1 output=Some(\"ship-done\") error=warehouse on fire",
            "undo charge-1 output=Some(\"charge-done\") error=warehouse on fire",
            "undo reserve-1 output=Some(\"reserve-done\") error=warehouse on fire",
        ]
    );
}

#[tokio::test]
async fn the_rollback_chain_stops_at_the_first_handler_that_fails() {
    let (t, fx) = engine_with(|b| b.register::<SagaFlow>()).await;
    let params = Saga { fail_rollback_of: Some("charge".into()), wait_before_failing: false };
    let inst = t.workflow::<SagaFlow>().create(CreateOptions::params(params)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    let rollback = status.rollback.unwrap();
    assert_eq!(rollback.outcome, RollbackOutcome::Failed);
    assert_eq!(rollback.error.unwrap().message(), "cannot undo");
    assert_eq!(fx.all().iter().filter(|e| e.starts_with("undo")).count(), 2, "reserve was never undone");
}

#[tokio::test]
async fn terminate_rolls_back_only_when_asked_and_refuses_terminal_instances() {
    let (t, fx) = engine_with(|b| b.register::<SagaFlow>()).await;
    let params = Saga { fail_rollback_of: None, wait_before_failing: true };
    let plain = t.workflow::<SagaFlow>().create(CreateOptions::params(params.clone()).with_id("plain")).await.unwrap();
    t.wait_for_status(&plain, InstanceStatusKind::Waiting).await.unwrap();
    plain.terminate().await.unwrap();
    let status = plain.status().await.unwrap();
    assert_eq!((status.status, status.rollback), (InstanceStatusKind::Terminated, None));
    assert_eq!(fx.all().iter().filter(|e| e.starts_with("undo")).count(), 0);

    let err = plain.terminate().await.unwrap_err();
    assert_eq!(err.code(), Some("instance.cannot_terminate"));

    let rb = t.workflow::<SagaFlow>().create(CreateOptions::params(params).with_id("rb")).await.unwrap();
    t.wait_for_status(&rb, InstanceStatusKind::Waiting).await.unwrap();
    rb.terminate_with_rollback().await.unwrap();
    let status = rb.status().await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Terminated);
    assert_eq!(status.rollback.unwrap().outcome, RollbackOutcome::Complete);
    let undone: Vec<String> =
        fx.all().into_iter().filter(|e| e.starts_with("undo")).map(|e| e[5..12].to_owned()).collect();
    assert_eq!(undone, ["ship-1 ", "charge-", "reserve"]);
}

#[tokio::test]
async fn pause_interrupts_a_sleep_and_resume_shifts_it_by_the_pause_length() {
    let (t, _) = engine_with(|b| b.register::<Sleeper>()).await;
    let inst = t.workflow::<Sleeper>().create(CreateOptions::params("1 hour".to_owned())).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    t.advance(Duration::from_secs(600)).await;
    inst.pause().await.unwrap();
    assert_eq!(inst.status().await.unwrap().status, InstanceStatusKind::Paused);
    t.advance(Duration::from_secs(7_200)).await; // the sleep would have ended meanwhile
    assert_eq!(inst.status().await.unwrap().status, InstanceStatusKind::Paused);
    inst.resume().await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    let nap = t.steps(&inst).unwrap().into_iter().find(|s| s.kind == RowKind::Sleep).unwrap();
    assert_eq!(nap.ended_at.unwrap() - nap.started_at, 3_600_000 + 7_200_000, "shifted by the 2 h pause");
    // Resuming something that is not paused has no effect; pausing a finished one is an error.
    inst.resume().await.unwrap();
    assert_eq!(inst.pause().await.unwrap_err().code(), Some("instance.cannot_pause"));
}

#[tokio::test]
async fn restart_from_a_step_keeps_the_steps_before_it() {
    let (t, fx) = engine_with(|b| b.register::<Pipeline>()).await;
    t.modify_workflow::<Pipeline>(
        Modifiers::new().mock_event("shipment-created", serde_json::json!({"tracking": "T"})),
    );
    let inst = t.workflow::<Pipeline>().create(CreateOptions::params(Order { order_id: "1".into() })).await.unwrap();
    t.run_to_completion(&inst).await.unwrap();
    assert_eq!(fx.all(), ["load", "charge"]);
    inst.restart_from(RestartFrom::step("charge")).await.unwrap();
    // The mocked event survives the restart (as Cloudflare's introspection mocks do).
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), "order 1 r-1 T");
    assert_eq!(fx.all(), ["load", "charge", "charge"], "load kept, charge ran again");

    inst.restart().await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(fx.count("load"), 2, "a full restart runs everything again");

    let err = inst.restart_from(RestartFrom::step("nope")).await.unwrap_err();
    assert_eq!(err.code(), Some("instance.cannot_restart"));
}

#[tokio::test]
async fn duplicate_step_names_get_counts_and_the_step_limit_is_enforced() {
    let (t, _) = engine_with(|b| b.register::<Shaped>()).await;
    let shape = Shape { names: vec!["x".into(), "x".into(), "y".into()], ..Shape::default() };
    let inst = t.workflow::<Shaped>().create(CreateOptions::params(shape)).await.unwrap();
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), serde_json::json!(["x-1", "x-2", "y-1"]));

    let shape = Shape { names: (0..6).map(|i| format!("s{i}")).collect(), ..Shape::default() };
    let inst = t.workflow::<Shaped>().create(CreateOptions::params(shape)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    let err = status.error.unwrap();
    assert_eq!(err.name(), "WorkflowFatalError");
    assert!(err.message().starts_with("The limit of 5 steps has been reached"), "{err}");
}

#[tokio::test]
async fn bad_step_names_configs_and_outputs_get_cloudflare_errors() {
    let (t, _) = engine_with(|b| b.register::<Shaped>()).await;
    let cases = [
        (Shape { names: vec!["bad\u{1}name".into()], ..Shape::default() },
         "WorkflowFatalError: Step name \"bad\u{1}name\" exceeds max length (256 chars) or invalid characters found"),
        (Shape { names: vec!["x".repeat(257)], ..Shape::default() }, "exceeds max length (256 chars)"),
        (Shape { names: vec!["big".into()], output_bytes: 1 << 20, ..Shape::default() },
         "WorkflowInternalError: Step big-1 output is too large: the output is 1048578 bytes, the limit is 1 MiB (1048576 bytes)"),
        (Shape { names: vec!["cfg".into()], config: Some((10_001, "1 second".into())), ..Shape::default() },
         "WorkflowFatalError: Step config for \"cfg\" is in a invalid format: retries.limit is 10001, the maximum is 10000"),
        (Shape { names: vec!["cfg".into()], config: Some((1, "5 mins".into())), ..Shape::default() },
         "retries.delay: invalid duration \"5 mins\": unknown unit \"mins\""),
    ];
    for (shape, expected) in cases {
        let inst = t.workflow::<Shaped>().create(CreateOptions::params(shape)).await.unwrap();
        let status = t.run_to_completion(&inst).await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Errored);
        let err = status.error.unwrap().to_string();
        assert!(err.contains(expected), "{err:?} should contain {expected:?}");
    }
}

#[tokio::test]
async fn bad_instance_ids_params_events_and_unknown_instances_are_rejected() {
    let (t, _) = engine_with(|b| b.register::<Waiter>().register::<Pipeline>()).await;
    let wf = t.workflow::<Waiter>();
    for bad in ["", "-x", "has space", &"x".repeat(101)] {
        let err = wf.create(CreateOptions::params(vec![]).with_id(bad)).await.unwrap_err();
        assert_eq!(err.code(), Some("instance.invalid_id"), "{bad:?}: {err}");
    }
    wf.create(CreateOptions::params(vec!["a".into()]).with_id("dup")).await.unwrap();
    let err = wf.create(CreateOptions::params(vec![]).with_id("dup")).await.unwrap_err();
    assert_eq!(err.code(), Some("instance.already_exists"));

    let huge = vec!["x".repeat(1 << 20)];
    let err = wf.create(CreateOptions::params(huge)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "WorkflowError: (instance.invalid_params) params is 1048580 bytes, the limit is 1 MiB (1048576 bytes)"
    );

    let err = wf.get("missing").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "WorkflowError: (instance.not_found) Instance does not exist: no instance \"missing\" in workflow \"waiter\""
    );

    let inst = wf.get("dup").await.unwrap();
    for bad in ["", "has.dot", "-lead", &"t".repeat(101)] {
        let err = inst.send_event(bad, 1).await.unwrap_err();
        assert_eq!(err.code(), Some("instance.invalid_event_type"), "{bad:?}");
    }
    let err = inst.send_event("a", "x".repeat(1 << 20)).await.unwrap_err();
    assert_eq!(err.code(), Some("instance.invalid_event"));

    // Untyped creation with params of the wrong shape fails before anything is stored.
    let untyped: WorkflowHandle<Pipeline> = WorkflowHandle::named(t.engine().backend(), "pipeline");
    let backend = t.engine().backend();
    let err = backend
        .create(
            "pipeline",
            lunora_runtime::workflow::CreateRequest {
                id: Some("p".into()),
                params: Some(serde_json::json!({"nope": 1})),
                retention: None,
            },
        )
        .await
        .unwrap_err();
    assert!(err.message().starts_with("(instance.invalid_params) params do not match workflow \"pipeline\""), "{err}");
    assert_eq!(untyped.get("p").await.unwrap_err().code(), Some("instance.not_found"));
    let err = backend.status("nope", "x").await.unwrap_err();
    assert_eq!(err.to_string(), "WorkflowError: (workflow.not_found) no workflow named \"nope\" is registered; known workflows: pipeline, waiter");
}

#[tokio::test]
async fn create_batch_is_bounded_and_idempotent_on_ids() {
    let (t, _) = engine_with(|b| b.register::<Waiter>()).await;
    let wf = t.workflow::<Waiter>();
    let err = wf.create_batch(vec![]).await.unwrap_err();
    assert_eq!(err.to_string(), "WorkflowError: (instance.invalid_batch) batchCreate should have at least 1 instance");
    let too_many = (0..101).map(|_| CreateOptions::params(vec![])).collect();
    let err = wf.create_batch(too_many).await.unwrap_err();
    assert_eq!(err.message(), "(instance.invalid_batch) batchCreate only supports 100 instances at a time");
    let batch = |ids: &[&str]| ids.iter().map(|id| CreateOptions::params(vec!["e".to_owned()]).with_id(*id)).collect();
    let first = wf.create_batch(batch(&["a", "b"])).await.unwrap();
    first[0].send_event("e", "first").await.unwrap();
    let again = wf.create_batch(batch(&["a", "c"])).await.unwrap();
    assert_eq!(again.iter().map(|i| i.id()).collect::<Vec<_>>(), ["a", "c"]);
    let status = t.wait_for_status(&again[0], InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), serde_json::json!(["e=\"first\""]), "the existing instance was not reset");
}

async fn gated_engine() -> (testing::TestEngine, Effects, Gate) {
    let gate = Gate::default();
    let fx = Effects::default();
    let t = testing::TestEngine::builder()
        .env(Env::new().with(fx.clone()).with(gate.clone()))
        .register::<Gated>()
        .open()
        .await
        .unwrap();
    (t, fx, gate)
}

async fn until_effect(fx: &Effects, what: &str) {
    for _ in 0..2_000 {
        if fx.count(what) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{what:?} never happened: {:?}", fx.all());
}

#[tokio::test]
async fn pause_lets_the_in_flight_step_finish_and_starts_no_new_one() {
    let (t, fx, gate) = gated_engine().await;
    let inst = t.workflow::<Gated>().create(CreateOptions::default()).await.unwrap();
    until_effect(&fx, "first started").await;
    inst.pause().await.unwrap();
    assert_eq!(inst.status().await.unwrap().status, InstanceStatusKind::WaitingForPause);
    gate.0.add_permits(1);
    t.wait_for_status(&inst, InstanceStatusKind::Paused).await.unwrap();
    assert_eq!(fx.all(), ["first started", "first done"], "second did not start while pausing");
    inst.resume().await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(fx.all(), ["first started", "first done", "second"]);
}

#[tokio::test]
async fn resume_while_waiting_for_pause_just_continues() {
    let (t, fx, gate) = gated_engine().await;
    let inst = t.workflow::<Gated>().create(CreateOptions::default()).await.unwrap();
    until_effect(&fx, "first started").await;
    inst.pause().await.unwrap();
    inst.resume().await.unwrap();
    assert_eq!(inst.status().await.unwrap().status, InstanceStatusKind::Running);
    gate.0.add_permits(1);
    t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(fx.all(), ["first started", "first done", "second"]);
}

#[tokio::test]
async fn terminate_stops_a_running_step_at_once() {
    let (t, fx, _gate) = gated_engine().await;
    let inst = t.workflow::<Gated>().create(CreateOptions::default()).await.unwrap();
    until_effect(&fx, "first started").await;
    inst.terminate().await.unwrap();
    let status = inst.status().await.unwrap();
    assert_eq!((status.status, status.error), (InstanceStatusKind::Terminated, None));
    assert_eq!(inst.send_event("x", 1).await.unwrap_err().code(), Some("instance.cannot_send_event"));
}

struct Panicky;

impl Workflow for Panicky {
    type Params = bool;
    type Output = String;
    const NAME: &'static str = "panicky";
    const EXPORT_NAME: &'static str = "panicky";

    async fn run(ctx: WorkflowContext<bool>) -> Result<String> {
        let step: Result<String> = ctx
            .step
            .do_with("explodes", StepConfig::new().retries(1, 0u64), |s| async move {
                if s.attempt == 1 {
                    panic!("index out of bounds");
                }
                Ok("second attempt fine".to_owned())
            })
            .await;
        if ctx.params {
            panic!("the body itself panicked");
        }
        step
    }
}

#[tokio::test]
async fn a_panicking_step_is_a_retryable_error_and_a_panicking_body_fails_the_instance() {
    let (t, _) = engine_with(|b| b.register::<Panicky>()).await;
    let inst = t.workflow::<Panicky>().create(CreateOptions::params(false)).await.unwrap();
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output.unwrap(), "second attempt fine");
    let step = &t.steps(&inst).unwrap()[0];
    assert_eq!(step.attempt_log[0].error.as_ref().unwrap().message(), "panicked: index out of bounds");

    let inst = t.workflow::<Panicky>().create(CreateOptions::params(true)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert_eq!(status.error.unwrap().message(), "panicked: the body itself panicked");
}

#[tokio::test]
async fn create_batch_instances_reports_each_id_it_did_not_create() {
    let (t, _) = engine_with(|b| b.register::<Waiter>()).await;
    let wf = t.workflow::<Waiter>();
    let one = |id: &str| CreateOptions::params(vec!["e".to_owned()]).with_id(id);
    wf.create(one("taken")).await.unwrap();
    let batch = vec![one("a"), one("taken"), one("a"), one("b"), one("taken")];
    let report = wf.create_batch_instances(batch).await.unwrap();
    assert_eq!(report.created.iter().map(|i| i.id()).collect::<Vec<_>>(), ["a", "b"]);
    let errors: Vec<(usize, &str, u32, &str)> =
        report.errors.iter().map(|e| (e.index, e.id.as_str(), e.code, e.message.as_str())).collect();
    assert_eq!(
        errors,
        [
            (1, "taken", 10405, "workflows.api.error.instance.already_exists"),
            (2, "a", 10415, "workflows.api.error.instance.duplicate_in_batch"),
            (4, "taken", 10415, "workflows.api.error.instance.duplicate_in_batch"),
        ]
    );
    // The instances created run; the taken one was left as it was.
    report.created[0].send_event("e", "x").await.unwrap();
    t.wait_for_status(&report.created[0], InstanceStatusKind::Complete).await.unwrap();

    let counted = wf.create_batch_count(3, vec![]).await.unwrap();
    assert_eq!((counted.created.len(), counted.errors.len()), (3, 0));
    let ids: std::collections::HashSet<&str> = counted.created.iter().map(|i| i.id()).collect();
    assert_eq!(ids.len(), 3, "generated ids are distinct");
    let refused = wf.create_batch_instances(vec![one("fine"), one("terminateAll")]).await.unwrap_err();
    assert_eq!(refused.to_string(), "WorkflowError: (instance.invalid_id) Instance ID is invalid");
    assert_eq!(
        wf.get("fine").await.unwrap_err().code(),
        Some("instance.not_found"),
        "nothing of a refused batch is created"
    );
}
