//! A fake Cloudflare Workflows REST API on 127.0.0.1 for the REST client's tour
//! (`corpus/src/rest_tour.rs`): it routes on the decoded path and answers with the envelope
//! fixtures of `lunora-runtime/tests/rest_fixtures`, recording every request.

use std::time::Duration;

use corpus::rest_tour::{BY_CURSOR, ECHOES_TOKEN, ERRORED, MISSING, ODD_ID, SLOW, WORKFLOW};
use serde_json::{json, Value};

use crate::http_server::{percent_decode, Recorded, Reply, TestServer};

/// The API token both runs use.
pub const TOKEN: &str = "Zq9XwVb7Lm3KpT2sRy8N";

pub fn start() -> TestServer {
    TestServer::start(answer)
}

/// What the comparison looks at in a request: method, target (still encoded), the
/// authorization and content-type headers, and the body.
pub fn digest(request: &Recorded) -> Value {
    json!([
        request.method,
        request.target,
        request.header("authorization"),
        request.header("content-type"),
        String::from_utf8_lossy(&request.body),
    ])
}

fn no_route() -> Reply {
    Reply::json(
        404,
        r#"{"success":false,"errors":[{"code":7003,"message":"No route for that URI"}],"messages":[],"result":null}"#,
    )
}

fn answer(request: &Recorded) -> Reply {
    let Some((_, rest)) = request.path().split_once("/workflows/") else { return no_route() };
    let segments: Vec<String> = rest.split('/').map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", [ECHOES_TOKEN, "instances"]) => {
            let auth = request.header("authorization").unwrap_or_default();
            let body = json!({
                "success": false,
                "errors": [{ "code": 10000, "message": format!("Authentication error: {auth} is not valid") }],
                "messages": [],
                "result": null,
            });
            Reply::json(403, body.to_string())
        }
        ("GET", [BY_CURSOR, "instances"]) => match request.query_param("cursor") {
            None => Reply::fixture(200, "list_cursor_first.json"),
            Some(_) => Reply::fixture(200, "list_cursor_last.json"),
        },
        ("GET", [WORKFLOW, "instances"]) => match request.query_param("page").as_deref() {
            None | Some("1") => Reply::fixture(200, "list_page1.json"),
            Some("2") => Reply::fixture(200, "list_page2.json"),
            Some("3") => Reply::fixture(200, "list_page3.json"),
            Some(_) => Reply::fixture(200, "list_empty.json"),
        },
        ("GET", [WORKFLOW, "instances", ERRORED]) => Reply::fixture(200, "get_instance_errored.json"),
        ("GET", [WORKFLOW, "instances", MISSING]) => Reply::fixture(404, "error_not_found.json"),
        ("GET", [WORKFLOW, "instances", SLOW]) => {
            Reply::fixture(200, "get_instance_terminated.json").delayed(Duration::from_secs(3))
        }
        ("GET", [WORKFLOW, "instances", ODD_ID]) => Reply::fixture(200, "get_instance_terminated.json"),
        ("PATCH", [WORKFLOW, "instances", ODD_ID, "status"]) => {
            let status = serde_json::from_slice::<Value>(&request.body)
                .ok()
                .and_then(|b| b["status"].as_str().map(str::to_owned));
            match status.as_deref() {
                Some("pause") => Reply::fixture(200, "status_pause.json"),
                Some("resume") => Reply::fixture(200, "status_resume.json"),
                Some("terminate") => Reply::fixture(200, "status_terminate.json"),
                Some("restart") => Reply::fixture(200, "status_restart.json"),
                _ => no_route(),
            }
        }
        ("POST", [WORKFLOW, "instances"]) => Reply::fixture(200, "create_instance.json"),
        ("POST", [WORKFLOW, "instances", ODD_ID, "events", "payment received ✓"]) => {
            Reply::fixture(200, "send_event.json")
        }
        _ => no_route(),
    }
}
