//! The dispatch endpoint in a Worker: the Worker's router hands `POST
//! /_lunora/scheduler/dispatch` to `cloudflare::serve_dispatch`, which answers it here with
//! the same [`DispatchEndpoint`] as a native server, over a D1 dedup store.

use std::sync::Arc;

use crate::env::Env;
use crate::functions::{D1DedupStore, DispatchEndpoint, DispatchRequest, Functions, MAX_BODY_BYTES};

/// Answers one dispatch request with `functions` (which see `lunora_env`), deduplicating in
/// the D1 database bound as `d1_binding` in `env`.
pub(super) async fn answer(
    mut req: worker::Request,
    env: &worker::Env,
    lunora_env: Env,
    functions: Functions,
    d1_binding: &str,
) -> worker::Result<worker::Response> {
    let db = match env.d1(d1_binding) {
        Ok(db) => db,
        Err(e) => {
            return not_configured(&format!(
                "the dispatch endpoint's dedup store needs the D1 binding {d1_binding} ([[d1_databases]] in \
                 wrangler.toml): {e}"
            ))
        }
    };
    let store = Arc::new(D1DedupStore::new(db));
    let endpoint = match DispatchEndpoint::new(functions, lunora_env, store) {
        Ok(endpoint) => endpoint,
        Err(e) => return not_configured(e.message()),
    };
    let headers: Vec<(String, Vec<u8>)> = req.headers().entries().map(|(n, v)| (n, v.into_bytes())).collect();
    // A declared length past the limit is refused unread; an undeclared one is read and measured.
    let declared = req.headers().get("content-length").ok().flatten().and_then(|l| l.trim().parse::<usize>().ok());
    let (body, oversized) = match declared {
        Some(length) if length > MAX_BODY_BYTES => (Vec::new(), true),
        _ => (req.bytes().await.unwrap_or_default(), false),
    };
    let request = DispatchRequest { method: req.method().to_string(), headers, body, oversized };
    let answer = endpoint.answer(request).await;
    let response_headers = worker::Headers::new();
    for (name, value) in &answer.headers {
        response_headers.set(name, value)?;
    }
    Ok(worker::Response::ok(answer.body)?.with_status(answer.status).with_headers(response_headers))
}

fn not_configured(message: &str) -> worker::Result<worker::Response> {
    let body = serde_json::json!({ "error": { "code": "DISPATCH_NOT_CONFIGURED", "message": message } });
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(worker::Response::ok(body.to_string())?.with_status(500).with_headers(headers))
}
