//! The scanner on fixture crates: every kind of module, and every kind of mistake reported at
//! its place (golden file `fixtures/scan/broken/expected.diagnostics.txt`, bless with BLESS=1).

use std::path::{Path, PathBuf};

use lunora_codegen::scan::scan_crate;

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
    let golden = dir.join("expected.diagnostics.txt");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    assert_eq!(text, std::fs::read_to_string(&golden).unwrap_or_default(), "bless with BLESS=1 if intended");
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
        let golden = dir.join(name);
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&golden, text).unwrap();
        }
        assert_eq!(
            *text,
            std::fs::read_to_string(&golden).unwrap_or_default(),
            "{name}: bless with BLESS=1 if intended"
        );
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
