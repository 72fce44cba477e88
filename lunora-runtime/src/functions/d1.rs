//! The dedup store in a Worker: a table in a D1 database, the same schema and statements as
//! the native SQLite store. D1 runs each batch as one transaction on its primary, so a claim
//! (sweep, conditional upsert, read back) is atomic and every request sees the last write.
//!
//! The claim's results are read as the JS objects they are (`meta.changes`, `results[0]`)
//! rather than through `D1Result::meta`/`results`, which decode with serde_wasm_bindgen: a
//! second JSON decoder in every Worker for two fields.

use std::cell::Cell;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1PreparedStatement};

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

/// A property of a JS object, `undefined` when absent.
fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A nullable integer column (`None` for `null` or a non-integer).
fn integer(value: &JsValue) -> Option<i64> {
    value.as_f64().filter(|n| n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0).map(|n| n as i64)
}

impl D1DedupStore {
    /// `db.batch(statements)`: one transaction; its results, one per statement.
    async fn batch(&self, statements: &[D1PreparedStatement]) -> Result<Array, StoreError> {
        let db: &JsValue = self.db.as_ref();
        let batch: Function = get(db, "batch")
            .dyn_into()
            .map_err(|_| StoreError("dispatch dedup store (D1): the binding has no batch()".into()))?;
        let statements: Array = statements.iter().map(|s| JsValue::from(s.inner())).collect();
        let promise = batch.call1(db, &statements).map_err(|e| failed(e.into()))?;
        let results = JsFuture::from(Promise::resolve(&promise)).await.map_err(|e| failed(e.into()))?;
        results.dyn_into().map_err(|_| StoreError("dispatch dedup store (D1): batch() answered no array".into()))
    }
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
            let results = self.batch(&[sweep, upsert, read]).await?;
            let claimed = integer(&get(&get(&results.get(1), "meta"), "changes"))
                .ok_or_else(|| StoreError("dispatch dedup store (D1): the claim reported no change count".into()))?;
            if claimed == 1 {
                return Ok(Claim::Claimed);
            }
            // The row read back, if any: `{status, body}`, each possibly null.
            let row = get(&results.get(2), "results").dyn_into::<Array>().ok().map(|rows| rows.get(0));
            let row = row.filter(|row| row.is_object());
            Ok(dedup_sql::found(row.map(|row| (integer(&get(&row, "status")), get(&row, "body").as_string()))))
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
