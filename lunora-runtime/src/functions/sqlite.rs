//! The native dedup store: a table in a SQLite file (WAL), shared safely by every process
//! that opens the file. Each operation is one write transaction, so SQLite's write lock makes
//! it atomic: two processes claiming one id cannot both win.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::dedup_sql::{self, CLAIM, COMPLETE, CREATE_INDEX, CREATE_TABLE, READ, RELEASE, SWEEP, SWEEP_BATCH};
use super::store::{Claim, DedupStore, StoreError, StoredAnswer};
use crate::erased::BoxFuture;

/// How long a statement waits for another process's write lock before failing (503).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The dedup store of a native dispatch endpoint.
#[derive(Clone)]
pub struct SqliteDedupStore {
    connection: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteDedupStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDedupStore").finish_non_exhaustive()
    }
}

impl SqliteDedupStore {
    /// Opens (or creates) the store in the SQLite file at `path`, in WAL mode. The file may be
    /// the embedded engine's journal or its own; several processes may share it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let failed = |e: rusqlite::Error| StoreError(format!("dispatch dedup store {}: {e}", path.display()));
        let connection = Connection::open(path).map_err(failed)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(failed)?;
        connection.pragma_update(None, "synchronous", "NORMAL").map_err(failed)?;
        connection.execute_batch(&format!("{CREATE_TABLE}; {CREATE_INDEX};")).map_err(failed)?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)) })
    }

    /// Runs `work` on the connection off the async threads (it may wait for another
    /// process's lock).
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let connection = connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&connection)
        })
        .await
        .map_err(|e| StoreError(format!("dispatch dedup store: {e}")))?
        .map_err(|e| StoreError(format!("dispatch dedup store: {e}")))
    }
}

impl DedupStore for SqliteDedupStore {
    fn claim<'a>(
        &'a self,
        id: &'a str,
        function: &'a str,
        holder: &'a str,
        now: i64,
        lease_until: i64,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        let (id, function, holder) = (id.to_owned(), function.to_owned(), holder.to_owned());
        Box::pin(self.with(move |c| {
            // One write transaction: sweep, claim and read back see the same state.
            let c = c.unchecked_transaction()?;
            c.execute(SWEEP, params![now, SWEEP_BATCH])?;
            let claimed = c.execute(CLAIM, params![id, function, holder, lease_until, now])?;
            if claimed == 1 {
                c.commit()?;
                return Ok(Claim::Claimed);
            }
            let row: Option<(Option<i64>, Option<String>)> =
                c.query_row(READ, params![id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
            c.commit()?;
            Ok(dedup_sql::found(row))
        }))
    }

    fn complete<'a>(
        &'a self,
        id: &'a str,
        holder: &'a str,
        answer: &'a StoredAnswer,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let (id, holder, answer) = (id.to_owned(), holder.to_owned(), answer.clone());
        Box::pin(
            self.with(move |c| {
                c.execute(COMPLETE, params![id, holder, answer.status, answer.body, expires_at]).map(drop)
            }),
        )
    }

    fn release<'a>(&'a self, id: &'a str, holder: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let (id, holder) = (id.to_owned(), holder.to_owned());
        Box::pin(self.with(move |c| c.execute(RELEASE, params![id, holder]).map(drop)))
    }
}
