//! Short waits in memory against hibernating on every wait: one instance of a workflow with N
//! steps, each followed by a 1 ms sleep, on a journal file, timed with the default in-memory
//! wait limit and with a limit of zero (every sleep hibernates the instance and the next
//! execution replays the body from its journal, the engine's behaviour before in-memory waits).
//!
//! Run with `cargo bench -p lunora-runtime --bench short_waits`. Prints one line per journal
//! durability and N: `short_waits durability=D n=N in_memory_ms=X replay_ms=Y ratio=Z`, the
//! medians of several runs that alternate the two modes, and ratio = replay / in memory.

use std::path::Path;
use std::time::{Duration, Instant};

use lunora_runtime::local::{Durability, Engine, DEFAULT_IN_MEMORY_WAIT_LIMIT};
use lunora_runtime::{CreateOptions, InstanceStatusKind, Result, WaitFor, Workflow, WorkflowContext};

const SIZES: [u32; 2] = [50, 200];
/// Runs per mode and size; the two modes alternate so disk-speed drift hits both alike.
const RUNS: usize = 7;
const DEADLINE: Option<Duration> = Some(Duration::from_secs(300));

/// N steps, each followed by a 1 ms sleep.
struct StepAndNap;

impl Workflow for StepAndNap {
    type Params = u32;
    type Output = u64;
    const NAME: &'static str = "step-and-nap";
    const EXPORT_NAME: &'static str = "stepAndNap";

    async fn run(ctx: WorkflowContext<u32>) -> Result<u64> {
        let mut sum = 0u64;
        for i in 0..ctx.params {
            sum += ctx.step.do_(format!("s{i}"), move |_| async move { Ok(u64::from(i)) }).await?;
            ctx.step.sleep(format!("nap{i}"), Duration::from_millis(1)).await?;
        }
        Ok(sum)
    }
}

/// Wall time of one instance of `n` steps on a fresh journal in `dir`.
async fn one_run(dir: &Path, n: u32, limit: Duration, durability: Durability, run: usize) -> Duration {
    let db = dir.join(format!("journal-{n}-{}-{durability:?}-{run}.db", limit.as_millis()));
    let engine = Engine::builder()
        .path(&db)
        .durability(durability)
        .in_memory_wait_limit(limit)
        .register::<StepAndNap>()
        .open()
        .await
        .expect("opens");
    let start = Instant::now();
    let instance = engine.workflow::<StepAndNap>().create(CreateOptions::params(n)).await.expect("create");
    let status = engine.wait(StepAndNap::NAME, instance.id(), WaitFor::End, DEADLINE).await.expect("ends");
    let elapsed = start.elapsed();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    engine.close().await;
    elapsed
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    rt.block_on(async {
        // Full: every step and sleep end is fsynced (the default), which both modes pay alike;
        // Normal: no fsync, so what remains is the work a replay adds.
        for durability in [Durability::Full, Durability::Normal] {
            for n in SIZES {
                let (mut in_memory, mut replay) = (Vec::new(), Vec::new());
                for run in 0..RUNS {
                    // Alternate which mode goes first.
                    if run % 2 == 0 {
                        in_memory.push(one_run(dir.path(), n, DEFAULT_IN_MEMORY_WAIT_LIMIT, durability, run).await);
                        replay.push(one_run(dir.path(), n, Duration::ZERO, durability, run).await);
                    } else {
                        replay.push(one_run(dir.path(), n, Duration::ZERO, durability, run).await);
                        in_memory.push(one_run(dir.path(), n, DEFAULT_IN_MEMORY_WAIT_LIMIT, durability, run).await);
                    }
                }
                let (in_memory, replay) = (median(in_memory), median(replay));
                println!(
                    "short_waits durability={durability:?} n={n} in_memory_ms={in_memory:.1} replay_ms={replay:.1} ratio={:.2}",
                    replay / in_memory
                );
            }
        }
    });
}
