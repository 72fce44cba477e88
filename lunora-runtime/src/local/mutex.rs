//! The engine's mutexes are used even when poisoned: a panic while one was held (a step's
//! panic is caught while the body is polled) must not stop every later instance.

use std::sync::{Mutex, MutexGuard};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
