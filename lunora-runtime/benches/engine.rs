//! Engine benchmarks: durable step throughput against raw SQLite with the same settings, at
//! several numbers of concurrent instances, and resident memory per sleeping (hibernated)
//! instance.
//!
//! Run with `cargo bench -p lunora-runtime --bench engine`. Prints one line per figure; the
//! throughput lines read `instances=N engine_steps_per_s=X raw_txns_per_s=Y ratio=Z`, where the
//! baseline is one fsynced single-row transaction per step, measured in the same run.
//!
//! For more than one instance a second line gives the ceiling the disk allows:
//! `instances=N bare_group_commit_txns_per_s=X ratio=Y txns_per_fsync=Z engine_share_of_it=W`,
//! the same rows written by N threads with shared fsyncs and no engine around them.
//!
//! Arguments narrow the run: numbers pick the concurrencies (`-- 4 16`), `steps` skips the
//! memory figures and `memory` the throughput ones; `current-thread` runs the engine on a
//! current-thread tokio runtime instead of a multi-thread one.

use std::path::Path;
use std::time::{Duration, Instant};

use lunora_runtime::local::Engine;
use lunora_runtime::{CreateOptions, InstanceStatusKind, Result, Workflow, WorkflowContext};

/// Numbers of instances run concurrently in the throughput figures.
const CONCURRENCY: [u32; 4] = [1, 4, 16, 64];
/// Durable steps per round, shared out between the instances (each runs its steps in order).
const STEPS_PER_ROUND: u32 = 4_000;
/// Engine and raw runs alternate (E R, R E, E R, …) so disk-speed drift hits both alike.
const ROUNDS: u32 = 6;
/// Sleeping instances in the memory figure.
const SLEEPERS: usize = 10_000;
/// Instances created (and left hibernating) before the first RSS reading.
const WARMUP_SLEEPERS: usize = 100;
/// createBatch's maximum.
const CHUNK: usize = 100;

const STEPS_DEADLINE: Duration = Duration::from_secs(120);
const SLEEP_DEADLINE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(5);

/// N sequential durable steps.
struct BenchSteps;

impl Workflow for BenchSteps {
    type Params = u32;
    type Output = u64;
    const NAME: &'static str = "bench-steps";
    const EXPORT_NAME: &'static str = "benchSteps";
    const STEP_LIMIT: Option<u32> = Some(25_000);

    async fn run(ctx: WorkflowContext<u32>) -> Result<u64> {
        let mut sum = 0u64;
        for i in 0..ctx.params {
            sum += ctx.step.do_(format!("s{i}"), move |_| async move { Ok(i as u64) }).await?;
        }
        Ok(sum)
    }
}

/// Sleeps for 30 days, then returns.
struct BenchNap;

impl Workflow for BenchNap {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "bench-nap";
    const EXPORT_NAME: &'static str = "benchNap";

    async fn run(ctx: WorkflowContext<()>) -> Result<()> {
        ctx.step.sleep("nap", "30 days").await?;
        Ok(())
    }
}

fn main() {
    let args = Args::parse();
    let mut builder = if args.current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let rt = builder.enable_all().build().expect("a tokio runtime");
    rt.block_on(async {
        println!(
            "lunora-runtime engine bench ({} cores, {} tokio runtime)",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            if args.current_thread { "current-thread" } else { "multi-thread" }
        );
        // Memory first: after the throughput rounds the allocator reuses what they freed, and
        // the figure came out lower than in a fresh process (about 1,100 B after one throughput
        // figure, 870-980 B after all four, against 1,600-1,690 B fresh).
        if args.memory {
            sleeping_memory(true).await;
            sleeping_memory(false).await;
        }
        if args.steps {
            for instances in &args.concurrency {
                step_throughput(*instances).await;
            }
        }
    });
}

/// Which figures to take (every one without arguments).
struct Args {
    concurrency: Vec<u32>,
    steps: bool,
    memory: bool,
    /// The engine on a current-thread runtime (`#[tokio::main(flavor = "current_thread")]`,
    /// `#[tokio::test]`) instead of a multi-thread one.
    current_thread: bool,
}

impl Args {
    fn parse() -> Self {
        let (mut concurrency, mut steps, mut memory, mut current_thread) = (Vec::new(), false, false, false);
        // `cargo bench` adds `--bench`; other flags are the harness's, not ours.
        for arg in std::env::args().skip(1).filter(|a| !a.starts_with("--")) {
            match arg.as_str() {
                "steps" => steps = true,
                "memory" => memory = true,
                "current-thread" => current_thread = true,
                n => match n.parse::<u32>() {
                    Ok(n) if n > 0 && n <= STEPS_PER_ROUND => concurrency.push(n),
                    _ => panic!(
                        "engine bench: unknown argument {n:?} (expected a number of instances, `steps`, `memory` \
                         or `current-thread`)"
                    ),
                },
            }
        }
        if concurrency.is_empty() {
            concurrency = CONCURRENCY.to_vec();
        } else {
            steps = true;
        }
        if !steps && !memory {
            (steps, memory) = (true, true);
        }
        Self { concurrency, steps, memory, current_thread }
    }
}

/// Durable steps per second with `instances` running at once, against as many raw single-row
/// transactions on the same disk, rounds alternating.
async fn step_throughput(instances: u32) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let steps = STEPS_PER_ROUND / instances;
    let (mut engine_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    let mut sample = None;
    for round in 0..ROUNDS {
        let engine_path = dir.path().join(format!("journal-{round}.db"));
        let raw_path = dir.path().join(format!("raw-{round}.db"));
        if round % 2 == 0 {
            let (t, s) = engine_steps(&engine_path, instances, steps).await;
            engine_time += t;
            raw_time += raw_sqlite(&raw_path, instances, steps, sample.get_or_insert(s));
        } else {
            raw_time += raw_sqlite(&raw_path, instances, steps, sample.as_ref().expect("round 0 sampled a row"));
            engine_time += engine_steps(&engine_path, instances, steps).await.0;
        }
    }
    let total = f64::from(ROUNDS * instances * steps);
    let engine_rate = total / engine_time.as_secs_f64();
    let raw_rate = total / raw_time.as_secs_f64();
    println!(
        "instances={instances} engine_steps_per_s={engine_rate:.0} raw_txns_per_s={raw_rate:.0} ratio={:.2}",
        engine_rate / raw_rate
    );
    if instances > 1 {
        // The ceiling of group commit on this disk: the same rows, written by as many threads
        // as instances, one transaction each, fsyncs shared, nothing else.
        let sample = sample.as_ref().expect("round 0 sampled a row");
        let (mut grouped_time, mut fsyncs) = (Duration::ZERO, 0);
        for round in 0..ROUNDS {
            let (t, n) = grouped_sqlite(&dir.path().join(format!("grouped-{round}.db")), instances, steps, sample);
            grouped_time += t;
            fsyncs += n;
        }
        let grouped_rate = total / grouped_time.as_secs_f64();
        println!(
            "instances={instances} bare_group_commit_txns_per_s={grouped_rate:.0} ratio={:.2} txns_per_fsync={:.1} \
             engine_share_of_it={:.2}",
            grouped_rate / raw_rate,
            total / fsyncs as f64,
            engine_rate / grouped_rate
        );
    }
}

/// Group commit with nothing around it: `writers` threads each commit `steps` rows of the
/// sample, one autocommit INSERT each without fsync (`synchronous = OFF`), then wait until an
/// fsync of the WAL that started after their commit has ended; the first waiter to find none
/// running starts it for everyone. Returns the time taken and the number of fsyncs.
fn grouped_sqlite(path: &Path, writers: u32, steps: u32, sample: &SampleRow) -> (Duration, u64) {
    use std::sync::{Condvar, Mutex};

    #[derive(Default)]
    struct Sync {
        committed: u64,
        synced: u64,
        syncing: bool,
        fsyncs: u64,
    }

    let conn = baseline_db(path, "OFF");
    let wal = std::fs::File::open(path.with_extension("db-wal")).expect("the WAL exists once the schema is written");
    let conn = Mutex::new(conn);
    let (sync, synced) = (Mutex::new(Sync::default()), Condvar::new());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..writers {
            let (conn, sync, synced, wal) = (&conn, &sync, &synced, &wal);
            scope.spawn(move || {
                let instance = format!("steps-{w}");
                for s in 0..steps {
                    let ticket = {
                        let conn = conn.lock().unwrap();
                        insert_sample(&conn, &instance, s, sample);
                        let mut state = sync.lock().unwrap();
                        state.committed += 1;
                        state.committed
                    };
                    let mut state = sync.lock().unwrap();
                    while state.synced < ticket {
                        if state.syncing {
                            state = synced.wait(state).unwrap();
                            continue;
                        }
                        state.syncing = true;
                        let target = state.committed;
                        drop(state);
                        wal.sync_data().expect("fsync");
                        state = sync.lock().unwrap();
                        (state.synced, state.syncing) = (target, false);
                        state.fsyncs += 1;
                        synced.notify_all();
                    }
                }
            });
        }
    });
    let fsyncs = sync.lock().unwrap().fsyncs;
    (start.elapsed(), fsyncs)
}

/// What a completed step row of the engine holds, so the raw baseline writes the same bytes.
struct SampleRow {
    output: Option<String>,
    config: Option<String>,
    attempt_log: Option<String>,
}

/// Runs `instances` × `steps` durable steps on a fresh journal; returns the time from the first
/// create to the last completion, and one completed step row as stored.
async fn engine_steps(path: &Path, instances: u32, steps: u32) -> (Duration, SampleRow) {
    let engine = Engine::builder().path(path).register::<BenchSteps>().open().await.expect("the engine opens");
    let wf = engine.workflow::<BenchSteps>();

    let start = Instant::now();
    let batch = (0..instances).map(|i| CreateOptions::params(steps).with_id(format!("steps-{i}"))).collect();
    let instances = wf.create_batch(batch).await.expect("create_batch");
    let deadline = start + STEPS_DEADLINE;
    let expected: u64 = (0..u64::from(steps)).sum();
    for instance in &instances {
        loop {
            let status = instance.status().await.expect("status");
            match status.status {
                InstanceStatusKind::Complete => {
                    assert_eq!(status.output, Some(expected), "{} output", instance.id());
                    break;
                }
                s if s.is_terminal() => panic!("{} ended {s}: {:?}", instance.id(), status.error),
                s => assert!(
                    Instant::now() < deadline,
                    "step bench: {} still {s} after {STEPS_DEADLINE:?}",
                    instance.id()
                ),
            }
            tokio::time::sleep(POLL).await;
        }
    }
    let elapsed = start.elapsed();

    let rows = engine.steps(BenchSteps::NAME, instances[0].id()).expect("steps");
    assert_eq!(rows.len(), steps as usize, "journal rows of one instance");
    engine.close().await;

    // The exact text the engine stored for one completed step.
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("journal opens read-only");
    let sample = conn
        .query_row("SELECT output, config, attempt_log FROM steps WHERE name = 's50' LIMIT 1", [], |r| {
            Ok(SampleRow { output: r.get(0)?, config: r.get(1)?, attempt_log: r.get(2)? })
        })
        .expect("a sample step row");
    (elapsed, sample)
}

/// As many rows as one engine round commits steps, one autocommit INSERT each, into a fresh
/// file with the engine's own schema, WAL + synchronous=FULL. Returns the
/// time the inserts took.
fn raw_sqlite(path: &Path, instances: u32, steps: u32, sample: &SampleRow) -> Duration {
    let conn = baseline_db(path, "FULL");
    let start = Instant::now();
    let deadline = start + STEPS_DEADLINE;
    let mut rows = 0u64;
    for i in 0..instances {
        let instance = format!("steps-{i}");
        for s in 0..steps {
            insert_sample(&conn, &instance, s, sample);
            rows += 1;
            assert!(Instant::now() < deadline, "raw bench: only {rows} rows after {STEPS_DEADLINE:?}");
        }
    }
    start.elapsed()
}

/// A fresh baseline file with the engine's schema, in WAL mode with `synchronous` as given.
fn baseline_db(path: &Path, synchronous: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("baseline db opens");
    conn.pragma_update(None, "journal_mode", "WAL").expect("WAL");
    conn.pragma_update(None, "synchronous", synchronous).expect("synchronous");
    // As on the journal's connection: cached statements are not planned again on each use.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).expect("QPSG");
    conn.execute_batch(lunora_runtime::local::SCHEMA).expect("schema");
    conn
}

/// One autocommit INSERT of the engine's completed row for step `s` of `instance`.
fn insert_sample(conn: &rusqlite::Connection, instance: &str, s: u32, sample: &SampleRow) {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO steps (workflow, instance, kind, name, count, seq, state,
            attempts, output, error, config, started_at, ended_at, wake_at, attempt_log)
         VALUES (?1, ?2, 'do', ?3, 1, ?4, 'done', 1, ?5, NULL, ?6, ?7, ?7, NULL, ?8)",
    )
    .expect("prepare")
    .execute(rusqlite::params![
        BenchSteps::NAME,
        instance,
        format!("s{s}"),
        s,
        sample.output,
        sample.config,
        1_700_000_000_000i64,
        sample.attempt_log,
    ])
    .expect("insert");
}

/// Resident set size in bytes (second field of /proc/self/statm × 4 KiB pages).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|f| f.parse().ok()).expect("statm's resident field");
    pages * 4096
}

fn nap_id(i: usize) -> String {
    format!("nap-{i:05}")
}

/// Creates instances `from..to` in batches of CHUNK and waits until each reports `waiting`.
/// `paced`: each batch hibernates before the next is created (a steady arrival rate); else
/// all batches are created at once, so up to `to - from` instances run simultaneously.
/// Ids are regenerated rather than kept, so the bench itself holds nothing per instance.
async fn create_sleepers(engine: &Engine, from: usize, to: usize, paced: bool) {
    if paced && to - from > CHUNK {
        let mut i = from;
        while i < to {
            let end = (i + CHUNK).min(to);
            Box::pin(create_sleepers(engine, i, end, false)).await;
            i = end;
        }
        return;
    }
    let wf = engine.workflow::<BenchNap>();
    let mut i = from;
    while i < to {
        let end = (i + CHUNK).min(to);
        let batch = (i..end).map(|j| CreateOptions::<()>::default().with_id(nap_id(j))).collect();
        let created = wf.create_batch(batch).await.expect("create_batch");
        assert_eq!(created.len(), end - i, "create_batch created every instance");
        i = end;
    }
    let backend = engine.backend();
    let deadline = Instant::now() + SLEEP_DEADLINE;
    for j in from..to {
        let id = nap_id(j);
        loop {
            let status = backend.status(BenchNap::NAME, &id).await.expect("status");
            match status.status {
                InstanceStatusKind::Waiting => break,
                s if s.is_terminal() => panic!("{id} ended {s}: {:?}", status.error),
                s => assert!(Instant::now() < deadline, "memory bench: {id} still {s} after {SLEEP_DEADLINE:?}"),
            }
            tokio::time::sleep(POLL).await;
        }
    }
    // Waiting is written as the runner lets go; wait for every timer to be queued too.
    while engine.pending_timers() < to {
        assert!(
            Instant::now() < deadline,
            "memory bench: {} timers pending, expected {to}, after {SLEEP_DEADLINE:?}",
            engine.pending_timers()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Resident memory per hibernating instance, on a fresh journal.
async fn sleeping_memory(paced: bool) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let engine = Engine::builder()
        .path(dir.path().join("journal.db"))
        .register::<BenchNap>()
        .open()
        .await
        .expect("the engine opens");

    create_sleepers(&engine, 0, WARMUP_SLEEPERS, true).await;
    let before = rss();
    create_sleepers(&engine, WARMUP_SLEEPERS, WARMUP_SLEEPERS + SLEEPERS, paced).await;
    let after = rss();

    let per = after.saturating_sub(before) / SLEEPERS as u64;
    if paced {
        println!("rss per sleeping instance: {per} bytes ({SLEEPERS} instances created 100 at a time, goal < 2048)");
    } else {
        println!(
            "rss per sleeping instance after a burst: {per} bytes ({SLEEPERS} instances running at once \
             first; includes memory the allocator keeps from the burst)"
        );
    }
    println!("pending timers: {}", engine.pending_timers());
}
