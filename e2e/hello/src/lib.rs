//! A bare workers-rs Worker, the size baseline for scripts/bench-bundle.
#![cfg(target_arch = "wasm32")]

use worker::*;

#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    Response::ok("hello")
}
