//! Short waits in memory against hibernating on every wait: one instance of a workflow with N
//! steps, each followed by a 1 ms sleep, on a journal file, timed with the default in-memory
//! wait limit and with a limit of zero (every sleep hibernates the instance and the next
//! execution replays the body from its journal, the engine's behaviour before in-memory waits).
//!
//! Run with `cargo bench -p lunora-runtime --bench short_waits`. Prints one line per setup and
//! N: `short_waits clock=C durability=D n=N in_memory_ms=X replay_ms=Y ratio=Z`, the medians of
//! several runs that alternate the two modes, and ratio = replay / in memory. With the real
//! clock both modes also wait out every sleep; with the virtual one only the engine's work is
//! timed.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lunora_runtime::local::{Durability, Engine, VirtualClock, DEFAULT_IN_MEMORY_WAIT_LIMIT};
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

/// Which clock the engine runs on.
#[derive(Clone, Copy, Debug)]
enum Timing {
    /// The system clock: each 1 ms sleep takes at least 1 ms, in both modes.
    Real,
    /// A virtual clock a thread moves 1 ms ahead about every 20 µs, so waits cost next to no
    /// wall time and what is left is the engine's own work.
    Virtual,
}

/// Wall time of one instance of `n` steps on a fresh journal in `dir`.
async fn one_run(dir: &Path, n: u32, limit: Duration, timing: Timing, durability: Durability, run: usize) -> Duration {
    let db = dir.join(format!("journal-{n}-{}-{timing:?}-{durability:?}-{run}.db", limit.as_millis()));
    let builder = Engine::builder().path(&db).durability(durability).in_memory_wait_limit(limit);
    let clock = VirtualClock::new();
    let builder = match timing {
        Timing::Real => builder,
        Timing::Virtual => builder.clock(clock.clone()),
    };
    let engine = builder.register::<StepAndNap>().open().await.expect("opens");
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = matches!(timing, Timing::Virtual).then(|| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                clock.advance(Duration::from_millis(1));
                std::thread::sleep(Duration::from_micros(20));
            }
        })
    });
    let start = Instant::now();
    let instance = engine.workflow::<StepAndNap>().create(CreateOptions::params(n)).await.expect("create");
    let status = engine.wait(StepAndNap::NAME, instance.id(), WaitFor::End, DEADLINE).await.expect("ends");
    let elapsed = start.elapsed();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    stop.store(true, Ordering::Relaxed);
    if let Some(ticker) = ticker {
        ticker.join().expect("the clock thread ends");
    }
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
        // Normal: no fsync, so what remains is the waits and the work a replay adds.
        let setups = [
            (Timing::Real, Durability::Full),
            (Timing::Real, Durability::Normal),
            (Timing::Virtual, Durability::Normal),
        ];
        for (timing, durability) in setups {
            for n in SIZES {
                let (mut in_memory, mut replay) = (Vec::new(), Vec::new());
                let time = |limit, run| one_run(dir.path(), n, limit, timing, durability, run);
                for run in 0..RUNS {
                    // Alternate which mode goes first.
                    if run % 2 == 0 {
                        in_memory.push(time(DEFAULT_IN_MEMORY_WAIT_LIMIT, run).await);
                        replay.push(time(Duration::ZERO, run).await);
                    } else {
                        replay.push(time(Duration::ZERO, run).await);
                        in_memory.push(time(DEFAULT_IN_MEMORY_WAIT_LIMIT, run).await);
                    }
                }
                let (in_memory, replay) = (median(in_memory), median(replay));
                let clock = format!("{timing:?}").to_lowercase();
                println!(
                    "short_waits clock={clock} durability={durability:?} n={n} in_memory_ms={in_memory:.1} replay_ms={replay:.1} ratio={:.2}",
                    replay / in_memory
                );
            }
        }
    });
}
