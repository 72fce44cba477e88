//! What a stream step (`ctx.step.do_stream`, see `step_stream`) returns and the rules both
//! engines read its stream by, as Cloudflare's `step.do` takes a callback returning a
//! `ReadableStream`.
//!
//! The callback returns a [`Stream`] of byte chunks; the engine reads it to the end within the
//! attempt's timeout, persists the bytes (re-cut into chunks of [`STORED_CHUNK_BYTES`]) and hands
//! back a [`StepBytes`] that reads them from storage, on the first run and on every replay alike.
//! Both engines apply workerd's rules: an input chunk over [`MAX_INPUT_CHUNK_BYTES`], a stream
//! that fails once it has been returned, or streamed bytes over the instance's storage limit end
//! the instance (no retry, no rollback). A callback that fails *before* returning its stream is
//! retried like any step; an attempt that times out mid-stream is retried too, and the bytes it
//! had written are discarded, so a later step only ever sees one attempt's bytes.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::{Error, Result};

/// The largest chunk a step's stream may yield (workerd's `MAX_STREAM_OUTPUT_INPUT_CHUNK_BYTES`).
pub const MAX_INPUT_CHUNK_BYTES: usize = lunora_shared::rules::MAX_STREAM_CHUNK_BYTES;
/// The size the embedded engine stores (and replays) streamed bytes in: every chunk a
/// [`StepBytes`] yields there has this size, except the last.
pub const STORED_CHUNK_BYTES: usize = lunora_shared::rules::STREAM_STORED_CHUNK_BYTES;
/// Cloudflare's storage limit per instance (1 GiB), which streamed outputs count against.
pub const MAX_INSTANCE_STREAM_BYTES: u64 = lunora_shared::rules::MAX_INSTANCE_STORAGE_BYTES;
/// Characters of a streamed output that histories and timelines show (workerd's preview).
pub(crate) const PREVIEW_CHARS: usize = 1024;
/// The names the embedded engine's stream reader gives the errors that end the instance: a
/// refused stream (the message says why) and a full instance storage.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the embedded engine's
pub(crate) const STREAM_REFUSED: &str = "LunoraStreamRefused";
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) const STREAM_STORAGE_FULL: &str = "LunoraStreamStorageFull";
/// What workerd says of a stream that failed once returned: the failure itself does not cross
/// the RPC boundary between the Worker and the engine, so its message is lost there (it is
/// logged through the step's logger on both engines).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) const STREAM_DISCONNECTED: &str = "ReadableStream received over RPC disconnected prematurely.";

/// The chunks a stream step's callback yields, type-erased (`Send` natively; see
/// [`MaybeSend`](crate::MaybeSend)).
#[cfg(not(target_arch = "wasm32"))]
pub type ByteChunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>>> + Send + 'static>>;
/// The chunks a stream step's callback yields, type-erased (`Send` natively; see
/// [`MaybeSend`](crate::MaybeSend)).
#[cfg(target_arch = "wasm32")]
pub type ByteChunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>>> + 'static>>;

/// The output of a stream step: its persisted bytes, read back chunk by chunk (a [`Stream`] of
/// `Result<Vec<u8>>`). Reading it again after a replay yields the same bytes in the same chunks.
pub struct StepBytes {
    chunks: ByteChunks,
    total: Option<u64>,
}

impl StepBytes {
    /// Bytes read from `chunks`; `total` when the engine knows the length up front.
    pub(crate) fn new(chunks: ByteChunks, total: Option<u64>) -> Self {
        Self { chunks, total }
    }

    /// How many bytes the step streamed, when the engine knows it before reading (the embedded
    /// engine always does; on Cloudflare the replayed stream does not say).
    pub fn len_hint(&self) -> Option<u64> {
        self.total
    }

    /// The next chunk, `None` at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<u8>>> {
        std::future::poll_fn(|cx| self.chunks.as_mut().poll_next(cx)).await
    }

    /// Reads every remaining byte into one buffer (mind the size: up to the instance's 1 GiB).
    pub async fn to_vec(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.total.map_or(0, |t| t.min(64 << 20) as usize));
        while let Some(chunk) = self.next_chunk().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }
}

impl Stream for StepBytes {
    type Item = Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.chunks.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for StepBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepBytes").field("len_hint", &self.total).finish_non_exhaustive()
    }
}

/// What histories and timelines show for a streamed output, as workerd words it: the text of
/// its first 1024 characters (then `[truncated output]`) when the bytes start as UTF-8, else
/// `[ReadableStream (binary): N bytes]`. `head` is the first `4 × 1024` bytes (or all of them).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the embedded engine's
pub(crate) fn preview(head: &[u8], total: u64) -> String {
    let truncated_by_bytes = total > head.len() as u64;
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A character cut by the 4 KiB window is not an error (workerd decodes in stream mode).
        Err(e) if truncated_by_bytes && e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return format!("[ReadableStream (binary): {total} bytes]"),
    };
    // TextDecoder drops a leading byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // JS counts UTF-16 code units.
    let mut units = 0;
    let mut end = text.len();
    for (at, c) in text.char_indices() {
        if units + c.len_utf16() > PREVIEW_CHARS {
            end = at;
            break;
        }
        units += c.len_utf16();
    }
    if end < text.len() || truncated_by_bytes {
        format!("{}[truncated output]", &text[..end])
    } else {
        text.to_owned()
    }
}

/// How many bytes of a streamed output [`preview`] needs.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) const PREVIEW_BYTES: usize = PREVIEW_CHARS * 4;

/// A storage limit as workerd words it (`1GiB`).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn limit_text(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

/// A stream the engine refuses (`why` in workerd's words): the instance ends.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn refused(why: impl Into<String>) -> Error {
    Error::named(STREAM_REFUSED, why)
}

/// For an error from the embedded engine's stream reader that ends the instance: the step's
/// error and the instance's, as workerd records them.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn ends_instance(step: &str, error: &Error) -> Option<(Error, Error)> {
    match error.name() {
        STREAM_REFUSED => Some((
            Error::fatal(error.message()),
            Error::fatal(format!(
                "The execution of the Workflow instance was terminated, as the step \"{step}\" returned an invalid \
                 ReadableStream output. {}",
                error.message()
            )),
        )),
        STREAM_STORAGE_FULL => Some((Error::fatal(error.message()), Error::fatal(error.message()))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_read_as_workerd_shows_them() {
        assert_eq!(preview(b"", 0), "");
        assert_eq!(preview(b"hello", 5), "hello");
        assert_eq!(preview("\u{feff}hi".as_bytes(), 5), "hi");
        assert_eq!(preview(&[0xff, 0x00], 2), "[ReadableStream (binary): 2 bytes]");
        let long = "a".repeat(1500);
        assert_eq!(preview(long.as_bytes(), 1500), format!("{}[truncated output]", "a".repeat(1024)));
        // Exactly 1024 characters is not truncated; more bytes behind the window are.
        let exact = "b".repeat(1024);
        assert_eq!(preview(exact.as_bytes(), 1024), exact);
        assert_eq!(preview(exact.as_bytes(), 5000), format!("{exact}[truncated output]"));
        // A character cut by the window's end is dropped, not taken for binary.
        let mut head = "é".repeat(2047).into_bytes();
        head.push(0xc3);
        assert_eq!(head.len(), PREVIEW_BYTES - 1);
        assert_eq!(preview(&head, 10_000), format!("{}[truncated output]", "é".repeat(1024)));
        // ... unless the stream really ends there.
        assert_eq!(preview(&head, head.len() as u64), format!("[ReadableStream (binary): {} bytes]", head.len()));
        // Characters outside the BMP count twice, as in JS.
        let wide = "😀".repeat(600);
        assert_eq!(preview(wide.as_bytes(), wide.len() as u64), format!("{}[truncated output]", "😀".repeat(512)));
    }

    #[test]
    fn limits_are_worded_as_workerd_words_them() {
        assert_eq!(limit_text(MAX_INSTANCE_STREAM_BYTES), "1GiB");
        assert_eq!(limit_text(3 << 20), "3MiB");
        assert_eq!(limit_text(1000), "1000 bytes");
    }
}
