//! The plain HTTP API the corpus's HTTP workflows call (`corpus/src/http_steps.rs`), served by
//! each engine's origin next to the dispatch endpoint:
//!
//! | route | answer |
//! |---|---|
//! | `GET /e2e/http/item/<n>` | `{"item": n, "name": "item <n>"}` |
//! | `POST /e2e/http/echo` | 201 `{"echo": <body>, "auth": <authorization header>}`; 415 unless JSON |
//! | `GET /e2e/http/missing` | 404 `{"error": "no such thing"}` |
//! | `GET /e2e/http/flaky/<key>` | 503 on the first request of a key, then `{"ok": key}` |

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;

use crate::http_server::{Recorded, Reply};

/// The answer to a request under `/e2e/http/`, or `None` for other paths.
pub fn answer(request: &Recorded, requests_per_key: &Mutex<HashMap<String, u32>>) -> Option<Reply> {
    let route = request.path().strip_prefix("/e2e/http/")?;
    let json = |status, value: serde_json::Value| Reply::json(status, value.to_string());
    Some(match (request.method.as_str(), route.split_once('/').unwrap_or((route, ""))) {
        ("GET", ("item", n)) => match n.parse::<u64>() {
            Ok(n) => json(200, json!({ "item": n, "name": format!("item {n}") })),
            Err(_) => json(400, json!({ "error": format!("not an item number: {n:?}") })),
        },
        ("POST", ("echo", "")) if request.header("content-type") != Some("application/json") => {
            json(415, json!({ "error": "the body must be application/json" }))
        }
        ("POST", ("echo", "")) => json(
            201,
            json!({
                "echo": serde_json::from_slice::<serde_json::Value>(&request.body).unwrap_or_default(),
                "auth": request.header("authorization"),
            }),
        ),
        ("GET", ("missing", "")) => json(404, json!({ "error": "no such thing" })),
        ("GET", ("flaky", key)) => {
            let nth = {
                let mut counts = requests_per_key.lock().unwrap();
                let count = counts.entry(format!("flaky/{key}")).or_insert(0);
                *count += 1;
                *count
            };
            match nth {
                1 => Reply::text(503, "text/plain", "upstream busy"),
                _ => json(200, json!({ "ok": key })),
            }
        }
        _ => json(404, json!({ "error": format!("no route {} {}", request.method, request.target) })),
    })
}
