//! `lunora-codegen studio` over the embedded engine: the example's serve mode (the real
//! `order-pipeline serve` process on a temporary journal, Cloudflare's REST API under
//! `/client/v4` for the account `local`) and the studio against it, driven in headless
//! Chromium. The order is created through the example's own route; the page shows the
//! workflow, the order's timeline with the retried charge, and its actions reach the engine:
//! the shipment event sent from the page completes the order, pause and resume steer another.
//!
//! The example's binary is built by this test (`cargo build -p order-pipeline`): a test may only
//! name the binaries of its own package, and cargo holds no lock on the target directory while
//! tests run, so the nested build shares it and is a no-op once built.

#![cfg(unix)]

#[path = "../../../lunora-runtime/tests/support/http_server.rs"]
mod http_server;
mod studio {
    #[allow(dead_code)] // the process module names it; these tests use a real API
    pub mod fake_account;
    pub mod process;
    #[allow(dead_code)] // not every helper is used here
    pub mod webdriver;
}

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use studio::process::Studio;
use studio::webdriver::{available, Browser};

/// The bearer token the serve mode demands (`LUNORA_API_TOKEN`) and the studio sends.
const TOKEN: &str = "serve-mode-token-5c1f";

/// The example's binary, built (or found up to date) by cargo in this workspace's target dir.
fn order_pipeline_binary() -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "order-pipeline", "--bin", "order-pipeline", "--message-format=json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build -p order-pipeline");
    assert!(output.status.success(), "cargo build -p order-pipeline failed: {:?}", output.status);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "order-pipeline")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the order-pipeline executable")
}

/// `order-pipeline serve` on a free port of 127.0.0.1; killed on drop.
struct Serve {
    child: Child,
    /// `127.0.0.1:<port>`.
    addr: String,
}

impl Serve {
    fn start(db: &Path) -> Serve {
        let mut child = Command::new(order_pipeline_binary())
            .args(["serve", "--port", "0", "--db"])
            .arg(db)
            .env("LUNORA_API_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn order-pipeline serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut serve = Serve { child, addr: String::new() };
        serve.addr = loop {
            let line = lines.next().expect("the server prints where it listens").unwrap();
            if let Some(addr) = line.strip_prefix("listening on http://") {
                break addr.to_owned();
            }
        };
        // Keep reading what it prints: a closed pipe would fail its next line.
        std::thread::spawn(move || lines.for_each(drop));
        serve
    }

    /// POST to one of the example's order routes; the answer's status line and body.
    fn post(&self, path: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gantt_rows(browser: &Browser) -> Vec<(String, String, u64)> {
    let rows = browser.js(
        "return [...document.querySelectorAll('.gantt-row')].map(r => [r.querySelector('.gantt-label').textContent, r.dataset.kind, Number(r.dataset.attempts)])",
        json!([]),
    );
    serde_json::from_value(rows).unwrap()
}

fn status_is(status: &str) -> String {
    format!("return document.getElementById('instance-status')?.textContent === {}", json!(status))
}

fn open_instance(browser: &Browser, studio: &Studio, id: &str) {
    browser.goto(&format!("{}/#/w/order-pipeline/i/{id}", studio.url));
    browser.wait_for(
        id,
        &format!(
            "return document.getElementById('instance-id')?.textContent === {} && document.querySelector('.gantt-row')",
            json!(id)
        ),
    );
}

#[test]
fn the_studio_over_the_examples_serve_mode_shows_the_order_and_its_actions_reach_the_engine() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("orders.db"));
    // One gateway failure: the charge takes two attempts (2 s apart); a short cool-off.
    let created =
        serve.post("/orders", r#"{"order_id": "501", "gateway_failures": 1, "cool_off": "100 milliseconds"}"#);
    assert!(created.starts_with("HTTP/1.1 200") && created.contains(r#""id":"order-501""#), "{created}");
    let created = serve.post("/orders", r#"{"order_id": "502", "cool_off": "1 hour"}"#);
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");

    let studio = Studio::start_against(&format!("http://{}/client/v4", serve.addr), "local", TOKEN);
    let browser = Browser::start();

    // `/`: the example's workflow with both orders.
    browser.goto(&format!("{}/", studio.url));
    browser.wait_for("the workflow list", "return document.querySelectorAll('.workflow .instance-row').length === 2");
    assert_eq!(browser.text(".workflow-link"), "order-pipeline");
    let listed = browser.js(
        "return [...document.querySelectorAll('.workflow .instance-link')].map(a => a.textContent).sort()",
        json!([]),
    );
    assert_eq!(listed, json!(["order-501", "order-502"]));

    // The order's timeline, followed live until it waits for the shipment.
    open_instance(&browser, &studio, "order-501");
    browser.wait_for("the order waiting for its shipment", &status_is("waiting"));
    browser.wait_for("the event wait on the timeline", "return document.querySelector('.gantt-waitForEvent')");
    let rows = gantt_rows(&browser);
    let expected = [
        ("load-1", "step", 1),
        ("reserve-1", "step", 1),
        ("cool-off-1", "sleep", 0),
        ("charge-1", "step", 2),
        ("await-shipment-1", "waitForEvent", 0),
    ];
    let expected: Vec<(String, String, u64)> =
        expected.iter().map(|(n, k, a)| (n.to_string(), k.to_string(), *a)).collect();
    assert_eq!(rows, expected);
    assert_eq!(
        browser.js("return document.querySelectorAll('.gantt-row .bar.attempt.failed').length", json!([])),
        json!(1)
    );

    // Send the warehouse's event from the page: the engine completes the order.
    browser.click("#action-event");
    browser.type_into("#event-type", "shipment-created");
    browser.type_into("#event-payload", r#"{"tracking_id": "1Z-FROM-STUDIO"}"#);
    browser.click("#confirm-ok");
    browser.wait_for("the completed order", &status_is("complete"));
    browser.click(".gantt-waitForEvent");
    browser.wait_for(
        "the received payload",
        "return document.getElementById('step-details').textContent.includes('1Z-FROM-STUDIO')",
    );
    browser.wait_for("the output", "return document.querySelector('.grid').textContent.includes('\"tracking_id\"')");

    // Restart from the charge, a step chosen in the timeline (Cloudflare names it `charge-1`):
    // the engine keeps the steps before it, runs the charge step again and waits for a new
    // shipment. The step's `ctx.run` sends the same dispatch id as before, so the payment
    // function answers from its dedup store (exactly once per id): one attempt, no new charge.
    browser.click("#action-restart");
    browser.click("#confirm-from option:nth-child(5)");
    assert_eq!(browser.text("#confirm-from option:nth-child(5)"), "charge (do)");
    browser.click("#confirm-ok");
    browser.wait_for(
        "the restart's notice",
        "return document.getElementById('notice').textContent.includes('Restart done')",
    );
    browser.wait_for(
        "the restarted order waiting again",
        &format!("{} && document.querySelectorAll('.gantt-row').length === 5", status_is("waiting")),
    );
    let rows = gantt_rows(&browser);
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows[3], ("charge-1".to_string(), "step".to_string(), 1), "the charge is answered from the dedup store");

    // Pause and resume the other order (in its hour-long cool-off) from the page.
    open_instance(&browser, &studio, "order-502");
    browser.wait_for("the sleeping order", "return document.querySelector('.gantt-sleep')");
    browser.click("#action-pause");
    browser.click("#confirm-ok");
    browser.wait_for("the paused order", &status_is("paused"));
    assert!(browser.text("#notice").contains("Pause done"));
    browser.click("#action-resume");
    browser.click("#confirm-ok");
    browser.wait_for(
        "the resumed order",
        "return ['running', 'waiting'].includes(document.getElementById('instance-status')?.textContent)",
    );
    // Terminate it: the engine ends it and the page stops offering the running-only actions.
    browser.click("#action-terminate");
    browser.click("#confirm-ok");
    browser.wait_for("the terminated order", &status_is("terminated"));
    assert_eq!(browser.js("return document.getElementById('action-pause').disabled", json!([])), json!(true));
    // A restart from the beginning brings the terminated order back.
    browser.click("#action-restart");
    browser.click("#confirm-ok");
    browser.wait_for(
        "the restarted order",
        "return document.getElementById('notice').textContent.includes('Restart done')",
    );
    drop(browser);
    drop(studio);
}
