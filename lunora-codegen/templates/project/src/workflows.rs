//! The crate's workflows: `lunora-codegen new workflow NAME` appends another here, and
//! `lunora-codegen sync` (which `wrangler dev` runs on every change) registers it.

use lunora_runtime::*;
use serde::{Deserialize, Serialize};

use crate::steps::{send_welcome, WelcomeArgs};

/// What a signup starts from (`POST /instances {"params": {"email": "…"}}`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignupParams {
    pub email: String,
}

/// The payload of the `email-confirmed` event the workflow waits for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub confirmed_at: String,
}

/// The output of a complete signup (`status().output`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcomed {
    pub account_id: String,
    pub confirmed_at: String,
    pub message_id: String,
}

/// Creates the account, waits (hibernating) until the address is confirmed, then welcomes the
/// user. Each `ctx.step` call is durable: memoised, retried, replayed after a restart.
///
/// Class `SignupWorkflow`, binding `WORKFLOW_SIGNUP`, deployed as `{{name}}`: workflow names
/// are unique per Cloudflare account, so it is named after the Worker.
#[workflow(name = "{{name}}")]
pub async fn signup(ctx: WorkflowContext<SignupParams>) -> Result<Welcomed> {
    let email = ctx.params.email.clone();
    let account_id: String = ctx
        .step
        .do_("create-account", |_| async { Ok(format!("acct-{email}")) })
        .await?;
    ctx.step.sleep("settle", "1 second").await?;
    let confirmation: Event<Confirmation> = ctx
        .step
        .wait_for_event_with_timeout("await-confirmation", "email-confirmed", "1 day")
        .await?;
    let message_id = ctx
        .run_step(
            &send_welcome,
            WelcomeArgs {
                account_id: account_id.clone(),
            },
        )
        .await?;
    Ok(Welcomed {
        account_id,
        confirmed_at: confirmation.payload.confirmed_at,
        message_id,
    })
}
