//! The scanner on fixture crates: every kind of module, and every kind of mistake reported at
//! its place (golden file `fixtures/scan/broken/expected.diagnostics.txt`, bless with BLESS=1).

use std::path::{Path, PathBuf};

use lunora_codegen::scan::scan_crate;
use lunora_shared::golden::assert_golden;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scan").join(name)
}

#[test]
fn finds_workflows_in_inline_file_nested_and_path_modules_only() {
    let dir = fixture("shop");
    let scan = scan_crate(&dir.join("src/lib.rs"), &dir).unwrap();
    let found: Vec<(String, String, String, String)> = scan
        .workflows
        .iter()
        .map(|w| (w.export_name.clone(), w.descriptor_path.clone(), w.deployed_name.clone(), w.location.to_string()))
        .collect();
    let expected = [
        ("ship", "orders::shipping::ShipWorkflow", "ship-it", "src/orders/shipping.rs:3:1"),
        ("orderPipeline", "orders::OrderPipelineWorkflow", "order-pipeline", "src/orders.rs:5:1"),
        ("monthlyInvoices", "billing::MonthlyInvoicesWorkflow", "monthly-invoices", "src/lib.rs:9:5"),
        ("v2Api", "special::V2ApiWorkflow", "v2-api", "src/special/custom_place.rs:1:1"),
        ("sendEmail2", "SendEmail2Workflow", "send-email2", "src/lib.rs:19:1"),
    ];
    let expected: Vec<(String, String, String, String)> =
        expected.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect();
    assert_eq!(found, expected);
    let order = &scan.workflows[1];
    assert_eq!(order.schedules, ["0 3 * * *", "*/15 * * * MON-FRI"]);
    assert_eq!(scan.workflows[2].step_limit, Some(200));
    assert_eq!(
        scan.steps.iter().map(|(n, l)| format!("{n} {l}")).collect::<Vec<_>>(),
        ["refund-card src/billing/refunds.rs:3:1"]
    );
    assert!(!scan.files.iter().any(|f| f.ends_with("not_a_module.rs")), "only modules of the crate are read");
    assert_eq!(scan.files.len(), 5);
}

#[test]
fn reports_every_mistake_with_file_line_and_column() {
    let dir = fixture("broken");
    let diagnostics = scan_crate(&dir.join("src/lib.rs"), &dir).unwrap_err();
    let text: String = diagnostics.iter().map(|d| format!("{d}\n")).collect();
    assert_golden(&dir.join("expected.diagnostics.txt"), &text);
}

#[test]
fn registry_and_entry_module_match_their_golden_files() {
    let dir = fixture("shop");
    let scan = scan_crate(&dir.join("src/lib.rs"), &dir).unwrap();
    let outputs = [
        ("expected.registry.rs", lunora_codegen::render::registry(&scan.workflows)),
        ("expected.entry.mjs", lunora_codegen::render::entry_module(&scan.workflows)),
    ];
    for (name, text) in &outputs {
        assert_golden(&dir.join(name), text);
    }
    // Deterministic: the same input renders the same bytes.
    assert_eq!(lunora_codegen::render::entry_module(&scan.workflows), outputs[1].1);
}

#[test]
fn an_up_to_date_registry_is_recognised_and_an_edited_one_is_not() {
    let dir = fixture("shop");
    let scan = scan_crate(&dir.join("src/lib.rs"), &dir).unwrap();
    let fresh = lunora_codegen::render::registry(&scan.workflows);
    assert_eq!(lunora_codegen::render::registry_unless_current(&scan.workflows, Some(&fresh)), fresh);
    // A hand edit of the body is drift: the stamp no longer matches, the registry is re-rendered.
    let edited = fresh.replace("pub fn ship(", "pub fn ship_renamed(");
    assert_eq!(lunora_codegen::render::registry_unless_current(&scan.workflows, Some(&edited)), fresh);
    // So is a registry written under an older header: the stamp alone does not keep it.
    let old_header = fresh.replacen("// Declare it as", "// Declared as", 1);
    assert_ne!(old_header, fresh);
    assert_eq!(lunora_codegen::render::registry_unless_current(&scan.workflows, Some(&old_header)), fresh);
    // So is a change of the inputs.
    let mut changed = scan.workflows.clone();
    changed[0].schedules.push("0 5 * * *".into());
    assert_ne!(lunora_codegen::render::registry_unless_current(&changed, Some(&fresh)), fresh);
}

/// Writes `files` (path, text) under a new temporary crate directory.
fn temp_crate(files: &[(String, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn results_come_in_the_order_of_a_sequential_walk_whatever_thread_read_what() {
    // A wide and deep tree: files are read and fns analysed on several threads at once.
    let step = |name: &str| {
        format!("#[step(args = A, returns = R)]\npub async fn {name}(ctx: StepContext, args: A) -> Result<R> {{ todo!() }}\n")
    };
    let mut files = vec![(
        "src/lib.rs".to_string(),
        (0..40).map(|i| format!("mod m{i};\n{}", step(&format!("root_{i}")))).collect(),
    )];
    for i in 0..40 {
        files.push((
            format!("src/m{i}.rs"),
            format!("{}mod inner;\n{}", step(&format!("a_{i}")), step(&format!("b_{i}"))),
        ));
        files.push((format!("src/m{i}/inner.rs"), step(&format!("inner_{i}"))));
    }
    let dir = temp_crate(&files);
    let scan = scan_crate(&dir.path().join("src/lib.rs"), dir.path()).unwrap_or_else(|e| panic!("{e:?}"));

    let mut expected_steps = Vec::new();
    let mut expected_files = vec!["src/lib.rs".to_string()];
    for i in 0..40 {
        expected_files.extend([format!("src/m{i}.rs"), format!("src/m{i}/inner.rs")]);
        expected_steps.extend([format!("a_{i}"), format!("inner_{i}"), format!("b_{i}"), format!("root_{i}")]);
    }
    let steps: Vec<&str> = scan.steps.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(steps, expected_steps);
    let files: Vec<String> =
        scan.files.iter().map(|f| f.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
    assert_eq!(files, expected_files);
}

#[test]
fn a_path_cycle_is_reported_instead_of_followed_for_ever() {
    let dir = temp_crate(&[("src/lib.rs".into(), "//! Includes itself.\n#[path = \"lib.rs\"]\nmod again;\n".into())]);
    let diagnostics = scan_crate(&dir.path().join("src/lib.rs"), dir.path()).unwrap_err();
    let text: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        text,
        ["src/lib.rs:3:5: `mod again` includes src/lib.rs, which is already included by an enclosing module: a \
          `#[path]` (or a symlink) leads back to it, which rustc rejects too; point it at another file"]
    );
}

/// A crate ported from a JS Worker, with `#[workflow(class = …, binding = …)]`: the registry,
/// the entry module and the reconciled config (golden files) all use the declared names; the
/// runner follows the declared class; the config's existing entries are kept byte for byte.
#[test]
fn declared_classes_and_bindings_reach_the_registry_the_entry_and_the_config() {
    let dir = fixture("ported");
    let scan = scan_crate(&dir.join("src/lib.rs"), &dir).unwrap_or_else(|e| panic!("{e:?}"));
    let names: Vec<(&str, &str, &str, &str)> = scan
        .workflows
        .iter()
        .map(|w| (w.export_name.as_str(), w.descriptor_path.as_str(), w.class_name.as_str(), w.binding.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("refundFlow", "refunds::refundsV1", "refundsV1", "_REFUNDS"),
            ("orderPipeline", "OrderWorkflow", "OrderWorkflow", "MY_WORKFLOW"),
            ("audit", "AuditTrail", "AuditTrail", "AUDIT_LOG"),
            ("sendEmail", "SendEmailWorkflow", "SendEmailWorkflow", "WORKFLOW_SEND_EMAIL"),
        ]
    );
    let entry = lunora_codegen::render::entry_module(&scan.workflows);
    assert!(entry.contains("export class OrderWorkflow extends WorkflowEntrypoint"), "{entry}");
    assert!(entry.contains("new OrderWorkflowRunner(this.ctx, this.env)"), "{entry}");
    assert_golden(&dir.join("expected.registry.rs"), &lunora_codegen::render::registry(&scan.workflows));
    assert_golden(&dir.join("expected.entry.mjs"), &entry);

    let config = std::fs::read_to_string(dir.join("wrangler.toml")).unwrap();
    let opts = lunora_codegen::wrangler::ReconcileOptions { entry_module: Some("lunora-entry.mjs") };
    let out = lunora_codegen::wrangler::reconcile_toml(&config, &scan.workflows, &opts).unwrap();
    assert!(out.text.starts_with(&config), "the ported entries are kept as they are:\n{}", out.text);
    assert_golden(&dir.join("expected.wrangler.toml"), &out.text);
    let again = lunora_codegen::wrangler::reconcile_toml(&out.text, &scan.workflows, &opts).unwrap();
    assert!(!again.changed, "{:?}", again.report);
}
