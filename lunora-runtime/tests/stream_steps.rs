//! Stream steps (`ctx.step.do_stream`) on the embedded engine, on real SQLite files: bytes are
//! stored re-cut into 256 KiB chunks and replayed from the journal (after a restart, after
//! kill -9 mid-stream), a retried attempt's bytes replace the failed one's, workerd's limits end
//! the instance, deleting or restarting an instance removes its bytes, and histories show
//! workerd's preview.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use lunora_runtime::context::Level;
use lunora_runtime::history::RecordState;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};

mod common;
use common::{effects, Effects};

const START: i64 = 1_767_225_600_000;
const KIB: usize = 1024;

/// `len` bytes that are not UTF-8 from the first one, different per `seed`.
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| 0x80 | ((i as u8).wrapping_mul(31).wrapping_add(seed) & 0x7f)).collect()
}

fn digest(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// What a consumer saw of a `StepBytes`: its chunk sizes and a digest of the bytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Seen {
    sizes: Vec<usize>,
    len: usize,
    digest: u64,
}

async fn read(mut out: StepBytes) -> Result<Seen> {
    let mut seen = Seen::default();
    let mut all = Vec::new();
    while let Some(chunk) = out.next_chunk().await {
        let chunk = chunk?;
        seen.sizes.push(chunk.len());
        all.extend_from_slice(&chunk);
    }
    seen.len = all.len();
    seen.digest = digest(&all);
    Ok(seen)
}

type Chunks = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Vec<u8>>> + Send>>;

fn boxed(chunks: impl futures_util::Stream<Item = Result<Vec<u8>>> + Send + 'static) -> Chunks {
    Box::pin(chunks)
}

fn ok_chunks(chunks: Vec<Vec<u8>>) -> impl futures_util::Stream<Item = Result<Vec<u8>>> + Send + 'static {
    stream::iter(chunks.into_iter().map(Ok))
}

/// The bytes `Produce` streams: 5 bytes, 70 KiB, 300 KiB.
fn produced() -> Vec<Vec<u8>> {
    vec![b"hello".to_vec(), bytes(70 * KIB, 1), bytes(300 * KIB, 2)]
}

/// Streams three chunks (one over 64 KiB), a later step consumes them, a sleep hibernates the
/// instance, then the replayed stream is read again.
struct Produce;

impl Workflow for Produce {
    type Params = ();
    type Output = (Seen, Seen);
    const NAME: &'static str = "produce";
    const EXPORT_NAME: &'static str = "produce";

    async fn run(ctx: WorkflowContext<()>) -> Result<(Seen, Seen)> {
        // Looked up in the callback, which a replay never calls (its env has no Effects).
        let env = ctx.env.clone();
        let out = ctx
            .step
            .do_stream("produce", move |_| {
                let fx = effects(&env);
                async move {
                    fx.push("produce ran");
                    Ok(ok_chunks(produced()))
                }
            })
            .await?;
        // Read on every execution: the first reads what was just stored, a replay reads the journal.
        let seen = read(out).await?;
        let kept = seen.clone();
        let consumed: Seen = ctx
            .step
            .do_("consume", move |_| {
                let kept = kept.clone();
                async move { Ok(kept) }
            })
            .await?;
        ctx.step.sleep("nap", "1 hour").await?;
        Ok((consumed, seen))
    }
}

fn expected() -> Seen {
    let all: Vec<u8> = produced().concat();
    Seen { sizes: vec![256 * KIB, all.len() - 256 * KIB], len: all.len(), digest: digest(&all) }
}

async fn open_file(db: &Path, fx: &Effects, start: i64) -> TestEngine {
    TestEngine::builder()
        .path(db)
        .env(Env::new().with(fx.clone()))
        .start_time(start)
        .wait_for_journal(Duration::from_secs(5))
        .register::<Produce>()
        .register::<Reread>()
        .register::<Retried>()
        .register::<Refused>()
        .register::<Texts>()
        .open()
        .await
        .expect("engine opens")
}

/// Reads the stream once before a sleep and once after (a replay), in one output.
struct Reread;

impl Workflow for Reread {
    type Params = ();
    type Output = Vec<Seen>;
    const NAME: &'static str = "reread";
    const EXPORT_NAME: &'static str = "reread";

    async fn run(ctx: WorkflowContext<()>) -> Result<Vec<Seen>> {
        let fx = effects(&ctx.env);
        let out = ctx
            .step
            .do_stream("produce", move |_| {
                let fx = fx.clone();
                async move {
                    fx.push("produce ran");
                    Ok(ok_chunks(produced()))
                }
            })
            .await?;
        // Read on every execution: before the sleep on the first, from the journal after it.
        let seen = read(out).await?;
        let kept = seen.clone();
        let before: Seen = ctx
            .step
            .do_("before", move |_| {
                let kept = kept.clone();
                async move { Ok(kept) }
            })
            .await?;
        ctx.step.sleep("nap", "1 hour").await?;
        let again = ctx.step.do_stream("produce-again", |_| async { Ok(ok_chunks(vec![b"x".to_vec()])) }).await?;
        assert_eq!(again.to_vec().await?, b"x");
        Ok(vec![before, seen])
    }
}

fn sqlite(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).unwrap()
}

fn chunk_attempts(db: &Path, name: &str) -> Vec<(u32, u32)> {
    let conn = sqlite(db);
    let mut stmt = conn
        .prepare("SELECT attempt, count(*) FROM step_chunks WHERE name = ?1 GROUP BY attempt ORDER BY attempt")
        .unwrap();
    stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_stored_rechunked_consumed_and_replayed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fx = Effects::default();
    let t = open_file(&db, &fx, START).await;
    let inst = t.workflow::<Produce>().create(CreateOptions::default().with_id("p")).await.unwrap();
    // Runs until the sleep: the stream was read and consumed.
    t.run_until(&inst, "the nap", |_, steps| steps.iter().any(|s| s.name == "nap")).await.unwrap();
    assert_eq!(fx.count("produce ran"), 1);
    assert_eq!(chunk_attempts(&db, "produce"), [(1, 2)], "370 KiB in 256 KiB chunks, of attempt 1");
    t.engine().clone().close().await;
    drop(inst);
    drop(t);

    // A new process (engine) after the sleep's end: the body replays, `produce` is answered from
    // the file and never runs again.
    let t = open_file(&db, &fx, START + 2 * 3_600_000).await;
    let inst = t.workflow::<Produce>().get("p").await.unwrap();
    let status = t.wait_for_status(&inst, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(fx.count("produce ran"), 1, "a replay does not run the stream again");
    let (consumed, replayed): (Seen, Seen) = serde_json::from_value(status.output.unwrap()).unwrap();
    assert_eq!(consumed, expected(), "what the consumer step got on the first run");
    assert_eq!(replayed, expected(), "what the body read from the file after the restart");
    // The history shows workerd's preview of binary bytes.
    let history = t.engine().history("produce", "p").unwrap();
    let produce = history.steps.iter().find(|s| s.name == "produce" && s.count == 1).unwrap();
    assert_eq!(produce.state, RecordState::Done);
    assert_eq!(produce.output, Some(serde_json::json!("[ReadableStream (binary): 378885 bytes]")));
    // Replay stops at the stream step: the history holds its preview, not its bytes.
    let report = lunora_runtime::replay::replay::<Produce>(&history).unwrap();
    match &report.outcome {
        Ok(lunora_runtime::replay::Continuation::Streamed(step)) => {
            assert_eq!((step.index, step.step.name.as_str()), (1, "produce"))
        }
        other => panic!("expected a stop at the stream step, got {other:?}"),
    }
    assert!(
        report.to_string().contains("which returned a byte stream whose bytes the history does not hold"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_stream_yields_the_same_chunks_as_the_first_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fx = Effects::default();
    let t = open_file(&db, &fx, START).await;
    let inst = t.workflow::<Reread>().create(CreateOptions::default().with_id("r")).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    let seen: Vec<Seen> = serde_json::from_value(status.output.unwrap()).unwrap();
    assert_eq!(seen, [expected(), expected()]);
    assert_eq!(fx.count("produce ran"), 1);
}

/// Attempt 1 streams 300 KiB then stalls past the 1 s timeout; attempt 2 streams other bytes.
struct Retried;

impl Workflow for Retried {
    type Params = ();
    type Output = Seen;
    const NAME: &'static str = "retried";
    const EXPORT_NAME: &'static str = "retried";

    async fn run(ctx: WorkflowContext<()>) -> Result<Seen> {
        let fx = effects(&ctx.env);
        let config = StepConfig::new().retries(2, "1 second").backoff(Backoff::Constant).timeout("1 second");
        let out = ctx
            .step
            .do_stream_with("flaky", config, move |s| {
                let fx = fx.clone();
                async move {
                    fx.push(format!("attempt {}", s.attempt));
                    Ok(match s.attempt {
                        1 => boxed(ok_chunks(vec![bytes(300 * KIB, 7)]).chain(stream::pending())),
                        _ => boxed(ok_chunks(vec![b"second attempt".to_vec()])),
                    })
                }
            })
            .await?;
        let seen = read(out).await?;
        ctx.step
            .do_("consume", move |_| {
                let seen = seen.clone();
                async move { Ok(seen) }
            })
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_discards_the_bytes_of_the_attempt_that_timed_out_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fx = Effects::default();
    let t = open_file(&db, &fx, START).await;
    let inst = t.workflow::<Retried>().create(CreateOptions::default().with_id("f")).await.unwrap();
    // Attempt 1 has written its first 256 KiB chunk and stalls.
    let deadline = Instant::now() + Duration::from_secs(10);
    while chunk_attempts(&db, "flaky") != [(1, 1)] {
        assert!(Instant::now() < deadline, "attempt 1 never wrote a chunk: {:?}", chunk_attempts(&db, "flaky"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Past its 1 s timeout: the attempt fails and the instance waits for the retry.
    t.advance(Duration::from_millis(1_500)).await;
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(fx.all(), ["attempt 1", "attempt 2"]);
    let seen: Seen = serde_json::from_value(status.output.unwrap()).unwrap();
    assert_eq!(seen, Seen { sizes: vec![14], len: 14, digest: digest(b"second attempt") });
    assert_eq!(chunk_attempts(&db, "flaky"), [(2, 1)], "attempt 1's chunk is gone");
    let steps = t.steps(&inst).unwrap();
    let flaky = steps.iter().find(|s| s.name == "flaky").unwrap();
    assert_eq!(flaky.attempts, 2);
    assert_eq!(flaky.attempt_log[0].error.as_ref().unwrap().name(), "WorkflowTimeoutError");
    assert_eq!(flaky.output, Some(serde_json::json!("second attempt")), "the text preview");
}

/// What `Refused` streams, by params.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
enum Bad {
    #[default]
    OversizedChunk,
    FailsMidStream,
    OverTotal,
    FailsBeforeStream,
}

/// A stream workerd refuses; `after` must never run.
struct Refused;

impl Workflow for Refused {
    type Params = Bad;
    type Output = String;
    const NAME: &'static str = "refused";
    const EXPORT_NAME: &'static str = "refused";

    async fn run(ctx: WorkflowContext<Bad>) -> Result<String> {
        let fx = effects(&ctx.env);
        let bad = ctx.params.clone();
        if matches!(bad, Bad::OverTotal) {
            let out = ctx.step.do_stream("first", |_| async { Ok(ok_chunks(vec![bytes(600 * KIB, 1)])) }).await?;
            read(out).await?;
        }
        let config = StepConfig::new().retries(3, "1 second").backoff(Backoff::Constant);
        let out = ctx
            .step
            .do_stream_with("bad", config, move |s| {
                let (fx, bad) = (fx.clone(), bad.clone());
                async move {
                    fx.push(format!("bad attempt {}", s.attempt));
                    Ok(match bad {
                        Bad::OversizedChunk => boxed(ok_chunks(vec![b"ok".to_vec(), vec![0; 16 * 1024 * 1024 + 1]])),
                        Bad::FailsMidStream => {
                            boxed(ok_chunks(vec![bytes(300 * KIB, 3)]).chain(stream::iter([Err(Error::new("boom"))])))
                        }
                        Bad::OverTotal => boxed(ok_chunks(vec![bytes(300 * KIB, 4), bytes(300 * KIB, 5)])),
                        Bad::FailsBeforeStream if s.attempt < 3 => return Err(Error::new("not yet")),
                        Bad::FailsBeforeStream => boxed(ok_chunks(vec![b"third".to_vec()])),
                    })
                }
            })
            .await?;
        let seen = read(out).await?;
        ctx.step.do_("after", move |_| async move { Ok(format!("{} bytes", seen.len)) }).await
    }
}

/// What a `Refused` run left: its status, effects, journal file, the step `bad`'s last attempt
/// error and the log lines.
struct RefusedRun {
    status: InstanceStatus<serde_json::Value>,
    fx: Effects,
    db: PathBuf,
    bad_error: Option<Error>,
    logs: Vec<(Level, String)>,
    _dir: tempfile::TempDir,
}

async fn refused(bad: Bad) -> RefusedRun {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fx = Effects::default();
    let t = TestEngine::builder()
        .path(&db)
        .env(Env::new().with(fx.clone()))
        .start_time(START)
        .stream_storage_limit(1024 * 1024)
        .register::<Refused>()
        .open()
        .await
        .unwrap();
    let inst = t.workflow::<Refused>().create(CreateOptions::params(bad).with_id("x")).await.unwrap();
    t.run_to_completion(&inst).await.unwrap();
    let status = inst.status_json().await.unwrap();
    let steps = t.steps(&inst).unwrap();
    let bad_error = steps.iter().find(|s| s.name == "bad").and_then(|s| s.attempt_log.last()?.error.clone());
    let logs = t.logs();
    t.engine().clone().close().await;
    RefusedRun { status, fx, db, bad_error, logs, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_over_16_mib_ends_the_instance_without_retry() {
    let RefusedRun { status, fx, db, _dir, .. } = refused(Bad::OversizedChunk).await;
    assert_eq!(status.status, InstanceStatusKind::Errored);
    let error = status.error.unwrap();
    assert_eq!(error.name(), "WorkflowFatalError");
    assert_eq!(
        error.message(),
        "The execution of the Workflow instance was terminated, as the step \"bad\" returned an invalid \
         ReadableStream output. Step returned a ReadableStream chunk larger than the maximum allowed size of \
         16777216 bytes. Return smaller chunks from step.do()."
    );
    assert_eq!(fx.all(), ["bad attempt 1"], "no retry");
    assert_eq!(chunk_attempts(&db, "bad"), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_failing_after_it_was_returned_ends_the_instance_and_leaves_no_bytes() {
    let RefusedRun { status, fx, db, bad_error, logs, _dir } = refused(Bad::FailsMidStream).await;
    assert_eq!(status.status, InstanceStatusKind::Errored);
    let error = status.error.unwrap();
    // workerd's words: the failure does not cross RPC, so workerd says the stream broke off.
    let why =
        "Failed to read from step ReadableStream output. ReadableStream received over RPC disconnected prematurely.";
    assert_eq!(error.name(), "WorkflowFatalError");
    assert_eq!(
        error.message(),
        format!(
            "The execution of the Workflow instance was terminated, as the step \"bad\" returned an invalid \
             ReadableStream output. {why}"
        )
    );
    let bad_error = bad_error.unwrap();
    assert_eq!((bad_error.name(), bad_error.message()), ("WorkflowFatalError", why), "the step's own error");
    // The stream's own error is in the log.
    assert!(
        logs.iter().any(|(level, line)| *level == Level::Error
            && line.contains("the stream of step \"bad\" failed after it was returned: Error: boom")),
        "{logs:?}"
    );
    assert_eq!(fx.all(), ["bad attempt 1"]);
    assert_eq!(chunk_attempts(&db, "bad"), [], "the 256 KiB chunk written before the failure is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_bytes_over_the_instance_limit_end_it() {
    let RefusedRun { status, fx, db, _dir, .. } = refused(Bad::OverTotal).await;
    assert_eq!(status.status, InstanceStatusKind::Errored);
    let error = status.error.unwrap();
    assert_eq!(
        (error.name(), error.message()),
        ("WorkflowFatalError", "The instance has exceeded the 1MiB storage limit")
    );
    assert_eq!(fx.all(), ["bad attempt 1"]);
    assert_eq!(chunk_attempts(&db, "bad"), []);
    assert_eq!(chunk_attempts(&db, "first"), [(1, 3)], "the earlier step keeps its output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_failing_before_its_stream_is_retried() {
    let RefusedRun { status, fx, _dir, .. } = refused(Bad::FailsBeforeStream).await;
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(status.output, Some(serde_json::json!("5 bytes")));
    assert_eq!(fx.all(), ["bad attempt 1", "bad attempt 2", "bad attempt 3"]);
}

/// An empty stream, a short text and a long text: their previews.
struct Texts;

impl Workflow for Texts {
    type Params = ();
    type Output = Vec<usize>;
    const NAME: &'static str = "texts";
    const EXPORT_NAME: &'static str = "texts";

    async fn run(ctx: WorkflowContext<()>) -> Result<Vec<usize>> {
        let empty = ctx.step.do_stream("empty", |_| async { Ok(stream::empty::<Result<Vec<u8>>>()) }).await?;
        let empty_len = empty.len_hint();
        let empty = empty.to_vec().await?;
        let short =
            ctx.step.do_stream("short", |_| async { Ok(ok_chunks(vec![b"hello ".to_vec(), b"world".to_vec()])) });
        // `StepBytes` is a `Stream`: read it with `StreamExt::next` here.
        let mut chunks = short.await?;
        let mut short = Vec::new();
        while let Some(chunk) = chunks.next().await {
            short.extend(chunk?);
        }
        let long = ctx
            .step
            .do_stream("long", |_| async { Ok(stream::iter((0..2000).map(|_| Ok::<_, Error>("a")))) })
            .await?
            .to_vec()
            .await?;
        Ok(vec![empty.len(), empty_len.unwrap_or(99) as usize, short.len(), long.len()])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_text_streams_and_their_previews() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fx = Effects::default();
    let t = open_file(&db, &fx, START).await;
    let inst = t.workflow::<Texts>().create(CreateOptions::default().with_id("t")).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.output, Some(serde_json::json!([0, 0, 11, 2000])), "{status:?}");
    let outputs: Vec<_> = t.engine().history("texts", "t").unwrap().steps.into_iter().map(|s| s.output).collect();
    assert_eq!(
        outputs,
        [
            Some(serde_json::json!("")),
            Some(serde_json::json!("hello world")),
            Some(serde_json::json!(format!("{}[truncated output]", "a".repeat(1024)))),
        ]
    );
    assert_eq!(chunk_attempts(&db, "empty"), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_or_restarting_an_instance_removes_its_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fx = Effects::default();
    let t = open_file(&db, &fx, START).await;
    let wf = t.workflow::<Reread>();
    let a = wf.create(CreateOptions::default().with_id("a")).await.unwrap();
    let b = wf.create(CreateOptions::default().with_id("b")).await.unwrap();
    t.run_to_completion(&a).await.unwrap();
    t.run_to_completion(&b).await.unwrap();
    let per_instance = |db: &Path| -> Vec<(String, u32)> {
        let conn = sqlite(db);
        let mut stmt =
            conn.prepare("SELECT instance, count(*) FROM step_chunks GROUP BY instance ORDER BY instance").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    };
    assert_eq!(per_instance(&db), [("a".to_owned(), 3), ("b".to_owned(), 3)]);
    a.delete().await.unwrap();
    assert_eq!(per_instance(&db), [("b".to_owned(), 3)]);
    let records =
        |db: &Path| -> i64 { sqlite(db).query_row("SELECT count(*) FROM step_streams", [], |r| r.get(0)).unwrap() };
    assert_eq!(records(&db), 2, "b's two stream steps");
    // Restarting from the nap keeps `produce`'s bytes and drops those of `produce-again`, after it.
    b.restart_from(RestartFrom::step("nap").kind(StepKind::Sleep)).await.unwrap();
    t.run_until(&b, "the nap again", |s, _| s.status == InstanceStatusKind::Waiting).await.unwrap();
    assert_eq!(per_instance(&db), [("b".to_owned(), 2)], "only produce's chunks while it sleeps again");
    assert_eq!(records(&db), 1);
    t.run_to_completion(&b).await.unwrap();
    assert_eq!(per_instance(&db), [("b".to_owned(), 3)]);
    assert_eq!(fx.count("produce ran"), 2, "one per instance: the restart kept produce");
}

/// A version 2 journal (before stream steps), written with the schema as it was: a complete
/// instance and a queued one of `texts`.
fn write_version_2_journal(db: &Path) {
    let conn = sqlite(db);
    let v2: Vec<&str> = lunora_runtime::local::SCHEMA
        .split(";\n")
        .filter(|stmt| {
            !stmt.contains("CREATE TABLE step_chunks")
                && !stmt.contains("CREATE TABLE step_streams")
                && !stmt.contains("instance_events")
                && !stmt.contains("CREATE TABLE event_floors")
        })
        .collect();
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").unwrap();
    conn.execute_batch(&v2.join(";\n")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA application_id = {}; PRAGMA user_version = 2;",
        lunora_runtime::local::APPLICATION_ID
    ))
    .unwrap();
    conn.execute_batch(
        "INSERT INTO instances (workflow, id, status, params, created_at, started_at, ended_at, output)
             VALUES ('texts', 'old', 'complete', 'null', 1, 1, 2, '[1]');
         INSERT INTO steps (workflow, instance, kind, name, count, seq, state, attempts, output, started_at, ended_at)
             VALUES ('texts', 'old', 'do', 'legacy', 1, 1, 'done', 1, '\"kept\"', 1, 2);
         INSERT INTO instances (workflow, id, status, params, created_at) VALUES ('texts', 'queued', 'queued', 'null', 3);",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_journal_is_migrated_in_place_and_runs_stream_steps() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    write_version_2_journal(&db);
    let fx = Effects::default();
    let t = open_file(&db, &fx, START).await;
    let old = t.workflow::<Texts>().get("old").await.unwrap();
    assert_eq!(old.status().await.unwrap().status, InstanceStatusKind::Complete);
    let steps = t.steps(&old).unwrap();
    assert_eq!((steps[0].name.as_str(), steps[0].output.clone()), ("legacy", Some(serde_json::json!("kept"))));
    // The instance queued before the migration runs its stream steps on the migrated file.
    let queued = t.workflow::<Texts>().get("queued").await.unwrap();
    let status = t.run_to_completion(&queued).await.unwrap();
    assert_eq!(status.output, Some(serde_json::json!([0, 0, 11, 2000])), "{status:?}");
    assert_eq!(chunk_attempts(&db, "long"), [(1, 1)]);
    t.engine().clone().close().await;
    drop(t);
    let conn = sqlite(&db);
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 5);
}

const SLOW_CHUNKS: u32 = 24;

/// The bytes chunk `i` of attempt `attempt` of `Slow` streams.
fn slow_chunk(attempt: u32, i: u32) -> Vec<u8> {
    bytes(256 * KIB, (attempt * 50 + i) as u8)
}

/// Attempt 1 streams 24 chunks of 256 KiB 20 ms apart (the parent test kills the process
/// meanwhile); later attempts stream other bytes at once.
struct Slow;

impl Workflow for Slow {
    type Params = ();
    type Output = Seen;
    const NAME: &'static str = "slow";
    const EXPORT_NAME: &'static str = "slow";

    async fn run(ctx: WorkflowContext<()>) -> Result<Seen> {
        let config = StepConfig::new().retries(3, "1 ms").backoff(Backoff::Constant);
        let out = ctx
            .step
            .do_stream_with("slow", config, |s| async move {
                let attempt = s.attempt;
                Ok(stream::unfold(0, move |i| async move {
                    if i == SLOW_CHUNKS {
                        return None;
                    }
                    if attempt == 1 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Some((Ok::<_, Error>(slow_chunk(attempt, i)), i + 1))
                }))
            })
            .await?;
        let seen = read(out).await?;
        ctx.step
            .do_("consume", move |_| {
                let seen = seen.clone();
                async move { Ok(seen) }
            })
            .await
    }
}

/// The child of `kill_nine_mid_stream_then_resume`: starts the instance and waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of kill_nine_mid_stream_then_resume"]
async fn stream_crash_child() {
    let db = PathBuf::from(std::env::var("LUNORA_STREAM_DB").expect("run by the parent test"));
    let engine = lunora_runtime::local::Engine::builder().path(&db).register::<Slow>().open().await.unwrap();
    let inst = engine.workflow::<Slow>().create(CreateOptions::default().with_id("k")).await.unwrap();
    // Killed long before this ends.
    let _ = inst.wait_for_status(InstanceStatusKind::Complete, Some(Duration::from_secs(30))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_mid_stream_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "stream_crash_child", "--test-threads=1"])
        .env("LUNORA_STREAM_DB", &db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let written = |db: &Path| -> u32 {
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.query_row("SELECT count(*) FROM step_chunks WHERE attempt = 1", [], |r| r.get(0)))
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while written(&db) < 3 {
        assert!(child.try_wait().unwrap().is_none(), "the child ended before it was killed");
        assert!(Instant::now() < deadline, "the child never streamed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();
    let partial = written(&db);
    assert!((3..SLOW_CHUNKS).contains(&partial), "killed mid-stream: {partial} chunks of attempt 1 on disk");

    let t = TestEngine::builder()
        .path(&db)
        .wait_for_journal(Duration::from_secs(5))
        .register::<Slow>()
        .open()
        .await
        .unwrap();
    let inst = t.workflow::<Slow>().get("k").await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    let all: Vec<u8> = (0..SLOW_CHUNKS).flat_map(|i| slow_chunk(2, i)).collect();
    let seen: Seen = serde_json::from_value(status.output.unwrap()).unwrap();
    assert_eq!(seen, Seen { sizes: vec![256 * KIB; SLOW_CHUNKS as usize], len: all.len(), digest: digest(&all) });
    assert_eq!(chunk_attempts(&db, "slow"), [(2, SLOW_CHUNKS)], "the killed attempt's chunks are gone");
    let slow = &t.steps(&inst).unwrap()[0];
    assert_eq!(slow.attempts, 2);
    assert!(slow.attempt_log[0].error.as_ref().unwrap().message().contains("was interrupted"), "{slow:?}");
}

/// The workflow of `tests/fixtures/journal-v2.sqlite`, a journal lunora wrote at schema version 2
/// (commit 08e446a, before stream steps): `old` completed, `held` sleeps in `hold`. This
/// version adds a stream step after the sleep, which the migrated file must store.
struct Legacy;

impl Workflow for Legacy {
    type Params = u32;
    type Output = Vec<usize>;
    const NAME: &'static str = "legacy";
    const EXPORT_NAME: &'static str = "legacy";

    async fn run(ctx: WorkflowContext<u32>) -> Result<Vec<usize>> {
        let n: u32 = ctx.step.do_("legacy", |_| async { Ok(7u32) }).await?;
        if ctx.params == 1 {
            ctx.step.sleep("hold", "365 days").await?;
        }
        let after = ctx.step.do_stream("after", |_| async { Ok(ok_chunks(vec![bytes(300 * KIB, 9)])) }).await?;
        Ok(vec![n as usize, after.to_vec().await?.len()])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_written_by_the_version_2_engine_is_migrated_and_its_sleeper_streams() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-v2.sqlite");
    std::fs::copy(&fixture, &db).unwrap();
    assert_eq!(sqlite(&db).query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), 2);
    let t = TestEngine::builder().path(&db).start_time(START).register::<Legacy>().open().await.unwrap();
    let old = t.workflow::<Legacy>().get("old").await.unwrap();
    let status = old.status_json().await.unwrap();
    assert_eq!((status.status, status.output), (InstanceStatusKind::Complete, Some(serde_json::json!([7]))));
    let held = t.workflow::<Legacy>().get("held").await.unwrap();
    let status = t.run_to_completion(&held).await.unwrap();
    assert_eq!(status.output, Some(serde_json::json!([7, 300 * KIB])), "{status:?}");
    assert_eq!(chunk_attempts(&db, "after"), [(1, 2)]);
    t.engine().clone().close().await;
    assert_eq!(sqlite(&db).query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_output_missing_a_chunk_fails_the_step_instead_of_replaying_it_short() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let fx = Effects::default();
    let t = open_file(&db, &fx, START).await;
    let inst = t.workflow::<Produce>().create(CreateOptions::default().with_id("p")).await.unwrap();
    t.run_until(&inst, "the nap", |_, steps| steps.iter().any(|s| s.name == "nap")).await.unwrap();
    t.engine().clone().close().await;
    drop(inst);
    drop(t);
    // The file loses the second chunk (a hand edit, a bad restore): still a sound SQLite file.
    assert_eq!(sqlite(&db).execute("DELETE FROM step_chunks WHERE name = 'produce' AND idx = 1", []).unwrap(), 1);

    let t = open_file(&db, &fx, START + 2 * 3_600_000).await;
    let inst = t.workflow::<Produce>().get("p").await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    let error = status.error.unwrap();
    assert_eq!(
        (error.name(), error.message()),
        (
            "WorkflowInternalError",
            "Stored output for produce-1 is corrupt or incomplete. Expected 2 chunks / 378885 bytes, found 1 chunks \
             / 262144 bytes."
        )
    );
    assert_eq!(fx.count("produce ran"), 1, "the step is not run again over its damaged output");
}

/// Version 1 of `swap`: `produce` is a plain `do` step.
struct SwapV1;

impl Workflow for SwapV1 {
    type Params = ();
    type Output = usize;
    const NAME: &'static str = "swap";
    const EXPORT_NAME: &'static str = "swap";

    async fn run(ctx: WorkflowContext<()>) -> Result<usize> {
        let text: String = ctx.step.do_("produce", |_| async { Ok("plain".to_owned()) }).await?;
        ctx.step.sleep("nap", "1 hour").await?;
        Ok(text.len())
    }
}

/// Version 2 of `swap`: `produce` became a stream step while an instance slept.
struct SwapV2;

impl Workflow for SwapV2 {
    type Params = ();
    type Output = usize;
    const NAME: &'static str = "swap";
    const EXPORT_NAME: &'static str = "swap";

    async fn run(ctx: WorkflowContext<()>) -> Result<usize> {
        let out = ctx.step.do_stream("produce", |_| async { Ok(ok_chunks(vec![b"streamed".to_vec()])) }).await?;
        ctx.step.sleep("nap", "1 hour").await?;
        Ok(out.to_vec().await?.len())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_step_read_back_as_a_stream_step_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let t = TestEngine::builder().path(&db).start_time(START).register::<SwapV1>().open().await.unwrap();
    let inst = t.workflow::<SwapV1>().create(CreateOptions::default().with_id("s")).await.unwrap();
    t.run_until(&inst, "the nap", |_, steps| steps.iter().any(|s| s.name == "nap")).await.unwrap();
    t.engine().clone().close().await;
    drop(inst);
    drop(t);

    let t =
        TestEngine::builder().path(&db).start_time(START + 2 * 3_600_000).register::<SwapV2>().open().await.unwrap();
    let inst = t.workflow::<SwapV2>().get("s").await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    let error = status.error.unwrap();
    assert_eq!(error.name(), "WorkflowFatalError");
    assert_eq!(
        error.message(),
        "step \"produce\" (count 1) finished without a stored byte stream: it ran as a plain do_ step (or its \
         result was mocked) and the code now reads it with do_stream"
    );
}

/// A sensitive stream step: the body gets the bytes, histories show `[REDACTED]` (as workerd,
/// which then records no preview).
struct Secret;

impl Workflow for Secret {
    type Params = ();
    type Output = String;
    const NAME: &'static str = "secret";
    const EXPORT_NAME: &'static str = "secret";

    async fn run(ctx: WorkflowContext<()>) -> Result<String> {
        let config = StepConfig::new().sensitive_output();
        let out =
            ctx.step.do_stream_with("token", config, |_| async { Ok(ok_chunks(vec![b"s3cr3t".to_vec()])) }).await?;
        Ok(String::from_utf8_lossy(&out.to_vec().await?).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensitive_stream_step_is_redacted_in_histories() {
    let t = TestEngine::builder().start_time(START).register::<Secret>().open().await.unwrap();
    let inst = t.workflow::<Secret>().create(CreateOptions::default().with_id("s")).await.unwrap();
    let status = t.run_to_completion(&inst).await.unwrap();
    assert_eq!(status.output, Some(serde_json::json!("s3cr3t")), "the body got the real bytes");
    let history = t.engine().history("secret", "s").unwrap();
    assert_eq!(history.steps[0].output, Some(serde_json::json!(lunora_runtime::history::REDACTED_OUTPUT)));
    assert!(!history.to_pretty_string().contains("s3cr3t"));
}
