//! `sync` and `sync --check` on a crate whose wrangler config binds or deploys a workflow
//! otherwise than the generated registry (which uses the declared or derived binding and name):
//! refused with exit status 2 at the entry's value, nothing written, both configs syntaxes.
//! Before, such an entry was kept, sync exited 0 and `--check` passed, and every call through
//! the registry failed at runtime with `workflow.not_found`. And the way out for a ported
//! Worker: `#[workflow(class = "…", binding = "…")]` as its config has them.

use std::path::Path;

mod common;
use common::{codegen, fixture_copy, shop_copy, text};

/// The generated files of the shop crate, as bytes (`None` when absent).
fn generated(dir: &Path, config: &str) -> Vec<Option<Vec<u8>>> {
    ["src/lunora_workflows.rs", "lunora-entry.mjs", config].iter().map(|f| std::fs::read(dir.join(f)).ok()).collect()
}

const BINDING_ERROR: &str = "workflows entry OrderPipelineWorkflow binds workflow `orderPipeline` \
     (src/orders.rs:5:1) as \"MY_WORKFLOW\", but the generated registry reaches it through the binding \
     \"WORKFLOW_ORDER_PIPELINE\", so every call would fail with workflow.not_found; sync does not rebind an \
     existing entry (other code of the Worker may use its binding). Declare the config's binding on the fn \
     (`#[workflow(binding = \"MY_WORKFLOW\")]`), or set this entry's binding to \"WORKFLOW_ORDER_PIPELINE\" (or \
     delete the key: sync then writes it) and rename \"MY_WORKFLOW\" wherever else the Worker uses it; the file \
     was left untouched";

#[test]
fn a_toml_entry_with_another_binding_fails_sync_and_writes_nothing() {
    let (dir, manifest) = shop_copy();
    let config = "name = \"shop\"\nmain = \"lunora-entry.mjs\"\n\n[[workflows]]\nname = \"order-pipeline\"\n\
                  binding = \"MY_WORKFLOW\"   # ported from the JS Worker\nclass_name = \"OrderPipelineWorkflow\"\n";
    std::fs::write(dir.path().join("wrangler.toml"), config).unwrap();
    for args in [&["sync"][..], &["sync", "--check"]] {
        let out = codegen(args, &manifest);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&format!("wrangler.toml:6:11: {BINDING_ERROR}")), "{args:?}: {stderr}");
    }
    assert_eq!(generated(dir.path(), "wrangler.toml"), [None, None, Some(config.as_bytes().to_vec())]);
}

#[test]
fn check_fails_once_the_config_is_rebound_after_a_sync() {
    let (dir, manifest) = shop_copy();
    assert!(codegen(&["sync"], &manifest).status.success());
    let path = dir.path().join("wrangler.toml");
    let synced = std::fs::read_to_string(&path).unwrap();
    let rebound = synced.replacen("binding = \"WORKFLOW_ORDER_PIPELINE\"", "binding = \"MY_WORKFLOW\"", 1);
    assert_ne!(rebound, synced);
    std::fs::write(&path, &rebound).unwrap();
    let before = generated(dir.path(), "wrangler.toml");

    // The registry still says WORKFLOW_ORDER_PIPELINE: `--check` must not call that up to date.
    let check = codegen(&["sync", "--check"], &manifest);
    assert_eq!(check.status.code(), Some(2), "{}", text(&check.stderr));
    let stderr = text(&check.stderr);
    let line = rebound[..rebound.find("MY_WORKFLOW").unwrap()].matches('\n').count() + 1;
    assert!(stderr.contains(&format!("wrangler.toml:{line}:11: {BINDING_ERROR}")), "{stderr}");
    let sync = codegen(&["sync"], &manifest);
    assert_eq!(sync.status.code(), Some(2), "{}", text(&sync.stderr));
    assert_eq!(generated(dir.path(), "wrangler.toml"), before, "nothing is written");

    // The way out the message gives: the derived binding, after which both agree again.
    std::fs::write(&path, &synced).unwrap();
    assert!(codegen(&["sync", "--check"], &manifest).status.success());
}

#[test]
fn a_jsonc_entry_with_another_name_fails_sync_and_writes_nothing() {
    let (dir, manifest) = shop_copy();
    let config = "{\n  \"name\": \"shop\",\n  \"main\": \"lunora-entry.mjs\",\n  \"workflows\": [\n    {\n      \
                  \"class_name\": \"OrderPipelineWorkflow\",\n      \"binding\": \"WORKFLOW_ORDER_PIPELINE\",\n      \
                  \"name\": \"legacy-orders\" // deployed before the fn was renamed\n    }\n  ]\n}\n";
    std::fs::write(dir.path().join("wrangler.jsonc"), config).unwrap();
    for args in [&["sync"][..], &["sync", "--check"]] {
        let out = codegen(args, &manifest);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(
                "wrangler.jsonc:8:15: workflows entry OrderPipelineWorkflow deploys workflow `orderPipeline` \
                 (src/orders.rs:5:1) as name \"legacy-orders\", but the workflow declares the name \
                 \"order-pipeline\", which the generated registry, the embedded engine and the REST API use; sync \
                 does not rename an existing entry (that would deploy a new workflow). Set this entry's name to \
                 \"order-pipeline\" (instances started under the old name stay there), or declare \
                 `#[workflow(name = \"legacy-orders\")]` on the fn; the file was left untouched"
            ),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(generated(dir.path(), "wrangler.jsonc"), [None, None, Some(config.as_bytes().to_vec())]);
}

#[test]
fn declaring_the_config_name_on_the_workflow_makes_sync_pass() {
    // The other way out of a name mismatch: `#[workflow(name = …)]` as the config deploys it.
    let (dir, manifest) = shop_copy();
    let config = "{ \"name\": \"shop\", \"main\": \"lunora-entry.mjs\", \"workflows\": [{ \"class_name\": \
                  \"OrderPipelineWorkflow\", \"binding\": \"WORKFLOW_ORDER_PIPELINE\", \"name\": \"legacy-orders\" }] }\n";
    std::fs::write(dir.path().join("wrangler.jsonc"), config).unwrap();
    let orders = dir.path().join("src/orders.rs");
    let source = std::fs::read_to_string(&orders).unwrap().replace(
        "#[workflow(schedules = [\"0 3 * * *\", \"*/15 * * * MON-FRI\"])]",
        "#[workflow(name = \"legacy-orders\", schedules = [\"0 3 * * *\", \"*/15 * * * MON-FRI\"])]",
    );
    std::fs::write(&orders, source).unwrap();
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let registry = std::fs::read_to_string(dir.path().join("src/lunora_workflows.rs")).unwrap();
    assert!(registry.contains("name: \"legacy-orders\""), "{registry}");
    assert!(codegen(&["sync", "--check"], &manifest).status.success());
}

/// The ported fixture declares its config's classes and bindings: sync keeps those entries byte
/// for byte (it only appends the one undeclared workflow), and `--check` then finds nothing.
#[test]
fn a_config_with_the_declared_class_and_binding_syncs_and_checks_clean() {
    let (dir, manifest) = fixture_copy("ported");
    let config = std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap();
    let out = codegen(&["sync"], &manifest);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let synced = std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap();
    assert!(synced.starts_with(&config), "{synced}");
    assert_eq!(&synced[config.len()..], "\n[[workflows]]\nname = \"send-email\"\nbinding = \"WORKFLOW_SEND_EMAIL\"\nclass_name = \"SendEmailWorkflow\"\n");
    let entry = std::fs::read_to_string(dir.path().join("lunora-entry.mjs")).unwrap();
    assert!(entry.contains("export class OrderWorkflow extends WorkflowEntrypoint"), "{entry}");
    let registry = std::fs::read_to_string(dir.path().join("src/lunora_workflows.rs")).unwrap();
    assert!(registry.contains("binding: \"MY_WORKFLOW\""), "{registry}");
    let check = codegen(&["sync", "--check"], &manifest);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));

    // A config that already has every entry is not rewritten at all.
    let before = generated(dir.path(), "wrangler.toml");
    let again = codegen(&["sync"], &manifest);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(generated(dir.path(), "wrangler.toml"), before);
}

/// Without `binding = "MY_WORKFLOW"`, the class still finds the ported entry, whose binding is
/// then not the registry's: exit 2, the attribute offered first, nothing written.
#[test]
fn without_the_declared_binding_the_ported_entry_is_refused_with_the_attribute_as_the_way_out() {
    let (dir, manifest) = fixture_copy("ported");
    let lib = dir.path().join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let undeclared =
        source.replace("class = \"OrderWorkflow\", binding = \"MY_WORKFLOW\", ", "class = \"OrderWorkflow\", ");
    assert_ne!(undeclared, source);
    std::fs::write(&lib, &undeclared).unwrap();
    let before = generated(dir.path(), "wrangler.toml");
    for args in [&["sync"][..], &["sync", "--check"]] {
        let out = codegen(args, &manifest);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        let expected = "wrangler.toml:8:11: workflows entry OrderWorkflow binds workflow `orderPipeline` \
             (src/lib.rs:8:1) as \"MY_WORKFLOW\", but the generated registry reaches it through the binding \
             \"WORKFLOW_ORDER_PIPELINE\", so every call would fail with workflow.not_found; sync does not rebind an \
             existing entry (other code of the Worker may use its binding). Declare the config's binding on the fn \
             (`#[workflow(binding = \"MY_WORKFLOW\")]`), or set this entry's binding to \"WORKFLOW_ORDER_PIPELINE\" \
             (or delete the key: sync then writes it) and rename \"MY_WORKFLOW\" wherever else the Worker uses it";
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(generated(dir.path(), "wrangler.toml"), before, "nothing is written");
    // The way out it gives.
    std::fs::write(&lib, &source).unwrap();
    assert_eq!(codegen(&["sync"], &manifest).status.code(), Some(0));
}

/// Two fns declaring one class, or one binding (or declaring what another derives): exit 2,
/// each reported at the later fn naming the earlier, nothing written.
#[test]
fn two_workflows_with_one_declared_class_or_binding_are_refused() {
    let (dir, manifest) = fixture_copy("ported");
    let extra = "\n#[workflow(class = \"OrderWorkflow\")]\npub async fn copy_cat(ctx: WorkflowContext<()>) -> Result<()> {\n    \
                 let _ = ctx;\n    Ok(())\n}\n\n#[workflow(binding = \"WORKFLOW_SEND_EMAIL\")]\npub async fn mail_too(ctx: \
                 WorkflowContext<()>) -> Result<()> {\n    let _ = ctx;\n    Ok(())\n}\n";
    let lib = dir.path().join("src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    let lines = source.lines().count();
    source.push_str(extra);
    std::fs::write(&lib, &source).unwrap();
    let before = generated(dir.path(), "wrangler.toml");
    let out = codegen(&["sync"], &manifest);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for expected in [
        format!(
            "src/lib.rs:{}:1: workflow `copyCat` has the same class name \"OrderWorkflow\" as workflow \
             `orderPipeline` at src/lib.rs:8:1; change one: `#[workflow(class = \"…\")]` sets the class name, else \
             it derives from the fn's name",
            lines + 2
        ),
        format!(
            "src/lib.rs:{}:1: workflow `mailToo` has the same binding \"WORKFLOW_SEND_EMAIL\" as workflow \
             `sendEmail` at src/lib.rs:22:1; change one: `#[workflow(binding = \"…\")]` sets the binding, else it \
             derives from the fn's name",
            lines + 8
        ),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    assert_eq!(generated(dir.path(), "wrangler.toml"), before, "nothing is written");
}

/// Declared names from hostile source text: quotes, non-ASCII letters, `\u{…}` escapes, raw
/// strings, control characters, bidi controls, 300 characters. Each is refused at its literal
/// (line and column), the value escaped in the message, all at once, nothing written.
#[test]
fn hostile_declared_names_are_refused_at_their_literal_escaped() {
    let cases: [(&str, &str); 8] = [
        (r#"class = "Order\"Workflow""#, r#"invalid class name "Order\"Workflow": it contains '"'"#),
        (r##"class = r#"Order"Flow"#"##, r#"invalid class name "Order\"Flow": it contains '"'"#),
        (r#"class = "Ordér""#, r#"invalid class name "Ordér": it contains 'é'"#),
        (r#"class = "Order\u{0}""#, r#"invalid class name "Order\0": it contains '\0'"#),
        (r#"binding = "MY\u{202E}WF""#, r#"invalid binding "MY\u{202e}WF": it contains '\u{202e}'"#),
        (r#"binding = "MY\nWF""#, r#"invalid binding "MY\nWF": it contains '\n'"#),
        (r#"binding = r"MY-WF""#, r#"invalid binding "MY-WF": it contains '-'"#),
        ("class = \"LONG\"", "invalid class name \"LONG\": it is 300 characters long, the maximum is 255"),
    ];
    let long = "A".repeat(300);
    let (dir, manifest) = fixture_copy("ported");
    let lib = dir.path().join("src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    let mut expected = Vec::new();
    for (i, (attribute, message)) in cases.iter().enumerate() {
        let attribute = attribute.replace("LONG", &long);
        let line = source.lines().count() + 2;
        let column = "#[workflow(".len() + attribute.find("= ").unwrap() + 2 + 1;
        source.push_str(&format!(
            "\n#[workflow({attribute})]\npub async fn hostile_{i}(ctx: WorkflowContext<()>) -> Result<()> {{\n    \
             let _ = ctx;\n    Ok(())\n}}\n"
        ));
        expected.push((format!("src/lib.rs:{line}:{column}: "), message.replace("LONG", &long)));
    }
    std::fs::write(&lib, &source).unwrap();
    let before = generated(dir.path(), "wrangler.toml");
    let out = codegen(&["sync"], &manifest);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for (place, message) in &expected {
        assert!(stderr.contains(&format!("{place}{message}")), "missing {place}{message} in:\n{stderr}");
    }
    assert!(!stderr.contains('\u{202e}'), "a bidi control reaches the terminal raw:\n{stderr}");
    assert_eq!(generated(dir.path(), "wrangler.toml"), before, "nothing is written");
}

/// Long names that follow the rules go through whole: a 255-character class (Cloudflare's
/// limit) and a 10,000-character binding, in the registry, the entry module and the config.
#[test]
fn long_valid_declared_names_reach_every_file_whole() {
    let (dir, manifest) = fixture_copy("ported");
    let (class, binding) = (format!("C{}", "x".repeat(254)), format!("B_{}", "9".repeat(9_998)));
    let lib = dir.path().join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap().replace(
        "#[workflow]\npub async fn send_email",
        &format!("#[workflow(class = \"{class}\", binding = \"{binding}\")]\npub async fn send_email"),
    );
    std::fs::write(&lib, source).unwrap();
    let out = codegen(&["sync"], &manifest);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let config = std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap();
    assert!(config.ends_with(&format!("binding = \"{binding}\"\nclass_name = \"{class}\"\n")), "{config}");
    let entry = std::fs::read_to_string(dir.path().join("lunora-entry.mjs")).unwrap();
    assert!(entry.contains(&format!("export class {class} extends")), "{entry}");
    assert!(entry.contains(&format!("new {class}Runner(")), "{entry}");
    let registry = std::fs::read_to_string(dir.path().join("src/lunora_workflows.rs")).unwrap();
    assert!(registry.contains(&format!("binding: \"{binding}\"")), "{registry}");
    assert_eq!(codegen(&["sync", "--check"], &manifest).status.code(), Some(0));
}
