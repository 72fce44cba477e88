//! `lunora-codegen instances …` against a hostile API on 127.0.0.1: it echoes the token in
//! every spelling it can, and answers with ids, statuses, step names, errors and outputs
//! full of terminal escape sequences and invisible characters. Neither the token, nor an
//! `--api-base` password, nor a raw control character may reach the terminal.

#[path = "../../../lunora-runtime/tests/support/http_server.rs"]
mod http_server;

use std::process::{Command, Output};

use http_server::{Reply, TestServer};
use serde_json::{json, Value};

const ACCOUNT: &str = "acc-123";
/// A token with characters JSON escapes can spell differently (`/` as `\/`).
const TOKEN: &str = "Zq9X/wVb7+Lm3KpT2sRy8N";
/// The token with a few characters `\u`-escaped (both hex cases) and `\/` for `/`.
const TOKEN_ESCAPED: &str = r"\u005Aq9X\/wVb7\u002bLm3K\u0070T2sRy8N";
/// `base64("Bearer " + TOKEN)`.
const BEARER_BASE64: &str = "QmVhcmVyIFpxOVgvd1ZiNytMbTNLcFQyc1J5OE4=";

/// Text that would act on a terminal: clear screen, carriage return, bell, a C1 CSI, a bidi
/// override, a zero-width space, DEL and a window-title OSC.
const HOSTILE: &str = "a\u{1b}[2J\r\u{7}\u{9b}31m\u{202e}b\u{200b}\u{7f}\u{1b}]0;pwned\u{7}";
/// [`HOSTILE`] in a table cell.
const HOSTILE_CELL: &str = r"a\u{1b}[2J \u{7}\u{9b}31m\u{202e}b\u{200b}\u{7f}\u{1b}]0;pwned\u{7}";

fn command(token: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lunora-codegen"));
    cmd.arg("instances").args(args).env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT).env("CLOUDFLARE_API_TOKEN", token);
    cmd
}

fn run(server: &TestServer, args: &[&str]) -> Output {
    command(TOKEN, args).arg("--api-base").arg(server.url()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Nothing but printable text and line ends.
fn assert_terminal_safe(what: &str, text: &str) {
    let bad: Vec<char> = text.chars().filter(|&c| c != '\n' && is_unsafe(c)).collect();
    assert!(bad.is_empty(), "{what} has raw {bad:?}: {text:?}");
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn envelope(result: Value) -> Reply {
    Reply::json(200, json!({"success": true, "errors": [], "messages": [], "result": result}).to_string())
}

// ---------------------------------------------------------------------------------------------
// The token and --api-base credentials
// ---------------------------------------------------------------------------------------------

#[test]
fn a_token_echoed_in_any_spelling_never_reaches_the_terminal() {
    let server = TestServer::start(|req| {
        if req.path().ends_with("/instances/echo") {
            // A successful answer whose output holds the token.
            let body = format!(
                r#"{{"success": true, "errors": [], "messages": [], "result": {{"status": "complete",
                    "output": {{"seen": "Bearer {TOKEN_ESCAPED}"}}, "steps": []}}}}"#
            );
            return Reply::json(200, body);
        }
        let body = format!(
            r#"{{"success": false, "errors": [{{"code": 10000, "message": "token {TOKEN_ESCAPED} is not valid"}}],
                "messages": ["sent Zq9X%2fwVb7%2bLm3KpT2sRy8N", "auth {BEARER_BASE64}"], "result": null}}"#
        );
        Reply::json(403, body)
    });
    let spellings = [TOKEN, TOKEN_ESCAPED, "Zq9X%2fwVb7", "Zq9X\\u002fwVb7", BEARER_BASE64, "wVb7"];
    for args in [
        &["list", "order-pipeline"][..],
        &["--json", "list", "order-pipeline"],
        &["show", "order-pipeline", "echo"],
        &["show", "order-pipeline", "echo", "--json"],
    ] {
        let out = run(&server, args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        for spelling in spellings {
            assert!(
                !stdout.contains(spelling) && !stderr.contains(spelling),
                "{args:?}: {spelling} in {stdout}{stderr}"
            );
        }
        assert!(stdout.contains("[REDACTED]") || stderr.contains("[REDACTED]"), "{args:?}: {stdout}{stderr}");
    }
    let out = run(&server, &["show", "order-pipeline", "echo"]);
    assert!(text(&out.stdout).contains("output    {\"seen\":\"Bearer [REDACTED]\"}\n"), "{}", text(&out.stdout));
}

#[test]
fn api_base_credentials_are_refused_and_never_printed() {
    let server = TestServer::start(|_| Reply::text(500, "text/plain", "server error"));
    let base = server.url().replace("http://", "http://ops:hunter2-api-base@");
    let shown = server.url().replace("http://", "http://[REDACTED]@");
    for json in [false, true] {
        let mut cmd = command(TOKEN, &["list", "order-pipeline", "--api-base", &base]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            text(&out.stderr),
            format!(
                "lunora-codegen: --api-base must not carry credentials (user:password@), which would not be used: \
                 the API token (CLOUDFLARE_API_TOKEN) authenticates; got {shown}\n"
            )
        );
        assert_eq!(text(&out.stdout), "");
    }
    assert!(server.shutdown().is_empty(), "nothing is sent");
}

#[test]
fn a_token_too_short_to_redact_is_refused() {
    let server = TestServer::start(|_| Reply::fixture(200, "list_empty.json"));
    let out = command("abc", &["list", "order-pipeline", "--api-base", &server.url()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "lunora-codegen: CLOUDFLARE_API_TOKEN is 3 characters long; at least 8 are needed so that it can be told \
         apart from other text and redacted wherever a server echoes it (Cloudflare API tokens are 40)\n"
    );
    assert!(server.shutdown().is_empty(), "nothing is sent");
}

// ---------------------------------------------------------------------------------------------
// Terminal escapes
// ---------------------------------------------------------------------------------------------

fn hostile_listing() -> Value {
    json!({"success": true, "errors": [], "messages": [], "result": [
        {"id": HOSTILE, "status": format!("complete{HOSTILE}"), "created_on": format!("2025-06-01T12:00:00.000Z{HOSTILE}"),
         "started_on": null, "ended_on": null},
    ], "result_info": {"page": 1, "per_page": 1, "cursor": format!("next{HOSTILE}")}})
}

fn hostile_instance() -> Value {
    json!({
        "status": format!("errored{HOSTILE}"),
        "params": {"p": HOSTILE},
        "trigger": {"source": HOSTILE},
        "versionId": HOSTILE,
        "error": {"name": "NonRetryableError", "message": format!("card\ndeclined{HOSTILE}")},
        "output": {"o": "\u{85}\u{2028}\u{2029}"},
        "steps": [
            {"type": "step", "name": format!("load{HOSTILE}"), "success": true, "output": {"x": HOSTILE},
             "attempts": [{"success": true}]},
            {"type": "step", "name": "charge", "success": false,
             "attempts": [{"success": false, "error": {"name": "Error", "message": HOSTILE}}]},
            {"type": "sleep", "name": "nap", "end": format!("2025-06-03T13:00:01.700Z{HOSTILE}"), "finished": false},
            {"type": "waitForEvent", "name": "e", "finished": true, "output": {"payload": HOSTILE}},
            {"type": "termination", "trigger": {"source": HOSTILE}},
            {"type": HOSTILE, "name": HOSTILE},
        ],
    })
}

#[test]
fn list_tables_escape_what_would_act_on_the_terminal() {
    let server = TestServer::start(|_| Reply::json(200, hostile_listing().to_string()));
    let out = run(&server, &["list", "order-pipeline"]);
    let stdout = text(&out.stdout);
    assert_terminal_safe("list", &stdout);
    assert_eq!(
        stdout,
        format!(
            "ID{id_pad}  STATUS{status_pad}  CREATED{created_pad}  STARTED  ENDED\n\
             {HOSTILE_CELL}  complete{HOSTILE_CELL}  2025-06-01 12:00:00.000Z{HOSTILE_CELL}  -        -\n\
             \n\
             page 1 (1 shown); next page: --cursor next{HOSTILE_CELL}\n",
            id_pad = " ".repeat(HOSTILE_CELL.len() - 2),
            status_pad = " ".repeat(HOSTILE_CELL.len() + 8 - 6),
            created_pad = " ".repeat(HOSTILE_CELL.len() + 24 - 7),
        )
    );
}

#[test]
fn show_escapes_every_field_and_timeline_cell() {
    let server = TestServer::start(|_| envelope(hostile_instance()));
    let out = run(&server, &["show", "order-pipeline", "order-1"]);
    let stdout = text(&out.stdout);
    assert_terminal_safe("show", &stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in [
        format!("status    errored{HOSTILE_CELL}"),
        format!("trigger   {HOSTILE_CELL}"),
        format!("error     NonRetryableError: card declined{HOSTILE_CELL}"),
        r#"output    {"o":"\u{85}\u{2028}\u{2029}"}"#.to_owned(),
    ] {
        assert!(lines.contains(&expected.as_str()), "{expected:?} not in {stdout}");
    }
    // Cells are cut after escaping, so the table stays narrow (STEP at 48 characters).
    for needle in [
        format!("1  load{}…", &HOSTILE_CELL[..43]),
        format!("failed: Error: {HOSTILE_CELL}"),
        r"sleeping until 2025-06-03 13:00:01.700Za\u{1b}[2J".to_owned(),
        format!("terminated (source: {HOSTILE_CELL})"),
        format!("6  {}…  {HOSTILE_CELL}", &HOSTILE_CELL[..47]),
    ] {
        assert!(stdout.contains(&needle), "{needle:?} not in {stdout}");
    }
}

#[test]
fn json_output_escapes_them_too_and_keeps_the_values() {
    let server = TestServer::start(|req| {
        if req.path().ends_with("/instances") {
            Reply::json(200, hostile_listing().to_string())
        } else {
            envelope(hostile_instance())
        }
    });
    let out = run(&server, &["--json", "list", "order-pipeline"]);
    let stdout = text(&out.stdout);
    assert_terminal_safe("list --json", &stdout);
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (listing["instances"][0]["id"].as_str(), listing["cursor"].as_str()),
        (Some(HOSTILE), Some(&*format!("next{HOSTILE}")))
    );

    let out = run(&server, &["--json", "show", "order-pipeline", "order-1"]);
    let stdout = text(&out.stdout);
    assert_terminal_safe("show --json", &stdout);
    let detail: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(detail["output"], json!({"o": "\u{85}\u{2028}\u{2029}"}));
    assert_eq!(detail["steps"][0]["name"].as_str(), Some(&*format!("load{HOSTILE}")));
    assert_eq!(detail["steps"][5], hostile_instance()["steps"][5], "an unknown entry is kept whole");
}

#[test]
fn errors_and_status_changes_are_escaped() {
    let server = TestServer::start(|req| match req.method.as_str() {
        "PATCH" => envelope(json!({"status": HOSTILE, "timestamp": HOSTILE})),
        _ => Reply::text(500, "text/plain", format!("boom{HOSTILE}\nsecond line")),
    });
    let out = run(&server, &["show", "order-pipeline", "order-1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_terminal_safe("the error", &stderr);
    assert!(
        stderr.ends_with(&format!(": HTTP 500: boom{}\\nsecond line\n", HOSTILE_CELL.replacen(' ', "\\r", 1))),
        "{stderr}"
    );

    let out = run(&server, &["pause", "order-pipeline", "order-1"]);
    let stdout = text(&out.stdout);
    assert_terminal_safe("pause", &stdout);
    assert_eq!(stdout, format!("pause: instance order-1 is now {HOSTILE_CELL} (at {HOSTILE_CELL})\n"));
}
