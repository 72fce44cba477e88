//! `instance.subscribe` on the embedded engine, over a real journal file: history then live
//! events, filters, cursors (also after reopening the journal), the end of the stream, and
//! subscriptions that go away or pile up.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use lunora_runtime::subscription::EVENT_TYPES;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde_json::json;

const START: i64 = 1_767_225_600_000;
/// Bounds every wait for an event: a test that would hang fails instead.
const PATIENCE: Duration = Duration::from_secs(10);

async fn open(db: &Path) -> (TestEngine, Effects) {
    engine_with(|b| b.path(db).register::<Pipeline>().register::<FlakyFlow>().register::<Sleeper>()).await
}

async fn next(sub: &mut Subscription) -> Option<InstanceEvent> {
    match tokio::time::timeout(PATIENCE, sub.next()).await {
        Ok(Some(Ok(event))) => Some(event),
        Ok(Some(Err(e))) => panic!("the subscription failed: {e}"),
        Ok(None) => None,
        Err(_) => panic!("no event within {PATIENCE:?}"),
    }
}

/// Every event until the subscription ends.
async fn drain(mut sub: Subscription) -> Vec<InstanceEvent> {
    let mut events = Vec::new();
    while let Some(event) = next(&mut sub).await {
        events.push(event);
    }
    events
}

fn types(events: &[InstanceEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e.kind.step_name() {
            Some(step) => format!("{} {step}", e.kind.type_name()),
            None => e.kind.type_name().to_owned(),
        })
        .collect()
}

fn assert_increasing(events: &[InstanceEvent]) {
    for pair in events.windows(2) {
        assert!(pair[0].event_id < pair[1].event_id, "event ids must strictly increase: {pair:?}");
    }
}

fn order(id: &str) -> CreateOptions<Order> {
    CreateOptions::params(Order { order_id: id.into() }).with_id(id)
}

/// Runs a pipeline to its end: load, 30-day sleep, charge, shipment event.
async fn run_pipeline(t: &TestEngine, id: &str) -> InstanceHandle<Pipeline> {
    let inst = t.workflow::<Pipeline>().create(order(id)).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    t.advance(Duration::from_secs(30 * 86_400)).await;
    t.wait_for_step_result::<_, serde_json::Value>(&inst, lunora_runtime::local::StepSelector::name("charge"))
        .await
        .unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    inst.send_event("shipment-created", json!({"tracking": "T1"})).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    inst
}

const PIPELINE_EVENTS: &[&str] = &[
    "workflow_queued",
    "workflow_started",
    "workflow_running",
    "step_started load-1",
    "attempt_started load-1",
    "attempt_completed load-1",
    "step_completed load-1",
    "sleep_started cool-off-1",
    "workflow_waiting",
    "workflow_running",
    "sleep_completed cool-off-1",
    "step_started charge-1",
    "attempt_started charge-1",
    "attempt_completed charge-1",
    "step_completed charge-1",
    "wait_started await-shipment-1",
    "workflow_waiting",
    "workflow_queued",
    "workflow_running",
    "wait_completed await-shipment-1",
    "workflow_completed",
];

#[tokio::test]
async fn a_finished_instance_streams_its_whole_history_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let inst = run_pipeline(&t, "o1").await;
    let events = drain(inst.subscribe(SubscribeOptions::new()).await.unwrap()).await;
    let seen = types(&events);
    // Between the wait and the event, whether the instance goes back to the queue first depends
    // on whether it hibernated: compare without the status events around it.
    let without = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|t| !matches!(t.as_str(), "workflow_queued" | "workflow_running" | "workflow_waiting"))
            .cloned()
            .collect()
    };
    let expected: Vec<String> = PIPELINE_EVENTS.iter().map(|s| s.to_string()).collect();
    assert_eq!(without(&seen), without(&expected), "{seen:#?}");
    assert_eq!(seen[..3], expected[..3]);
    assert_increasing(&events);
    assert!(events.iter().all(|e| e.instance_id == "o1"));
    let by_type = |name: &str| events.iter().find(|e| e.kind.type_name() == name).unwrap().kind.clone();
    assert_eq!(
        by_type("workflow_started"),
        InstanceEventKind::WorkflowStarted { params: Some(json!({"order_id": "o1"})) }
    );
    assert_eq!(
        by_type("workflow_completed"),
        InstanceEventKind::WorkflowCompleted { output: Some(json!("order o1 r-1 T1")) }
    );
    assert_eq!(
        by_type("sleep_started"),
        InstanceEventKind::SleepStarted { step_name: "cool-off-1".into(), duration_ms: 30 * 86_400_000 }
    );
    assert_eq!(
        by_type("wait_started"),
        InstanceEventKind::WaitStarted { step_name: "await-shipment-1".into(), event_type: "shipment-created".into() }
    );
    let completed = events.iter().find(|e| e.kind.type_name() == "step_completed").unwrap();
    assert_eq!(
        completed.kind,
        InstanceEventKind::StepCompleted { step_name: "load-1".into(), output: Some(json!("order o1")) }
    );
    match by_type("step_started") {
        InstanceEventKind::StepStarted { config: Some(config), .. } => {
            assert_eq!(config.retries.limit, json!(5));
            assert_eq!(config.timeout, json!(600_000));
        }
        other => panic!("step_started without its config: {other:?}"),
    }
    // The sleep's wake is 30 days after its start, on the engine's (virtual) clock.
    let sleep = events.iter().find(|e| e.kind.type_name() == "sleep_completed").unwrap();
    assert!(sleep.timestamp >= START + 30 * 86_400_000, "{sleep:?}");
}

#[tokio::test]
async fn a_live_subscription_sees_the_history_then_each_new_event() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let inst = t.workflow::<Pipeline>().create(order("live")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let mut sub = inst.subscribe(SubscribeOptions::new()).await.unwrap();
    let mut seen = Vec::new();
    while let Some(event) = next(&mut sub).await {
        let waiting = event.kind.type_name() == "workflow_waiting";
        seen.push(event);
        if waiting {
            break;
        }
    }
    assert_eq!(types(&seen).last().unwrap(), "workflow_waiting");
    // Nothing more comes while the instance sleeps.
    assert!(tokio::time::timeout(Duration::from_millis(200), sub.next()).await.is_err());
    t.advance(Duration::from_secs(30 * 86_400)).await;
    let woke = next(&mut sub).await.unwrap();
    assert_eq!(woke.kind.type_name(), "workflow_running");
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    inst.send_event("shipment-created", json!({"tracking": "T2"})).await.unwrap();
    let rest = drain(sub).await;
    seen.push(woke);
    seen.extend(rest);
    assert_eq!(seen.last().unwrap().kind.type_name(), "workflow_completed");
    assert_increasing(&seen);
    let all = drain(inst.subscribe(SubscribeOptions::new()).await.unwrap()).await;
    assert_eq!(all, seen, "a live subscription sees what a later one reads from the history");
}

#[tokio::test]
async fn retried_attempts_carry_their_error_and_the_delay_before_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let params = Flaky { fail_times: 2, limit: 3, non_retryable: false, catch: false };
    let inst = t.workflow::<FlakyFlow>().create(CreateOptions::params(params).with_id("f")).await.unwrap();
    t.run_to_completion(&inst).await.unwrap();
    let filter = ["attempt_started", "attempt_errored", "attempt_completed", "step_completed"];
    let events = drain(inst.subscribe(SubscribeOptions::new().filter(filter)).await.unwrap()).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        types(&events),
        [
            "attempt_started call-1",
            "attempt_errored call-1",
            "attempt_started call-1",
            "attempt_errored call-1",
            "attempt_started call-1",
            "attempt_completed call-1",
            "step_completed call-1",
        ]
    );
    match &kinds[1] {
        InstanceEventKind::AttemptErrored { attempt, error, retry_delay_ms, .. } => {
            assert_eq!((*attempt, error.message.as_str(), *retry_delay_ms), (1, "boom 1", Some(10_000)));
        }
        other => panic!("{other:?}"),
    }
    match &kinds[3] {
        InstanceEventKind::AttemptErrored { attempt, retry_delay_ms, .. } => {
            assert_eq!((*attempt, *retry_delay_ms), (2, Some(20_000)), "exponential backoff");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(kinds[5], InstanceEventKind::AttemptCompleted { attempt: 3, .. }));
}

#[tokio::test]
async fn a_filter_keeps_its_types_and_the_stream_still_ends_at_the_filtered_out_end() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let inst = run_pipeline(&t, "o2").await;
    let only_steps = drain(inst.subscribe(SubscribeOptions::new().filter(["step_completed"])).await.unwrap()).await;
    assert_eq!(types(&only_steps), ["step_completed load-1", "step_completed charge-1"]);

    // Live: the filtered-out terminal event ends a waiting subscription.
    let inst = t.workflow::<Pipeline>().create(order("o3")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let mut sub = inst.subscribe(SubscribeOptions::new().filter(["wait_started"])).await.unwrap();
    t.advance(Duration::from_secs(30 * 86_400)).await;
    let wait = next(&mut sub).await.unwrap();
    assert_eq!(wait.kind.type_name(), "wait_started");
    inst.terminate().await.unwrap();
    assert!(next(&mut sub).await.is_none(), "workflow_terminated, filtered out, still ends the stream");
    assert!(sub.next().await.is_none(), "an ended subscription stays ended");
}

#[tokio::test]
async fn a_cursor_resumes_right_after_its_event_also_after_the_journal_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let (t, _) = open(&db).await;
    let inst = t.workflow::<Pipeline>().create(order("c")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let mut sub = inst.subscribe(SubscribeOptions::new()).await.unwrap();
    let mut before = Vec::new();
    while let Some(event) = next(&mut sub).await {
        let done = event.kind.type_name() == "workflow_waiting";
        before.push(event);
        if done {
            break;
        }
    }
    drop(sub);
    let cursor = before[4].event_id;
    let resumed = inst.subscribe(SubscribeOptions::new().cursor(cursor)).await.unwrap();
    let mut resumed = resumed;
    let first = next(&mut resumed).await.unwrap();
    assert_eq!(first, before[5], "resumes with the event right after the cursor");
    drop(resumed);
    drop(inst);
    let engine = t.engine().clone();
    drop(t);
    engine.close().await;

    let (t, _) = open(&db).await;
    let inst = t.workflow::<Pipeline>().get("c").await.unwrap();
    let after_reopen = inst.subscribe(SubscribeOptions::new().cursor(cursor)).await.unwrap();
    let mut after_reopen = after_reopen;
    for expected in &before[5..] {
        assert_eq!(&next(&mut after_reopen).await.unwrap(), expected, "the same ids after reopening");
    }
    t.advance(Duration::from_secs(30 * 86_400)).await;
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    inst.send_event("shipment-created", json!({})).await.unwrap();
    let rest = drain(after_reopen).await;
    assert!(rest[0].event_id > before.last().unwrap().event_id);
    assert_eq!(rest.last().unwrap().kind.type_name(), "workflow_completed");
    // A cursor at or past the end: nothing, and the stream ends.
    let last = rest.last().unwrap().event_id;
    assert!(drain(inst.subscribe(SubscribeOptions::new().cursor(last)).await.unwrap()).await.is_empty());
    // Ids are SQLite's (signed): a cursor past them all is past every event, not before them.
    assert!(drain(inst.subscribe(SubscribeOptions::new().cursor(u64::MAX)).await.unwrap()).await.is_empty());
}

#[tokio::test]
async fn unknown_instances_and_unknown_filter_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let missing = t.workflow::<Pipeline>().get("nope").await;
    let err = match missing {
        Ok(handle) => handle.subscribe(SubscribeOptions::new()).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(err.code(), Some("instance.not_found"), "{err:?}");
    let direct = t.engine().subscribe("pipeline", "nope", SubscribeOptions::new()).unwrap_err();
    assert_eq!(direct.code(), Some("instance.not_found"), "{direct:?}");

    let inst = t.workflow::<Pipeline>().create(order("x")).await.unwrap();
    let err = inst.subscribe(SubscribeOptions::new().filter(["step_completed", "stepCompleted"])).await.unwrap_err();
    assert!(err.message().starts_with("Invalid Workflow subscription options"), "{err}");
    assert!(err.message().contains("\"stepCompleted\""), "{err}");
    assert!(EVENT_TYPES.contains(&"workflow_waiting_for_pause"));
}

#[tokio::test]
async fn dropping_subscriptions_mid_stream_leaves_the_engine_running() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let inst = t.workflow::<Pipeline>().create(order("d")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let alive = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let baseline = alive();
    for _ in 0..50 {
        let mut sub = inst.subscribe(SubscribeOptions::new()).await.unwrap();
        next(&mut sub).await.unwrap();
        drop(sub); // mid-history, and (below) while waiting for new events
    }
    let waiting: Vec<Subscription> = {
        let mut subs = Vec::new();
        for _ in 0..50 {
            subs.push(inst.subscribe(SubscribeOptions::new().filter(["workflow_completed"])).await.unwrap());
        }
        subs
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(alive() >= baseline + 50, "each subscription is a task while it waits");
    drop(waiting);
    // Each subscription's task ends with it (bounded: fails rather than hangs).
    let mut left = alive();
    for _ in 0..500 {
        if left <= baseline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        left = alive();
    }
    assert_eq!(left, baseline, "dropped subscriptions left tasks behind");
    t.advance(Duration::from_secs(30 * 86_400)).await;
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    inst.send_event("shipment-created", json!({})).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_subscribers_each_see_the_same_whole_history() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let inst = t.workflow::<Pipeline>().create(order("many")).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let sub = inst.subscribe(SubscribeOptions::new()).await.unwrap();
        tasks.push(tokio::spawn(drain(sub)));
    }
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    t.advance(Duration::from_secs(30 * 86_400)).await;
    t.wait_for_step_result::<_, serde_json::Value>(&inst, lunora_runtime::local::StepSelector::name("charge"))
        .await
        .unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    inst.send_event("shipment-created", json!({})).await.unwrap();
    t.run_to_completion(&inst).await.unwrap();
    let reference = drain(inst.subscribe(SubscribeOptions::new()).await.unwrap()).await;
    for task in tasks {
        assert_eq!(task.await.unwrap(), reference);
    }
}

#[tokio::test]
async fn a_deleted_instance_ends_its_subscriptions_with_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let inst = t.workflow::<Pipeline>().create(order("gone")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let mut sub = inst.subscribe(SubscribeOptions::new().filter(["workflow_completed"])).await.unwrap();
    inst.terminate().await.unwrap();
    assert!(next(&mut sub).await.is_none());
    let mut sub = inst.subscribe(SubscribeOptions::new().cursor(u64::MAX / 2)).await.unwrap();
    t.engine().delete("pipeline", &["gone"]).await.unwrap();
    let err = tokio::time::timeout(PATIENCE, sub.next()).await.unwrap();
    assert!(err.is_none() || err.unwrap().unwrap_err().code() == Some("instance.not_found"));
}

#[tokio::test]
async fn a_restart_starts_a_new_history_that_subscribers_see_to_its_new_end() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let inst = run_pipeline(&t, "again").await;
    let first = drain(inst.subscribe(SubscribeOptions::new()).await.unwrap()).await;
    inst.restart().await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let mut sub = inst.subscribe(SubscribeOptions::new()).await.unwrap();
    let queued = next(&mut sub).await.unwrap();
    assert_eq!(queued.kind.type_name(), "workflow_queued");
    assert!(queued.event_id > first.last().unwrap().event_id, "ids are never reused");
    let started = next(&mut sub).await.unwrap();
    assert_eq!(started.kind.type_name(), "workflow_started", "the old run's end does not end the new run's stream");
}

#[tokio::test]
async fn a_restart_from_a_step_never_hands_out_an_erased_id_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let (t, _) = open(&db).await;
    let inst = run_pipeline(&t, "partly").await;
    let first = drain(inst.subscribe(SubscribeOptions::new()).await.unwrap()).await;
    let last_id = first.last().unwrap().event_id;
    inst.restart_from(RestartFrom::step("charge")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let engine = t.engine().clone();
    drop((inst, t));
    engine.close().await;

    // The newest events (charge, the wait, the end) were erased; what replaces them is newer.
    let (t, _) = open(&db).await;
    let inst = t.workflow::<Pipeline>().get("partly").await.unwrap();
    let history = {
        let mut sub = inst.subscribe(SubscribeOptions::new()).await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 20 {
            match tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
                Ok(Some(event)) => seen.push(event.unwrap()),
                _ => break,
            }
        }
        seen
    };
    assert_increasing(&history);
    // An event of the first run that stayed is the same event: same id, same everything.
    let (kept, new): (Vec<_>, Vec<_>) = history.iter().partition(|e| first.contains(e));
    assert!(kept.iter().any(|e| e.kind.type_name() == "step_completed"), "load's events stay: {:#?}", types(&history));
    assert!(
        new.iter().any(|e| e.kind.type_name() == "step_completed"),
        "charge ran again under a new id: {:#?}",
        types(&history)
    );
    assert!(!new.is_empty(), "{:#?}", types(&history));
    assert!(new.iter().all(|e| e.event_id > last_id), "erased ids came back: {:#?} after {last_id}", types(&history));
    let mut sub = inst.subscribe(SubscribeOptions::new().cursor(last_id)).await.unwrap();
    let resumed = next(&mut sub).await.unwrap();
    assert_eq!(resumed.event_id, new[0].event_id, "a cursor from before the restart misses nothing of the new run");
}

/// What `tests/fixtures/journal-v4.sqlite` holds (written by lunora at schema version 4, whose
/// event ids were global): `held` (created first) sleeps in `hold`, `old` completed.
const V4_HELD_IDS: [u64; 9] = [1, 3, 4, 5, 6, 7, 8, 9, 10];
const V4_OLD_IDS: [u64; 8] = [2, 11, 12, 13, 14, 15, 16, 17];

#[tokio::test]
async fn a_version_4_journal_keeps_every_event_and_its_id_when_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-v4.sqlite");
    std::fs::copy(&fixture, &db).unwrap();
    let t = TestEngine::builder().path(&db).start_time(START).register::<Legacy>().open().await.unwrap();
    let old = t.workflow::<Legacy>().get("old").await.unwrap();
    let history = drain(old.subscribe(SubscribeOptions::new()).await.unwrap()).await;
    assert_eq!(history.iter().map(|e| e.event_id).collect::<Vec<_>>(), V4_OLD_IDS);
    assert_eq!(
        types(&history)[3..],
        [
            "step_started legacy-1",
            "attempt_started legacy-1",
            "attempt_completed legacy-1",
            "step_completed legacy-1",
            "workflow_completed"
        ]
    );
    let resumed = drain(old.subscribe(SubscribeOptions::new().cursor(14)).await.unwrap()).await;
    assert_eq!(resumed.iter().map(|e| e.event_id).collect::<Vec<_>>(), [15, 16, 17], "a v4 cursor still resumes");

    let held = t.workflow::<Legacy>().get("held").await.unwrap();
    let mut sub = held.subscribe(SubscribeOptions::new()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(next(&mut sub).await.unwrap());
    }
    assert_eq!(seen.iter().map(|e| e.event_id).collect::<Vec<_>>(), V4_HELD_IDS);
    t.run_to_completion(&held).await.unwrap();
    let rest = drain(sub).await;
    assert_eq!(rest.first().unwrap().event_id, 11, "counts on from the instance's own last id");
    assert_increasing(&rest);
    assert_eq!(rest.last().unwrap().kind.type_name(), "workflow_completed");
    t.engine().clone().close().await;

    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    let leftovers: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name IN ('instance_events_v4', 'instance_events_by_instance')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((version, leftovers), (5, 0));
}

#[tokio::test]
async fn a_version_3_journal_is_migrated_with_the_history_of_its_instances_reconstructed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let (t, _) = open(&db).await;
    run_pipeline(&t, "done").await;
    let params = Flaky { fail_times: 1, limit: 3, non_retryable: false, catch: false };
    let flaky = t.workflow::<FlakyFlow>().create(CreateOptions::params(params).with_id("retrying")).await.unwrap();
    t.wait_for_status(&flaky, InstanceStatusKind::Waiting).await.unwrap();
    drop(flaky);
    let engine = t.engine().clone();
    drop(t);
    engine.close().await;
    // Version 3 is version 5 without the event log: make the file exactly that.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("DROP TABLE instance_events; DROP TABLE event_floors; PRAGMA user_version = 3;").unwrap();
    }
    let (t, _) = open(&db).await;
    let done = t.workflow::<Pipeline>().get("done").await.unwrap();
    let history = drain(done.subscribe(SubscribeOptions::new()).await.unwrap()).await;
    assert_eq!(
        types(&history),
        [
            "workflow_queued",
            "workflow_started",
            "workflow_running",
            "step_started load-1",
            "attempt_started load-1",
            "attempt_completed load-1",
            "step_completed load-1",
            "sleep_started cool-off-1",
            "sleep_completed cool-off-1",
            "step_started charge-1",
            "attempt_started charge-1",
            "attempt_completed charge-1",
            "step_completed charge-1",
            "wait_started await-shipment-1",
            "wait_completed await-shipment-1",
            "workflow_completed",
        ]
    );
    assert_increasing(&history);
    // The retrying instance goes on: its new events follow the reconstructed ones.
    let flaky = t.workflow::<FlakyFlow>().get("retrying").await.unwrap();
    let sub = flaky.subscribe(SubscribeOptions::new()).await.unwrap();
    t.run_to_completion(&flaky).await.unwrap();
    let events = drain(sub).await;
    assert_increasing(&events);
    let seen = types(&events);
    assert_eq!(
        seen[..6],
        [
            "workflow_queued",
            "workflow_started",
            "workflow_running",
            "step_started call-1",
            "attempt_started call-1",
            "attempt_errored call-1"
        ]
    );
    assert_eq!(seen[6], "workflow_waiting", "its status when migrated");
    assert_eq!(seen.last().unwrap(), "workflow_completed");
    assert!(seen.contains(&"attempt_completed call-1".to_owned()));
    let engine = t.engine().clone();
    drop(t);
    engine.close().await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 5);
}

#[tokio::test]
async fn a_short_sleep_waited_in_memory_still_reports_waiting_then_running() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = open(&dir.path().join("journal.db")).await;
    let inst = t.workflow::<Sleeper>().create(CreateOptions::params("1 second".into()).with_id("short")).await.unwrap();
    let sub = inst.subscribe(SubscribeOptions::new()).await.unwrap();
    t.run_to_completion(&inst).await.unwrap();
    let events = drain(sub).await;
    assert_increasing(&events);
    let seen = types(&events);
    let at = |name: &str| seen.iter().position(|s| s == name).unwrap_or_else(|| panic!("no {name} in {seen:#?}"));
    let (started, completed) = (at("sleep_started nap-1"), at("sleep_completed nap-1"));
    let between = &seen[started..completed];
    assert!(
        between.contains(&"workflow_waiting".to_owned()) && between.contains(&"workflow_running".to_owned()),
        "{seen:#?}"
    );
    assert_eq!(seen.last().unwrap(), "workflow_completed");
}

/// The workflow of `tests/fixtures/journal-v2.sqlite` (a journal lunora wrote at schema version
/// 2, see `stream_steps.rs`), as far as its two instances got: `old` completed, `held` sleeps.
struct Legacy;

impl Workflow for Legacy {
    type Params = u32;
    type Output = Vec<usize>;
    const NAME: &'static str = "legacy";
    const EXPORT_NAME: &'static str = "legacy";

    async fn run(ctx: WorkflowContext<u32>) -> Result<Vec<usize>> {
        let n: u32 = ctx.step.do_("legacy", |_| async { Ok(7u32) }).await?;
        if ctx.params == 1 {
            ctx.step.sleep("hold", "365 days").await?;
        }
        Ok(vec![n as usize])
    }
}

#[tokio::test]
async fn a_journal_the_version_2_engine_wrote_gets_the_history_of_its_instances() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-v2.sqlite");
    std::fs::copy(&fixture, &db).unwrap();
    let t = TestEngine::builder().path(&db).start_time(START).register::<Legacy>().open().await.unwrap();
    let old = t.workflow::<Legacy>().get("old").await.unwrap();
    let history = drain(old.subscribe(SubscribeOptions::new()).await.unwrap()).await;
    assert_increasing(&history);
    assert_eq!(
        types(&history),
        [
            "workflow_queued",
            "workflow_started",
            "workflow_running",
            "step_started legacy-1",
            "attempt_started legacy-1",
            "attempt_completed legacy-1",
            "step_completed legacy-1",
            "workflow_completed",
        ]
    );
    let held = t.workflow::<Legacy>().get("held").await.unwrap();
    let mut sub = held.subscribe(SubscribeOptions::new()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(next(&mut sub).await.unwrap());
    }
    assert_eq!(types(&seen)[7..], ["sleep_started hold-1", "workflow_waiting"], "{:#?}", types(&seen));
    t.run_to_completion(&held).await.unwrap();
    let rest = drain(sub).await;
    assert!(rest.first().unwrap().event_id > seen.last().unwrap().event_id);
    assert_eq!(rest.last().unwrap().kind.type_name(), "workflow_completed");
}

/// The ids an instance's log holds, read from the file.
fn stored_event_ids(db: &Path, instance: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM instance_events WHERE instance = ?1 ORDER BY id").unwrap();
    stmt.query_map([instance], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

#[tokio::test]
async fn event_ids_at_the_top_of_their_range_are_refused_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let (t, fx) = open(&db).await;
    let inst =
        t.workflow::<Sleeper>().create(CreateOptions::params("1 hour".to_owned()).with_id("edge")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let engine = t.engine().clone();
    drop((inst, t));
    engine.close().await;
    // What only a hand edit makes: the newest erased id at the top of i64.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT OR REPLACE INTO event_floors (workflow, instance, floor) VALUES ('sleeper', 'edge', ?1)",
            [i64::MAX],
        )
        .unwrap();
    let before = stored_event_ids(&db, "edge");

    let (t, _) = open(&db).await;
    let inst = t.workflow::<Sleeper>().get("edge").await.unwrap();
    t.advance(Duration::from_secs(3_600)).await;
    let woke = tokio::time::timeout(Duration::from_millis(500), t.run_to_completion(&inst)).await;
    assert!(!matches!(woke, Ok(Ok(_))), "the instance cannot go on without its events: {woke:?}");
    let logs = t.logs();
    assert!(
        logs.iter().any(|(_, line)| line.contains(
            "event ids of instance edge of workflow sleeper are exhausted (the newest is 9223372036854775807); \
             the journal was edited by hand: restore it from a backup or delete the instance"
        )),
        "{logs:#?}"
    );
    assert_eq!(fx.count("after"), 0, "no step runs that its journal could not record");
    let engine = t.engine().clone();
    drop((inst, t));
    engine.close().await;
    assert_eq!(stored_event_ids(&db, "edge"), before, "nothing was appended, wrapped or otherwise");
}
