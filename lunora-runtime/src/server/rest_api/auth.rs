//! The bearer token: required when one is configured, compared in constant time, never echoed.

use axum::http::{HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

use super::envelope::{ApiFailure, AUTH_CODE};

/// Checks `Authorization: Bearer <token>` against `expected` (any request passes without one).
pub fn check(headers: &HeaderMap, expected: Option<&str>) -> Result<(), ApiFailure> {
    let Some(expected) = expected else { return Ok(()) };
    let refused = |status, why: &str| ApiFailure::new(status, AUTH_CODE, "Authentication error").with_detail(why);
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "this server requires an API token: send Authorization: Bearer <token>",
        ));
    };
    let given = value.as_bytes().strip_prefix(b"Bearer ").unwrap_or(b"");
    // ct_eq compares every byte whatever the first difference; only the length may differ early.
    if given.ct_eq(expected.as_bytes()).into() {
        Ok(())
    } else {
        Err(refused(StatusCode::FORBIDDEN, "the API token is not the one this server was started with"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(v) = value {
            map.insert(axum::http::header::AUTHORIZATION, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_the_configured_bearer_token_passes() {
        let token = "s3cret-token-0123456789";
        assert!(check(&headers(None), None).is_ok());
        assert!(check(&headers(Some("Bearer anything")), None).is_ok());
        assert!(check(&headers(Some(&format!("Bearer {token}"))), Some(token)).is_ok());
        for bad in [None, Some("Bearer"), Some("Bearer s3cret"), Some(token), Some("Basic czNjcmV0")] {
            let err = check(&headers(bad), Some(token)).unwrap_err();
            assert_eq!(err.code, AUTH_CODE);
            assert!(!format!("{err:?}").contains("s3cret"), "never echoed: {err:?}");
        }
    }
}
