//! Golden expansions: each `tests/expand/<case>.rs` holds an annotated fn; its expansion,
//! pretty-printed, must equal `<case>.expanded.rs` (`BLESS=1` rewrites them: [`golden`]).

use std::path::Path;

use lunora_shared::golden;

fn expand_file(path: &Path) -> String {
    let source = std::fs::read_to_string(path).unwrap();
    let file: syn::File = syn::parse_file(&source).unwrap();
    let mut out = proc_macro2::TokenStream::new();
    for item in file.items {
        let syn::Item::Fn(mut f) = item else { panic!("{}: only fns", path.display()) };
        let attr = f.attrs.remove(0);
        let name = attr.path().get_ident().unwrap().to_string();
        let args = match attr.meta {
            syn::Meta::List(list) => list.tokens,
            _ => proc_macro2::TokenStream::new(),
        };
        let item = quote::quote!(#f);
        out.extend(match name.as_str() {
            "workflow" => lunora_macros_support::workflow(args, item),
            "step" => lunora_macros_support::step(args, item),
            other => panic!("unknown attribute {other}"),
        });
    }
    prettyplease::unparse(&syn::parse2(out).expect("the expansion parses as a file"))
}

#[test]
fn expansions_match_their_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expand");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.to_string_lossy().ends_with(".expanded.rs"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| golden::check(&case.with_extension("expanded.rs"), &expand_file(case)).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
