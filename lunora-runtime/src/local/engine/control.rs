//! Who owns an instance right now: the key of an instance and the [`Control`] its one owner (a
//! runner executing the body, or an operation) holds, through which others ask it to stop,
//! pause or run again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use tokio::sync::{watch, Notify};

use crate::local::mutex::lock;

/// Identifies an instance: deployed workflow name and instance id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct InstanceKey {
    pub workflow: Arc<str>,
    pub id: Arc<str>,
}

/// Who owns an instance right now, and what others ask of it.
pub(crate) struct Control {
    pub runner: bool,
    pub abort: AtomicBool,
    pub pause: AtomicBool,
    /// The engine is shutting down: finish the attempts in flight, start no new step, and
    /// leave the instance runnable for the next engine.
    pub drain: AtomicBool,
    pub poke: AtomicBool,
    waker: Mutex<Option<Waker>>,
    abort_signal: Notify,
    pub(super) done: watch::Sender<bool>,
}

impl Control {
    pub(super) fn new(runner: bool) -> Arc<Self> {
        Arc::new(Self {
            runner,
            abort: AtomicBool::new(false),
            pause: AtomicBool::new(false),
            drain: AtomicBool::new(false),
            poke: AtomicBool::new(false),
            waker: Mutex::new(None),
            abort_signal: Notify::new(),
            done: watch::channel(false).0,
        })
    }

    pub fn set_waker(&self, waker: &Waker) {
        *lock(&self.waker) = Some(waker.clone());
    }

    /// Resolves once an operation asked this owner to stop.
    pub async fn aborted(&self) {
        let signal = self.abort_signal.notified();
        tokio::pin!(signal);
        signal.as_mut().enable();
        if self.abort.load(Ordering::SeqCst) {
            return;
        }
        signal.await;
    }

    /// Resolves once this owner has released the instance.
    pub(super) async fn finished(&self) {
        let _ = self.done.subscribe().wait_for(|d| *d).await;
    }

    pub(super) fn request_abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
        self.abort_signal.notify_waiters();
        self.wake();
    }

    /// Wakes the runner so it re-checks abort / pause.
    pub(super) fn wake(&self) {
        if let Some(w) = lock(&self.waker).take() {
            w.wake();
        }
    }
}
