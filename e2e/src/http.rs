//! JSON over HTTP to the Worker under test (loopback only).

use serde_json::Value;
use std::time::Duration;

pub struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Self { agent, base: base.to_owned() }
    }

    fn read(path: &str, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value, String> {
        let mut response = response.map_err(|e| format!("{path}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|e| format!("{path}: {e}"))?;
        let body: Value =
            serde_json::from_str(&text).map_err(|e| format!("{path}: HTTP {status}, not JSON ({e}): {text}"))?;
        if status >= 300 {
            return Err(format!("{path}: HTTP {status}: {body}"));
        }
        Ok(body)
    }

    pub fn get(&self, path: &str) -> Result<Value, String> {
        Self::read(path, self.agent.get(format!("{}{path}", self.base)).call())
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        Self::read(path, self.agent.post(format!("{}{path}", self.base)).send(body.to_string()))
    }
}

/// One answer of the dispatch endpoint: status, the decline/replay headers, the JSON body.
#[derive(Debug)]
pub struct Dispatched {
    pub status: u16,
    pub declined: bool,
    pub replayed: bool,
    pub body: Value,
}

impl Client {
    /// `POST /_lunora/scheduler/dispatch` with `body`, bearing `token` if given.
    pub fn dispatch(&self, token: Option<&str>, body: &Value) -> Result<Dispatched, String> {
        let path = "/_lunora/scheduler/dispatch";
        let mut request = self.agent.post(format!("{}{path}", self.base)).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        let mut response = request.send(body.to_string()).map_err(|e| format!("{path}: {e}"))?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()) == Some("1");
        let (declined, replayed) = (header("x-lunora-dispatch-declined"), header("x-lunora-dispatch-replayed"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|e| format!("{path}: {e}"))?;
        let body = serde_json::from_str(&text).map_err(|e| format!("{path}: HTTP {status}, not JSON ({e}): {text}"))?;
        Ok(Dispatched { status, declined, replayed, body })
    }
}

/// Calls `probe` every `every` until it yields a value, for at most `within`; the error says
/// what was awaited and what `probe` last saw.
pub fn poll<T>(
    what: &str,
    within: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<Result<T, String>, String>,
) -> Result<T, String> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let last = match probe()? {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if std::time::Instant::now() > deadline {
            return Err(format!("no {what} within {within:?}; last seen: {last}"));
        }
        std::thread::sleep(every);
    }
}
