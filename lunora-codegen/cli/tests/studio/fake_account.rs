//! A stateful Cloudflare-shaped Workflows API on 127.0.0.1 for the studio's tests: one account
//! with one workflow whose instances change when actions and events arrive, so the page can be
//! seen to follow. Hostile on purpose: one instance's id, step name and error are HTML, and a
//! refused action echoes the API token back (the REST client must redact it).

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::http_server::{percent_decode, Recorded, Reply, TestServer};

pub const ACCOUNT: &str = "acc-studio";
pub const TOKEN: &str = "Tk7QmZ2vXw9LpR4sNb8Y";
pub const WORKFLOW: &str = "order-pipeline";
/// An instance id, a step name and an error message that would run script if written as HTML.
pub const HOSTILE_ID: &str = "<img src=x onerror=\"window.__pwned=1\">";
pub const HOSTILE_STEP: &str = "<img src=x onerror=\"window.__pwned=2\"></script><script>window.__pwned=3</script>";
pub const HOSTILE_ERROR: &str =
    "</script><script>window.__pwned=4</script><b onmouseover=\"window.__pwned=5\">boom</b>";
/// How many plain completed instances pad the list, so it has two pages of 20.
pub const BULK: usize = 24;

pub struct FakeAccount {
    pub server: TestServer,
    pub instances: Arc<Mutex<Vec<Value>>>,
}

fn at(seconds: f64) -> String {
    let whole = seconds.floor() as u64;
    format!(
        "2025-06-01T12:{:02}:{:02}.{:03}Z",
        whole / 60,
        whole % 60,
        ((seconds - whole as f64) * 1000.0).round() as u64
    )
}

fn instance(id: &str, status: &str, created: f64, steps: Vec<Value>, extra: Value) -> Value {
    let mut detail = json!({
        "id": id, "status": status, "created_on": at(created), "queued": at(created), "start": at(created + 0.1),
        "params": {"order": id}, "steps": steps, "output": null, "error": null,
    });
    if let (Value::Object(d), Value::Object(e)) = (&mut detail, extra) {
        d.extend(e);
    }
    detail
}

fn seed() -> Vec<Value> {
    let mut all = vec![
        // Retried charge: two attempts with a retry gap, a sleep, an event wait with its payload.
        instance(
            "order-retried",
            "complete",
            0.0,
            vec![
                json!({"type": "step", "name": "charge", "start": at(0.2), "end": at(3.0), "success": true,
                       "output": {"charged": 42}, "config": {"retries": {"limit": 3, "delay": "2 seconds", "backoff": "constant"}, "timeout": "30 seconds"},
                       "attempts": [
                           {"start": at(0.2), "end": at(0.7), "success": false, "error": {"name": "Error", "message": "card declined"}},
                           {"start": at(2.7), "end": at(3.0), "success": true, "error": null}]}),
                json!({"type": "sleep", "name": "cool-down", "start": at(3.0), "end": at(8.0), "finished": true}),
                json!({"type": "waitForEvent", "name": "shipment", "start": at(8.0), "end": at(11.0), "finished": true,
                       "output": {"carrier": "parcel-co"}}),
                json!({"type": "step", "name": "ship", "start": at(11.0), "end": at(11.5), "success": true, "output": "shipped",
                       "attempts": [{"start": at(11.0), "end": at(11.5), "success": true}]}),
            ],
            json!({"end": at(11.6), "output": {"shipped": true}}),
        ),
        // Waiting for the shipment event; sending it completes the instance.
        instance(
            "order-waiting",
            "waiting",
            20.0,
            vec![
                json!({"type": "step", "name": "charge", "start": at(20.2), "end": at(20.5), "success": true, "output": 7,
                       "attempts": [{"start": at(20.2), "end": at(20.5), "success": true}]}),
                json!({"type": "waitForEvent", "name": "shipment", "start": at(20.5), "end": null, "finished": false}),
            ],
            json!({}),
        ),
        // Running, to pause.
        instance(
            "order-running",
            "running",
            30.0,
            vec![json!({"type": "step", "name": "reserve", "start": at(30.2), "end": null, "success": null,
                        "attempts": [{"start": at(30.2), "end": null, "success": null}]})],
            json!({}),
        ),
        // Terminated with rollback: the rollbacks ran in reverse order.
        instance(
            "order-rolled-back",
            "terminated",
            40.0,
            vec![
                json!({"type": "step", "name": "charge", "start": at(40.2), "end": at(40.4), "success": true,
                       "attempts": [{"start": at(40.2), "end": at(40.4), "success": true}]}),
                json!({"type": "step", "name": "reserve", "start": at(40.4), "end": at(40.6), "success": true,
                       "attempts": [{"start": at(40.4), "end": at(40.6), "success": true}]}),
                json!({"type": "rollback", "name": "reserve", "start": at(41.0), "end": at(41.2), "success": true,
                       "attempts": [{"start": at(41.0), "end": at(41.2), "success": true}]}),
                json!({"type": "rollback", "name": "charge", "start": at(41.2), "end": at(41.5), "success": true,
                       "attempts": [{"start": at(41.2), "end": at(41.5), "success": true}]}),
                json!({"type": "termination", "trigger": {"source": "api"}}),
            ],
            json!({"end": at(41.5)}),
        ),
        // Hostile strings everywhere the page shows server text.
        instance(
            HOSTILE_ID,
            "errored",
            50.0,
            vec![json!({"type": "step", "name": HOSTILE_STEP, "start": at(50.2), "end": at(50.4), "success": false,
                        "attempts": [{"start": at(50.2), "end": at(50.4), "success": false, "error": {"name": "Error", "message": HOSTILE_ERROR}}]})],
            json!({"end": at(50.4), "error": {"name": "Error", "message": HOSTILE_ERROR}}),
        ),
    ];
    for n in 0..BULK {
        all.push(instance(
            &format!("bulk-{n:02}"),
            "complete",
            60.0 + n as f64,
            Vec::new(),
            json!({"end": at(61.0 + n as f64)}),
        ));
    }
    all
}

fn envelope(result: Value, info: Option<Value>) -> Reply {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(info) = info {
        body["result_info"] = info;
    }
    Reply::json(200, body.to_string())
}

fn refusal(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})
            .to_string(),
    )
}

impl FakeAccount {
    pub fn start() -> FakeAccount {
        let instances = Arc::new(Mutex::new(seed()));
        let state = instances.clone();
        let server = TestServer::start(move |request| answer(&state, request));
        FakeAccount { server, instances }
    }

    pub fn status_of(&self, id: &str) -> String {
        let all = self.instances.lock().unwrap();
        let found = all.iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("no instance {id}"));
        found["status"].as_str().unwrap().to_owned()
    }

    /// The state-changing requests received (PATCH and POST).
    pub fn actions(&self) -> Vec<Recorded> {
        self.server.requests().into_iter().filter(|r| r.method != "GET").collect()
    }
}

fn answer(state: &Mutex<Vec<Value>>, request: &Recorded) -> Reply {
    if request.header("authorization") != Some(format!("Bearer {TOKEN}").as_str()) {
        return refusal(401, 10000, "Authentication error");
    }
    let base = format!("/accounts/{ACCOUNT}/workflows");
    let Some(rest) = request.path().strip_prefix(&base) else { return refusal(404, 7003, "No route for that URI") };
    let segments: Vec<String> = rest.split('/').skip(1).map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let mut all = state.lock().unwrap();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", []) => envelope(
            json!([{"id": "wf-1", "name": WORKFLOW, "class_name": "OrderPipeline", "script_name": "shop"}]),
            None,
        ),
        ("GET", [WORKFLOW, "instances"]) => {
            let status = request.query_param("status");
            let page: usize = request.query_param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let per_page: usize = request.query_param("per_page").and_then(|p| p.parse().ok()).unwrap_or(25);
            let mut matching: Vec<&Value> =
                all.iter().filter(|i| status.as_deref().is_none_or(|s| i["status"] == s)).collect();
            if request.query_param("direction").as_deref() == Some("desc") {
                matching.reverse();
            }
            let rows: Vec<Value> = matching
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|i| json!({"id": i["id"], "status": i["status"], "created_on": i["created_on"], "started_on": i["start"], "ended_on": i["end"]}))
                .collect();
            envelope(json!(rows), Some(json!({"page": page, "per_page": per_page, "total_count": matching.len()})))
        }
        ("GET", [WORKFLOW, "instances", id]) => match all.iter().find(|i| i["id"] == *id) {
            Some(found) => envelope(found.clone(), None),
            None => refusal(404, 10101, "instance.not_found"),
        },
        ("PATCH", [WORKFLOW, "instances", id, "status"]) => {
            let Some(found) = all.iter_mut().find(|i| i["id"] == *id) else {
                return refusal(404, 10101, "instance.not_found");
            };
            let body = request.body_json();
            let current = found["status"].as_str().unwrap_or_default().to_owned();
            let next = match (body["status"].as_str(), current.as_str()) {
                (Some("pause"), "running" | "waiting" | "queued") => "paused",
                (Some("resume"), "paused") => "running",
                (Some("terminate"), "running" | "waiting" | "queued" | "paused") => "terminated",
                // A refusal that echoes the caller's credentials and HTML: the client must
                // redact the one, the page must show the other as text.
                (Some("restart"), "errored") => {
                    let echoed = format!("cannot restart <i>{current}</i> instance (you sent Bearer {TOKEN})");
                    return refusal(409, 10205, &echoed);
                }
                (Some("restart"), _) => "queued",
                (action, _) => {
                    return refusal(
                        409,
                        10204,
                        &format!("cannot {} an instance that is {current}", action.unwrap_or("?")),
                    )
                }
            };
            found["status"] = json!(next);
            envelope(json!({"status": next, "timestamp": at(99.0)}), None)
        }
        ("POST", [WORKFLOW, "instances", id, "events", event_type]) => {
            let Some(found) = all.iter_mut().find(|i| i["id"] == *id) else {
                return refusal(404, 10101, "instance.not_found");
            };
            let payload = request.body_json();
            let steps = found["steps"].as_array_mut().unwrap();
            if let Some(wait) =
                steps.iter_mut().find(|s| s["type"] == "waitForEvent" && s["end"].is_null() && s["name"] == *event_type)
            {
                wait["end"] = json!(at(25.0));
                wait["finished"] = json!(true);
                wait["output"] = payload;
                found["status"] = json!("complete");
                found["end"] = json!(at(25.1));
            }
            envelope(Value::Null, None)
        }
        _ => refusal(404, 7003, "No route for that URI"),
    }
}
