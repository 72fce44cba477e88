//! The side effects a run leaves (rollbacks, re-run steps), in order: in memory natively
//! ([`Trail`] in the engine's `Env`), in the `TRAIL` KV namespace in workerd.

use lunora_runtime::{Env, Result};

#[cfg(not(target_arch = "wasm32"))]
#[derive(Default)]
pub struct Trail {
    lines: std::sync::Mutex<Vec<(String, String)>>,
}

#[cfg(not(target_arch = "wasm32"))]
pub async fn trail(env: &Env, run: &str, line: String) -> Result<()> {
    let trail = env.get::<std::sync::Arc<Trail>>().expect("a Trail in the engine's Env");
    trail.lines.lock().unwrap_or_else(|p| p.into_inner()).push((run.to_owned(), line));
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
pub async fn read_trail(env: &Env, run: &str) -> Result<Vec<String>> {
    let trail = env.get::<std::sync::Arc<Trail>>().expect("a Trail in the engine's Env");
    let lines = trail.lines.lock().unwrap_or_else(|p| p.into_inner());
    Ok(lines.iter().filter(|(r, _)| r == run).map(|(_, l)| l.clone()).collect())
}

#[cfg(target_arch = "wasm32")]
fn kv(env: &Env) -> Result<worker::KvStore> {
    let worker_env = env.get::<lunora_runtime::cloudflare::WorkerEnv>().expect("the Worker's env");
    worker_env.0.kv("TRAIL").map_err(|e| lunora_runtime::Error::new(format!("the TRAIL KV namespace: {e}")))
}

#[cfg(target_arch = "wasm32")]
pub async fn trail(env: &Env, run: &str, line: String) -> Result<()> {
    let key = format!("trail:{run}");
    let store = kv(env)?;
    let mut lines: Vec<String> = store.get(&key).json().await.map_err(kv_error)?.unwrap_or_default();
    lines.push(line);
    store.put(&key, &lines).map_err(kv_error)?.execute().await.map_err(kv_error)
}

#[cfg(target_arch = "wasm32")]
pub async fn read_trail(env: &Env, run: &str) -> Result<Vec<String>> {
    Ok(kv(env)?.get(&format!("trail:{run}")).json().await.map_err(kv_error)?.unwrap_or_default())
}

#[cfg(target_arch = "wasm32")]
fn kv_error(e: worker::kv::KvError) -> lunora_runtime::Error {
    lunora_runtime::Error::new(format!("trail: {e}"))
}
