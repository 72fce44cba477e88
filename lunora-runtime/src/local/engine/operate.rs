//! Operating many instances: listing, waiting for an instance to reach a status, deleting, and
//! retention (when a finished instance expires, and the sweep that removes expired ones).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::state::Inner;
use crate::duration::parse_duration;
use crate::error::{Error, Result};
use crate::listing::{decode_cursor, encode_cursor, InstanceInfo, InstanceList, ListQuery};
use crate::local::journal::{storage, Journal, ListFilter};
use crate::local::mutex::lock;
use crate::status::{InstanceStatusKind, Retention, Timestamp};
use crate::workflow::{RawStatus, WaitFor};

impl Inner {
    /// When an instance ending now in `status` expires: its own retention, else its workflow's
    /// default, else the engine's; `None` keeps it.
    pub(super) fn expiry(
        &self,
        journal: &Journal,
        workflow: &str,
        id: &str,
        status: InstanceStatusKind,
        now: i64,
    ) -> Option<i64> {
        let own: Option<Retention> =
            journal.retention(workflow, id).ok().flatten().and_then(|text| serde_json::from_str(&text).ok());
        let pick = |r: &Retention| {
            if status == InstanceStatusKind::Complete {
                r.success_retention.clone()
            } else {
                r.error_retention.clone()
            }
        };
        let text = own
            .as_ref()
            .and_then(pick)
            .or_else(|| self.retention.workflows.get(workflow).and_then(pick))
            .or_else(|| self.retention.engine.as_ref().and_then(pick))?;
        let after = parse_duration(&text).ok()?;
        Some(now.saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)))
    }

    /// Called (under the journal lock) when an instance gets a retention end: wakes the
    /// scheduler if it is earlier than any it knows of.
    pub(super) fn note_expiry(&self, at: i64) {
        if at < self.next_expiry.fetch_min(at, Ordering::SeqCst) {
            self.timers_changed.notify_one();
        }
    }

    /// Removes the instances whose retention has ended (a bounded batch per call) and gives
    /// their space back; returns when to look again. Instances an operation or a runner holds
    /// right now are left for a later sweep (an operation on an ended instance is a restart,
    /// which clears its expiry). Pages are given back after a thousand removals or once no
    /// more are due soon, not after each sweep: that costs a WAL checkpoint.
    pub(super) fn sweep_expired(&self) -> Option<i64> {
        const BATCH: u32 = 5_000;
        const RECLAIM_AFTER: usize = 1_000;
        const SOON_MS: i64 = 2_000;
        let now = self.clock.now();
        let known = self.next_expiry.load(Ordering::SeqCst);
        if known > now {
            return (known != i64::MAX).then_some(known);
        }
        let live = lock(&self.live);
        let mut journal = lock(&self.journal);
        let result = journal.expired(now, BATCH).and_then(|expired| {
            let found = expired.len();
            let free: Vec<(String, String)> = expired
                .into_iter()
                .filter(|(w, id)| !live.keys().any(|k| &*k.workflow == w.as_str() && &*k.id == id.as_str()))
                .collect();
            let held = found - free.len();
            let removed = if free.is_empty() { 0 } else { journal.delete_instances(&free)? };
            Ok((found, held, removed))
        });
        drop(live);
        let next = journal.next_expiry().ok().flatten();
        let (found, held, removed) = match result {
            Ok(counts) => counts,
            Err(e) => {
                self.sink.write(crate::log::Level::Error, &format!("[lunora] removing expired instances failed: {e}"));
                (0, 1, 0)
            }
        };
        let unreclaimed = self.unreclaimed.fetch_add(removed, Ordering::SeqCst) + removed;
        let lull = next.is_none_or(|at| at > now + SOON_MS);
        if unreclaimed > 0 && (unreclaimed >= RECLAIM_AFTER || lull) {
            match journal.reclaim() {
                Ok(()) => self.unreclaimed.store(0, Ordering::SeqCst),
                Err(e) => {
                    self.sink.write(crate::log::Level::Error, &format!("[lunora] reclaiming journal space failed: {e}"))
                }
            }
        }
        let again = if found == BATCH as usize && removed > 0 {
            Some(now) // a full batch: more may be due at once
        } else if held > 0 {
            Some(now + 1_000) // held by an owner right now: look again shortly rather than spin
        } else {
            next
        };
        self.next_expiry.store(again.unwrap_or(i64::MAX), Ordering::SeqCst);
        drop(journal);
        if removed > 0 {
            self.notify_changed();
        }
        again
    }

    pub(super) fn list(&self, workflow: &str, query: &ListQuery) -> Result<InstanceList> {
        self.registered(workflow)?;
        list_page(&lock(&self.journal), workflow, query)
    }

    /// Waits until the instance reaches `until` (or ends), woken by the engine's changes; fails
    /// with `instance.wait_timeout` after `timeout` (real time).
    pub(super) async fn wait(
        &self,
        workflow: &str,
        id: &str,
        until: WaitFor,
        timeout: Option<Duration>,
    ) -> Result<RawStatus> {
        self.registered(workflow)?;
        let waiting = async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                let status = self.status(workflow, id)?;
                let reached = match until {
                    WaitFor::End => status.status.is_terminal(),
                    WaitFor::Status(s) => status.status == s || status.status.is_terminal(),
                };
                if reached {
                    return Ok(status);
                }
                changed.await;
            }
        };
        match timeout {
            None => waiting.await,
            Some(limit) => tokio::time::timeout(limit, waiting).await.unwrap_or_else(|_| {
                let now = self.status(workflow, id).map(|s| s.status.as_str()).unwrap_or("gone");
                Err(Error::workflow(
                    "instance.wait_timeout",
                    format!("instance {id:?} did not reach {until:?} within {limit:?}; it is {now}"),
                ))
            }),
        }
    }

    /// Deletes instances (stopping those that run), their steps and events; unknown ids fail
    /// with `instance.not_found` before anything is deleted.
    pub(super) async fn delete(self: &Arc<Self>, workflow: &str, ids: &[&str]) -> Result<()> {
        crate::handle_errors::check_delete_batch(ids.len())?;
        for id in ids {
            self.require_instance(workflow, id)?;
        }
        for id in ids {
            let key = self.key(workflow, id)?;
            let control = self.own_exclusive(&key, true).await;
            let result = lock(&self.journal).delete_instance(workflow, id).map_err(storage("delete"));
            self.release(&key, &control, |_| {});
            result?;
        }
        lock(&self.journal).reclaim().map_err(storage("space reclaim"))?;
        self.notify_changed();
        Ok(())
    }
}

/// One page of a workflow's instances as the journal holds them (Cloudflare's filters and paging).
pub(crate) fn list_page(journal: &Journal, workflow: &str, query: &ListQuery) -> Result<InstanceList> {
    let per_page = query.checked_per_page()?;
    let page = if query.cursor.is_some() { 1 } else { query.checked_page()? };
    let filter = ListFilter {
        status: query.status.map(|s| s.as_str().to_owned()),
        created_from: query.created_from.map(Timestamp::as_millis),
        created_to: query.created_to.map(Timestamp::as_millis),
        descending: query.descending,
        after: query.cursor.as_deref().map(decode_cursor).transpose()?,
        offset: u64::from(page - 1) * u64::from(per_page),
        // One more than asked: whether there is a next page.
        limit: per_page + 1,
    };
    let (mut rows, total_count) = journal.list(workflow, &filter).map_err(storage("listing"))?;
    let more = rows.len() > per_page as usize;
    rows.truncate(per_page as usize);
    let cursor = if more { rows.last().map(|r| encode_cursor(r.created_at, &r.id)) } else { None };
    let instances = rows
        .into_iter()
        .map(|r| InstanceInfo {
            modified_at: Timestamp(r.ended_at.or(r.paused_at).or(r.started_at).unwrap_or(r.created_at)),
            id: r.id,
            status: r.status,
            created_at: Timestamp(r.created_at),
            started_at: r.started_at.map(Timestamp),
            ended_at: r.ended_at.map(Timestamp),
        })
        .collect();
    Ok(InstanceList { instances, page, per_page, total_count, cursor })
}
