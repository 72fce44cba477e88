//! Steps that return a byte stream (Cloudflare's `ReadableStream` step outputs), run on both
//! engines: bytes persisted and handed to later steps, a retry that replaces a timed-out
//! attempt's partial bytes, and a stream that fails after it was returned.

use std::pin::Pin;

use futures_util::stream::{self, Stream, StreamExt};
use lunora_runtime::*;
use serde_json::{json, Value};

use crate::{constant, trail, Input};

type Chunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>>> + Send>>;

/// `len` bytes that are not UTF-8 (so previews read as binary), different per `seed`.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| 0x80 | ((i as u8).wrapping_mul(31).wrapping_add(seed) & 0x7f)).collect()
}

/// FNV-1a, 32 bits, as hex: survives JSON in JS, unlike a u64.
fn digest(data: &[u8]) -> String {
    format!("{:08x}", data.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)))
}

/// Three chunks (5 B, 70 KiB, 300 KiB) in one step and a text in three in another; a later
/// step gets what both streams held. Their step outputs are workerd's previews.
#[workflow]
pub async fn stream_steps(ctx: WorkflowContext<Input>) -> Result<Value> {
    let bytes = ctx
        .step
        .do_stream("produce", |_| async {
            Ok(stream::iter([Ok(b"hello".to_vec()), Ok(pattern(70 * 1024, 1)), Ok(pattern(300 * 1024, 2))]))
        })
        .await?
        .to_vec()
        .await?;
    let text = ctx
        .step
        .do_stream("text", |_| async { Ok(stream::iter(["hello ", "streamed ", "world"].map(Ok))) })
        .await?
        .to_vec()
        .await?;
    let summary = json!({
        "len": bytes.len(),
        "digest": digest(&bytes),
        "text": String::from_utf8_lossy(&text),
    });
    ctx.step
        .do_("consume", move |_| {
            let summary = summary.clone();
            async move { Ok(summary) }
        })
        .await
}

/// Attempt 1 streams 300 KiB then stalls past its 1 s timeout; attempt 2 streams other bytes:
/// the next step sees only those.
#[workflow]
pub async fn stream_retry(ctx: WorkflowContext<Input>) -> Result<Value> {
    let (env, run) = (ctx.env.clone(), ctx.params.run.clone());
    let config = constant(2, "1 second").timeout("1 second");
    let out = ctx
        .step
        .do_stream_with("flaky", config, move |s| {
            let (env, run) = (env.clone(), run.clone());
            async move {
                trail(&env, &run, format!("flaky attempt {}", s.attempt)).await?;
                let chunks: Chunks = match s.attempt {
                    1 => Box::pin(stream::iter([Ok(pattern(300 * 1024, 7))]).chain(stream::pending())),
                    _ => Box::pin(stream::iter([Ok(b"second attempt".to_vec())])),
                };
                Ok(chunks)
            }
        })
        .await?;
    let bytes = out.to_vec().await?;
    let seen = json!({ "len": bytes.len(), "text": String::from_utf8_lossy(&bytes) });
    ctx.step
        .do_("consume", move |_| {
            let seen = seen.clone();
            async move { Ok(seen) }
        })
        .await
}

/// A stream that fails after its first chunk ends the instance at once (no retry, whatever the
/// step's retries say), as workerd does with a `ReadableStream` that errors.
#[workflow]
pub async fn stream_fails(ctx: WorkflowContext<Input>) -> Result<usize> {
    let (env, run) = (ctx.env.clone(), ctx.params.run.clone());
    let out = ctx
        .step
        .do_stream_with("bad", constant(2, "1 second"), move |s| {
            let (env, run) = (env.clone(), run.clone());
            async move {
                trail(&env, &run, format!("bad attempt {}", s.attempt)).await?;
                Ok(stream::iter([Ok(b"partial".to_vec()), Err(Error::new("boom"))]))
            }
        })
        .await?;
    Ok(out.to_vec().await?.len())
}
