//! One journal, one owner: a second engine on a journal file in use, in another process or in
//! this one, is refused with a message naming the holder (or waits for it when asked), so an
//! interrupted step is never recovered and run by two engines at once.
//!
//! The two-process test re-executes this test binary as children (`owner_child`, ignored on
//! its own), as durability.rs does: a first child starts a step that appends its pid to an
//! effects file and is killed with SIGKILL mid-step; then two children open the journal at
//! the same moment and race to recover the step.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lunora_runtime::local::Engine;
use lunora_runtime::*;

struct Appender;

impl Workflow for Appender {
    type Params = String;
    type Output = ();
    const NAME: &'static str = "appender";
    const EXPORT_NAME: &'static str = "appender";

    async fn run(ctx: WorkflowContext<String>) -> Result<()> {
        let effects = PathBuf::from(&ctx.params);
        let retries = StepConfig::new().retries(10, "1 ms").backoff(Backoff::Constant);
        ctx.step
            .do_with("side effect", retries, move |_| {
                let effects = effects.clone();
                async move {
                    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&effects)?;
                    writeln!(f, "{}", std::process::id())?;
                    if std::env::var_os("LUNORA_OWNER_HANG").is_some() {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    // Long enough for a second engine on the same journal to start it too.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(())
                }
            })
            .await
    }
}

fn builder(db: &Path) -> lunora_runtime::local::EngineBuilder {
    Engine::builder().path(db).register::<Appender>().default_retry_delay(Duration::from_millis(1))
}

/// The child: `seed` creates the instance (its step hangs until the parent kills it);
/// `recover` opens the journal, lets the step finish, then holds the journal until told to go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of two_processes_never_run_one_interrupted_step_twice"]
async fn owner_child() {
    let dir = PathBuf::from(std::env::var("LUNORA_OWNER_DIR").expect("run by the parent test"));
    let db = dir.join("journal.db");
    let mut out = std::io::stdout();
    let engine = match builder(&db).open().await {
        Ok(engine) => engine,
        Err(e) => {
            writeln!(out, "REFUSED {}", e.message()).unwrap();
            return;
        }
    };
    let wf = engine.workflow::<Appender>();
    if std::env::var("LUNORA_OWNER_MODE").as_deref() == Ok("seed") {
        let effects = dir.join("effects.log").display().to_string();
        wf.create(CreateOptions::params(effects).with_id("x")).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let inst = wf.get("x").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !inst.status().await.unwrap().status.is_terminal() {
        assert!(Instant::now() < deadline, "the recovered step did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writeln!(out, "COMPLETE {}", inst.status().await.unwrap().status).unwrap();
    out.flush().unwrap();
    while !dir.join("release").exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A child process, killed if still running when dropped; its stdout lines arrive on `lines`.
struct ChildProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildProcess {
    fn spawn(dir: &Path, mode: &str, hang: bool) -> Self {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", "owner_child", "--nocapture", "--test-threads=1"])
            .env("LUNORA_OWNER_DIR", dir)
            .env("LUNORA_OWNER_MODE", mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if hang {
            cmd.env("LUNORA_OWNER_HANG", "1");
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                let _ = tx.send(line);
            }
        });
        Self { child, lines }
    }

    /// The first line reporting how the child's open went (the harness may prefix it).
    fn outcome(&self) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    for tag in ["REFUSED ", "COMPLETE "] {
                        if let Some(at) = line.find(tag) {
                            return line[at..].to_owned();
                        }
                    }
                }
                Err(e) => panic!("child {} said nothing conclusive: {e}", self.child.id()),
            }
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[test]
fn two_processes_never_run_one_interrupted_step_twice() {
    let dir = tempfile::tempdir().unwrap();
    let effects = dir.path().join("effects.log");

    // A step in flight when its process dies: the journal says "running".
    let mut seed = ChildProcess::spawn(dir.path(), "seed", true);
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(&effects).is_empty() {
        assert!(Instant::now() < deadline, "the seed child never started its step");
        std::thread::sleep(Duration::from_millis(2));
    }
    seed.child.kill().unwrap(); // SIGKILL: its journal lock goes with it
    seed.child.wait().unwrap();

    // Two processes open the journal at once; both would recover the step.
    let first = ChildProcess::spawn(dir.path(), "recover", false);
    let second = ChildProcess::spawn(dir.path(), "recover", false);
    let outcomes = [(first.outcome(), second.child.id()), (second.outcome(), first.child.id())];
    let ran = lines(&effects);
    std::fs::write(dir.path().join("release"), "").unwrap();

    assert_eq!(ran.len(), 2, "the step ran once before the kill and once after, by one process: {ran:?}");
    let completed: Vec<_> = outcomes.iter().filter(|(o, _)| o.starts_with("COMPLETE")).collect();
    assert_eq!(completed.len(), 1, "{outcomes:?}");
    assert_eq!(completed[0].0, "COMPLETE complete");
    let (refusal, holder) = outcomes.iter().find(|(o, _)| o.starts_with("REFUSED")).expect("one was refused");
    let db = dir.path().join("journal.db");
    let expected = format!("REFUSED the lunora journal {} is in use by process {holder} (", db.display());
    assert!(refusal.starts_with(&expected), "{refusal}\nexpected it to start with: {expected}");
    assert!(
        refusal.ends_with(
            "; stop it, close its engine, or use another file (EngineBuilder::wait_for_journal waits \
             for it to be released)"
        ),
        "{refusal}"
    );
    assert!(refusal.contains(" since 20"), "the message says since when: {refusal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_in_the_same_process_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let first = builder(&db).open().await.unwrap();
    let err = match builder(&db).open().await {
        Ok(_) => panic!("a second engine opened a journal in use"),
        Err(e) => e,
    };
    let head = format!("the lunora journal {} is in use by process {} (", db.display(), std::process::id());
    assert!(err.message().starts_with(&head), "{err}");
    assert!(err.message().contains(", this process)"), "{err}");
    assert_eq!(err.name(), "WorkflowInternalError");

    first.close().await;
    let again = builder(&db).open().await.expect("close released the journal");
    again.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_journal_waits_for_the_owner_to_close_and_gives_up_after_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let first = builder(&db).open().await.unwrap();

    let err = match builder(&db).wait_for_journal(Duration::from_millis(60)).open().await {
        Ok(_) => panic!("opened a journal in use"),
        Err(e) => e,
    };
    assert!(err.message().contains(", this process) "), "{err}");
    assert!(err.message().contains(" since "), "{err}");
    assert!(err.message().contains(" (waited 60ms); stop it"), "{err}");

    let closer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        first.close().await;
    });
    let second = builder(&db).wait_for_journal(Duration::from_secs(60)).open().await.expect("waited for the close");
    closer.await.unwrap();
    second.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_opening_a_fresh_file_at_once_create_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let opens: Vec<_> = (0..4).map(|_| tokio::spawn(builder(&db).open())).collect();
    let mut engines = Vec::new();
    let mut refusals = Vec::new();
    for open in opens {
        match open.await.unwrap() {
            Ok(engine) => engines.push(engine),
            Err(e) => refusals.push(e.message().to_owned()),
        }
    }
    assert_eq!(engines.len(), 1, "exactly one engine owns the file; the others: {refusals:?}");
    for refusal in &refusals {
        assert!(refusal.contains(" is in use by process "), "{refusal}");
    }
    let wf = engines[0].workflow::<Appender>();
    let effects = dir.path().join("effects.log").display().to_string();
    let inst = wf.create(CreateOptions::params(effects).with_id("x")).await.unwrap();
    while !inst.status().await.unwrap().status.is_terminal() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    engines.pop().unwrap().close().await;
    let reopened = builder(&db).open().await.expect("the schema is whole");
    let status = reopened.workflow::<Appender>().get("x").await.unwrap().status().await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete);
    reopened.close().await;
}
