//! What requests carry: the listing query, the status actions, the create body, and the
//! percent-encoding of path segments and query values.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::status::{InstanceStatusKind, RestartFrom};

/// Percent-encodes every byte of the UTF-8 text except RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`), so the result is safe as one path segment or query value.
pub fn encode_path_segment(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0x0f)] as char);
        }
    }
    out
}

/// Sort order of a listing (by creation time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }
}

/// The query of `list_instances`. Page either by `page`/`per_page` or by `cursor`
/// ([`InstancePage::next`](super::InstancePage::next) continues whichever the first page used).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListInstances {
    pub workflow_name: String,
    pub status: Option<InstanceStatusKind>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub cursor: Option<String>,
    pub direction: Option<Direction>,
    /// ISO 8601 in UTC without offset, e.g. `2025-06-01T00:00:00Z`.
    pub date_start: Option<String>,
    pub date_end: Option<String>,
}

impl ListInstances {
    pub fn new(workflow_name: impl Into<String>) -> Self {
        Self { workflow_name: workflow_name.into(), ..Self::default() }
    }

    pub fn status(mut self, status: InstanceStatusKind) -> Self {
        self.status = Some(status);
        self
    }

    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }

    pub fn per_page(mut self, per_page: u32) -> Self {
        self.per_page = Some(per_page);
        self
    }

    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    pub fn date_range(mut self, start: Option<String>, end: Option<String>) -> Self {
        self.date_start = start;
        self.date_end = end;
        self
    }

    /// The query string's pairs, in a fixed order, unencoded.
    pub(super) fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(page) = self.page {
            pairs.push(("page", page.to_string()));
        }
        if let Some(per_page) = self.per_page {
            pairs.push(("per_page", per_page.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        if let Some(direction) = self.direction {
            pairs.push(("direction", direction.as_str().to_owned()));
        }
        if let Some(start) = &self.date_start {
            pairs.push(("date_start", start.clone()));
        }
        if let Some(end) = &self.date_end {
            pairs.push(("date_end", end.clone()));
        }
        pairs
    }
}

/// What `set_instance_status` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    /// With `rollback`, the completed steps' rollbacks run before the instance is terminated.
    Terminate {
        rollback: bool,
    },
    /// Without `from`, from the beginning; with it, keeps every step before the target.
    Restart {
        from: Option<RestartFrom>,
    },
}

impl Action {
    /// The `status` value sent.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Terminate { .. } => "terminate",
            Action::Restart { .. } => "restart",
        }
    }

    /// The PATCH body: `{status, rollback?, from?: {name, count, type}}`.
    pub fn body(&self) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("status".into(), self.as_str().into());
        match self {
            Action::Terminate { rollback: true } => {
                body.insert("rollback".into(), true.into());
            }
            Action::Restart { from: Some(from) } => {
                body.insert(
                    "from".into(),
                    serde_json::json!({"name": from.name, "count": from.count, "type": from.kind.as_str()}),
                );
            }
            _ => {}
        }
        Value::Object(body)
    }
}

/// A retention duration: milliseconds or text such as `"30 days"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RetentionDuration {
    Millis(u64),
    Text(String),
}

/// `instance_retention` of a created instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRetention {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_retention: Option<RetentionDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_retention: Option<RetentionDuration>,
}

/// The body of `create_instance`: `{instance_id?, params?, instance_retention?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CreateInstance {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_retention: Option<InstanceRetention>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_everything_but_unreserved_characters() {
        assert_eq!(encode_path_segment("order pipeline"), "order%20pipeline");
        assert_eq!(encode_path_segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode_path_segment("café/ü?#&=+%"), "caf%C3%A9%2F%C3%BC%3F%23%26%3D%2B%25");
    }

    #[test]
    fn action_bodies() {
        assert_eq!(Action::Pause.body(), serde_json::json!({"status": "pause"}));
        assert_eq!(Action::Terminate { rollback: false }.body(), serde_json::json!({"status": "terminate"}));
        assert_eq!(
            Action::Restart { from: Some(RestartFrom::step("charge").count(2)) }.body(),
            serde_json::json!({"status": "restart", "from": {"name": "charge", "count": 2, "type": "do"}})
        );
    }
}
