//! Retention settings: the defaults an engine was built with, and the check of a retention's
//! durations (done when an instance is created, so a bad one is refused there).

use crate::duration::parse_duration;
use crate::error::{Error, Result};
use crate::status::Retention;

/// Checks a retention's durations, naming the bad one.
pub(super) fn check_retention(retention: &Retention) -> Result<()> {
    for (field, value) in
        [("successRetention", &retention.success_retention), ("errorRetention", &retention.error_retention)]
    {
        if let Some(text) = value {
            parse_duration(text).map_err(|e| {
                Error::workflow(
                    "instance.invalid_retention",
                    format!("retention.{field} {text:?} is not a duration: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

/// The retention defaults an engine was built with.
#[derive(Clone, Debug, Default)]
pub(crate) struct RetentionDefaults {
    pub engine: Option<Retention>,
    pub workflows: std::collections::HashMap<String, Retention>,
}
