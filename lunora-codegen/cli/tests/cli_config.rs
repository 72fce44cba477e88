//! Which wrangler config `sync` edits, and configs in awkward shapes, as users run the CLI: on a
//! copy of the fixtures/scan/shop crate (five workflows) in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{codegen, shop_copy, text};

/// The shop crate, declaring its registry (so the only warnings are the ones under test), with
/// `configs` (name, bytes) next to its Cargo.toml.
fn shop(configs: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
    let (dir, manifest) = shop_copy();
    let lib = dir.path().join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{source}\n#[rustfmt::skip]\npub mod lunora_workflows;\n")).unwrap();
    for (name, bytes) in configs {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    (dir, manifest)
}

const TOML: &[u8] = b"name = \"shop\"\nmain = \"lunora-entry.mjs\"\n";
const JSONC: &[u8] = b"{\n  // the shop\n  \"name\": \"shop\",\n  \"main\": \"lunora-entry.mjs\",\n}\n";
const JSON: &[u8] = b"{\n  \"name\": \"shop\",\n  \"main\": \"lunora-entry.mjs\"\n}\n";

// ---------------------------------------------------------------------------------------------
// Precedence: the config wrangler deploys.

#[test]
fn with_all_three_configs_wrangler_json_is_edited_and_the_others_are_left_with_a_warning() {
    let (dir, manifest) = shop(&[("wrangler.toml", TOML), ("wrangler.jsonc", JSONC), ("wrangler.json", JSON)]);
    let warning = "warning: several wrangler configs are next to Cargo.toml (wrangler.json, wrangler.jsonc, \
                   wrangler.toml); wrangler uses wrangler.json (it looks for wrangler.json, then wrangler.jsonc, then \
                   wrangler.toml, in that order), so only that one is reconciled and wrangler.jsonc and wrangler.toml \
                   are left untouched. Delete the config(s) not in use\n";
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), warning);
    let json = std::fs::read_to_string(dir.path().join("wrangler.json")).unwrap();
    assert!(json.contains("\"class_name\": \"OrderPipelineWorkflow\""), "{json}");
    assert_eq!(std::fs::read(dir.path().join("wrangler.toml")).unwrap(), TOML);
    assert_eq!(std::fs::read(dir.path().join("wrangler.jsonc")).unwrap(), JSONC);

    let check = codegen(&["sync", "--check"], &manifest);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert_eq!(text(&check.stderr), warning, "--check warns too");
}

#[test]
fn jsonc_wins_over_toml() {
    let (dir, manifest) = shop(&[("wrangler.toml", TOML), ("wrangler.jsonc", JSONC)]);
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "warning: several wrangler configs are next to Cargo.toml (wrangler.jsonc, wrangler.toml); wrangler uses \
         wrangler.jsonc (it looks for wrangler.json, then wrangler.jsonc, then wrangler.toml, in that order), so \
         only that one is reconciled and wrangler.toml is left untouched. Delete the config(s) not in use\n"
    );
    let jsonc = std::fs::read_to_string(dir.path().join("wrangler.jsonc")).unwrap();
    assert!(jsonc.starts_with("{\n  // the shop\n") && jsonc.contains("\"workflows\": ["), "{jsonc}");
    assert_eq!(std::fs::read(dir.path().join("wrangler.toml")).unwrap(), TOML);
}

#[test]
fn an_explicit_config_is_used_without_a_warning() {
    let (dir, manifest) = shop(&[("wrangler.toml", TOML), ("wrangler.json", JSON)]);
    let config = dir.path().join("wrangler.toml");
    let out = codegen(&["sync", "--wrangler-config", config.to_str().unwrap()], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert!(std::fs::read_to_string(&config).unwrap().contains("[[workflows]]"));
    assert_eq!(std::fs::read(dir.path().join("wrangler.json")).unwrap(), JSON);
}

// ---------------------------------------------------------------------------------------------
// Awkward but valid configs: the sync keeps their bytes and conventions.

#[test]
fn a_toml_config_with_a_bom_and_crlf_keeps_both() {
    let config = "\u{feff}# shop\r\nname = \"shop\"\r\nmain = \"lunora-entry.mjs\"\r\n\r\n[vars]\r\nA = \"1\"\r\n";
    let (dir, manifest) = shop(&[("wrangler.toml", config.as_bytes())]);
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap();
    assert!(after.starts_with(config.strip_suffix("[vars]\r\nA = \"1\"\r\n").unwrap()), "{after:?}");
    assert!(after.contains("[[workflows]]\r\nname = \"order-pipeline\"\r\n"), "{after:?}");
    assert_eq!(after.matches('\n').count(), after.matches("\r\n").count(), "every line ends in CRLF: {after:?}");
    assert_eq!(after.matches('\u{feff}').count(), 1);
    assert_eq!(codegen(&["sync", "--check"], &manifest).status.code(), Some(0));
}

#[test]
fn a_jsonc_config_with_crlf_comments_and_trailing_commas_keeps_them() {
    let config =
        "\u{feff}// shop\r\n{\r\n  \"name\": \"shop\", /* the worker */\r\n  \"main\": \"lunora-entry.mjs\",\r\n  \
                  \"workflows\": [\r\n    {\r\n      \"name\": \"order-pipeline\",\r\n      \"binding\": \
                  \"WORKFLOW_ORDER_PIPELINE\",\r\n      \"class_name\": \"OrderPipelineWorkflow\", // kept\r\n    \
                  },\r\n  ],\r\n}\r\n";
    let (dir, manifest) = shop(&[("wrangler.jsonc", config.as_bytes())]);
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(dir.path().join("wrangler.jsonc")).unwrap();
    assert!(after.starts_with("\u{feff}// shop\r\n{\r\n  \"name\": \"shop\", /* the worker */\r\n"), "{after:?}");
    assert!(after.contains("\"class_name\": \"OrderPipelineWorkflow\", // kept\r\n"), "{after:?}");
    assert!(after.contains("\"class_name\": \"MonthlyInvoicesWorkflow\""), "{after:?}");
    assert_eq!(after.matches('\n').count(), after.matches("\r\n").count(), "every line ends in CRLF: {after:?}");
    assert!(after.ends_with("  ],\r\n}\r\n"), "the trailing commas stay: {after:?}");
    assert_eq!(codegen(&["sync", "--check"], &manifest).status.code(), Some(0));
}

#[test]
fn an_inline_workflows_array_is_extended_in_place() {
    let config = "name = \"shop\"\nworkflows = [{ name = \"order-pipeline\", binding = \"WORKFLOW_ORDER_PIPELINE\", \
                  class_name = \"OrderPipelineWorkflow\" }]\n\n[vars]\nA = \"1\"\n";
    let (dir, manifest) = shop(&[("wrangler.toml", config.as_bytes())]);
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap();
    assert!(!after.contains("[[workflows]]"), "{after}");
    assert!(after.starts_with("name = \"shop\"\nworkflows = [{ name = \"order-pipeline\""), "{after}");
    assert!(after.ends_with("\n\n[vars]\nA = \"1\"\n"), "{after}");
    assert_eq!(after.matches("class_name = ").count(), 5, "{after}");
    assert_eq!(codegen(&["sync", "--check"], &manifest).status.code(), Some(0));
}

#[test]
fn a_megabyte_config_is_reconciled_and_kept_byte_for_byte() {
    let mut config = String::from("name = \"shop\"\nmain = \"lunora-entry.mjs\"\n\n[vars]\n");
    let mut i = 0;
    while config.len() < 1 << 20 {
        config.push_str(&format!("VAR_{i} = \"{}\" # note {i}\n", "x".repeat(40)));
        i += 1;
    }
    let (dir, manifest) = shop(&[("wrangler.toml", config.as_bytes())]);
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap();
    let (kept, added) = after.split_at(config.len());
    assert_eq!(kept, config, "every existing byte is kept");
    assert_eq!(added.matches("[[workflows]]").count(), 5, "{added}");
    assert_eq!(codegen(&["sync", "--check"], &manifest).status.code(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// Configs the sync cannot work on: a clear error with file:line:col, exit 2, nothing written.

fn assert_refused(dir: &Path, config: &str, before: &[u8], out: &Output, expected: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    assert_eq!(std::fs::read(dir.join(config)).unwrap(), before, "{config} is untouched");
    assert!(!dir.join("src/lunora_workflows.rs").exists(), "nothing else is written");
    assert!(!dir.join("lunora-entry.mjs").exists(), "nothing else is written");
}

#[test]
fn a_config_that_is_not_utf8_is_refused_at_the_bad_byte() {
    let config = b"name = \"shop\"\n# caf\xe9 in Latin-1\nmain = \"lunora-entry.mjs\"\n";
    let (dir, manifest) = shop(&[("wrangler.toml", config)]);
    for args in [&["sync"][..], &["sync", "--check"]] {
        let out = codegen(args, &manifest);
        assert_refused(
            dir.path(),
            "wrangler.toml",
            config,
            &out,
            "wrangler.toml:2:6: not UTF-8 text (byte 0xe9); save the file as UTF-8. Nothing was written\n",
        );
    }
}

#[test]
fn a_jsonc_config_with_workflows_written_twice_is_refused_and_nothing_is_written() {
    // wrangler deploys the second "workflows"; editing the first would change nothing deployed.
    let config =
        b"{\n  \"name\": \"shop\",\n  \"workflows\": [],\n  \"main\": \"lunora-entry.mjs\",\n  \"workflows\": [],\n}\n";
    let (dir, manifest) = shop(&[("wrangler.jsonc", config)]);
    let out = codegen(&["sync"], &manifest);
    assert_refused(
        dir.path(),
        "wrangler.jsonc",
        config,
        &out,
        "wrangler.jsonc:5:3: duplicate key \"workflows\" (first at 3:3); wrangler would use this last one and ignore \
         the first: remove one; the file was left untouched\n",
    );
}

#[test]
fn two_toml_entries_of_one_class_are_refused_and_nothing_is_written() {
    let config = b"name = \"shop\"\n\n[[workflows]]\nname = \"order-pipeline\"\nbinding = \"A\"\nclass_name = \
                   \"OrderPipelineWorkflow\"\n\n[[workflows]]\nname = \"orders\"\nbinding = \"B\"\nclass_name = \
                   \"OrderPipelineWorkflow\"\nschedules = [\"0 1 * * *\"]\n";
    let (dir, manifest) = shop(&[("wrangler.toml", config)]);
    let out = codegen(&["sync", "--check"], &manifest);
    assert_refused(
        dir.path(),
        "wrangler.toml",
        config,
        &out,
        "wrangler.toml:11:14: another workflows entry, at 6:14, has the same class_name \"OrderPipelineWorkflow\"; \
         lunora-codegen cannot tell which one is the workflow's: merge them into one; the file was left untouched\n",
    );
    assert_refused(dir.path(), "wrangler.toml", config, &codegen(&["sync"], &manifest), "wrangler.toml:11:14: ");
}
