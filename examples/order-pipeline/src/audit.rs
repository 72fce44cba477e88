//! The audit trail of an order's side effects (reserve, charge, refund, release), in order.
//! Natively it lives in memory ([`AuditLog`] in the engine's `Env`); on Cloudflare in the
//! `AUDIT` KV namespace, one JSON array per order.

use lunora_runtime::{Env, Result};

/// The native audit trail.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Default)]
pub struct AuditLog {
    lines: std::sync::Mutex<Vec<(String, String)>>,
}

#[cfg(not(target_arch = "wasm32"))]
pub async fn record(env: &Env, order_id: &str, line: String) -> Result<()> {
    let log = env.get::<std::sync::Arc<AuditLog>>().expect("an AuditLog in the engine's Env");
    log.lines.lock().unwrap_or_else(|p| p.into_inner()).push((order_id.to_owned(), line));
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
pub async fn audit_trail(env: &Env, order_id: &str) -> Result<Vec<String>> {
    let log = env.get::<std::sync::Arc<AuditLog>>().expect("an AuditLog in the engine's Env");
    let lines = log.lines.lock().unwrap_or_else(|p| p.into_inner());
    Ok(lines.iter().filter(|(id, _)| id == order_id).map(|(_, l)| l.clone()).collect())
}

#[cfg(target_arch = "wasm32")]
fn kv(env: &Env) -> Result<worker::KvStore> {
    let worker_env = env.get::<lunora_runtime::cloudflare::WorkerEnv>().expect("the Worker's env");
    worker_env.0.kv("AUDIT").map_err(|e| lunora_runtime::Error::new(format!("the AUDIT KV namespace: {e}")))
}

/// Appends a line (read-modify-write: one order's steps never run at the same time).
#[cfg(target_arch = "wasm32")]
pub async fn record(env: &Env, order_id: &str, line: String) -> Result<()> {
    let key = format!("audit:{order_id}");
    // The KV handle is a JS object held across the awaits: fine on wasm32, where steps take
    // any future.
    let store = kv(env)?;
    let mut lines = read_lines(&store, &key).await?;
    lines.push(line);
    let text = serde_json::to_string(&lines).map_err(|e| lunora_runtime::Error::new(format!("audit trail: {e}")))?;
    // As bytes: `put` with a serialisable value goes through serde_wasm_bindgen and formats
    // floats, code the Worker would download for this one call.
    store.put_bytes(&key, text.as_bytes()).map_err(kv_error)?.execute().await.map_err(kv_error)
}

#[cfg(target_arch = "wasm32")]
pub async fn audit_trail(env: &Env, order_id: &str) -> Result<Vec<String>> {
    read_lines(&kv(env)?, &format!("audit:{order_id}")).await
}

/// The JSON array stored under `key`, empty when there is none; parsed with serde_json, the
/// decoder the rest of the Worker uses.
#[cfg(target_arch = "wasm32")]
async fn read_lines(store: &worker::KvStore, key: &str) -> Result<Vec<String>> {
    match store.get(key).text().await.map_err(kv_error)? {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| lunora_runtime::Error::new(format!("audit trail: {key} is not a JSON array of strings: {e}"))),
        None => Ok(Vec::new()),
    }
}

#[cfg(target_arch = "wasm32")]
fn kv_error(e: worker::kv::KvError) -> lunora_runtime::Error {
    lunora_runtime::Error::new(format!("audit trail: {e}"))
}
