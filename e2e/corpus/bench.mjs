// wrangler's `main` for the corpus Worker: everything lunora-codegen generated, plus the plain
// JS twin of the Rust `bench200` workflow, so `lunora-e2e bench` times both in one workerd.
import { WorkflowEntrypoint } from "cloudflare:workers";

export * from "./lunora-entry.mjs";
export { default } from "./lunora-entry.mjs";

/** 200 steps in sequence, as `bench_200` (deployed as bench200) in src/lib.rs. */
export class Bench200Js extends WorkflowEntrypoint {
  async run(event, step) {
    let total = 0;
    for (let i = 0; i < 200; i++) {
      total += await step.do(`s${i}`, async () => i);
    }
    return total;
  }
}
