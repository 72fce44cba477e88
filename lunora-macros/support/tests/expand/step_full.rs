#[step(args = ChargeArgs, returns = Receipt, name = "charge-card", retries(limit = 3, delay = "10 seconds", backoff = "exponential"), timeout = "30 seconds", rollback = refund, rollback_config(retries(limit = 1, delay = "1 second")))]
pub async fn charge(ctx: StepContext, args: ChargeArgs) -> Result<Receipt> {
    Ok(Receipt { id: args.id })
}
