//! Group commit: durable writes that arrive while an fsync of the journal's WAL is in flight
//! share the next one.
//!
//! A write is committed to SQLite first (it reaches the WAL file, which survives a process
//! kill), then counted here: its ticket is the number of durable commits so far. Its caller
//! is acknowledged only once an fsync that *started after* that commit has finished, so the
//! write survives power loss too. One caller at a time starts the fsync (the leader); callers
//! whose commits land meanwhile wait, and the first of them to wake starts the next fsync for
//! all of them. On a multi-thread runtime the leader's worker hands its other tasks to another
//! thread while it syncs (`block_in_place`), so no instance waits behind the disk but those
//! that must. On a current-thread runtime the leader first yields once, so every instance
//! ready to run reaches its commit and joins the fsync; without that each fsync covered one
//! commit. Throughput so grows with the number of concurrent writers, at the same durability
//! as one fsync per commit.
//!
//! Commits are counted under the journal's own mutex, so ticket order is WAL order: an fsync
//! that starts once ticket `n` was counted covers every commit up to `n`.
//!
//! An fsync that fails leaves what was written since the last good one of unknown durability
//! (the kernel may have dropped the dirty pages), so every later durable write is refused
//! until the journal is reopened, rather than acknowledged on a guess.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

use crate::local::mutex::lock;

/// The fsync bookkeeping of one journal file.
pub(crate) struct GroupCommit {
    /// `<journal>-wal`.
    wal_path: PathBuf,
    /// Opened on the first fsync: SQLite creates the -wal file with its first write.
    wal: OnceLock<File>,
    state: Mutex<State>,
    /// Woken whenever an fsync ends.
    synced: Notify,
}

#[derive(Default)]
struct State {
    /// Durable commits counted so far (the last ticket handed out).
    committed: u64,
    /// Every ticket up to this one is durable.
    synced: u64,
    /// A leader is running an fsync now.
    syncing: bool,
    /// Fsyncs run so far (how many commits share one is the point of this module).
    fsyncs: u64,
    /// Why durable writes are refused: an fsync failed.
    failed: Option<String>,
}

/// A committed write waiting to be durable.
#[must_use = "a write is durable only once `durable` returns"]
pub(crate) struct Pending {
    group: Arc<GroupCommit>,
    ticket: u64,
}

impl GroupCommit {
    pub fn new(wal_path: PathBuf) -> Self {
        Self { wal_path, wal: OnceLock::new(), state: Mutex::new(State::default()), synced: Notify::new() }
    }

    /// Counts a commit that must become durable. Call it under the journal's mutex, right
    /// after the commit.
    pub fn committed(self: &Arc<Self>) -> Pending {
        let mut state = lock(&self.state);
        state.committed += 1;
        Pending { group: self.clone(), ticket: state.committed }
    }

    /// Makes every commit so far durable before returning, blocking the caller: for writes
    /// done under the journal's mutex, which no other write can join anyway.
    pub fn sync_now(&self) -> io::Result<()> {
        let target = {
            let mut state = lock(&self.state);
            refuse_if_failed(&state)?;
            state.committed += 1;
            state.committed
        };
        self.fsync(target)
    }

    /// Runs one fsync covering every ticket up to `target` and records its outcome.
    fn fsync(&self, target: u64) -> io::Result<()> {
        let result = self.wal_file().and_then(File::sync_data);
        let mut state = lock(&self.state);
        state.fsyncs += 1;
        match &result {
            Ok(()) => state.synced = state.synced.max(target),
            Err(e) => {
                state.failed.get_or_insert_with(|| {
                    format!(
                        "an fsync of {} failed ({e}); what was written since the last good one may not \
                         be on disk, so durable writes are refused until the journal is reopened",
                        self.wal_path.display()
                    )
                });
            }
        }
        result
    }

    pub fn wal_path(&self) -> &std::path::Path {
        &self.wal_path
    }

    fn wal_file(&self) -> io::Result<&File> {
        if let Some(file) = self.wal.get() {
            return Ok(file);
        }
        let file = File::open(&self.wal_path)?;
        Ok(self.wal.get_or_init(|| file))
    }
}

impl Pending {
    /// Waits until the commit is durable: returns at once if an fsync that started after it
    /// has finished, joins the one about to start if another is in flight, or runs it.
    pub async fn durable(self) -> io::Result<()> {
        let group = &*self.group;
        loop {
            let woken = group.synced.notified();
            tokio::pin!(woken);
            // Registered before looking, so an fsync ending between the look and the wait
            // still wakes this caller.
            woken.as_mut().enable();
            let leads = {
                let mut state = lock(&group.state);
                if state.synced >= self.ticket {
                    return Ok(());
                }
                refuse_if_failed(&state)?;
                !std::mem::replace(&mut state.syncing, true)
            };
            if !leads {
                woken.await;
                continue;
            }
            // From here until the fsync ends, no one else starts one; the guard hands
            // the lead on if this future is dropped before that.
            let lead = Leading(self.group.clone());
            let multi_thread = tokio::runtime::Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
            if !multi_thread {
                // On one thread the other instances reach their commits only if this
                // task lets them run: yield once, so every instance ready now joins
                // this fsync. At 4 instances that took a current-thread runtime from
                // 0.74x to 1.57x the raw transaction rate.
                tokio::task::yield_now().await;
                return lead.sync();
            }
            // In place, with the worker's other tasks handed to another thread, so the
            // other instances keep committing (and join the next group) while this
            // fsync runs. Handing the fsync itself to a blocking thread cost two thread
            // switches per group: 10–20% of the throughput at 1–4 instances. (Yielding
            // first, as on one thread, gained nothing here.)
            return tokio::task::block_in_place(move || lead.sync());
        }
    }
}

/// The lead of the next fsync, held from `syncing = true` until it is given up: by running
/// the fsync, or by being dropped first (a cancelled step), which lets a waiter take it.
struct Leading(Arc<GroupCommit>);

impl Leading {
    /// Runs one fsync covering every commit counted so far, then gives up the lead.
    fn sync(self) -> io::Result<()> {
        let target = lock(&self.0.state).committed;
        self.0.fsync(target)
    }
}

impl Drop for Leading {
    fn drop(&mut self) {
        lock(&self.0.state).syncing = false;
        self.0.synced.notify_waiters();
    }
}

fn refuse_if_failed(state: &State) -> io::Result<()> {
    match &state.failed {
        Some(why) => Err(io::Error::other(why.clone())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::io::Write;

    fn group_on_file() -> (tempfile::TempDir, Arc<GroupCommit>) {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("j.db-wal");
        std::fs::File::create(&wal).unwrap().write_all(b"frames").unwrap();
        (dir, Arc::new(GroupCommit::new(wal)))
    }

    #[tokio::test]
    async fn a_lone_commit_runs_its_own_fsync() {
        let (_dir, group) = group_on_file();
        group.committed().durable().await.unwrap();
        let state = lock(&group.state);
        assert_eq!((state.committed, state.synced, state.syncing), (1, 1, false));
    }

    #[tokio::test]
    async fn commits_counted_while_an_fsync_runs_wait_for_the_next_one() {
        let (_dir, group) = group_on_file();
        let first = group.committed();
        // A leader is mid-fsync with target 1; tickets 2 and 3 arrive meanwhile.
        lock(&group.state).syncing = true;
        let (second, third) = (group.committed(), group.committed());
        let waiters = tokio::spawn(async move { tokio::join!(second.durable(), third.durable()) });
        tokio::task::yield_now().await;
        assert!(!waiters.is_finished(), "tickets 2 and 3 wait while the first fsync runs");
        // The in-flight fsync covered ticket 1 only.
        {
            let mut state = lock(&group.state);
            state.synced = 1;
            state.syncing = false;
        }
        group.synced.notify_waiters();
        let (a, b) = waiters.await.unwrap();
        a.unwrap();
        b.unwrap();
        first.durable().await.unwrap();
        assert_eq!(lock(&group.state).synced, 3, "one fsync covered both waiters");
    }

    #[tokio::test]
    async fn on_one_thread_every_instance_ready_to_commit_joins_the_leaders_fsync() {
        let (_dir, group) = group_on_file();
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let group = group.clone();
                tokio::spawn(async move { group.committed().durable().await })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let state = lock(&group.state);
        assert_eq!((state.committed, state.synced, state.fsyncs), (4, 4, 1), "the leader yielded to the other three");
    }

    #[tokio::test]
    async fn a_leader_dropped_before_its_fsync_hands_the_lead_on() {
        let (_dir, group) = group_on_file();
        let mut first = Box::pin(group.committed().durable());
        // Polled once: it takes the lead and yields before syncing. Then its step is cancelled.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(lock(&group.state).syncing);
        drop(first);
        let second = tokio::time::timeout(std::time::Duration::from_secs(5), group.committed().durable()).await;
        second.expect("a later commit is not left waiting for the dropped leader").unwrap();
        let state = lock(&group.state);
        assert_eq!((state.synced, state.syncing, state.fsyncs), (2, false, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_on_a_multi_thread_runtime_all_become_durable() {
        let (_dir, group) = group_on_file();
        let waiters: Vec<_> = (0..64).map(|_| tokio::spawn(group.committed().durable())).collect();
        for waiter in waiters {
            waiter.await.unwrap().unwrap();
        }
        let state = lock(&group.state);
        assert_eq!((state.committed, state.synced, state.syncing), (64, 64, false));
    }

    #[tokio::test]
    async fn a_failed_fsync_refuses_every_later_durable_write() {
        let dir = tempfile::tempdir().unwrap();
        // No -wal file: opening it for the fsync fails.
        let group = Arc::new(GroupCommit::new(dir.path().join("missing-wal")));
        let err = group.committed().durable().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        std::fs::File::create(dir.path().join("missing-wal")).unwrap();
        let later = group.committed().durable().await.unwrap_err().to_string();
        assert!(later.contains("durable writes are refused until the journal is reopened"), "{later}");
        assert!(group.sync_now().unwrap_err().to_string().contains("missing-wal"));
    }
}
