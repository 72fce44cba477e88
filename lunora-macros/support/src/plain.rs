//! Plain syntax read without syn's general parsers. In an unoptimised build (which is how proc
//! macros run under `cargo check`) syn's expression and type parsers, with their lookahead, were
//! most of a macro's run time, though nearly every attribute and signature is written plainly.
//!
//! Each reader here accepts a narrow grammar and builds exactly the syntax tree syn would have
//! built (the tests compare the two); on anything else it returns `None` and the caller parses
//! the input with syn as before, so errors and results never differ.
//!
//! - An attribute's list: items `key = "literal"`, `key = 3`, `key = Ident` (not a keyword),
//!   `key = ["literal", …]`, `key(…)` or `key`. Never item by item: a comma may belong to a
//!   generic argument list, so any other item sends the whole list to darling.
//! - A signature: `[pub] [async] fn name([mut] arg: Type, …) [-> Type]`, no attributes, where
//!   each type is `()` or a path (`a::B<C, D<E>>`) with type arguments only.
//! - Outer attributes: `#[path]`, `#[path(…)]` (any delimiter, tokens kept as they are) or
//!   `#[path = literal]`, where the path is identifiers (no keyword) joined by `::`.

use darling::ast::NestedMeta;
use lunora_shared::keywords;
use proc_macro2::{Delimiter, Group, Ident, Spacing, TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::{
    token, AngleBracketedGenericArguments, AttrStyle, Attribute, Expr, FnArg, GenericArgument, Generics, Lit,
    MacroDelimiter, Meta, MetaList, MetaNameValue, Pat, PatIdent, PatType, Path, PathArguments, PathSegment,
    ReturnType, Signature, Type, TypePath, TypeTuple, Visibility,
};

/// [`NestedMeta::parse_meta_list`], faster on plain lists, same result.
pub fn parse_meta_list(tokens: TokenStream) -> syn::Result<Vec<NestedMeta>> {
    match plain_list(tokens.clone()) {
        Some(items) => Ok(items),
        None => NestedMeta::parse_meta_list(tokens),
    }
}

fn plain_list(tokens: TokenStream) -> Option<Vec<NestedMeta>> {
    let mut items = Vec::new();
    let mut item = Vec::new();
    for tree in tokens {
        match tree {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                items.push(plain_item(std::mem::take(&mut item))?);
            }
            tree => item.push(tree),
        }
    }
    if !item.is_empty() {
        items.push(plain_item(item)?);
    }
    Some(items)
}

fn plain_item(item: Vec<TokenTree>) -> Option<NestedMeta> {
    let mut trees = item.into_iter();
    let key = match trees.next() {
        // darling reads a leading `true` or `false` as a literal.
        Some(TokenTree::Ident(key)) if key != "true" && key != "false" => key,
        _ => return None,
    };
    let path = Path::from(key);
    let meta = match (trees.next(), trees.next(), trees.next()) {
        (None, _, _) => Meta::Path(path),
        (Some(TokenTree::Group(group)), None, _) => {
            Meta::List(MetaList { path, delimiter: delimiter(&group)?, tokens: group.stream() })
        }
        (Some(TokenTree::Punct(eq)), Some(value), None) if eq.as_char() == '=' && eq.spacing() == Spacing::Alone => {
            Meta::NameValue(MetaNameValue { path, eq_token: token::Eq(eq.span()), value: plain_value(value)? })
        }
        _ => return None,
    };
    Some(NestedMeta::Meta(meta))
}

fn plain_value(value: TokenTree) -> Option<Expr> {
    Some(match value {
        TokenTree::Literal(lit) => lit_expr(Lit::new(lit)),
        TokenTree::Ident(ident) if !is_keyword(&ident) => {
            Expr::Path(syn::ExprPath { attrs: Vec::new(), qself: None, path: Path::from(ident) })
        }
        TokenTree::Group(group) if group.delimiter() == Delimiter::Bracket => {
            let mut elems = Punctuated::new();
            let mut trees = group.stream().into_iter();
            while let Some(tree) = trees.next() {
                let TokenTree::Literal(lit) = tree else { return None };
                elems.push_value(lit_expr(Lit::new(lit)));
                match trees.next() {
                    None => break,
                    Some(TokenTree::Punct(p)) if p.as_char() == ',' => elems.push_punct(token::Comma(p.span())),
                    Some(_) => return None,
                }
            }
            Expr::Array(syn::ExprArray { attrs: Vec::new(), bracket_token: token::Bracket(group.delim_span()), elems })
        }
        _ => return None,
    })
}

fn lit_expr(lit: Lit) -> Expr {
    Expr::Lit(syn::ExprLit { attrs: Vec::new(), lit })
}

fn delimiter(group: &Group) -> Option<MacroDelimiter> {
    let span = group.delim_span();
    match group.delimiter() {
        Delimiter::Parenthesis => Some(MacroDelimiter::Paren(token::Paren(span))),
        Delimiter::Brace => Some(MacroDelimiter::Brace(token::Brace(span))),
        Delimiter::Bracket => Some(MacroDelimiter::Bracket(token::Bracket(span))),
        Delimiter::None => None,
    }
}

/// The outer attributes at the start of `trees`, and the trees after them, if each is plain.
pub fn outer_attributes(trees: &[TokenTree]) -> Option<(Vec<Attribute>, &[TokenTree])> {
    let mut attrs = Vec::new();
    let mut rest = trees;
    while let [TokenTree::Punct(pound), TokenTree::Group(brackets), tail @ ..] = rest {
        if pound.as_char() != '#' {
            break;
        }
        if brackets.delimiter() != Delimiter::Bracket {
            return None;
        }
        attrs.push(attribute(pound.span(), brackets)?);
        rest = tail;
    }
    Some((attrs, rest))
}

/// `#[…]` with a plain meta inside the brackets.
fn attribute(pound: proc_macro2::Span, brackets: &Group) -> Option<Attribute> {
    let trees: Vec<TokenTree> = brackets.stream().into_iter().collect();
    let mut at = 0;
    let path = mod_style_path(&trees, &mut at)?;
    let meta = match &trees[at..] {
        [] => Meta::Path(path),
        [TokenTree::Group(group)] => {
            Meta::List(MetaList { path, delimiter: delimiter(group)?, tokens: group.stream() })
        }
        [TokenTree::Punct(eq), TokenTree::Literal(lit)] if eq.as_char() == '=' && eq.spacing() == Spacing::Alone => {
            Meta::NameValue(MetaNameValue {
                path,
                eq_token: token::Eq(eq.span()),
                value: lit_expr(Lit::new(lit.clone())),
            })
        }
        _ => return None,
    };
    Some(Attribute {
        pound_token: token::Pound(pound),
        style: AttrStyle::Outer,
        bracket_token: token::Bracket(brackets.delim_span()),
        meta,
    })
}

/// `[::]a::b::c`, no keyword, no generic arguments: an attribute's path.
fn mod_style_path(trees: &[TokenTree], at: &mut usize) -> Option<Path> {
    let leading_colon = path_sep(trees, at);
    let mut segments = Punctuated::new();
    loop {
        match trees.get(*at) {
            Some(TokenTree::Ident(ident)) if !is_keyword(ident) => {
                segments.push_value(PathSegment::from(ident.clone()))
            }
            _ => return None,
        }
        *at += 1;
        match path_sep(trees, at) {
            Some(sep) => segments.push_punct(sep),
            None => break,
        }
    }
    Some(Path { leading_colon, segments })
}

/// The visibility and signature of a fn item's head (its tokens before the body), if plain.
pub fn signature(head: &[TokenTree]) -> Option<(Visibility, Signature)> {
    let mut at = 0;
    let vis = match keyword_at(head, at, "pub") {
        Some(span) => {
            at += 1;
            Visibility::Public(token::Pub(span))
        }
        None => Visibility::Inherited,
    };
    let asyncness = keyword_at(head, at, "async").map(token::Async);
    at += usize::from(asyncness.is_some());
    let fn_token = token::Fn(keyword_at(head, at, "fn")?);
    let ident = match head.get(at + 1) {
        Some(TokenTree::Ident(ident)) if !is_keyword(ident) => ident.clone(),
        _ => return None,
    };
    let args = match head.get(at + 2) {
        Some(TokenTree::Group(args)) if args.delimiter() == Delimiter::Parenthesis => args,
        _ => return None,
    };
    let output = match &head[at + 3..] {
        [] => ReturnType::Default,
        [TokenTree::Punct(dash), TokenTree::Punct(gt), ty @ ..]
            if dash.as_char() == '-' && dash.spacing() == Spacing::Joint && gt.as_char() == '>' =>
        {
            ReturnType::Type(token::RArrow([dash.span(), gt.span()]), Box::new(plain_type(ty)?))
        }
        _ => return None,
    };
    let sig = Signature {
        constness: None,
        asyncness,
        unsafety: None,
        abi: None,
        fn_token,
        ident,
        generics: Generics::default(),
        paren_token: token::Paren(args.delim_span()),
        inputs: fn_args(args.stream())?,
        variadic: None,
        output,
    };
    Some((vis, sig))
}

fn keyword_at(trees: &[TokenTree], at: usize, keyword: &str) -> Option<proc_macro2::Span> {
    match trees.get(at) {
        Some(TokenTree::Ident(ident)) if ident == keyword => Some(ident.span()),
        _ => None,
    }
}

/// `[mut] name: Type, …`
fn fn_args(tokens: TokenStream) -> Option<Punctuated<FnArg, token::Comma>> {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut inputs = Punctuated::new();
    let mut at = 0;
    while at < trees.len() {
        let mutability = keyword_at(&trees, at, "mut").map(token::Mut);
        at += usize::from(mutability.is_some());
        let ident = match trees.get(at) {
            Some(TokenTree::Ident(ident)) if !is_keyword(ident) => ident.clone(),
            _ => return None,
        };
        let colon_token = match trees.get(at + 1) {
            Some(TokenTree::Punct(colon)) if colon.as_char() == ':' && colon.spacing() == Spacing::Alone => {
                token::Colon(colon.span())
            }
            _ => return None,
        };
        at += 2;
        let ty = type_at(&trees, &mut at)?;
        let pat = Pat::Ident(PatIdent { attrs: Vec::new(), by_ref: None, mutability, ident, subpat: None });
        inputs.push_value(FnArg::Typed(PatType {
            attrs: Vec::new(),
            pat: Box::new(pat),
            colon_token,
            ty: Box::new(ty),
        }));
        match trees.get(at) {
            None => break,
            Some(TokenTree::Punct(comma)) if comma.as_char() == ',' => inputs.push_punct(token::Comma(comma.span())),
            Some(_) => return None,
        }
        at += 1;
    }
    Some(inputs)
}

/// Exactly one plain type.
fn plain_type(trees: &[TokenTree]) -> Option<Type> {
    let mut at = 0;
    let ty = type_at(trees, &mut at)?;
    (at == trees.len()).then_some(ty)
}

/// A plain type starting at `at`, which is moved past it.
fn type_at(trees: &[TokenTree], at: &mut usize) -> Option<Type> {
    if let Some(TokenTree::Group(unit)) = trees.get(*at) {
        if unit.delimiter() != Delimiter::Parenthesis || !unit.stream().is_empty() {
            return None;
        }
        *at += 1;
        return Some(Type::Tuple(TypeTuple { paren_token: token::Paren(unit.delim_span()), elems: Punctuated::new() }));
    }
    let leading_colon = path_sep(trees, at);
    let mut segments = Punctuated::new();
    loop {
        let ident = match trees.get(*at) {
            Some(TokenTree::Ident(ident)) if !is_keyword(ident) => ident.clone(),
            _ => return None,
        };
        *at += 1;
        let arguments = match trees.get(*at) {
            Some(TokenTree::Punct(lt)) if lt.as_char() == '<' => {
                *at += 1;
                let mut args = Punctuated::new();
                let gt = loop {
                    args.push_value(GenericArgument::Type(type_at(trees, at)?));
                    match trees.get(*at)? {
                        TokenTree::Punct(gt) if gt.as_char() == '>' => break gt,
                        TokenTree::Punct(comma) if comma.as_char() == ',' => {
                            args.push_punct(token::Comma(comma.span()));
                            *at += 1;
                            match trees.get(*at)? {
                                TokenTree::Punct(gt) if gt.as_char() == '>' => break gt,
                                _ => {}
                            }
                        }
                        _ => return None,
                    }
                };
                *at += 1;
                PathArguments::AngleBracketed(AngleBracketedGenericArguments {
                    colon2_token: None,
                    lt_token: token::Lt(lt.span()),
                    args,
                    gt_token: token::Gt(gt.span()),
                })
            }
            _ => PathArguments::None,
        };
        segments.push_value(PathSegment { ident, arguments });
        match path_sep(trees, at) {
            Some(sep) => segments.push_punct(sep),
            None => break,
        }
    }
    Some(Type::Path(TypePath { qself: None, path: Path { leading_colon, segments } }))
}

/// `::`, moving `at` past it.
fn path_sep(trees: &[TokenTree], at: &mut usize) -> Option<token::PathSep> {
    match (trees.get(*at), trees.get(*at + 1)) {
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':' =>
        {
            *at += 2;
            Some(token::PathSep([a.span(), b.span()]))
        }
        _ => None,
    }
}

/// Keywords (and `true`/`false`, and `_`) parse as something other than a path expression, a
/// type path or a name; weak keywords are left to syn too, which knows where they are keywords.
fn is_keyword(ident: &Ident) -> bool {
    let name = ident.to_string();
    name == "_" || keywords::is_keyword(&name) || keywords::WEAK_KEYWORDS.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::FnItem;
    use quote::{quote, ToTokens};

    /// The fast path must build exactly what darling's parser builds, spans aside.
    fn same(tokens: TokenStream) {
        let fast = plain_list(tokens.clone()).expect("a plain list");
        let slow = NestedMeta::parse_meta_list(tokens).unwrap();
        let show = |items: &[NestedMeta]| items.iter().map(|i| format!("{:?}", i)).collect::<Vec<_>>();
        assert_eq!(show(&fast), show(&slow));
    }

    #[test]
    fn plain_lists_read_like_darling_reads_them() {
        same(quote!());
        same(quote!(args = Args0, returns = u64));
        same(quote!(args = Args0, returns = u64,));
        same(quote!(retries(limit = 3, delay = "10 seconds"), timeout = "30 seconds", name = "x"));
        same(quote!(schedules = ["0 3 * * *"], limits(steps = 100)));
        same(quote!(schedules = ["a", "b",], limits[steps = 1], other { x }));
        same(quote!(schedules = [], flag, n = 1.5, r = r#raw, c = 'c', b = b"x"));
    }

    #[test]
    fn anything_else_goes_to_darling() {
        for tokens in [
            quote!(args = "Vec<u8>" + 1),
            quote!(args = Vec<u8>),
            quote!(args = Vec::<u8, A>),
            quote!(args = crate::Args),
            quote!(args = true),
            quote!(args = self),
            quote!(args = _),
            quote!(n = -1),
            quote!(schedules = [a]),
            quote!(schedules = ["a" "b"]),
            quote!("lit"),
            quote!(a,, b),
            quote!(, a),
            quote!(a == 1),
            quote!(a = 1 = 2),
            quote!(true),
            quote!(false = 1),
        ] {
            assert!(plain_list(tokens.clone()).is_none(), "{tokens}");
        }
    }

    #[test]
    fn darling_reads_the_rest() {
        let items = parse_meta_list(quote!(args = crate::Args, returns = "Vec<u8>")).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].to_token_stream().to_string(), "args = crate :: Args");
        assert!(parse_meta_list(quote!(a,, b)).is_err());
    }

    /// The head (before the body) of a fn, from source text: rustfmt leaves strings alone.
    fn head(item: &str) -> Vec<TokenTree> {
        let mut trees: Vec<TokenTree> = item.parse::<TokenStream>().unwrap().into_iter().collect();
        assert!(matches!(trees.pop(), Some(TokenTree::Group(_))), "{item}");
        trees
    }

    /// Debug output without `, span: bytes(a..b)`: with proc-macro2's `span-locations` (which
    /// the workspace's feature unification turns on for lunora-codegen) spans are offsets into
    /// a per-thread source map, so two parses of the same text differ only there.
    fn without_spans(debug: String) -> String {
        const SPAN: &str = ", span: bytes(";
        let mut out = String::with_capacity(debug.len());
        let mut rest = debug.as_str();
        while let Some(start) = rest.find(SPAN) {
            out.push_str(&rest[..start]);
            let after = &rest[start + SPAN.len()..];
            rest = after.find(')').map_or("", |end| &after[end + 1..]);
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn plain_signatures_read_like_syn_reads_them() {
        for item in [
            "pub async fn order_pipeline(ctx: WorkflowContext<OrderParams>) -> Result<Shipped> {}",
            "async fn charge(ctx: StepContext, args: ChargeArgs) -> lunora_runtime::Result<Receipt> {}",
            "fn f() {}",
            "fn f(mut a: ::a::B<C, D<E>>, b: Vec<Vec<u8>>,) -> Result<()> {}",
            "async fn f(a: HashMap<String, Vec<u8>,>, b: A::B<C>::D) -> Result<(), E> {}",
            "fn r#match(r#type: r#Type) {}",
        ] {
            let (vis, sig) = signature(&head(item)).expect("a plain signature");
            let fast = FnItem { attrs: Vec::new(), vis, sig, body: Group::new(Delimiter::Brace, TokenStream::new()) };
            let slow: FnItem = syn::parse_str(item).unwrap();
            assert_eq!(without_spans(format!("{fast:?}")), without_spans(format!("{slow:?}")), "{item}");
        }
    }

    /// The scanner's whole items (attributes, signature, body): what `FnItem::parse_exact`
    /// builds on its fast path must be what syn builds.
    #[test]
    fn plain_items_with_attributes_read_like_syn_reads_them() {
        for item in [
            "#[step(args = A, returns = B)] pub async fn f(ctx: StepContext, args: A) -> Result<B> {}",
            "#[workflow] async fn f(ctx: WorkflowContext<P>) -> Result<()> {}",
            "#[::lunora_runtime::step(retries(limit = 3), timeout = \"1 second\")] #[inline] fn f() {}",
            "#[lr::workflow(schedules = [\"0 3 * * *\"], limits(steps = 5))] #[cfg(test)] fn f() {}",
            "#[workflow[x]] #[step{y}] #[doc = \"text\"] #[a = 1] #[r#step] fn f() {}",
            "#[workflow()] #[allow(clippy::all, reason = \"x\")] fn f() {}",
        ] {
            let tokens: TokenStream = item.parse().unwrap();
            let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
            let (attrs, rest) = outer_attributes(&trees[..trees.len() - 1]).expect("plain attributes");
            assert!(signature(rest).is_some(), "{item}");
            assert!(!attrs.is_empty(), "{item}");
            let fast = FnItem::parse_exact(tokens).unwrap();
            let slow: FnItem = syn::parse_str(item).unwrap();
            assert_eq!(without_spans(format!("{fast:?}")), without_spans(format!("{slow:?}")), "{item}");
        }
    }

    /// Attributes the fast path does not read: syn reads them, and reports its errors.
    #[test]
    fn other_attributes_go_to_syn() {
        for head in [
            "#[a = -1]",
            "#[a = b]",
            "#[a = \"x\" \"y\"]",
            "#[a == 1]",
            "#[a::]",
            "#[::]",
            "#[]",
            "#[self::a]",
            "#[crate::step]",
            "#[unsafe(no_mangle)]",
            "#[_]",
            "#[a(b) c]",
            "#[a<b>]",
            "#[a]#",
            "#!",
            "#(a)",
        ] {
            let trees = head.parse::<TokenStream>().unwrap().into_iter().collect::<Vec<_>>();
            let plain = outer_attributes(&trees).filter(|(_, rest)| rest.is_empty());
            assert!(plain.is_none(), "{head}");
        }
        for item in ["#[a = -1] fn f() {}", "#[a::] fn f() {}", "#[] fn f() {}", "#[a] #(b) fn f() {}"] {
            let tokens: TokenStream = item.parse().unwrap();
            let fast = FnItem::parse_exact(tokens).map(|f| format!("{f:?}")).map_err(|e| format!("{e:?}"));
            let slow = syn::parse_str::<FnItem>(item).map(|f| format!("{f:?}")).map_err(|e| format!("{e:?}"));
            assert_eq!(fast.map(without_spans), slow.map(without_spans), "{item}");
        }
    }

    #[test]
    fn other_signatures_go_to_syn() {
        for item in [
            "fn _() {}",
            "fn f(a: _) {}",
            "fn f() -> _ {}",
            "#[doc = \"x\"] fn f() {}",
            "pub(crate) fn f() {}",
            "const fn f() {}",
            "unsafe fn f() {}",
            "async unsafe fn f() {}",
            "extern \"C\" fn f() {}",
            "fn f<T>() {}",
            "fn f() where A: B {}",
            "fn f(self) {}",
            "fn f(&self) {}",
            "fn f(_: A) {}",
            "fn f((a, b): A) {}",
            "fn f(ref a: A) {}",
            "fn f(#[attr] a: A) {}",
            "fn f(a: &str) {}",
            "fn f(a: [u8; 4]) {}",
            "fn f(a: (A, B)) {}",
            "fn f(a: (A)) {}",
            "fn f(a: Box<dyn Error + Send>) {}",
            "fn f(a: impl Fn(u8) -> u8) {}",
            "fn f(a: fn(u8) -> u8) {}",
            "fn f(a: Cow<'a, str>) {}",
            "fn f(a: Foo<3>) {}",
            "fn f(a: Foo<{ N }>) {}",
            "fn f(a: Vec::<u8>) {}",
            "fn f(a: <A as B>::C) {}",
            "fn f(a: crate::A) {}",
            "fn f(a: Self) {}",
            "fn f(a: Iterator<Item = u8>) {}",
            "fn f(a: m!()) {}",
            "fn f() -> impl Future {}",
            "fn f() -> A + B {}",
            "fn f() -> ! {}",
        ] {
            assert!(signature(&head(item)).is_none(), "{item}");
        }
    }
}
