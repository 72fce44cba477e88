//! The embedded engine: registry, instance ownership, scheduler and lifecycle operations.
//!
//! Execution model (Cloudflare's): an instance runs by calling the workflow body from the top
//! against its journal. Completed steps return their stored results; the first step that has to
//! wait (sleep, event, retry delay) parks, and once nothing is in flight the body's future is
//! dropped and the instance *hibernates*: it then costs one timer entry in memory. When the
//! timer fires or an event arrives, the body is called again from the top (replay). A sleep or
//! retry delay no longer than the in-memory wait limit (`EngineBuilder::in_memory_wait_limit`)
//! is waited in place instead, as workerd waits in place: the body stays in memory and goes on
//! without a replay, its journal rows written as for a hibernating wait.
//!
//! Exactly one owner acts on an instance at a time: a runner (executing the body) or an
//! operation (terminate, restart, pause of an idle instance…). Owners are tracked in `live`;
//! transitions that race with a runner's end are written under that lock.
//!
//! One file per part, each above the ones it uses: `control` (an instance's key and owner),
//! `registry` (workflows with their types erased), `state` (what all parts share, lookups and
//! ownership), `stream_output` (the stored bytes of stream steps), `run` (one execution of a
//! body: the step backend), `drive` (the drive loop and the timer scheduler), `lifecycle` (create, pause, resume, terminate, restart, send_event),
//! `subscribe` (an instance's events as a stream),
//! `backend` (the engine behind the typed handles), `handle` ([`Engine`]) and `builder`
//! ([`EngineBuilder`]).

mod backend;
mod builder;
mod control;
mod crons;
mod drive;
mod handle;
mod lifecycle;
mod operate;
#[cfg(feature = "server")] // the read-only REST API over a journal file
pub(crate) use operate::list_page;
mod registry;
mod retention;
mod run;
mod schedule;
mod state;
mod stream_output;
mod subscribe;

pub use builder::{EngineBuilder, Registrar, DEFAULT_IN_MEMORY_WAIT_LIMIT};
pub use handle::Engine;
