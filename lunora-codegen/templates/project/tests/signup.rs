//! The signup workflow on lunora's embedded engine (`cargo test`): a virtual clock, so the
//! sleep, the day-long wait and retry delays pass at once; the confirmation event is mocked.
#![cfg(not(target_arch = "wasm32"))]

use lunora_runtime::local::{Modifiers, StepSelector};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde_json::json;

use {{crate_name}}::workflows::{SignupParams, SignupWorkflow};

fn params() -> SignupParams {
    SignupParams {
        email: "ada@example.com".into(),
    }
}

#[tokio::test]
async fn a_confirmed_signup_is_welcomed_after_a_retry() -> Result<()> {
    let t = TestEngine::builder()
        .register::<SignupWorkflow>()
        .open()
        .await?;
    t.modify_instance::<SignupWorkflow>(
        "signup-1",
        Modifiers::new()
            .mock_step_error(
                StepSelector::name("send_welcome"),
                Error::new("mail server down"),
                Some(1),
            )
            .mock_event(
                "email-confirmed",
                json!({ "confirmed_at": "2026-01-01T10:00:00Z" }),
            ),
    );
    let instance = t
        .workflow::<SignupWorkflow>()
        .create(CreateOptions::params(params()).with_id("signup-1"))
        .await?;
    let status = t.run_to_completion(&instance).await?;
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");

    let welcomed = instance
        .status()
        .await?
        .output
        .expect("a complete instance has an output");
    assert_eq!(welcomed.account_id, "acct-ada@example.com");
    assert_eq!(welcomed.confirmed_at, "2026-01-01T10:00:00Z");
    // The first attempt failed (mocked), the second sent the message.
    assert_eq!(welcomed.message_id, "msg-acct-ada@example.com-2");
    Ok(())
}

#[tokio::test]
async fn a_signup_never_confirmed_fails_after_a_day() -> Result<()> {
    let t = TestEngine::builder()
        .register::<SignupWorkflow>()
        .open()
        .await?;
    let instance = t
        .workflow::<SignupWorkflow>()
        .create(CreateOptions::params(params()))
        .await?;
    let status = t.run_to_completion(&instance).await?;
    assert_eq!(status.status, InstanceStatusKind::Errored, "{status:?}");
    Ok(())
}
