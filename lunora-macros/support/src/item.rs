//! An `async fn` as the macros need it: attributes, visibility and signature parsed, the body
//! kept as raw tokens. Parsing bodies with syn is most of a macro's run time in an
//! unoptimised build, and the macros never look inside them.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, TokenStreamExt};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Signature, Visibility};

#[derive(Clone, Debug)]
pub struct FnItem {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// The `{ … }` block, untouched.
    pub body: proc_macro2::Group,
}

impl Parse for FnItem {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: proc_macro2::Group = input.parse()?;
        if body.delimiter() != proc_macro2::Delimiter::Brace {
            return Err(syn::Error::new(body.span(), "expected the fn body `{ … }`"));
        }
        Ok(FnItem { attrs, vis, sig, body })
    }
}

impl FnItem {
    /// Parses an attribute macro's item: what [`Parse`] reads, but faster. The body is split off
    /// first, so syn never copies its tokens into a buffer; plain attributes and a plain
    /// signature (see [`crate::plain`]) are then read without syn, anything else by syn.
    pub fn parse_item(item: TokenStream) -> syn::Result<Self> {
        let mut trees: Vec<TokenTree> = item.clone().into_iter().collect();
        let body = match trees.pop() {
            Some(TokenTree::Group(body)) if body.delimiter() == proc_macro2::Delimiter::Brace => body,
            _ => return syn::parse2(item),
        };
        if let Some(plain) = Self::plain(&trees, &body) {
            return Ok(plain);
        }
        let head: TokenStream = trees.into_iter().collect();
        let (attrs, vis, sig) = syn::parse::Parser::parse2(
            |input: ParseStream<'_>| {
                Ok((input.call(Attribute::parse_outer)?, input.parse::<Visibility>()?, input.parse::<Signature>()?))
            },
            head,
        )?;
        Ok(FnItem { attrs, vis, sig, body })
    }

    /// Exactly what `syn::parse2::<FnItem>` returns, result and errors alike (the scanner
    /// reports syn's errors on the whole item), without syn's parsers when the item is plain.
    pub fn parse_exact(item: TokenStream) -> syn::Result<Self> {
        let trees: Vec<TokenTree> = item.clone().into_iter().collect();
        if let [head @ .., TokenTree::Group(body)] = trees.as_slice() {
            if body.delimiter() == proc_macro2::Delimiter::Brace {
                if let Some(plain) = Self::plain(head, body) {
                    return Ok(plain);
                }
            }
        }
        syn::parse2(item)
    }

    /// The item whose tokens before the body are `head`, if they are plain attributes and a
    /// plain signature.
    fn plain(head: &[TokenTree], body: &proc_macro2::Group) -> Option<Self> {
        let (attrs, rest) = crate::plain::outer_attributes(head)?;
        let (vis, sig) = crate::plain::signature(rest)?;
        Some(FnItem { attrs, vis, sig, body: body.clone() })
    }
}

impl ToTokens for FnItem {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.append_all(&self.attrs);
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.body.to_tokens(tokens);
    }
}
