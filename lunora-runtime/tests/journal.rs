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

/// Closes the engine: its journal is then folded back into one file and released.
async fn close(t: TestEngine, db: &Path) {
    let engine = t.engine().clone();
    drop(t);
    engine.close().await;
    // Nothing to wait for once `close` has returned; kept bounded for engines whose close did
    // not close the journal (to run these tests against them).
    for _ in 0..500 {
        if !Path::new(&format!("{}-wal", db.display())).exists() {
            break;
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
    close(t, &db).await;

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
    assert!(!Path::new(&format!("{}.lock", db.display())).exists(), "no lock file left beside it");
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
    close(populated(&db, 50).await, &db).await;
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 4 * 4096, "journal has several pages");
    // Page 3: page 2 is auto-vacuum's pointer map, whose tail is unused in a small file (bytes
    // there are no damage; damage to its entries is refused like any other).
    for b in &mut bytes[2 * 4096 + 100..2 * 4096 + 400] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let err = open_err(&db).await;
    let head = format!("the lunora journal {} is damaged: SQLite's quick_check found: ", db.display());
    assert!(err.message().starts_with(&head), "{err}");
    assert!(err.message().ends_with(ADVICE), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "not a byte changed");
}

#[tokio::test]
async fn a_journal_of_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    Engine::builder().path(&db).register::<Sleeper>().open().await.unwrap().close().await;
    rusqlite::Connection::open(&db).unwrap().pragma_update(None, "user_version", 6).unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = open_err(&db).await;
    assert!(err.message().contains("schema version 6, this lunora reads version 5"), "{err}");
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

// ----- damaged and read-only journals ----------------------------------------------------------

/// How every "damaged" refusal ends.
const ADVICE: &str = ". lunora left it untouched and will not write to it. Restore it from a backup, or move it \
                      away (with its -wal and -shm files) to start a new journal.";

/// The journal's files (`""`, `-wal`, `-shm` suffixes) as (length, hash of the bytes), `None`
/// when absent: equal snapshots mean not a byte changed.
fn snapshot(db: &Path) -> Vec<(&'static str, Option<(usize, u64)>)> {
    use std::hash::{Hash, Hasher};
    ["", "-wal", "-shm"]
        .into_iter()
        .map(|suffix| {
            let bytes = std::fs::read(format!("{}{suffix}", db.display())).ok();
            let digest = bytes.map(|b| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                b.hash(&mut h);
                (b.len(), h.finish())
            });
            (suffix, digest)
        })
        .collect()
}

/// Opens an engine on `db`, parks `instances` instances in a sleep (two step rows each).
async fn populated(db: &Path, instances: usize) -> TestEngine {
    let t = TestEngine::builder()
        .path(db)
        .env(Env::new().with(Effects::default()))
        .register::<Sleeper>()
        .open()
        .await
        .unwrap();
    for i in 0..instances {
        let inst = t
            .workflow::<Sleeper>()
            .create(CreateOptions::params("1 day".into()).with_id(format!("i{i}")))
            .await
            .unwrap();
        t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    }
    t
}

/// A journal as a crash leaves it, in `dir`: the file plus a -wal holding committed work not
/// yet folded back, and no record of a clean close. Taken while an idle engine holds the
/// original, whose commits are all in its fsynced -wal, which is what a power cut would keep.
async fn crashed_journal(dir: &Path) -> std::path::PathBuf {
    let live = dir.join("live.db");
    close(populated(&live, 40).await, &live).await;
    // More work after the reopen: the -wal holds it, the file the first 40 instances.
    let t = TestEngine::builder()
        .path(&live)
        .env(Env::new().with(Effects::default()))
        .register::<Sleeper>()
        .open()
        .await
        .unwrap();
    let inst = t.workflow::<Sleeper>().create(CreateOptions::params("1 day".into()).with_id("late")).await.unwrap();
    t.wait_for_status(&inst, InstanceStatusKind::Waiting).await.unwrap();
    let db = dir.join("crashed.db");
    std::fs::copy(&live, &db).unwrap();
    std::fs::copy(format!("{}-wal", live.display()), format!("{}-wal", db.display())).unwrap();
    close(t, &live).await;
    assert!(std::fs::metadata(format!("{}-wal", db.display())).unwrap().len() > 0, "work is in the -wal");
    db
}

/// Page numbers with a frame in a -wal file (their newest content lives there).
fn pages_in_wal(wal: &[u8], page_size: usize) -> std::collections::BTreeSet<u32> {
    wal[32..]
        .chunks(24 + page_size)
        .filter(|f| f.len() >= 24)
        .map(|f| u32::from_be_bytes(f[..4].try_into().unwrap()))
        .collect()
}

/// Breaks the b-tree page header of a page that only the main file holds (not the -wal).
fn break_a_btree_page(db: &Path) {
    let mut bytes = std::fs::read(db).unwrap();
    let wal = std::fs::read(format!("{}-wal", db.display())).unwrap_or_default();
    let in_wal = if wal.len() > 32 { pages_in_wal(&wal, 4096) } else { Default::default() };
    let page = (2..=bytes.len() / 4096)
        .find(|p| !in_wal.contains(&(*p as u32)) && [2, 5, 10, 13].contains(&bytes[(p - 1) * 4096]))
        .expect("a b-tree page outside the -wal");
    bytes[(page - 1) * 4096] = 0x7F; // not a page type
    std::fs::write(db, &bytes).unwrap();
}

fn cut_short(db: &Path, by: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - by).unwrap();
}

#[tokio::test]
async fn a_journal_cut_short_by_a_few_bytes_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    close(populated(&db, 40).await, &db).await;
    let len = std::fs::metadata(&db).unwrap().len();
    assert_eq!(len % 4096, 0);
    cut_short(&db, 3);
    let before = snapshot(&db);

    let err = open_err(&db).await;
    let expected = format!(
        "the lunora journal {} is damaged: it is {} bytes, but holds {} pages of 4096 bytes ({len} bytes): it \
         was cut short or extended{ADVICE}",
        db.display(),
        len - 3,
        len / 4096
    );
    assert_eq!(err.message(), expected);
    assert_eq!(snapshot(&db), before, "not a byte changed, no -wal or -shm appeared");
}

#[tokio::test]
async fn a_journal_cut_short_by_a_page_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    close(populated(&db, 40).await, &db).await;
    cut_short(&db, 4096);
    let before = snapshot(&db);
    let err = open_err(&db).await;
    assert!(err.message().starts_with(&format!("the lunora journal {} is damaged: ", db.display())), "{err}");
    assert!(err.message().ends_with(ADVICE), "{err}");
    assert_eq!(snapshot(&db), before);
}

#[tokio::test]
async fn after_a_crash_a_journal_cut_short_is_refused_and_its_wal_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = crashed_journal(dir.path()).await;
    cut_short(&db, 100);
    let before = snapshot(&db);

    let err = open_err(&db).await;
    let len = std::fs::metadata(&db).unwrap().len();
    let expected = format!(
        "the lunora journal {} is damaged: it is {len} bytes, not a whole number of 4096-byte pages (it was cut \
         short){ADVICE}",
        db.display()
    );
    assert_eq!(err.message(), expected);
    assert_eq!(snapshot(&db), before, "the file and its -wal are as the crash left them");
}

#[tokio::test]
async fn after_a_crash_a_journal_with_a_broken_page_is_refused_and_its_wal_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = crashed_journal(dir.path()).await;
    break_a_btree_page(&db);
    let before = snapshot(&db);

    let err = open_err(&db).await;
    assert_eq!(snapshot(&db), before, "the file and its -wal are as the crash left them");
    let head = format!("the lunora journal {} is damaged: ", db.display());
    assert!(err.message().starts_with(&head), "{err}");
    assert!(err.message().ends_with(ADVICE), "{err}");
}

#[tokio::test]
async fn after_a_crash_a_sound_journal_opens_with_everything_the_wal_held() {
    let dir = tempfile::tempdir().unwrap();
    let db = crashed_journal(dir.path()).await;
    let t = TestEngine::builder().path(&db).env(Env::new().with(Effects::default())).register::<Sleeper>().open().await;
    let t = t.expect("an undamaged journal opens after a crash");
    for id in (0..40).map(|i| format!("i{i}")).chain(["late".to_owned()]) {
        let status = t.workflow::<Sleeper>().get(&id).await.unwrap().status().await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Waiting, "{id}");
    }
    close(t, &db).await;
}

#[tokio::test]
async fn a_read_only_journal_file_is_refused_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    close(populated(&db, 40).await, &db).await;
    // Root may write to it anyway; the engine honours the mode the user set.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = snapshot(&db);

    let err = open_err(&db).await;
    let shown = db.display();
    let expected = format!(
        "the lunora journal {shown} is read-only (mode 0444): the engine writes every step to it, so it will not \
         run on it. Make it writable (chmod u+w {shown}) or point the engine at a copy; it was left untouched."
    );
    assert_eq!(err.message(), expected);
    assert_eq!(snapshot(&db), before);
}

#[tokio::test]
async fn a_journal_in_a_read_only_directory_is_refused_before_anything_is_created() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let db = ro.join("journal.db");

    let err = open_err(&db).await;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    let expected = format!(
        "the directory {} of the lunora journal {} is read-only (mode 0555): the engine creates the journal's -wal \
         and .lock files beside it. Make the directory writable or put the journal elsewhere; nothing was written.",
        ro.display(),
        db.display()
    );
    assert_eq!(err.message(), expected);
    assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0, "nothing was created");
}
