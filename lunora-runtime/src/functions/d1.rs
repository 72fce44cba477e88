//! The dedup store in a Worker: a table in a D1 database, the same schema and statements as
//! the native SQLite store. D1 runs each batch as one transaction on its primary, so a claim
//! (sweep, conditional upsert, read back) is atomic and every request sees the last write.

use std::cell::Cell;

use wasm_bindgen::JsValue;
use worker::D1Database;

use super::dedup_sql::{self, CLAIM, COMPLETE, CREATE_INDEX, CREATE_TABLE, READ, RELEASE, SWEEP, SWEEP_BATCH};
use super::store::{Claim, DedupStore, StoreError, StoredAnswer};
use crate::erased::BoxFuture;

/// The dedup store of a Worker's dispatch endpoint, in the D1 database bound as `binding`.
pub struct D1DedupStore {
    db: D1Database,
    /// Whether this isolate created the table already.
    ready: Cell<bool>,
}

impl D1DedupStore {
    pub fn new(db: D1Database) -> Self {
        Self { db, ready: Cell::new(false) }
    }

    async fn ensure_table(&self) -> Result<(), StoreError> {
        if !self.ready.get() {
            self.db.prepare(CREATE_TABLE).run().await.map_err(failed)?;
            self.db.prepare(CREATE_INDEX).run().await.map_err(failed)?;
            self.ready.set(true);
        }
        Ok(())
    }
}

fn failed(e: worker::Error) -> StoreError {
    StoreError(format!("dispatch dedup store (D1): {e}"))
}

fn text(value: &str) -> JsValue {
    JsValue::from_str(value)
}

/// Epoch ms as a JS number (exact below 2^53).
fn ms(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

#[derive(serde::Deserialize)]
struct Row {
    status: Option<i64>,
    body: Option<String>,
}

impl DedupStore for D1DedupStore {
    fn claim<'a>(
        &'a self,
        id: &'a str,
        function: &'a str,
        holder: &'a str,
        now: i64,
        lease_until: i64,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            self.ensure_table().await?;
            let sweep =
                self.db.prepare(SWEEP).bind(&[ms(now), JsValue::from_f64(SWEEP_BATCH as f64)]).map_err(failed)?;
            let upsert = self
                .db
                .prepare(CLAIM)
                .bind(&[text(id), text(function), text(holder), ms(lease_until), ms(now)])
                .map_err(failed)?;
            let read = self.db.prepare(READ).bind(&[text(id)]).map_err(failed)?;
            let results = self.db.batch(vec![sweep, upsert, read]).await.map_err(failed)?;
            let claimed =
                results.get(1).and_then(|r| r.meta().ok().flatten()).and_then(|m| m.changes).ok_or_else(|| {
                    StoreError("dispatch dedup store (D1): the claim reported no change count".into())
                })?;
            if claimed == 1 {
                return Ok(Claim::Claimed);
            }
            let rows: Vec<Row> = match results.get(2) {
                Some(r) => r.results().map_err(failed)?,
                None => Vec::new(),
            };
            Ok(dedup_sql::found(rows.into_iter().next().map(|row| (row.status, row.body))))
        })
    }

    fn complete<'a>(
        &'a self,
        id: &'a str,
        holder: &'a str,
        answer: &'a StoredAnswer,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.db
                .prepare(COMPLETE)
                .bind(&[
                    text(id),
                    text(holder),
                    JsValue::from_f64(f64::from(answer.status)),
                    text(&answer.body),
                    ms(expires_at),
                ])
                .map_err(failed)?
                .run()
                .await
                .map_err(failed)
                .map(drop)
        })
    }

    fn release<'a>(&'a self, id: &'a str, holder: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.db
                .prepare(RELEASE)
                .bind(&[text(id), text(holder)])
                .map_err(failed)?
                .run()
                .await
                .map_err(failed)
                .map(drop)
        })
    }
}
