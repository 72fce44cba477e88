//! Short waits keep the instance in memory: a sleep, `sleep_until` or retry delay no longer
//! than the engine's in-memory wait limit waits in place, so the body runs once instead of once
//! per wait, while the journal records the wait as for a hibernating instance. Pause,
//! terminate, delete and shutdown still interrupt such a wait, a kill -9 during one recovers by
//! replay with every step run once, and waits over the limit still hibernate.
//!
//! Every engine here is on a journal file. The body counts its executions (and each step its
//! attempts) in a static map keyed by instance id, so replays are seen directly.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lunora_runtime::local::{Clock, Engine, RowKind, StepRow, StepSelector, StepState, SystemClock, VirtualClock};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};

const LIMIT: Option<Duration> = Some(Duration::from_secs(20));
const START: i64 = 1_767_225_600_000;

static COUNTS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn bump(key: String) {
    *COUNTS.lock().unwrap().entry(key).or_insert(0) += 1;
}

fn count(key: &str) -> usize {
    COUNTS.lock().unwrap().get(key).copied().unwrap_or(0)
}

/// What [`Naps`] does: `steps` steps, each followed by a sleep of `nap_ms` (none if 0); each
/// step fails its first `fail_first` attempts and retries after `retry_ms`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Plan {
    steps: u32,
    nap_ms: u64,
    fail_first: u32,
    retry_ms: u64,
    /// Append `<instance> s<i>` to this file as each step's attempt runs (the kill -9 test).
    effects: Option<String>,
}

struct Naps;

impl Workflow for Naps {
    type Params = Plan;
    type Output = u32;
    const NAME: &'static str = "naps";
    const EXPORT_NAME: &'static str = "naps";

    async fn run(ctx: WorkflowContext<Plan>) -> Result<u32> {
        let id = ctx.event.instance_id.clone();
        bump(format!("{id} body"));
        let plan = ctx.params.clone();
        let mut sum = 0;
        for i in 0..plan.steps {
            let config = StepConfig::new()
                .retries(plan.fail_first, Duration::from_millis(plan.retry_ms))
                .backoff(Backoff::Constant);
            let (id, effects, fail_first) = (id.clone(), plan.effects.clone(), plan.fail_first);
            sum += ctx
                .step
                .do_with(format!("s{i}"), config, move |step| {
                    let (id, effects) = (id.clone(), effects.clone());
                    async move {
                        bump(format!("{id} s{i}"));
                        if let Some(path) = effects {
                            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                            f.write_all(format!("{id} s{i}\n").as_bytes())?;
                        }
                        if step.attempt <= fail_first {
                            return Err(Error::new(format!("attempt {} fails on purpose", step.attempt)));
                        }
                        Ok(i)
                    }
                })
                .await?;
            if plan.nap_ms > 0 {
                ctx.step.sleep(format!("nap{i}"), Duration::from_millis(plan.nap_ms)).await?;
            }
        }
        Ok(sum)
    }
}

fn plan(steps: u32, nap_ms: u64) -> Plan {
    Plan { steps, nap_ms, ..Plan::default() }
}

fn rows(engine: &Engine, id: &str, kind: RowKind) -> Vec<StepRow> {
    engine.steps("naps", id).unwrap().into_iter().filter(|r| r.kind == kind).collect()
}

async fn create(engine: &Engine, id: &str, plan: Plan) -> InstanceHandle<Naps> {
    engine.workflow::<Naps>().create(CreateOptions::params(plan).with_id(id)).await.unwrap()
}

/// An engine on `db` with a virtual clock: an in-memory wait there ends only when the test
/// advances the clock, so what interrupts it is seen without racing its end.
async fn virtual_engine(db: &Path, clock: &VirtualClock) -> Engine {
    Engine::builder()
        .path(db)
        .clock(clock.clone())
        .wait_for_journal(Duration::from_secs(10))
        .in_memory_wait_limit(Duration::from_secs(600))
        .register::<Naps>()
        .open()
        .await
        .unwrap()
}

/// Waits until `id` waits in its first nap, in memory: status `waiting` as for a hibernating
/// instance, but no hibernation timer and a single execution of the body.
async fn waiting_in_memory(engine: &Engine, id: &str) {
    let status = engine.wait("naps", id, WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Waiting);
    assert_eq!(engine.pending_timers(), 0, "an in-memory wait sets no hibernation timer");
    assert_eq!(count(&format!("{id} body")), 1);
    let nap = &rows(engine, id, RowKind::Sleep)[0];
    assert_eq!((nap.state, nap.wake_at.is_some()), (StepState::Waiting, true), "{nap:?}");
}

/// Once `id` waits in its nap number `k` (0-based), moves the virtual clock to that nap's end.
async fn finish_nap(engine: &Engine, clock: &VirtualClock, id: &str, k: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(nap) = rows(engine, id, RowKind::Sleep).get(k) {
            match (nap.state, nap.wake_at) {
                (StepState::Done, _) => return,
                (StepState::Waiting, Some(at)) => {
                    clock.advance(Duration::from_millis((at - clock.now()).max(0) as u64));
                    return;
                }
                _ => {}
            }
        }
        assert!(Instant::now() < deadline, "{id} never reached nap {k}: {:?}", engine.steps("naps", id));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_short_sleeps_run_the_body_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder().path(dir.path().join("journal.db")).register::<Naps>().open().await.unwrap();
    create(&engine, "sleepy", plan(20, 5)).await;
    let status = engine.wait("naps", "sleepy", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(count("sleepy body"), 1, "one execution of the body, not one per sleep");
    for i in 0..20 {
        assert_eq!(count(&format!("sleepy s{i}")), 1);
    }
    // The journal records every sleep as before: started, then ended no earlier than its time.
    let naps = rows(&engine, "sleepy", RowKind::Sleep);
    assert_eq!(naps.len(), 20);
    for nap in &naps {
        assert_eq!(nap.state, StepState::Done);
        assert!(nap.ended_at.unwrap() >= nap.started_at + 5, "{nap:?}");
    }
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_retry_delays_wait_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder().path(dir.path().join("journal.db")).register::<Naps>().open().await.unwrap();
    let retried = Plan { steps: 3, fail_first: 2, retry_ms: 10, ..Plan::default() };
    create(&engine, "flaky", retried).await;
    let status = engine.wait("naps", "flaky", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(count("flaky body"), 1, "one execution of the body, not one per retry delay");
    for (i, row) in rows(&engine, "flaky", RowKind::Do).iter().enumerate() {
        assert_eq!(count(&format!("flaky s{i}")), 3);
        assert_eq!((row.state, row.attempts), (StepState::Done, 3));
        let log = &row.attempt_log;
        for pair in log.windows(2) {
            assert!(pair[1].start >= pair[0].end.unwrap() + 10, "the delay was waited: {log:?}");
        }
    }
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_over_the_limit_still_hibernate_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .path(dir.path().join("journal.db"))
        .in_memory_wait_limit(Duration::from_millis(20))
        .register::<Naps>()
        .open()
        .await
        .unwrap();
    create(&engine, "long-naps", plan(3, 60)).await;
    let retried = Plan { steps: 2, fail_first: 1, retry_ms: 60, ..Plan::default() };
    create(&engine, "long-retries", retried).await;
    for id in ["long-naps", "long-retries"] {
        let status = engine.wait("naps", id, WaitFor::End, LIMIT).await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    }
    assert_eq!(count("long-naps body"), 4, "one execution, then one replay per hibernating sleep");
    assert_eq!(count("long-retries body"), 3, "one execution, then one replay per hibernating delay");
    for i in 0..3 {
        assert_eq!(count(&format!("long-naps s{i}")), 1);
    }
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_limit_hibernates_on_every_wait_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .path(dir.path().join("journal.db"))
        .in_memory_wait_limit(Duration::ZERO)
        .register::<Naps>()
        .open()
        .await
        .unwrap();
    create(&engine, "zero", plan(5, 2)).await;
    let status = engine.wait("naps", "zero", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(count("zero body"), 6);
    engine.close().await;
}

/// The limit is inclusive, and measured on the engine's clock: a virtual one here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_of_exactly_the_limit_stays_in_memory_one_ms_more_hibernates() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestEngine::builder()
        .path(dir.path().join("journal.db"))
        .start_time(START)
        .in_memory_wait_limit(Duration::from_millis(1_000))
        .register::<Naps>()
        .open()
        .await
        .unwrap();
    let at_limit =
        t.workflow::<Naps>().create(CreateOptions::params(plan(2, 1_000)).with_id("at-limit")).await.unwrap();
    t.run_to_completion(&at_limit).await.unwrap();
    let over = t.workflow::<Naps>().create(CreateOptions::params(plan(2, 1_001)).with_id("over-limit")).await.unwrap();
    t.run_to_completion(&over).await.unwrap();
    assert_eq!(count("at-limit body"), 1);
    assert_eq!(count("over-limit body"), 3);
}

/// TestEngine's clock jumps work the same over in-memory waits: `run_to_completion` and
/// `wait_for_step_result` advance the virtual clock to each one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_engine_jumps_its_virtual_clock_over_in_memory_waits() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestEngine::builder()
        .path(dir.path().join("journal.db"))
        .start_time(START)
        .register::<Naps>()
        .open()
        .await
        .unwrap();
    let naps = Plan { steps: 10, nap_ms: 1_000, fail_first: 1, retry_ms: 2_000, effects: None };
    let instance = t.workflow::<Naps>().create(CreateOptions::params(naps).with_id("virtual")).await.unwrap();
    let fifth: u32 = t.wait_for_step_result(&instance, StepSelector::name("s5")).await.unwrap();
    assert_eq!(fifth, 5);
    let status = t.run_to_completion(&instance).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    assert_eq!(count("virtual body"), 1, "sub-limit waits on the virtual clock stay in memory too");
    // Ten retry delays of 2 s and ten sleeps of 1 s, on the virtual clock only.
    assert_eq!(t.clock().now_ms() - START, 30_000);
    assert_eq!(t.engine().pending_timers(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_wait_reads_waiting_as_a_hibernating_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::starting_at(START);
    let engine = virtual_engine(&dir.path().join("journal.db"), &clock).await;
    create(&engine, "status", plan(2, 60_000)).await;
    waiting_in_memory(&engine, "status").await;
    finish_nap(&engine, &clock, "status", 0).await;
    // The second nap is waited in the same execution.
    finish_nap(&engine, &clock, "status", 1).await;
    let status = engine.wait("naps", "status", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    assert_eq!(count("status body"), 1);
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_interrupts_an_in_memory_wait_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::starting_at(START);
    let engine = virtual_engine(&dir.path().join("journal.db"), &clock).await;
    let instance = create(&engine, "paused", plan(2, 60_000)).await;
    waiting_in_memory(&engine, "paused").await;
    instance.pause().await.unwrap();
    let status = engine.wait("naps", "paused", WaitFor::Status(InstanceStatusKind::Paused), LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Paused);
    // Paused means paused: the wait's end passing changes nothing.
    clock.advance(Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(instance.status().await.unwrap().status, InstanceStatusKind::Paused);
    assert_eq!(count("paused s1"), 0);
    instance.resume().await.unwrap();
    // Resumed, the nap goes on for what it had left (shifted by the pause), in memory again.
    let status = engine.wait("naps", "paused", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Waiting);
    assert_eq!(count("paused s1"), 0);
    finish_nap(&engine, &clock, "paused", 0).await;
    finish_nap(&engine, &clock, "paused", 1).await;
    let status = engine.wait("naps", "paused", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!((count("paused s0"), count("paused s1")), (1, 1));
    assert_eq!(count("paused body"), 2, "the pause ended the execution; resume replayed once");
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_and_delete_interrupt_an_in_memory_wait() {
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::starting_at(START);
    let engine = virtual_engine(&dir.path().join("journal.db"), &clock).await;
    let doomed = create(&engine, "terminated", plan(2, 60_000)).await;
    waiting_in_memory(&engine, "terminated").await;
    tokio::time::timeout(Duration::from_secs(10), doomed.terminate()).await.expect("terminate returns").unwrap();
    assert_eq!(doomed.status().await.unwrap().status, InstanceStatusKind::Terminated);

    let gone = create(&engine, "deleted", plan(2, 60_000)).await;
    waiting_in_memory(&engine, "deleted").await;
    tokio::time::timeout(Duration::from_secs(10), gone.delete()).await.expect("delete returns").unwrap();
    assert!(gone.status().await.is_err(), "deleted");

    clock.advance(Duration::from_secs(120));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(doomed.status().await.unwrap().status, InstanceStatusKind::Terminated);
    assert_eq!((count("terminated s1"), count("deleted s1")), (0, 0), "nothing ran after the wait");
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_an_in_memory_wait_and_the_next_engine_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let clock = VirtualClock::starting_at(START);
    let engine = virtual_engine(&db, &clock).await;
    create(&engine, "shut", plan(2, 60_000)).await;
    waiting_in_memory(&engine, "shut").await;
    // The virtual clock never reaches the wait's end on its own: a shutdown that waited for it
    // would use up its whole grace period.
    tokio::time::timeout(Duration::from_secs(10), engine.shutdown(Duration::from_secs(120)))
        .await
        .expect("shutdown does not wait for an in-memory wait to end");

    let engine = virtual_engine(&db, &clock).await;
    let status = engine.wait("naps", "shut", WaitFor::Status(InstanceStatusKind::Waiting), LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Waiting);
    finish_nap(&engine, &clock, "shut", 0).await;
    finish_nap(&engine, &clock, "shut", 1).await;
    let status = engine.wait("naps", "shut", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!((count("shut s0"), count("shut s1")), (1, 1));
    let nap = &rows(&engine, "shut", RowKind::Sleep)[0];
    assert!(nap.ended_at.unwrap() >= nap.started_at + 60_000, "the nap lasted its time: {nap:?}");
    engine.close().await;
}

/// Branches waiting in memory side by side: one execution; a branch parked on an event still
/// hibernates the instance, and every step still runs once.
struct Branches;

impl Workflow for Branches {
    type Params = bool;
    type Output = u32;
    const NAME: &'static str = "branches";
    const EXPORT_NAME: &'static str = "branches";

    async fn run(ctx: WorkflowContext<bool>) -> Result<u32> {
        let id = ctx.event.instance_id.clone();
        bump(format!("{id} body"));
        let branch = |tag: &'static str| {
            let (step, id) = (&ctx.step, id.clone());
            async move {
                for i in 0..3 {
                    let id = id.clone();
                    step.do_(format!("{tag}{i}"), move |_| {
                        let key = format!("{id} {tag}{i}");
                        async move {
                            bump(key);
                            Ok(())
                        }
                    })
                    .await?;
                    step.sleep(format!("{tag}-nap{i}"), "5 ms").await?;
                }
                Ok::<u32, Error>(3)
            }
        };
        if ctx.params {
            let (event, b) = tokio::join!(ctx.step.wait_for_event::<u32>("go", "go"), branch("b"));
            Ok(event?.payload + b?)
        } else {
            let (a, b) = tokio::join!(branch("a"), branch("b"));
            Ok(a? + b?)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_branches_wait_in_memory_together_unless_one_waits_for_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder().path(dir.path().join("journal.db")).register::<Branches>().open().await.unwrap();
    let wf = engine.workflow::<Branches>();
    wf.create(CreateOptions::params(false).with_id("pair")).await.unwrap();
    let with_event = wf.create(CreateOptions::params(true).with_id("event")).await.unwrap();
    let status = engine.wait("branches", "pair", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!((status.status, status.output), (InstanceStatusKind::Complete, Some(serde_json::json!(6))));
    assert_eq!(count("pair body"), 1);
    with_event.send_event("go", 4u32).await.unwrap();
    let status = engine.wait("branches", "event", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!((status.status, status.output), (InstanceStatusKind::Complete, Some(serde_json::json!(7))));
    for id in ["pair", "event"] {
        for i in 0..3 {
            assert_eq!(count(&format!("{id} b{i}")), 1, "{id} b{i}");
        }
    }
    engine.close().await;
}

/// The child of the kill -9 test: creates the instance (first run only), prints `WAITING` once
/// it waits in memory, then waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of kill_nine_during_an_in_memory_wait_resumes_with_every_step_run_once"]
async fn in_memory_wait_child() {
    let dir = PathBuf::from(std::env::var("LUNORA_SHORT_WAIT_DIR").expect("run by the parent test"));
    let engine = Engine::builder()
        .path(dir.join("journal.db"))
        .in_memory_wait_limit(Duration::from_secs(60))
        .register::<Naps>()
        .open()
        .await
        .unwrap();
    let effects = dir.join("effects.log").display().to_string();
    let naps = Plan { steps: 2, nap_ms: 30_000, effects: Some(effects), ..Plan::default() };
    create(&engine, "killed", naps).await;
    waiting_in_memory(&engine, "killed").await;
    println!("WAITING"); // after libtest's `test in_memory_wait_child ... `
    std::io::stdout().flush().unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    panic!("not killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_during_an_in_memory_wait_resumes_with_every_step_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", "in_memory_wait_child", "--nocapture", "--test-threads=1"])
        .env("LUNORA_SHORT_WAIT_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let waiting = lines.by_ref().map_while(std::result::Result::ok).any(|line| line.ends_with("WAITING"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(waiting, "the child reached its in-memory wait");

    // Recovery on this process's real clock: the nap is 30 s, started moments ago. Restart with
    // a clock 40 s ahead so the recovered instance finds it due.
    let clock = VirtualClock::starting_at(SystemClock.now() + 40_000);
    let engine = virtual_engine(&dir.path().join("journal.db"), &clock).await;
    finish_nap(&engine, &clock, "killed", 1).await;
    let status = engine.wait("naps", "killed", WaitFor::End, LIMIT).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    let effects = std::fs::read_to_string(dir.path().join("effects.log")).unwrap();
    assert_eq!(effects, "killed s0\nkilled s1\n", "each step ran once across the kill");
    assert_eq!(count("killed body"), 1, "one replay after the crash, the second nap in memory");
    let naps = rows(&engine, "killed", RowKind::Sleep);
    assert!(naps.iter().all(|n| n.state == StepState::Done), "{naps:?}");
    assert!(naps[0].ended_at.unwrap() >= naps[0].started_at + 30_000, "{:?}", naps[0]);
    engine.close().await;
}

/// `sleep_until` a time: in memory when it is at most the limit away.
struct Until;

impl Workflow for Until {
    type Params = i64;
    type Output = ();
    const NAME: &'static str = "until";
    const EXPORT_NAME: &'static str = "until";

    async fn run(ctx: WorkflowContext<i64>) -> Result<()> {
        bump(format!("{} body", ctx.event.instance_id));
        ctx.step.sleep_until("then", Timestamp(ctx.params)).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_until_a_near_time_waits_in_memory_a_far_one_hibernates() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestEngine::builder()
        .path(dir.path().join("journal.db"))
        .start_time(START)
        .register::<Until>()
        .open()
        .await
        .unwrap();
    for (id, at) in [("until-near", START + 3_000), ("until-far", START + 60_000)] {
        let instance = t.workflow::<Until>().create(CreateOptions::params(at).with_id(id)).await.unwrap();
        let status = t.run_to_completion(&instance).await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Complete);
        assert_eq!(t.clock().now_ms(), at, "woke exactly at its time");
    }
    assert_eq!((count("until-near body"), count("until-far body")), (1, 2));
}

/// Pauses and resumes land at every point of many short in-memory waits (as one starts, while
/// it runs, as it ends): every instance still completes, with every step run once, and never
/// stays paused or waiting for a pause after its last resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pauses_and_resumes_racing_in_memory_waits_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder().path(dir.path().join("journal.db")).register::<Naps>().open().await.unwrap();
    let ids: Vec<String> = (0..6).map(|i| format!("racing-{i}")).collect();
    let mut handles = Vec::new();
    for id in &ids {
        handles.push(create(&engine, id, plan(25, 2)).await);
    }
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..120 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let instance = &handles[(rng % handles.len() as u64) as usize];
        // Refused once the instance has ended: that is fine, the others go on.
        let _ = instance.pause().await;
        tokio::time::sleep(Duration::from_micros(rng % 1_500)).await;
        let _ = instance.resume().await;
        tokio::time::sleep(Duration::from_micros((rng >> 16) % 1_500)).await;
    }
    for (id, instance) in ids.iter().zip(&handles) {
        instance.resume().await.unwrap();
        let status = engine.wait("naps", id, WaitFor::End, LIMIT).await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Complete, "{id}: {status:?}");
        for i in 0..25 {
            assert_eq!(count(&format!("{id} s{i}")), 1, "{id} s{i} ran once");
        }
        let naps = rows(&engine, id, RowKind::Sleep);
        assert!(naps.iter().all(|n| n.state == StepState::Done && n.ended_at.unwrap() >= n.started_at + 2), "{naps:?}");
    }
    engine.close().await;
}
