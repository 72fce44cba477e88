//! Listing a workflow's instances: Cloudflare's filters (status, creation date range), order
//! and paging (page numbers or an opaque cursor), and what a page holds.

use base64::Engine as _;

use crate::error::{Error, Result};
use crate::status::{InstanceStatusKind, Timestamp};

/// The most instances one page holds.
pub const MAX_PER_PAGE: u32 = 100;
/// The page size when none is asked for.
pub const DEFAULT_PER_PAGE: u32 = 25;

/// Which instances of a workflow to list, in which order, and which page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub status: Option<InstanceStatusKind>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created at or before.
    pub created_to: Option<Timestamp>,
    /// Newest first (the default is oldest first).
    pub descending: bool,
    /// 1-based; ignored when `cursor` is given.
    pub page: Option<u32>,
    /// 1..=[`MAX_PER_PAGE`], default [`DEFAULT_PER_PAGE`].
    pub per_page: Option<u32>,
    /// The `cursor` of the previous page: continue after its last instance.
    pub cursor: Option<String>,
}

impl ListQuery {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn status(mut self, status: InstanceStatusKind) -> Self {
        self.status = Some(status);
        self
    }

    pub fn per_page(mut self, per_page: u32) -> Self {
        self.per_page = Some(per_page);
        self
    }

    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }

    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    pub fn created_between(mut self, from: Option<Timestamp>, to: Option<Timestamp>) -> Self {
        self.created_from = from;
        self.created_to = to;
        self
    }

    /// The page size, checked.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the embedded engine's
    pub(crate) fn checked_per_page(&self) -> Result<u32> {
        match self.per_page {
            None => Ok(DEFAULT_PER_PAGE),
            Some(n) if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
            Some(n) => Err(invalid(format!("per_page is {n}; it must be 1 to {MAX_PER_PAGE}"))),
        }
    }

    /// The page number, checked.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the embedded engine's
    pub(crate) fn checked_page(&self) -> Result<u32> {
        match self.page {
            None => Ok(1),
            Some(0) => Err(invalid("page is 0; pages are numbered from 1".into())),
            Some(n) => Ok(n),
        }
    }
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the embedded engine's
fn invalid(message: String) -> Error {
    Error::workflow("instance.invalid_list_query", message)
}

/// One instance of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceInfo {
    pub id: String,
    pub status: InstanceStatusKind,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// The last change the listing knows of: end, pause, start or creation.
    pub modified_at: Timestamp,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceList {
    pub instances: Vec<InstanceInfo>,
    /// The page number (1 for cursor paging).
    pub page: u32,
    pub per_page: u32,
    /// How many instances match the filter in all.
    pub total_count: u64,
    /// Pass as the next query's `cursor` to continue; `None` on the last page.
    pub cursor: Option<String>,
}

/// A cursor names the last instance of a page: its creation time and id.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the embedded engine's
pub(crate) fn encode_cursor(created_at: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the embedded engine's
pub(crate) fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let bad = || invalid(format!("cursor {cursor:?} is not one this server returned; start again without it"));
    if cursor.len() > 400 {
        return Err(bad());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = encode_cursor(1_700_000_000_123, "order-1:a");
        assert_eq!(decode_cursor(&c).unwrap(), (1_700_000_000_123, "order-1:a".to_owned()));
        for bad in ["", "!!", "bm90IGEgY3Vyc29y", &"A".repeat(500)] {
            let err = decode_cursor(bad).unwrap_err();
            assert_eq!(err.code(), Some("instance.invalid_list_query"), "{bad}: {err}");
        }
    }
}
