//! `lunora-codegen studio --journal PATH`: a journal file the engine wrote (instances complete,
//! errored and waiting), shown read-only in headless Chromium: listed, their timelines drawn,
//! every action refused with the page saying why, and the file left as it was. Files that are
//! not lunora journals, missing ones and one an engine holds are refused at startup, saying
//! what to do.

#![cfg(unix)]

#[path = "common/gate.rs"]
mod gate;
#[path = "../../../lunora-runtime/tests/support/http_server.rs"]
mod http_server;
mod studio {
    #[allow(dead_code)] // the process module names it; these tests use a real API
    pub mod fake_account;
    pub mod process;
    #[allow(dead_code)] // not every helper is used here
    pub mod webdriver;
}

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gate::Gate;
use lunora_runtime::local::Engine;
use lunora_runtime::*;
use serde_json::json;
use studio::process::Studio;
use studio::webdriver::{available, Browser};

const LIMIT: Option<Duration> = Some(Duration::from_secs(20));

/// A journal with `done` (complete), `broken` (errored) and `parked` (waiting for `go`).
async fn write_journal(path: &Path) {
    let engine = Engine::builder().path(path).register::<Gate>().open().await.unwrap();
    let gate = engine.workflow::<Gate>();
    for (id, params) in [("done", "a"), ("broken", "fail"), ("parked", "b")] {
        gate.create(CreateOptions::params(params.to_owned()).with_id(id)).await.unwrap();
    }
    engine.wait("gate", "done", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    engine.wait("gate", "parked", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    gate.get("done").await.unwrap().send_event("go", json!({"n": 1})).await.unwrap();
    engine.wait("gate", "done", WaitFor::End, LIMIT).await.unwrap();
    engine.wait("gate", "broken", WaitFor::End, LIMIT).await.unwrap();
    engine.close().await;
}

fn status_is(status: &str) -> String {
    format!("return document.getElementById('instance-status')?.textContent === {}", json!(status))
}

fn open_instance(browser: &Browser, studio: &Studio, id: &str) {
    browser.goto(&format!("{}/#/w/gate/i/{id}", studio.url));
    browser.wait_for(
        id,
        &format!(
            "return document.getElementById('instance-id')?.textContent === {} && document.querySelector('.gantt-row')",
            json!(id)
        ),
    );
}

/// `studio --journal <path>` expected to refuse to start: its stderr.
fn refused_at_startup(path: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
        .args(["studio", "--port", "0", "--journal"])
        .arg(path)
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success(), "started on {}: {}", path.display(), String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_file_is_shown_read_only_and_every_action_is_refused() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gates.db");
    write_journal(&db).await;
    let before = std::fs::read(&db).unwrap();

    let studio = Studio::spawn(&["--journal", db.to_str().unwrap()], &[]);
    let browser = Browser::start();
    browser.goto(&format!("{}/", studio.url));
    browser.wait_for("the workflow list", "return document.querySelectorAll('.workflow .instance-row').length === 3");
    assert_eq!(browser.text(".workflow-link"), "gate");
    let listed = browser
        .js("return [...document.querySelectorAll('.workflow .instance-row')].map(r => r.textContent)", json!([]));
    let listed = listed.to_string();
    for (id, status) in [("done", "complete"), ("broken", "errored"), ("parked", "waiting")] {
        assert!(listed.contains(id) && listed.contains(status), "{id} {status}: {listed}");
    }

    open_instance(&browser, &studio, "done");
    assert_eq!(browser.text("#instance-status"), "complete");
    assert!(browser.text(".grid").contains(r#""ready a, went {\"n\":1}""#), "{}", browser.text(".grid"));
    open_instance(&browser, &studio, "broken");
    assert_eq!(browser.text("#instance-status"), "errored");
    assert!(browser.text("#instance-error").contains("the gate is broken"), "{}", browser.text("#instance-error"));
    open_instance(&browser, &studio, "parked");
    browser.wait_for("the waiting instance", &status_is("waiting"));
    let rows = browser.js(
        "return [...document.querySelectorAll('.gantt-row')].map(r => [r.querySelector('.gantt-label').textContent, r.dataset.kind])",
        json!([]),
    );
    assert_eq!(rows, json!([["prepare-1", "step"], ["await-go-1", "waitForEvent"]]));

    // Every action is refused, and the page says why.
    for action in ["pause", "terminate", "restart"] {
        browser.js("document.getElementById('failure').textContent = ''", json!([]));
        browser.click(&format!("#action-{action}"));
        browser.click("#confirm-ok");
        let refusal = browser.wait_for("the refusal", "return document.getElementById('failure').textContent");
        assert!(refusal.as_str().unwrap().contains("read-only: opened from a journal file"), "{action}: {refusal}");
    }
    browser.js("document.getElementById('failure').textContent = ''", json!([]));
    browser.click("#action-event");
    browser.type_into("#event-type", "go");
    browser.type_into("#event-payload", "{}");
    browser.click("#confirm-ok");
    let refusal = browser.wait_for("the event's refusal", "return document.getElementById('failure').textContent");
    assert!(refusal.as_str().unwrap().contains("read-only: opened from a journal file"), "{refusal}");
    assert_eq!(browser.text("#instance-status"), "waiting");
    drop(browser);
    drop(studio);

    // Nothing ran and nothing was written: the file is byte for byte what the engine left.
    assert!(std::fs::read(&db).unwrap() == before, "the studio changed the journal");
    // The instance still waits for the next engine.
    let engine = Engine::builder().path(&db).register::<Gate>().open().await.unwrap();
    assert_eq!(engine.backend().status("gate", "parked").await.unwrap().status, InstanceStatusKind::Waiting);
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_no_journal_or_is_in_use_is_refused_at_startup_saying_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "these are not the rows you are looking for\n".repeat(200)).unwrap();
    let refused = refused_at_startup(&text);
    assert!(refused.contains("notes.txt") && refused.contains("not"), "{refused}");
    assert_eq!(std::fs::read(&text).unwrap(), "these are not the rows you are looking for\n".repeat(200).into_bytes());
    assert!(!dir.path().join("notes.txt.lock").exists(), "nothing is created beside a refused file");

    let missing = refused_at_startup(&dir.path().join("absent.db"));
    assert!(missing.contains("there is no lunora journal at") && missing.contains("absent.db"), "{missing}");
    assert!(!dir.path().join("absent.db").exists());

    let db = dir.path().join("held.db");
    let engine = Engine::builder().path(&db).register::<Gate>().open().await.unwrap();
    engine.workflow::<Gate>().create(CreateOptions::params("x".to_owned()).with_id("x")).await.unwrap();
    let in_use = tokio::task::spawn_blocking({
        let db = db.clone();
        move || refused_at_startup(&db)
    })
    .await
    .unwrap();
    assert!(
        in_use.contains("is in use by") && in_use.contains("held.db.lock") && in_use.contains("--api-base"),
        "{in_use}"
    );
    engine.close().await;
}
