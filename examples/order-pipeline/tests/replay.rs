//! Deploy safety: every history in `histories/` (instances in flight, recorded by the embedded
//! engine or pulled from Cloudflare with `lunora-codegen instances pull order-pipeline --out
//! histories`) must replay against the current code. A rename, reorder or type change of a step
//! fails this test, naming the instance and the step, before it reaches production.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lunora_runtime::replay::Replayer;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use order_pipeline::lunora_workflows::register_all;
use order_pipeline::{AuditLog, OrderParams, OrderPipelineWorkflow};

/// Whether an instance's steps reached the point to record it at.
type Reached = fn(&[lunora_runtime::local::StepRow]) -> bool;

fn histories() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("histories")
}

#[test]
fn every_history_in_flight_replays_against_the_current_code() {
    let reports = register_all(Replayer::new()).assert_dir(histories());
    assert!(reports.len() >= 4, "histories/ holds the recorded instances: {reports:?}");
    for report in &reports {
        println!("{report}");
    }
    let shipment = reports.iter().find(|r| r.instance_id == "order-waiting-for-shipment").expect("that history");
    assert!(shipment.to_string().contains("next step #5 waitForEvent \"await-shipment\" (count 1)"), "{shipment}");
}

/// Writes `histories/` from the example's own runs on the embedded engine, read back from its
/// journal: `cargo test -p order-pipeline --test replay -- --ignored record_histories`. Run it
/// only to add histories: the files stand for instances already in flight, recorded by the code
/// that was deployed then.
#[tokio::test]
#[ignore = "writes histories/; run by hand"]
async fn record_histories() -> Result<()> {
    let env = Env::new().with(Arc::new(AuditLog::default()));
    let t = register_all(TestEngine::builder().env(env).start_time(1_767_225_600_000)).open().await?;
    let orders = t.workflow::<OrderPipelineWorkflow>();
    let points: [(&str, u32, bool, Reached); 4] = [
        ("order-cooling-off", 0, false, |s| s.iter().any(|r| r.name == "cool-off")),
        ("order-charge-retrying", 1, false, |s| s.iter().any(|r| r.name == "charge" && r.attempts == 1)),
        ("order-waiting-for-shipment", 0, false, |s| s.iter().any(|r| r.name == "await-shipment")),
        ("order-paused-before-shipment", 0, true, |s| s.iter().any(|r| r.name == "await-shipment")),
    ];
    for (id, gateway_failures, pause, done) in points {
        let params = OrderParams { gateway_failures, ..OrderParams::new(id) };
        let instance = orders.create(CreateOptions::params(params).with_id(id)).await?;
        t.run_until(&instance, id, |_, steps| done(steps)).await?;
        if pause {
            instance.pause().await?;
            t.wait_for_status(&instance, InstanceStatusKind::Paused).await?;
        }
        let history = t.engine().history(OrderPipelineWorkflow::NAME, id)?;
        let path = history.write_to_dir(&histories()).map_err(|e| Error::new(e.to_string()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
