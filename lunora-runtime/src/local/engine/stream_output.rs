//! The outputs of stream steps on the embedded engine. `Run::do_stream` runs a stream step as a
//! `do` step whose attempt ([`persisting`]) reads the callback's stream to the end into the
//! journal (`step_chunks`), re-cut into chunks of `STORED_CHUNK_BYTES`, and whose output row
//! holds the preview histories show; the step then answers with a reader over the stored chunks
//! ([`open`]), on the first run as on every replay.
//!
//! Retries, timeouts and the attempt log are the `do` step's own: reading the stream is part of
//! the attempt, so a stream still running at the timeout fails the attempt. An attempt that ends
//! without completing its stream (failed, timed out, dropped, killed) leaves no bytes behind:
//! its chunks are removed when it ends, or, after a crash, when the next attempt starts.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::state::Inner;
use crate::erased::Json;
use crate::error::{Error, Result};
use crate::local::journal::{storage, StreamKey, StreamMeta};
use crate::local::mutex::lock;
use crate::step::{AttemptFn, StreamAttemptFn};
use crate::step_bytes::{
    limit_text, preview, refused, ByteChunks, StepBytes, MAX_INPUT_CHUNK_BYTES, PREVIEW_BYTES, STORED_CHUNK_BYTES,
    STREAM_DISCONNECTED, STREAM_STORAGE_FULL,
};

/// The attempt a stream step runs as: the callback, then its stream read into the journal.
pub(super) fn persisting<'a>(inner: Arc<Inner>, key: StreamKey, mut attempt: StreamAttemptFn<'a>) -> AttemptFn<'a> {
    Box::new(move |ctx| {
        let number = ctx.attempt;
        let started = attempt(ctx);
        let (inner, key) = (inner.clone(), key.clone());
        Box::pin(async move {
            // A callback that fails before returning its stream is retried like any step.
            let chunks = started.await?;
            persist(inner, key, number, chunks).await
        })
    })
}

/// Forgets what a step that failed for good streamed (best effort: the error is what matters).
pub(super) fn discard(inner: &Inner, key: &StreamKey) {
    let _ = lock(&inner.journal).clear_stream(key);
}

/// Reads one attempt's stream to the end into the journal; the output row gets its preview.
async fn persist(inner: Arc<Inner>, key: StreamKey, attempt: u32, mut chunks: ByteChunks) -> Result<Json> {
    let mut writer = AttemptWriter::begin(inner, key, attempt)?;
    while let Some(item) = poll_fn(|cx| chunks.as_mut().poll_next(cx)).await {
        // The failure itself was logged on its way (see `step_stream`); workerd reports
        // only that the stream broke off, and so does this engine.
        let bytes = item
            .map_err(|_| refused(format!("Failed to read from step ReadableStream output. {STREAM_DISCONNECTED}")))?;
        writer.push(bytes)?;
    }
    writer.finish()
}

/// The chunks of one attempt as they are written; dropped unfinished, it removes them.
struct AttemptWriter {
    inner: Arc<Inner>,
    key: StreamKey,
    attempt: u32,
    /// Streamed bytes the instance's other steps already hold.
    others: u64,
    written: u64,
    chunks: u32,
    pending: Vec<u8>,
    head: Vec<u8>,
    finished: bool,
}

impl AttemptWriter {
    /// Starts an attempt's output: what earlier attempts left (a crash can leave chunks, even a
    /// record of an output whose step row never completed) is removed first.
    fn begin(inner: Arc<Inner>, key: StreamKey, attempt: u32) -> Result<Self> {
        let others = {
            let mut journal = lock(&inner.journal);
            journal.clear_stream(&key).map_err(storage("stream reset"))?;
            journal.instance_stream_bytes(&key.workflow, &key.instance, &key).map_err(storage("stream size"))?
        };
        Ok(Self {
            inner,
            key,
            attempt,
            others,
            written: 0,
            chunks: 0,
            pending: Vec::new(),
            head: Vec::new(),
            finished: false,
        })
    }

    fn push(&mut self, bytes: Vec<u8>) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if bytes.len() > MAX_INPUT_CHUNK_BYTES {
            return Err(refused(format!(
                "Step returned a ReadableStream chunk larger than the maximum allowed size of \
                 {MAX_INPUT_CHUNK_BYTES} bytes. Return smaller chunks from step.do()."
            )));
        }
        if self.head.len() < PREVIEW_BYTES {
            let take = (PREVIEW_BYTES - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.pending.extend_from_slice(&bytes);
        let whole = self.pending.len() / STORED_CHUNK_BYTES * STORED_CHUNK_BYTES;
        if whole > 0 {
            let pending = std::mem::take(&mut self.pending);
            for chunk in pending[..whole].chunks(STORED_CHUNK_BYTES) {
                self.write(chunk)?;
            }
            self.pending = pending[whole..].to_vec();
        }
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let limit = self.inner.stream_limit;
        if self.others + self.written + chunk.len() as u64 > limit {
            return Err(Error::named(
                STREAM_STORAGE_FULL,
                format!("The instance has exceeded the {} storage limit", limit_text(limit)),
            ));
        }
        lock(&self.inner.journal)
            .put_stream_chunk(&self.key, self.attempt, self.chunks, chunk)
            .map_err(storage("stream chunk write"))?;
        self.written += chunk.len() as u64;
        self.chunks += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<Json> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.write(&rest)?;
        }
        let meta = StreamMeta { attempt: self.attempt, chunks: self.chunks, bytes: self.written };
        lock(&self.inner.journal).put_stream_meta(&self.key, meta).map_err(storage("stream record write"))?;
        self.finished = true;
        Ok(Json::String(preview(&self.head, self.written)))
    }
}

impl Drop for AttemptWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: the next attempt's `begin` removes whatever this leaves.
            let _ = lock(&self.inner.journal).discard_stream_attempt(&self.key, self.attempt);
        }
    }
}

/// A reader over a completed step's stored chunks, checked against their record first.
pub(super) fn open(inner: &Arc<Inner>, key: StreamKey) -> Result<StepBytes> {
    let journal = lock(&inner.journal);
    let meta = journal.stream_meta(&key).map_err(storage("stream read"))?.ok_or_else(|| {
        Error::fatal(format!(
            "step \"{}\" (count {}) finished without a stored byte stream: it ran as a plain do_ step (or its \
             result was mocked) and the code now reads it with do_stream",
            key.name, key.count
        ))
    })?;
    let (found, lowest, highest, bytes) = journal.stream_summary(&key, meta.attempt).map_err(storage("stream read"))?;
    let sound = match meta.chunks {
        0 => found == 0 && bytes == 0,
        n => found == n && lowest == Some(0) && highest == Some(n - 1) && bytes == meta.bytes,
    };
    if !sound {
        return Err(Error::internal(format!(
            "Stored output for {}-{} is corrupt or incomplete. Expected {} chunks / {} bytes, found {found} chunks \
             / {bytes} bytes.",
            key.name, key.count, meta.chunks, meta.bytes
        )));
    }
    drop(journal);
    let reader = StoredChunks { inner: inner.clone(), key, meta, next: 0, ended: false };
    Ok(StepBytes::new(Box::pin(reader), Some(meta.bytes)))
}

/// Yields a stored output's chunks in order, reading each from the journal when asked for.
struct StoredChunks {
    inner: Arc<Inner>,
    key: StreamKey,
    meta: StreamMeta,
    next: u32,
    ended: bool,
}

impl Stream for StoredChunks {
    type Item = Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended || self.next >= self.meta.chunks {
            return Poll::Ready(None);
        }
        let read = lock(&self.inner.journal).stream_chunk(&self.key, self.meta.attempt, self.next);
        let item = match read {
            Ok(Some(chunk)) => {
                self.next += 1;
                return Poll::Ready(Some(Ok(chunk)));
            }
            // Deleted meanwhile (the instance was deleted or restarted).
            Ok(None) => Error::internal(format!(
                "Missing chunk {} for streamed step output {}-{}",
                self.next, self.key.name, self.key.count
            )),
            Err(e) => storage("stream read")(e),
        };
        self.ended = true;
        Poll::Ready(Some(Err(item)))
    }
}
