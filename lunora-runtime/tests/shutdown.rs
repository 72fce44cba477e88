//! Graceful shutdown in the middle of work: attempts in flight finish (within the grace
//! period), no new step starts, instances accepted meanwhile wait in the journal, and the next
//! engine on the file carries everything on without running a finished attempt again. Past the
//! grace period, what still runs is stopped as by a crash (the kill -9 tests' guarantees).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use lunora_runtime::local::Engine;
use lunora_runtime::*;

const LIMIT: Option<Duration> = Some(Duration::from_secs(20));

async fn open(db: &Path, fx: &Effects, gate: &Gate) -> Engine {
    Engine::builder()
        .path(db)
        .wait_for_journal(Duration::from_secs(10))
        .env(Env::new().with(fx.clone()).with(gate.clone()))
        .register::<Gated>()
        .open()
        .await
        .unwrap()
}

async fn started(fx: &Effects, n: usize) {
    for _ in 0..2_000 {
        if fx.count("first started") >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the first step did not start: {:?}", fx.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_attempt_finishes_no_new_step_starts_and_the_next_engine_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let (fx, gate) = (Effects::default(), Gate::default());
    let engine = open(&db, &fx, &gate).await;
    engine.workflow::<Gated>().create(CreateOptions::default().with_id("busy")).await.unwrap();
    started(&fx, 1).await;

    let handle = engine.clone();
    let shutdown = tokio::spawn(engine.shutdown(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Accepted while shutting down: not started now, not lost.
    handle.workflow::<Gated>().create(CreateOptions::default().with_id("late")).await.unwrap();
    gate.0.add_permits(1); // the attempt in flight may now finish
    shutdown.await.unwrap();
    drop(handle);
    assert_eq!(fx.all(), ["first started", "first done"], "the attempt finished; `second` did not start");

    let engine = open(&db, &fx, &gate).await;
    gate.0.add_permits(1); // for `late`'s first step
    for id in ["busy", "late"] {
        let status = engine.wait("gated", id, WaitFor::End, LIMIT).await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Complete, "{id}: {status:?}");
    }
    assert_eq!(fx.count("first started"), 2, "busy's finished attempt did not run again: {:?}", fx.all());
    assert_eq!(fx.count("second"), 2);
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_grace_period_the_attempt_is_interrupted_and_runs_again_later() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let (fx, gate) = (Effects::default(), Gate::default());
    let engine = open(&db, &fx, &gate).await;
    engine.workflow::<Gated>().create(CreateOptions::default().with_id("stuck")).await.unwrap();
    started(&fx, 1).await;
    engine.shutdown(Duration::from_millis(100)).await;
    assert_eq!(fx.all(), ["first started"]);

    let engine = open(&db, &fx, &gate).await;
    started(&fx, 2).await;
    gate.0.add_permits(1);
    let status = engine.wait("gated", "stuck", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    let steps = engine.steps("gated", "stuck").unwrap();
    assert_eq!(steps[0].attempts, 2, "the interrupted attempt counts, as after a crash");
    engine.close().await;
}
