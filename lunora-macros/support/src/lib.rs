//! Parsing (darling), validation and expansion (quote) behind `#[workflow]` and `#[step]`.
//! An ordinary library so it is unit-testable and so `lunora-codegen`'s scanner reads
//! attributes through the very same code ([`analyze_workflow`], [`analyze_step`]).

pub mod attr;
pub mod check;
pub mod expand;
pub mod model;

use darling::ast::NestedMeta;
use proc_macro2::TokenStream;
use syn::ItemFn;

pub use check::Partial;
pub use model::{ConfigDef, StepDef, WorkflowDef};

/// Checks a `#[workflow(...)]` attribute (its argument list) on a fn.
pub fn analyze_workflow(args: &[NestedMeta], item: &ItemFn) -> Result<WorkflowDef, darling::Error> {
    check::workflow(args, item).map_err(|(e, _)| e)
}

/// Checks a `#[step(...)]` attribute (its argument list) on a fn.
pub fn analyze_step(args: &[NestedMeta], item: &ItemFn) -> Result<StepDef, darling::Error> {
    check::step(args, item).map_err(|(e, _)| e)
}

/// The `#[workflow]` macro.
pub fn workflow(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => return not_a_fn("workflow", item),
    };
    let args = match NestedMeta::parse_meta_list(attr) {
        Ok(args) => args,
        Err(e) => return expand::workflow_fallback(&item_fn, e.to_compile_error(), &Partial::default()),
    };
    match check::workflow(&args, &item_fn) {
        Ok(def) => expand::workflow(&def),
        Err((errors, partial)) => expand::workflow_fallback(&item_fn, errors.write_errors(), &partial),
    }
}

/// The `#[step]` macro.
pub fn step(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => return not_a_fn("step", item),
    };
    let args = match NestedMeta::parse_meta_list(attr) {
        Ok(args) => args,
        Err(e) => return expand::step_fallback(&item_fn, e.to_compile_error(), &Partial::default()),
    };
    match check::step(&args, &item_fn) {
        Ok(def) => expand::step(&def),
        Err((errors, partial)) => expand::step_fallback(&item_fn, errors.write_errors(), &partial),
    }
}

fn not_a_fn(what: &str, item: TokenStream) -> TokenStream {
    let message = format!("`#[{what}]` applies to `async fn` items");
    let error = syn::Error::new_spanned(&item, message).to_compile_error();
    quote::quote!(#error #item)
}
