//! The naming invariants users rely on (stated in `lunora_shared::naming`), over arbitrary
//! strings, with the tricky Unicode letters over-represented: titlecase digraphs, ligatures,
//! sharp s, dotless and dotted i, final sigma, the Kelvin sign.

use lunora_codegen::naming::{
    export_name_of_fn, registry_accessor, workflow_runner_name, WorkflowNames, EXPORT_NAME_RULE, REGISTRY_METHODS,
};
use lunora_codegen::scaffold::{check_name, Kind};
use lunora_shared::keywords::RUST_KEYWORDS;
use lunora_shared::rules;
use proptest::prelude::*;

/// Strings of ASCII letters, digits, separators and Unicode letters whose case mappings misbehave.
fn tricky() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::char::range('a', 'z'),
            3 => prop::char::range('A', 'Z'),
            2 => prop::char::range('0', '9'),
            2 => prop::sample::select(vec![
                'ß', 'ẞ', 'ǆ', 'ǅ', 'Ǆ', 'ﬁ', 'ı', 'İ', 'Σ', 'σ', 'ς', '\u{212A}', 'ŉ', 'é', '_', '-', ' ', '\t', '\n',
                '\u{0}', '\u{7f}', '\u{200b}',
            ]),
            1 => any::<char>(),
        ],
        0..14,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn is_rust_ident(s: &str) -> bool {
    syn::parse_str::<syn::Ident>(s).is_ok_and(|ident| ident == s)
}

/// ECMAScript IdentifierName restricted to what the rule allows; JS reserved words are all
/// lower-case, and class names end in `Workflow`, so none is one.
fn is_js_class_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn check(export: &str) -> Result<(), TestCaseError> {
    let valid =
        export.starts_with(|c: char| c.is_ascii_alphabetic()) && export.chars().all(|c| c.is_ascii_alphanumeric());
    match WorkflowNames::new(export) {
        Err(message) => {
            prop_assert!(!valid, "{:?} refused: {}", export, message);
            let start = format!("\"{}\" is not a valid export name: ", export.escape_debug());
            prop_assert!(message.starts_with(&start), "{}", message);
            prop_assert!(message.ends_with(EXPORT_NAME_RULE), "{}", message);
            // Escaped: the message is one clean line whatever the name holds.
            prop_assert!(!message.chars().any(char::is_control), "{:?}", message);
        }
        Ok(names) => {
            prop_assert!(valid, "{:?} accepted", export);
            let WorkflowNames { export_name, class_name, binding, default_name } = &names;
            prop_assert_eq!(export_name, export);
            // The binding is the default name upper-cased, `-` → `_`, even by full Unicode rules.
            prop_assert_eq!(binding, &format!("WORKFLOW_{}", default_name.replace('-', "_").to_uppercase()));
            // Class and binding come from the same folding: the same letters, upper-cased.
            let class_stem = class_name.strip_suffix("Workflow").expect("a Workflow suffix");
            prop_assert_eq!(class_stem.to_uppercase(), binding["WORKFLOW_".len()..].replace('_', ""));
            prop_assert_eq!(class_stem.to_lowercase(), default_name.replace('-', ""));
            // Valid everywhere each is used.
            prop_assert!(is_rust_ident(class_name) && is_js_class_name(class_name), "{}", class_name);
            let runner = workflow_runner_name(export);
            prop_assert!(is_rust_ident(&runner) && is_js_class_name(&runner), "{}", runner);
            prop_assert!(rules::is_identifier(default_name), "{}", default_name);
            prop_assert_eq!(default_name, &default_name.to_lowercase());
            let accessor = registry_accessor(export);
            prop_assert!(is_rust_ident(&accessor), "{}", accessor);
            prop_assert!(!RUST_KEYWORDS.contains(&accessor.as_str()) && !REGISTRY_METHODS.contains(&accessor.as_str()));
            for name in [class_name, binding, default_name, &accessor] {
                prop_assert!(!name.chars().any(|c| c.is_whitespace() || c.is_control()), "{:?}", name);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn tricky_strings_are_refused_or_named_consistently(export in tricky()) {
        check(&export)?;
    }

    #[test]
    fn arbitrary_strings_are_refused_or_named_consistently(export in any::<String>()) {
        check(&export)?;
    }

    /// A name `new workflow` accepts gives a fn whose export name is valid and whose registry
    /// accessor is the fn's own name; `new step` accepts it too.
    #[test]
    fn names_new_accepts_are_their_own_accessor(ident in "(r#)?[a-z_][a-z0-9_]{0,12}|[a-z]{1,8}") {
        if check_name(Kind::Workflow, &ident).is_ok() {
            prop_assert!(is_rust_ident(&ident), "{}", ident);
            let export = export_name_of_fn(&ident);
            prop_assert!(WorkflowNames::new(&export).is_ok(), "{} -> {}", ident, export);
            prop_assert_eq!(registry_accessor(&export), ident.clone());
            prop_assert!(check_name(Kind::Step, &ident).is_ok());
        }
    }
}

/// Valid export names, keywords and the registry's method names over-represented.
fn export_name() -> impl Strategy<Value = String> {
    let words: Vec<String> = RUST_KEYWORDS.iter().chain(REGISTRY_METHODS).map(|w| export_name_of_fn(w)).collect();
    prop_oneof![prop::sample::select(words), "[a-zA-Z][a-zA-Z0-9]{0,6}"]
        .prop_filter("a valid export name", |e| WorkflowNames::new(e).is_ok())
}

proptest! {
    /// The appended `_` adds no collision: two accessors are equal only when the snake_case
    /// names are (which `sync` reports), since snake_case never ends in `_`.
    #[test]
    fn suffixed_accessors_never_collide_with_plain_ones(a in export_name(), b in export_name()) {
        if registry_accessor(&a) == registry_accessor(&b) {
            prop_assert_eq!(a.to_lowercase().replace('_', ""), b.to_lowercase().replace('_', ""));
        }
    }
}
