//! kill -9 at many points of a run, then reopen: no completed step runs again and nothing that
//! was accepted (instance, event, output) is lost.
//!
//! The parent test re-executes this test binary as a child (`crash_child`, ignored on its own),
//! which runs four instances of a 16-step workflow on a journal file and prints what the
//! engine accepted. The parent kills it with SIGKILL after a varying delay, over and over,
//! until a child finishes. Each step callback appends `<instance> <step> <nonce>` to an effects
//! file *before* it returns its nonce, so afterwards the stored output of every step must be
//! the last nonce logged for it: a step that ran again after completing would have logged a
//! newer one.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lunora_runtime::local::{Engine, RowKind};
use lunora_runtime::*;

const INSTANCES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
const STEPS: usize = 16;
const MAX_CHILD_RUNS: usize = 200;

struct Chain;

static NONCE: AtomicU64 = AtomicU64::new(0);

impl Workflow for Chain {
    type Params = String;
    type Output = Vec<String>;
    const NAME: &'static str = "chain";
    const EXPORT_NAME: &'static str = "chain";

    async fn run(ctx: WorkflowContext<String>) -> Result<Vec<String>> {
        let effects = PathBuf::from(&ctx.params);
        let mut outputs = Vec::new();
        for i in 0..STEPS {
            if i == STEPS / 2 {
                ctx.step.sleep("breather", "30 ms").await?;
                ctx.step.wait_for_event_with_timeout::<String>("go", "go", "1 hour").await?;
            }
            let effects = effects.clone();
            let instance = ctx.event.instance_id.clone();
            // Interrupted attempts count as failed ones: allow plenty, the test kills often.
            let retries = StepConfig::new().retries(10_000, "1 ms").backoff(Backoff::Constant);
            let out: String = ctx
                .step
                .do_with(format!("s{i}"), retries, move |_| {
                    let effects = effects.clone();
                    let instance = instance.clone();
                    async move {
                        let nonce = format!("{}:{}", std::process::id(), NONCE.fetch_add(1, Ordering::SeqCst));
                        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&effects)?;
                        f.write_all(format!("{instance} s{i} {nonce}\n").as_bytes())?;
                        tokio::time::sleep(Duration::from_millis(1 + (i as u64 % 3))).await;
                        Ok(nonce)
                    }
                })
                .await?;
            outputs.push(out);
        }
        Ok(outputs)
    }
}

async fn open(db: &Path) -> Engine {
    Engine::builder()
        .path(db)
        .register::<Chain>()
        .default_retry_delay(Duration::from_millis(5))
        .open()
        .await
        .expect("journal opens")
}

/// The child: create what is not yet accepted, send the events not yet accepted, wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of kill_nine_at_many_points_loses_nothing"]
async fn crash_child() {
    let dir = PathBuf::from(std::env::var("LUNORA_CRASH_DIR").expect("run by the parent test"));
    let accepted: BTreeSet<String> =
        std::env::var("LUNORA_ACCEPTED").unwrap_or_default().split(',').map(str::to_owned).collect();
    let engine = open(&dir.join("journal.db")).await;
    let wf = engine.workflow::<Chain>();
    let effects = dir.join("effects.log").display().to_string();
    let mut out = std::io::stdout();
    for id in INSTANCES {
        if !accepted.contains(&format!("create:{id}")) {
            let batch = vec![CreateOptions::params(effects.clone()).with_id(id)];
            wf.create_batch(batch).await.expect("create");
            writeln!(out, "ACCEPTED create:{id}").unwrap();
            out.flush().unwrap();
        }
    }
    for id in INSTANCES {
        if !accepted.contains(&format!("event:{id}")) {
            wf.get(id).await.unwrap().send_event("go", "now").await.expect("send");
            writeln!(out, "ACCEPTED event:{id}").unwrap();
            out.flush().unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in INSTANCES {
        let inst = wf.get(id).await.unwrap();
        loop {
            let status = inst.status().await.unwrap();
            if status.status.is_terminal() {
                assert_eq!(status.status, InstanceStatusKind::Complete, "{id}: {status:?}");
                break;
            }
            assert!(Instant::now() < deadline, "{id} stuck in {}", status.status);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    writeln!(out, "ALL-DONE").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_at_many_points_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut accepted: BTreeSet<String> = BTreeSet::new();
    let mut kill_points = BTreeSet::new();
    let mut finished = false;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for run in 0..MAX_CHILD_RUNS {
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("LUNORA_CRASH_DIR", dir.path())
            .env("LUNORA_ACCEPTED", accepted.iter().cloned().collect::<Vec<_>>().join(","))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader =
            std::thread::spawn(move || BufReader::new(stdout).lines().map_while(|l| l.ok()).collect::<Vec<String>>());
        // xorshift. Two runs in three are killed 0-5 ms after steps start running again
        // (mid-step, mid-commit); the others 1-15 ms after spawn (start-up, creation, events,
        // the sleep, replays).
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let lines_before = count_lines(&dir.path().join("effects.log"));
        let by_progress = run % 3 != 2;
        let delay = Duration::from_millis(if by_progress { rng % 6 } else { 1 + rng % 15 });
        let start = Instant::now();
        let mut clock_from = (!by_progress).then_some(start);
        let mut killed = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if clock_from.is_none() && count_lines(&dir.path().join("effects.log")) > lines_before {
                clock_from = Some(Instant::now());
            }
            let due = clock_from.is_some_and(|t| t.elapsed() >= delay);
            if due && run + 1 < MAX_CHILD_RUNS {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed = true;
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "child run {run} hung");
            std::thread::sleep(Duration::from_micros(200));
        }
        let lines = reader.join().unwrap();
        if std::env::var_os("LUNORA_DEBUG_CRASH").is_some() {
            eprintln!("run {run} killed={killed} {lines:?}");
        }
        for line in &lines {
            // The test harness may print "test crash_child ... " on the same line.
            if let Some((_, what)) = line.split_once("ACCEPTED ") {
                accepted.insert(what.to_owned());
            }
        }
        if killed {
            kill_points.insert(count_lines(&dir.path().join("effects.log")));
        }
        if lines.iter().any(|l| l.contains("ALL-DONE")) {
            finished = true;
            break;
        }
    }
    assert!(finished, "no child finished in {MAX_CHILD_RUNS} runs");
    assert!(kill_points.len() >= 20, "kills landed at too few distinct points: {kill_points:?}");

    // Every accepted instance and event made it: all three completed (each needed its event).
    let all: BTreeSet<String> = INSTANCES.iter().flat_map(|i| [format!("create:{i}"), format!("event:{i}")]).collect();
    assert_eq!(accepted, all);
    let engine = open(&dir.path().join("journal.db")).await;
    let effects = std::fs::read_to_string(dir.path().join("effects.log")).unwrap();
    let mut last_nonce: HashMap<(String, String), String> = HashMap::new();
    for line in effects.lines() {
        let mut parts = line.split(' ');
        let (inst, step, nonce) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        last_nonce.insert((inst.to_owned(), step.to_owned()), nonce.to_owned());
    }
    for id in INSTANCES {
        let status = engine.workflow::<Chain>().get(id).await.unwrap().status().await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Complete, "{id}");
        let output = status.output.unwrap();
        assert_eq!(output.len(), STEPS);
        for (i, nonce) in output.iter().enumerate() {
            let logged = &last_nonce[&(id.to_owned(), format!("s{i}"))];
            assert_eq!(logged, nonce, "{id} s{i} ran again after it completed");
        }
        let steps = engine.steps("chain", id).unwrap();
        assert_eq!(steps.iter().filter(|s| s.kind == RowKind::Do).count(), STEPS);
    }
    eprintln!("kill -9 at {} distinct points over the run: {kill_points:?}", kill_points.len());
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|c| **c == b'\n').count()).unwrap_or(0)
}

/// Instances of [`Burst`] run at once: enough that step completions queue behind one another's
/// fsyncs and commit in groups.
const BURST_INSTANCES: usize = 16;
const BURST_STEPS: usize = 40;

/// Steps that finish at once, one after another, and log each completion the body received
/// (`<instance> s<i> <nonce>` in acks.log) right after it: what the engine acknowledged.
struct Burst;

impl Workflow for Burst {
    type Params = String;
    type Output = Vec<String>;
    const NAME: &'static str = "burst";
    const EXPORT_NAME: &'static str = "burst";

    async fn run(ctx: WorkflowContext<String>) -> Result<Vec<String>> {
        let dir = PathBuf::from(&ctx.params);
        let instance = ctx.event.instance_id.clone();
        let mut acks = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("acks.log"))?;
        let mut outputs = Vec::new();
        for i in 0..BURST_STEPS {
            let (dir, instance_in_step) = (dir.clone(), instance.clone());
            let retries = StepConfig::new().retries(10_000, "1 ms").backoff(Backoff::Constant);
            let out: String = ctx
                .step
                .do_with(format!("s{i}"), retries, move |_| {
                    let (dir, instance) = (dir.clone(), instance_in_step.clone());
                    async move {
                        let nonce = format!("{}:{}", std::process::id(), NONCE.fetch_add(1, Ordering::SeqCst));
                        let mut f =
                            std::fs::OpenOptions::new().create(true).append(true).open(dir.join("effects.log"))?;
                        f.write_all(format!("{instance} s{i} {nonce}\n").as_bytes())?;
                        Ok(nonce)
                    }
                })
                .await?;
            acks.write_all(format!("{instance} s{i} {out}\n").as_bytes())?;
            outputs.push(out);
        }
        Ok(outputs)
    }
}

fn burst_id(i: usize) -> String {
    format!("burst-{i:02}")
}

/// `(instance, step) -> nonce` of each line of an effects or acks log, from byte `from` on.
fn logged(path: &Path, from: usize) -> Vec<((String, String), String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.get(from..)
        .unwrap_or("")
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let (inst, step, nonce) = (parts.next()?, parts.next()?, parts.next()?);
            Some(((inst.to_owned(), step.to_owned()), nonce.to_owned()))
        })
        .collect()
}

fn file_len(path: &Path) -> usize {
    std::fs::metadata(path).map(|m| m.len() as usize).unwrap_or(0)
}

/// The child of the group-commit test on a multi-thread runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of kill_nine_in_the_middle_of_group_commits_loses_no_acknowledged_step"]
async fn burst_child() {
    burst().await;
}

/// The child of the group-commit test on a current-thread runtime, where the fsync's leader
/// yields to the other instances before it syncs.
#[tokio::test]
#[ignore = "child process of kill_nine_mid_group_on_a_current_thread_runtime_loses_no_acknowledged_step"]
async fn burst_child_on_one_thread() {
    burst().await;
}

/// Creates the instances unless accepted, then waits for all of them to complete.
async fn burst() {
    let dir = PathBuf::from(std::env::var("LUNORA_CRASH_DIR").expect("run by the parent test"));
    let engine = Engine::builder()
        .path(dir.join("journal.db"))
        .register::<Burst>()
        .default_retry_delay(Duration::from_millis(1))
        .open()
        .await
        .expect("journal opens");
    let wf = engine.workflow::<Burst>();
    let mut out = std::io::stdout();
    if std::env::var_os("LUNORA_ACCEPTED").is_none() {
        let params = dir.display().to_string();
        let batch = (0..BURST_INSTANCES).map(|i| CreateOptions::params(params.clone()).with_id(burst_id(i))).collect();
        wf.create_batch(batch).await.expect("create");
        writeln!(out, "ACCEPTED").unwrap();
        out.flush().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in 0..BURST_INSTANCES {
        let inst = wf.get(&burst_id(i)).await.unwrap();
        loop {
            let status = inst.status().await.unwrap();
            if status.status.is_terminal() {
                assert_eq!(status.status, InstanceStatusKind::Complete, "{}: {status:?}", burst_id(i));
                break;
            }
            assert!(Instant::now() < deadline, "{} stuck in {}", burst_id(i), status.status);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    writeln!(out, "ALL-DONE").unwrap();
}

/// Sixteen instances complete steps back to back, so completions wait on one another's fsyncs
/// and commit in groups; the child is killed with SIGKILL over and over, many times while
/// completions of several instances were between their commit and their acknowledgement. A
/// completion the body received is never lost or run again, and every instance completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_in_the_middle_of_group_commits_loses_no_acknowledged_step() {
    kill_nine_mid_group("burst_child").await;
}

/// The same with the child's engine on a current-thread runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_mid_group_on_a_current_thread_runtime_loses_no_acknowledged_step() {
    kill_nine_mid_group("burst_child_on_one_thread").await;
}

/// Runs the child test `child` until it finishes, killing it at random moments, then checks
/// that no acknowledged completion was lost and none ran again.
async fn kill_nine_mid_group(child_test: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (effects_log, acks_log) = (dir.path().join("effects.log"), dir.path().join("acks.log"));
    let exe = std::env::current_exe().unwrap();
    let mut accepted = false;
    let mut finished = false;
    let mut mid_group_kills = 0;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for run in 0..MAX_CHILD_RUNS {
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", child_test, "--nocapture", "--test-threads=1"])
            .env("LUNORA_CRASH_DIR", dir.path())
            .envs(accepted.then_some(("LUNORA_ACCEPTED", "1")))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader =
            std::thread::spawn(move || BufReader::new(stdout).lines().map_while(|l| l.ok()).collect::<Vec<String>>());
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (effects_before, acks_before) = (file_len(&effects_log), file_len(&acks_log));
        // Killed 0-7 ms after this run's first step effect: while steps complete back to back.
        let delay = Duration::from_millis(rng % 8);
        let start = Instant::now();
        let mut clock_from = None;
        let mut killed = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if clock_from.is_none() && file_len(&effects_log) > effects_before {
                clock_from = Some(Instant::now());
            }
            if clock_from.is_some_and(|t| t.elapsed() >= delay) && run + 1 < MAX_CHILD_RUNS {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed = true;
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "child run {run} hung");
            std::thread::sleep(Duration::from_micros(200));
        }
        let lines = reader.join().unwrap();
        accepted |= lines.iter().any(|l| l.contains("ACCEPTED"));
        if killed {
            // Steps of this run whose effect ran but whose completion the body had not received:
            // committed or waiting for an fsync when the kill landed.
            let acked: BTreeSet<String> = logged(&acks_log, acks_before).into_iter().map(|(_, n)| n).collect();
            let pending: BTreeSet<String> = logged(&effects_log, effects_before)
                .into_iter()
                .filter(|(_, nonce)| !acked.contains(nonce))
                .map(|((inst, _), _)| inst)
                .collect();
            if pending.len() >= 2 {
                mid_group_kills += 1;
            }
        }
        if lines.iter().any(|l| l.contains("ALL-DONE")) {
            finished = true;
            break;
        }
    }
    assert!(finished, "no child finished in {MAX_CHILD_RUNS} runs");

    let engine = Engine::builder().path(dir.path().join("journal.db")).register::<Burst>().open().await.unwrap();
    let acks = logged(&acks_log, 0);
    let mut last_effect: HashMap<(String, String), String> = HashMap::new();
    for (key, nonce) in logged(&effects_log, 0) {
        last_effect.insert(key, nonce);
    }
    let mut stored: HashMap<(String, String), String> = HashMap::new();
    for i in 0..BURST_INSTANCES {
        let id = burst_id(i);
        let status = engine.workflow::<Burst>().get(&id).await.unwrap().status().await.unwrap();
        assert_eq!(status.status, InstanceStatusKind::Complete, "{id}");
        for (step, nonce) in status.output.unwrap().into_iter().enumerate() {
            let key = (id.clone(), format!("s{step}"));
            assert_eq!(last_effect[&key], nonce, "{id} s{step} ran again after it completed");
            stored.insert(key, nonce);
        }
    }
    for (key, nonce) in &acks {
        assert_eq!(&stored[key], nonce, "{key:?}: the acknowledged completion was lost");
    }
    assert!(mid_group_kills >= 10, "only {mid_group_kills} kills landed with completions of several instances pending");
    eprintln!("{mid_group_kills} kills with completions of several instances pending; {} acknowledgements", acks.len());
}
