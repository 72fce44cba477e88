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
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"\" is not a valid export name: it is empty"));
    let out = names(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("required"));
}

const RULE: &str =
    "export names are ASCII letters and digits, starting with a letter ([A-Za-z][A-Za-z0-9]*), e.g. orderPipeline";

/// The output is tab-separated, one line per name: a tab or a newline in a name would add a
/// column or a line. Such a name is refused, escaped in the message, and no line is printed,
/// not even for the valid names before it.
#[test]
fn names_with_tabs_newlines_or_control_characters_are_refused_and_nothing_is_printed() {
    for (name, shown) in [
        ("order\tPipeline", "\"order\\tPipeline\" is not a valid export name: it contains '\\t'"),
        ("order\nPipeline", "\"order\\nPipeline\" is not a valid export name: it contains '\\n'"),
        ("order\u{1b}[31m", "\"order\\u{1b}[31m\" is not a valid export name: it contains '\\u{1b}'"),
        ("order Pipeline", "\"order Pipeline\" is not a valid export name: it contains ' '"),
    ] {
        let out = names(&["v2Api", name]);
        assert_eq!(out.status.code(), Some(1), "{name:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{name:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("lunora-codegen: names: {shown}; {RULE}\n"));
    }
}

/// Unicode case mappings disagree with one another (`ǆ` upper-cases to `Ǆ` but title-cases to
/// `ǅ`, `ﬁ` and `ß` upper-case to two letters, `Σ` lower-cases to `ς` or `σ` by position,
/// `ı`/`İ` do not round-trip) and Cloudflare's names are ASCII: such names are refused, the
/// same way `#[workflow]` refuses the fn.
#[test]
fn names_whose_case_mappings_would_disagree_are_refused() {
    for (name, why) in [
        ("ßtraße", "it starts with 'ß', not an ASCII letter"),
        ("straße", "it contains 'ß'"),
        ("ǆemo", "it starts with 'ǆ', not an ASCII letter"),
        ("ﬁle", "it starts with 'ﬁ', not an ASCII letter"),
        ("kıl", "it contains 'ı'"),
        ("İstanbul", "it starts with 'İ', not an ASCII letter"),
        ("odoΣ", "it contains 'Σ'"),
        ("1st", "it starts with '1', not an ASCII letter"),
        ("order-pipeline", "it contains '-'"),
    ] {
        let out = names(&[name]);
        assert_eq!(out.status.code(), Some(1), "{name:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{name:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(stderr, format!("lunora-codegen: names: \"{name}\" is not a valid export name: {why}; {RULE}\n"));
    }
}

/// A fn name is not an export name; the error says which export name the fn gets.
#[test]
fn a_snake_case_fn_name_gets_its_export_name_suggested() {
    let out = names(&["order_pipeline"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "lunora-codegen: names: \"order_pipeline\" is not a valid export name: it contains '_'; {RULE} \
             (the export name of fn `order_pipeline` is orderPipeline)\n"
        )
    );
}

mod properties {
    use super::names;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the argument (no NUL: the OS cannot pass one), `names` exits 0 with one line
        /// of exactly four tab-separated fields starting with the name, or 1 with one line of
        /// error and nothing on stdout. It never panics.
        #[test]
        fn one_clean_line_or_one_clear_error(name in "[^\\x00]{0,12}|[a-zA-Z][a-zA-Z0-9]{0,12}") {
            let out = names(&["--", &name]);
            let stdout = String::from_utf8(out.stdout).unwrap();
            let stderr = String::from_utf8(out.stderr).unwrap();
            match out.status.code() {
                Some(0) => {
                    let line = stdout.strip_suffix('\n').expect("one line");
                    let fields: Vec<&str> = line.split('\t').collect();
                    prop_assert_eq!(fields.len(), 4, "{:?}", line);
                    prop_assert_eq!(fields[0], name.as_str());
                    prop_assert!(stderr.is_empty());
                }
                Some(1) => {
                    prop_assert_eq!(stdout, "");
                    prop_assert!(stderr.starts_with("lunora-codegen: names: \""), "{}", stderr);
                    prop_assert!(stderr.contains("is not a valid export name: "), "{}", stderr);
                    prop_assert_eq!(stderr.lines().count(), 1, "{}", stderr);
                }
                other => prop_assert!(false, "exit {:?}: {}", other, stderr),
            }
        }
    }
}
