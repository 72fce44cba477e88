//! `lunora-codegen instances …` as users run it: the real binary against a real HTTP server
//! on 127.0.0.1 (`--api-base`) answering with Cloudflare's envelopes.

#[path = "../../../lunora-runtime/tests/support/http_server.rs"]
mod http_server;

use std::process::{Command, Output};

use http_server::{closed_port_url, Reply, TestServer};
use serde_json::json;

const ACCOUNT: &str = "acc-123";
const TOKEN: &str = "Zq9XwVb7Lm3KpT2sRy8N";

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lunora-codegen"));
    cmd.arg("instances").args(args).env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT).env("CLOUDFLARE_API_TOKEN", TOKEN);
    cmd
}

/// Runs `lunora-codegen instances <args> --api-base <server>`.
fn run(server: &TestServer, args: &[&str]) -> Output {
    command(args).arg("--api-base").arg(server.url()).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn list_prints_a_table_and_where_the_next_page_is() {
    let server = TestServer::start(|_| Reply::fixture(200, "list_page1.json"));
    let out = run(&server, &["list", "order-pipeline", "--per-page", "2"]);
    assert_eq!(
        stdout(&out),
        "\
ID          STATUS           CREATED                  STARTED                  ENDED
order-1001  complete         2025-06-01 12:00:00.000  2025-06-01 12:00:00.120  2025-06-01 12:00:04.250
order-1002  waitingForPause  2025-06-01 12:01:00.000  2025-06-01 12:01:00.090  -

page 1 (2 shown, 5 in all); next page: --page 2
"
    );
    let request = server.single_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.target, "/accounts/acc-123/workflows/order-pipeline/instances?per_page=2");
    assert_eq!(request.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
}

#[test]
fn list_passes_every_filter_and_pages_by_cursor() {
    let server = TestServer::start(|_| Reply::fixture(200, "list_cursor_first.json"));
    let out = run(
        &server,
        &[
            "list",
            "order-pipeline",
            "--status",
            "waitingForPause",
            "--page",
            "3",
            "--per-page",
            "2",
            "--cursor",
            "abc=",
            "--direction",
            "desc",
            "--date-start",
            "2025-06-01T00:00:00Z",
            "--date-end",
            "2025-06-30T00:00:00Z",
        ],
    );
    let text = stdout(&out);
    assert!(text.contains("c0ffee00-0000-4000-8000-000000000002  paused"), "{text}");
    assert!(text.ends_with("page 3 (2 shown); next page: --cursor eyJpZCI6MiwiYXQiOiIyMDI1In0=/+x\n"), "{text}");
    assert_eq!(
        server.single_request().query(),
        "status=waitingForPause&page=3&per_page=2&cursor=abc%3D&direction=desc\
         &date_start=2025-06-01T00%3A00%3A00Z&date_end=2025-06-30T00%3A00%3A00Z"
    );
}

#[test]
fn list_json_is_for_scripts() {
    let server = TestServer::start(|_| Reply::fixture(200, "list_page2.json"));
    let out = run(&server, &["--json", "list", "order-pipeline"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((v["page"].clone(), v["per_page"].clone(), v["total_count"].clone()), (json!(2), json!(2), json!(5)));
    assert_eq!(v["cursor"], json!(null));
    assert_eq!(v["instances"][0]["id"], "order-1003");
    assert_eq!(v["instances"][0]["status"], "rollingBack");
    assert_eq!(v["instances"][0]["status_text"], "rollingBack");
    assert_eq!(v["instances"][1]["ended_on"], "2025-06-01T12:03:30.000Z");
}

#[test]
fn an_empty_listing_says_so() {
    let server = TestServer::start(|_| Reply::fixture(200, "list_empty.json"));
    assert_eq!(stdout(&run(&server, &["list", "order-pipeline"])), "no instances of order-pipeline on page 1\n");
}

#[test]
fn show_renders_the_step_timeline_as_a_table() {
    let server = TestServer::routes(vec![(
        "GET",
        "/accounts/acc-123/workflows/order-pipeline/instances/order-1004",
        Reply::fixture(200, "get_instance_errored.json"),
    )]);
    let out = run(&server, &["show", "order-pipeline", "order-1004"]);
    assert_eq!(
        stdout(&out),
        r#"instance  order-1004
status    errored
trigger   api
version   6f1c2d9e-0a4b-4c1e-9d55-3b8a7e0f1a21
queued    2025-06-01 12:00:00.000
started   2025-06-01 12:00:00.120
ended     2025-06-01 12:05:03.900 (took 5m 3s)
error     NonRetryableError: card declined
params    {"amount":4200,"orderId":"o-1001"}
output    -

#  STEP               TYPE          ATTEMPTS  START                    DURATION  RESULT
1  load-order         step          1         2025-06-01 12:00:00.150  330ms     ok: {"id":"o-1001","total":4200}
2  cool-off           sleep         -         2025-06-01 12:00:00.500  1m        done
3  await-approval     waitForEvent  -         2025-06-01 12:01:00.600  3m 11s    received: {"approved":true}
4  charge-card        step          2         2025-06-01 12:04:12.100  51.6s     failed: NonRetryableError: card declined
5  load-order         rollback      1         2025-06-01 12:05:03.750  100ms     ok
6  future-entry-kind  checkpoint    -         2025-06-01 12:05:03.860  -         (unrecognised entry; see --json)

6 timeline entries (step_count 6)
"#
    );
}

#[test]
fn show_marks_unfinished_and_terminated_entries() {
    let server = TestServer::start(|_| Reply::fixture(200, "get_instance_terminated.json"));
    let text = stdout(&run(&server, &["show", "order-pipeline", "order-2002"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"status    terminated"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("1  reserve stock — café ☕  step") && l.ends_with("1.5s      ok: \"reserved\"")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("2  wait-for-courier") && l.ends_with("sleeping until 2025-06-03 13:00:01.700")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.starts_with("4  -") && l.ends_with("terminated (source: api)")), "{text}");
}

#[test]
fn show_json_keeps_the_timeline_shape() {
    let server = TestServer::start(|_| Reply::fixture(200, "get_instance_errored.json"));
    let out = run(&server, &["show", "order-pipeline", "order-1004", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["id"], "order-1004");
    assert_eq!(v["status"], "errored");
    assert_eq!(v["error"], json!({"name": "NonRetryableError", "message": "card declined"}));
    assert_eq!(v["steps"], http_server::fixture_json("get_instance_errored.json")["result"]["steps"]);
}

#[test]
fn pause_resume_terminate_restart_send_exact_requests() {
    let server = TestServer::start(|req| {
        if req.path().contains("/events/") {
            return Reply::fixture(200, "send_event.json");
        }
        match req.body_json()["status"].as_str() {
            Some("pause") => Reply::fixture(200, "status_pause.json"),
            Some("resume") => Reply::fixture(200, "status_resume.json"),
            Some("terminate") => Reply::fixture(200, "status_terminate.json"),
            _ => Reply::fixture(200, "status_restart.json"),
        }
    });
    let target = ["order-pipeline", "order-1002"];
    let with = |cmd: &str, extra: &[&str]| {
        let mut args = vec![cmd];
        args.extend(target);
        args.extend(extra);
        stdout(&run(&server, &args))
    };
    assert_eq!(with("pause", &[]), "pause: instance order-1002 is now waitingForPause (at 2025-06-01 12:10:00.000)\n");
    assert_eq!(with("resume", &[]), "resume: instance order-1002 is now queued (at 2025-06-01 12:20:00.000)\n");
    assert_eq!(
        with("terminate", &[]),
        "terminate: instance order-1002 is now rollingBack (at 2025-06-01 12:30:00.000)\n"
    );
    with("terminate", &["--rollback"]);
    assert_eq!(with("restart", &[]), "restart: instance order-1002 is now queued (at 2025-06-01 12:40:00.000)\n");
    with("restart", &["--from-step", "charge card"]);
    with("restart", &["--from-step", "cool-off", "--count", "2", "--type", "sleep"]);
    with("restart", &["--from-step", "await", "--type", "waitForEvent"]);
    assert_eq!(
        with("send-event", &["--type", "approval", "--payload", r#"{"approved": true}"#]),
        "sent event `approval` to instance order-1002\n"
    );
    let json_out = with("pause", &["--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json_out).unwrap(),
        json!({"status": "waitingForPause", "status_text": "waitingForPause", "timestamp": "2025-06-01T12:10:00.000Z"})
    );

    let requests = server.shutdown();
    let seen: Vec<(String, String, String)> =
        requests.iter().map(|r| (r.method.clone(), r.path().to_owned(), r.body_text())).collect();
    let status = "/accounts/acc-123/workflows/order-pipeline/instances/order-1002/status";
    let expected = [
        ("PATCH", status, r#"{"status":"pause"}"#),
        ("PATCH", status, r#"{"status":"resume"}"#),
        ("PATCH", status, r#"{"status":"terminate"}"#),
        ("PATCH", status, r#"{"rollback":true,"status":"terminate"}"#),
        ("PATCH", status, r#"{"status":"restart"}"#),
        ("PATCH", status, r#"{"from":{"count":1,"name":"charge card","type":"do"},"status":"restart"}"#),
        ("PATCH", status, r#"{"from":{"count":2,"name":"cool-off","type":"sleep"},"status":"restart"}"#),
        ("PATCH", status, r#"{"from":{"count":1,"name":"await","type":"waitForEvent"},"status":"restart"}"#),
        (
            "POST",
            "/accounts/acc-123/workflows/order-pipeline/instances/order-1002/events/approval",
            r#"{"approved":true}"#,
        ),
        ("PATCH", status, r#"{"status":"pause"}"#),
    ]
    .map(|(m, p, b)| (m.to_owned(), p.to_owned(), b.to_owned()));
    assert_eq!(seen, expected);
}

#[test]
fn names_and_ids_are_encoded() {
    let server = TestServer::start(|_| Reply::fixture(200, "send_event.json"));
    let out = run(&server, &["send-event", "order pipeline ü", "id/ä 1", "--type", "shipped ✓", "--payload", "null"]);
    stdout(&out);
    let request = server.single_request();
    assert_eq!(
        request.target,
        "/accounts/acc-123/workflows/order%20pipeline%20%C3%BC/instances/id%2F%C3%A4%201/events/shipped%20%E2%9C%93"
    );
    assert_eq!(request.body_text(), "null");
}

#[test]
fn missing_credentials_are_named_and_nothing_is_sent() {
    let server = TestServer::start(|_| Reply::fixture(200, "list_empty.json"));
    let out = command(&["list", "order-pipeline", "--api-base", &server.url()])
        .env_remove("CLOUDFLARE_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("CLOUDFLARE_API_TOKEN") && !err.contains("CLOUDFLARE_ACCOUNT_ID"), "{err}");
    let out = command(&["show", "wf", "id", "--api-base", &server.url()])
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env("CLOUDFLARE_API_TOKEN", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("CLOUDFLARE_ACCOUNT_ID") && err.contains("CLOUDFLARE_API_TOKEN"), "{err}");
    assert!(server.shutdown().is_empty());
}

#[test]
fn bad_arguments_fail_before_any_request() {
    let server = TestServer::start(|_| Reply::fixture(200, "send_event.json"));
    let out = run(&server, &["send-event", "wf", "id", "--type", "t", "--payload", "{not json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--payload is not valid JSON"), "{}", stderr(&out));
    let out = run(&server, &["list", "wf", "--status", "sleepy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown status \"sleepy\""), "{}", stderr(&out));
    let out = run(&server, &["restart", "wf", "id", "--count", "2"]);
    assert_eq!(out.status.code(), Some(2), "--count needs --from-step");
    let out = run(&server, &["list", "wf", "--direction", "sideways"]);
    assert_eq!(out.status.code(), Some(2));
    let out = command(&["list", "wf", "--api-base", "ftp://example.com"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--api-base must be an http:// or https:// URL"));
    assert!(server.shutdown().is_empty());
}

#[test]
fn api_errors_exit_1_with_the_status_and_never_the_token() {
    let server = TestServer::start(|req| {
        if req.path().ends_with("/nope") {
            return Reply::fixture(404, "error_not_found.json");
        }
        let echoed = req.header("authorization").unwrap_or_default().to_owned();
        Reply::json(
            403,
            json!({"success": false, "errors": [{"code": 10000, "message": format!("bad {echoed}")}], "messages": [], "result": null})
                .to_string(),
        )
    });
    let out = run(&server, &["show", "order-pipeline", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("lunora-codegen: Workflows API GET http://127.0.0.1:"), "{err}");
    assert!(err.contains("HTTP 404") && err.contains("instance.not_found"), "{err}");

    let out = run(&server, &["--json", "list", "order-pipeline"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("HTTP 403") && err.contains("Bearer [REDACTED]"), "{err}");
    assert!(!err.contains(TOKEN) && !String::from_utf8_lossy(&out.stdout).contains(TOKEN), "{err}");
}

#[test]
fn an_unreachable_api_is_reported() {
    let out = command(&["pause", "wf", "id", "--api-base", &closed_port_url()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("request failed"), "{}", stderr(&out));
}

/// `pull` lists every resumable status (following pages), fetches each instance's detail and
/// writes one history file per instance that the replay reads back.
#[test]
fn pull_writes_one_history_per_instance_that_can_still_run() {
    let server = TestServer::start(|request| {
        let path = request.path().to_owned();
        if path.ends_with("/instances") {
            let page = request.query_param("page");
            return match (request.query_param("status").as_deref(), page.as_deref()) {
                (Some("waiting"), None) => Reply::json(
                    200,
                    json!({"success": true, "errors": [], "messages": [],
                           "result": [{"id": "w-1", "status": "waiting"}],
                           "result_info": {"page": 1, "per_page": 1, "total_count": 2}})
                    .to_string(),
                ),
                (Some("waiting"), Some("2")) => Reply::json(
                    200,
                    json!({"success": true, "errors": [], "messages": [],
                           "result": [{"id": "w/2", "status": "waiting"}],
                           "result_info": {"page": 2, "per_page": 1, "total_count": 2}})
                    .to_string(),
                ),
                _ => Reply::json(200, r#"{"success": true, "errors": [], "messages": [], "result": []}"#),
            };
        }
        Reply::fixture(200, "get_instance_errored.json")
    });
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("histories");
    let out = run(&server, &["pull", "order-pipeline", "--out", out_dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(text.starts_with("pulled 2 histories of order-pipeline into"), "{text}");
    let statuses: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/instances"))
        .map(|r| r.query_param("status").unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["queued", "running", "waiting", "waiting", "paused", "waitingForPause"]);
    let mut files: Vec<String> =
        std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["w-1.json", "w_2.json"]);
    let history = lunora_runtime::history::History::read(&out_dir.join("w_2.json")).unwrap();
    assert_eq!((history.instance_id.as_str(), history.source.as_str()), ("w/2", "cloudflare"));
    assert_eq!(history.version_id.as_deref(), Some("6f1c2d9e-0a4b-4c1e-9d55-3b8a7e0f1a21"));
    assert!(!history.steps.is_empty());

    // --id takes those instances only, without listing.
    let server = TestServer::start(|_| Reply::fixture(200, "get_instance_errored.json"));
    let out = run(&server, &["pull", "order-pipeline", "--id", "o-9", "--out", out_dir.to_str().unwrap()]);
    assert!(stdout(&out).contains("o-9  errored"));
    assert_eq!(server.single_request().target, "/accounts/acc-123/workflows/order-pipeline/instances/o-9");
}

/// Two ids that map to one file name are refused rather than one history overwriting the other.
#[test]
fn pull_refuses_ids_that_would_share_a_file() {
    let server = TestServer::start(|_| Reply::fixture(200, "get_instance_errored.json"));
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(&server, &["pull", "order-pipeline", "--id", "w/2", "--id", "w:2", "--out", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("instances \"w/2\" and \"w:2\" would both be written to"), "{}", stderr(&out));
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["w_2.json"], "the first one was written whole, the second refused");
}
