//! `lunora-e2e bench`: completion time of a 200-step workflow in Rust/wasm (`bench200`) beside
//! the same workflow in plain JS (`Bench200Js`), under the same `wrangler dev`, alternating
//! runs so both see the same machine state. Prints one line per figure.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::{poll, Client};

const RUNS: usize = 5;

fn complete(client: &Client, name: &str, id: &str) -> Result<Duration, String> {
    let started = Instant::now();
    client.post(&format!("/bench/{name}"), &json!({ "id": id }))?;
    poll(&format!("completion of {name} {id}"), Duration::from_secs(120), Duration::from_millis(20), || {
        let status = client.get(&format!("/bench/{name}/{id}"))?;
        match status["status"].as_str() {
            Some("complete") if status["output"] == json!(19_900) => Ok(Ok(started.elapsed())),
            Some("complete" | "errored" | "terminated") => Err(format!("{name} {id} ended as {status}")),
            _ => Ok(Err(status.to_string())),
        }
    })
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

pub fn run(client: &Client) -> Result<(), String> {
    // One warm-up each: the first instance of a class pays the module's start-up.
    complete(client, "bench200", "warm-rust")?;
    complete(client, "bench-200-js", "warm-js")?;
    let (mut rust, mut js) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        rust.push(complete(client, "bench200", &format!("rust-{run}"))?);
        js.push(complete(client, "bench-200-js", &format!("js-{run}"))?);
    }
    let (rust, js) = (median(rust), median(js));
    println!("200-step workflow, Rust/wasm: {:.0} ms (median of {RUNS})", rust.as_secs_f64() * 1e3);
    println!("200-step workflow, plain JS: {:.0} ms (median of {RUNS})", js.as_secs_f64() * 1e3);
    println!("ratio Rust/JS: {:.2}x (goal <= 1.2x)", rust.as_secs_f64() / js.as_secs_f64());
    Ok(())
}
