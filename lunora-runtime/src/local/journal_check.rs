//! What the engine checks about a journal file before it opens it for writing: the file can be
//! written, it is a lunora journal of this schema version, and it is not damaged.
//!
//! Every check reads only, so a refused file is left byte for byte as it was, with its -wal and
//! -shm files. Without a -wal the file is the whole state and is checked in place through an
//! `immutable` connection, which creates no -wal or -shm: its size against its page count, and
//! SQLite's `quick_check` if its previous owner closed it cleanly (the lock file says so), the
//! full `integrity_check` otherwise. With a -wal left by an unclean shutdown (a crash,
//! `kill -9`, power loss) the state is the pair, which SQLite only reads back through a
//! connection that may rewrite the -shm, so the pair is copied to a temporary directory and
//! checked there with `integrity_check`.
//!
//! SQLite keeps no page checksums: a flipped byte inside a stored value, which breaks no
//! structure, passes these checks (and fails later, when the value is read).

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::error::Error;
use crate::local::journal_lock::process_may_be_alive;
use crate::local::journal_schema::{APPLICATION_ID, SCHEMA_VERSION};

/// What an existing path holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// Nothing yet (no file, or an empty one, or an empty SQLite database): create the schema.
    Fresh,
    /// A sound lunora journal of this schema version.
    Journal,
    /// A sound lunora journal of an older schema version (1 or 2), which the journal migrates
    /// when it opens it.
    Older(i64),
}

/// Refuses a journal the engine could not (or, by its mode, should not) write: a file with no
/// write permission bit, a directory with none (the -wal and lock files are created there), a
/// file the process cannot open for writing. The mode bits are checked explicitly because they
/// do not stop root, yet say the owner wants the file left alone.
pub fn refuse_read_only(path: &Path) -> Result<(), Error> {
    let shown = path.display();
    match fs::metadata(path) {
        Ok(meta) => {
            if meta.permissions().readonly() {
                return Err(Error::internal(format!(
                    "the lunora journal {shown} is read-only{}: the engine writes every step to it, so it \
                     will not run on it. Make it writable (chmod u+w {shown}) or point the engine at a copy; \
                     it was left untouched.",
                    mode(&meta)
                )));
            }
            // Opening for writing changes nothing, and catches what the bits do not say: a file
            // of another user, a read-only mount.
            if let Err(e) = OpenOptions::new().write(true).open(path) {
                if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem) {
                    return Err(Error::internal(format!(
                        "the lunora journal {shown} cannot be written ({e}): the engine writes every step \
                         to it, so it will not run on it. Make it writable or point the engine at a copy; it \
                         was left untouched."
                    )));
                }
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::internal(format!("cannot read the lunora journal {shown}: {e}"))),
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Ok(meta) = fs::metadata(dir) {
        if meta.permissions().readonly() {
            return Err(Error::internal(format!(
                "the directory {} of the lunora journal {shown} is read-only{}: the engine creates the \
                 journal's -wal and .lock files beside it. Make the directory writable or put the journal \
                 elsewhere; nothing was written.",
                dir.display(),
                mode(&meta)
            )));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn mode(meta: &fs::Metadata) -> String {
    use std::os::unix::fs::PermissionsExt;
    format!(" (mode {:04o})", meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode(_: &fs::Metadata) -> String {
    String::new()
}

/// Checks the journal at `path` without writing to it. `clean` says its previous owner closed
/// it cleanly.
pub fn check(path: &Path, clean: bool) -> Result<Found, Error> {
    let shown = path.display().to_string();
    let len = match fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Found::Fresh),
        Err(e) => return Err(Error::internal(format!("cannot read the lunora journal {shown}: {e}"))),
    };
    let wal = sibling(path, "-wal");
    let wal_len = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if len == 0 && wal_len == 0 {
        return Ok(Found::Fresh);
    }
    if wal_len == 0 {
        // The file is the whole state: read it in place.
        let uri = format!("file:{}?immutable=1", uri_path(path));
        let conn = Connection::open_with_flags(uri, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI)
            .map_err(unreadable(&shown))?;
        let found = identify(&conn, &shown)?;
        if matches!(found, Found::Journal | Found::Older(_)) {
            structure(&conn, &shown, if clean { "quick_check" } else { "integrity_check" })?;
            size_matches(&conn, &shown, len)?;
        }
        return Ok(found);
    }
    let copy = Scratch::copy(path).map_err(|e| {
        Error::internal(format!(
            "cannot check the lunora journal {shown} after an unclean shutdown: copying it to {} failed: {e}",
            std::env::temp_dir().display()
        ))
    })?;
    let conn = Connection::open_with_flags(&copy.db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI)
        .map_err(unreadable(&shown))?;
    let found = identify(&conn, &shown)?;
    if matches!(found, Found::Journal | Found::Older(_)) {
        let page_size = pragma(&conn, &shown, "page_size")?;
        if page_size > 0 && len % page_size as u64 != 0 {
            return Err(damaged(
                &shown,
                format!("it is {len} bytes, not a whole number of {page_size}-byte pages (it was cut short)"),
            ));
        }
        structure(&conn, &shown, "integrity_check")?;
        // Fold the -wal into the copy: its size must then be what its page count says.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(unreadable(&shown))?;
        size_matches(&conn, &shown, fs::metadata(&copy.db).map(|m| m.len()).unwrap_or(0))?;
    }
    Ok(found)
}

/// Tells a lunora journal of this version from an empty database, another application's
/// database, or one of another schema version.
fn identify(conn: &Connection, shown: &str) -> Result<Found, Error> {
    let app_id = pragma(conn, shown, "application_id")?;
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(unreadable(shown))?;
    let version = pragma(conn, shown, "user_version")?;
    if app_id == 0 && tables == 0 {
        Ok(Found::Fresh)
    } else if app_id != APPLICATION_ID {
        Err(Error::internal(format!(
            "{shown} is not a lunora journal: it is a SQLite database of another application \
             (application_id {app_id:#x}, {tables} schema objects). lunora left it untouched; \
             point the engine at a new or lunora-created file."
        )))
    } else if (1..SCHEMA_VERSION).contains(&version) {
        Ok(Found::Older(version))
    } else if version != SCHEMA_VERSION {
        Err(Error::internal(format!(
            "{shown} is a lunora journal of schema version {version}, this lunora reads \
             version {SCHEMA_VERSION}. It was left untouched; use the lunora version that \
             created it."
        )))
    } else {
        Ok(Found::Journal)
    }
}

/// Runs `quick_check` or `integrity_check`, reporting up to ten problems.
fn structure(conn: &Connection, shown: &str, check: &str) -> Result<(), Error> {
    let problems: Vec<String> = conn
        .prepare(&format!("PRAGMA {check}(10)"))
        .and_then(|mut stmt| stmt.query_map([], |r| r.get::<_, String>(0))?.collect())
        .map_err(|e| damaged(shown, e.to_string()))?;
    if problems != ["ok"] {
        return Err(damaged(shown, format!("SQLite's {check} found: {}", problems.join("; "))));
    }
    Ok(())
}

/// A database file is exactly its pages: a file cut short (or grown) by a few bytes reads as
/// sound to SQLite, which pads or ignores the difference, but the engine would then write
/// over the damage.
fn size_matches(conn: &Connection, shown: &str, len: u64) -> Result<(), Error> {
    let page_size = pragma(conn, shown, "page_size")? as u64;
    let pages = pragma(conn, shown, "page_count")? as u64;
    if len != pages * page_size {
        return Err(damaged(
            shown,
            format!(
                "it is {len} bytes, but holds {pages} pages of {page_size} bytes ({} bytes): it was cut \
                 short or extended",
                pages * page_size
            ),
        ));
    }
    Ok(())
}

fn pragma(conn: &Connection, shown: &str, name: &str) -> Result<i64, Error> {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).map_err(unreadable(shown))
}

fn unreadable(shown: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt) {
            return damaged(shown, e.to_string());
        }
        Error::internal(format!(
            "cannot open the lunora journal {shown}: {e}. If this file is not a lunora journal, point \
             the engine at another path; it was left untouched."
        ))
    }
}

fn damaged(shown: &str, what: String) -> Error {
    Error::internal(format!(
        "the lunora journal {shown} is damaged: {what}. lunora left it untouched and will not write to \
         it. Restore it from a backup, or move it away (with its -wal and -shm files) to start a new journal."
    ))
}

/// `<path><suffix>`, e.g. the `-wal` file of a database.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// A path as the path part of an SQLite URI (`?` and `#` would end it, `%` starts an escape).
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '?' | '#' | '%' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// What a scratch copy's directory is named: this prefix, the checking process's pid, a
/// timestamp.
const SCRATCH_PREFIX: &str = "lunora-journal-check-";

/// A private copy of a journal (and its -wal) in the temporary directory, removed on drop.
struct Scratch {
    dir: PathBuf,
    db: PathBuf,
}

impl Scratch {
    fn copy(path: &Path) -> std::io::Result<Self> {
        let temp = std::env::temp_dir();
        sweep_abandoned(&temp);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let dir = temp.join(format!("{SCRATCH_PREFIX}{}-{nanos}", std::process::id()));
        fs::create_dir(&dir)?;
        let scratch = Scratch { db: dir.join("journal.db"), dir };
        fs::copy(path, &scratch.db)?;
        fs::copy(sibling(path, "-wal"), sibling(&scratch.db, "-wal"))?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes the copies of checks whose process died before dropping them (a process killed
/// while it checked a journal): a copy is a whole journal, which may hold secrets and
/// megabytes, so none outlives its process for long. Copies of live processes are left alone.
fn sweep_abandoned(temp: &Path) {
    let Ok(entries) = fs::read_dir(temp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(SCRATCH_PREFIX)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !process_may_be_alive(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_left_by_a_dead_process_is_removed_by_the_next_check_and_a_live_ones_kept() {
        let temp = std::env::temp_dir();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = gone.id();
        gone.wait().unwrap();
        let abandoned = temp.join(format!("{SCRATCH_PREFIX}{dead_pid}-1"));
        let live = temp.join(format!("{SCRATCH_PREFIX}{}-kept-by-a-test", std::process::id()));
        let unrelated = temp.join(format!("{SCRATCH_PREFIX}not-a-pid"));
        for dir in [&abandoned, &live, &unrelated] {
            fs::create_dir_all(dir).unwrap();
            fs::write(dir.join("journal.db"), b"a copy").unwrap();
        }

        let journal = tempfile::tempdir().unwrap();
        let db = journal.path().join("journal.db");
        fs::write(&db, b"db").unwrap();
        fs::write(sibling(&db, "-wal"), b"wal").unwrap();
        let scratch = Scratch::copy(&db).unwrap();
        assert_eq!(fs::read(sibling(&scratch.db, "-wal")).unwrap(), b"wal");

        let left = (abandoned.exists(), live.exists(), unrelated.exists());
        for dir in [&live, &unrelated] {
            let _ = fs::remove_dir_all(dir);
        }
        assert_eq!(left, (false, true, true), "(dead process's copy, live one's, not named by a pid)");
        let scratch_dir = scratch.dir.clone();
        drop(scratch);
        assert!(!scratch_dir.exists(), "a check removes its own copy");
    }
}
