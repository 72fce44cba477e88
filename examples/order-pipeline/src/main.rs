//! The order pipeline of Lunora's README, on the embedded durable engine:
//! load → sleep "1 minute" → charge (a `#[step]` with retries and a refund rollback) → wait for
//! the shipment event → return, written with `#[workflow]` and `#[step]`. Two runs: one where the payment gateway flakes once (a visible retry) and
//! one where no shipment arrives in time (the charge is rolled back).
//!
//! Time runs on a virtual clock so the minute-long sleep and the week-long event timeout pass
//! at once; the journal is a real SQLite file (`--db PATH`, default: a temporary file).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lunora_runtime::local::{RowKind, StepRow, StepState};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderParams {
    pub order_id: String,
    /// How many charge attempts the (simulated) payment gateway rejects.
    pub gateway_failures: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub amount_cents: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Receipt {
    pub receipt_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Shipment {
    pub tracking_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Shipped {
    pub order: Order,
    pub receipt: Receipt,
    pub tracking_id: String,
}

/// The payment provider the workflow talks to (in-process for the example).
#[derive(Default)]
pub struct Payments {
    charges: AtomicU32,
    refunds: AtomicU32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChargeArgs {
    pub order_id: String,
    pub amount_cents: u64,
    /// How many attempts the (simulated) gateway rejects.
    pub gateway_failures: u32,
}

/// Charges the order: retried with exponential backoff, refunded if the order later fails.
#[step(args = ChargeArgs, returns = Receipt, retries(limit = 3, delay = "10 seconds", backoff = "exponential"),
       timeout = "30 seconds", rollback = refund)]
async fn charge(ctx: StepContext, args: ChargeArgs) -> Result<Receipt> {
    if ctx.attempt <= args.gateway_failures {
        ctx.log.warn(format!("payment gateway timed out (attempt {})", ctx.attempt));
        return Err(Error::new("payment gateway timed out"));
    }
    let payments = ctx.env.get::<Arc<Payments>>().expect("Payments in env");
    let n = payments.charges.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(Receipt { receipt_id: format!("rcpt-{}-{n}", args.order_id) })
}

async fn refund(ctx: StepRollbackContext<ChargeArgs, Receipt>) -> Result<()> {
    let payments = ctx.env.get::<Arc<Payments>>().expect("Payments in env");
    payments.refunds.fetch_add(1, Ordering::SeqCst);
    let receipt = ctx.output.map(|r| r.receipt_id).unwrap_or_else(|| "none".into());
    ctx.log.warn(format!("refunding {receipt} of order {} because: {}", ctx.args.order_id, ctx.error));
    Ok(())
}

/// load → sleep → charge → wait for the shipment → done (deployed as `order-pipeline`).
#[workflow]
pub async fn order_pipeline(ctx: WorkflowContext<OrderParams>) -> Result<Shipped> {
    let params = ctx.params.clone();
    let order: Order =
        ctx.step.do_("load", |_| async { Ok(Order { id: params.order_id.clone(), amount_cents: 4200 }) }).await?;

    ctx.step.sleep("cool-off", "1 minute").await?;

    let charge_args = ChargeArgs {
        order_id: order.id.clone(),
        amount_cents: order.amount_cents,
        gateway_failures: params.gateway_failures,
    };
    let receipt = ctx.run_step(&charge, charge_args).await?;

    // Cloudflare allows only [a-zA-Z0-9_-] in event types, so `shipment.created` is spelled
    // with a dash.
    let shipment: Event<Shipment> =
        ctx.step.wait_for_event_with_timeout("await-shipment", "shipment-created", "7 days").await?;
    Ok(Shipped { order, receipt, tracking_id: shipment.payload.tracking_id })
}

fn duration(ms: i64) -> String {
    if ms <= 0 {
        return "0s".into();
    }
    humantime::format_duration(Duration::from_millis(ms as u64)).to_string()
}

fn shorten(mut s: String, max: usize) -> String {
    if s.chars().count() > max {
        s = s.chars().take(max - 1).collect::<String>() + "…";
    }
    s
}

fn result_of(step: &StepRow) -> String {
    let redacted = step.config.as_ref().is_some_and(|c| c.sensitive.is_some());
    match step.state {
        StepState::Done if redacted => "\"[REDACTED]\"".into(),
        StepState::Done => step.output.as_ref().map(|o| o.to_string()).unwrap_or_else(|| "—".into()),
        StepState::Failed => format!("✗ {}", step.error.as_ref().map(|e| e.to_string()).unwrap_or_default()),
        StepState::Running => "(running)".into(),
        StepState::Waiting => "(waiting)".into(),
    }
}

/// Prints the step timeline: one line per step, attempts and their errors indented below.
fn print_timeline(steps: &[StepRow], created_at: i64) {
    println!("  {:<22} {:<13} {:>8} {:>10} {:>10}  result", "step", "kind", "attempts", "at", "took");
    for step in steps {
        let attempts =
            if matches!(step.kind, RowKind::Do | RowKind::Rollback) { step.attempts.to_string() } else { "-".into() };
        let took = step.ended_at.map(|end| duration(end - step.started_at)).unwrap_or_else(|| "…".into());
        println!(
            "  {:<22} {:<13} {:>8} {:>10} {:>10}  {}",
            format!("{}-{}", step.name, step.count),
            step.kind.as_str(),
            attempts,
            format!("+{}", duration(step.started_at - created_at)),
            took,
            shorten(result_of(step), 70),
        );
        if step.attempts > 1 || step.attempt_log.iter().any(|a| a.success == Some(false)) {
            for (i, attempt) in step.attempt_log.iter().enumerate() {
                let outcome = match (&attempt.success, &attempt.error) {
                    (Some(true), _) => "ok".to_owned(),
                    (_, Some(e)) => format!("failed: {e}"),
                    _ => "interrupted".to_owned(),
                };
                println!("      attempt {} at +{}: {outcome}", i + 1, duration(attempt.start - created_at));
            }
        }
    }
}

async fn run_scenario(
    t: &TestEngine,
    logs_seen: &mut usize,
    title: &str,
    id: &str,
    params: OrderParams,
    ship: bool,
) -> Result<InstanceStatusKind> {
    println!("\n== {title} ==");
    let instance = t.workflow::<OrderPipelineWorkflow>().create(CreateOptions::params(params).with_id(id)).await?;
    let created_at = t.engine().now().as_millis();
    if ship {
        // The warehouse ships once the instance waits for the event (after the sleep and the
        // charge's retry, which the virtual clock skips through).
        t.run_until(&instance, "the shipment wait", |_, steps| {
            steps.iter().any(|s| s.kind == RowKind::WaitForEvent && s.state == StepState::Waiting)
        })
        .await?;
        instance.send_event("shipment-created", Shipment { tracking_id: "1Z-999".into() }).await?;
    }
    let status = t.run_to_completion(&instance).await?;
    print_timeline(&t.steps(&instance)?, created_at);
    println!("  status: {}", status.status);
    if let Some(output) = &status.output {
        println!("  output: {output}");
    }
    if let Some(error) = &status.error {
        println!("  error: {error}");
    }
    // ctx.log lines of this run (replays repeat the ones written outside steps, as on Cloudflare).
    let logs = t.logs();
    for (level, line) in &logs[(*logs_seen).min(logs.len())..] {
        println!("  log {level:?}: {line}");
    }
    *logs_seen = logs.len();
    if let Some(rollback) = &status.rollback {
        println!(
            "  rollback: {:?}{}",
            rollback.outcome,
            rollback.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }
    Ok(status.status)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("order-pipeline: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (db, temporary) = match (args.next().as_deref(), args.next()) {
        (Some("--db"), Some(path)) => (std::path::PathBuf::from(path), false),
        (None, _) => (std::env::temp_dir().join(format!("lunora-order-pipeline-{}.db", std::process::id())), true),
        _ => return Err(Error::new("usage: order-pipeline [--db PATH]")),
    };
    let result = run_on(&db).await;
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    result
}

async fn run_on(db: &std::path::Path) -> Result<()> {
    let payments = Arc::new(Payments::default());
    let t = TestEngine::builder()
        .path(db)
        .env(Env::new().with(payments.clone()))
        .register::<OrderPipelineWorkflow>()
        .open()
        .await?;
    println!("journal: {}", db.display());

    let suffix = std::process::id();
    let mut logs_seen = 0;
    let happy = run_scenario(
        &t,
        &mut logs_seen,
        "order 1001: the gateway flakes once, the charge is retried, the shipment arrives",
        &format!("order-1001-{suffix}"),
        OrderParams { order_id: "1001".into(), gateway_failures: 1 },
        true,
    )
    .await?;
    let failed = run_scenario(
        &t,
        &mut logs_seen,
        "order 1002: no shipment within 7 days, the charge is rolled back (refund)",
        &format!("order-1002-{suffix}"),
        OrderParams { order_id: "1002".into(), gateway_failures: 0 },
        false,
    )
    .await?;
    println!(
        "\npayments: {} charges, {} refunds",
        payments.charges.load(Ordering::SeqCst),
        payments.refunds.load(Ordering::SeqCst)
    );
    if happy != InstanceStatusKind::Complete || failed != InstanceStatusKind::Errored {
        return Err(Error::new(format!("unexpected outcome: {happy} and {failed}")));
    }
    Ok(())
}
