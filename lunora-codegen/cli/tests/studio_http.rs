//! `lunora-codegen studio` over plain HTTP: what any other page in the browser, or another
//! host name, could try against it. The real binary against a stateful Cloudflare-shaped API
//! on 127.0.0.1.

#[path = "../../../lunora-runtime/tests/support/http_server.rs"]
mod http_server;
mod studio {
    pub mod fake_account;
    pub mod process;
}

use studio::fake_account::{FakeAccount, HOSTILE_ID, TOKEN, WORKFLOW};
use studio::process::Studio;

/// The per-process action token the page carries.
fn page_token(studio: &Studio) -> String {
    let (status, page) = studio.get("/");
    assert_eq!(status, 200, "{page}");
    let start = page.find("name=\"studio-token\" content=\"").expect("the page carries its token") + 29;
    page[start..start + 32].to_owned()
}

fn pause_path(id: &str) -> String {
    format!("/api/workflows/{WORKFLOW}/instances/{id}/status")
}

#[test]
fn an_action_from_another_origin_is_refused_and_never_reaches_the_api() {
    let account = FakeAccount::start();
    let studio = Studio::start(&account);
    let token = page_token(&studio);
    let host = studio.authority().to_owned();
    let body = r#"{"action":"pause"}"#;
    let attempts: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("another Origin", vec![("host", &host), ("origin", "http://evil.example"), ("x-studio-token", &token)]),
        ("a cross-site fetch", vec![("host", &host), ("sec-fetch-site", "cross-site"), ("x-studio-token", &token)]),
        (
            "a same-site (other port) fetch",
            vec![("host", &host), ("sec-fetch-site", "same-site"), ("x-studio-token", &token)],
        ),
        ("no token (a plain form post)", vec![("host", &host), ("content-type", "text/plain")]),
        ("a wrong token", vec![("host", &host), ("x-studio-token", "0123456789abcdef0123456789abcdef")]),
        ("another Host (DNS rebinding)", vec![("host", "evil.example"), ("x-studio-token", &token)]),
    ];
    for (what, headers) in attempts {
        let (status, head, answer) = studio.raw("POST", &pause_path("order-running"), &headers, body);
        assert_eq!(status, 403, "{what}: {head}\n{answer}");
        assert!(answer.contains("refused"), "{what}: {answer}");
    }
    assert!(account.actions().is_empty(), "a refused action reached the API: {:?}", account.actions());
    assert_eq!(account.status_of("order-running"), "running");

    // The same request from the page itself goes through.
    let origin = format!("http://{host}");
    let headers = [
        ("host", host.as_str()),
        ("origin", origin.as_str()),
        ("sec-fetch-site", "same-origin"),
        ("x-studio-token", &token),
    ];
    let (status, _, answer) = studio.raw("POST", &pause_path("order-running"), &headers, body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(account.status_of("order-running"), "paused");
}

#[test]
fn a_page_from_another_host_name_gets_nothing() {
    let account = FakeAccount::start();
    let studio = Studio::start(&account);
    for path in ["/", "/api/workflows", "/studio.js"] {
        let (status, _, body) = studio.raw("GET", path, &[("host", "rebound.evil.example:80")], "");
        assert_eq!(status, 403, "{path}: {body}");
        assert!(!body.contains("studio-token\" content"), "{path} leaked the page");
    }
    let localhost = format!("localhost:{}", studio.authority().rsplit(':').next().unwrap());
    let (status, _, _) = studio.raw("GET", "/", &[("host", &localhost)], "");
    assert_eq!(status, 200, "localhost:<port> names the same server");
}

#[test]
fn the_api_token_never_reaches_the_page_even_when_the_api_echoes_it() {
    let account = FakeAccount::start();
    let studio = Studio::start(&account);
    let token = page_token(&studio);
    let mut answers = Vec::new();
    for path in ["/", "/studio.js", "/studio.css", "/api/workflows", "/api/no-such-thing"] {
        answers.push(studio.get(path));
    }
    let list = format!("/api/workflows/{WORKFLOW}/instances");
    for query in ["", "?page=2&per_page=20", "?status=waiting", "?id=order-waiting", "?id=nope", "?status=bogus"] {
        answers.push(studio.get(&format!("{list}{query}")));
    }
    for id in ["order-retried", "order-waiting", "order-running", "order-rolled-back", HOSTILE_ID, "missing"] {
        answers.push(studio.get(&format!("{list}/{}", encode(id))));
    }
    // The fake API refuses this restart with a message quoting the Authorization header.
    let host = studio.authority().to_owned();
    let (status, _, refused) = studio.raw(
        "POST",
        &pause_path(&encode(HOSTILE_ID)),
        &[("host", &host), ("x-studio-token", &token)],
        r#"{"action":"restart"}"#,
    );
    assert_eq!(status, 502, "{refused}");
    assert!(refused.contains("[REDACTED]") && refused.contains("10205"), "the API's refusal is relayed: {refused}");
    answers.push((status, refused));
    for (status, body) in &answers {
        assert!(!body.contains(TOKEN), "the API token reached the page (HTTP {status}): {body}");
    }
    assert_eq!(answers[6].0, 200, "paging: {}", answers[6].1);
    assert_eq!(answers[10].0, 400, "an unknown status filter is refused: {}", answers[10].1);
}

#[test]
fn malformed_actions_get_a_clear_refusal_and_send_nothing() {
    let account = FakeAccount::start();
    let studio = Studio::start(&account);
    let token = page_token(&studio);
    let host = studio.authority().to_owned();
    let events = format!("/api/workflows/{WORKFLOW}/instances/order-waiting/events");
    let cases = [
        (pause_path("order-running"), "not json", "is not {action"),
        (pause_path("order-running"), r#"{"action":"explode"}"#, "unknown action \\\"explode\\\""),
        (pause_path("order-running"), r#"{"action":"restart","from":{"name":" "}}"#, "step name is empty"),
        (pause_path("order-running"), r#"{"action":"restart","from":{"name":"a","type":"nap"}}"#, "unknown step type"),
        (pause_path("order-running"), r#"{"action":"pause","extra":1}"#, "unknown field"),
        (events.clone(), r#"{"type":"","payload":{}}"#, "the event type is empty"),
        (events, r#"{"payload":{}}"#, "missing field `type`"),
    ];
    for (path, body, expected) in cases {
        let (status, _, answer) = studio.raw("POST", &path, &[("host", &host), ("x-studio-token", &token)], body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.contains(expected), "{body}: expected {expected:?} in {answer}");
    }
    assert!(account.actions().is_empty(), "{:?}", account.actions());
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn without_credentials_or_a_free_port_the_studio_says_why_and_exits() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
        .args(["studio", "--api-base", "http://127.0.0.1:9"])
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CLOUDFLARE_ACCOUNT_ID") && stderr.contains("CLOUDFLARE_API_TOKEN"), "{stderr}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
        .args(["studio", "--port", &port, "--api-base", "http://127.0.0.1:9"])
        .env("CLOUDFLARE_ACCOUNT_ID", "acc")
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")) && stderr.contains("--port"), "{stderr}");
}
