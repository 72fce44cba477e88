//! The REST client's tour (`corpus/src/rest_tour.rs`) natively and inside workerd, each against
//! its own fake API (`fake_api.rs`): the outcomes must be equal, the requests received must be
//! equal, every request must carry the token, and no outcome may quote it.

use serde_json::{json, Value};

use crate::fake_api::{self, TOKEN};
use crate::http::Client;

/// Runs both and prints one line per call; returns the differences found.
pub fn run(runtime: &tokio::runtime::Runtime, worker: &Client) -> Result<Vec<String>, String> {
    let native_api = fake_api::start();
    let native = runtime.block_on(corpus::rest_tour::rest_tour(&native_api.url(), TOKEN));
    let native_requests: Vec<Value> = native_api.shutdown().iter().map(fake_api::digest).collect();

    let workerd_api = fake_api::start();
    let workerd = worker.post("/rest", &json!({ "api_root": workerd_api.url(), "token": TOKEN }))?;
    let workerd_requests: Vec<Value> = workerd_api.shutdown().iter().map(fake_api::digest).collect();

    let mut failures = Vec::new();
    let (Some(native_calls), Some(workerd_calls)) = (native.as_array(), workerd.as_array()) else {
        return Err(format!("the tour returned no list: native {native}, workerd {workerd}"));
    };
    println!("\n| REST call | native (ureq) | workerd (fetch) | verdict |");
    println!("|---|---|---|---|");
    for index in 0..native_calls.len().max(workerd_calls.len()) {
        let (n, w) = (native_calls.get(index), workerd_calls.get(index));
        let name = n.or(w).and_then(|c| c[0].as_str()).unwrap_or("?");
        let verdict = if n == w { "same" } else { "DIFFERS" };
        if n != w {
            failures.push(format!("REST {name}: native {} vs workerd {}", json!(n), json!(w)));
        }
        println!("| {name} | {} | {} | {verdict} |", summary(n), summary(w));
    }
    if native_requests != workerd_requests {
        failures.push(format!(
            "REST requests differ:\n  native  {}\n  workerd {}",
            json!(native_requests),
            json!(workerd_requests)
        ));
    }
    let bearer = json!(format!("Bearer {TOKEN}"));
    if native_requests.iter().chain(&workerd_requests).any(|r| r[2] != bearer) {
        failures.push("a REST request lacks `authorization: Bearer <token>`".into());
    }
    let outcomes = format!("{native}{workerd}");
    if outcomes.contains(TOKEN) || outcomes.contains("\"token_leaked\":true") {
        failures.push("the API token leaked into an outcome".into());
    }
    println!("REST requests received: {} native, {} workerd", native_requests.len(), workerd_requests.len());
    Ok(failures)
}

/// `ok`, or the error's kind and status.
fn summary(call: Option<&Value>) -> String {
    match call.map(|c| &c[1]) {
        None => "missing".into(),
        Some(outcome) if outcome.get("error").is_some() => {
            format!("{} {}", outcome["error"]["kind"].as_str().unwrap_or("?"), outcome["error"]["status"])
        }
        Some(_) => "ok".into(),
    }
}
