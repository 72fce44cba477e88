//! `lunora-codegen names` as users run it.

use std::process::Command;

fn names(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lunora-codegen")).arg("names").args(args).output().unwrap()
}

#[test]
fn prints_tab_separated_names_per_export_name() {
    let out = names(&["orderPipeline", "v2Api"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "orderPipeline\tOrderPipelineWorkflow\tWORKFLOW_ORDER_PIPELINE\torder-pipeline\n\
         v2Api\tV2ApiWorkflow\tWORKFLOW_V2_API\tv2-api\n"
    );
}

#[test]
fn prints_json_with_json_flag() {
    let out = names(&["--json", "sendEmail2"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"exportName": "sendEmail2", "className": "SendEmail2Workflow",
                            "binding": "WORKFLOW_SEND_EMAIL2", "defaultName": "send-email2"}])
    );
}

#[test]
fn rejects_empty_and_missing_names_with_a_clear_error() {
    let out = names(&[""]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("an export name is empty"));
    let out = names(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("required"));
}
