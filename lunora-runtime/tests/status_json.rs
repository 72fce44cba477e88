//! `InstanceStatus` as JSON: the exact text Cloudflare's Workflow binding returns from
//! `instance.status()`, read back from that JSON, and refused with a clear error when malformed.

mod common;

use common::*;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

type RawStatus = InstanceStatus<Value>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Receipt {
    receipt_id: String,
    amount_cents: u64,
}

fn bare(status: InstanceStatusKind) -> RawStatus {
    InstanceStatus { status, error: None, output: None, rollback: None }
}

fn text<O: Serialize>(status: &InstanceStatus<O>) -> String {
    serde_json::to_string(status).expect("a status serialises")
}

fn read<O: serde::de::DeserializeOwned>(json: &str) -> Result<InstanceStatus<O>, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

#[test]
fn every_status_kind_serialises_in_cloudflares_spelling_with_absent_fields_left_out() {
    let kinds = [
        (InstanceStatusKind::Queued, "queued"),
        (InstanceStatusKind::Running, "running"),
        (InstanceStatusKind::Paused, "paused"),
        (InstanceStatusKind::Errored, "errored"),
        (InstanceStatusKind::Terminated, "terminated"),
        (InstanceStatusKind::Complete, "complete"),
        (InstanceStatusKind::Waiting, "waiting"),
        (InstanceStatusKind::WaitingForPause, "waitingForPause"),
        (InstanceStatusKind::RollingBack, "rollingBack"),
        (InstanceStatusKind::Unknown, "unknown"),
    ];
    for (kind, spelled) in kinds {
        let expected = format!(r#"{{"status":"{spelled}"}}"#);
        assert_eq!(text(&bare(kind)), expected);
        assert_eq!(read::<Value>(&expected).unwrap(), bare(kind), "{expected} reads back");
    }
}

#[test]
fn an_errored_status_carries_exactly_name_and_message() {
    let status = InstanceStatus::<Receipt> {
        error: Some(NonRetryableError::new("card declined").into()),
        ..InstanceStatus { status: InstanceStatusKind::Errored, error: None, output: None, rollback: None }
    };
    let expected = r#"{"status":"errored","error":{"name":"NonRetryableError","message":"card declined"}}"#;
    assert_eq!(text(&status), expected);
    assert_eq!(read::<Receipt>(expected).unwrap(), status);
}

#[test]
fn an_engine_side_code_and_http_status_stay_out_of_the_json() {
    // A dispatch failure carries a code and an HTTP status in lunora; Cloudflare's status has
    // neither, so the JSON must not depend on which backend ran the instance.
    let error =
        Error::named("DispatchError", "the Worker refused the call").with_code(Some("FORBIDDEN".into()), Some(403));
    let status = RawStatus { error: Some(error), ..bare(InstanceStatusKind::Errored) };
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        json!({ "status": "errored", "error": { "name": "DispatchError", "message": "the Worker refused the call" } })
    );
}

#[test]
fn a_complete_status_carries_the_typed_output() {
    let receipt = Receipt { receipt_id: "r-1".into(), amount_cents: 4200 };
    let status =
        InstanceStatus { status: InstanceStatusKind::Complete, error: None, output: Some(receipt), rollback: None };
    let expected = r#"{"status":"complete","output":{"receipt_id":"r-1","amount_cents":4200}}"#;
    assert_eq!(text(&status), expected);
    assert_eq!(read::<Receipt>(expected).unwrap(), status);
}

#[test]
fn a_rollback_serialises_as_outcome_and_error_with_null_for_a_complete_chain() {
    let failed = RawStatus {
        error: Some(NonRetryableError::new("warehouse on fire").into()),
        rollback: Some(RollbackState {
            outcome: RollbackOutcome::Failed,
            error: Some(Error::new("cannot undo").with_code(Some("X".into()), Some(500))),
        }),
        ..bare(InstanceStatusKind::Errored)
    };
    assert_eq!(
        text(&failed),
        r#"{"status":"errored","error":{"name":"NonRetryableError","message":"warehouse on fire"},"rollback":{"outcome":"failed","error":{"name":"Error","message":"cannot undo"}}}"#
    );
    let complete = RawStatus {
        rollback: Some(RollbackState { outcome: RollbackOutcome::Complete, error: None }),
        ..bare(InstanceStatusKind::Terminated)
    };
    let expected = r#"{"status":"terminated","rollback":{"outcome":"complete","error":null}}"#;
    assert_eq!(text(&complete), expected);
    assert_eq!(read::<Value>(expected).unwrap(), complete);
}

#[test]
fn cloudflare_json_reads_back_with_null_missing_and_unknown_fields() {
    // What workerd's local dev returns for a running instance: `output: null`, no error, plus
    // its own step-output list.
    let running = read::<Receipt>(r#"{"status":"running","output":null,"__LOCAL_DEV_STEP_OUTPUTS":[1,"two"]}"#);
    assert_eq!(
        running.unwrap(),
        InstanceStatus { status: InstanceStatusKind::Running, error: None, output: None, rollback: None }
    );

    let complete = read::<Receipt>(
        r#"{"status":"complete","error":null,"rollback":null,"output":{"receipt_id":"r-9","amount_cents":1,"extra":true}}"#,
    )
    .unwrap();
    assert_eq!(complete.output, Some(Receipt { receipt_id: "r-9".into(), amount_cents: 1 }));
    assert_eq!((complete.error, complete.rollback), (None, None));

    // An error object with more than name and message (a JS `stack`, say) keeps the two.
    let errored = read::<Value>(
        r#"{"status":"errored","error":{"name":"WorkflowTimeoutError","message":"timed out","stack":"at run"}}"#,
    )
    .unwrap();
    let error = errored.error.expect("the error is read");
    assert_eq!((error.name(), error.message()), ("WorkflowTimeoutError", "timed out"));

    // A JSON output that is itself `null` is no output, as the binding backend reads it.
    assert_eq!(read::<Value>(r#"{"status":"complete","output":null}"#).unwrap().output, None);
}

#[test]
fn an_unknown_status_string_is_an_error_naming_the_accepted_ones() {
    let err = read::<Value>(r#"{"status":"completed"}"#).unwrap_err();
    assert_eq!(
        err,
        "unknown variant `completed`, expected one of `queued`, `running`, `paused`, `errored`, `terminated`, \
         `complete`, `waiting`, `waitingForPause`, `rollingBack`, `unknown` at line 1 column 21"
    );
    // Cloudflare's own `unknown` is a status, not an error.
    assert_eq!(read::<Value>(r#"{"status":"unknown"}"#).unwrap().status, InstanceStatusKind::Unknown);
    // Spelling is exact: no case folding.
    assert!(read::<Value>(r#"{"status":"Complete"}"#).unwrap_err().starts_with("unknown variant `Complete`"));
}

#[test]
fn malformed_json_gives_a_clear_error_not_a_default() {
    let cases = [
        ("{}", "missing field `status` at line 1 column 2"),
        (
            r#"{"status":3}"#,
            r#"invalid type: integer `3`, expected an instance status string such as "running" at line 1 column 11"#,
        ),
        (
            r#""complete""#,
            r#"invalid type: string "complete", expected an instance status object {"status", "error"?, "output"?, "rollback"?} at line 1 column 10"#,
        ),
        (r#"{"status":"errored","error":{"name":"Error"}}"#, "missing field `message` at line 1 column 44"),
        (
            r#"{"status":"errored","error":{"name":7,"message":"m"}}"#,
            r#"invalid type: integer `7`, expected a string at line 1 column 37"#,
        ),
        // Older workers-types declared `error?: string`; the binding reports an object.
        (
            r#"{"status":"errored","error":"boom"}"#,
            r#"invalid type: string "boom", expected an error object {"name": string, "message": string} at line 1 column 34"#,
        ),
        (
            r#"{"status":"errored","rollback":{"outcome":"partial","error":null}}"#,
            "unknown variant `partial`, expected `complete` or `failed` at line 1 column 51",
        ),
        (
            r#"{"status":"errored","rollback":{"outcome":1}}"#,
            "invalid type: integer `1`, expected a string at line 1 column 43",
        ),
        (r#"{"status":"errored","rollback":{"error":null}}"#, "missing field `outcome` at line 1 column 45"),
    ];
    for (json, expected) in cases {
        assert_eq!(read::<Value>(json).unwrap_err(), expected, "reading {json}");
    }
    // An output that does not decode as the workflow's output type is an error too.
    let err = read::<Receipt>(r#"{"status":"complete","output":{"receipt_id":5,"amount_cents":1}}"#).unwrap_err();
    assert_eq!(err, "invalid type: integer `5`, expected a string at line 1 column 45");
}

#[tokio::test]
async fn a_handles_status_serialises_as_cloudflares_json() {
    let (t, _fx) = engine_with(|b| b.register::<SagaFlow>().register::<FlakyFlow>()).await;

    let saga = Saga { fail_rollback_of: Some("charge".into()), wait_before_failing: false };
    let failed = t.workflow::<SagaFlow>().create(CreateOptions::params(saga)).await.unwrap();
    t.run_to_completion(&failed).await.unwrap();
    assert_eq!(
        serde_json::to_value(failed.status().await.unwrap()).unwrap(),
        json!({
            "status": "errored",
            "error": { "name": "NonRetryableError", "message": "warehouse on fire" },
            "rollback": { "outcome": "failed", "error": { "name": "NonRetryableError", "message": "cannot undo" } },
        })
    );

    let flaky = Flaky { fail_times: 0, limit: 0, non_retryable: false, catch: false };
    let done = t.workflow::<FlakyFlow>().create(CreateOptions::params(flaky)).await.unwrap();
    t.run_to_completion(&done).await.unwrap();
    let status = done.status().await.unwrap();
    assert_eq!(serde_json::to_string(&status).unwrap(), r#"{"status":"complete","output":"ok on 1"}"#);
    // What a client of the route reads back is what the handle reported.
    assert_eq!(read::<String>(&serde_json::to_string(&status).unwrap()).unwrap(), status);
}
