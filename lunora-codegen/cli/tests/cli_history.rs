//! `lunora-codegen history --journal PATH`: the histories of an embedded engine's journal file
//! written as files the replay reads, by the real binary.

use std::path::Path;
use std::process::{Command, Output};

use lunora_runtime::history::History;
use lunora_runtime::replay::{replay, Continuation};
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;

struct Naps;

impl Workflow for Naps {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "naps";
    const EXPORT_NAME: &'static str = "naps";

    async fn run(ctx: WorkflowContext<()>) -> Result<()> {
        let _: u32 = ctx.step.do_("load", |_| async { Ok(1u32) }).await?;
        ctx.step.sleep("nap", "30 days").await
    }
}

fn history_command(journal: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
        .args(["history", "naps", "--journal"])
        .arg(journal)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test]
async fn history_writes_the_journal_s_resumable_instances() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.db");
    let out = dir.path().join("histories");
    let t = TestEngine::builder().register::<Naps>().path(&journal).open().await.unwrap();
    for id in ["n-1", "n-2"] {
        let instance = t.workflow::<Naps>().create(CreateOptions::default().with_id(id)).await.unwrap();
        t.run_until(&instance, "the nap", |_, s| s.iter().any(|r| r.name == "nap")).await.unwrap();
    }
    // While an engine holds the journal, the command is refused and writes nothing.
    let busy = history_command(&journal, &out, &[]);
    assert!(!busy.status.success());
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(stderr.contains("is in use by process"), "{stderr}");
    assert!(!out.exists());
    t.engine().clone().close().await;

    let done = history_command(&journal, &out, &[]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(String::from_utf8_lossy(&done.stdout).starts_with("2 histories of naps into"));
    for id in ["n-1", "n-2"] {
        let history = History::read(&out.join(format!("{id}.json"))).unwrap();
        let report = replay::<Naps>(&history).unwrap();
        let Ok(Continuation::Steps(next)) = report.outcome else { panic!("{report}") };
        assert_eq!(next[0].step.name, "nap");
    }

    let one = dir.path().join("one");
    assert!(history_command(&journal, &one, &["--id", "n-2"]).status.success());
    let files: Vec<_> = std::fs::read_dir(&one).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["n-2.json"]);

    let unknown = history_command(&journal, &one, &["--id", "n-9"]);
    assert!(String::from_utf8_lossy(&unknown.stderr)
        .contains("Instance does not exist: no instance \"n-9\" in workflow \"naps\""));
    let missing = history_command(&dir.path().join("nope.db"), &one, &[]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("there is no lunora journal at"));
    assert!(!dir.path().join("nope.db").exists(), "reading never creates a journal");
}
