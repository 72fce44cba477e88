//! History files are data from outside: every malformed one is refused naming the file and the
//! field, never a panic; a newer format version is refused clearly; unknown step kinds are kept
//! opaque; a folder check lists every failure. Also: the REST detail's shape becomes the same
//! format.

use std::fs;

use lunora_runtime::history::{History, RecordKind, RecordState, FORMAT_VERSION};
use lunora_runtime::replay::Replayer;
use lunora_runtime::rest::{InstanceDetail, TimelineStep};
use lunora_runtime::*;
use serde_json::{json, Value};

struct Waits;

impl Workflow for Waits {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "waits";
    const EXPORT_NAME: &'static str = "waits";

    async fn run(ctx: WorkflowContext<()>) -> Result<()> {
        let _: u32 = ctx.step.do_("load", |_| async { Ok(1u32) }).await?;
        ctx.step.sleep("nap", "1 day").await
    }
}

fn history() -> Value {
    json!({
        "format": "lunora-history", "version": 1, "source": "embedded", "workflow": "waits",
        "instance_id": "w-1", "version_id": null, "status": "waiting", "params": {},
        "trigger": {"timestamp": 1_767_225_600_000i64, "source": null},
        "steps": [
            {"kind": "do", "name": "load", "count": 1, "state": "done", "output": 1,
             "attempts": [{"start": 1, "end": 2, "success": true, "error": null}]},
            {"kind": "sleep", "name": "nap", "count": 1, "state": "waiting", "wake_at": 1_767_312_000_000i64}
        ]
    })
}

fn refused(text: &str) -> String {
    History::parse(text, "h.json").unwrap_err().to_string()
}

fn with(path: &[&str], value: Value) -> String {
    let mut h = history();
    let mut at = &mut h;
    for key in &path[..path.len() - 1] {
        at = match key.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*key],
        };
    }
    let last = path[path.len() - 1];
    match last.parse::<usize>() {
        Ok(i) => at[i] = value,
        Err(_) => at[last] = value,
    }
    h.to_string()
}

#[test]
fn a_written_history_reads_back_the_same() {
    let parsed = History::parse(&history().to_string(), "h.json").unwrap();
    assert_eq!(History::parse(&parsed.to_pretty_string(), "again").unwrap(), parsed);
    assert_eq!(parsed.steps[1].state, RecordState::Waiting);
}

#[test]
fn malformed_files_name_the_file_and_the_field() {
    let text = history().to_string();
    assert!(refused(&text[..text.len() / 2]).starts_with("h.json: is not valid JSON: EOF while parsing"));
    assert_eq!(
        refused(&with(&["steps", "1", "count"], json!("x"))),
        "h.json: steps[1].count: expected a whole number from 1 to 4294967295, found a string \"x\""
    );
    assert_eq!(
        refused(&with(&["steps", "0", "count"], json!(0))),
        "h.json: steps[0].count: expected a whole number from 1 to 4294967295, found a number 0"
    );
    assert_eq!(refused(&with(&["steps"], json!({}))), "h.json: steps: expected an array, found an object");
    assert_eq!(
        refused(&with(&["steps", "0", "state"], json!("sleeping"))),
        "h.json: steps[0].state: is \"sleeping\"; expected done, failed, waiting or running"
    );
    assert_eq!(
        refused(&with(&["steps", "0", "attempts", "0", "end"], json!("soon"))),
        "h.json: steps[0].attempts[0].end: expected a time in epoch milliseconds or null, found a string \"soon\""
    );
    assert_eq!(refused(&with(&["workflow"], json!(7))), "h.json: workflow: expected a string, found a number 7");
    assert_eq!(refused(&with(&["instance_id"], json!(""))), "h.json: instance_id: is empty");
    assert_eq!(refused("[]"), "h.json: expected an object, found an array");
    assert_eq!(
        refused(&with(&["format"], json!("temporal"))),
        "h.json: format: is \"temporal\"; a lunora history says \"lunora-history\""
    );
    let mut missing = history();
    missing["steps"][0].as_object_mut().unwrap().remove("name");
    assert_eq!(refused(&missing.to_string()), "h.json: steps[0].name: is missing");
    // A received event must be an event.
    let event =
        with(&["steps", "1"], json!({"kind": "waitForEvent", "name": "e", "count": 1, "state": "done", "output": 5}));
    assert!(refused(&event).starts_with("h.json: steps[1].output: a received event must be {"));
    let text_time = with(
        &["steps", "1"],
        json!({"kind": "waitForEvent", "name": "e", "count": 1, "state": "done",
               "output": {"payload": 1, "timestamp": "2026-01-01T00:00:00Z", "type": "t"}}),
    );
    assert!(refused(&text_time).starts_with("h.json: steps[1].output: a received event must be {"));
    // Nesting past serde_json's recursion limit is an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(refused(&deep).contains("recursion limit exceeded"), "{}", refused(&deep));
}

#[test]
fn a_newer_format_version_is_refused_with_what_to_do() {
    assert_eq!(
        refused(&with(&["version"], json!(FORMAT_VERSION + 1))),
        "h.json: version: this history has format version 2, newer than version 1, the newest this lunora-runtime \
         reads; upgrade lunora-runtime (and lunora-codegen) to replay it"
    );
}

#[test]
fn unknown_step_kinds_are_kept_opaque_and_passed_over() {
    let text = with(
        &["steps"],
        json!([
            {"kind": "do", "name": "load", "count": 1, "state": "done", "output": 1},
            {"kind": "termination", "trigger": {"source": "api"}},
            {"kind": "sleep", "name": "nap", "count": 1, "state": "waiting"}
        ]),
    );
    let parsed = History::parse(&text, "h.json").unwrap();
    assert_eq!(parsed.steps[1].kind, RecordKind::Other("termination".into()));
    assert_eq!(parsed.steps[1].raw.as_ref().unwrap()["trigger"]["source"], "api");
    let again = History::parse(&parsed.to_pretty_string(), "again").unwrap();
    assert_eq!(again.steps[1].raw, parsed.steps[1].raw);
    let report = lunora_runtime::replay::replay::<Waits>(&parsed).unwrap();
    assert_eq!(report.outcome.unwrap().to_string(), "next step #3 sleep \"nap\" (count 1) (recorded waiting)");
}

#[test]
fn huge_and_binary_files_are_refused_before_they_are_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.json");
    // Sparse: takes no disk space.
    fs::File::create(&huge).unwrap().set_len(lunora_runtime::history::MAX_HISTORY_BYTES + 1).unwrap();
    let err = History::read(&huge).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: is 268435457 bytes, more than", huge.display())), "{err}");
    let binary = dir.path().join("binary.json");
    fs::write(&binary, b"{\"format\": \"\xff\"}").unwrap();
    assert_eq!(
        History::read(&binary).unwrap_err().to_string(),
        format!("{}: is not UTF-8 text (byte 12)", binary.display())
    );
}

#[test]
fn a_folder_check_lists_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a-good.json"), history().to_string()).unwrap();
    fs::write(dir.path().join("b-renamed.json"), with(&["steps", "1", "name"], json!("siesta"))).unwrap();
    fs::write(dir.path().join("c-broken.json"), "{").unwrap();
    fs::write(dir.path().join("d-other.json"), with(&["workflow"], json!("billing"))).unwrap();
    fs::write(dir.path().join(".e-hidden.json"), "{").unwrap();
    fs::write(dir.path().join("notes.txt"), "not a history").unwrap();
    let failures = Replayer::new().register::<Waits>().check_dir(dir.path()).unwrap_err();
    let d = dir.path().display();
    assert_eq!(
        failures.to_string(),
        format!(
            "3 of the 4 histories in {d} do not replay against the current code:\n  \
             - {d}/b-renamed.json: instance \"w-1\" of waits: diverges at step #2: the history recorded sleep \
             \"siesta\" (count 1), the code asked for sleep \"nap\" (count 1)\n  \
             - {d}/c-broken.json: is not valid JSON: EOF while parsing an object at line 1 column 1\n  \
             - {d}/d-other.json: the history of instance \"w-1\" is of workflow \"billing\", which is not registered \
             (registered: waits)"
        )
    );
    fs::remove_file(dir.path().join("b-renamed.json")).unwrap();
    fs::remove_file(dir.path().join("c-broken.json")).unwrap();
    fs::remove_file(dir.path().join("d-other.json")).unwrap();
    let reports = Replayer::new().register::<Waits>().assert_dir(dir.path());
    assert_eq!(reports.len(), 1);
    let missing = Replayer::new().check_dir(dir.path().join("nope")).unwrap_err().to_string();
    assert!(missing.contains("nope: cannot read the folder"), "{missing}");
}

#[test]
fn a_rest_instance_detail_becomes_the_same_format() {
    let steps: Vec<TimelineStep> = serde_json::from_value(json!([
        {"type": "step", "name": "load", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:01Z",
         "success": true, "output": 1, "attempts": [{"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:01Z", "success": true}]},
        {"type": "step", "name": "load", "success": null,
         "attempts": [{"start": "2026-01-01T00:00:02Z", "end": "2026-01-01T00:00:03Z", "success": false,
                       "error": {"name": "Error", "message": "down"}}]},
        {"type": "sleep", "name": "nap", "start": "2026-01-01T00:00:01Z", "end": "2026-01-02T00:00:01Z", "finished": false},
        {"type": "waitForEvent", "name": "ship", "finished": true, "output": {"tracking": "1Z"}, "end": "2026-01-02T00:00:01Z"},
        {"type": "termination", "trigger": {"source": "api"}},
        {"type": "somethingNew", "name": "x"}
    ]))
    .unwrap();
    let detail = InstanceDetail {
        id: "cf-1".into(),
        status: InstanceStatusKind::Waiting,
        status_text: "waiting".into(),
        params: Some(json!({"a": 1})),
        output: None,
        error: None,
        rollback: None,
        trigger: Some(lunora_runtime::rest::Trigger { source: "api".into() }),
        version_id: Some("v-9".into()),
        queued: Some("2026-01-01T00:00:00Z".into()),
        start: None,
        end: None,
        success: None,
        step_count: None,
        steps,
    };
    let h = History::from_rest("waits", &detail);
    let summary: Vec<(String, String, u32, &str)> =
        h.steps.iter().map(|s| (s.kind.to_string(), s.name.clone(), s.count, s.state.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("do".into(), "load".into(), 1, "done"),
            ("do".into(), "load".into(), 2, "waiting"),
            ("sleep".into(), "nap".into(), 1, "waiting"),
            ("waitForEvent".into(), "ship".into(), 1, "done"),
            ("termination".into(), "".into(), 0, "done"),
            ("somethingNew".into(), "x".into(), 0, "done"),
        ]
    );
    assert_eq!((h.version_id.as_deref(), h.trigger.timestamp), (Some("v-9"), Some(1_767_225_600_000)));
    assert_eq!(h.steps[0].ended_at, Some(1_767_225_601_000));
    assert_eq!(h.steps[1].error.as_ref().map(|e| e.message().to_owned()), Some("down".into()));
    assert_eq!(h.steps[3].output.as_ref().unwrap()["payload"], json!({"tracking": "1Z"}));
    // Written and read back: one format.
    let again = History::parse(&h.to_pretty_string(), "cf-1.json").unwrap();
    assert_eq!(again, h);
}

fn detail_of(steps: Value) -> InstanceDetail {
    InstanceDetail {
        id: "cf-2".into(),
        status: InstanceStatusKind::Waiting,
        status_text: "waiting".into(),
        params: None,
        output: None,
        error: None,
        rollback: None,
        trigger: None,
        version_id: None,
        queued: None,
        start: None,
        end: None,
        success: None,
        step_count: None,
        steps: serde_json::from_value(steps).unwrap(),
    }
}

/// workerd names timeline entries `<name>-<count>`: the suffix is the count when every forward
/// entry follows that rule, and part of the name otherwise.
#[test]
fn counted_names_in_a_timeline_become_name_and_count() {
    let counted = History::from_rest(
        "waits",
        &detail_of(json!([
            {"type": "step", "name": "load-1", "success": true, "output": 1},
            {"type": "step", "name": "load-2", "success": true, "output": 2},
            {"type": "sleep", "name": "nap-1", "finished": false},
            {"type": "waitForEvent", "name": "ship-1", "finished": true,
             "output": {"type": "shipped", "payload": {"t": 1}, "timestamp": "2026-01-01T00:00:02.500Z"}},
        ])),
    );
    // The event's time as text becomes epoch ms, so the event decodes.
    assert_eq!(
        counted.steps[3].output,
        Some(json!({"type": "shipped", "payload": {"t": 1}, "timestamp": 1_767_225_602_500i64}))
    );
    let names: Vec<(String, u32)> = counted.steps.iter().map(|s| (s.name.clone(), s.count)).collect();
    assert_eq!(names, [("load".into(), 1), ("load".into(), 2), ("nap".into(), 1), ("ship".into(), 1)]);
    let whole = History::from_rest(
        "waits",
        &detail_of(json!([
            {"type": "step", "name": "part-1", "success": true, "output": 1},
            {"type": "step", "name": "part-3", "success": true, "output": 2},
            {"type": "sleep", "name": "nap", "finished": false},
        ])),
    );
    let names: Vec<(String, u32)> = whole.steps.iter().map(|s| (s.name.clone(), s.count)).collect();
    assert_eq!(names, [("part-1".into(), 1), ("part-3".into(), 1), ("nap".into(), 1)]);
}

/// Instance ids come from outside (an API): the file name never leaves the folder.
#[test]
fn file_names_from_hostile_ids_stay_in_the_folder() {
    let mut h = History::parse(&history().to_string(), "h.json").unwrap();
    let names: Vec<String> = ["../../etc/passwd", "...", "a\u{0}b\\c", "order 42 ✓", ".hidden"]
        .iter()
        .map(|id| {
            h.instance_id = (*id).to_owned();
            h.file_name()
        })
        .collect();
    assert_eq!(names, ["_.._etc_passwd.json", "instance.json", "a_b_c.json", "order_42__.json", "hidden.json"]);
    let dir = tempfile::tempdir().unwrap();
    h.instance_id = "../escape".into();
    let path = h.write_to_dir(&dir.path().join("out")).unwrap();
    assert_eq!(path, dir.path().join("out/_escape.json"));
    // A folder that cannot be created: an error, and nothing left behind.
    let blocked = dir.path().join("file");
    fs::write(&blocked, "x").unwrap();
    assert!(h.write_to_dir(&blocked).is_err());
    assert_eq!(fs::read_to_string(&blocked).unwrap(), "x");
    // Rewriting replaces the file whole, with no temporary file left.
    h.status = "paused".into();
    h.write_to_dir(&dir.path().join("out")).unwrap();
    let files: Vec<_> = fs::read_dir(dir.path().join("out")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["_escape.json"]);
    assert_eq!(History::read(&path).unwrap().status, "paused");
}
