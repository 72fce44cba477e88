//! Cloudflare's envelope `{success, errors, messages, result, result_info?}` and its errors:
//! which HTTP status and numeric code each failure gets.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::error::Error;

/// Cloudflare's code for a missing or wrong API token.
pub const AUTH_CODE: i64 = 10000;
/// Cloudflare's code for Workflows errors (the message is the error's code, e.g.
/// `instance.not_found`).
pub const WORKFLOWS_CODE: i64 = 10001;
/// Cloudflare's "No route for that URI".
pub const NO_ROUTE_CODE: i64 = 7000;
/// Cloudflare's "Method not allowed for api_token authentication" family.
pub const METHOD_CODE: i64 = 7001;
/// Cloudflare's "Could not route to …, perhaps your object identifier is invalid?".
pub const BAD_ACCOUNT_CODE: i64 = 7003;

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// A successful answer.
pub fn ok(result: Value, result_info: Option<Value>) -> Response {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(info) = result_info {
        body["result_info"] = info;
    }
    json_response(StatusCode::OK, &body)
}

/// A failed request: the status, one error `{code, message}`, and the explanation (what went
/// wrong and what to do) as a message.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
    pub detail: Option<String>,
}

impl ApiFailure {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), detail: None }
    }

    /// A bad request: `what` is the error code (`request.invalid_json`…), `detail` says more.
    pub fn bad_request(what: &str, detail: impl Into<String>) -> Self {
        Self { detail: Some(detail.into()), ..Self::new(StatusCode::BAD_REQUEST, WORKFLOWS_CODE, what) }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl From<Error> for ApiFailure {
    /// An engine error: its code (or name) as the message, with the status it deserves.
    fn from(error: Error) -> Self {
        let code = error.code().map(str::to_owned);
        let status = match code.as_deref() {
            Some(c) if c.ends_with(".not_found") => StatusCode::NOT_FOUND,
            Some(c) if c.ends_with(".already_exists") => StatusCode::CONFLICT,
            Some(c) if c.contains(".cannot_") => StatusCode::CONFLICT,
            Some(c) if c.contains(".invalid") => StatusCode::BAD_REQUEST,
            Some("workflow.unsupported") => StatusCode::NOT_IMPLEMENTED,
            _ if error.kind() == crate::error::ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let message = code.unwrap_or_else(|| error.name().to_owned());
        Self { status, code: WORKFLOWS_CODE, message, detail: Some(error.message().to_owned()) }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let messages = match &self.detail {
            Some(detail) => json!([{"code": self.code, "message": detail}]),
            None => json!([]),
        };
        let body = json!({
            "success": false,
            "errors": [{"code": self.code, "message": self.message}],
            "messages": messages,
            "result": null,
        });
        json_response(self.status, &body)
    }
}
