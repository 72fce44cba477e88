//! Golden expansions: each `tests/expand/<case>.rs` holds an annotated fn; its expansion,
//! pretty-printed, must equal `<case>.expanded.rs`. Regenerate with `BLESS=1`.

use std::path::Path;

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
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let expanded = expand_file(&case);
        let golden = case.with_extension("expanded.rs");
        if bless {
            std::fs::write(&golden, &expanded).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != expanded {
            failures.push(format!("{} differs (run with BLESS=1 to accept):\n{expanded}", golden.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
