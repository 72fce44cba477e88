//! Time for the embedded engine: the system clock, or a virtual clock tests advance by hand.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use crate::erased::BoxFuture;

pub use crate::clock::Clock;

/// Wall-clock time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }

    fn sleep_until(&self, at: i64) -> BoxFuture<'static, ()> {
        let wait = (at - self.now()).max(0) as u64;
        Box::pin(tokio::time::sleep(Duration::from_millis(wait)))
    }
}

/// A clock that moves only when told to: sleeps of 30 days pass in microseconds of wall time.
#[derive(Clone)]
pub struct VirtualClock {
    state: Arc<Mutex<VirtualState>>,
}

struct VirtualState {
    now: i64,
    next_id: u64,
    sleepers: BTreeMap<(i64, u64), oneshot::Sender<()>>,
}

impl VirtualClock {
    /// A virtual clock starting at `start` (epoch ms).
    pub fn starting_at(start: i64) -> Self {
        let state = VirtualState { now: start, next_id: 0, sleepers: BTreeMap::new() };
        Self { state: Arc::new(Mutex::new(state)) }
    }

    /// A virtual clock starting at the current wall-clock time.
    pub fn new() -> Self {
        Self::starting_at(SystemClock.now())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VirtualState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves time forward and fires every timer that is now due, earliest first.
    pub fn advance(&self, by: Duration) {
        let mut st = self.lock();
        st.now = st.now.saturating_add(by.as_millis() as i64);
        let now = st.now;
        while let Some(entry) = st.sleepers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let _ = entry.remove().send(());
        }
    }

    /// The earliest pending timer, if any.
    pub fn next_timer(&self) -> Option<i64> {
        self.lock().sleepers.keys().next().map(|(at, _)| *at)
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> i64 {
        self.lock().now
    }

    fn sleep_until(&self, at: i64) -> BoxFuture<'static, ()> {
        let mut st = self.lock();
        if at <= st.now {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        let id = st.next_id;
        st.next_id += 1;
        st.sleepers.insert((at, id), tx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_sleep_resolves_only_after_advance() {
        let clock = VirtualClock::starting_at(1_000);
        let mut sleep = clock.sleep_until(5_000);
        assert!(futures_poll_once(&mut sleep).is_pending());
        clock.advance(Duration::from_millis(3_999));
        assert!(futures_poll_once(&mut sleep).is_pending());
        clock.advance(Duration::from_millis(1));
        assert!(futures_poll_once(&mut sleep).is_ready());
        assert_eq!(clock.now(), 5_000);
    }

    fn futures_poll_once(f: &mut BoxFuture<'static, ()>) -> std::task::Poll<()> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        f.as_mut().poll(&mut cx)
    }
}
