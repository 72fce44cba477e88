//! Validation: attribute syntax + fn signature → a model that is known to be good. Every
//! problem is collected (all errors at once) and points at the narrowest token.

use crate::item::FnItem;
use darling::ast::NestedMeta;
use darling::{Error, FromMeta};
use lunora_shared::duration::{millis, parse_duration};
use lunora_shared::naming::{
    binding_problem, class_name_problem, export_name_of_fn, export_name_problem, WorkflowNames, BINDING_RULE,
    CLASS_NAME_RULE, EXPORT_NAME_RULE,
};
use lunora_shared::rules::{self, MAX_RETRY_LIMIT, MAX_STEP_LIMIT, MAX_WORKFLOW_NAME_CHARS, RESERVED_STEP_PREFIX};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, LitInt, LitStr, PathArguments, ReturnType, Type};

use crate::attr::{DelayValue, RetriesAttr, StepAttr, WorkflowAttr};
use crate::model::{Backoff, ConfigDef, RetriesDef, StepDef, TypeCheck, WorkflowDef};

/// A failed check: every error, and what was still understood.
pub type Failed = Box<(Error, Partial)>;

/// What a failed analysis still knows, so the fallback expansion can emit the user's item
/// with the right types and spare users secondary errors.
#[derive(Default)]
pub struct Partial {
    pub params: Option<Type>,
    pub output: Option<Type>,
    pub args: Option<Type>,
    pub returns: Option<Type>,
    /// A valid `class = "…"`: the stand-in descriptor takes it, as the real one would.
    pub class_name: Option<String>,
}

/// Checks `#[workflow(...)]` on `item`.
pub fn workflow(attr: &[NestedMeta], item: &FnItem) -> Result<WorkflowDef, Failed> {
    let mut errors = Error::accumulator();
    let mut partial = Partial::default();
    let parsed = errors.handle(WorkflowAttr::from_list(attr)).unwrap_or_default();

    check_async(item, "workflow", &mut errors);
    check_plain_fn(item, "workflow", &mut errors);
    let params = match item.sig.inputs.iter().collect::<Vec<_>>().as_slice() {
        [FnArg::Typed(ctx)] => match generic_of(&ctx.ty, "WorkflowContext") {
            Some(params) => Some(params),
            None => {
                errors.push(
                    Error::custom("the workflow's parameter must be `WorkflowContext<Params>`").with_span(&ctx.ty),
                );
                None
            }
        },
        _ => {
            errors.push(at(
                item.sig.inputs_span(1),
                "a workflow takes exactly one parameter: `ctx: WorkflowContext<Params>`",
            ));
            None
        }
    };
    let output = result_output(item, "workflow", &mut errors);
    partial.params = params.clone();
    partial.output = output.clone();

    let export_name = export_name_of_fn(&item.sig.ident.to_string());
    let export_problem = export_name_problem(&export_name);
    if let Some(why) = &export_problem {
        errors.push(Error::custom(invalid_export_name(&export_name, &item.sig.ident, why)).with_span(&item.sig.ident));
    }
    let mut names = WorkflowNames::from_export_name(&export_name);
    if let Some(lit) = &parsed.class {
        match check_class_name(lit, &item.sig.ident) {
            Ok(class) => {
                partial.class_name = Some(class.clone());
                names.class_name = class;
            }
            Err(e) => errors.push(e),
        }
    }
    if let Some(lit) = &parsed.binding {
        let binding = lit.value();
        match binding_problem(&binding) {
            None => names.binding = binding,
            Some(why) => errors.push(
                Error::custom(format!("invalid binding \"{}\": {why}; {BINDING_RULE}", binding.escape_debug()))
                    .with_span(lit),
            ),
        }
    }
    let deployed_name = match &parsed.name {
        Some(lit) => {
            let name = lit.value();
            if let Some(why) = rules::identifier_problem(&name, MAX_WORKFLOW_NAME_CHARS) {
                errors.push(Error::custom(format!("invalid workflow name \"{name}\": {why}")).with_span(lit));
            }
            name
        }
        None => {
            let name = names.default_name.clone();
            // An invalid export name is reported once, above, not again through its default name.
            let problem = export_problem.is_none().then(|| rules::identifier_problem(&name, MAX_WORKFLOW_NAME_CHARS));
            if let Some(why) = problem.flatten() {
                errors.push(
                    Error::custom(format!(
                        "the default workflow name \"{name}\" derived from this fn is invalid: {why}; \
                         set one with `#[workflow(name = \"…\")]`"
                    ))
                    .with_span(&item.sig.ident),
                );
            }
            name
        }
    };

    let mut schedules = Vec::new();
    if let Some(list) = &parsed.schedules {
        if list.crons.is_empty() {
            errors.push(at(list.span, "`schedules` must list at least one cron string"));
        }
        for cron in &list.crons {
            let value = cron.value();
            match check_cron(&value) {
                Ok(()) => schedules.push(value),
                Err(why) => errors.push(Error::custom(why).with_span(cron)),
            }
        }
    }
    let step_limit = parsed
        .limits
        .as_ref()
        .and_then(|l| l.steps.as_ref())
        .and_then(|lit| errors.handle(int_in_range(lit, 1, MAX_STEP_LIMIT, "limits.steps", "steps per instance")));

    match (errors.finish(), params, output) {
        (Ok(()), Some(params), Some(output)) => {
            Ok(WorkflowDef { item: item.clone(), names, deployed_name, params, output, schedules, step_limit })
        }
        (Err(e), _, _) => Err(Box::new((e, partial))),
        (Ok(()), _, _) => unreachable!("a missing signature part always records an error"),
    }
}

/// A declared `class = "…"`, or why it cannot be one. Besides the rule, it must not be the fn's
/// own name: the descriptor is a unit struct named like the class, which lives in the fn's
/// namespace too.
fn check_class_name(lit: &LitStr, fn_ident: &syn::Ident) -> Result<String, Error> {
    let class = lit.value();
    if let Some(why) = class_name_problem(&class) {
        return Err(Error::custom(format!(
            "invalid class name \"{}\": {why}; {CLASS_NAME_RULE}",
            class.escape_debug()
        ))
        .with_span(lit));
    }
    let fn_name = fn_ident.to_string();
    if fn_name.strip_prefix("r#").unwrap_or(&fn_name) == class {
        return Err(Error::custom(format!(
            "class name \"{class}\" is the fn's own name: `#[workflow]` generates a descriptor struct named like \
             the class, and a unit struct and a fn of one name collide; choose another class name"
        ))
        .with_span(lit));
    }
    Ok(class)
}

/// Why the fn's export name cannot be used, and the fix: the class name and binding derive
/// from it whatever `name = "…"` says (and the default name and registry accessor whatever
/// `class` and `binding` say), so only renaming the fn helps.
pub fn invalid_export_name(export_name: &str, fn_ident: &syn::Ident, why: &str) -> String {
    format!(
        "the workflow export name \"{}\" derived from fn `{fn_ident}` is invalid: {why}; {EXPORT_NAME_RULE}, \
         because the default name, the registry accessor and (unless declared) the class name and binding \
         derive from it; rename the fn",
        export_name.escape_debug()
    )
}

/// Checks `#[step(...)]` on `item`.
pub fn step(attr: &[NestedMeta], item: &FnItem) -> Result<StepDef, Failed> {
    let mut errors = Error::accumulator();
    let mut partial = Partial::default();
    let parsed = errors.handle(StepAttr::from_list(attr));
    check_async(item, "step", &mut errors);
    check_plain_fn(item, "step", &mut errors);

    let (fn_ctx, fn_args) = match item.sig.inputs.iter().collect::<Vec<_>>().as_slice() {
        [FnArg::Typed(ctx), FnArg::Typed(args)] => (Some(&*ctx.ty), Some((*args.ty).clone())),
        _ => {
            errors.push(at(
                item.sig.inputs_span(2),
                "a step takes exactly two parameters: `ctx: StepContext, args: Args`",
            ));
            (None, None)
        }
    };
    if let Some(ctx) = fn_ctx {
        if !is_plain(ctx, "StepContext") {
            errors.push(Error::custom("the step's first parameter must be `StepContext`").with_span(ctx));
        }
    }
    let fn_returns = result_output(item, "step", &mut errors);

    let Some(parsed) = parsed else {
        partial.args = fn_args;
        partial.returns = fn_returns;
        return Err(Box::new((errors.finish().expect_err("the attribute failed to parse"), partial)));
    };
    partial.args = Some(parsed.args.0.clone());
    partial.returns = Some(parsed.returns.0.clone());

    let mut type_checks = Vec::new();
    if let Some(fn_args) = &fn_args {
        compare(&parsed.args.0, fn_args, "args", "its `args` parameter", &mut errors, &mut type_checks);
    }
    if let Some(fn_returns) = &fn_returns {
        compare(&parsed.returns.0, fn_returns, "returns", "its return type `Result<…>`", &mut errors, &mut type_checks);
    }

    let name = match &parsed.name {
        Some(lit) => {
            let name = lit.value();
            check_step_name(&name, lit, &mut errors);
            name
        }
        None => item.sig.ident.to_string(),
    };
    let step_config =
        config(parsed.retries.as_deref(), parsed.timeout.as_ref(), parsed.sensitive.is_present(), &mut errors);
    let rollback_config = parsed.rollback_config.as_ref().map(|rc| {
        if parsed.rollback.is_none() {
            errors.push(at(rc.span(), "`rollback_config` needs a `rollback = handler`"));
        }
        config(rc.retries.as_deref(), rc.timeout.as_ref(), false, &mut errors)
    });

    match errors.finish() {
        Ok(()) => Ok(StepDef {
            item: item.clone(),
            name,
            args: parsed.args.0,
            returns: parsed.returns.0,
            config: step_config,
            rollback: parsed.rollback.map(|p| p.0),
            rollback_config: rollback_config.flatten(),
            type_checks,
        }),
        Err(e) => Err(Box::new((e, partial))),
    }
}

fn check_async(item: &FnItem, what: &str, errors: &mut darling::error::Accumulator) {
    if item.sig.asyncness.is_none() {
        errors.push(Error::custom(format!("`#[{what}]` functions must be `async`")).with_span(&item.sig.fn_token));
    }
}

fn check_plain_fn(item: &FnItem, what: &str, errors: &mut darling::error::Accumulator) {
    if !item.sig.generics.params.is_empty() {
        errors.push(Error::custom(format!("`#[{what}]` functions cannot be generic")).with_span(&item.sig.generics));
    }
    if let Some(FnArg::Receiver(receiver)) = item.sig.inputs.first() {
        errors.push(Error::custom(format!("`#[{what}]` functions cannot take `self`")).with_span(receiver));
    }
}

/// `Result<T>` / `Result<T, E>` → `T`, else an error on the return type.
fn result_output(item: &FnItem, what: &str, errors: &mut darling::error::Accumulator) -> Option<Type> {
    let message = format!("`#[{what}]` functions return `lunora_runtime::Result<T>`");
    match &item.sig.output {
        ReturnType::Type(_, ty) => {
            let output = generic_of(ty, "Result");
            if output.is_none() {
                errors.push(Error::custom(message).with_span(ty));
            }
            output
        }
        ReturnType::Default => {
            errors.push(at(item.sig.paren_token.span.join(), message));
            None
        }
    }
}

/// The first type argument of a path type whose last segment is `name`.
fn generic_of(ty: &Type, name: &str) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

fn is_plain(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name && s.arguments.is_empty()))
}

fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn tokens(ty: &Type) -> String {
    ty.to_token_stream().to_string().replace(' ', "")
}

/// The attribute's type must be the signature's. Spelled the same → fine; different last
/// segments → our error on the attribute; otherwise (`ChargeArgs` vs `crate::ChargeArgs`) the
/// compiler decides through a type-equality assertion spanned on the attribute.
fn compare(
    declared: &Type,
    actual: &Type,
    key: &str,
    place: &str,
    errors: &mut darling::error::Accumulator,
    checks: &mut Vec<TypeCheck>,
) {
    // Structural equality (spans aside) first: printing both types is slow in a proc macro.
    if declared == actual || tokens(declared) == tokens(actual) {
        return;
    }
    match (last_ident(declared), last_ident(actual)) {
        (Some(a), Some(b)) if a == b => {
            checks.push(TypeCheck { declared: declared.clone(), actual: actual.clone() });
        }
        _ => errors.push(
            Error::custom(format!(
                "`{key} = {}` disagrees with the fn signature: {place} is `{}`",
                declared.to_token_stream(),
                actual.to_token_stream()
            ))
            .with_span(declared),
        ),
    }
}

fn check_step_name(name: &str, lit: &LitStr, errors: &mut darling::error::Accumulator) {
    if name.starts_with(RESERVED_STEP_PREFIX) {
        errors.push(
            Error::custom(format!(
                "step name \"{name}\" is reserved: names starting with \"{RESERVED_STEP_PREFIX}\" belong to lunora"
            ))
            .with_span(lit),
        );
    } else if !rules::is_valid_step_name(name) {
        errors.push(
            Error::custom(format!(
                "invalid step name: at most {} characters and no control characters (U+0000–U+001F)",
                rules::MAX_STEP_NAME_CHARS
            ))
            .with_span(lit),
        );
    }
}

fn config(
    retries: Option<&RetriesAttr>,
    timeout: Option<&LitStr>,
    sensitive: bool,
    errors: &mut darling::error::Accumulator,
) -> Option<ConfigDef> {
    if retries.is_none() && timeout.is_none() && !sensitive {
        return None;
    }
    let retries =
        retries.map(|r| RetriesDef {
            limit: r.limit.as_ref().and_then(|lit| {
                errors.handle(int_in_range(lit, 0, MAX_RETRY_LIMIT, "retries.limit", "retries per step"))
            }),
            delay_ms: match &r.delay {
                Some(DelayValue::Text(lit)) => errors.handle(duration_ms(lit, false)),
                _ => None,
            },
            delay_fn: match &r.delay {
                Some(DelayValue::Fn(path)) => Some(path.clone()),
                _ => None,
            },
            backoff: r.backoff.as_ref().and_then(|lit| {
                errors.handle(Backoff::parse(&lit.value()).map_err(|e| Error::custom(e).with_span(lit)))
            }),
        });
    let timeout_ms = timeout.and_then(|lit| errors.handle(duration_ms(lit, true)));
    Some(ConfigDef { retries, timeout_ms, sensitive })
}

fn duration_ms(lit: &LitStr, positive: bool) -> darling::Result<u64> {
    let duration = parse_duration(&lit.value()).map_err(|e| Error::custom(e.to_string()).with_span(lit))?;
    if positive && duration.is_zero() {
        return Err(Error::custom("the timeout must be greater than 0").with_span(lit));
    }
    Ok(millis(duration) as u64)
}

fn int_in_range(lit: &LitInt, min: u32, max: u32, key: &str, what: &str) -> darling::Result<u32> {
    let value: u64 = lit.base10_parse().map_err(|e| Error::custom(e.to_string()).with_span(lit))?;
    if value < u64::from(min) || value > u64::from(max) {
        return Err(Error::custom(format!(
            "{key} is {value}, it must be {min}..={max} (Cloudflare allows at most {max} {what})"
        ))
        .with_span(lit));
    }
    Ok(value as u32)
}

/// Cloudflare cron triggers (see [`crate::cron`]).
pub fn check_cron(cron: &str) -> Result<(), String> {
    crate::cron::check(cron)
}

trait InputsSpan {
    fn inputs_span(&self, expected: usize) -> proc_macro2::Span;
}

impl InputsSpan for syn::Signature {
    /// Where "wrong number of parameters" belongs: the first parameter too many, or the
    /// parentheses when some are missing.
    fn inputs_span(&self, expected: usize) -> proc_macro2::Span {
        match self.inputs.iter().nth(expected) {
            Some(extra) => extra.span(),
            None => self.paren_token.span.join(),
        }
    }
}

/// An error at a raw span (for places that are not a single syntax node).
fn at(span: proc_macro2::Span, message: impl std::fmt::Display) -> Error {
    syn::Error::new(span, message).into()
}
