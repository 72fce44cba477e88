//! Firing cron schedules: one instance per tick, its creation and the tick's record in one
//! journal transaction, so a restart neither fires a tick again nor loses one it recorded.
//!
//! Ticks missed while no engine ran are coalesced: on start, the latest missed tick of each
//! schedule fires once, the earlier ones not at all (Cloudflare does not replay missed cron
//! triggers either). A schedule seen for the first time starts counting from now.

use std::sync::Arc;

use super::state::Inner;
use crate::local::journal::{storage, NewInstance};
use crate::local::mutex::lock;
use crate::status::{Schedule, Timestamp};

impl Inner {
    /// Fires the schedules that are due; returns the earliest next tick.
    pub(super) fn fire_schedules(self: &Arc<Self>) -> Option<i64> {
        let now = self.clock.now();
        let mut next: Option<i64> = None;
        for schedule in &self.schedules {
            let upcoming = match self.fire_schedule(schedule, now) {
                Ok(at) => at,
                Err(e) => {
                    self.sink.write(
                        crate::log::Level::Error,
                        &format!("[lunora] schedule {:?} of {}: {e}", schedule.text, schedule.workflow),
                    );
                    // Try again in a minute rather than spin.
                    Some(now + 60_000)
                }
            };
            next = match (next, upcoming) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        next
    }

    fn fire_schedule(
        self: &Arc<Self>,
        schedule: &super::schedule::CronSchedule,
        now: i64,
    ) -> crate::error::Result<Option<i64>> {
        let workflow = &*schedule.workflow;
        let last =
            lock(&self.journal).schedule_tick(workflow, &schedule.text).map_err(storage("read of a schedule"))?;
        let Some(last) = last else {
            lock(&self.journal).fire_schedule(workflow, &schedule.text, now, None).map_err(storage("schedule arm"))?;
            return Ok(schedule.next_after(now));
        };
        let due = schedule.latest_at_or_before(now).filter(|tick| *tick > last);
        if let Some(tick) = due {
            let id = schedule.instance_id(tick);
            let trigger = Schedule { cron: schedule.text.clone(), scheduled_time: Timestamp(tick) };
            let new = NewInstance { workflow, id: &id, params: "{}", retention: None, created_at: now };
            let created = lock(&self.journal)
                .fire_schedule(workflow, &schedule.text, tick, Some((&new, &trigger)))
                .map_err(storage("cron start"))?;
            if created {
                self.after_create(workflow, &id)?;
            }
        }
        Ok(schedule.next_after(due.unwrap_or(last).max(last)))
    }
}
