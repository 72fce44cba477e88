//! The attribute syntax, as darling reads it. Values keep their literal tokens so every check
//! can point at the exact token it rejects.

use darling::FromMeta;
use syn::{Expr, Lit, LitInt, LitStr};

/// `#[workflow(name = "…", class = "…", binding = "…", schedules = ["…"], limits(steps = N))]`
#[derive(Debug, Default, FromMeta)]
pub struct WorkflowAttr {
    pub name: Option<LitStr>,
    /// Replaces the derived class name (of the JS entrypoint and the Rust descriptor).
    pub class: Option<LitStr>,
    /// Replaces the derived binding.
    pub binding: Option<LitStr>,
    pub schedules: Option<Schedules>,
    pub limits: Option<Nested<LimitsAttr>>,
}

/// `limits(steps = N)`
#[derive(Debug, FromMeta)]
pub struct LimitsAttr {
    pub steps: Option<LitInt>,
}

/// `schedules = ["cron", …]` or `schedules = "cron"`.
#[derive(Debug)]
pub struct Schedules {
    pub crons: Vec<LitStr>,
    /// The whole value, for errors about the list itself.
    pub span: proc_macro2::Span,
}

impl FromMeta for Schedules {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        let span = syn::spanned::Spanned::span(expr);
        let mut errors = darling::Error::accumulator();
        let mut crons = Vec::new();
        let items: Vec<&Expr> = match expr {
            Expr::Array(array) => array.elems.iter().collect(),
            Expr::Lit(_) => vec![expr],
            other => {
                return Err(darling::Error::custom(
                    "expected a list of cron strings, e.g. `schedules = [\"0 3 * * *\"]`",
                )
                .with_span(other));
            }
        };
        for item in items {
            match item {
                Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => crons.push(s.clone()),
                other => errors.push(darling::Error::custom("expected a cron string literal").with_span(other)),
            }
        }
        errors.finish_with(Schedules { crons, span })
    }
}

/// `#[step(args = T, returns = R, name = "…", retries(…), timeout = "…", rollback = path, rollback_config(…))]`
#[derive(Debug, FromMeta)]
pub struct StepAttr {
    pub args: TypeValue,
    pub returns: TypeValue,
    pub name: Option<LitStr>,
    pub retries: Option<Nested<RetriesAttr>>,
    pub timeout: Option<LitStr>,
    pub rollback: Option<PathValue>,
    pub rollback_config: Option<darling::util::SpannedValue<Nested<RollbackConfigAttr>>>,
    /// `sensitive`: the output is redacted wherever an engine shows it.
    pub sensitive: darling::util::Flag,
}

/// `retries(limit = N, delay = "…" | path::to::fn, backoff = "…")`
#[derive(Debug, FromMeta)]
pub struct RetriesAttr {
    pub limit: Option<LitInt>,
    pub delay: Option<DelayValue>,
    pub backoff: Option<LitStr>,
}

/// `delay = "10 seconds"`, or `delay = my_delay` naming a fn of the failed attempt.
#[derive(Debug)]
pub enum DelayValue {
    Text(LitStr),
    Fn(syn::Path),
}

impl FromMeta for DelayValue {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match expr {
            Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Ok(DelayValue::Text(s.clone())),
            Expr::Path(p) if p.qself.is_none() => Ok(DelayValue::Fn(p.path.clone())),
            other => Err(darling::Error::custom(
                "expected a duration, e.g. `delay = \"10 seconds\"`, or the path of a fn \
                 `fn(&RetryDelayContext) -> Result<DurationInput>`, e.g. `delay = backoff_for`",
            )
            .with_span(other)),
        }
    }
}

/// `rollback_config(retries(…), timeout = "…")`
#[derive(Debug, FromMeta)]
pub struct RollbackConfigAttr {
    pub retries: Option<Nested<RetriesAttr>>,
    pub timeout: Option<LitStr>,
}

/// A type written as a path (`args = ChargeArgs`) or, for generics, a string (`args = "Vec<u8>"`).
#[derive(Debug)]
pub struct TypeValue(pub syn::Type);

impl FromMeta for TypeValue {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match expr {
            Expr::Path(p) if p.qself.is_none() => {
                Ok(TypeValue(syn::Type::Path(syn::TypePath { qself: None, path: p.path.clone() })))
            }
            Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => {
                s.parse().map(TypeValue).map_err(|e| darling::Error::custom(format!("not a type: {e}")).with_span(s))
            }
            other => Err(darling::Error::custom(
                "expected a type, e.g. `args = ChargeArgs`; write generic types in quotes: `args = \"Vec<u8>\"`",
            )
            .with_span(other)),
        }
    }
}

/// A path to a fn: `rollback = refund` or `rollback = payments::refund`.
#[derive(Debug)]
pub struct PathValue(pub syn::Path);

impl FromMeta for PathValue {
    fn from_expr(expr: &Expr) -> darling::Result<Self> {
        match expr {
            Expr::Path(p) if p.qself.is_none() => Ok(PathValue(p.path.clone())),
            Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => {
                s.parse().map(PathValue).map_err(|e| darling::Error::custom(format!("not a path: {e}")).with_span(s))
            }
            other => {
                Err(darling::Error::custom("expected the path of a fn, e.g. `rollback = refund`").with_span(other))
            }
        }
    }
}

/// A nested list (`retries(…)`) read like darling reads it, but through
/// [`crate::plain::parse_meta_list`]'s fast path.
#[derive(Debug)]
pub struct Nested<T>(pub T);

impl<T> std::ops::Deref for Nested<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromMeta> FromMeta for Nested<T> {
    /// darling's default `from_meta`, with the list parsed by our parser.
    fn from_meta(item: &syn::Meta) -> darling::Result<Self> {
        match item {
            syn::Meta::List(list) => {
                let items = crate::plain::parse_meta_list(list.tokens.clone())?;
                T::from_list(&items).map(Nested).map_err(|e| e.with_span(item))
            }
            other => T::from_meta(other).map(Nested),
        }
    }
}
