//! Operating instances on the embedded engine: listing with Cloudflare's filters and paging,
//! waiting for an instance outside the test harness, deleting, and retention (expired instances
//! are removed, their space given back, their ids free again), and the schema migration that
//! retention needed.

mod common;

use std::time::Duration;

use common::*;
use lunora_runtime::listing::ListQuery;
use lunora_runtime::local::Engine;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;

const DAY: Duration = Duration::from_secs(86_400);

fn keep(success: &str, error: &str) -> Retention {
    Retention { success_retention: Some(success.into()), error_retention: Some(error.into()) }
}

async fn finished(t: &TestEngine, id: &str) {
    let inst = t.workflow::<Sleeper>().create(CreateOptions::params("1 second".to_owned()).with_id(id)).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
}

#[tokio::test]
async fn lists_by_page_by_cursor_newest_first_by_status_and_by_creation_time() {
    let (t, _) = engine_with(|b| b.register::<Sleeper>()).await;
    let start = t.engine().now().as_millis();
    for i in 0..5 {
        finished(&t, &format!("done-{i}")).await;
        t.advance(Duration::from_secs(60)).await;
    }
    let waiting =
        t.workflow::<Sleeper>().create(CreateOptions::params("1 day".to_owned()).with_id("asleep")).await.unwrap();
    t.wait_for_status(&waiting, InstanceStatusKind::Waiting).await.unwrap();
    let engine = t.engine();
    let ids = |list: &listing::InstanceList| list.instances.iter().map(|i| i.id.clone()).collect::<Vec<_>>();

    let page2 = engine.list("sleeper", &ListQuery::new().per_page(2).page(2)).unwrap();
    assert_eq!(ids(&page2), ["done-2", "done-3"]);
    assert_eq!((page2.page, page2.per_page, page2.total_count), (2, 2, 6));

    let mut seen = Vec::new();
    let mut query = ListQuery::new().per_page(4);
    for _ in 0..5 {
        let page = engine.list("sleeper", &query).unwrap();
        seen.extend(ids(&page));
        match page.cursor {
            Some(c) => query = query.cursor(c),
            None => break,
        }
    }
    assert_eq!(seen, ["done-0", "done-1", "done-2", "done-3", "done-4", "asleep"]);

    let newest = engine.list("sleeper", &ListQuery::new().descending().per_page(2)).unwrap();
    assert_eq!(ids(&newest), ["asleep", "done-4"]);
    let by_status = engine.list("sleeper", &ListQuery::new().status(InstanceStatusKind::Waiting)).unwrap();
    assert_eq!((ids(&by_status), by_status.total_count), (vec!["asleep".to_owned()], 1));
    let window =
        ListQuery::new().created_between(Some(Timestamp(start + 60_000)), Some(Timestamp(start + 3 * 60_000 + 5_000)));
    assert_eq!(ids(&engine.list("sleeper", &window).unwrap()), ["done-1", "done-2", "done-3"]);

    // The typed handle lists the same.
    let typed = t.workflow::<Sleeper>().list(&ListQuery::new().per_page(2).page(2)).await.unwrap();
    assert_eq!(typed, page2);

    for (bad, why) in [
        (ListQuery::new().per_page(0), "per_page is 0"),
        (ListQuery::new().per_page(101), "per_page is 101"),
        (ListQuery::new().page(0), "page is 0"),
        (ListQuery::new().cursor("not-ours"), "cursor \"not-ours\""),
    ] {
        let err = engine.list("sleeper", &bad).unwrap_err();
        assert_eq!(err.code(), Some("instance.invalid_list_query"), "{err}");
        assert!(err.message().contains(why), "{err}");
    }
    assert_eq!(engine.list("nope", &ListQuery::new()).unwrap_err().code(), Some("workflow.not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_is_woken_by_the_engine_and_times_out_in_real_time() {
    let fx = Effects::default();
    let engine = Engine::builder().env(Env::new().with(fx)).register::<Sleeper>().open().await.unwrap();
    let wf = engine.workflow::<Sleeper>();
    let quick = wf.create(CreateOptions::params("50 milliseconds".to_owned())).await.unwrap();
    let status = quick.wait(Some(Duration::from_secs(10))).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);

    let slow = wf.create(CreateOptions::params("1 hour".to_owned())).await.unwrap();
    let waiting = slow.wait_for_status(InstanceStatusKind::Waiting, Some(Duration::from_secs(10))).await.unwrap();
    assert_eq!(waiting.status, InstanceStatusKind::Waiting);
    let err = slow.wait(Some(Duration::from_millis(100))).await.unwrap_err();
    assert_eq!(err.code(), Some("instance.wait_timeout"), "{err}");
    assert!(err.message().contains("it is waiting"), "{err}");
    engine.close().await;
}

#[tokio::test]
async fn delete_removes_an_instance_even_a_sleeping_one_and_frees_its_id() {
    let (t, _) = engine_with(|b| b.register::<Sleeper>()).await;
    finished(&t, "a").await;
    let b = t.workflow::<Sleeper>().create(CreateOptions::params("1 day".to_owned()).with_id("b")).await.unwrap();
    t.wait_for_status(&b, InstanceStatusKind::Waiting).await.unwrap();
    b.delete().await.unwrap();
    assert_eq!(b.status_json().await.unwrap_err().code(), Some("instance.not_found"));
    // Its timer fires into nothing.
    t.advance(2 * DAY).await;
    let err = t.workflow::<Sleeper>().delete_batch(&["a", "ghost"]).await.unwrap_err();
    assert_eq!(err.code(), Some("instance.not_found"));
    assert!(t.workflow::<Sleeper>().get("a").await.is_ok(), "nothing is deleted when one id is unknown");
    t.workflow::<Sleeper>().delete_batch(&["a"]).await.unwrap();
    assert_eq!(t.engine().list("sleeper", &ListQuery::new()).unwrap().total_count, 0);
    finished(&t, "a").await; // the id is free again
}

#[tokio::test]
async fn finished_instances_expire_after_their_retention_then_the_id_is_free() {
    let (t, _) =
        engine_with(|b| b.register::<Sleeper>().register::<Waiter>().default_retention(keep("2 days", "3 days"))).await;
    let own = t
        .workflow::<Sleeper>()
        .create(CreateOptions {
            id: Some("own".into()),
            params: Some("1 second".into()),
            retention: Some(Retention { success_retention: Some("1 hour".into()), error_retention: None }),
        })
        .await
        .unwrap();
    t.run_to_completion(&own).await.unwrap();
    finished(&t, "default").await;
    let waiting =
        t.workflow::<Sleeper>().create(CreateOptions::params("10 days".to_owned()).with_id("slow")).await.unwrap();
    t.wait_for_status(&waiting, InstanceStatusKind::Waiting).await.unwrap();

    t.advance(Duration::from_secs(3_601)).await;
    settle(&t).await;
    assert_eq!(own.status_json().await.unwrap_err().code(), Some("instance.not_found"), "its own retention: 1 hour");
    assert!(t.workflow::<Sleeper>().get("default").await.is_ok());
    t.advance(2 * DAY).await;
    settle(&t).await;
    assert!(t.workflow::<Sleeper>().get("default").await.is_err(), "the engine's default: 2 days");
    assert!(t.workflow::<Sleeper>().get("slow").await.is_ok(), "an instance that has not ended never expires");
    finished(&t, "own").await;

    let bad = t
        .workflow::<Sleeper>()
        .create(CreateOptions {
            id: None,
            params: Some("1 second".into()),
            retention: Some(Retention { success_retention: Some("a fortnight-ish".into()), error_retention: None }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("instance.invalid_retention"), "{bad}");
    assert!(bad.message().contains("successRetention"), "{bad}");
}

/// Lets the scheduler's sweep run after a clock jump.
async fn settle(t: &TestEngine) {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    t.advance(Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
}

fn journal_bytes(db: &std::path::Path) -> u64 {
    ["", "-wal"].iter().map(|s| std::fs::metadata(format!("{}{s}", db.display())).map(|m| m.len()).unwrap_or(0)).sum()
}

#[tokio::test]
async fn the_journal_shrinks_back_to_its_baseline_once_instances_expire() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let t = TestEngine::builder()
        .path(&db)
        .env(Env::new().with(Effects::default()))
        .default_retention(keep("1 hour", "1 hour"))
        .register::<Sleeper>()
        .open()
        .await
        .unwrap();
    finished(&t, "warm-up").await;
    t.advance(Duration::from_secs(7_200)).await;
    settle(&t).await;
    let baseline = journal_bytes(&db);
    let wf = t.workflow::<Sleeper>();
    let mut handles = Vec::new();
    for chunk in 0..4 {
        let batch =
            (0..100).map(|i| CreateOptions::params("1 second".to_owned()).with_id(format!("i-{chunk}-{i}"))).collect();
        handles.extend(wf.create_batch(batch).await.unwrap());
    }
    for h in &handles {
        t.run_to_completion(h).await.unwrap();
    }
    let full = journal_bytes(&db);
    assert!(full > baseline + 100_000, "400 instances take room: {baseline} → {full}");
    t.advance(Duration::from_secs(7_200)).await;
    settle(&t).await;
    assert_eq!(t.engine().list("sleeper", &ListQuery::new()).unwrap().total_count, 0);
    let after = journal_bytes(&db);
    assert!(after <= baseline + 8_192, "back to the baseline: {baseline} → {full} → {after}");
}

/// A version 1 journal (before retention) is migrated in place: its instances stay, it gains
/// the expiry column and incremental auto-vacuum, and a newer binary's journal is refused.
#[tokio::test]
async fn a_version_1_journal_is_migrated_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    write_version_1_journal(&db);
    let engine = Engine::builder()
        .path(&db)
        .env(Env::new().with(Effects::default()))
        .default_retention(keep("1 day", "1 day"))
        .register::<Sleeper>()
        .open()
        .await
        .unwrap();
    let old = engine.workflow::<Sleeper>().get("old").await.unwrap();
    assert_eq!(old.status().await.unwrap().status, InstanceStatusKind::Complete);
    engine.close().await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!((pragma("user_version"), pragma("auto_vacuum")), (5, 2), "migrated through versions 2, 3 and 4 to 5");
    let stream_tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name IN ('step_chunks', 'step_streams')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stream_tables, 2);
    let expires: Option<i64> = conn.query_row("SELECT expires_at FROM instances", [], |r| r.get(0)).unwrap();
    assert_eq!(expires, None, "an instance that ended before retention existed is kept");
}

/// A version 1 journal (before retention) holding one complete `sleeper` instance, written
/// with the schema as it was.
fn write_version_1_journal(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let v1 = lunora_runtime::local::SCHEMA
        .replace("    expires_at  INTEGER,\n", "")
        .replace("    trigger     TEXT,\n", "")
        .split(";\n")
        .filter(|stmt| {
            !stmt.contains("CREATE INDEX instances_")
                && !stmt.contains("CREATE TABLE schedules")
                && !stmt.contains("instance_events")
                && !stmt.contains("CREATE TABLE event_floors")
                && !stmt.contains("CREATE TABLE step_chunks")
                && !stmt.contains("CREATE TABLE step_streams")
        })
        .collect::<Vec<_>>()
        .join(";\n")
        .lines()
        .collect::<Vec<_>>()
        .join("\n");
    conn.execute_batch(&v1).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA application_id = {}; PRAGMA user_version = 1;",
        lunora_runtime::local::APPLICATION_ID
    ))
    .unwrap();
    conn.execute(
        "INSERT INTO instances (workflow, id, status, params, created_at, ended_at, output)
             VALUES ('sleeper', 'old', 'complete', '\"1 second\"', 1, 2, '0')",
        [],
    )
    .unwrap();
}

/// Reading a journal never changes it: one of the old version, which opening would migrate, and
/// an empty file, which opening would give a schema, are refused and left as they were.
#[cfg(feature = "server")]
#[test]
fn a_journal_that_reading_would_change_is_refused_and_left_untouched() {
    use lunora_runtime::server::rest_api::RestApi;
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    write_version_1_journal(&old);
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    for (db, why) in [
        (&old, "is a lunora journal of schema version 1, which reading would have to migrate to version 5; open it once with an engine of this lunora (it migrates in place), then read it"),
        (&empty, "holds no lunora journal yet (it is empty); give the path of a file an engine wrote (its --db)"),
    ] {
        let before = std::fs::read(db).unwrap();
        let Err(refused) = RestApi::over_journal(db) else { panic!("{} was opened", db.display()) };
        assert!(refused.message().contains(why), "{}", refused.message());
        assert_eq!(std::fs::read(db).unwrap(), before, "{} changed", db.display());
    }
}
