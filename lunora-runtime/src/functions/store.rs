//! Where the dispatch endpoint remembers dedup ids: who is running one (a claim with a lease)
//! and what a finished one answered (kept for the retention).

use std::fmt;

use crate::erased::BoxFuture;
use crate::maybe_send::{MaybeSend, MaybeSync};

/// A finished call's answer, replayed to every later request with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    /// The JSON body sent back.
    pub body: String,
}

/// What [`DedupStore::claim`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The id is ours to run: nobody held it, its holder's lease ran out, or its answer
    /// outlived the retention.
    Claimed,
    /// Someone else holds it, and their lease has not run out.
    Running,
    /// It finished; here is what it answered.
    Done(StoredAnswer),
}

/// A store failure; the endpoint answers 503 (retried) and runs nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// A strongly consistent map from dedup id to claim or answer. Every method is one atomic
/// step, also across processes sharing the store: two requests with one id can never both
/// get [`Claim::Claimed`] while a lease holds.
///
/// Times are epoch milliseconds, given by the endpoint so stores hold no clock.
pub trait DedupStore: MaybeSend + MaybeSync {
    /// Claims `id` for `function` as `holder` until `lease_until`, unless someone holds it
    /// with a live lease or its answer is stored and younger than its `expires_at`.
    fn claim<'a>(
        &'a self,
        id: &'a str,
        function: &'a str,
        holder: &'a str,
        now: i64,
        lease_until: i64,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// Stores `answer` for `id`, kept until `expires_at`, if `holder` still holds the claim
    /// (a holder whose lease ran out and was taken over stores nothing).
    fn complete<'a>(
        &'a self,
        id: &'a str,
        holder: &'a str,
        answer: &'a StoredAnswer,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Drops `holder`'s claim on `id` (a retryable failure: the retry runs the handler again).
    fn release<'a>(&'a self, id: &'a str, holder: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// No deduplication: every request runs its handler. Only for functions that are idempotent
/// themselves (or for measuring what the store costs); a workflow's retried step then runs
/// the function again.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDedup;

impl DedupStore for NoDedup {
    fn claim<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: i64,
        _: i64,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async { Ok(Claim::Claimed) })
    }

    fn complete<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a StoredAnswer,
        _: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn release<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}
