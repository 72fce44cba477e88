//! Reading what a request carries: percent-encoded path segments, the listing's query string
//! and JSON bodies, each refused with a Cloudflare-shaped error that says what was wrong.

use serde_json::Value;

use super::envelope::ApiFailure;
use crate::listing::ListQuery;
use crate::rest::parse_timestamp;
use crate::status::{InstanceStatusKind, Timestamp};

/// Decodes one `%XX`-encoded path segment or query value (`+` stays `+` in paths).
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, ApiFailure> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| {
                    ApiFailure::bad_request("request.invalid_path", format!("{text:?} has a malformed %-escape"))
                })?;
                out.push(byte);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| ApiFailure::bad_request("request.invalid_path", format!("{text:?} does not decode to UTF-8")))
}

/// The query of `GET …/instances`; unknown parameters are ignored, as Cloudflare does.
/// Returns the query and whether the client pages by cursor (it sent `cursor`, even empty).
pub fn list_query(raw: Option<&str>) -> Result<(ListQuery, bool), ApiFailure> {
    let mut query = ListQuery::new();
    let mut by_cursor = false;
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key, true)?;
        let value = percent_decode(value, true)?;
        let bad = |why: String| ApiFailure::bad_request("request.invalid_query", format!("{key}={value:?}: {why}"));
        let number = |value: &str| value.parse::<u32>().map_err(|_| bad("not a whole number".into()));
        match key.as_str() {
            "status" => {
                let status = InstanceStatusKind::parse(&value);
                if status == InstanceStatusKind::Unknown && value != "unknown" {
                    return Err(bad("not an instance status (queued, running, paused, errored, terminated, complete, waiting, waitingForPause, unknown)".into()));
                }
                query.status = Some(status);
            }
            "page" => query.page = Some(number(&value)?),
            "per_page" => query.per_page = Some(number(&value)?),
            "cursor" => {
                by_cursor = true;
                query.cursor = (!value.is_empty()).then_some(value.clone());
            }
            "direction" => match value.as_str() {
                "asc" => query.descending = false,
                "desc" => query.descending = true,
                _ => return Err(bad("direction is asc or desc".into())),
            },
            "date_start" | "date_end" => {
                let at = parse_timestamp(&value)
                    .ok_or_else(|| bad("not an ISO 8601 time such as 2025-06-01T00:00:00Z".into()))?;
                let at = Some(Timestamp::from(at));
                if key == "date_start" {
                    query.created_from = at;
                } else {
                    query.created_to = at;
                }
            }
            _ => {}
        }
    }
    Ok((query, by_cursor))
}

/// A JSON request body; an empty body is `null`.
pub fn json_body(body: &[u8]) -> Result<Value, ApiFailure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiFailure::bad_request("request.invalid_json", format!("the request body is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_refuses_broken_ones() {
        assert_eq!(percent_decode("a%20b%2Fc", false).unwrap(), "a b/c");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("a+b", true).unwrap(), "a b");
        for bad in ["%", "%4", "%zz", "%FF"] {
            assert!(percent_decode(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_queries_are_checked() {
        let (q, cursor) = list_query(Some("status=waiting&page=2&per_page=5&direction=desc&x=1")).unwrap();
        assert_eq!(
            (q.status, q.page, q.per_page, q.descending, cursor),
            (Some(InstanceStatusKind::Waiting), Some(2), Some(5), true, false)
        );
        assert!(list_query(Some("cursor=")).unwrap().1);
        for bad in
            ["page=-1", "per_page=ten", "status=done", "direction=up", "date_start=yesterday", "page=99999999999"]
        {
            let err = list_query(Some(bad)).unwrap_err();
            assert_eq!(err.message, "request.invalid_query", "{bad}");
        }
    }
}
