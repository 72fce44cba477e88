//! The Lunora side of `ctx.run` for the corpus's dispatch workflows (`corpus/src/calls.rs`): a
//! dispatch endpoint on 127.0.0.1 that checks the dispatch protocol's headers (the README's `ctx.run` section) and
//! answers by function path. Each engine gets its own, so the requests each sent can be
//! compared; "the first request of an id" is counted per origin.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::http_server::{Recorded, Reply, TestServer};

/// `LUNORA_ADMIN_TOKEN` for both engines.
pub const TOKEN: &str = "e2e-admin-token";
/// `LUNORA_DISPATCH_TIMEOUT` for both engines; `e2e:slow` holds its first answer longer.
pub const REQUEST_TIMEOUT: &str = "1 second";
const SLOW_ANSWER: Duration = Duration::from_secs(3);

pub struct Origin {
    server: TestServer,
}

impl Origin {
    pub fn start() -> Self {
        let requests_per_id = Mutex::new(HashMap::new());
        Origin { server: TestServer::start(move |request| answer(request, &requests_per_id)) }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The Worker variables `ctx.run` reads, pointing here.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LUNORA_ORIGIN_URL", self.url()),
            ("LUNORA_ADMIN_TOKEN", TOKEN.to_owned()),
            ("LUNORA_DISPATCH_TIMEOUT", REQUEST_TIMEOUT.to_owned()),
        ]
    }

    /// The calls one instance made, in order: `<functionPath> <id> <args>`.
    pub fn calls(&self, export: &str, instance_id: &str) -> Vec<String> {
        let prefix = format!("{export}/{instance_id}#");
        self.server
            .requests()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter(|body| body["id"].as_str().is_some_and(|id| id.starts_with(&prefix)))
            .map(|body| format!("{} {} {}", text(&body["functionPath"]), text(&body["id"]), body["args"]))
            .collect()
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({ "error": { "code": code, "message": message } }).to_string())
}

fn result(value: Value) -> Reply {
    Reply::json(200, json!({ "result": value }).to_string())
}

fn answer(request: &Recorded, requests_per_id: &Mutex<HashMap<String, u32>>) -> Reply {
    if let Some(reply) = crate::origin_http::answer(request, requests_per_id) {
        return reply;
    }
    if request.method != "POST" || request.path() != "/_lunora/scheduler/dispatch" {
        return error(404, "NOT_FOUND", &format!("no route {} {}", request.method, request.target));
    }
    if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return error(403, "DISPATCH_UNAUTHENTICATED", "wrong or missing admin token");
    }
    if request.header("content-type") != Some("application/json") {
        return error(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(400, "BAD_REQUEST", "the body is not JSON");
    };
    let (Some(id), Some(function)) = (body["id"].as_str(), body["functionPath"].as_str()) else {
        return error(400, "BAD_REQUEST", "the body needs id and functionPath");
    };
    let nth = {
        let mut counts = requests_per_id.lock().unwrap();
        let count = counts.entry(id.to_owned()).or_insert(0);
        *count += 1;
        *count
    };
    match function {
        "e2e:echo" => result(json!({ "echo": body["args"] })),
        "e2e:unit" | "e2e:refund" => Reply::empty(200),
        "e2e:flaky" if nth == 1 => Reply::text(503, "text/plain", "upstream busy"),
        "e2e:flaky" => result(json!("flaky ok")),
        "e2e:missing" => error(404, "NOT_FOUND", "no such function"),
        "e2e:busy" if nth <= 2 => error(409, "DISPATCH_IN_PROGRESS", "already running elsewhere")
            .with_header("x-lunora-dispatch-declined", "1"),
        "e2e:busy" => result(json!("busy done")),
        "e2e:slow" if nth == 1 => result(json!("too late")).delayed(SLOW_ANSWER),
        "e2e:slow" => result(json!("slow done")),
        "e2e:charge" => result(json!("rcpt-1")),
        other => error(404, "UNKNOWN_FUNCTION", &format!("no function {other}")),
    }
}

impl crate::conformance::DispatchOrigin for Origin {
    fn url(&self) -> String {
        Origin::url(self)
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        Origin::vars(self)
    }

    fn calls(&self, export: &str, instance_id: &str) -> Vec<String> {
        Origin::calls(self, export, instance_id)
    }
}
