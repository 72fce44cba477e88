//! The order pipeline (`src/lib.rs`) on the embedded durable engine. Two runs: one where the
//! payment gateway flakes once (a visible retry) and one where no shipment arrives in time (the
//! charge is refunded, then the stock released: rollbacks in reverse order).
//!
//! Time runs on a virtual clock so the minute-long sleep and the week-long event timeout pass
//! at once; the journal is a real SQLite file (`--db PATH`, default: a temporary file).
//!
//! The charge and the refund call the payment functions (`src/payments.rs`) with `ctx.run`:
//! the demo serves them itself on a free 127.0.0.1 port (`POST /_lunora/scheduler/dispatch`,
//! deduplicated in `<journal>.dispatch.db`) and points `LUNORA_ORIGIN_URL` at it.
//!
//! `order-pipeline serve --port PORT --db PATH` instead runs it on a real clock behind a local
//! server (see `serve.rs`), which answers the payment functions too.

use std::sync::Arc;
use std::time::Duration;

mod serve;

use lunora_runtime::local::{RowKind, StepRow, StepState};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use order_pipeline::lunora_workflows::register_all;
use order_pipeline::{audit_trail, AuditLog, OrderParams, OrderPipelineWorkflow, Shipment};

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
    env: &Env,
    logs_seen: &mut usize,
    title: &str,
    id: &str,
    params: OrderParams,
    ship: bool,
) -> Result<InstanceStatusKind> {
    println!("\n== {title} ==");
    let params_order = params.order_id.clone();
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
    println!("  audit trail: {}", audit_trail(env, &params_order).await?.join(" → "));
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

use order_pipeline::payments::DEV_ADMIN_TOKEN;

/// Serves the payment functions on `listener` with `env`, deduplicating in `store`.
async fn serve_payments(listener: tokio::net::TcpListener, env: Env, store: &std::path::Path) -> Result<()> {
    let dedup = functions::SqliteDedupStore::open(store).map_err(|e| Error::new(e.to_string()))?;
    let endpoint = DispatchEndpoint::new(order_pipeline::payments::functions(), env, Arc::new(dedup))?;
    functions::server::serve(listener, endpoint).await.map_err(|e| Error::new(format!("dispatch server: {e}")))
}

async fn run() -> Result<()> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("serve") {
        return serve::serve(&all[1..]).await;
    }
    let mut args = std::env::args().skip(1);
    let (db, temporary) = match (args.next().as_deref(), args.next()) {
        (Some("--db"), Some(path)) => (std::path::PathBuf::from(path), false),
        (None, _) => (std::env::temp_dir().join(format!("lunora-order-pipeline-{}.db", std::process::id())), true),
        _ => return Err(Error::new("usage: order-pipeline [--db PATH] | order-pipeline serve --port PORT --db PATH")),
    };
    let result = run_on(&db).await;
    if temporary {
        for suffix in ["", "-wal", "-shm", ".lock", ".dispatch.db", ".dispatch.db-wal", ".dispatch.db-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    result
}

async fn run_on(db: &std::path::Path) -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::new(format!("cannot listen on 127.0.0.1: {e}")))?;
    let origin = format!("http://{}", listener.local_addr().map_err(|e| Error::new(e.to_string()))?);
    // One Env for the engine and the functions: the same audit trail, the same token.
    let env = Env::new()
        .with(Arc::new(AuditLog::default()))
        .with_var("LUNORA_ADMIN_TOKEN", DEV_ADMIN_TOKEN)
        .with_var("LUNORA_ORIGIN_URL", origin.as_str());
    let store = std::path::PathBuf::from(format!("{}.dispatch.db", db.display()));
    let server_env = env.clone();
    let server = tokio::spawn(async move { serve_payments(listener, server_env, &store).await });
    println!("payment functions: {origin}/_lunora/scheduler/dispatch");
    let result = run_scenarios(db, env).await;
    server.abort();
    result
}

async fn run_scenarios(db: &std::path::Path, env: Env) -> Result<()> {
    let t = register_all(TestEngine::builder().path(db).env(env.clone())).open().await?;
    println!("journal: {}", db.display());

    let suffix = std::process::id();
    let mut logs_seen = 0;
    let happy = run_scenario(
        &t,
        &env,
        &mut logs_seen,
        "order 1001: the gateway flakes once, the charge is retried, the shipment arrives",
        &format!("order-1001-{suffix}"),
        OrderParams { gateway_failures: 1, ..OrderParams::new(format!("1001-{suffix}")) },
        true,
    )
    .await?;
    let failed = run_scenario(
        &t,
        &env,
        &mut logs_seen,
        "order 1002: no shipment within 7 days: refund, then release the stock",
        &format!("order-1002-{suffix}"),
        OrderParams::new(format!("1002-{suffix}")),
        false,
    )
    .await?;
    if happy != InstanceStatusKind::Complete || failed != InstanceStatusKind::Errored {
        return Err(Error::new(format!("unexpected outcome: {happy} and {failed}")));
    }
    Ok(())
}
