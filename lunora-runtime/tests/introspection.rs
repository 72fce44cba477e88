//! The test harness's parity with Cloudflare's introspection: instances the code under test
//! created with ids the test does not know, waits that move the virtual clock past sleeps and
//! retry delays, and mocks that survive `restart()`.

mod common;

use common::*;
use lunora_runtime::local::{Modifiers, StepSelector};
use lunora_runtime::*;
use serde_json::json;

#[tokio::test]
async fn instances_created_with_unknown_ids_are_found_and_steered() {
    let (t, _) = engine_with(|b| b.register::<Sleeper>()).await;
    for _ in 0..3 {
        t.workflow::<Sleeper>().create(CreateOptions::params("1 day".to_owned())).await.unwrap();
    }
    let found = t.instances::<Sleeper>().await.unwrap();
    assert_eq!(found.len(), 3);
    for instance in &found {
        t.wait_for_status(instance, InstanceStatusKind::Waiting).await.unwrap();
        instance.terminate().await.unwrap();
    }
    let statuses: Vec<InstanceStatusKind> = {
        let mut v = Vec::new();
        for i in t.instances::<Sleeper>().await.unwrap() {
            v.push(i.status().await.unwrap().status);
        }
        v
    };
    assert_eq!(statuses, [InstanceStatusKind::Terminated; 3]);
}

#[tokio::test]
async fn waiting_for_a_step_or_a_status_moves_the_clock_past_sleeps() {
    let (t, _) = engine_with(|b| b.register::<Sleeper>()).await;
    let a = t.workflow::<Sleeper>().create(CreateOptions::params("30 days".to_owned())).await.unwrap();
    let after: i64 = t.wait_for_step_result(&a, StepSelector::name("after")).await.unwrap();
    assert_eq!(after, 0);
    let b = t.workflow::<Sleeper>().create(CreateOptions::params("7 days".to_owned())).await.unwrap();
    let status = t.wait_for_status(&b, InstanceStatusKind::Complete).await.unwrap();
    assert_eq!(status.output, Some(json!(0)));
}

#[tokio::test]
async fn mocked_events_survive_a_restart() {
    let (t, _) = engine_with(|b| b.register::<Waiter>()).await;
    t.modify_instance::<Waiter>("w", Modifiers::new().mock_event("go", json!({"n": 1})));
    let w = t.workflow::<Waiter>().create(CreateOptions::params(vec!["go".to_owned()]).with_id("w")).await.unwrap();
    let first = t.run_to_completion(&w).await.unwrap();
    assert_eq!(first.output, Some(json!(["go={\"n\":1}"])));
    w.restart().await.unwrap();
    let again = t.run_to_completion(&w).await.unwrap();
    assert_eq!(again.output, first.output, "the mocked event was there again, not a timeout");
}
