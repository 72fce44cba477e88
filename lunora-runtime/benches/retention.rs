//! Retention benchmark: N short instances (two durable steps each) created and run on a real
//! clock, once kept (the baseline) and once with a 1-second retention, so they expire while
//! the rest still run. Prints steps/s of both runs and their ratio, and the journal's size
//! (file + -wal) empty, at its peak and after every instance expired.
//!
//! `cargo bench -p lunora-runtime --bench retention`; `LUNORA_BENCH_INSTANCES` sets N
//! (default 100,000). Durability `Normal` (WAL, no fsync per step), as a local server would
//! run a load test; `Full` adds one fsync per step and instance change.

use std::path::Path;
use std::time::{Duration, Instant};

use lunora_runtime::listing::ListQuery;
use lunora_runtime::local::{Durability, Engine};
use lunora_runtime::{CreateOptions, Result, Retention, WaitFor, Workflow, WorkflowContext};

/// createBatch's maximum.
const CHUNK: usize = 100;
const DEADLINE: Duration = Duration::from_secs(1_800);

struct Short;

impl Workflow for Short {
    type Params = u32;
    type Output = u32;
    const NAME: &'static str = "short";
    const EXPORT_NAME: &'static str = "short";

    async fn run(ctx: WorkflowContext<u32>) -> Result<u32> {
        let n = ctx.params;
        let a: u32 = ctx.step.do_("a", move |_| async move { Ok(n) }).await?;
        ctx.step.do_("b", move |_| async move { Ok(a + 1) }).await
    }
}

fn journal_bytes(db: &Path) -> u64 {
    ["", "-wal"].iter().map(|s| std::fs::metadata(format!("{}{s}", db.display())).map(|m| m.len()).unwrap_or(0)).sum()
}

struct Run {
    elapsed: Duration,
    empty: u64,
    peak: u64,
    end: u64,
}

async fn run(db: &Path, instances: usize, retention: Option<Retention>) -> Run {
    let mut builder = Engine::builder().path(db).durability(Durability::Normal).register::<Short>();
    if let Some(r) = retention.clone() {
        builder = builder.default_retention(r);
    }
    let engine = builder.open().await.expect("engine opens");
    let empty = journal_bytes(db);
    let wf = engine.workflow::<Short>();
    let started = Instant::now();
    let mut peak = empty;
    for chunk in 0..instances.div_ceil(CHUNK) {
        let from = chunk * CHUNK;
        let to = (from + CHUNK).min(instances);
        let batch = (from..to).map(|i| CreateOptions::params(i as u32).with_id(format!("i-{i}"))).collect();
        let handles = wf.create_batch(batch).await.expect("createBatch");
        for h in &handles {
            // An instance that already expired is gone: that is the end it was waited for.
            if let Err(e) = h.wait(Some(Duration::from_secs(60))).await {
                assert_eq!(e.code(), Some("instance.not_found"), "{e}");
            }
        }
        if chunk % 50 == 0 {
            peak = peak.max(journal_bytes(db));
        }
        assert!(started.elapsed() < DEADLINE, "bounded");
    }
    let elapsed = started.elapsed();
    peak = peak.max(journal_bytes(db));
    if retention.is_some() {
        // Wait (bounded) until the last ones expired.
        let until = Instant::now() + Duration::from_secs(120);
        while engine.list("short", &ListQuery::new().per_page(1)).unwrap().total_count > 0 {
            assert!(Instant::now() < until, "instances still there two minutes after their retention");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        let last = format!("i-{}", instances - 1);
        engine.wait("short", &last, WaitFor::End, Some(Duration::from_secs(60))).await.unwrap();
    }
    let end = journal_bytes(db);
    engine.close().await;
    Run { elapsed, empty, peak, end }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let instances: usize =
        std::env::var("LUNORA_BENCH_INSTANCES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000).max(CHUNK);
    let dir = tempfile::tempdir().expect("temp dir");
    let kept = run(&dir.path().join("kept.db"), instances, None).await;
    let expiring = Retention { success_retention: Some("1 second".into()), error_retention: Some("1 second".into()) };
    let expired = run(&dir.path().join("expired.db"), instances, Some(expiring)).await;
    let steps = (instances * 2) as f64;
    let rate = |r: &Run| steps / r.elapsed.as_secs_f64();
    let mb = |b: u64| b as f64 / 1_048_576.0;
    println!("instances: {instances} (2 durable steps each, Durability::Normal)");
    println!(
        "kept (baseline):   {:>9.0} steps/s  {:>7.0} instances/s  journal {:.2} MB empty → {:.2} MB at the end",
        rate(&kept),
        instances as f64 / kept.elapsed.as_secs_f64(),
        mb(kept.empty),
        mb(kept.end)
    );
    println!(
        "1 s retention:     {:>9.0} steps/s  {:>7.0} instances/s  journal {:.2} MB empty → {:.2} MB peak → {:.2} MB after expiry",
        rate(&expired),
        instances as f64 / expired.elapsed.as_secs_f64(),
        mb(expired.empty),
        mb(expired.peak),
        mb(expired.end)
    );
    println!(
        "retention/baseline: {:.2}x steps/s; journal after expiry {:.1}% of the kept journal, {} bytes over empty",
        rate(&expired) / rate(&kept),
        100.0 * expired.end as f64 / kept.end.max(1) as f64,
        expired.end as i64 - expired.empty as i64
    );
}
