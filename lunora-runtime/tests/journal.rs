//! The journal file: reopening resumes work; foreign, corrupt or newer files are refused and
//! left byte-for-byte untouched.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use lunora_runtime::local::Engine;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;

const START: i64 = 1_767_225_600_000;

async fn open_err(path: &Path) -> Error {
    match Engine::builder().path(path).register::<Sleeper>().open().await {
        Ok(_) => panic!("{} should have been refused", path.display()),
        Err(e) => e,
    }
}

async fn wait_closed(path: &Path) {
    // The engine's connection closes once its tasks are gone; SQLite then folds the WAL back.
    for _ in 0..500 {
        if !Path::new(&format!("{}-wal", path.display())).exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_sleeping_instance_survives_an_engine_restart_without_rerunning_steps() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fx = Effects::default();
    let open = || {
        TestEngine::builder().path(&db).start_time(START).env(Env::new().with(fx.clone())).register::<Sleeper>().open()
    };
    let t = open().await.unwrap();
    let inst = t.workflow::<Sleeper>().create(CreateOptions::params("1 hour".into()).with_id("s")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    drop(inst);
    drop(t);
    wait_closed(&db).await;

    let t = open().await.unwrap();
    let inst = t.workflow::<Sleeper>().get("s").await.unwrap();
    assert_eq!(inst.status().await.unwrap().status, InstanceStatusKind::Waiting);
    assert_eq!(t.engine().pending_timers(), 1, "the timer was re-armed from the journal");
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    assert_eq!(fx.count("before"), 1, "the step before the sleep did not run again");
}

#[tokio::test]
async fn a_foreign_sqlite_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ada');",
        )
        .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let err = open_err(&db).await;
    assert_eq!(err.name(), "WorkflowInternalError");
    assert!(err.message().contains("is not a lunora journal: it is a SQLite database of another application"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "not a byte changed");
    assert!(!Path::new(&format!("{}-wal", db.display())).exists());
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.txt");
    let text = "these are my notes, not a database\n".repeat(200);
    std::fs::write(&db, &text).unwrap();
    let err = open_err(&db).await;
    assert!(err.message().contains("cannot open the lunora journal"), "{err}");
    assert!(err.message().contains("not a database"), "{err}");
    assert_eq!(std::fs::read_to_string(&db).unwrap(), text);
}

#[tokio::test]
async fn a_corrupt_journal_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    {
        let t = TestEngine::builder()
            .path(&db)
            .env(Env::new().with(Effects::default()))
            .register::<Sleeper>()
            .open()
            .await
            .unwrap();
        for i in 0..50 {
            let inst = t
                .workflow::<Sleeper>()
                .create(CreateOptions::params("1 day".into()).with_id(format!("i{i}")))
                .await
                .unwrap();
            t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
        }
    }
    wait_closed(&db).await;
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 3 * 4096, "journal has several pages");
    for b in &mut bytes[4096 + 100..4096 + 400] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let err = open_err(&db).await;
    assert!(err.message().contains("corrupt") || err.message().contains("malformed"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "not a byte changed");
}

#[tokio::test]
async fn a_journal_of_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    drop(Engine::builder().path(&db).register::<Sleeper>().open().await.unwrap());
    wait_closed(&db).await;
    rusqlite::Connection::open(&db).unwrap().pragma_update(None, "user_version", 2).unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = open_err(&db).await;
    assert!(err.message().contains("schema version 2, this lunora reads version 1"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_running_instances_so_the_file_can_be_reopened_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let (fx, gate) = (Effects::default(), Gate::default());
    let t = TestEngine::builder()
        .path(&db)
        .env(Env::new().with(fx.clone()).with(gate.clone()))
        .register::<Gated>()
        .open()
        .await
        .unwrap();
    let inst = t.workflow::<Gated>().create(CreateOptions::default().with_id("g")).await.unwrap();
    for _ in 0..2_000 {
        if fx.count("first started") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(fx.count("first started"), 1);
    t.engine().clone().close().await;
    drop(inst);
    drop(t);
    wait_closed(&db).await;

    // A new engine on the same file in the same process picks the instance up alone.
    let gate = Gate::default();
    gate.0.add_permits(1);
    let t = TestEngine::builder()
        .path(&db)
        .env(Env::new().with(fx.clone()).with(gate))
        .register::<Gated>()
        .open()
        .await
        .unwrap();
    let inst = t.workflow::<Gated>().get("g").await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(fx.all(), ["first started", "first started", "first done", "second"]);
    let first = &t.steps(&inst).unwrap()[0];
    assert_eq!(first.attempts, 2, "the attempt cut by close counts, as after a crash");
    assert!(first.attempt_log[0].error.as_ref().unwrap().message().contains("was interrupted"));
}
