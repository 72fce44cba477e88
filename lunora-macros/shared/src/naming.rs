//! The one naming implementation, shared by the macros, codegen, the `names` command and the
//! wrangler reconciliation so they can never disagree.
//!
//! A workflow's *export name* `E` is the `#[workflow]` fn's ident in lowerCamelCase
//! (`order_pipeline` → `orderPipeline`; a raw ident's `r#` is dropped, so `r#match` → `match`).
//! Everything else is derived from it:
//! - class name:   `E` with its first letter upper-cased, then `Workflow`;
//! - binding:      `WORKFLOW_` + upper-case(`E` with `_` inserted wherever a lower-case letter
//!   or digit is followed by an upper-case letter);
//! - default name: lower-case(`E` with `-` inserted at the same places);
//! - runner:       class name + `Runner`, the wasm-bindgen class the JS entrypoint delegates to;
//! - registry accessor: snake_case(`E`), with `_` appended when that is a Rust keyword or a
//!   method the generated `Workflows` registry already has (see [`registry_accessor`]).
//!
//! No trimming, no suffix stripping; acronyms are not split (`HTTPServer` → `httpserver`).
//!
//! # Overrides
//!
//! `#[workflow(class = "…", binding = "…")]` replaces the derived class name or binding (for a
//! Worker ported with its names). The runner then follows the class (`<class>Runner`); the
//! export name, default name and registry accessor still derive from the fn. A class must
//! satisfy [`class_name_problem`] (the export-name rule, at most 255 characters, neither a Rust
//! keyword nor a JavaScript reserved word), a binding [`binding_problem`] (a JavaScript
//! identifier of ASCII letters, digits and `_`, as wrangler makes binding names).
//!
//! # The export-name rule
//!
//! An export name is ASCII letters and digits and starts with a letter
//! (`[A-Za-z][A-Za-z0-9]*`, see [`export_name_problem`]); the macros, codegen and `names`
//! reject anything else with the same message. Within that set the derivations are plain ASCII
//! case mappings, so users can rely on these invariants, which the property tests check:
//! - the class name and the runner are valid Rust and JavaScript identifiers and never
//!   keywords; the registry accessor is a valid Rust identifier and never a keyword;
//! - binding = `WORKFLOW_` + the default name upper-cased with `-` replaced by `_`;
//! - the default name is lower-case and matches Cloudflare's workflow-name charset
//!   `^[a-zA-Z0-9_][a-zA-Z0-9-_]*$` (its length, at most 64, is checked where it is used);
//! - no name contains whitespace or control characters (the `names` output is tab-separated).
//!
//! Non-ASCII names are refused rather than case-mapped: Unicode case mappings do not commute
//! (`İ` lower-cases to `i̇`, which upper-cases to `İ`; `K`, the Kelvin sign, lower-cases to `k`),
//! change length (`ß` → `SS`, `ﬁ` → `FI`) or depend on context (`Σ` → `ς` at a word's end), so
//! class, binding and default name would not agree, and Cloudflare's names are ASCII anyway.

use heck::{ToLowerCamelCase, ToSnakeCase};

use crate::keywords::{is_js_reserved, is_keyword};

/// The rule every export name follows, as error messages state it.
pub const EXPORT_NAME_RULE: &str =
    "export names are ASCII letters and digits, starting with a letter ([A-Za-z][A-Za-z0-9]*)";

/// Methods the generated `Workflows` registry has besides its accessors: its own (`new`,
/// `from_env`, `get`) and those of the `Clone` it derives, which an accessor would shadow.
pub const REGISTRY_METHODS: &[&str] = &["new", "from_env", "get", "clone", "clone_from"];

/// The export name of a workflow fn: its ident in lowerCamelCase (`order_pipeline` →
/// `orderPipeline`), without a raw ident's `r#` (`r#match` → `match`). The result may break
/// the export-name rule (`über`, `_1a` → `1a`); check it with [`export_name_problem`].
pub fn export_name_of_fn(ident: &str) -> String {
    ident.strip_prefix("r#").unwrap_or(ident).to_lower_camel_case()
}

/// Why `name` is not a valid export name, if it is not (the rule is [`EXPORT_NAME_RULE`]).
pub fn export_name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Some("it is empty".into()),
        Some(first) if !first.is_ascii_alphabetic() => {
            return Some(format!("it starts with {first:?}, not an ASCII letter"));
        }
        Some(_) => {}
    }
    chars.find(|c| !c.is_ascii_alphanumeric()).map(|c| format!("it contains {c:?}"))
}

/// `orderPipeline` → `order_pipeline`: snake_case, as the registry accessor is spelled unless
/// that is taken (see [`registry_accessor`]).
pub fn snake_case(export_name: &str) -> String {
    export_name.to_snake_case()
}

/// The registry's method for this workflow: `orderPipeline` → `order_pipeline`, and with `_`
/// appended when the snake_case name is a Rust keyword or a method the registry already has
/// (`type` → `type_`, `get` → `get_`, `fromEnv` → `from_env_`). snake_case never ends in `_`,
/// so an appended `_` cannot collide with another workflow's plain accessor.
pub fn registry_accessor(export_name: &str) -> String {
    let snake = snake_case(export_name);
    if is_keyword(&snake) || REGISTRY_METHODS.contains(&snake.as_str()) {
        snake + "_"
    } else {
        snake
    }
}

/// `orderPipeline` → `OrderPipelineWorkflow`.
pub fn workflow_class_name(export_name: &str) -> String {
    let mut out = String::with_capacity(export_name.len() + 8);
    out.push_str(export_name);
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    out.push_str("Workflow");
    out
}

/// `orderPipeline` → `OrderPipelineWorkflowRunner`: the wasm-bindgen class `#[workflow]`
/// exports on wasm32, which the generated JS entrypoint class delegates to.
pub fn workflow_runner_name(export_name: &str) -> String {
    runner_of_class(&workflow_class_name(export_name))
}

/// `OrderWorkflow` → `OrderWorkflowRunner`: the runner of a workflow whose class is `class_name`
/// (derived or declared with `#[workflow(class = "…")]`).
pub fn runner_of_class(class_name: &str) -> String {
    format!("{class_name}Runner")
}

/// Cloudflare's limit on a workflow's `class_name` (its API refuses longer ones).
pub const MAX_CLASS_NAME_CHARS: usize = 255;

/// What a declared class name must be, as error messages state it.
pub const CLASS_NAME_RULE: &str = "class names are ASCII letters and digits, starting with a letter \
     ([A-Za-z][A-Za-z0-9]*), at most 255 characters, neither a Rust keyword nor a JavaScript reserved word";

/// Names the generated JS entry module already uses for something else: a class of that name
/// would be declared twice there.
pub const ENTRY_MODULE_NAMES: &[&str] = &["WorkflowEntrypoint"];

/// Why `name` cannot be a declared class name (`#[workflow(class = "…")]`), if it cannot. The
/// class is a Rust struct (the descriptor) and an exported JS class (the entrypoint); its runner
/// is `<name>Runner` (see [`runner_of_class`]). Rule: [`CLASS_NAME_RULE`].
pub fn class_name_problem(name: &str) -> Option<String> {
    if let Some(why) = export_name_problem(name) {
        return Some(why);
    }
    if name.len() > MAX_CLASS_NAME_CHARS {
        return Some(format!("it is {} characters long, the maximum is {MAX_CLASS_NAME_CHARS}", name.len()));
    }
    if is_keyword(name) {
        return Some("it is a Rust keyword".into());
    }
    if is_js_reserved(name) {
        return Some("it is a JavaScript reserved word".into());
    }
    if ENTRY_MODULE_NAMES.contains(&name) {
        return Some(format!("the generated JS entry module imports `{name}` under that name"));
    }
    None
}

/// What a declared binding must be, as error messages state it.
pub const BINDING_RULE: &str = "bindings are ASCII letters, digits and '_', not starting with a digit and not \
     only '_' ([A-Za-z_][A-Za-z0-9_]*, a JavaScript identifier as wrangler makes binding names)";

/// Why `name` cannot be a declared binding (`#[workflow(binding = "…")]`), if it cannot. The
/// Worker reads it as `env.<name>`; wrangler names the bindings it creates this way (letters,
/// digits and `_`, a leading digit or a name of only `_` refused). Rule: [`BINDING_RULE`].
pub fn binding_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Some("it is empty".into()),
        Some(first) if first.is_ascii_digit() => return Some(format!("it starts with {first:?}, a digit")),
        Some(_) => {}
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Some(format!("it contains {c:?}"));
    }
    if name.bytes().all(|b| b == b'_') {
        return Some("it is only '_'".into());
    }
    None
}

/// `orderPipeline` → `WORKFLOW_ORDER_PIPELINE`.
pub fn workflow_binding_name(export_name: &str) -> String {
    format!("WORKFLOW_{}", split_words(export_name, '_').to_ascii_uppercase())
}

/// `orderPipeline` → `order-pipeline`.
pub fn workflow_default_name(export_name: &str) -> String {
    split_words(export_name, '-').to_ascii_lowercase()
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
    /// The names of a valid export name, or why it is not one (the message states the rule).
    pub fn new(export_name: &str) -> Result<Self, String> {
        match export_name_problem(export_name) {
            Some(why) => {
                Err(format!("\"{}\" is not a valid export name: {why}; {EXPORT_NAME_RULE}", export_name.escape_debug()))
            }
            None => Ok(Self::from_export_name(export_name)),
        }
    }

    /// The names derived from `export_name`, which the caller has checked (or which came
    /// from a checked `#[workflow]`, like a descriptor's `EXPORT_NAME`).
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
    fn the_naming_table_exactly() {
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
    fn only_ascii_letters_and_digits_starting_with_a_letter_are_export_names() {
        for ok in ["a", "orderPipeline", "HTTPServer", "v2Api", "match", "self", "get", "fromEnv"] {
            assert_eq!(export_name_problem(ok), None, "{ok}");
        }
        let bad = [
            ("", "it is empty"),
            ("1a", "it starts with '1', not an ASCII letter"),
            ("order_pipeline", "it contains '_'"),
            ("order-pipeline", "it contains '-'"),
            ("a\tb", "it contains '\\t'"),
            ("a\nb", "it contains '\\n'"),
            ("über", "it starts with 'ü', not an ASCII letter"),
            ("straße", "it contains 'ß'"),
            ("ǆemo", "it starts with 'ǆ', not an ASCII letter"),
            ("ﬁle", "it starts with 'ﬁ', not an ASCII letter"),
            ("kelvın", "it contains 'ı'"),
            ("ΟΔΟΣ", "it starts with 'Ο', not an ASCII letter"),
        ];
        for (name, why) in bad {
            assert_eq!(export_name_problem(name).as_deref(), Some(why), "{name:?}");
        }
        assert_eq!(
            WorkflowNames::new("a\tb").unwrap_err(),
            "\"a\\tb\" is not a valid export name: it contains '\\t'; export names are ASCII letters and \
             digits, starting with a letter ([A-Za-z][A-Za-z0-9]*)"
        );
    }

    #[test]
    fn declared_class_names_are_export_names_that_rust_and_javascript_accept() {
        for ok in ["OrderWorkflow", "A", "orderWorkflow", "Workflow", "Self1", "Entrypoint", &"A".repeat(255)] {
            assert_eq!(class_name_problem(ok), None, "{ok}");
        }
        let long = "A".repeat(256);
        let bad = [
            ("", "it is empty"),
            ("1A", "it starts with '1', not an ASCII letter"),
            ("Order_Workflow", "it contains '_'"),
            ("Order\"Workflow", "it contains '\"'"),
            ("Ordér", "it contains 'é'"),
            (long.as_str(), "it is 256 characters long, the maximum is 255"),
            ("Self", "it is a Rust keyword"),
            ("type", "it is a Rust keyword"),
            ("class", "it is a JavaScript reserved word"),
            ("arguments", "it is a JavaScript reserved word"),
            ("WorkflowEntrypoint", "the generated JS entry module imports `WorkflowEntrypoint` under that name"),
        ];
        for (name, why) in bad {
            assert_eq!(class_name_problem(name).as_deref(), Some(why), "{name:?}");
        }
        assert_eq!(runner_of_class("OrderWorkflow"), "OrderWorkflowRunner");
        assert_eq!(runner_of_class(&workflow_class_name("orderPipeline")), workflow_runner_name("orderPipeline"));
    }

    #[test]
    fn declared_bindings_are_identifiers_as_wrangler_makes_them() {
        for ok in ["MY_WORKFLOW", "_x", "a", "env2", "__a__", "WORKFLOW_ORDER_PIPELINE"] {
            assert_eq!(binding_problem(ok), None, "{ok}");
        }
        let bad = [
            ("", "it is empty"),
            ("2FA", "it starts with '2', a digit"),
            ("MY-WORKFLOW", "it contains '-'"),
            ("MY WORKFLOW", "it contains ' '"),
            ("MY$WF", "it contains '$'"),
            ("ÜBER", "it contains 'Ü'"),
            ("A\u{202e}B", "it contains '\\u{202e}'"),
            ("___", "it is only '_'"),
        ];
        for (name, why) in bad {
            assert_eq!(binding_problem(name).as_deref(), Some(why), "{name:?}");
        }
        // Whatever the fn, the derived binding follows the declared rule.
        for export in ["a", "orderPipeline", "HTTPServer", "v2Api", "x1"] {
            assert_eq!(binding_problem(&workflow_binding_name(export)), None, "{export}");
        }
    }

    #[test]
    fn raw_idents_lose_their_prefix() {
        assert_eq!(export_name_of_fn("r#match"), "match");
        assert_eq!(export_name_of_fn("r#async"), "async");
        assert_eq!(export_name_of_fn("type_"), "type");
        assert_eq!(export_name_of_fn("_1a"), "1a");
    }

    #[test]
    fn accessors_step_around_keywords_and_the_registrys_own_methods() {
        let table = [
            ("orderPipeline", "order_pipeline"),
            ("type", "type_"),
            ("self", "self_"),
            ("match", "match_"),
            ("async", "async_"),
            ("fn", "fn_"),
            ("gen", "gen_"),
            ("get", "get_"),
            ("new", "new_"),
            ("fromEnv", "from_env_"),
            ("clone", "clone_"),
            ("registerAll", "register_all"),
            ("workflows", "workflows"),
        ];
        for (export, accessor) in table {
            assert_eq!(registry_accessor(export), accessor, "{export}");
        }
    }

    #[test]
    fn fn_idents_become_lower_camel_case() {
        assert_eq!(export_name_of_fn("order_pipeline"), "orderPipeline");
        assert_eq!(export_name_of_fn("send_email2"), "sendEmail2");
    }
}
