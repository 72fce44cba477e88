//! Replays per second of a 200-step history, against running the same 200 steps on the
//! embedded engine (in-memory journal) in the same process.

use std::time::Instant;

use lunora_runtime::replay::Replayer;
use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;

const STEPS: u32 = 200;

struct TwoHundred;

impl Workflow for TwoHundred {
    type Params = ();
    type Output = u32;
    const NAME: &'static str = "two-hundred";
    const EXPORT_NAME: &'static str = "twoHundred";

    async fn run(ctx: WorkflowContext<()>) -> Result<u32> {
        let mut sum = 0;
        for i in 0..STEPS {
            sum += ctx.step.do_("step", move |_| async move { Ok(i) }).await?;
        }
        Ok(sum)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (history, engine_runs_per_s) = runtime.block_on(async {
        let t = TestEngine::builder().register::<TwoHundred>().open().await.unwrap();
        let runs = 20;
        let start = Instant::now();
        for i in 0..runs {
            let instance =
                t.workflow::<TwoHundred>().create(CreateOptions::default().with_id(format!("i-{i}"))).await.unwrap();
            t.run_to_completion(&instance).await.unwrap();
        }
        let per_s = f64::from(runs) / start.elapsed().as_secs_f64();
        (t.engine().history("two-hundred", "i-0").unwrap(), per_s)
    });
    assert_eq!(history.steps.len(), STEPS as usize);
    let replayer = Replayer::new().register::<TwoHundred>();
    let replays = 2_000;
    let start = Instant::now();
    for _ in 0..replays {
        let report = replayer.replay(&history).unwrap();
        assert!(report.is_compatible());
    }
    let per_s = f64::from(replays) / start.elapsed().as_secs_f64();
    println!("replay of a {STEPS}-step history: {per_s:.0} replays/s ({:.1} µs each)", 1e6 / per_s);
    println!("baseline, the same {STEPS} steps run on the engine (in-memory journal): {engine_runs_per_s:.0} runs/s");
    println!("ratio: replay is {:.0}× the engine's run", per_s / engine_runs_per_s);
}
