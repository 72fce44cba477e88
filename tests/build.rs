//! Generates this crate's workflow registry with lunora-codegen's build.rs `Builder`, which is
//! what users do; `src/lib.rs` includes it.
fn main() {
    lunora_codegen::Builder::from_env().generate().unwrap_or_else(|e| panic!("{e}"));
}
