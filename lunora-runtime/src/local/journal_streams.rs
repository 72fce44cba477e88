//! The journal's share of stream steps, as SQL over its connection: the chunks each attempt
//! writes and the record of which attempt's chunks are a step's output (tables `step_chunks`
//! and `step_streams`). `Journal` exposes them as its own methods.
//!
//! Chunks are committed one by one without an fsync as the stream is read; they become durable
//! with the fsync of the step's completion, which comes after them in the write-ahead log.

use rusqlite::{params, Connection, OptionalExtension};

/// Which step a stream belongs to: `(workflow, instance, step name, count)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub workflow: String,
    pub instance: String,
    pub name: String,
    pub count: u32,
}

/// A step's streamed output: the attempt whose chunks it is, how many and how many bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamMeta {
    pub attempt: u32,
    pub chunks: u32,
    pub bytes: u64,
}

/// What the chunks of one attempt add up to: `(count, lowest idx, highest idx, bytes)`.
pub type ChunkSummary = (u32, Option<u32>, Option<u32>, u64);

/// Forgets a step's streamed output and every chunk any of its attempts wrote.
pub fn clear(conn: &mut Connection, key: &StreamKey) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.prepare_cached("DELETE FROM step_chunks WHERE workflow = ?1 AND instance = ?2 AND name = ?3 AND count = ?4")?
        .execute(params![key.workflow, key.instance, key.name, key.count])?;
    tx.prepare_cached("DELETE FROM step_streams WHERE workflow = ?1 AND instance = ?2 AND name = ?3 AND count = ?4")?
        .execute(params![key.workflow, key.instance, key.name, key.count])?;
    tx.commit()
}

/// Removes the chunks one attempt wrote (an attempt that failed or was cut short).
pub fn discard_attempt(conn: &Connection, key: &StreamKey, attempt: u32) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM step_chunks
             WHERE workflow = ?1 AND instance = ?2 AND name = ?3 AND count = ?4 AND attempt = ?5",
    )?
    .execute(params![key.workflow, key.instance, key.name, key.count, attempt])?;
    Ok(())
}

/// Appends chunk `idx` of an attempt.
pub fn put_chunk(conn: &Connection, key: &StreamKey, attempt: u32, idx: u32, chunk: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO step_chunks (workflow, instance, name, count, attempt, idx, chunk)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![key.workflow, key.instance, key.name, key.count, attempt, idx, chunk])?;
    Ok(())
}

/// Records which attempt's chunks are the step's output (once it read its stream to the end).
pub fn put_meta(conn: &Connection, key: &StreamKey, meta: StreamMeta) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO step_streams (workflow, instance, name, count, attempt, chunks, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        key.workflow,
        key.instance,
        key.name,
        key.count,
        meta.attempt,
        meta.chunks,
        meta.bytes as i64
    ])?;
    Ok(())
}

/// The step's streamed output, if it has one.
pub fn meta(conn: &Connection, key: &StreamKey) -> rusqlite::Result<Option<StreamMeta>> {
    conn.prepare_cached(
        "SELECT attempt, chunks, bytes FROM step_streams
             WHERE workflow = ?1 AND instance = ?2 AND name = ?3 AND count = ?4",
    )?
    .query_row(params![key.workflow, key.instance, key.name, key.count], |r| {
        Ok(StreamMeta { attempt: r.get(0)?, chunks: r.get(1)?, bytes: r.get::<_, i64>(2)? as u64 })
    })
    .optional()
}

/// Chunk `idx` of an attempt, if it is there.
pub fn chunk(conn: &Connection, key: &StreamKey, attempt: u32, idx: u32) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached(
        "SELECT chunk FROM step_chunks
             WHERE workflow = ?1 AND instance = ?2 AND name = ?3 AND count = ?4 AND attempt = ?5 AND idx = ?6",
    )?
    .query_row(params![key.workflow, key.instance, key.name, key.count, attempt, idx], |r| r.get(0))
    .optional()
}

/// What an attempt's stored chunks add up to, to check them against their record.
pub fn summary(conn: &Connection, key: &StreamKey, attempt: u32) -> rusqlite::Result<ChunkSummary> {
    conn.prepare_cached(
        "SELECT count(*), min(idx), max(idx), coalesce(sum(length(chunk)), 0) FROM step_chunks
             WHERE workflow = ?1 AND instance = ?2 AND name = ?3 AND count = ?4 AND attempt = ?5",
    )?
    .query_row(params![key.workflow, key.instance, key.name, key.count, attempt], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
    })
}

/// The bytes of an instance's completed streamed outputs, other than `except`'s.
pub fn instance_bytes(conn: &Connection, workflow: &str, id: &str, except: &StreamKey) -> rusqlite::Result<u64> {
    conn.prepare_cached(
        "SELECT coalesce(sum(bytes), 0) FROM step_streams
             WHERE workflow = ?1 AND instance = ?2 AND NOT (name = ?3 AND count = ?4)",
    )?
    .query_row(params![workflow, id, except.name, except.count], |r| r.get::<_, i64>(0))
    .map(|b| b as u64)
}

/// Removes the stream rows of an instance (in the caller's transaction).
pub(crate) fn delete_instance_streams(
    tx: &rusqlite::Transaction<'_>,
    workflow: &str,
    id: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM step_chunks WHERE workflow = ?1 AND instance = ?2")?
        .execute(params![workflow, id])?;
    tx.prepare_cached("DELETE FROM step_streams WHERE workflow = ?1 AND instance = ?2")?
        .execute(params![workflow, id])?;
    Ok(())
}

/// Removes the stream rows of steps a restart erased: those with no `do` step row left (in the
/// caller's transaction).
pub(crate) fn delete_orphan_streams(tx: &rusqlite::Transaction<'_>, workflow: &str, id: &str) -> rusqlite::Result<()> {
    for table in ["step_chunks", "step_streams"] {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE workflow = ?1 AND instance = ?2 AND NOT EXISTS (
                    SELECT 1 FROM steps s WHERE s.workflow = ?1 AND s.instance = ?2 AND s.kind = 'do'
                        AND s.name = {table}.name AND s.count = {table}.count)"
            ),
            params![workflow, id],
        )?;
    }
    Ok(())
}
