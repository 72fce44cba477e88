//! Differential conformance: every corpus workflow runs on the embedded engine and in workerd;
//! final status, output, error {name, message}, step outputs in order, the trail of side
//! effects and the `ctx.run` calls each engine sent to its dispatch origin must match, except
//! the differences listed in [`ALLOWED`] with the rule that allows them. Each case names the
//! rule it checks, prefixed with its area (step, wait, error, rollback, restart, instance,
//! ctx.run).

use std::sync::Arc;
use std::time::Duration;

use corpus::lunora_workflows::{register_all, Workflows};
use lunora_runtime::history::{RecordKind, RecordState};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::{CreateOptions, Env, RestartFrom};
use serde_json::{json, Value};

use crate::http::{poll, Client};

/// Where the corpus's `ctx.run` calls go: the Worker variables pointing there, and the calls it
/// saw (none when it cannot tell: the Rust endpoint keeps no request log).
pub trait DispatchOrigin {
    fn url(&self) -> String;
    fn vars(&self) -> Vec<(&'static str, String)>;
    fn calls(&self, export: &str, instance_id: &str) -> Vec<String>;
}

/// One corpus run: which workflow, what the driver does to it, and the rule it checks.
pub struct Case {
    pub export: &'static str,
    pub events: &'static [(&'static str, u64)],
    pub restart_from: Option<&'static str>,
    pub rule: &'static str,
    /// The dedup ids (after `<export>/<instance>#`) of the `ctx.run` requests the origin must
    /// receive, in order, from either engine.
    pub dispatch_ids: &'static [&'static str],
}

pub const CASES: &[Case] = &[
    Case {
        export: "declaredNames",
        events: &[],
        restart_from: None,
        rule: "instance: a declared class and binding (#[workflow(class, binding)]) run and are reached",
        dispatch_ids: &[],
    },
    Case {
        export: "basicSteps",
        events: &[],
        restart_from: None,
        rule: "step: step.do results feed later steps",
        dispatch_ids: &[],
    },
    Case {
        export: "retryThenOk",
        events: &[],
        restart_from: None,
        rule: "step: attempts ≤ limit+1, constant delay",
        dispatch_ids: &[],
    },
    Case {
        export: "retriesExhausted",
        events: &[],
        restart_from: None,
        rule: "step: last error fails the instance",
        dispatch_ids: &[],
    },
    Case {
        export: "nonRetryableUncaught",
        events: &[],
        restart_from: None,
        rule: "error: NonRetryableError stops retries",
        dispatch_ids: &[],
    },
    Case {
        export: "nonRetryableCaught",
        events: &[],
        restart_from: None,
        rule: "error: caught → workflow continues",
        dispatch_ids: &[],
    },
    Case {
        export: "errorCaught",
        events: &[],
        restart_from: None,
        rule: "step: exhausted step error is catchable",
        dispatch_ids: &[],
    },
    Case {
        export: "stepTimeout",
        events: &[],
        restart_from: None,
        rule: "step: attempt races its timeout",
        dispatch_ids: &[],
    },
    Case {
        export: "duplicateNames",
        events: &[],
        restart_from: None,
        rule: "step: duplicate names get counts 1..n",
        dispatch_ids: &[],
    },
    Case {
        export: "eventBeforeWait",
        events: &[("go", 7)],
        restart_from: None,
        rule: "wait: event sent before the wait is kept",
        dispatch_ids: &[],
    },
    Case {
        export: "eventFifo",
        events: &[("go", 1), ("go", 2)],
        restart_from: None,
        rule: "wait: FIFO per type",
        dispatch_ids: &[],
    },
    Case {
        export: "eventTimeoutCaught",
        events: &[],
        restart_from: None,
        rule: "wait: wait timeout is catchable",
        dispatch_ids: &[],
    },
    Case {
        export: "rollbackReverse",
        events: &[],
        restart_from: None,
        rule: "rollback: reverse step-start order",
        dispatch_ids: &[],
    },
    Case {
        export: "rollbackFailedStep",
        events: &[],
        restart_from: None,
        rule: "rollback: failed steps roll back too",
        dispatch_ids: &[],
    },
    Case {
        export: "restartFrom",
        events: &[],
        restart_from: Some("b"),
        rule: "restart: restart from keeps earlier steps",
        dispatch_ids: &[],
    },
    Case { export: "sleepBetween", events: &[], restart_from: None, rule: "wait: sleep", dispatch_ids: &[] },
    Case { export: "sleepUntilStep", events: &[], restart_from: None, rule: "wait: sleepUntil", dispatch_ids: &[] },
    Case { export: "unitOutput", events: &[], restart_from: None, rule: "instance: unit output", dispatch_ids: &[] },
    Case { export: "paramsEcho", events: &[], restart_from: None, rule: "instance: params decoded", dispatch_ids: &[] },
    Case {
        export: "structuredOutput",
        events: &[],
        restart_from: None,
        rule: "instance: JSON values round-trip",
        dispatch_ids: &[],
    },
    Case {
        export: "dispatchBody",
        events: &[],
        restart_from: None,
        rule: "ctx.run: body calls, envelope, empty body",
        dispatch_ids: &["body.1", "body.2", "body.3"],
    },
    Case {
        export: "dispatchStepRetry",
        events: &[],
        restart_from: None,
        rule: "ctx.run: 503 and timeout retried, same id",
        dispatch_ids: &["step1.1", "step1.1", "step2.1", "step2.1"],
    },
    Case {
        export: "dispatchNotFound",
        events: &[],
        restart_from: None,
        rule: "ctx.run: 404 in a step is final",
        dispatch_ids: &["step1.1"],
    },
    Case {
        export: "dispatchDeclined",
        events: &[],
        restart_from: None,
        rule: "ctx.run: 409 decline waited out",
        dispatch_ids: &["step1.1", "step1.1", "step1.1"],
    },
    Case {
        export: "dispatchTimeoutCaught",
        events: &[],
        restart_from: None,
        rule: "ctx.run: request timeout",
        dispatch_ids: &["body.1"],
    },
    Case {
        export: "dispatchRollback",
        events: &[],
        restart_from: None,
        rule: "ctx.run: rollback ids",
        dispatch_ids: &["step1.1", "step1rollback.1"],
    },
    Case {
        export: "httpClient",
        events: &[],
        restart_from: None,
        rule: "http: Client JSON, 404 final, 503 retried",
        dispatch_ids: &[],
    },
    Case {
        export: "workerApis",
        events: &[],
        restart_from: None,
        rule: "step: worker::Fetch and KV in steps and rollback",
        dispatch_ids: &[],
    },
    Case {
        export: "sensitiveOutput",
        events: &[],
        restart_from: None,
        rule: "step: sensitive outputs redacted in step outputs, real in later steps",
        dispatch_ids: &[],
    },
    Case {
        export: "dynamicDelay",
        events: &[],
        restart_from: None,
        rule: "step: retries(delay = fn) from each failure's error",
        dispatch_ids: &[],
    },
    Case {
        export: "dynamicDelayFails",
        events: &[],
        restart_from: None,
        rule: "error: a failing delay fn ends the step (NonRetryableDelayError)",
        dispatch_ids: &[],
    },
    Case {
        export: "dynamicDelayInvalid",
        events: &[],
        restart_from: None,
        rule: "error: a delay fn's invalid duration ends the step",
        dispatch_ids: &[],
    },
    Case {
        export: "partialRetries",
        events: &[],
        restart_from: None,
        rule: "step: retries {limit} alone completed from defaults",
        dispatch_ids: &[],
    },
    Case {
        export: "shortEventTimeout",
        events: &[],
        restart_from: None,
        rule: "wait: sub-second waitForEvent timeout",
        dispatch_ids: &[],
    },
    Case {
        export: "parallelSteps",
        events: &[],
        restart_from: None,
        rule: "step: try_join of steps, duplicate names across branches",
        dispatch_ids: &[],
    },
    Case {
        export: "parallelBranchFails",
        events: &[],
        restart_from: None,
        rule: "rollback: join with a failed branch, reverse start order",
        dispatch_ids: &[],
    },
    Case {
        export: "typedEvent",
        events: &[("go-typed", 4)],
        restart_from: None,
        rule: "wait: typed event (EventType) waited for",
        dispatch_ids: &[],
    },
    Case {
        export: "childParent",
        events: &[],
        restart_from: None,
        rule: "instance: child workflows started from steps, typed outputs awaited",
        dispatch_ids: &[],
    },
    Case {
        export: "childFails",
        events: &[],
        restart_from: None,
        rule: "error: a failed child fails the parent's call",
        dispatch_ids: &[],
    },
    Case {
        export: "streamSteps",
        events: &[],
        restart_from: None,
        rule: "step: ReadableStream outputs persisted, read by later steps, previewed in step outputs",
        dispatch_ids: &[],
    },
    Case {
        export: "streamRetry",
        events: &[],
        restart_from: None,
        rule: "step: a stream stalled past the timeout is retried; only the new attempt's bytes remain",
        dispatch_ids: &[],
    },
    Case {
        export: "streamFails",
        events: &[],
        restart_from: None,
        rule: "error: a stream failing after it was returned ends the instance, no retry",
        dispatch_ids: &[],
    },
];

/// Differences the suite accepts, by field and corpus workflow, with the rule allowing it.
pub const ALLOWED: &[(&str, &str, &str)] = &[];

/// What one engine reported for one case.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub status: String,
    pub output: Value,
    pub error: Value,
    pub steps: Vec<Value>,
    pub trail: Vec<String>,
    /// `ctx.run` requests received by this engine's origin.
    pub calls: Vec<String>,
}

impl Observation {
    /// The origin's URL differs per engine; messages and step outputs quoting it read `<origin>`
    /// instead.
    fn without_origin(mut self, origin: &dyn DispatchOrigin) -> Self {
        let url = origin.url();
        let scrub =
            |value: &Value| serde_json::from_str(&value.to_string().replace(&url, "<origin>")).unwrap_or(Value::Null);
        self.output = scrub(&self.output);
        self.error = scrub(&self.error);
        self.steps = self.steps.iter().map(scrub).collect();
        self
    }
}

pub fn params(case: &Case) -> Value {
    json!({ "run": case.export, "n": 21 })
}

pub fn id(case: &Case) -> String {
    format!("conf-{}", case.export)
}

fn error_of(status: &Value) -> Value {
    match &status["error"] {
        Value::Object(e) => json!({ "name": e.get("name"), "message": e.get("message") }),
        _ => Value::Null,
    }
}

/// Steps the virtual clock 500 ms at a time until the instance is terminal (at most 10 virtual
/// minutes). Not `run_to_completion`: that jumps from timer to timer of a *settled* instance,
/// and an attempt racing its timeout (stepTimeout) is still running.
async fn settle<W>(
    t: &TestEngine,
    instance: &lunora_runtime::InstanceHandle<W>,
) -> lunora_runtime::Result<lunora_runtime::InstanceStatus<Value>> {
    for _ in 0..1200 {
        let status = instance.status_json().await?;
        if status.status.is_terminal() {
            return Ok(status);
        }
        t.advance(Duration::from_millis(500)).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(lunora_runtime::Error::new(format!("{} did not finish within 10 virtual minutes", instance.id())))
}

/// Runs these cases (the whole corpus: `&CASES.iter().collect::<Vec<_>>()`) on the embedded
/// engine (virtual clock, in-memory journal).
pub async fn run_native(origin: &dyn DispatchOrigin, cases: &[&Case]) -> Result<Vec<Observation>, String> {
    let env = origin.vars().into_iter().fold(Env::new(), |env, (name, value)| env.with_var(name, value));
    let env = env.with(Arc::new(corpus::Trail::default()));
    let t = register_all(TestEngine::builder().env(env.clone())).open().await.map_err(|e| e.to_string())?;
    let workflows = Workflows::new(t.engine().backend());
    let mut out = Vec::new();
    for case in cases.iter().copied() {
        let run = async {
            let handle = workflows.get(case.export)?;
            let instance = handle
                .create(CreateOptions { id: Some(id(case)), params: Some(params(case)), retention: None })
                .await?;
            for (event_type, value) in case.events {
                instance.send_event(event_type, json!({ "value": value })).await?;
            }
            let mut status = settle(&t, &instance).await?;
            if let Some(step) = case.restart_from {
                instance.restart_from(RestartFrom::step(step)).await?;
                status = settle(&t, &instance).await?;
            }
            // The engine's history, as a user sees it (sensitive outputs redacted).
            let steps = t
                .engine()
                .history(instance.workflow_name(), instance.id())?
                .steps
                .into_iter()
                .filter(|s| s.state == RecordState::Done)
                .filter_map(|s| match s.kind {
                    RecordKind::Do => Some(s.output.unwrap_or(Value::Null)),
                    // wrangler dev lists an event wait's payload among the step outputs.
                    RecordKind::WaitForEvent => s.output.map(|event| event["payload"].clone()),
                    _ => None,
                })
                .collect();
            let status_json = json!({
                "status": status.status.as_str(),
                "error": status.error.as_ref().map(|e| json!({ "name": e.name(), "message": e.message() })),
            });
            Ok::<_, lunora_runtime::Error>(
                Observation {
                    status: status.status.as_str().to_owned(),
                    output: status.output.unwrap_or(Value::Null),
                    error: error_of(&status_json),
                    steps,
                    trail: corpus::read_trail(&env, case.export).await?,
                    calls: origin.calls(case.export, &id(case)),
                }
                .without_origin(origin),
            )
        };
        out.push(run.await.map_err(|e| format!("{} (native): {e}", case.export))?);
    }
    Ok(out)
}

fn wait_terminal(client: &Client, case: &Case) -> Result<Value, String> {
    poll(&format!("end of {}", case.export), Duration::from_secs(60), Duration::from_millis(200), || {
        let status = client.get(&format!("/status/{}/{}", case.export, id(case)))?;
        let ended = matches!(status["status"].as_str(), Some("complete" | "errored" | "terminated"));
        Ok(if ended { Ok(status) } else { Err(status.to_string()) })
    })
}

/// Runs these cases in workerd, all instances at once, then collects them in order.
pub fn run_workerd(client: &Client, origin: &dyn DispatchOrigin, cases: &[&Case]) -> Result<Vec<Observation>, String> {
    for case in cases.iter().copied() {
        client.post(&format!("/run/{}", case.export), &json!({ "id": id(case), "params": params(case) }))?;
        for (event_type, value) in case.events {
            client.post(&format!("/event/{}/{}/{event_type}", case.export, id(case)), &json!({ "value": value }))?;
        }
    }
    let mut out = Vec::new();
    for case in cases.iter().copied() {
        let mut status = wait_terminal(client, case)?;
        if let Some(step) = case.restart_from {
            client.post(&format!("/restart/{}/{}", case.export, id(case)), &json!(step))?;
            std::thread::sleep(Duration::from_secs(1));
            status = wait_terminal(client, case)?;
        }
        let steps = match &status["__LOCAL_DEV_STEP_OUTPUTS"] {
            Value::Array(steps) => steps.clone(),
            other => return Err(format!("{}: no __LOCAL_DEV_STEP_OUTPUTS in {other}", case.export)),
        };
        let trail =
            serde_json::from_value(client.get(&format!("/trail/{}", case.export))?).map_err(|e| e.to_string())?;
        out.push(
            Observation {
                status: status["status"].as_str().unwrap_or_default().to_owned(),
                output: status.get("output").cloned().unwrap_or(Value::Null),
                error: error_of(&status),
                steps,
                trail,
                calls: origin.calls(case.export, &id(case)),
            }
            .without_origin(origin),
        );
    }
    Ok(out)
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        text.chars().take(59).collect::<String>() + "…"
    } else {
        text
    }
}

/// Compares and prints the table; returns the unexplained differences.
pub fn compare(native: &[Observation], workerd: &[Observation]) -> Vec<String> {
    let mut failures = Vec::new();
    println!("\n| workflow | rule | status | output / error | steps | trail | calls | verdict |");
    println!("|---|---|---|---|---|---|---|---|");
    for ((case, n), w) in CASES.iter().zip(native).zip(workerd) {
        let mut diffs = Vec::new();
        let fields: [(&str, String, String); 6] = [
            ("status", n.status.clone(), w.status.clone()),
            ("output", n.output.to_string(), w.output.to_string()),
            ("error", n.error.to_string(), w.error.to_string()),
            ("steps", json!(n.steps).to_string(), json!(w.steps).to_string()),
            ("trail", json!(n.trail).to_string(), json!(w.trail).to_string()),
            ("calls", json!(n.calls).to_string(), json!(w.calls).to_string()),
        ];
        let prefix = format!("{}/{}#", case.export, id(case));
        for (engine, observed) in [("embedded", n), ("workerd", w)] {
            let ids: Vec<&str> =
                observed.calls.iter().filter_map(|c| c.split(' ').nth(1)?.strip_prefix(&prefix)).collect();
            if ids != case.dispatch_ids {
                diffs.push(format!("{engine} dispatch ids WRONG"));
                failures
                    .push(format!("{} {engine}: dispatch ids {ids:?}, expected {:?}", case.export, case.dispatch_ids));
            }
        }
        for (field, a, b) in &fields {
            if a != b {
                match ALLOWED.iter().find(|(f, e, _)| f == field && *e == case.export) {
                    Some((_, _, why)) => diffs.push(format!("{field} differs, allowed: {why}")),
                    None => {
                        diffs.push(format!("{field} DIFFERS"));
                        failures.push(format!("{} {field}: embedded {a} vs workerd {b}", case.export));
                    }
                }
            }
        }
        let shown = if n.error.is_null() { short(&n.output) } else { short(&n.error) };
        let verdict = if diffs.is_empty() { "same".to_owned() } else { diffs.join("; ") };
        println!(
            "| {} | {} | {} | `{}` | {} | {} | {} | {} |",
            case.export,
            case.rule,
            n.status,
            shown,
            n.steps.len(),
            n.trail.len(),
            n.calls.len(),
            verdict
        );
    }
    failures
}
