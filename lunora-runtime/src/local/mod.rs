//! The embedded durable engine (native): Cloudflare Workflows' semantics on a SQLite journal.

mod clock;
mod engine;
mod event_log;
mod group_commit;
mod history;
pub(crate) mod journal;
mod journal_check;
pub(crate) mod journal_lock;
mod journal_rows;
mod journal_schema;
mod journal_streams;
mod modifiers;
pub(crate) mod mutex;
pub(crate) mod validate;

pub use clock::{Clock, SystemClock, VirtualClock};
#[cfg(feature = "server")]
pub(crate) use engine::list_page;
pub use engine::{Engine, EngineBuilder, Registrar, DEFAULT_IN_MEMORY_WAIT_LIMIT};
pub use history::{read_histories, Selection};
pub use journal::{AttemptRecord, Durability, RowKind, StepRow, StepState};
pub use journal_schema::{APPLICATION_ID, SCHEMA};
pub use modifiers::{Modifiers, StepSelector};
pub use validate::{DEFAULT_STEP_LIMIT, MAX_BATCH, MAX_STEP_LIMIT, MAX_VALUE_BYTES};
