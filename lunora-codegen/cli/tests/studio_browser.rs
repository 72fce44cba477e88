//! `lunora-codegen studio` in a real browser: headless Chromium (Debian's package, driven by
//! chromedriver) against the studio, itself against a stateful Cloudflare-shaped API on
//! 127.0.0.1. Skips with a message when Chromium is absent, and fails then under `CI=true`.
//!
//! With `STUDIO_SCREENSHOTS=<dir>`, writes the screenshots the README shows into that folder.

#[path = "../../../lunora-runtime/tests/support/http_server.rs"]
mod http_server;
mod studio {
    pub mod fake_account;
    pub mod process;
    pub mod webdriver;
}

use serde_json::json;
use studio::fake_account::{FakeAccount, BULK, HOSTILE_ERROR, HOSTILE_ID, HOSTILE_STEP, TOKEN, WORKFLOW};
use studio::process::Studio;
use studio::webdriver::{available, Browser};

fn hash(parts: &[&str]) -> String {
    let encoded: Vec<String> = parts
        .iter()
        .map(|p| {
            p.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        })
        .collect();
    format!("#/{}", encoded.join("/"))
}

/// The labels, kinds and attempt counts of the Gantt chart's rows.
fn gantt_rows(browser: &Browser) -> Vec<(String, String, u64)> {
    let rows = browser.js(
        "return [...document.querySelectorAll('.gantt-row')].map(r => [r.querySelector('.gantt-label').textContent, r.dataset.kind, Number(r.dataset.attempts)])",
        json!([]),
    );
    serde_json::from_value(rows).unwrap()
}

fn count(browser: &Browser, css: &str) -> u64 {
    browser.js("return document.querySelectorAll(arguments[0]).length", json!([css])).as_u64().unwrap()
}

/// Opens an instance's page and waits until it shows that instance (the previous page may
/// still be on screen right after the navigation).
fn open_instance(browser: &Browser, studio: &Studio, id: &str) {
    browser.goto(&format!("{}/{}", studio.url, hash(&["w", WORKFLOW, "i", id])));
    browser.wait_for(
        id,
        &format!(
            "return document.getElementById('instance-id')?.textContent === {} && document.querySelector('.gantt-row')",
            json!(id)
        ),
    );
}

fn screenshot(browser: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("STUDIO_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), browser.screenshot()).unwrap();
    }
}

#[test]
fn the_studio_in_chromium_lists_shows_timelines_acts_and_never_runs_server_strings() {
    if !available() {
        return;
    }
    let account = FakeAccount::start();
    let studio = Studio::start(&account);
    let browser = Browser::start();

    // `/`: the account's workflows with their most recent instances.
    browser.goto(&format!("{}/", studio.url));
    browser.wait_for("the workflow list", "return document.querySelector('.workflow-link')");
    assert_eq!(browser.text(".workflow-link"), WORKFLOW);
    assert_eq!(count(&browser, ".workflow .instance-row"), 5, "the five most recent instances");
    assert_eq!(browser.text(".workflow .instance-row .instance-link"), format!("bulk-{:02}", BULK - 1));

    // A workflow's instances: paging, the status filter, the search by id.
    browser.click(".workflow-link");
    browser.wait_for("the instance list", "return document.getElementById('page-info')");
    let total = 5 + BULK;
    assert_eq!(browser.text("#page-info"), format!("Page 1 of 2 · {total} instances"));
    assert_eq!(count(&browser, ".instance-row"), 20);
    screenshot(&browser, "instances.png");
    browser.click("#next-page");
    browser.wait_for("page 2", "return document.getElementById('page-info')?.textContent.startsWith('Page 2')");
    assert_eq!(count(&browser, ".instance-row"), total as u64 - 20);
    browser.click("#status-filter option[value=waiting]");
    browser.click("form.filters button[type=submit]");
    browser.wait_for(
        "the filtered list",
        "return document.getElementById('page-info')?.textContent === 'Page 1 of 1 · 1 instances'",
    );
    assert_eq!(browser.text(".instance-row .instance-link"), "order-waiting");
    browser.click("#status-filter option[value='']");
    browser.type_into("#id-search", "order-retried");
    browser.click("form.filters button[type=submit]");
    browser.wait_for("the search by id", "return document.querySelectorAll('.instance-row').length === 1 && document.querySelector('.instance-link').textContent === 'order-retried'");

    // The retried charge: two attempts with the retry gap, the sleep, the event wait with its payload.
    browser.click(".instance-link");
    browser.wait_for("the timeline", "return document.querySelectorAll('.gantt-row').length");
    let rows = gantt_rows(&browser);
    let expected =
        [("charge", "step", 2), ("cool-down", "sleep", 0), ("shipment", "waitForEvent", 0), ("ship", "step", 1)];
    let expected: Vec<(String, String, u64)> =
        expected.iter().map(|(n, k, a)| (n.to_string(), k.to_string(), *a)).collect();
    assert_eq!(rows, expected);
    assert_eq!(count(&browser, ".gantt-step:first-of-type .bar.attempt"), 2);
    assert_eq!(count(&browser, ".gantt-row .bar.attempt.failed"), 1);
    assert_eq!(count(&browser, ".gantt-row .gap"), 1, "the retry delay between the attempts");
    assert_eq!(count(&browser, ".gantt-sleep .bar.sleep"), 1);
    assert_eq!(count(&browser, ".now"), 0, "no current point on a finished instance");
    // Bars sit on one time axis: the sleep starts where the charge's last attempt ends.
    let geometry = browser.js(
        "const b = s => document.querySelector(s).getBoundingClientRect(); return [b('.gantt-step .bar.attempt.ok').right, b('.bar.sleep').left]",
        json!([]),
    );
    let (charge_end, sleep_start) = (geometry[0].as_f64().unwrap(), geometry[1].as_f64().unwrap());
    assert!((charge_end - sleep_start).abs() < 2.0, "{geometry}");
    browser.click(".gantt-row.gantt-step");
    browser.wait_for("the step's details", "return document.querySelector('#step-details h3')");
    let details = browser.text("#step-details");
    assert!(
        details.contains("Config") && details.contains("\"limit\": 3") && details.contains("card declined"),
        "{details}"
    );
    browser.click(".gantt-waitForEvent");
    browser.wait_for(
        "the event payload",
        "return document.getElementById('step-details').textContent.includes('parcel-co')",
    );
    assert!(browser.text("#step-details").contains("Event payload"));
    screenshot(&browser, "timeline.png");

    // Rollbacks, in the order they ran, and the termination.
    open_instance(&browser, &studio, "order-rolled-back");
    let kinds: Vec<String> = gantt_rows(&browser).into_iter().map(|(n, k, _)| format!("{k}:{n}")).collect();
    assert_eq!(
        kinds,
        ["step:charge", "step:reserve", "rollback:reserve", "rollback:charge", "termination:termination"]
    );
    assert_eq!(count(&browser, ".bar.rollback"), 2);
    // Keyboard: Enter on a focused row opens its details; Escape closes a confirmation.
    browser.keys(".gantt-rollback", "\u{E007}");
    browser.wait_for(
        "the rollback's details",
        "return document.querySelector('#step-details h3')?.textContent === 'reserve (rollback)'",
    );
    browser.click("#action-restart");
    browser.wait_for("the confirmation", "return document.getElementById('confirm').open");
    browser.keys("#confirm-from", "\u{E00C}");
    browser.wait_for("the closed confirmation", "return !document.getElementById('confirm').open");
    assert!(account.actions().is_empty(), "Escape cancels");

    // Pause a running instance: confirmed, then the page shows the new status.
    open_instance(&browser, &studio, "order-running");
    assert_eq!(count(&browser, ".now"), 1, "the current point of a running instance");
    browser.click("#action-pause");
    browser.wait_for("the confirmation", "return document.getElementById('confirm').open");
    browser.click("#confirm-cancel");
    assert!(account.actions().is_empty(), "a cancelled action is not sent");
    browser.click("#action-pause");
    browser.wait_for("the confirmation", "return document.getElementById('confirm').open");
    browser.click("#confirm-ok");
    browser
        .wait_for("the paused status", "return document.getElementById('instance-status')?.textContent === 'paused'");
    assert_eq!(account.status_of("order-running"), "paused");
    assert!(browser.text("#notice").contains("Pause done"));
    // The API's refusal is shown: resuming twice.
    browser.click("#action-resume");
    browser.click("#confirm-ok");
    browser.wait_for("running again", "return document.getElementById('instance-status')?.textContent === 'running'");
    browser.click("#action-resume");
    browser.click("#confirm-ok");
    let refusal = browser.wait_for("the API's refusal", "return document.getElementById('failure').textContent");
    assert!(refusal.as_str().unwrap().contains("cannot resume an instance that is running"), "{refusal}");

    // Terminate with rollback, confirmed with its option ticked; the body says so.
    browser.click("#action-terminate");
    browser.click("#confirm-rollback");
    browser.click("#confirm-ok");
    browser.wait_for(
        "the terminated status",
        "return document.getElementById('instance-status')?.textContent === 'terminated'",
    );
    let last = account.actions().pop().unwrap();
    assert_eq!(last.body_json(), json!({"status": "terminate", "rollback": true}));
    assert_eq!(count(&browser, ".now"), 0, "no current point once terminated");

    // Restart from a step chosen in the timeline.
    open_instance(&browser, &studio, "order-retried");
    browser.click("#action-restart");
    browser.click("#confirm-from option:nth-child(3)");
    assert_eq!(browser.text("#confirm-from option:nth-child(3)"), "cool-down (sleep)");
    browser.click("#confirm-ok");
    browser.wait_for(
        "the restarted status",
        "return document.getElementById('instance-status')?.textContent === 'queued'",
    );
    let last = account.actions().pop().unwrap();
    assert_eq!(
        last.body_json(),
        json!({"status": "restart", "from": {"name": "cool-down", "count": 1, "type": "sleep"}})
    );

    // Live refresh: the page follows a change it did not make.
    account.instances.lock().unwrap().iter_mut().find(|i| i["id"] == "order-retried").unwrap()["status"] =
        json!("errored");
    browser
        .wait_for("the polled status", "return document.getElementById('instance-status')?.textContent === 'errored'");

    // Send the shipment event from the page: the waiting instance completes.
    open_instance(&browser, &studio, "order-waiting");
    browser.click("#action-event");
    browser.type_into("#event-type", "shipment");
    browser.type_into("#event-payload", "{not json");
    browser.click("#confirm-ok");
    browser.wait_for("the payload refusal", "return !document.getElementById('event-problem').hidden");
    assert!(account.actions().iter().all(|r| !r.target.contains("/events/")), "a malformed payload is not sent");
    browser.type_into("#event-payload", r#"{"carrier": "dhl"}"#);
    browser.click("#confirm-ok");
    browser.wait_for(
        "the completed instance",
        "return document.getElementById('instance-status')?.textContent === 'complete'",
    );
    browser.click(".gantt-waitForEvent");
    browser
        .wait_for("the received payload", "return document.getElementById('step-details').textContent.includes('dhl')");

    // Hostile strings are text: found by id search, opened, its refusal shown; nothing runs.
    browser.goto(&format!("{}/{}", studio.url, hash(&["w", WORKFLOW])));
    browser.type_into("#id-search", HOSTILE_ID);
    browser.click("form.filters button[type=submit]");
    browser.wait_for("the hostile row", "return document.querySelectorAll('.instance-row').length === 1");
    assert_eq!(browser.js("return document.querySelector('.instance-link').textContent", json!([])), json!(HOSTILE_ID));
    browser.click(".instance-link");
    browser.wait_for("the hostile instance", "return document.querySelector('.gantt-row')");
    assert_eq!(browser.js("return document.getElementById('instance-id').textContent", json!([])), json!(HOSTILE_ID));
    assert_eq!(browser.js("return document.querySelector('.gantt-label').textContent", json!([])), json!(HOSTILE_STEP));
    assert!(browser.text("#instance-error").contains(HOSTILE_ERROR));
    browser.click(".gantt-row");
    browser
        .wait_for("the attempt's error", "return document.getElementById('step-details').textContent.includes('boom')");
    browser.click("#action-restart");
    browser.click("#confirm-ok");
    let refusal = browser.wait_for("the restart refusal", "return document.getElementById('failure').textContent");
    let refusal = refusal.as_str().unwrap();
    assert!(refusal.contains("cannot restart <i>errored</i> instance") && refusal.contains("[REDACTED]"), "{refusal}");
    assert!(!refusal.contains(TOKEN));
    let injected = browser.js(
        "return {pwned: window.__pwned ?? null, images: document.querySelectorAll('img').length, scripts: document.querySelectorAll('script').length, \
         italics: document.querySelectorAll('#failure i').length, bolds: document.querySelectorAll('b').length}",
        json!([]),
    );
    assert_eq!(injected, json!({"pwned": null, "images": 0, "scripts": 1, "italics": 0, "bolds": 0}));
    assert!(!browser.js("return document.documentElement.outerHTML", json!([])).as_str().unwrap().contains(TOKEN));
    drop(browser);
    drop(studio);
}
