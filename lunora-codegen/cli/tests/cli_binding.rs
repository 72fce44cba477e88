//! `sync` and `sync --check` on a crate whose wrangler config binds or deploys a workflow
//! otherwise than the generated registry (which uses the derived binding and the declared
//! name): refused with exit status 2 at the entry's value, nothing written, both configs
//! syntaxes. Before, such an entry was kept, sync exited 0 and `--check` passed, and every call
//! through the registry failed at runtime with `workflow.not_found`.

use std::path::Path;

mod common;
use common::{codegen, shop_copy, text};

/// The generated files of the shop crate, as bytes (`None` when absent).
fn generated(dir: &Path, config: &str) -> Vec<Option<Vec<u8>>> {
    ["src/lunora_workflows.rs", "lunora-entry.mjs", config].iter().map(|f| std::fs::read(dir.join(f)).ok()).collect()
}

const BINDING_ERROR: &str = "workflows entry OrderPipelineWorkflow binds workflow `orderPipeline` \
     (src/orders.rs:5:1) as \"MY_WORKFLOW\", but the generated registry reaches it through the binding \
     \"WORKFLOW_ORDER_PIPELINE\" (derived from its export name, like the class name), so every call would fail \
     with workflow.not_found; sync does not rebind an existing entry (other code of the Worker may use its \
     binding). Set this entry's binding to \"WORKFLOW_ORDER_PIPELINE\" (or delete the key: sync then writes it) \
     and rename \"MY_WORKFLOW\" wherever else the Worker uses it; the file was left untouched";

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
