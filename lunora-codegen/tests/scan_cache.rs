//! The analysis cache `sync` keeps for `sync --check`: a run that finds it gives the answers a
//! run without it gives, whatever changed since it was written (an attribute, the fn's place
//! in its file, its module, an error); only `sync` writes it, and only into a target
//! directory that exists.

use std::path::{Path, PathBuf};

use lunora_codegen::sync::{self, Plan, SyncError, SyncOptions};

const FLOW: &str = "use lunora_runtime::{workflow, Result, WorkflowContext};\n\n\
    #[workflow(schedules = [\"0 3 * * *\"], limits(steps = 10))]\n\
    pub async fn flow(ctx: WorkflowContext<()>) -> Result<()> {\n    Ok(())\n}\n";

/// A crate under a directory with a Cargo.lock and a target directory, as after a build.
fn built_crate() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"cached\"\nversion = \"0.0.0\"\nedition = \"2021\"\n")
        .unwrap();
    std::fs::write(root.join("Cargo.lock"), "").unwrap();
    std::fs::create_dir_all(root.join("target")).unwrap();
    std::fs::create_dir_all(root.join("src/a")).unwrap();
    std::fs::write(root.join("src/lib.rs"), "#[rustfmt::skip] pub mod lunora_workflows;\npub mod a;\npub mod b;\n")
        .unwrap();
    std::fs::write(root.join("src/a.rs"), FLOW).unwrap();
    std::fs::write(root.join("src/b.rs"), "").unwrap();
    let manifest = root.join("Cargo.toml");
    (dir, manifest)
}

fn plan(manifest: &Path) -> Result<Plan, SyncError> {
    sync::plan(&SyncOptions {
        manifest_path: manifest.to_path_buf(),
        wrangler_config: None,
        registry_out: None,
        entry_out: None,
    })
}

fn cache_files(root: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(root.join("target/lunora-codegen")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// What a check reports about the one workflow: its schedules, limit, descriptor and place.
fn summary(plan: &Plan) -> Vec<String> {
    plan.workflows
        .iter()
        .map(|w| format!("{:?} {:?} {} {}", w.schedules, w.step_limit, w.descriptor_path, w.location))
        .collect()
}

#[test]
fn a_cached_analysis_never_outlives_the_text_it_was_read_from() {
    let (dir, manifest) = built_crate();
    let root = dir.path();
    sync::apply(&plan(&manifest).unwrap()).unwrap();
    assert_eq!(cache_files(root).len(), 1, "sync keeps its analyses in the target directory");

    // Another schedule and limit in the same fn, at the same place.
    std::fs::write(root.join("src/a.rs"), FLOW.replace("0 3", "0 4").replace("steps = 10", "steps = 11")).unwrap();
    let changed = plan(&manifest).unwrap();
    assert_eq!(summary(&changed), ["[\"0 4 * * *\"] Some(11) a::FlowWorkflow src/a.rs:3:1"]);
    assert!(changed.files.iter().any(|f| f.drifts()), "the check sees the new schedule");

    // The same text, two lines lower and in another module: a new place, a new descriptor.
    std::fs::write(root.join("src/a.rs"), "").unwrap();
    std::fs::write(root.join("src/b.rs"), format!("// moved\n\n{FLOW}")).unwrap();
    assert_eq!(summary(&plan(&manifest).unwrap()), ["[\"0 3 * * *\"] Some(10) b::FlowWorkflow src/b.rs:5:1"]);

    // An error is reported, whatever was cached for the text before it.
    std::fs::write(root.join("src/b.rs"), FLOW.replace("0 3 * * *", "61 * * * *")).unwrap();
    assert_eq!(
        plan(&manifest).unwrap_err().to_string(),
        "error: src/b.rs:3:25: invalid cron string \"61 * * * *\": minute field \"61\": 61 is out of range 0-59\n\
         1 problem(s) in the crate's workflow attributes; nothing was written"
    );
}

/// The cache is keyed on text, never on a file's size or modification time: an edit that keeps
/// both (same length, clock set back) is seen.
#[test]
fn an_edit_keeping_the_size_and_modification_time_is_seen() {
    let (dir, manifest) = built_crate();
    let root = dir.path();
    sync::apply(&plan(&manifest).unwrap()).unwrap();
    let file = root.join("src/a.rs");
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    let edited = FLOW.replace("steps = 10", "steps = 12");
    assert_eq!(edited.len(), FLOW.len());
    std::fs::write(&file, &edited).unwrap();
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(modified).unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.len(), meta.modified().unwrap()), (FLOW.len() as u64, modified));
    let checked = plan(&manifest).unwrap();
    assert_eq!(summary(&checked), ["[\"0 3 * * *\"] Some(12) a::FlowWorkflow src/a.rs:3:1"]);
    assert!(checked.files.iter().any(|f| f.drifts()), "the check sees the new limit");
}

#[test]
fn only_sync_writes_the_cache_and_never_creates_a_target_directory() {
    let (dir, manifest) = built_crate();
    let root = dir.path();
    let checked = plan(&manifest).unwrap();
    assert!(cache_files(root).is_empty(), "a check writes nothing");
    sync::apply(&checked).unwrap();
    let cache = cache_files(root).pop().expect("a sync writes the cache");
    let written = std::fs::read(&cache).unwrap();

    // A check reads it and leaves it as it is, even after an edit.
    std::fs::write(root.join("src/a.rs"), FLOW.replace("0 3", "0 5")).unwrap();
    plan(&manifest).unwrap();
    assert_eq!(std::fs::read(&cache).unwrap(), written);

    // No target directory: none is made.
    std::fs::remove_dir_all(root.join("target")).unwrap();
    sync::apply(&plan(&manifest).unwrap()).unwrap();
    assert!(!root.join("target").exists());
}

/// A cache file that is damaged or was written by another tool is not used, and a sync
/// replaces it.
#[test]
fn a_damaged_cache_is_read_as_empty() {
    let (dir, manifest) = built_crate();
    let root = dir.path();
    sync::apply(&plan(&manifest).unwrap()).unwrap();
    let cache = cache_files(root).pop().unwrap();
    let good = std::fs::read_to_string(&cache).unwrap();
    let expected = summary(&plan(&manifest).unwrap());
    for damaged in [good[..good.len() / 2].to_owned(), good.replacen("0.1.0", "9.9.9", 1), "garbage".to_owned()] {
        std::fs::write(&cache, &damaged).unwrap();
        assert_eq!(summary(&plan(&manifest).unwrap()), expected, "{damaged:?}");
    }
    sync::apply(&plan(&manifest).unwrap()).unwrap();
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), good);
}

/// Declared classes and bindings go through the cache like everything the parser reads: a
/// check after a sync gives the declared ones, and another declaration is never served the
/// cached one.
#[test]
fn declared_names_come_back_from_the_cache_as_declared() {
    let (dir, manifest) = built_crate();
    let root = dir.path();
    let declared = FLOW.replace("#[workflow(", "#[workflow(class = \"Legacy\", binding = \"LEGACY\", ");
    std::fs::write(root.join("src/a.rs"), &declared).unwrap();
    sync::apply(&plan(&manifest).unwrap()).unwrap();
    assert_eq!(cache_files(root).len(), 1);
    let names = |plan: &Plan| -> Vec<(String, String, String)> {
        plan.workflows.iter().map(|w| (w.descriptor_path.clone(), w.class_name.clone(), w.binding.clone())).collect()
    };
    let cached = plan(&manifest).unwrap();
    assert_eq!(names(&cached), [("a::Legacy".into(), "Legacy".into(), "LEGACY".into())]);
    assert!(!cached.files.iter().any(|f| f.drifts()), "the check after the sync is clean");

    // Another binding: the config the sync wrote still binds LEGACY, which the check now refuses.
    std::fs::write(root.join("src/a.rs"), declared.replace("\"LEGACY\"", "\"LEGACY_V2\"")).unwrap();
    let err = plan(&manifest).unwrap_err().to_string();
    assert!(err.contains("reaches it through the binding \"LEGACY_V2\""), "{err}");
}

/// The wrangler config's last reconciliation is kept for its exact text and the same workflows
/// only: a binding edited by hand (one byte) is refused as it is without a cache, and an entry
/// no workflow declares is still reported.
#[test]
fn a_hand_edited_config_is_reconciled_afresh() {
    let (dir, manifest) = built_crate();
    let root = dir.path();
    let config = root.join("wrangler.toml");
    sync::apply(&plan(&manifest).unwrap()).unwrap();
    let synced = std::fs::read_to_string(&config).unwrap();
    assert!(synced.contains("binding = \"WORKFLOW_FLOW\""), "{synced}");
    let cache = cache_files(root).pop().unwrap();
    assert!(std::fs::read_to_string(&cache).unwrap().contains(&synced), "the sync keeps the config it wrote");
    assert!(!plan(&manifest).unwrap().files.iter().any(|f| f.drifts()));

    let edited = synced.replace("WORKFLOW_FLOW", "WORKFLOW_FLOX");
    assert_eq!(edited.len(), synced.len());
    std::fs::write(&config, &edited).unwrap();
    let cached = plan(&manifest).unwrap_err().to_string();
    let kept = std::fs::read(&cache).unwrap();
    std::fs::remove_file(&cache).unwrap();
    assert_eq!(plan(&manifest).unwrap_err().to_string(), cached, "as without a cache");
    assert!(cached.contains("binds workflow `flow` (src/a.rs:3:1) as \"WORKFLOW_FLOX\""), "{cached}");
    assert!(cached.ends_with("the file was left untouched"), "{cached}");

    // An entry of another class, kept and reported by the sync, and by each check after it.
    std::fs::write(&cache, kept).unwrap();
    let orphan = format!("{synced}\n[[workflows]]\nname = \"old\"\nbinding = \"OLD\"\nclass_name = \"Old\"\n");
    std::fs::write(&config, &orphan).unwrap();
    let synced_again = plan(&manifest).unwrap();
    let findings = synced_again.findings.clone();
    assert_eq!(findings, ["workflows entry Old (name \"old\") matches no workflow in the crate; left in place"]);
    sync::apply(&synced_again).unwrap();
    assert!(std::fs::read_to_string(&cache).unwrap().contains(&orphan));
    let checked = plan(&manifest).unwrap();
    assert_eq!(checked.findings, findings);
    assert!(!checked.files.iter().any(|f| f.drifts()));

    // Another workflow setting with the same config text: reconciled afresh, so it drifts.
    std::fs::write(root.join("src/a.rs"), FLOW.replace("steps = 10", "steps = 20")).unwrap();
    let changed = plan(&manifest).unwrap();
    assert!(changed.findings.contains(&"set limits.steps of workflows entry FlowWorkflow to 20".to_owned()));
    assert!(changed.files.iter().any(|f| f.drifts() && f.path == config));
}
