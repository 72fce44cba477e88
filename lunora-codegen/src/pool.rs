//! A pool of scoped threads working through tasks that may add more tasks (a module file names
//! its child files and annotated fns). Results come back by task id, so callers rebuild a
//! deterministic order whatever thread ran what. std only, not rayon: a task takes
//! microseconds, so a mutex-guarded queue costs little, and no thread outlives the call (with
//! its thread-locals, see [`run`]), which a global pool's would.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Where tasks wait; handed to every task so it can add more.
pub struct Queue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    tasks: VecDeque<(usize, T)>,
    next_id: usize,
    /// Tasks queued or running: the work is over when none is left.
    unfinished: usize,
    /// A task panicked: the others stop, and the panic surfaces when its thread is joined.
    panicked: bool,
}

impl<T> Queue<T> {
    fn new() -> Self {
        let state = State { tasks: VecDeque::new(), next_id: 0, unfinished: 0, panicked: false };
        Queue { state: Mutex::new(state), ready: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `task`; returns its id, the index of its result in [`run`]'s answer.
    pub fn push(&self, task: T) -> usize {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.unfinished += 1;
        state.tasks.push_back((id, task));
        drop(state);
        self.ready.notify_one();
        id
    }

    /// The next task, waiting while others run (they may add some); `None` once all are done.
    fn next(&self) -> Option<(usize, T)> {
        let mut state = self.lock();
        loop {
            if state.panicked {
                return None;
            }
            if let Some(task) = state.tasks.pop_front() {
                return Some(task);
            }
            if state.unfinished == 0 {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn finish(&self) {
        let mut state = self.lock();
        state.unfinished -= 1;
        if state.unfinished == 0 {
            drop(state);
            self.ready.notify_all();
        }
    }
}

/// Wakes the other threads if a task panics, so they do not wait for it forever.
struct PanicGuard<'a, T>(&'a Queue<T>);

impl<T> Drop for PanicGuard<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().panicked = true;
            self.0.ready.notify_all();
        }
    }
}

/// Runs `work` on `first` and on every task added to the queue, on `threads` new threads, each
/// with its own `state()` (e.g. a reusable buffer). Returns the results in task id order,
/// `first` being task 0. The caller's thread only waits: what tasks leave in thread-locals
/// (proc_macro2 keeps the text of every parse in one) goes away with the pool's threads.
pub fn run<T: Send, R: Send, S>(
    first: T,
    threads: usize,
    state: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, T, &Queue<T>) -> R + Sync,
) -> Vec<R> {
    let queue = Queue::new();
    queue.push(first);
    let worker = || {
        let _guard = PanicGuard(&queue);
        let mut state = state();
        let mut done = Vec::new();
        while let Some((id, task)) = queue.next() {
            done.push((id, work(&mut state, task, &queue)));
            queue.finish();
        }
        done
    };
    let mut results = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..threads.max(1)).map(|_| scope.spawn(worker)).collect();
        let mut results = Vec::new();
        for thread in threads {
            match thread.join() {
                Ok(done) => results.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        results
    });
    results.sort_unstable_by_key(|(id, _)| *id);
    results.into_iter().map(|(_, result)| result).collect()
}

/// `work` on every item of `items`, on up to `threads` new threads; the results in the items'
/// order.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.is_empty() {
        return Vec::new();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else { return done };
            done.push((i, work(item)));
        }
    };
    let mut results = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..threads.clamp(1, items.len())).map(|_| scope.spawn(worker)).collect();
        let mut results = Vec::with_capacity(items.len());
        for thread in threads {
            match thread.join() {
                Ok(done) => results.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        results
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_added_by_tasks_run_and_results_come_back_by_id() {
        // Task n adds tasks 2n+1 and 2n+2 below 100: a binary tree, run on several threads.
        let results = run(
            0usize,
            4,
            || (),
            |_, n, queue| {
                let children: Vec<usize> =
                    [2 * n + 1, 2 * n + 2].into_iter().filter(|&c| c < 100).map(|c| queue.push(c)).collect();
                (n, children)
            },
        );
        assert_eq!(results.len(), 100);
        assert_eq!(results[0].0, 0, "the first task is task 0");
        let mut seen = [false; 100];
        for (n, children) in &results {
            seen[*n] = true;
            let ran: Vec<usize> = children.iter().map(|&id| results[id].0).collect();
            assert_eq!(ran, [2 * n + 1, 2 * n + 2].into_iter().filter(|&c| c < 100).collect::<Vec<_>>());
        }
        assert!(seen.iter().all(|&s| s), "every task ran once");
    }

    #[test]
    fn map_keeps_the_order_of_its_items() {
        let items: Vec<u64> = (0..1000).collect();
        assert_eq!(map(&items, 3, |n| n * 2), items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert!(map(&[] as &[u8], 3, |n| *n).is_empty());
    }

    #[test]
    #[should_panic(expected = "task 7")]
    fn a_panicking_task_surfaces_instead_of_hanging() {
        run(
            0usize,
            3,
            || (),
            |_, n, queue| {
                assert_ne!(n, 7, "task 7");
                if n < 20 {
                    queue.push(n + 1);
                }
            },
        );
    }
}
