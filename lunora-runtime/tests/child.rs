//! Child workflows on the embedded engine: a parent starts a typed child from a step and gets
//! its output (or its error) durably, once, across a restart of the engine and of the parent.

use std::time::Duration;

use lunora_runtime::local::Engine;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;

/// The child: doubles its params; 13 fails it; a negative number waits for event `go` first.
struct Double;

impl Workflow for Double {
    type Params = i64;
    type Output = i64;
    const NAME: &'static str = "double";
    const EXPORT_NAME: &'static str = "double";

    async fn run(ctx: WorkflowContext<i64>) -> Result<i64> {
        let n = ctx.params;
        if n < 0 {
            ctx.step.wait_for_event_with_timeout::<serde_json::Value>("hold", "go", "1 hour").await?;
        }
        ctx.step
            .do_("double", move |_| async move {
                match n {
                    13 => Err(Error::non_retryable("unlucky number")),
                    n => Ok(n * 2),
                }
            })
            .await
    }
}

/// The parent: its params through the child, plus one.
struct Parent;

impl Workflow for Parent {
    type Params = i64;
    type Output = i64;
    const NAME: &'static str = "parent";
    const EXPORT_NAME: &'static str = "parent";

    async fn run(ctx: WorkflowContext<i64>) -> Result<i64> {
        let doubled = ctx.child::<Double>("double", ctx.params).await?;
        Ok(doubled + 1)
    }
}

async fn engine() -> TestEngine {
    TestEngine::builder().register::<Parent>().register::<Double>().open().await.expect("engine opens")
}

/// Runs the parent up to its wait for the child, then the child to its end; the child's id.
async fn start(t: &TestEngine, id: &str, params: i64) -> (InstanceHandle<Parent>, InstanceHandle<Double>) {
    let parent = t.workflow::<Parent>().create(CreateOptions::params(params).with_id(id)).await.unwrap();
    let child_id: String =
        t.wait_for_step_result(&parent, lunora_runtime::local::StepSelector::name("double")).await.unwrap();
    let child = t.workflow::<Double>().get(&child_id).await.expect("the child exists under the id the step returned");
    (parent, child)
}

#[tokio::test]
async fn a_child_output_reaches_the_parent_typed() {
    let t = engine().await;
    let (parent, child) = start(&t, "p-ok", 20).await;
    assert_eq!(child.id(), "p-ok-double-1", "replay-stable id: <parent>-<step>-<count>");
    t.run_to_completion(&child).await.unwrap();
    let status = t.run_to_completion(&parent).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Complete, "{status:?}");
    assert_eq!(parent.status().await.unwrap().output, Some(41));
    // The child's own params are the number, not the wrapper that names its parent.
    assert_eq!(child.status().await.unwrap().output, Some(40));
}

#[tokio::test]
async fn a_failing_child_fails_the_parents_call_with_its_error() {
    let t = engine().await;
    let (parent, child) = start(&t, "p-fail", 13).await;
    let child_end = t.run_to_completion(&child).await.unwrap();
    assert_eq!(child_end.status, InstanceStatusKind::Errored);
    let status = t.run_to_completion(&parent).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    let error = status.error.expect("the parent reports the child's failure");
    assert_eq!(error.name(), CHILD_FAILED);
    assert!(error.message().contains("\"p-fail-double-1\"") && error.message().contains("unlucky number"), "{error}");
}

#[tokio::test]
async fn an_engine_restart_mid_wait_finds_the_same_child() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let open = || Engine::builder().path(&db).register::<Parent>().register::<Double>().open();
    let engine = open().await.unwrap();
    let parent = engine.workflow::<Parent>().create(CreateOptions::params(-5).with_id("p-crash")).await.unwrap();
    let child = wait_until(|| async { engine.workflow::<Double>().get("p-crash-double-1").await.ok() }).await;
    wait_until(|| async { (child.status().await.ok()?.status == InstanceStatusKind::Waiting).then_some(()) }).await;
    engine.shutdown(Duration::from_secs(5)).await;

    let engine = open().await.unwrap();
    let parent = engine.workflow::<Parent>().get(parent.id()).await.unwrap();
    engine.workflow::<Double>().get("p-crash-double-1").await.unwrap().send_event("go", ()).await.unwrap();
    let done = wait_until(|| async {
        let status = parent.status().await.ok()?;
        status.status.is_terminal().then_some(status)
    })
    .await;
    assert_eq!(done.output, Some(-9), "{done:?}");
    let children = engine.workflow::<Double>().list(&Default::default()).await.unwrap();
    assert_eq!(children.instances.len(), 1, "one child, not a second after the restart: {children:?}");
}

#[tokio::test]
async fn a_restarted_parent_reads_its_ended_child_again() {
    let t = engine().await;
    let (parent, child) = start(&t, "p-restart", 4).await;
    t.run_to_completion(&child).await.unwrap();
    t.run_to_completion(&parent).await.unwrap();
    parent.restart().await.unwrap();
    let status = t.run_to_completion(&parent).await.unwrap();
    assert_eq!((status.status, parent.status().await.unwrap().output), (InstanceStatusKind::Complete, Some(9)));
    assert_eq!(t.instances::<Double>().await.unwrap().len(), 1);
}

#[tokio::test]
async fn without_the_engine_handle_a_child_call_says_why() {
    // A parent whose child workflow is not registered: the create step fails with the engine's error.
    let t = TestEngine::builder().register::<Parent>().open().await.unwrap();
    let parent = t.workflow::<Parent>().create(CreateOptions::params(1)).await.unwrap();
    let status = t.run_to_completion(&parent).await.unwrap();
    assert_eq!(status.status, InstanceStatusKind::Errored);
    assert!(status.error.unwrap().message().contains("double"));
}

/// Polls `check` every 10 ms for up to 20 s.
async fn wait_until<T, F, Fut>(check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..2000 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 20 s");
}
