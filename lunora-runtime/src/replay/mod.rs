//! Replay: runs the current code of a workflow against recorded histories, natively, to prove
//! a deploy is safe for the instances in flight (README, "Histories and replay").
//!
//! An engine resumes an instance by calling the body from the top and answering every step
//! that already ran from its record, whatever code is deployed now. [`Replayer::replay`] does
//! the same without running anything: each step the body asks for is answered from the next
//! forward record of the history (outputs and errors as recorded, sleeps and event waits as
//! they resolved), step bodies, rollback handlers and `ctx.run` are never called, and nothing
//! waits in real time. The report says either where the instance would go on, or the first
//! divergence. [`Replayer::check_dir`] does it for every history of a folder (one test).

mod backend;
mod folder;
mod replayer;
mod report;

pub use folder::ReplayFailures;
pub use replayer::{replay, Replayer};
pub use report::{Continuation, Divergence, Ended, NextStep, ReplayReport, StepCall};
