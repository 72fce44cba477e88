//! A workflow's cron schedule (`schedules` in wrangler.toml): Cloudflare's five-field patterns,
//! evaluated in UTC, and the ticks around a time.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;

use crate::error::{Error, Result};

/// One `schedules` entry of a registered workflow.
pub(crate) struct CronSchedule {
    pub workflow: Arc<str>,
    /// As declared (the key of its last tick in the journal, and `event.schedule.cron`).
    pub text: String,
    /// Its position among the workflow's schedules (part of the instance ids it starts).
    pub index: usize,
    cron: Cron,
}

fn at(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms)
}

impl CronSchedule {
    pub fn parse(workflow: Arc<str>, index: usize, text: &str) -> Result<Self> {
        let cron = CronParser::builder().seconds(Seconds::Disallowed).build().parse(text).map_err(|e| {
            Error::workflow(
                "workflow.invalid_schedule",
                format!("workflow {workflow:?}: schedule {text:?} is not a five-field cron pattern: {e}"),
            )
        })?;
        Ok(Self { workflow, text: text.to_owned(), index, cron })
    }

    /// The latest tick at or before `ms`.
    pub fn latest_at_or_before(&self, ms: i64) -> Option<i64> {
        self.cron.find_previous_occurrence(&at(ms)?, true).ok().map(|t| t.timestamp_millis())
    }

    /// The first tick strictly after `ms`.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        self.cron.find_next_occurrence(&at(ms)?, false).ok().map(|t| t.timestamp_millis())
    }

    /// The id of the instance the tick at `tick` starts: one per schedule and tick.
    pub fn instance_id(&self, tick: i64) -> String {
        format!("cron-{}-{tick}", self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_around_a_time_in_utc() {
        let s = CronSchedule::parse(Arc::from("w"), 0, "*/15 * * * *").unwrap();
        let t = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        assert_eq!(s.latest_at_or_before(t), Some(t));
        assert_eq!(s.latest_at_or_before(t + 60_000), Some(t));
        assert_eq!(s.next_after(t), Some(t + 15 * 60_000));
        let daily = CronSchedule::parse(Arc::from("w"), 1, "0 3 * * *").unwrap();
        assert_eq!(daily.next_after(t), Some(t + 3 * 3_600_000));
        for bad in ["", "* * * *", "0 0 * * * *", "61 * * * *", "every minute"] {
            let err = CronSchedule::parse(Arc::from("w"), 0, bad).err().unwrap();
            assert_eq!(err.code(), Some("workflow.invalid_schedule"), "{bad}");
        }
    }
}
