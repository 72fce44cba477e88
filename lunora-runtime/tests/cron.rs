//! Cron schedules on the embedded engine: one instance per tick carrying `event.schedule`, on
//! the virtual clock across engine restarts (missed ticks coalesce into one, nothing fires
//! twice), and once on the real clock.

use std::path::Path;
use std::time::Duration;

use lunora_runtime::listing::ListQuery;
use lunora_runtime::local::Engine;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;

/// 2026-01-01T00:01:00Z: a minute past a tick of `*/10 * * * *`.
const START: i64 = 1_767_225_660_000;
const MINUTE: i64 = 60_000;

/// Returns the tick it was started for.
struct Every10;

impl Workflow for Every10 {
    type Params = ();
    type Output = Schedule;
    const NAME: &'static str = "every-10";
    const EXPORT_NAME: &'static str = "every10";
    const SCHEDULES: &'static [&'static str] = &["*/10 * * * *"];

    async fn run(ctx: WorkflowContext<()>) -> Result<Schedule> {
        ctx.event.schedule.clone().ok_or_else(|| Error::new("not started by a schedule"))
    }
}

async fn open(db: &Path, at: i64) -> TestEngine {
    TestEngine::builder()
        .path(db)
        .start_time(at)
        .wait_for_journal(Duration::from_secs(10))
        .register::<Every10>()
        .open()
        .await
        .unwrap()
}

async fn close(t: TestEngine) {
    let engine = t.engine().clone();
    drop(t);
    engine.close().await;
}

/// The scheduled times of the instances, oldest first, once each has completed.
async fn fired(t: &TestEngine) -> Vec<i64> {
    let mut ticks = Vec::new();
    // The scheduler fires on its own task: give it a moment (it needs far less).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let list = t.engine().list("every-10", &ListQuery::new().per_page(100)).unwrap();
    for info in &list.instances {
        let status = t.engine().wait("every-10", &info.id, WaitFor::End, Some(Duration::from_secs(10))).await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
        let schedule: Schedule = serde_json::from_value(status.output.unwrap()).unwrap();
        assert_eq!(schedule.cron, "*/10 * * * *");
        assert_eq!(info.id, format!("cron-0-{}", schedule.scheduled_time.as_millis()));
        ticks.push(schedule.scheduled_time.as_millis());
    }
    ticks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_fire_once_each_and_restarts_neither_repeat_nor_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let tick = |minutes: i64| START - MINUTE + minutes * MINUTE; // minutes after 00:00

    let t = open(&db, START).await;
    assert_eq!(fired(&t).await, Vec::<i64>::new(), "a schedule seen for the first time counts from now");
    t.advance(Duration::from_secs(9 * 60)).await; // 00:10
    assert_eq!(fired(&t).await, [tick(10)]);
    t.advance(Duration::from_secs(5 * 60)).await; // 00:15
    assert_eq!(fired(&t).await, [tick(10)]);
    t.advance(Duration::from_secs(5 * 60)).await; // 00:20
    assert_eq!(fired(&t).await, [tick(10), tick(20)]);
    close(t).await;

    // Down from 00:20 to 00:55: 00:30, 00:40 and 00:50 were missed; only 00:50 fires.
    let t = open(&db, tick(55)).await;
    assert_eq!(fired(&t).await, [tick(10), tick(20), tick(50)]);
    close(t).await;
    // The same time again (a restart loop): nothing fires twice.
    let t = open(&db, tick(55)).await;
    assert_eq!(fired(&t).await, [tick(10), tick(20), tick(50)]);
    t.advance(Duration::from_secs(5 * 60)).await; // 01:00
    assert_eq!(fired(&t).await, [tick(10), tick(20), tick(50), tick(60)]);
    close(t).await;
}

struct BadCron;

impl Workflow for BadCron {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "bad-cron";
    const EXPORT_NAME: &'static str = "badCron";
    const SCHEDULES: &'static [&'static str] = &["every day at noon"];

    async fn run(_: WorkflowContext<()>) -> Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_schedule_that_is_not_a_cron_pattern_is_refused_at_open() {
    let err = Engine::builder().register::<BadCron>().open().await.err().unwrap();
    assert_eq!(err.code(), Some("workflow.invalid_schedule"), "{err}");
    assert!(err.message().contains("\"every day at noon\""), "{err}");
}

/// Every minute, on the system clock.
struct EveryMinute;

impl Workflow for EveryMinute {
    type Params = ();
    type Output = Schedule;
    const NAME: &'static str = "every-minute";
    const EXPORT_NAME: &'static str = "everyMinute";
    const SCHEDULES: &'static [&'static str] = &["* * * * *"];

    async fn run(ctx: WorkflowContext<()>) -> Result<Schedule> {
        ctx.event.schedule.clone().ok_or_else(|| Error::new("not started by a schedule"))
    }
}

/// Waits for the next whole minute (at most about 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_cron_fires_on_the_real_clock() {
    let engine = Engine::builder().register::<EveryMinute>().open().await.unwrap();
    let armed = engine.now().as_millis();
    let mut found = None;
    for _ in 0..75 * 4 {
        let list = engine.list("every-minute", &ListQuery::new()).unwrap();
        if let Some(first) = list.instances.first() {
            found = Some(first.id.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let id = found.expect("a tick within 75 s");
    let status = engine.wait("every-minute", &id, WaitFor::End, Some(Duration::from_secs(10))).await.unwrap();
    let schedule: Schedule = serde_json::from_value(status.output.unwrap()).unwrap();
    let at = schedule.scheduled_time.as_millis();
    assert_eq!(at % MINUTE, 0, "a whole minute");
    assert!(at > armed && at <= armed + MINUTE, "the first tick after the engine started: {armed} → {at}");
    engine.close().await;
}
