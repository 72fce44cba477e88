//! The one naming implementation (spec/lunora.md §1), shared by the macros, codegen and the
//! wrangler reconciliation so they can never disagree.
//!
//! Grammar, from a workflow's *export name* `E` (the `#[workflow]` fn ident in lowerCamelCase,
//! e.g. `order_pipeline` → `orderPipeline`, unless overridden):
//! - class name:   upper-case the first character of `E`, keep the rest, append `Workflow`;
//! - binding:      `WORKFLOW_` + upper-case(`E` with `_` inserted wherever an ASCII `[a-z0-9]`
//!   is followed by an ASCII `[A-Z]`);
//! - default name: lower-case(`E` with `-` inserted at the same places);
//! - runner:       class name + `Runner`, the wasm-bindgen class the JS entrypoint delegates to.
//!
//! No trimming, no suffix stripping; acronyms are not split (`HTTPServer` → `httpserver`) and
//! non-ASCII letters never split. Case mapping is full Unicode.

use heck::{ToLowerCamelCase, ToSnakeCase};

/// The export name of a workflow fn: its ident in lowerCamelCase (`order_pipeline` → `orderPipeline`).
pub fn export_name_of_fn(ident: &str) -> String {
    ident.to_lower_camel_case()
}

/// `orderPipeline` → `order_pipeline`: the registry accessor's method name.
pub fn snake_case(export_name: &str) -> String {
    export_name.to_snake_case()
}

/// `orderPipeline` → `OrderPipelineWorkflow`.
pub fn workflow_class_name(export_name: &str) -> String {
    let mut chars = export_name.chars();
    let mut out = String::with_capacity(export_name.len() + 8);
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
    }
    out.push_str(chars.as_str());
    out.push_str("Workflow");
    out
}

/// `orderPipeline` → `OrderPipelineWorkflowRunner`: the wasm-bindgen class `#[workflow]`
/// exports on wasm32, which the generated JS entrypoint class delegates to.
pub fn workflow_runner_name(export_name: &str) -> String {
    format!("{}Runner", workflow_class_name(export_name))
}

/// `orderPipeline` → `WORKFLOW_ORDER_PIPELINE`.
pub fn workflow_binding_name(export_name: &str) -> String {
    format!("WORKFLOW_{}", split_words(export_name, '_').to_uppercase())
}

/// `orderPipeline` → `order-pipeline`.
pub fn workflow_default_name(export_name: &str) -> String {
    split_words(export_name, '-').to_lowercase()
}

/// Inserts `sep` wherever an ASCII lower-case letter or digit is followed by an ASCII capital.
fn split_words(name: &str, sep: char) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if let Some(p) = prev {
            if (p.is_ascii_lowercase() || p.is_ascii_digit()) && c.is_ascii_uppercase() {
                out.push(sep);
            }
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// All derived names of one workflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowNames {
    pub export_name: String,
    pub class_name: String,
    pub binding: String,
    pub default_name: String,
}

impl WorkflowNames {
    pub fn from_export_name(export_name: &str) -> Self {
        Self {
            export_name: export_name.to_owned(),
            class_name: workflow_class_name(export_name),
            binding: workflow_binding_name(export_name),
            default_name: workflow_default_name(export_name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_table_exactly() {
        let table = [
            ("orderPipeline", "OrderPipelineWorkflow", "WORKFLOW_ORDER_PIPELINE", "order-pipeline"),
            ("OrderPipeline", "OrderPipelineWorkflow", "WORKFLOW_ORDER_PIPELINE", "order-pipeline"),
            ("sendEmail2", "SendEmail2Workflow", "WORKFLOW_SEND_EMAIL2", "send-email2"),
            ("a", "AWorkflow", "WORKFLOW_A", "a"),
            ("HTTPServer", "HTTPServerWorkflow", "WORKFLOW_HTTPSERVER", "httpserver"),
            ("v2Api", "V2ApiWorkflow", "WORKFLOW_V2_API", "v2-api"),
        ];
        for (export, class, binding, default) in table {
            let names = WorkflowNames::from_export_name(export);
            assert_eq!(
                (names.class_name.as_str(), names.binding.as_str(), names.default_name.as_str()),
                (class, binding, default),
                "{export}"
            );
        }
    }

    #[test]
    fn collisions_exist_and_are_for_codegen_to_reject() {
        assert_eq!(workflow_binding_name("myFlow"), workflow_binding_name("myFLOW"));
    }

    #[test]
    fn non_ascii_letters_never_split_and_case_maps_fully() {
        assert_eq!(workflow_default_name("straßeÄb"), "straßeäb");
        assert_eq!(workflow_binding_name("straße"), "WORKFLOW_STRASSE");
        assert_eq!(workflow_class_name("élan"), "ÉlanWorkflow");
    }

    #[test]
    fn fn_idents_become_lower_camel_case() {
        assert_eq!(export_name_of_fn("order_pipeline"), "orderPipeline");
        assert_eq!(export_name_of_fn("send_email2"), "sendEmail2");
    }
}
