//! The dedup table and its statements, written once for both stores (native SQLite and D1 in
//! a Worker), so the two cannot drift apart in what a claim means.
//!
//! Columns: `holder` and `lease_until` (epoch ms the claim lapses at) while a request runs the
//! handler; `status`, `body` and `expires_at` (epoch ms the answer is forgotten at) once its
//! final answer is stored.

use super::store::{Claim, StoredAnswer};

pub const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS lunora_dispatch (id TEXT PRIMARY KEY NOT NULL, \
     function_path TEXT NOT NULL, holder TEXT, lease_until INTEGER, status INTEGER, body TEXT, \
     expires_at INTEGER) STRICT";
pub const CREATE_INDEX: &str = "CREATE INDEX IF NOT EXISTS lunora_dispatch_expiry ON lunora_dispatch (expires_at)";

/// Expired rows are swept at most this many per claim, so no request pays for a backlog.
pub const SWEEP_BATCH: i64 = 100;
/// `?1` now, `?2` [`SWEEP_BATCH`].
pub const SWEEP: &str = "DELETE FROM lunora_dispatch WHERE rowid IN \
     (SELECT rowid FROM lunora_dispatch WHERE expires_at <= ?1 LIMIT ?2)";
/// Taken when free, when the holder's lease lapsed, or when the answer expired: one row changed
/// means claimed. `?1` id, `?2` function path, `?3` holder, `?4` lease until, `?5` now.
pub const CLAIM: &str = "INSERT INTO lunora_dispatch (id, function_path, holder, lease_until) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (id) DO UPDATE SET function_path = excluded.function_path, holder = excluded.holder, \
     lease_until = excluded.lease_until, status = NULL, body = NULL, expires_at = NULL \
     WHERE (lunora_dispatch.status IS NULL AND lunora_dispatch.lease_until <= ?5) \
     OR (lunora_dispatch.status IS NOT NULL AND lunora_dispatch.expires_at <= ?5)";
/// After a claim that changed nothing: `?1` id.
pub const READ: &str = "SELECT status, body FROM lunora_dispatch WHERE id = ?1";
/// Stores the answer if `holder` still holds the claim. `?1` id, `?2` holder, `?3` status,
/// `?4` body, `?5` expires at.
pub const COMPLETE: &str = "UPDATE lunora_dispatch SET status = ?3, body = ?4, expires_at = ?5, holder = NULL, \
     lease_until = NULL WHERE id = ?1 AND holder = ?2";
/// `?1` id, `?2` holder.
pub const RELEASE: &str = "DELETE FROM lunora_dispatch WHERE id = ?1 AND holder = ?2 AND status IS NULL";

/// What a claim that changed nothing found: the stored answer, or someone running it.
pub fn found(row: Option<(Option<i64>, Option<String>)>) -> Claim {
    match row {
        Some((Some(status), Some(body))) => {
            Claim::Done(StoredAnswer { status: u16::try_from(status).unwrap_or(500), body })
        }
        _ => Claim::Running,
    }
}
