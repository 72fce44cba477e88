//! Stream steps on the embedded engine: MiB/s of a 64 MiB stream written through `do_stream`
//! into a journal file (fsynced, `Durability::Full`) and read back through `StepBytes`, against
//! the same chunks inserted into and selected from a bare SQLite file of the same schema, in
//! the same process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_util::stream;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;

const CHUNK: usize = 1 << 20;
const CHUNKS: usize = 64;
const STORED: usize = 256 * 1024;

static WRITE_NS: AtomicU64 = AtomicU64::new(0);
static READ_NS: AtomicU64 = AtomicU64::new(0);

fn chunk(i: usize) -> Vec<u8> {
    (0..CHUNK).map(|j| (i * 7 + j) as u8).collect()
}

struct Big;

impl Workflow for Big {
    type Params = ();
    type Output = usize;
    const NAME: &'static str = "big";
    const EXPORT_NAME: &'static str = "big";

    async fn run(ctx: WorkflowContext<()>) -> Result<usize> {
        let chunks: Vec<Vec<u8>> = (0..CHUNKS).map(chunk).collect();
        let start = Instant::now();
        let out = ctx
            .step
            .do_stream("big", move |_| {
                let chunks = chunks.clone();
                async move { Ok(stream::iter(chunks.into_iter().map(Ok))) }
            })
            .await?;
        WRITE_NS.store(start.elapsed().as_nanos() as u64, Ordering::SeqCst);
        let start = Instant::now();
        let len = out.to_vec().await?.len();
        READ_NS.store(start.elapsed().as_nanos() as u64, Ordering::SeqCst);
        Ok(len)
    }
}

fn mib_per_s(ns: u64) -> f64 {
    (CHUNK * CHUNKS) as f64 / (1 << 20) as f64 / (ns as f64 / 1e9)
}

/// The same bytes as 256 KiB rows of `step_chunks` in a bare SQLite file (WAL, one autocommit
/// insert per chunk, one fsync at the end), then selected back one by one.
fn baseline(dir: &std::path::Path) -> (u64, u64) {
    let conn = rusqlite::Connection::open(dir.join("bare.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.execute_batch(lunora_runtime::local::SCHEMA).unwrap();
    let all: Vec<u8> = (0..CHUNKS).flat_map(chunk).collect();
    let start = Instant::now();
    {
        let mut insert = conn
            .prepare("INSERT INTO step_chunks (workflow, instance, name, count, attempt, idx, chunk) VALUES ('b', 'i', 's', 1, 1, ?1, ?2)")
            .unwrap();
        for (idx, piece) in all.chunks(STORED).enumerate() {
            insert.execute(rusqlite::params![idx as u32, piece]).unwrap();
        }
    }
    std::fs::File::open(dir.join("bare.db-wal")).unwrap().sync_all().unwrap();
    let write = start.elapsed().as_nanos() as u64;
    let start = Instant::now();
    let mut read = 0;
    {
        let mut select = conn
            .prepare("SELECT chunk FROM step_chunks WHERE workflow = 'b' AND instance = 'i' AND name = 's' AND count = 1 AND attempt = 1 AND idx = ?1")
            .unwrap();
        for idx in 0..all.len() / STORED {
            let piece: Vec<u8> = select.query_row([idx as u32], |r| r.get(0)).unwrap();
            read += piece.len();
        }
    }
    assert_eq!(read, all.len());
    (write, start.elapsed().as_nanos() as u64)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let t = TestEngine::builder().path(dir.path().join("journal.db")).register::<Big>().open().await.unwrap();
        let instance = t.workflow::<Big>().create(CreateOptions::default().with_id("b")).await.unwrap();
        let status = t.run_to_completion(&instance).await.unwrap();
        assert_eq!(status.output, Some(serde_json::json!(CHUNK * CHUNKS)));
    });
    let (write, read) = (WRITE_NS.load(Ordering::SeqCst), READ_NS.load(Ordering::SeqCst));
    let (bare_write, bare_read) = baseline(dir.path());
    println!(
        "do_stream of {} MiB into a journal file: {:.0} MiB/s written, {:.0} MiB/s read back",
        CHUNKS,
        mib_per_s(write),
        mib_per_s(read)
    );
    println!(
        "baseline, the same 256 KiB chunks in a bare SQLite file: {:.0} MiB/s written, {:.0} MiB/s read",
        mib_per_s(bare_write),
        mib_per_s(bare_read)
    );
    println!(
        "ratio: the engine writes at {:.2}× and reads at {:.2}× the bare file's speed",
        bare_write as f64 / write as f64,
        bare_read as f64 / read as f64
    );
}
