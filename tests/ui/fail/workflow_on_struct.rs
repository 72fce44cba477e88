#![allow(unused_imports)]

use lunora_runtime::workflow;

#[workflow]
pub struct NotAFn;

fn main() {}
