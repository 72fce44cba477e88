//! Every ```rust block of the README compiles, and runs where it is a test: each is copied here,
//! in README order, between `// README block: begin` and `// README block: end` (indented as
//! the markers; what surrounds it supplies the types it only names), and
//! `readme_blocks_are_the_regions_compiled_here` fails when a block and its copy differ.
//! Edit a block here first (rustfmt'd, compiling), then paste it into the README.

use std::fmt::Write;

const README: &str = include_str!("../../README.md");
const THIS_FILE: &str = include_str!("readme.rs");
const BEGIN: &str = "// README block: begin";
const END: &str = "// README block: end";

/// A piece of code and the 1-based line of its first line in its file.
#[derive(Debug)]
struct Block {
    line: usize,
    text: String,
}

/// The bodies of the ```rust fences (```rust,ignore and such included), in order.
fn readme_rust_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<(bool, Block)> = None; // (is rust, block) while inside a fence
    for (i, line) in readme.lines().enumerate() {
        match current.take() {
            None if line.starts_with("```") => {
                let is_rust = line.trim_start_matches('`').split([',', ' ']).next() == Some("rust");
                current = Some((is_rust, Block { line: i + 2, text: String::new() }));
            }
            None => {}
            Some((is_rust, block)) if line.trim_end() == "```" => blocks.extend(is_rust.then_some(block)),
            Some((is_rust, mut block)) => {
                writeln!(block.text, "{line}").unwrap();
                current = Some((is_rust, block));
            }
        }
    }
    assert!(current.is_none(), "README.md: a ``` fence is never closed");
    blocks
}

/// The regions between the markers, each dedented by its begin marker's indentation.
fn regions(source: &str) -> Vec<Block> {
    let mut regions = Vec::new();
    let mut current: Option<(usize, Block)> = None; // (indent, block)
    for (i, line) in source.lines().enumerate() {
        match current.take() {
            None if line.trim() == BEGIN => {
                let indent = line.len() - line.trim_start().len();
                current = Some((indent, Block { line: i + 2, text: String::new() }));
            }
            None => {}
            Some((_, block)) if line.trim() == END => regions.push(block),
            Some((indent, mut block)) => {
                let dedented = match line.get(..indent) {
                    _ if line.trim().is_empty() => "",
                    Some(margin) if margin.trim().is_empty() => &line[indent..],
                    _ => panic!("tests/tests/readme.rs:{}: indented less than its `{BEGIN}` marker", i + 1),
                };
                writeln!(block.text, "{dedented}").unwrap();
                current = Some((indent, block));
            }
        }
    }
    assert!(current.is_none(), "tests/tests/readme.rs: a `{BEGIN}` has no `{END}`");
    regions
}

/// Compares README blocks with regions, in order: `Err` names the first difference by line.
fn compare(readme: &[Block], compiled: &[Block]) -> Result<(), String> {
    for (n, (block, region)) in readme.iter().zip(compiled).enumerate() {
        let (mut a, mut b) = (block.text.lines(), region.text.lines());
        for offset in 0.. {
            match (a.next(), b.next()) {
                (None, None) => break,
                (x, y) if x == y => {}
                (x, y) => {
                    return Err(format!(
                        "README.md:{}: ```rust block {} differs from its compiled copy at tests/tests/readme.rs:{}\n  \
                         README: {}\n  copy:   {}\nmake the README block the copy (which compiles), or fix the copy \
                         first",
                        block.line + offset,
                        n + 1,
                        region.line + offset,
                        x.unwrap_or("(block ends)"),
                        y.unwrap_or("(copy ends)"),
                    ))
                }
            }
        }
    }
    match readme.len().cmp(&compiled.len()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(format!(
            "README.md:{}: this ```rust block has no compiled copy in tests/tests/readme.rs; copy it there between \
             `{BEGIN}` and `{END}` (in README order) so that it compiles",
            readme[compiled.len()].line
        )),
        std::cmp::Ordering::Less => Err(format!(
            "tests/tests/readme.rs:{}: this region copies no ```rust block of the README (it has {}); remove it",
            compiled[readme.len()].line,
            readme.len()
        )),
    }
}

#[test]
fn readme_blocks_are_the_regions_compiled_here() {
    if let Err(message) = compare(&readme_rust_blocks(README), &regions(THIS_FILE)) {
        panic!("{message}");
    }
}

#[test]
fn the_comparison_names_the_line_that_differs_and_a_block_left_uncompiled() {
    let readme = "text\n```sh\nls\n```\n```rust\nlet a = 1;\nlet b = 2;\n```\n```rust,ignore\nx\n```\n";
    let blocks = readme_rust_blocks(readme);
    assert_eq!(
        blocks.iter().map(|b| (b.line, b.text.as_str())).collect::<Vec<_>>(),
        [(6, "let a = 1;\nlet b = 2;\n"), (10, "x\n")]
    );
    let source = format!("mod m {{\n    {BEGIN}\n    let a = 1;\n\n    let b = 3;\n    {END}\n}}\n");
    let copies = regions(&source);
    assert_eq!(copies[0].text, "let a = 1;\n\nlet b = 3;\n");
    let message = compare(&blocks[..1], &copies).unwrap_err();
    assert!(message.starts_with("README.md:7: ```rust block 1 differs from its compiled copy at tests/tests/readme.rs:4\n  README: let b = 2;\n  copy:   \n"), "{message}");
    let message = compare(&blocks, &copies[..0]).unwrap_err();
    assert!(message.starts_with("README.md:6: this ```rust block has no compiled copy"), "{message}");
}

/// "A short tour": the types and helpers it names are below the block.
#[allow(dead_code)]
mod tour {
    // README block: begin
    use lunora_runtime::*;

    /// A reusable step: args validated before the body (garde rules if the type derives
    /// `garde::Validate`), returns after; retried with backoff; refunded if the order later fails.
    #[step(args = ChargeArgs, returns = Receipt, retries(limit = 3, delay = "10 seconds", backoff = "exponential"),
           timeout = "30 seconds", rollback = refund)]
    async fn charge(_ctx: StepContext, args: ChargeArgs) -> Result<Receipt> {
        gateway::charge(&args.order_id, args.amount).await
    }

    async fn refund(ctx: StepRollbackContext<ChargeArgs, Receipt>) -> Result<()> {
        gateway::refund(&ctx.args.order_id).await
    }

    /// Deployed as `order-pipeline`, class `OrderPipelineWorkflow`, binding `WORKFLOW_ORDER_PIPELINE`.
    #[workflow(schedules = ["0 3 * * *"], limits(steps = 500))]
    pub async fn order_pipeline(ctx: WorkflowContext<OrderParams>) -> Result<Shipped> {
        let order: Order = ctx.step.do_("load", |_| async { load(&ctx.params.order_id).await }).await?;
        ctx.step.sleep("cool-off", "1 minute").await?;
        let receipt = ctx.run_step(&charge, ChargeArgs { order_id: order.id.clone(), amount: 4200 }).await?;
        let shipment: Event<Shipment> = ctx.step.wait_for_event("await-shipment", "shipment-created").await?;
        Ok(Shipped { receipt, tracking_id: shipment.payload.tracking_id })
    }
    // README block: end

    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub struct OrderParams {
        pub order_id: String,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Order {
        id: String,
    }

    #[derive(Clone, Serialize, Deserialize)]
    pub struct ChargeArgs {
        order_id: String,
        amount: u64,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    pub struct Receipt {
        pub id: String,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Shipment {
        tracking_id: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    pub struct Shipped {
        pub receipt: Receipt,
        pub tracking_id: String,
    }

    async fn load(order_id: &str) -> Result<Order> {
        Ok(Order { id: order_id.to_owned() })
    }

    mod gateway {
        use super::Receipt;
        use lunora_runtime::Result;

        pub async fn charge(order_id: &str, amount: u64) -> Result<Receipt> {
            Ok(Receipt { id: format!("rcpt-{order_id}-{amount}") })
        }

        pub async fn refund(_order_id: &str) -> Result<()> {
            Ok(())
        }
    }
}

/// "Or, in `build.rs`": type-checked here, run by this crate's own build.rs.
#[allow(dead_code)]
mod build_script {
    // README block: begin
    fn main() {
        lunora_codegen::Builder::from_env().generate().unwrap_or_else(|e| panic!("{e}"));
    }
    // README block: end
}

/// "Calling back into the Worker": the dispatch itself is tested in `dispatch.rs`.
#[allow(dead_code)]
mod calling_back {
    use lunora_runtime::*;
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Serialize, Deserialize)]
    struct ChargeArgs {
        order_id: String,
    }

    #[derive(Serialize, Deserialize)]
    struct Receipt {
        id: String,
    }

    // README block: begin
    const CHARGE: FunctionRef<ChargeArgs, Receipt> = FunctionRef::new("payments:charge");

    #[step(args = ChargeArgs, returns = Receipt, retries(limit = 3, delay = "10 seconds"))]
    async fn charge(ctx: StepContext, args: ChargeArgs) -> Result<Receipt> {
        ctx.run(&CHARGE, args).await // POST $LUNORA_ORIGIN_URL/_lunora/scheduler/dispatch
    }
    // README block: end
}

/// "Serving functions": the endpoint itself is tested behind axum in `functions.rs`.
#[allow(dead_code)]
mod serving_functions {
    use std::sync::Arc;

    use lunora_runtime::functions::SqliteDedupStore;
    use lunora_runtime::*;
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Serialize, Deserialize)]
    struct ChargeArgs {
        order_id: String,
        amount_cents: u64,
    }

    #[derive(Serialize, Deserialize)]
    struct Receipt {
        id: String,
    }

    // README block: begin
    const CHARGE: FunctionRef<ChargeArgs, Receipt> = FunctionRef::new("payments:charge"); // the caller's constant

    async fn charge(ctx: FunctionContext, args: ChargeArgs) -> std::result::Result<Receipt, FunctionError> {
        if args.amount_cents == 0 {
            // 400/403/404/422: final, kept for this dedup id; 429/5xx: retried, nothing kept.
            return Err(FunctionError::unprocessable("NOTHING_TO_CHARGE", "the order is free"));
        }
        let gateway = ctx.env.var("GATEWAY").unwrap_or("test-gateway");
        Ok(Receipt { id: format!("{gateway}:{}", ctx.id) }) // ctx.id: the dedup id, an idempotency key
    }

    async fn serve(env: Env, listener: tokio::net::TcpListener) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let functions = Functions::new().register(&CHARGE, charge);
        let store = Arc::new(SqliteDedupStore::open("dispatch.db")?);
        let endpoint = DispatchEndpoint::new(functions, env, store).map_err(|e| e.to_string())?; // needs LUNORA_ADMIN_TOKEN
        lunora_runtime::functions::server::serve(listener, endpoint).await?; // or merge server::router(endpoint)
        Ok(())
    }
    // README block: end
}

/// "HTTP from steps": the client itself is tested against a real server in lunora-runtime's
/// `http_client.rs`.
#[allow(dead_code)]
mod http_from_steps {
    use lunora_runtime::*;
    use serde::{Deserialize, Serialize};

    // README block: begin
    #[derive(Clone, Serialize, Deserialize)]
    struct Quote {
        currency: String,
        amount: f64,
    }

    #[derive(Deserialize)]
    struct Rate {
        per_eur: f64,
    }

    #[step(args = Quote, returns = f64, retries(limit = 5, delay = "5 seconds", backoff = "exponential"))]
    async fn convert(ctx: StepContext, args: Quote) -> Result<f64> {
        let api = ctx.env.var("RATES_URL").ok_or_else(|| NonRetryableError::new("RATES_URL is not set"))?;
        let key = ctx.env.var("RATES_KEY").unwrap_or_default();
        // A 5xx, 408, 425, 429 or no answer is retried (HttpError); another 4xx or a 3xx is final.
        let rate: Rate = ctx.http().bearer(key).get_json(&format!("{api}/rates/{}", args.currency)).await?;
        Ok(args.amount * rate.per_eur)
    }
    // README block: end
}

/// "Testing a workflow", run on the tour's workflow.
#[tokio::test]
async fn testing_a_workflow() -> lunora_runtime::Result<()> {
    use tour::{OrderParams, OrderPipelineWorkflow};

    // README block: begin
    use lunora_runtime::local::{Modifiers, StepSelector};
    use lunora_runtime::testing::TestEngine;
    use lunora_runtime::*;
    use serde_json::json;

    let t = TestEngine::builder().register::<OrderPipelineWorkflow>().open().await?;
    t.modify_instance::<OrderPipelineWorkflow>(
        "o-1",
        Modifiers::new()
            .mock_step_error(StepSelector::name("charge"), Error::new("gateway down"), Some(1))
            .mock_event("shipment-created", json!({"tracking_id": "1Z"})),
    );
    let params = OrderParams { order_id: "42".into() };
    let instance = t.workflow::<OrderPipelineWorkflow>().create(CreateOptions::params(params).with_id("o-1")).await?;
    let status = t.run_to_completion(&instance).await?; // jumps the virtual clock past every sleep and retry delay
    assert_eq!(status.status, InstanceStatusKind::Complete);
    // README block: end

    let shipped = instance.status().await?.output.expect("a complete instance has an output");
    assert_eq!(shipped.tracking_id, "1Z");
    assert_eq!(shipped.receipt, tour::Receipt { id: "rcpt-42-4200".into() });
    Ok(())
}
