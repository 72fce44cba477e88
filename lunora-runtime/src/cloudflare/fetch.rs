//! Time as the Worker sees it (`Date.now()` and `setTimeout`) as [`Clock`]. The Worker's `fetch`
//! as a transport lives with the other transports, in [`crate::http`].

use std::time::Duration;

use worker::Delay;

use crate::clock::Clock;
use crate::erased::BoxFuture;
pub use crate::http::FetchTransport;

/// `Date.now()` and `setTimeout`.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn sleep_until(&self, at: i64) -> BoxFuture<'static, ()> {
        let wait = Duration::from_millis(u64::try_from(at - self.now()).unwrap_or(0));
        Box::pin(Delay::from(wait))
    }
}
