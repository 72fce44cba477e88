//! Parsing (darling), validation and expansion (quote) behind `#[workflow]` and `#[step]`.
//! An ordinary library so it is unit-testable and so `lunora-codegen`'s scanner reads
//! attributes through the very same code ([`analyze_workflow`], [`analyze_step`]).

pub mod attr;
pub mod check;
pub mod cron;
pub mod expand;
pub mod item;
pub mod model;
pub mod plain;

use darling::ast::NestedMeta;
pub use item::FnItem;
use lunora_shared::attributes::AttributeKind;
use proc_macro2::TokenStream;

pub use check::Partial;
pub use model::{ConfigDef, StepDef, WorkflowDef};

/// Checks a `#[workflow(...)]` attribute (its argument list) on a fn.
pub fn analyze_workflow(args: &[NestedMeta], item: &FnItem) -> Result<WorkflowDef, darling::Error> {
    check::workflow(args, item).map_err(|b| b.0)
}

/// Checks a `#[step(...)]` attribute (its argument list) on a fn.
pub fn analyze_step(args: &[NestedMeta], item: &FnItem) -> Result<StepDef, darling::Error> {
    check::step(args, item).map_err(|b| b.0)
}

/// How one attribute macro is checked, expanded, and expanded after an error.
struct Macro<Def> {
    name: &'static str,
    check: fn(&[NestedMeta], &FnItem) -> Result<Def, check::Failed>,
    /// The checked model, and the item's tokens as written.
    expand: fn(&Def, TokenStream) -> TokenStream,
    fallback: fn(&FnItem, TokenStream, &Partial) -> TokenStream,
}

impl<Def> Macro<Def> {
    fn run(&self, attr: TokenStream, item: TokenStream) -> TokenStream {
        let item_fn = match FnItem::parse_item(item.clone()) {
            Ok(f) => f,
            Err(_) => return not_a_fn(self.name, item),
        };
        let args = match plain::parse_meta_list(attr) {
            Ok(args) => args,
            Err(e) => return (self.fallback)(&item_fn, e.to_compile_error(), &Partial::default()),
        };
        match (self.check)(&args, &item_fn) {
            Ok(def) => (self.expand)(&def, item),
            Err(failed) => (self.fallback)(&item_fn, failed.0.write_errors(), &failed.1),
        }
    }
}

/// The `#[workflow]` macro.
pub fn workflow(attr: TokenStream, item: TokenStream) -> TokenStream {
    Macro {
        name: AttributeKind::Workflow.name(),
        check: check::workflow,
        expand: expand::workflow,
        fallback: expand::workflow_fallback,
    }
    .run(attr, item)
}

/// The `#[step]` macro.
pub fn step(attr: TokenStream, item: TokenStream) -> TokenStream {
    Macro {
        name: AttributeKind::Step.name(),
        check: check::step,
        expand: expand::step,
        fallback: expand::step_fallback,
    }
    .run(attr, item)
}

fn not_a_fn(what: &str, item: TokenStream) -> TokenStream {
    let message = format!("`#[{what}]` applies to `async fn` items");
    let error = syn::Error::new_spanned(&item, message).to_compile_error();
    quote::quote!(#error #item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(tokens: proc_macro2::TokenStream) -> Vec<NestedMeta> {
        NestedMeta::parse_meta_list(tokens).unwrap()
    }

    #[test]
    fn the_scanner_api_reads_names_and_settings() {
        let item: FnItem = syn::parse_quote! {
            pub async fn order_pipeline(ctx: WorkflowContext<OrderParams>) -> Result<Shipped> { todo!() }
        };
        let def =
            analyze_workflow(&meta(quote::quote!(schedules = ["0 3 * * *"], limits(steps = 500))), &item).unwrap();
        assert_eq!(def.names.export_name, "orderPipeline");
        assert_eq!(def.names.class_name, "OrderPipelineWorkflow");
        assert_eq!(def.names.binding, "WORKFLOW_ORDER_PIPELINE");
        assert_eq!(def.deployed_name, "order-pipeline");
        assert_eq!(def.schedules, ["0 3 * * *"]);
        assert_eq!(def.step_limit, Some(500));
    }

    #[test]
    fn every_error_is_reported_not_just_the_first() {
        let item: FnItem = syn::parse_quote! {
            fn flow(ctx: StepContext) -> u32 { 1 }
        };
        let err = analyze_workflow(&meta(quote::quote!(name = "bad name", limits(steps = 0))), &item).unwrap_err();
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 5, "{messages:#?}");
    }

    /// The macro itself, on fns whose names derive no valid ident (`_1a` → `1aWorkflow`) or
    /// whose name is a raw ident (`r#match` is named `match`).
    #[test]
    fn any_fn_name_expands_to_compile_errors_or_to_the_raw_idents_names() {
        let body = quote::quote!((ctx: WorkflowContext<()>) -> Result<()> { Ok(()) });
        for ident in ["_1a", "__", "über"] {
            let ident = syn::Ident::new(ident, proc_macro2::Span::call_site());
            let out = workflow(quote::quote!(name = "fine"), quote::quote!(pub async fn #ident #body)).to_string();
            assert!(out.contains("compile_error"), "{ident}: {out}");
            assert!(out.contains("is invalid"), "{ident}: {out}");
        }
        let out = workflow(quote::quote!(), quote::quote!(pub async fn r#match #body)).to_string();
        assert!(out.contains("struct MatchWorkflow"), "{out}");
        assert!(out.contains("EXPORT_NAME : & 'static str = \"match\""), "{out}");
    }

    #[test]
    fn durations_become_milliseconds_at_compile_time() {
        let item: FnItem = syn::parse_quote! {
            async fn charge(ctx: StepContext, args: A) -> Result<R> { todo!() }
        };
        let def = analyze_step(
            &meta(quote::quote!(args = A, returns = R, retries(limit = 2, delay = "1.5 minutes"), timeout = "2 hours")),
            &item,
        )
        .unwrap();
        let config = def.config.unwrap();
        assert_eq!(config.retries.unwrap().delay_ms, Some(90_000));
        assert_eq!(config.timeout_ms, Some(7_200_000));
    }
}
