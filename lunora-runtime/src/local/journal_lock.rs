//! One journal, one owner: an advisory lock on `<journal>.lock`, held while an engine has the
//! journal open.
//!
//! The lock is an OS file lock (`flock` on Unix) on a sidecar file rather than SQLite's own
//! locks, which only serialise transactions: two engines each recovering the same interrupted
//! step would both run it. The lock belongs to the open file description, so a second engine in
//! the same process conflicts too, and the kernel drops it when the holder dies (even by
//! `kill -9`), so a restart can recover at once.
//!
//! The file's text names the holder (for the in-use message) and records whether it closed the
//! journal cleanly, which decides how thoroughly the next open checks the journal.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Error;

/// How often a waiting opener retries the lock.
const WAIT_POLL: Duration = Duration::from_millis(20);
/// How long a refused opener waits for a holder that has just taken the lock to name itself.
const NAME_GRACE: Duration = Duration::from_millis(500);

/// The lock of an open journal. Dropping it releases the lock and leaves the file saying
/// the journal was not closed cleanly; [`JournalLock::release_clean`] says it was.
pub struct JournalLock {
    file: File,
    path: PathBuf,
    previous_clean: bool,
}

impl JournalLock {
    /// Takes the lock of the journal at `journal`, waiting up to `wait` if another owner has
    /// it. Records this process as the holder, durably, before returning: the journal may be
    /// written from here on, so a crash must leave "not closed cleanly" behind.
    pub fn acquire(journal: &Path, wait: Option<Duration>) -> Result<Self, Error> {
        let path = lock_path(journal);
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| {
                Error::internal(format!(
                    "cannot open or create the lock file {} of the lunora journal {}: {e}. The engine needs \
                     a writable directory for the journal, its -wal file and its lock file.",
                    path.display(),
                    journal.display()
                ))
            })?;
        let deadline = wait.map(|w| Instant::now() + w);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if deadline.is_some_and(|d| Instant::now() < d) {
                        std::thread::sleep(WAIT_POLL);
                        continue;
                    }
                    return Err(in_use(journal, &mut file, wait));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::internal(format!(
                        "cannot lock {} to open the lunora journal {}: {e}",
                        path.display(),
                        journal.display()
                    )))
                }
            }
        }
        let previous_clean = Holder::parse(&read_text(&mut file)).clean;
        let mut lock = Self { file, path, previous_clean };
        lock.write_state("open")
            .and_then(|()| lock.file.sync_data())
            .map_err(|e| Error::internal(format!("cannot write the lock file {}: {e}", lock.path.display())))?;
        Ok(lock)
    }

    /// Whether the previous owner closed the journal cleanly (its last state is on disk).
    pub fn previous_clean(&self) -> bool {
        self.previous_clean
    }

    /// Records a clean close, then releases the lock. Not fsynced: if the record is lost, the
    /// next open merely checks the journal in full.
    pub fn release_clean(mut self) {
        let _ = self.write_state("closed");
    }

    fn write_state(&mut self, state: &str) -> std::io::Result<()> {
        let text = Holder::current(state);
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(text.as_bytes())
    }
}

/// `<journal>.lock`.
pub fn lock_path(journal: &Path) -> PathBuf {
    let mut p = journal.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

fn read_text(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    text
}

fn in_use(journal: &Path, file: &mut File, waited: Option<Duration>) -> Error {
    // A holder writes its name just after taking the lock: until then the file still names the
    // previous holder (which may have died by kill -9) or nothing. Give it a moment to do so.
    let mut holder = Holder::parse(&read_text(file));
    let deadline = Instant::now() + NAME_GRACE;
    while !holder.pid.is_some_and(process_may_be_alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        holder = Holder::parse(&read_text(file));
    }
    let who = match holder.pid.filter(|&pid| process_may_be_alive(pid)) {
        Some(pid) => {
            let mut about: Vec<String> = holder.process.into_iter().collect();
            if pid == std::process::id() {
                about.push("this process".into());
            }
            let name = if about.is_empty() { String::new() } else { format!(" ({})", about.join(", ")) };
            let host = holder.host.map(|h| format!(" on {h}")).unwrap_or_default();
            let since = holder.since.map(|s| format!(" since {s}")).unwrap_or_default();
            format!("process {pid}{name}{host}{since}")
        }
        // The holder took the lock and has not written its name yet.
        None => "another engine".to_owned(),
    };
    let waited = match waited {
        Some(w) => format!(" (waited {})", humantime::format_duration(w)),
        None => String::new(),
    };
    Error::internal(format!(
        "the lunora journal {} is in use by {who}{waited}; stop it, close its engine, or use \
         another file (EngineBuilder::wait_for_journal waits for it to be released)",
        journal.display()
    ))
}

/// Whether a process with this pid may be running: false only where `/proc` says it is not
/// (elsewhere the name in the lock file is taken as it is).
pub(crate) fn process_may_be_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// What the lock file says.
#[derive(Default)]
struct Holder {
    pid: Option<u32>,
    process: Option<String>,
    host: Option<String>,
    since: Option<String>,
    clean: bool,
}

impl Holder {
    fn current(state: &str) -> String {
        let process = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        // Cheap where it exists (Linux); the message leaves the host out otherwise.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let since = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        format!(
            "lunora journal lock\npid: {}\nprocess: {process}\nhost: {}\nsince: {since}\nstate: {state}\n",
            std::process::id(),
            host.trim()
        )
    }

    fn parse(text: &str) -> Self {
        let mut holder = Holder::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(": ") else { continue };
            let value = value.trim();
            let some = || (!value.is_empty()).then(|| value.to_owned());
            match key {
                "pid" => holder.pid = value.parse().ok(),
                "process" => holder.process = some(),
                "host" => holder.host = some(),
                "since" => holder.since = some(),
                "state" => holder.clean = value == "closed",
                _ => {}
            }
        }
        holder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A holder that has taken the lock but not yet named itself leaves the previous holder's
    /// record in the file; a refusal must not name that (dead) process.
    #[test]
    fn a_refusal_never_names_a_dead_previous_holder() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.db");
        let mut dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        dead.wait().unwrap();
        let stale = format!("lunora journal lock\npid: {dead_pid}\nprocess: old\nhost: h\nsince: then\nstate: open\n");
        std::fs::write(lock_path(&journal), stale).unwrap();
        let holder = File::options().read(true).write(true).open(lock_path(&journal)).unwrap();
        holder.try_lock().unwrap();

        let message = match JournalLock::acquire(&journal, None) {
            Ok(_) => panic!("the lock is held"),
            Err(e) => e.message().to_owned(),
        };
        assert!(!message.contains(&dead_pid.to_string()), "{message}");
        assert!(message.contains("is in use by another engine;"), "{message}");
    }
}
