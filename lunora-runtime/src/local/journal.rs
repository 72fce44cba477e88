//! The SQLite journal: instances, steps (with attempts), events.
//!
//! One file in WAL mode (or `:memory:`). Every state change is one transaction, so a kill at
//! any point leaves either the old or the new state. Step completions and instance changes
//! are fsynced (what `synchronous = FULL` would do); attempt-start markers only need to
//! survive a process kill, which WAL guarantees without an fsync, so they skip it and become
//! durable with the next fsync. Step completions can leave their fsync to `group_commit`, so
//! completions of concurrent instances share one.
//!
//! One engine at a time owns a journal file (see `journal_lock`). A file that is not ours
//! (another application's SQLite database, or not SQLite at all), a damaged one or a read-only
//! one is rejected before anything is written to it (see `journal_check`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::erased::Json;
use crate::error::Error;
use crate::local::clock::{Clock, SystemClock};
use crate::local::event_log::{self, NewEvent};
use crate::local::group_commit::{GroupCommit, Pending};
use crate::local::journal_check::{self, Found};
use crate::local::journal_lock::{self, JournalLock};
use crate::local::journal_rows::corrupt;
pub use crate::local::journal_rows::{AttemptRecord, RowKind, StepRow, StepState};
use crate::local::journal_schema::{
    APPLICATION_ID, MIGRATE_FROM_1, MIGRATE_FROM_2, MIGRATE_FROM_3, MIGRATE_FROM_4, SCHEMA, SCHEMA_VERSION,
};
use crate::local::journal_streams as streams;
pub use crate::local::journal_streams::{StreamKey, StreamMeta};
use crate::status::{InstanceStatusKind, RollbackState, Schedule};

/// How hard commits push data to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Step completions are fsynced: survives power loss and process kills.
    #[default]
    Full,
    /// No fsyncs: survives process kills (WAL), not power loss. Faster.
    Normal,
}

/// A persisted instance.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceRow {
    pub status: InstanceStatusKind,
    pub params: Json,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub output: Option<Json>,
    pub error: Option<Error>,
    pub rollback: Option<RollbackState>,
    pub wake_at: Option<i64>,
    pub paused_at: Option<i64>,
    pub phase: Option<Phase>,
    /// The cron tick that started it, if a schedule did.
    pub trigger: Option<Schedule>,
}

/// A rollback chain in progress, persisted so a crash mid-rollback resumes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// The error handed to rollback handlers.
    pub error: Error,
    /// Status to end in: `errored` (failure) or `terminated` (terminate with rollback).
    pub end_status: String,
}

/// `(workflow, id, status, wake_at, has unconsumed events)` of an instance that has not ended.
pub type Unfinished = (String, String, InstanceStatusKind, Option<i64>, bool);

/// Which instances [`Journal::list`] returns, in which order.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Cloudflare's spelling of the status.
    pub status: Option<String>,
    /// Created at or after (epoch ms).
    pub created_from: Option<i64>,
    /// Created at or before (epoch ms).
    pub created_to: Option<i64>,
    /// Newest first.
    pub descending: bool,
    /// Only rows after this `(created_at, id)` in the listing order (a cursor).
    pub after: Option<(i64, String)>,
    pub offset: u64,
    pub limit: u32,
}

/// One row of [`Journal::list`].
#[derive(Clone, Debug, PartialEq)]
pub struct ListedInstance {
    pub id: String,
    pub status: InstanceStatusKind,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub paused_at: Option<i64>,
}

/// What a new instance is created with.
pub struct NewInstance<'a> {
    pub workflow: &'a str,
    pub id: &'a str,
    pub params: &'a str,
    pub retention: Option<&'a str>,
    pub created_at: i64,
}

fn io_error(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn json_col<T: for<'de> Deserialize<'de>>(s: Option<String>) -> rusqlite::Result<Option<T>> {
    s.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(format!("bad JSON in journal: {e}")))).transpose()
}

fn to_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("journal values are plain JSON")
}

fn closed() -> rusqlite::Error {
    io_error(std::io::Error::other("the engine was closed"))
}

fn cannot_open(shown: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::internal(format!("cannot open the lunora journal {shown}: {e}"))
}

/// Creates the tables of a new journal. `BEGIN IMMEDIATE` takes SQLite's write lock before
/// looking, so two openers of a fresh file (which the journal lock already prevents) could not
/// both create it.
fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    // Before the first table: pages freed by deleted instances can then be given back.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    if tables == 0 {
        conn.execute_batch(&format!(
            "{SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
        ))?;
    }
    conn.execute_batch("COMMIT")
}

/// Brings an older journal to this version: every schema change from its version on, in one
/// transaction (a kill leaves the old version, which is migrated again next time); from version
/// 1, then a `VACUUM` that turns on incremental auto-vacuum (a kill during it leaves the old
/// file, as SQLite guarantees).
fn migrate(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    // Versions 1 to 3 go through each change; the last one creates the current event log,
    // which starts with the events of the instances already there. Version 4 has its events.
    let migrated = if from >= 4 {
        conn.execute_batch(MIGRATE_FROM_4)
    } else {
        let steps = [MIGRATE_FROM_1, MIGRATE_FROM_2, MIGRATE_FROM_3];
        let changes: String = steps.iter().skip((from - 1).max(0) as usize).copied().collect();
        conn.execute_batch(&changes).and_then(|()| backfill_events(conn))
    };
    match migrated {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    if from == 1 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.execute_batch("VACUUM")?;
    }
    Ok(())
}

/// Storage failures surface as `WorkflowInternalError`s naming the operation.
pub fn storage(what: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::internal(format!("journal {what} failed: {e}"))
}

/// An open journal.
pub struct Journal {
    /// `None` once closed: every access then fails with "the engine was closed".
    conn: Option<Connection>,
    durability: Durability,
    /// Fsyncs `<journal>-wal` after durable commits (`None` in memory).
    wal: Option<Arc<GroupCommit>>,
    /// The file's single-owner lock (`None` in memory).
    lock: Option<JournalLock>,
    /// Time for the events of writes that carry none (a status change).
    clock: Arc<dyn Clock>,
    /// Bumped after every commit that appended instance events (and at close), so that
    /// subscriptions wake up and read them.
    appended: tokio::sync::watch::Sender<u64>,
}

/// Why a journal file is opened: to run an engine on it (its schema is created or migrated as
/// needed), or only to read it (nothing in the file may change).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Run,
    Read,
}

impl Journal {
    /// Opens (creating if absent) the journal at `path`, or an in-memory one for `None`. A
    /// journal in use by another engine is refused, or waited for up to `wait`; a read-only,
    /// damaged, foreign or newer file is refused before anything is written to it.
    pub fn open(path: Option<&Path>, durability: Durability, wait: Option<Duration>) -> Result<Self, Error> {
        Self::open_as(path, durability, wait, Purpose::Run)
    }

    /// Opens an existing journal of this schema version to read it: a file that would need its
    /// schema created or migrated is refused instead, so that reading never changes what the
    /// file holds (the lock is still taken, so no engine writes while it is read).
    #[cfg(feature = "server")]
    pub fn open_to_read(path: &Path) -> Result<Self, Error> {
        Self::open_as(Some(path), Durability::Normal, None, Purpose::Read)
    }

    fn open_as(
        path: Option<&Path>,
        durability: Durability,
        wait: Option<Duration>,
        purpose: Purpose,
    ) -> Result<Self, Error> {
        let Some(path) = path else {
            let conn = Connection::open_in_memory().map_err(cannot_open(":memory:"))?;
            create_schema(&conn).map_err(cannot_open(":memory:"))?;
            return Self::ready(conn, ":memory:", durability, None, None);
        };
        let shown = path.display().to_string();
        journal_check::refuse_read_only(path)?;
        // A file no engine has opened yet (no lock file beside it: an engine creates that before
        // its first write) is checked before the lock file is created, so refusing another
        // application's database or a damaged file leaves its directory as it was. An engine that
        // took the lock meanwhile may have been writing what this check read: then the check
        // under the lock below decides.
        let lock_file = journal_lock::lock_path(path);
        if !lock_file.exists() {
            if let Err(refused) = journal_check::check(path, false) {
                if !lock_file.exists() {
                    return Err(refused);
                }
            }
        }
        // Checks run under the lock, so no other engine writes while they read.
        let lock = JournalLock::acquire(path, wait)?;
        let found = journal_check::check(path, lock.previous_clean())?;
        if purpose == Purpose::Read {
            match found {
                Found::Journal => {}
                Found::Fresh => {
                    return Err(Error::internal(format!(
                        "{shown} holds no lunora journal yet (it is empty); give the path of a file an engine wrote (its --db)"
                    )))
                }
                Found::Older(version) => {
                    return Err(Error::internal(format!(
                        "{shown} is a lunora journal of schema version {version}, which reading would have to migrate to version \
                         {SCHEMA_VERSION}; open it once with an engine of this lunora (it migrates in place), then read it"
                    )));
                }
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(cannot_open(&shown))?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
            return Err(Error::internal(format!(
                "the lunora journal {shown} opened read-only (SQLite could not open it for writing); \
                 make it and its directory writable. It was left untouched."
            )));
        }
        match found {
            Found::Fresh => create_schema(&conn).map_err(cannot_open(&shown))?,
            Found::Journal => conn.pragma_update(None, "journal_mode", "WAL").map_err(cannot_open(&shown))?,
            Found::Older(version) => migrate(&conn, version).map_err(cannot_open(&shown))?,
        }
        Self::ready(conn, &shown, durability, Some(journal_check::sibling(path, "-wal")), Some(lock))
    }

    fn ready(
        conn: Connection,
        shown: &str,
        durability: Durability,
        wal_path: Option<std::path::PathBuf>,
        lock: Option<JournalLock>,
    ) -> Result<Self, Error> {
        // NORMAL: commits are not fsynced by SQLite; `persist` fsyncs the WAL for the ones that
        // must survive power loss. Checkpoints still sync.
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(cannot_open(shown))?;
        conn.pragma_update(None, "foreign_keys", "OFF").map_err(cannot_open(shown))?;
        // Plans never depend on bound values: SQLite (built with STAT4) otherwise marks a
        // statement whose parameters meet an index as stale when its bindings are cleared,
        // which rusqlite's statement cache does on every return, so each cached statement was
        // parsed and planned again on every use (about a sixth of a step's time without fsyncs).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(cannot_open(shown))?;
        conn.set_prepared_statement_cache_capacity(64);
        let wal = wal_path.map(|path| Arc::new(GroupCommit::new(path)));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Ok(Self { conn: Some(conn), durability, wal, lock, clock, appended: tokio::sync::watch::Sender::new(0) })
    }

    /// Closes the connection (folding the -wal back into the file) and releases the lock,
    /// recording a clean close when SQLite closed without leaving a -wal behind. Every later
    /// access fails.
    pub fn close(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // Subscriptions waiting for events wake up and find the journal closed.
        self.appended.send_modify(|n| *n += 1);
        let wal_path = self.wal.take().map(|wal| wal.wal_path().to_owned());
        let closed = conn.close().is_ok();
        let folded = wal_path.is_none_or(|wal| !wal.exists());
        if let Some(lock) = self.lock.take() {
            if closed && folded {
                lock.release_clean();
            }
        }
    }

    fn conn(&self) -> rusqlite::Result<&Connection> {
        self.conn.as_ref().ok_or_else(closed)
    }

    fn conn_mut(&mut self) -> rusqlite::Result<&mut Connection> {
        self.conn.as_mut().ok_or_else(closed)
    }

    /// The clock the events of status changes are stamped with (the engine's).
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// Wakes the subscriptions after a commit that appended events.
    fn announce(&self) {
        self.appended.send_modify(|n| *n += 1);
    }

    /// Changes whenever events were appended (or the journal closed).
    pub fn watch_events(&self) -> tokio::sync::watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Up to `limit` events of an instance after event `after`, oldest first.
    pub fn events_after(
        &self,
        workflow: &str,
        id: &str,
        after: u64,
        limit: u32,
    ) -> rusqlite::Result<Vec<crate::subscription::InstanceEvent>> {
        event_log::read_after(self.conn()?, workflow, id, after, limit)
    }

    /// Whether the instance's terminal event is at or before event `upto`.
    pub fn ended_by(&self, workflow: &str, id: &str, upto: u64) -> rusqlite::Result<bool> {
        event_log::ended_by(self.conn()?, workflow, id, upto)
    }

    /// The instance's status, in one read, for the status changes that become events.
    fn status_of(conn: &Connection, workflow: &str, id: &str) -> rusqlite::Result<Option<InstanceStatusKind>> {
        conn.prepare_cached("SELECT status FROM instances WHERE workflow = ?1 AND id = ?2")?
            .query_row(params![workflow, id], |r| Ok(InstanceStatusKind::parse(&r.get::<_, String>(0)?)))
            .optional()
    }

    /// Runs one write (a statement or a transaction) and makes it durable if asked.
    fn write<T>(
        &mut self,
        durable: bool,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let out = f(self.conn_mut()?)?;
        self.persist(durable)?;
        Ok(out)
    }

    /// Makes the last commit durable when `durable` is asked for: fsyncs the WAL, which is
    /// what `synchronous = FULL` does after every commit. Doing it by hand lets non-durable
    /// commits (attempt markers) skip it without switching the pragma back and forth.
    fn persist(&mut self, durable: bool) -> rusqlite::Result<()> {
        match self.fsyncs(durable) {
            Some(wal) => wal.sync_now().map_err(io_error),
            None => Ok(()),
        }
    }

    /// Who fsyncs a durable commit: `None` when nothing needs one (not asked, `Normal`
    /// durability, or in memory).
    fn fsyncs(&self, durable: bool) -> Option<&Arc<GroupCommit>> {
        self.wal.as_ref().filter(|_| durable && self.durability == Durability::Full)
    }

    // ----- instances -------------------------------------------------------------------

    /// Inserts a queued instance; `false` when the id already exists.
    pub fn insert_instance(&mut self, new: &NewInstance<'_>) -> rusqlite::Result<bool> {
        self.write(true, |conn| {
            let n = conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO instances (workflow, id, status, params, retention, created_at)
                 VALUES (?1, ?2, 'queued', ?3, ?4, ?5)",
                )?
                .execute(params![new.workflow, new.id, new.params, new.retention, new.created_at])?;
            if n == 1 {
                let queued = [NewEvent::workflow("workflow_queued", new.created_at)];
                event_log::append(conn, new.workflow, new.id, &queued)?;
            }
            Ok(n == 1)
        })
        .inspect(|_| self.announce())
    }

    /// Inserts many instances in one transaction; returns which were new.
    pub fn insert_instances(&mut self, batch: &[NewInstance<'_>]) -> rusqlite::Result<Vec<bool>> {
        self.write(true, |conn| {
            let tx = conn.transaction()?;
            let mut inserted = Vec::with_capacity(batch.len());
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO instances (workflow, id, status, params, retention, created_at)
                     VALUES (?1, ?2, 'queued', ?3, ?4, ?5)",
                )?;
                for new in batch {
                    let n = stmt.execute(params![new.workflow, new.id, new.params, new.retention, new.created_at])?;
                    if n == 1 {
                        let queued = [NewEvent::workflow("workflow_queued", new.created_at)];
                        event_log::append(&tx, new.workflow, new.id, &queued)?;
                    }
                    inserted.push(n == 1);
                }
            }
            tx.commit()?;
            Ok(inserted)
        })
        .inspect(|_| self.announce())
    }

    pub fn instance(&self, workflow: &str, id: &str) -> rusqlite::Result<Option<InstanceRow>> {
        read_instance(self.conn()?, workflow, id)
    }

    /// Sets the status (and clears the wake time unless `wake_at` is given).
    pub fn set_status(
        &mut self,
        workflow: &str,
        id: &str,
        status: InstanceStatusKind,
        wake_at: Option<i64>,
    ) -> rusqlite::Result<()> {
        let now = self.clock.now();
        let tx = self.conn_mut()?.transaction()?;
        let old = Self::status_of(&tx, workflow, id)?;
        tx.prepare_cached("UPDATE instances SET status = ?3, wake_at = ?4 WHERE workflow = ?1 AND id = ?2")?
            .execute(params![workflow, id, status.as_str(), wake_at])?;
        if let Some(kind) = event_log::status_event(status).filter(|_| old.is_some_and(|old| old != status)) {
            event_log::append(&tx, workflow, id, &[NewEvent::workflow(kind, now)])?;
        }
        tx.commit()?;
        self.announce();
        self.persist(true)
    }

    /// Marks the instance running, recording the first start time.
    pub fn mark_running(&mut self, workflow: &str, id: &str, now: i64) -> rusqlite::Result<()> {
        self.write(false, |conn| {
            let tx = conn.transaction()?;
            let old = Self::status_of(&tx, workflow, id)?;
            let mut events = Vec::new();
            if old.is_some() && !event_log::has_started(&tx, workflow, id)? {
                events.push(NewEvent::workflow("workflow_started", now));
            }
            if old.is_some_and(|s| !matches!(s, InstanceStatusKind::Running | InstanceStatusKind::WaitingForPause)) {
                events.push(NewEvent::workflow("workflow_running", now));
            }
            tx.prepare_cached(
                "UPDATE instances SET status = CASE status WHEN 'waitingForPause' THEN status ELSE 'running' END,
                        wake_at = NULL,
                            started_at = coalesce(started_at, ?3)
                     WHERE workflow = ?1 AND id = ?2",
            )?
            .execute(params![workflow, id, now])?;
            event_log::append(&tx, workflow, id, &events)?;
            tx.commit()
        })?;
        self.announce();
        Ok(())
    }

    /// Marks a running instance waiting until `wake_at` while its body stays in memory. Not
    /// fsynced: after a crash either status recovers the same way (the step rows say what
    /// waits). A status other than `running` (a pause asked meanwhile) is left as it is.
    pub fn mark_waiting_in_memory(&mut self, workflow: &str, id: &str, wake_at: i64) -> rusqlite::Result<()> {
        let now = self.clock.now();
        self.write(false, |conn| {
            let tx = conn.transaction()?;
            let changed = tx
                .prepare_cached(
                    "UPDATE instances SET status = 'waiting', wake_at = ?3
                     WHERE workflow = ?1 AND id = ?2 AND status = 'running'",
                )?
                .execute(params![workflow, id, wake_at])?;
            if changed == 1 {
                event_log::append(&tx, workflow, id, &[NewEvent::workflow("workflow_waiting", now)])?;
            }
            tx.commit()
        })?;
        self.announce();
        Ok(())
    }

    pub fn set_paused(&mut self, workflow: &str, id: &str, now: i64) -> rusqlite::Result<()> {
        self.write(true, |conn| {
            let tx = conn.transaction()?;
            let old = Self::status_of(&tx, workflow, id)?;
            tx.prepare_cached(
                "UPDATE instances SET status = 'paused', paused_at = coalesce(paused_at, ?3)
                     WHERE workflow = ?1 AND id = ?2",
            )?
            .execute(params![workflow, id, now])?;
            if old.is_some_and(|s| s != InstanceStatusKind::Paused) {
                event_log::append(&tx, workflow, id, &[NewEvent::workflow("workflow_paused", now)])?;
            }
            tx.commit()
        })?;
        self.announce();
        Ok(())
    }

    /// Resumes a paused instance: every pending timer moves later by the pause's length.
    /// Returns the instance's new wake time.
    pub fn resume(&mut self, workflow: &str, id: &str, now: i64) -> rusqlite::Result<()> {
        self.write(true, |conn| {
            let tx = conn.transaction()?;
            let paused_at: Option<i64> = tx
                .query_row(
                    "SELECT paused_at FROM instances WHERE workflow = ?1 AND id = ?2",
                    params![workflow, id],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            let shift = paused_at.map(|p| (now - p).max(0)).unwrap_or(0);
            tx.execute(
                "UPDATE steps SET wake_at = wake_at + ?3
                 WHERE workflow = ?1 AND instance = ?2 AND wake_at IS NOT NULL AND state IN ('waiting', 'running')",
                params![workflow, id, shift],
            )?;
            let old = Self::status_of(&tx, workflow, id)?;
            tx.execute(
                "UPDATE instances SET status = 'queued', paused_at = NULL, wake_at = NULL
                 WHERE workflow = ?1 AND id = ?2",
                params![workflow, id],
            )?;
            if old.is_some_and(|s| s != InstanceStatusKind::Queued) {
                event_log::append(&tx, workflow, id, &[NewEvent::workflow("workflow_queued", now)])?;
            }
            tx.commit()
        })?;
        self.announce();
        Ok(())
    }

    /// Ends the instance.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &mut self,
        workflow: &str,
        id: &str,
        status: InstanceStatusKind,
        output: Option<&str>,
        error: Option<&Error>,
        rollback: Option<&RollbackState>,
        now: i64,
        expires_at: Option<i64>,
    ) -> rusqlite::Result<()> {
        let tx = self.conn_mut()?.transaction()?;
        let old = Self::status_of(&tx, workflow, id)?;
        tx.prepare_cached(
            "UPDATE instances SET status = ?3, output = ?4, error = ?5, rollback = ?6,
                        ended_at = ?7, wake_at = NULL, paused_at = NULL, phase = NULL, expires_at = ?8
                 WHERE workflow = ?1 AND id = ?2",
        )?
        .execute(params![
            workflow,
            id,
            status.as_str(),
            output,
            error.map(to_text),
            rollback.map(to_text),
            now,
            expires_at
        ])?;
        if old.is_some_and(|s| !s.is_terminal()) {
            event_log::append(&tx, workflow, id, &event_log::finish_events(status, error, rollback, now))?;
        }
        tx.commit()?;
        self.announce();
        self.persist(true)
    }

    /// The `retention` an instance was created with (its JSON text), if any.
    pub fn retention(&self, workflow: &str, id: &str) -> rusqlite::Result<Option<String>> {
        Ok(self
            .conn()?
            .prepare_cached("SELECT retention FROM instances WHERE workflow = ?1 AND id = ?2")?
            .query_row(params![workflow, id], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    /// Removes an instance with its steps and events, in one transaction; `false` if it did
    /// not exist. The freed pages go back to the file system at [`Self::reclaim`].
    pub fn delete_instance(&mut self, workflow: &str, id: &str) -> rusqlite::Result<bool> {
        Ok(self.delete_instances(&[(workflow.to_owned(), id.to_owned())])? == 1)
    }

    /// The last tick fired for a workflow's cron, if it ever fired (or was armed).
    pub fn schedule_tick(&self, workflow: &str, cron: &str) -> rusqlite::Result<Option<i64>> {
        self.conn()?
            .prepare_cached("SELECT last_tick FROM schedules WHERE workflow = ?1 AND cron = ?2")?
            .query_row(params![workflow, cron], |r| r.get(0))
            .optional()
    }

    /// Records `tick` as a cron's last tick and, with `new`, creates the instance it starts, in
    /// one transaction: a crash leaves both or neither, so a tick never fires twice nor is lost
    /// once recorded. Returns whether the instance was created.
    pub fn fire_schedule(
        &mut self,
        workflow: &str,
        cron: &str,
        tick: i64,
        new: Option<(&NewInstance<'_>, &Schedule)>,
    ) -> rusqlite::Result<bool> {
        self.write(true, |conn| {
            let tx = conn.transaction()?;
            let mut created = false;
            if let Some((new, trigger)) = new {
                created = tx.execute(
                    "INSERT OR IGNORE INTO instances (workflow, id, status, params, retention, created_at, trigger)
                     VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6)",
                    params![new.workflow, new.id, new.params, new.retention, new.created_at, to_text(trigger)],
                )? == 1;
                if created {
                    let queued = [NewEvent::workflow("workflow_queued", new.created_at)];
                    event_log::append(&tx, new.workflow, new.id, &queued)?;
                }
            }
            tx.execute(
                "INSERT INTO schedules (workflow, cron, last_tick) VALUES (?1, ?2, ?3)
                 ON CONFLICT (workflow, cron) DO UPDATE SET last_tick = excluded.last_tick",
                params![workflow, cron, tick],
            )?;
            tx.commit()?;
            Ok(created)
        })
        .inspect(|_| self.announce())
    }

    /// Up to `limit` instances whose retention ended at or before `now`, earliest first.
    pub fn expired(&self, now: i64, limit: u32) -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = self.conn()?.prepare_cached(
            "SELECT workflow, id FROM instances WHERE expires_at IS NOT NULL AND expires_at <= ?1
             ORDER BY expires_at LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    /// Removes these instances with their steps, streamed outputs and events, in one transaction. Returns how
    /// many existed.
    pub fn delete_instances(&mut self, keys: &[(String, String)]) -> rusqlite::Result<usize> {
        self.write(true, |conn| {
            let tx = conn.transaction()?;
            let mut removed = 0;
            {
                let mut steps = tx.prepare_cached("DELETE FROM steps WHERE workflow = ?1 AND instance = ?2")?;
                let mut events = tx.prepare_cached("DELETE FROM events WHERE workflow = ?1 AND instance = ?2")?;
                let mut instances = tx.prepare_cached("DELETE FROM instances WHERE workflow = ?1 AND id = ?2")?;
                for (workflow, id) in keys {
                    steps.execute(params![workflow, id])?;
                    events.execute(params![workflow, id])?;
                    event_log::forget(&tx, workflow, id)?;
                    streams::delete_instance_streams(&tx, workflow, id)?;
                    removed += instances.execute(params![workflow, id])?;
                }
            }
            tx.commit()?;
            Ok(removed)
        })
        .inspect(|_| self.announce())
    }

    /// The earliest time an instance's retention ends, if any instance has one.
    pub fn next_expiry(&self) -> rusqlite::Result<Option<i64>> {
        self.conn()?.query_row("SELECT min(expires_at) FROM instances", [], |r| r.get(0))
    }

    /// Gives the pages freed by deletions back to the file system: frees them from the file
    /// (incremental auto-vacuum) and truncates the write-ahead log, so the journal shrinks back
    /// towards its size before the deleted instances were written.
    pub fn reclaim(&mut self) -> rusqlite::Result<()> {
        let conn = self.conn()?;
        // Frees one page per step: run it to the end.
        let mut vacuum = conn.prepare("PRAGMA incremental_vacuum")?;
        let mut rows = vacuum.query([])?;
        while rows.next()?.is_some() {}
        drop(rows);
        drop(vacuum);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        // The -wal was truncated: the handle kept for fsyncs is reopened at the next one.
        self.wal = None;
        Ok(())
    }

    /// Records that a rollback chain is starting (so a crash resumes it).
    pub fn set_phase(&mut self, workflow: &str, id: &str, phase: &Phase) -> rusqlite::Result<()> {
        let now = self.clock.now();
        self.write(true, |conn| {
            let tx = conn.transaction()?;
            let had_phase: bool = tx
                .prepare_cached("SELECT phase IS NOT NULL FROM instances WHERE workflow = ?1 AND id = ?2")?
                .query_row(params![workflow, id], |r| r.get(0))
                .optional()?
                .unwrap_or(true);
            tx.prepare_cached("UPDATE instances SET phase = ?3, status = 'running' WHERE workflow = ?1 AND id = ?2")?
                .execute(params![workflow, id, to_text(phase)])?;
            if !had_phase {
                event_log::append(&tx, workflow, id, &[NewEvent::workflow("rollback_started", now)])?;
            }
            tx.commit()
        })?;
        self.announce();
        Ok(())
    }

    /// Erases the instance's state for a restart, keeping steps that started before `keep_before_seq`.
    /// Returns `false` when there is no such instance (nothing changed).
    pub fn reset(&mut self, workflow: &str, id: &str, keep_before_seq: Option<i64>) -> rusqlite::Result<bool> {
        let now = self.clock.now();
        self.write(true, |conn| {
            let tx = conn.transaction()?;
            event_log::forget_for_restart(&tx, workflow, id, keep_before_seq)?;
            let keep = keep_before_seq.unwrap_or(i64::MIN);
            tx.execute(
                "DELETE FROM steps WHERE workflow = ?1 AND instance = ?2 AND (seq >= ?3 OR kind = 'rollback')",
                params![workflow, id, keep],
            )?;
            streams::delete_orphan_streams(&tx, workflow, id)?;
            tx.execute(
                "DELETE FROM events WHERE workflow = ?1 AND instance = ?2 AND consumed = 1",
                params![workflow, id],
            )?;
            let n = tx.execute(
                "UPDATE instances SET status = 'queued', output = NULL, error = NULL, rollback = NULL,
                        ended_at = NULL, wake_at = NULL, paused_at = NULL, phase = NULL, expires_at = NULL
                 WHERE workflow = ?1 AND id = ?2",
                params![workflow, id],
            )?;
            if n == 1 && keep_before_seq.is_none() {
                event_log::append(&tx, workflow, id, &[NewEvent::workflow("workflow_queued", now)])?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .inspect(|_| self.announce())
    }

    /// The ids and statuses of a workflow's instances, oldest first.
    pub fn instances_of(&self, workflow: &str) -> rusqlite::Result<Vec<(String, InstanceStatusKind)>> {
        let mut stmt =
            self.conn()?.prepare("SELECT id, status FROM instances WHERE workflow = ?1 ORDER BY created_at, id")?;
        let rows =
            stmt.query_map([workflow], |r| Ok((r.get(0)?, InstanceStatusKind::parse(&r.get::<_, String>(1)?))))?;
        rows.collect()
    }

    /// The workflows (deployed names) that have instances in the journal, sorted.
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // the read-only REST API's
    pub fn workflows(&self) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self.conn()?.prepare("SELECT DISTINCT workflow FROM instances ORDER BY workflow")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect()
    }

    /// One page of a workflow's instances, and how many match the filter in all.
    pub fn list(&self, workflow: &str, filter: &ListFilter) -> rusqlite::Result<(Vec<ListedInstance>, u64)> {
        let conn = self.conn()?;
        let mut conditions = vec!["workflow = ?1".to_owned()];
        let mut values: Vec<rusqlite::types::Value> = vec![workflow.to_owned().into()];
        let bind = |values: &mut Vec<rusqlite::types::Value>, v: rusqlite::types::Value| {
            values.push(v);
            format!("?{}", values.len())
        };
        if let Some(status) = &filter.status {
            let at = bind(&mut values, status.clone().into());
            conditions.push(format!("status = {at}"));
        }
        if let Some(start) = filter.created_from {
            let at = bind(&mut values, start.into());
            conditions.push(format!("created_at >= {at}"));
        }
        if let Some(end) = filter.created_to {
            let at = bind(&mut values, end.into());
            conditions.push(format!("created_at <= {at}"));
        }
        let total: u64 = conn.query_row(
            &format!("SELECT count(*) FROM instances WHERE {}", conditions.join(" AND ")),
            rusqlite::params_from_iter(values.iter()),
            |r| r.get::<_, i64>(0),
        )? as u64;
        let (order, after) = if filter.descending { ("DESC", "<") } else { ("ASC", ">") };
        if let Some((created, id)) = &filter.after {
            let c = bind(&mut values, (*created).into());
            let i = bind(&mut values, id.clone().into());
            conditions.push(format!("(created_at, id) {after} ({c}, {i})"));
        }
        let limit = bind(&mut values, i64::from(filter.limit).into());
        let offset = bind(&mut values, (filter.offset as i64).into());
        let sql = format!(
            "SELECT id, status, created_at, started_at, ended_at, paused_at FROM instances WHERE {}
             ORDER BY created_at {order}, id {order} LIMIT {limit} OFFSET {offset}",
            conditions.join(" AND ")
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values.iter()), |r| {
            Ok(ListedInstance {
                id: r.get(0)?,
                status: InstanceStatusKind::parse(&r.get::<_, String>(1)?),
                created_at: r.get(2)?,
                started_at: r.get(3)?,
                ended_at: r.get(4)?,
                paused_at: r.get(5)?,
            })
        })?;
        Ok((rows.collect::<rusqlite::Result<_>>()?, total))
    }

    /// Instances the engine must pick up after opening: `(workflow, id, status, wake_at)`.
    pub fn unfinished(&self) -> rusqlite::Result<Vec<Unfinished>> {
        let mut stmt = self.conn()?.prepare(
            "SELECT i.workflow, i.id, i.status, i.wake_at,
                    EXISTS (SELECT 1 FROM events e
                            WHERE e.workflow = i.workflow AND e.instance = i.id AND e.consumed = 0)
             FROM instances i
             WHERE i.status IN ('queued', 'running', 'waiting', 'waitingForPause')",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, InstanceStatusKind::parse(&r.get::<_, String>(2)?), r.get(3)?, r.get(4)?))
        })?;
        rows.collect()
    }

    // ----- steps -----------------------------------------------------------------------

    /// Every step row of an instance: forward steps in start order, then rollbacks as they ran.
    pub fn steps(&self, workflow: &str, id: &str) -> rusqlite::Result<Vec<StepRow>> {
        read_steps(self.conn()?, workflow, id)
    }

    /// Writes a step row whole (insert or replace). `durable` chooses an fsynced commit.
    pub fn put_step(&mut self, workflow: &str, id: &str, row: &StepRow, durable: bool) -> rusqlite::Result<()> {
        self.put_step_as(workflow, id, row, durable, None)
    }

    /// [`Self::put_step`] for a `waitForEvent` row, whose events name the type it waits for.
    pub fn put_wait_step(
        &mut self,
        workflow: &str,
        id: &str,
        row: &StepRow,
        durable: bool,
        event_type: &str,
    ) -> rusqlite::Result<()> {
        self.put_step_as(workflow, id, row, durable, Some(event_type))
    }

    /// Writes the row and the events its change is (against the row it replaces), in one
    /// transaction.
    fn put_step_as(
        &mut self,
        workflow: &str,
        id: &str,
        row: &StepRow,
        durable: bool,
        wait_type: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.write(durable, |conn| {
            let tx = conn.transaction()?;
            let old = read_step(&tx, workflow, id, row.kind, &row.name, row.count)?;
            let events = event_log::step_events(old.as_ref(), row, wait_type);
            upsert_step(&tx, workflow, id, row)?;
            event_log::append(&tx, workflow, id, &events)?;
            tx.commit()
        })?;
        self.announce();
        Ok(())
    }
}

fn upsert_step(conn: &Connection, workflow: &str, id: &str, row: &StepRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO steps (workflow, instance, kind, name, count, seq, state,
                        attempts, output, error, config, started_at, ended_at, wake_at, attempt_log)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        workflow,
        id,
        row.kind.as_str(),
        row.name,
        row.count,
        row.seq,
        row.state.as_str(),
        row.attempts,
        row.output.as_ref().map(to_text),
        row.error.as_ref().map(to_text),
        row.config.as_ref().map(to_text),
        row.started_at,
        row.ended_at,
        row.wake_at,
        if row.attempt_log.is_empty() { None } else { Some(to_text(&row.attempt_log)) },
    ])?;
    Ok(())
}

impl Journal {
    /// Writes a step row whole and commits it without waiting for its fsync: the caller must
    /// await the returned [`Pending`] (when there is one) before acknowledging the write, and
    /// commits of other instances made meanwhile share that fsync.
    pub fn put_step_grouped(&mut self, workflow: &str, id: &str, row: &StepRow) -> rusqlite::Result<Option<Pending>> {
        self.put_step(workflow, id, row, false)?;
        Ok(self.fsyncs(true).map(GroupCommit::committed))
    }

    // ----- streamed step outputs (see `journal_streams`) -------------------------------

    /// Forgets a step's streamed output and every chunk any of its attempts wrote.
    pub fn clear_stream(&mut self, key: &StreamKey) -> rusqlite::Result<()> {
        streams::clear(self.conn_mut()?, key)
    }

    /// Removes the chunks one attempt wrote (an attempt that failed or was cut short).
    pub fn discard_stream_attempt(&mut self, key: &StreamKey, attempt: u32) -> rusqlite::Result<()> {
        streams::discard_attempt(self.conn()?, key, attempt)
    }

    /// Appends chunk `idx` of an attempt (not fsynced: the step's completion makes it durable).
    pub fn put_stream_chunk(&mut self, key: &StreamKey, attempt: u32, idx: u32, chunk: &[u8]) -> rusqlite::Result<()> {
        streams::put_chunk(self.conn()?, key, attempt, idx, chunk)
    }

    /// Records which attempt's chunks are the step's output.
    pub fn put_stream_meta(&mut self, key: &StreamKey, meta: StreamMeta) -> rusqlite::Result<()> {
        streams::put_meta(self.conn()?, key, meta)
    }

    /// The step's streamed output, if it has one.
    pub fn stream_meta(&self, key: &StreamKey) -> rusqlite::Result<Option<StreamMeta>> {
        streams::meta(self.conn()?, key)
    }

    /// Chunk `idx` of an attempt, if it is there.
    pub fn stream_chunk(&self, key: &StreamKey, attempt: u32, idx: u32) -> rusqlite::Result<Option<Vec<u8>>> {
        streams::chunk(self.conn()?, key, attempt, idx)
    }

    /// What an attempt's stored chunks add up to, to check them against their record.
    pub fn stream_summary(&self, key: &StreamKey, attempt: u32) -> rusqlite::Result<streams::ChunkSummary> {
        streams::summary(self.conn()?, key, attempt)
    }

    /// The bytes of an instance's completed streamed outputs, other than `except`'s.
    pub fn instance_stream_bytes(&self, workflow: &str, id: &str, except: &StreamKey) -> rusqlite::Result<u64> {
        streams::instance_bytes(self.conn()?, workflow, id, except)
    }

    // ----- events ----------------------------------------------------------------------

    pub fn insert_event(
        &mut self,
        workflow: &str,
        id: &str,
        event_type: &str,
        payload: &str,
        timestamp: i64,
    ) -> rusqlite::Result<()> {
        self.conn()?
            .prepare_cached(
                "INSERT INTO events (workflow, instance, type, payload, timestamp) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![workflow, id, event_type, payload, timestamp])?;
        self.persist(true)
    }

    /// Whether an event of `event_type` waits to be consumed.
    pub fn has_pending_event(&self, workflow: &str, id: &str, event_type: &str) -> rusqlite::Result<bool> {
        self.conn()?
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM events
                 WHERE workflow = ?1 AND instance = ?2 AND type = ?3 AND consumed = 0)",
            )?
            .query_row(params![workflow, id, event_type], |r| r.get(0))
    }

    /// Takes the oldest unconsumed event of `event_type` and records it as the output of
    /// `row`, in one transaction. Returns the stored event JSON, or `None` if none is queued.
    pub fn consume_event(
        &mut self,
        workflow: &str,
        id: &str,
        event_type: &str,
        row: &mut StepRow,
        now: i64,
    ) -> rusqlite::Result<Option<Json>> {
        let tx = self.conn_mut()?.transaction()?;
        let found: Option<(i64, String, i64)> = tx
            .prepare_cached(
                "SELECT seq, payload, timestamp FROM events
                 WHERE workflow = ?1 AND instance = ?2 AND type = ?3 AND consumed = 0
                 ORDER BY seq LIMIT 1",
            )?
            .query_row(params![workflow, id, event_type], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((seq, payload, timestamp)) = found else {
            return Ok(None);
        };
        let old = read_step(&tx, workflow, id, row.kind, &row.name, row.count)?;
        tx.prepare_cached("UPDATE events SET consumed = 1 WHERE seq = ?1")?.execute([seq])?;
        let payload: Json = serde_json::from_str(&payload).map_err(|e| corrupt(e.to_string()))?;
        let event = serde_json::json!({ "payload": payload, "timestamp": timestamp, "type": event_type });
        row.state = StepState::Done;
        row.output = Some(event.clone());
        row.ended_at = Some(now);
        row.wake_at = None;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO steps (workflow, instance, kind, name, count, seq, state,
                attempts, output, error, config, started_at, ended_at, wake_at, attempt_log)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, NULL, NULL, ?9, ?10, NULL, NULL)",
        )?
        .execute(params![
            workflow,
            id,
            row.kind.as_str(),
            row.name,
            row.count,
            row.seq,
            row.state.as_str(),
            to_text(&event),
            row.started_at,
            now
        ])?;
        event_log::append(&tx, workflow, id, &event_log::step_events(old.as_ref(), row, Some(event_type)))?;
        tx.commit()?;
        self.announce();
        self.persist(true)?;
        Ok(Some(event))
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

/// The instance row, read through any connection (the journal's, or the migration's).
pub(crate) fn read_instance(conn: &Connection, workflow: &str, id: &str) -> rusqlite::Result<Option<InstanceRow>> {
    conn.prepare_cached(
        "SELECT status, params, created_at, started_at, ended_at, output, error, rollback,
                        wake_at, paused_at, phase, trigger
                 FROM instances WHERE workflow = ?1 AND id = ?2",
    )?
    .query_row(params![workflow, id], |r| {
        Ok(InstanceRow {
            status: InstanceStatusKind::parse(&r.get::<_, String>(0)?),
            params: json_col(Some(r.get(1)?))?.unwrap_or(Json::Null),
            created_at: r.get(2)?,
            started_at: r.get(3)?,
            ended_at: r.get(4)?,
            output: json_col(r.get(5)?)?,
            error: json_col(r.get(6)?)?,
            rollback: json_col(r.get(7)?)?,
            wake_at: r.get(8)?,
            paused_at: r.get(9)?,
            phase: json_col(r.get(10)?)?,
            trigger: json_col(r.get(11)?)?,
        })
    })
    .optional()
}

const STEP_COLUMNS: &str = "kind, name, count, seq, state, attempts, output, error, config, started_at,
                    ended_at, wake_at, attempt_log";

fn step_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StepRow> {
    Ok(StepRow {
        kind: RowKind::parse(&r.get::<_, String>(0)?)?,
        name: r.get(1)?,
        count: r.get(2)?,
        seq: r.get(3)?,
        state: StepState::parse(&r.get::<_, String>(4)?)?,
        attempts: r.get(5)?,
        output: json_col(r.get(6)?)?,
        error: json_col(r.get(7)?)?,
        config: json_col(r.get(8)?)?,
        started_at: r.get(9)?,
        ended_at: r.get(10)?,
        wake_at: r.get(11)?,
        attempt_log: json_col(r.get(12)?)?.unwrap_or_default(),
    })
}

/// Every step row of an instance: forward steps in start order, then rollbacks as they ran.
pub(crate) fn read_steps(conn: &Connection, workflow: &str, id: &str) -> rusqlite::Result<Vec<StepRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {STEP_COLUMNS}
         FROM steps WHERE workflow = ?1 AND instance = ?2
         ORDER BY kind = 'rollback', CASE WHEN kind = 'rollback' THEN started_at ELSE seq END,
                  CASE WHEN kind = 'rollback' THEN -seq ELSE seq END"
    ))?;
    let rows = stmt.query_map(params![workflow, id], step_row)?;
    rows.collect()
}

/// One step row, if it was written.
fn read_step(
    conn: &Connection,
    workflow: &str,
    id: &str,
    kind: RowKind,
    name: &str,
    count: u32,
) -> rusqlite::Result<Option<StepRow>> {
    conn.prepare_cached(&format!(
        "SELECT {STEP_COLUMNS} FROM steps
         WHERE workflow = ?1 AND instance = ?2 AND kind = ?3 AND name = ?4 AND count = ?5"
    ))?
    .query_row(params![workflow, id, kind.as_str(), name, count], step_row)
    .optional()
}

/// The events of an instance written before the journal kept a log (a version 2 journal being
/// migrated), reconstructed from its rows: creation, start, every step as its row tells it
/// (attempts included), the rollback chain, and the instance's end or current status. The
/// status changes between (pauses, waits) were not recorded and are not invented; a wait's
/// event type was not stored either and shows as `""`.
fn backfill_events(conn: &Connection) -> rusqlite::Result<()> {
    let instances: Vec<(String, String)> = {
        let mut stmt = conn.prepare("SELECT workflow, id FROM instances ORDER BY created_at, workflow, id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (workflow, id) in instances {
        let row = read_instance(conn, &workflow, &id)?.ok_or_else(|| corrupt("vanished".into()))?;
        let steps = read_steps(conn, &workflow, &id)?;
        let mut events = vec![NewEvent::workflow("workflow_queued", row.created_at)];
        if let Some(started) = row.started_at {
            events.push(NewEvent::workflow("workflow_started", started));
            events.push(NewEvent::workflow("workflow_running", started));
        }
        let mut rollback_started = false;
        for step in &steps {
            if step.kind == RowKind::Rollback && !rollback_started {
                rollback_started = true;
                events.push(NewEvent::workflow("rollback_started", step.started_at));
            }
            events.extend(event_log::step_events(None, step, None));
        }
        let now = row.ended_at.unwrap_or(row.created_at);
        if row.status.is_terminal() {
            events.extend(event_log::finish_events(row.status, row.error.as_ref(), row.rollback.as_ref(), now));
        } else if let Some(kind) = event_log::status_event(row.status).filter(|_| {
            matches!(
                row.status,
                InstanceStatusKind::Paused | InstanceStatusKind::Waiting | InstanceStatusKind::WaitingForPause
            )
        }) {
            events.push(NewEvent::workflow(kind, row.paused_at.or(row.started_at).unwrap_or(row.created_at)));
        }
        event_log::append(conn, &workflow, &id, &events)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, state: StepState) -> StepRow {
        StepRow {
            kind: RowKind::Do,
            name: name.to_owned(),
            count: 1,
            seq: 0,
            state,
            attempts: 1,
            output: None,
            error: None,
            config: None,
            started_at: 1,
            ended_at: None,
            wake_at: None,
            attempt_log: Vec::new(),
        }
    }

    /// A step write runs cached statements only: none is parsed and planned again, whatever the
    /// values bound (see QPSG in `ready`; without it every use re-prepared).
    #[test]
    fn step_writes_reuse_their_prepared_statements() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(Some(&dir.path().join("j.db")), Durability::Normal, None).unwrap();
        for i in 0..20 {
            let instance = format!("i{}", i % 3);
            journal.put_step("wf", &instance, &row(&format!("s{i}"), StepState::Running), false).unwrap();
            journal.put_step("wf", &instance, &row(&format!("s{i}"), StepState::Done), false).unwrap();
        }
        let conn = journal.conn().unwrap();
        for sql in [
            "SELECT id FROM instance_events WHERE workflow = ?1 AND instance = ?2 ORDER BY id DESC LIMIT 1",
            "SELECT floor FROM event_floors WHERE workflow = ?1 AND instance = ?2",
        ] {
            let stmt = conn.prepare_cached(sql).unwrap();
            assert!(stmt.get_status(rusqlite::StatementStatus::Run) >= 40, "{sql} ran from the cache");
            assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0, "{sql} was prepared again");
        }
    }
}
