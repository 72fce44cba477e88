//! The order pipeline example in workerd, driven over HTTP through its routes (which use the
//! generated typed registry): every scenario of the e2e issue, asserting outputs, error names
//! and messages, and the audit trail of side effects.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::{poll, Client};

pub type Outcome = Result<String, String>;

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

struct Order<'a> {
    client: &'a Client,
    id: String,
    started: Instant,
}

impl<'a> Order<'a> {
    fn create(client: &'a Client, id: &str, params: Value) -> Result<Self, String> {
        let mut params = params;
        params["order_id"] = json!(id);
        let created = client.post("/orders", &json!({ "id": id, "params": params }))?;
        ensure(created["id"] == json!(id), || format!("create returned {created}"))?;
        Ok(Self { client, id: id.to_owned(), started: Instant::now() })
    }

    fn status(&self) -> Result<Value, String> {
        self.client.get(&format!("/orders/{}", self.id))
    }

    fn audit(&self) -> Result<Vec<String>, String> {
        let lines = self.client.get(&format!("/audit/{}", self.id))?;
        serde_json::from_value(lines).map_err(|e| e.to_string())
    }

    fn act(&self, action: &str) -> Result<(), String> {
        self.client.post(&format!("/orders/{}/{action}", self.id), &json!({})).map(drop)
    }

    fn send(&self, event_type: &str, payload: Value) -> Result<(), String> {
        self.client.post(&format!("/orders/{}/events/{event_type}", self.id), &payload).map(drop)
    }

    /// Polls until `done` holds for the status.
    fn wait(&self, what: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Result<Value, String> {
        poll(&format!("{what} of {}", self.id), within, TICK, || {
            let status = self.status()?;
            Ok(if done(&status) { Ok(status) } else { Err(status.to_string()) })
        })
    }

    fn wait_status(&self, status: &str, within: Duration) -> Result<Value, String> {
        self.wait(&format!("status {status}"), within, |s| s["status"] == json!(status))
    }

    /// Polls until the audit trail satisfies `done`.
    fn wait_audit_where(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Result<Vec<String>, String> {
        poll(&format!("{what} in the audit of {}", self.id), within, TICK, || {
            let audit = self.audit()?;
            Ok(if done(&audit) { Ok(audit) } else { Err(format!("{audit:?}")) })
        })
    }

    fn wait_audit(&self, line_prefix: &str, within: Duration) -> Result<Vec<String>, String> {
        self.wait_audit_where(&format!("line {line_prefix:?}"), within, |a| {
            a.iter().any(|l| l.starts_with(line_prefix))
        })
    }
}

const TICK: Duration = Duration::from_millis(200);
const SLOW: Duration = Duration::from_secs(60);

fn completes_after_retry_and_sleep(c: &Client) -> Outcome {
    let order = Order::create(c, "e2e-complete", json!({ "gateway_failures": 1, "cool_off": "2 seconds" }))?;
    let audit = order.wait_audit("charged", SLOW)?;
    let charged_after = order.started.elapsed();
    ensure(charged_after >= Duration::from_secs(2), || {
        format!("charged {charged_after:?} after create, before the 2 s sleep ended")
    })?;
    order.send("shipment-created", json!({ "tracking_id": "1Z-E2E" }))?;
    let status = order.wait_status("complete", SLOW)?;
    let output = &status["output"];
    ensure(output["receipt"]["receipt_id"] == json!("rcpt-e2e-complete-2"), || {
        format!("the charge should succeed on attempt 2: {output}")
    })?;
    ensure(output["tracking_id"] == json!("1Z-E2E") && output["order"]["amount_cents"] == json!(4200), || {
        format!("output {output}")
    })?;
    ensure(audit == ["reserved rsv-e2e-complete", "charged 4200 cents as rcpt-e2e-complete-2"], || {
        format!("audit {audit:?}")
    })?;
    Ok(format!(
        "complete; charged on attempt 2, {:.1} s after create (sleep 2 s + retry delay 2 s)",
        charged_after.as_secs_f64()
    ))
}

fn batch_created_and_completed(c: &Client) -> Outcome {
    // The second order's gateway fails once, so its receipt comes from attempt 2.
    let orders = [("e2e-batch-1", 0, "rcpt-e2e-batch-1-1"), ("e2e-batch-2", 1, "rcpt-e2e-batch-2-2")];
    let bodies: Vec<Value> = orders
        .iter()
        .map(|(id, failures, _)| {
            json!({ "id": id, "params": { "order_id": id, "gateway_failures": failures, "cool_off": "1 second" } })
        })
        .collect();
    let created = c.post("/orders/batch", &json!(bodies))?;
    let ids: Vec<&str> = orders.iter().map(|(id, _, _)| *id).collect();
    ensure(created["ids"] == json!(ids), || format!("create_batch returned {created}"))?;
    let started = Instant::now();
    let created: Vec<(Order, &str)> =
        orders.iter().map(|(id, _, receipt)| (Order { client: c, id: (*id).to_owned(), started }, *receipt)).collect();
    for (order, _) in &created {
        order.wait_audit("charged", SLOW)?;
        order.send("shipment-created", json!({ "tracking_id": format!("1Z-{}", order.id) }))?;
    }
    for (order, receipt) in &created {
        let id = &order.id;
        let output = order.wait_status("complete", SLOW)?["output"].clone();
        ensure(
            output["receipt"]["receipt_id"] == json!(receipt) && output["tracking_id"] == json!(format!("1Z-{id}")),
            || format!("{id}: output {output}"),
        )?;
    }
    Ok("two instances from one create_batch call, each completed with its own params and event".into())
}

fn non_retryable_fails_at_once(c: &Client) -> Outcome {
    let order = Order::create(c, "e2e-declined", json!({ "decline": true, "cool_off": "1 second" }))?;
    let status = order.wait_status("errored", SLOW)?;
    let took = order.started.elapsed();
    let error = &status["error"];
    ensure(
        *error == json!({ "name": "NonRetryableError", "message": "card declined for order e2e-declined" }),
        || format!("error {error}"),
    )?;
    // Retried, the charge would take 2 + 4 + 8 s more.
    ensure(took < Duration::from_secs(8), || format!("errored only after {took:?}: was it retried?"))?;
    let audit = order.audit()?;
    ensure(audit == ["reserved rsv-e2e-declined", "refunded nothing", "released rsv-e2e-declined"], || {
        format!("audit {audit:?}")
    })?;
    Ok(format!(
        "errored in {:.1} s with NonRetryableError \"card declined…\"; refund (no output) then release",
        took.as_secs_f64()
    ))
}

fn event_timeout_rolls_back_in_reverse(c: &Client) -> Outcome {
    let order = Order::create(c, "e2e-no-shipment", json!({ "cool_off": "1 second", "ship_within": "2 seconds" }))?;
    let status = order.wait_status("errored", SLOW)?;
    let error = &status["error"];
    ensure(error["name"] == json!("WorkflowTimeoutError"), || format!("error {error}"))?;
    let audit = order.wait_audit("released", Duration::from_secs(10))?;
    let expected = [
        "reserved rsv-e2e-no-shipment",
        "charged 4200 cents as rcpt-e2e-no-shipment-1",
        "refunded rcpt-e2e-no-shipment-1",
        "released rsv-e2e-no-shipment",
    ];
    ensure(audit == expected, || format!("audit {audit:?}"))?;
    Ok(format!("errored with {error}; refund then release (reverse order)"))
}

fn event_delivered(c: &Client) -> Outcome {
    let order = Order::create(c, "e2e-event", json!({ "cool_off": "1 second" }))?;
    order.wait_audit("charged", SLOW)?;
    order.send("shipment-created", json!({ "tracking_id": "EV-1" }))?;
    let status = order.wait_status("complete", SLOW)?;
    ensure(status["output"]["tracking_id"] == json!("EV-1"), || format!("status {status}"))?;
    Ok("waitForEvent satisfied by send_event".into())
}

fn pause_and_resume(c: &Client) -> Outcome {
    let order = Order::create(c, "e2e-pause", json!({ "cool_off": "1 second" }))?;
    order.wait_audit("charged", SLOW)?;
    order.act("pause")?;
    order.wait_status("paused", SLOW)?;
    order.send("shipment-created", json!({ "tracking_id": "P-1" }))?;
    std::thread::sleep(Duration::from_secs(2));
    let still = order.status()?;
    ensure(still["status"] == json!("paused"), || format!("a paused instance moved on: {still}"))?;
    order.act("resume")?;
    let status = order.wait_status("complete", SLOW)?;
    ensure(status["output"]["tracking_id"] == json!("P-1"), || format!("status {status}"))?;
    Ok("paused (stayed paused 2 s with an event queued), resumed, completed".into())
}

fn terminate(c: &Client) -> Outcome {
    let order = Order::create(c, "e2e-terminate", json!({ "cool_off": "1 second" }))?;
    order.wait_audit("charged", SLOW)?;
    order.act("terminate")?;
    order.wait_status("terminated", SLOW)?;
    std::thread::sleep(Duration::from_secs(1));
    let audit = order.audit()?;
    ensure(audit.len() == 2, || format!("a plain terminate must not roll back: {audit:?}"))?;
    Ok("terminated; no rollback ran".into())
}

fn restart(c: &Client) -> Outcome {
    let order = Order::create(c, "e2e-restart", json!({ "cool_off": "1 second" }))?;
    order.wait_audit("charged", SLOW)?;
    order.act("restart")?;
    order.wait_audit_where("a second reservation after the restart", SLOW, |audit| {
        audit.iter().filter(|l| l.starts_with("reserved")).count() == 2
    })?;
    order.send("shipment-created", json!({ "tracking_id": "R-1" }))?;
    order.wait_status("complete", SLOW)?;
    // The restarted charge step sends the same dispatch id (`orderPipeline/e2e-restart#step2.1`),
    // so the Worker answers it from D1: the card is not charged twice.
    let audit = order.audit()?;
    let charges = audit.iter().filter(|l| l.starts_with("charged")).count();
    ensure(charges == 1, || format!("the restart charged again: {audit:?}"))?;
    Ok("restarted from the top (reserve ran again; the charge's dispatch id was answered from D1), then completed"
        .into())
}

/// A scenario's name and body.
type Scenario = (&'static str, fn(&Client) -> Outcome);

/// Every scenario, in order: (name, outcome).
pub fn run(client: &Client) -> Vec<(&'static str, Outcome)> {
    let scenarios: [Scenario; 8] = [
        ("complete, retry, sleep", completes_after_retry_and_sleep),
        ("create_batch", batch_created_and_completed),
        ("NonRetryableError", non_retryable_fails_at_once),
        ("event timeout + rollbacks", event_timeout_rolls_back_in_reverse),
        ("send_event", event_delivered),
        ("pause / resume", pause_and_resume),
        ("terminate", terminate),
        ("restart", restart),
    ];
    scenarios.into_iter().map(|(name, f)| (name, f(client))).collect()
}

/// `ctx.log` in a step reaches the Worker's console with the workflow's prefix (the retried
/// charge of "complete, retry, sleep" logs its first attempt's failure).
pub fn console_has_step_log(console: &str) -> Outcome {
    const LINE: &str = "[workflow:orderPipeline] payment gateway timed out (attempt 1)";
    match console.lines().any(|l| l.contains(LINE)) {
        true => Ok(format!("the console shows {LINE:?}")),
        false => Err(format!("no console line contains {LINE:?}")),
    }
}

/// The example Worker's dev token (its wrangler.toml).
const DEV_ADMIN_TOKEN: &str = "order-pipeline-dev-admin-token";

/// The Worker's own dispatch endpoint, which the example's charge and refund call: refused
/// without the token, a duplicate id answered from D1 without running the function again, and
/// concurrent requests with one id running it once.
pub fn dispatch_scenarios(client: &Client) -> Vec<(&'static str, Outcome)> {
    vec![
        ("dispatch: token required", dispatch_needs_the_token(client)),
        ("dispatch: duplicate id", dispatch_duplicate_id(client)),
        ("dispatch: concurrent id", dispatch_concurrent_id(client)),
    ]
}

fn refund_call(order: &str, id: &str) -> Value {
    json!({ "args": { "order_id": order, "receipt_id": "rcpt-x" }, "functionPath": "payments:refund", "id": id })
}

fn audit_of(client: &Client, order: &str) -> Result<Vec<String>, String> {
    serde_json::from_value(client.get(&format!("/audit/{order}"))?).map_err(|e| e.to_string())
}

fn dispatch_needs_the_token(client: &Client) -> Outcome {
    for token in [None, Some("order-pipeline-dev-admin-tokeX")] {
        let answer = client.dispatch(token, &refund_call("e2e-dispatch-auth", "e2e-auth#1"))?;
        ensure(answer.status == 403 && answer.body["error"]["code"] == "DISPATCH_UNAUTHENTICATED", || {
            format!("{token:?}: {answer:?}")
        })?;
        ensure(!answer.body.to_string().contains(DEV_ADMIN_TOKEN), || {
            format!("the answer quotes the token: {answer:?}")
        })?;
    }
    let unknown =
        client.dispatch(Some(DEV_ADMIN_TOKEN), &json!({ "args": {}, "functionPath": "payments:nope", "id": "u" }))?;
    ensure(unknown.status == 404 && unknown.body["error"]["code"] == "FUNCTION_NOT_FOUND", || format!("{unknown:?}"))?;
    let audit = audit_of(client, "e2e-dispatch-auth")?;
    ensure(audit.is_empty(), || format!("a refused call ran: {audit:?}"))?;
    Ok("403 DISPATCH_UNAUTHENTICATED without or with a wrong token, 404 for an unknown function".into())
}

fn dispatch_duplicate_id(client: &Client) -> Outcome {
    let call = refund_call("e2e-dispatch-dup", "e2e-dup#step2rollback.1");
    let first = client.dispatch(Some(DEV_ADMIN_TOKEN), &call)?;
    ensure(first.status == 200 && !first.replayed, || format!("first: {first:?}"))?;
    for _ in 0..2 {
        let again = client.dispatch(Some(DEV_ADMIN_TOKEN), &call)?;
        ensure(again.status == 200 && again.replayed && again.body == first.body, || format!("again: {again:?}"))?;
    }
    let audit = audit_of(client, "e2e-dispatch-dup")?;
    ensure(audit == ["refunded rcpt-x"], || format!("audit: {audit:?}"))?;
    Ok("the second and third requests replayed from D1; the refund ran once".into())
}

fn dispatch_concurrent_id(client: &Client) -> Outcome {
    let call = refund_call("e2e-dispatch-race", "e2e-race#step2rollback.1");
    let answers: Vec<Result<crate::http::Dispatched, String>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..6).map(|_| scope.spawn(|| client.dispatch(Some(DEV_ADMIN_TOKEN), &call))).collect();
        threads.into_iter().map(|t| t.join().unwrap_or_else(|_| Err("a request thread panicked".into()))).collect()
    });
    let answers = answers.into_iter().collect::<Result<Vec<_>, _>>()?;
    let ran = answers.iter().filter(|a| a.status == 200 && !a.replayed).count();
    let others_ok = answers.iter().all(|a| (a.status == 200) || (a.status == 409 && a.declined));
    ensure(ran == 1 && others_ok, || format!("6 concurrent requests with one id: {answers:?}"))?;
    let later = client.dispatch(Some(DEV_ADMIN_TOKEN), &call)?;
    ensure(later.status == 200 && later.replayed, || format!("later: {later:?}"))?;
    let audit = audit_of(client, "e2e-dispatch-race")?;
    ensure(audit == ["refunded rcpt-x"], || format!("audit: {audit:?}"))?;
    let declined = answers.iter().filter(|a| a.status == 409).count();
    Ok(format!("one of 6 ran the refund; {declined} declined (409), the rest replayed; later requests replay"))
}
