//! `#[cfg(…)]` predicates on workflows: how the registry spells the conditions a workflow is
//! compiled under, and whether a Worker build (wasm32, not a test) compiles it, which decides
//! whether the JS entry module and the wrangler config may declare it.

use proc_macro2::TokenStream;
use syn::punctuated::Punctuated;
use syn::{Meta, Token};

/// The one predicate equivalent to all of `predicates` (outermost module first), normalised:
/// `None` when there is none, the predicate itself when there is one, else `all(…)`.
pub fn combine(predicates: &[String]) -> Option<String> {
    let normalised: Vec<String> = predicates
        .iter()
        .map(|p| p.parse::<TokenStream>().map(|t| t.to_string()).unwrap_or_else(|_| p.trim().to_owned()))
        .collect();
    match normalised.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        all => Some(format!("all({})", all.join(", "))),
    }
}

/// Whether `predicate` holds when the crate is built for a Worker: `Some(true)` or
/// `Some(false)` when the target alone decides (`test` is off, `target_arch = "wasm32"` on…),
/// `None` when it depends on what the build turns on (features, `debug_assertions`, custom
/// cfgs) or cannot be read.
pub fn on_worker(predicate: &str) -> Option<bool> {
    let meta: Meta = syn::parse_str(predicate).ok()?;
    eval(&meta)
}

fn eval(meta: &Meta) -> Option<bool> {
    let name = meta.path().get_ident()?.to_string();
    match meta {
        Meta::Path(_) => match name.as_str() {
            "test" | "doctest" | "doc" | "miri" | "unix" | "windows" | "proc_macro" => Some(false),
            _ => None,
        },
        Meta::NameValue(nv) => {
            let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(value), .. }) = &nv.value else { return None };
            let wanted = match name.as_str() {
                "target_arch" => "wasm32",
                "target_family" => "wasm",
                "target_os" => "unknown",
                "target_vendor" => "unknown",
                "target_env" => "",
                "target_endian" => "little",
                "target_pointer_width" => "32",
                _ => return None,
            };
            Some(value.value() == wanted)
        }
        Meta::List(list) => {
            let args = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated).ok()?;
            let values: Vec<Option<bool>> = args.iter().map(eval).collect();
            match name.as_str() {
                // Three-valued: a decided operand can decide the whole.
                "all" if values.contains(&Some(false)) => Some(false),
                "all" => values.iter().all(|v| *v == Some(true)).then_some(true),
                "any" if values.contains(&Some(true)) => Some(true),
                "any" => values.iter().all(|v| *v == Some(false)).then_some(false),
                "not" if values.len() == 1 => values[0].map(|v| !v),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_decides_what_it_can_and_features_are_left_open() {
        let cases = [
            ("test", Some(false)),
            ("not(test)", Some(true)),
            ("all(test, feature = \"x\")", Some(false)),
            ("any(test, feature = \"x\")", None),
            ("feature = \"x\"", None),
            ("target_arch = \"wasm32\"", Some(true)),
            ("not(target_arch = \"wasm32\")", Some(false)),
            ("any(unix, target_family = \"wasm\")", Some(true)),
            ("all(not(test), target_os = \"unknown\")", Some(true)),
            ("debug_assertions", None),
            ("not(", None),
        ];
        for (predicate, expected) in cases {
            assert_eq!(on_worker(predicate), expected, "{predicate}");
        }
    }

    #[test]
    fn predicates_combine_outermost_first() {
        assert_eq!(combine(&[]), None);
        assert_eq!(combine(&["feature=\"a\"".into()]).as_deref(), Some("feature = \"a\""));
        assert_eq!(combine(&["test".into(), "unix".into()]).as_deref(), Some("all(test, unix)"));
    }
}
