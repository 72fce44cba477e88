//! wrangler config reconciliation (being written).
