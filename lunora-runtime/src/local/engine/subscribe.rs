//! `instance.subscribe` on the embedded engine. Each subscription is a task that reads the
//! journal's event log (see `local::event_log`) page by page into a bounded channel and, once
//! it has caught up, waits for the journal to announce new events. The channel is the
//! backpressure (a slow consumer holds the task at `send`, not the engine) and the lifetime:
//! dropping the subscription closes it, which ends the task even while it waits.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, watch};

use super::state::Inner;
use crate::error::{Error, Result};
use crate::local::journal::storage;
use crate::local::mutex::lock;
use crate::subscription::{InstanceEvent, SubscribeOptions, Subscription};

/// Events read from the journal at a time, and buffered ahead of the consumer.
const PAGE: u32 = 128;

impl Inner {
    /// Subscribes to an instance's events (`options` already validated).
    pub(super) fn subscribe(
        self: &Arc<Self>,
        workflow: &str,
        id: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription> {
        let (name, _) = self.registered(workflow)?;
        // Watching starts before the instance is looked up: nothing appended after the look-up
        // can be missed.
        let announced = lock(&self.journal).watch_events();
        self.require_instance(workflow, id)?;
        let (sender, receiver) = mpsc::channel(PAGE as usize);
        let feed =
            Feed { inner: self.clone(), workflow: name.to_string(), id: id.to_owned(), options, sender, announced };
        self.runtime.spawn(feed.run());
        Ok(Subscription::new(Received(receiver)))
    }
}

struct Feed {
    inner: Arc<Inner>,
    workflow: String,
    id: String,
    options: SubscribeOptions,
    sender: mpsc::Sender<Result<InstanceEvent>>,
    announced: watch::Receiver<u64>,
}

/// What one look at the journal found.
enum Page {
    Events(Vec<InstanceEvent>),
    /// Nothing after the cursor, and the instance's end is before it.
    Ended,
    /// Nothing after the cursor yet.
    Caught,
}

impl Feed {
    async fn run(mut self) {
        let mut cursor = self.options.cursor.unwrap_or(0);
        loop {
            self.announced.borrow_and_update();
            let page = match self.read(cursor) {
                Ok(page) => page,
                Err(e) => {
                    let _ = self.sender.send(Err(e)).await;
                    return;
                }
            };
            match page {
                Page::Events(events) => {
                    for event in events {
                        cursor = event.event_id;
                        let terminal = event.is_terminal();
                        if self.options.admits(event.kind.type_name()) && self.sender.send(Ok(event)).await.is_err() {
                            return;
                        }
                        if terminal {
                            return;
                        }
                    }
                }
                Page::Ended => return,
                Page::Caught => {
                    tokio::select! {
                        _ = self.sender.closed() => return,
                        changed = self.announced.changed() => {
                            if changed.is_err() {
                                let _ = self.sender.send(Err(Error::internal("the engine was closed"))).await;
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    fn read(&self, cursor: u64) -> Result<Page> {
        let journal = lock(&self.inner.journal);
        let events = journal.events_after(&self.workflow, &self.id, cursor, PAGE).map_err(storage("read of events"))?;
        if !events.is_empty() {
            return Ok(Page::Events(events));
        }
        if journal.ended_by(&self.workflow, &self.id, cursor).map_err(storage("read of events"))? {
            return Ok(Page::Ended);
        }
        // Deleted (or expired) while subscribed: its events are gone and will not come.
        if journal.instance(&self.workflow, &self.id).map_err(storage("read of an instance"))?.is_none() {
            return Err(crate::handle_errors::not_found(&self.workflow, &self.id));
        }
        Ok(Page::Caught)
    }
}

/// The subscription's end of the channel, as a stream.
struct Received(mpsc::Receiver<Result<InstanceEvent>>);

impl futures_core::Stream for Received {
    type Item = Result<InstanceEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
