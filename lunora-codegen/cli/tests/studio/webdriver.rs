//! Headless Chromium driven through chromedriver's W3C WebDriver endpoints (JSON over HTTP on
//! 127.0.0.1). Dropping the browser ends the session (chromedriver then quits Chromium) and
//! kills chromedriver.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether the browser test can run here; under CI it must (a missing browser fails it).
pub fn available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{CHROMIUM} and {CHROMEDRIVER} are missing under CI: run scripts/tools (as root), which installs Debian's chromium and chromium-driver"
        );
        eprintln!("SKIPPED: the studio's browser test needs {CHROMIUM} and {CHROMEDRIVER} (run scripts/tools as root)");
    }
    present
}

pub struct Browser {
    driver: Child,
    endpoint: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            endpoint: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            agent,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while browser.call("GET", "/status", None).get("ready") != Some(&json!(true)) {
            assert!(Instant::now() < deadline, "chromedriver did not become ready within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let created = browser.call("POST", "/session", Some(capabilities));
        browser.session = created["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_owned();
        browser
    }

    /// One WebDriver command; returns its `value` (panics on a WebDriver error).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.endpoint);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let Ok(mut response) = response else { return Value::Null };
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(error) = value["value"].get("error") {
            panic!("WebDriver {method} {path}: {error}: {}", value["value"]["message"]);
        }
        value.get("value").cloned().unwrap_or(value)
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` as usual) in the page.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.session_call("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    /// Waits until `script` returns something truthy (at most 15 s) and returns it.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let value = self.js(script, json!([]));
            if !matches!(value, Value::Null | Value::Bool(false)) && value != json!("") && value != json!(0) {
                return value;
            }
            if Instant::now() > deadline {
                let text = self.js("return document.body.innerText", json!([]));
                panic!("waited 15 s for {what}; the page shows:\n{}", text.as_str().unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The element `css` selects (waiting for it), as a WebDriver element id.
    pub fn find(&self, css: &str) -> String {
        let script = "return document.querySelector(arguments[0]) !== null";
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.js(script, json!([css])) != json!(true) {
            assert!(Instant::now() < deadline, "no element {css} within 15 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let found = self.session_call("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element id for {css}: {found}")).to_owned()
    }

    /// A real click (WebDriver moves the pointer to the element and presses it).
    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.session_call("POST", &format!("/element/{element}/click"), None);
    }

    /// Clears the field and types `text` into it, key by key.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.session_call("POST", &format!("/element/{element}/clear"), None);
        self.session_call("POST", &format!("/element/{element}/value"), Some(json!({"text": text})));
    }

    /// Sends keys to the element (e.g. `"\u{E007}"`, Enter; `"\u{E00C}"`, Escape).
    pub fn keys(&self, css: &str, keys: &str) {
        let element = self.find(css);
        self.session_call("POST", &format!("/element/{element}/value"), Some(json!({"text": keys})));
    }

    pub fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.session_call("GET", &format!("/element/{element}/text"), None).as_str().unwrap_or_default().to_owned()
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let encoded = self.session_call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.agent.delete(format!("{}/session/{}", self.endpoint, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
