//! What makes a SQLite file a lunora journal: its application id, its schema version and its
//! tables. The journal creates them; `journal_check` refuses files that do not match.

/// The tables of streamed step outputs (schema version 3). `step_chunks` holds the bytes of
/// each attempt, cut into chunks of up to 256 KiB (`idx` from 0); a row of `step_streams` says
/// which attempt's chunks are the step's output, how many there are and how many bytes, and is
/// written only once that attempt read its stream to the end. Chunks of other attempts are
/// leftovers of a failed or interrupted attempt, removed before the next one starts.
macro_rules! stream_tables {
    () => {
        "
CREATE TABLE step_chunks (
    workflow    TEXT NOT NULL,
    instance    TEXT NOT NULL,
    name        TEXT NOT NULL,
    count       INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    chunk       BLOB NOT NULL,
    PRIMARY KEY (workflow, instance, name, count, attempt, idx)
);
CREATE TABLE step_streams (
    workflow    TEXT NOT NULL,
    instance    TEXT NOT NULL,
    name        TEXT NOT NULL,
    count       INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    chunks      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    PRIMARY KEY (workflow, instance, name, count)
) WITHOUT ROWID;
"
    };
}

/// The instance event log (schema version 5): one row per event of an instance's history, in
/// the order they happened (`id` is the event's `eventId`), written in the transaction of the
/// change it describes; what `instance.subscribe` reads (`event_log`).
///
/// Ids count per instance, as each workerd instance numbers its own events, and the table is
/// keyed by them: an append then touches one b-tree page, where version 4's global
/// AUTOINCREMENT id with a per-instance index touched three (table, index, `sqlite_sequence`)
/// and cost durable steps half their throughput. An id is never handed out twice for the same
/// instance: a restart that erases the newest events leaves their last id in `event_floors`,
/// and later ids start above it.
macro_rules! event_tables {
    () => {
        "
CREATE TABLE instance_events (
    workflow    TEXT NOT NULL,
    instance    TEXT NOT NULL,
    id          INTEGER NOT NULL,
    timestamp   INTEGER NOT NULL,
    type        TEXT NOT NULL,
    step_kind   TEXT,
    step_name   TEXT,
    step_count  INTEGER,
    detail      TEXT,
    PRIMARY KEY (workflow, instance, id)
) WITHOUT ROWID;
CREATE TABLE event_floors (
    workflow    TEXT NOT NULL,
    instance    TEXT NOT NULL,
    floor       INTEGER NOT NULL,
    PRIMARY KEY (workflow, instance)
) WITHOUT ROWID;
"
    };
}

/// `PRAGMA application_id` of lunora journals: "LNRA".
pub const APPLICATION_ID: i64 = 0x4C4E_5241;
/// Schema version in `PRAGMA user_version`. Version 2 added `instances.expires_at` (retention),
/// `instances.trigger` (the cron tick that started an instance), the `schedules` table (the last
/// tick fired per cron) and the listing and expiry indexes, and turned on incremental auto-vacuum so that space freed
/// by expired and deleted instances goes back to the file system; a version 1 journal is
/// migrated in place when opened ([`MIGRATE_FROM_1`]). Version 3 added the `step_chunks` and
/// `step_streams` tables (the bytes of steps that return a stream); a version 2 journal is
/// migrated in place too ([`MIGRATE_FROM_2`]). Version 4 added the `instance_events` log that
/// subscriptions read ([`MIGRATE_FROM_3`]; the events of the instances already in an older
/// journal are reconstructed from their rows when it is migrated). Version 5 keys that log by
/// instance with per-instance ids ([`MIGRATE_FROM_4`] keeps every event and its id). A newer
/// journal is refused.
pub const SCHEMA_VERSION: i64 = 5;

/// What turns a version 1 journal into a version 2 one, in one transaction. Incremental
/// auto-vacuum then needs a `VACUUM` outside it (see `Journal::open`).
pub(crate) const MIGRATE_FROM_1: &str = "
ALTER TABLE instances ADD COLUMN expires_at INTEGER;
ALTER TABLE instances ADD COLUMN trigger TEXT;
CREATE TABLE schedules (
    workflow    TEXT NOT NULL,
    cron        TEXT NOT NULL,
    last_tick   INTEGER NOT NULL,
    PRIMARY KEY (workflow, cron)
) WITHOUT ROWID;
CREATE INDEX instances_listing ON instances (workflow, created_at, id);
CREATE INDEX instances_expiry ON instances (expires_at) WHERE expires_at IS NOT NULL;
PRAGMA user_version = 2;
";

/// What turns a version 2 journal into a version 3 one, in one transaction.
pub(crate) const MIGRATE_FROM_2: &str = concat!(stream_tables!(), "PRAGMA user_version = 3;");

/// What turns a version 3 journal into a current one: the event log in its version 5 layout
/// straight away (the journal then writes the reconstructed events of the instances already
/// there, in the same transaction).
pub(crate) const MIGRATE_FROM_3: &str = concat!(event_tables!(), "PRAGMA user_version = 5;");

/// What turns a version 4 journal into a version 5 one, in one transaction: the events move to
/// the per-instance table with the ids they had (increasing along each instance's history, so
/// they are valid per-instance ids and cursors held by subscribers stay good).
pub(crate) const MIGRATE_FROM_4: &str = concat!(
    "ALTER TABLE instance_events RENAME TO instance_events_v4;
DROP INDEX instance_events_by_instance;",
    event_tables!(),
    "INSERT INTO instance_events (workflow, instance, id, timestamp, type, step_kind, step_name, step_count, detail)
    SELECT workflow, instance, id, timestamp, type, step_kind, step_name, step_count, detail FROM instance_events_v4;
DROP TABLE instance_events_v4;
PRAGMA user_version = 5;"
);

/// The journal's tables (public for the benchmark's same-schema SQLite baseline).
#[doc(hidden)]
pub const SCHEMA: &str = concat!(
    "
CREATE TABLE instances (
    workflow    TEXT NOT NULL,
    id          TEXT NOT NULL,
    status      TEXT NOT NULL,
    params      TEXT NOT NULL,
    retention   TEXT,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    ended_at    INTEGER,
    output      TEXT,
    error       TEXT,
    rollback    TEXT,
    wake_at     INTEGER,
    paused_at   INTEGER,
    phase       TEXT,
    expires_at  INTEGER,
    trigger     TEXT,
    PRIMARY KEY (workflow, id)
) WITHOUT ROWID;
CREATE TABLE schedules (
    workflow    TEXT NOT NULL,
    cron        TEXT NOT NULL,
    last_tick   INTEGER NOT NULL,
    PRIMARY KEY (workflow, cron)
) WITHOUT ROWID;
CREATE INDEX instances_listing ON instances (workflow, created_at, id);
CREATE INDEX instances_expiry ON instances (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE steps (
    workflow    TEXT NOT NULL,
    instance    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    count       INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    output      TEXT,
    error       TEXT,
    config      TEXT,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    wake_at     INTEGER,
    attempt_log TEXT,
    PRIMARY KEY (workflow, instance, kind, name, count)
) WITHOUT ROWID;
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow    TEXT NOT NULL,
    instance    TEXT NOT NULL,
    type        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    timestamp   INTEGER NOT NULL,
    consumed    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_pending ON events (workflow, instance, type, consumed, seq);
",
    stream_tables!(),
    event_tables!()
);
