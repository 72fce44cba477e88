//! `lunora-codegen new step|workflow NAME`: appends a skeleton that compiles to
//! `src/steps.rs` / `src/workflows.rs` (created if absent). The skeletons use fully qualified
//! paths so they compile whatever the file already imports.

use std::path::{Path, PathBuf};

use crate::naming;
use crate::output::write_atomically;
use crate::project::Project;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Step,
    Workflow,
}

/// What `new` did.
#[derive(Debug)]
pub struct Scaffolded {
    pub file: PathBuf,
    /// Set when the file is not yet a module of the crate: the line to add to the root.
    pub missing_mod: Option<String>,
}

/// Why `name` cannot be scaffolded as a `kind`, if it cannot: the skeleton must compile and,
/// for a workflow, its registry accessor must be the fn's own name (so `get` is refused even
/// though `sync` would call its accessor `get_()`). Checked before anything is read or written.
pub fn check_name(kind: Kind, name: &str) -> Result<(), String> {
    let shown = name.escape_debug();
    if name.is_empty() {
        return Err("the name is empty; pass a snake_case Rust name, e.g. charge_order".into());
    }
    if lunora_shared::keywords::is_keyword(name) {
        return Err(format!("\"{shown}\" is a Rust keyword, which cannot name a fn; pick another name"));
    }
    // The compiler's own rule (Unicode XID), then lunora's stricter one.
    let is_ident = syn::parse_str::<syn::Ident>(name).is_ok_and(|ident| ident == name);
    let snake = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !is_ident || !snake || name == "_" {
        return Err(format!(
            "\"{shown}\" is not a snake_case Rust name; use lower-case ASCII letters, digits and '_', \
             starting with a letter, e.g. charge_order"
        ));
    }
    if kind == Kind::Workflow {
        let export = naming::export_name_of_fn(name);
        if let Some(why) = naming::export_name_problem(&export) {
            return Err(format!(
                "\"{name}\" would be exported as \"{export}\", which is invalid: {why}; {}; pick another name",
                naming::EXPORT_NAME_RULE
            ));
        }
        let accessor = naming::registry_accessor(&export);
        if naming::REGISTRY_METHODS.contains(&name) {
            return Err(format!(
                "\"{name}\" is taken by the generated registry (`Workflows::{name}`), so this workflow's accessor \
                 would be `{accessor}()`; pick another name"
            ));
        }
        if accessor != name {
            return Err(format!(
                "\"{name}\" would be exported as \"{export}\", whose registry accessor is `{accessor}()`, not \
                 `{name}()`; pick another name, e.g. {accessor}"
            ));
        }
    }
    Ok(())
}

fn pascal(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn skeleton(kind: Kind, name: &str) -> String {
    let ty = pascal(name);
    match kind {
        Kind::Step => format!(
            r#"
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct {ty}Args {{
    pub id: String,
}}

/// The `{name}` step: runs once per attempt, retried on error.
#[lunora_runtime::step(args = {ty}Args, returns = String, retries(limit = 3, delay = "10 seconds", backoff = "exponential"))]
pub async fn {name}(ctx: lunora_runtime::StepContext, args: {ty}Args) -> lunora_runtime::Result<String> {{
    ctx.log.info(format!("{name} attempt {{}}", ctx.attempt));
    Ok(args.id)
}}
"#
        ),
        Kind::Workflow => format!(
            r#"
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct {ty}Params {{
    pub id: String,
}}

/// The `{name}` workflow: each `ctx.step` call is durable (memoised and retried).
#[lunora_runtime::workflow]
pub async fn {name}(ctx: lunora_runtime::WorkflowContext<{ty}Params>) -> lunora_runtime::Result<String> {{
    let loaded: String = ctx.step.do_("load", |_| async {{ Ok(ctx.params.id.clone()) }}).await?;
    Ok(loaded)
}}
"#
        ),
    }
}

/// Appends the skeleton of `kind` named `name` to the crate of `manifest`.
pub fn scaffold(manifest: &Path, kind: Kind, name: &str) -> Result<Scaffolded, String> {
    check_name(kind, name)?;
    let project = Project::load(manifest)?;
    let module = match kind {
        Kind::Step => "steps",
        Kind::Workflow => "workflows",
    };
    let file = project.dir.join("src").join(format!("{module}.rs"));
    let current = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: cannot read: {e}", file.display())),
    };
    if current.contains(&format!("fn {name}(")) {
        return Err(format!("{}: a fn named `{name}` already exists; pick another name", file.display()));
    }
    // `charge__order` and `charge_order` both need `ChargeOrderArgs`.
    let ty = pascal(name);
    for item in [format!("{ty}Args"), format!("{ty}Params")] {
        if current.contains(&format!("struct {item} ")) {
            return Err(format!("{}: a struct named `{item}` already exists; pick another name", file.display()));
        }
    }
    let mut text = current.clone();
    if text.is_empty() {
        text.push_str(&format!("//! The crate's {module}, scaffolded by `lunora-codegen new`.\n"));
    } else if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&skeleton(kind, name));
    write_atomically(&file, &text).map_err(|e| format!("{}: cannot write: {e}", file.display()))?;
    let root = std::fs::read_to_string(&project.root).unwrap_or_default();
    let declared = root.lines().any(|l| {
        let l = l.trim_start();
        let l = l.strip_prefix("pub ").unwrap_or(l);
        l.starts_with(&format!("mod {module};")) || l.starts_with(&format!("mod {module} "))
    });
    Ok(Scaffolded { file, missing_mod: (!declared).then(|| format!("mod {module};")) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_snake_case_idents_and_not_keywords() {
        assert!(check_name(Kind::Step, "charge_order").is_ok());
        assert!(check_name(Kind::Workflow, "send_email2").is_ok());
        assert!(check_name(Kind::Step, "ChargeOrder").unwrap_err().contains("not a snake_case Rust name"));
        for bad in ["9lives", "charge-order", "charge order", "", "_", "r#type", "über", "a\tb"] {
            assert!(check_name(Kind::Step, bad).is_err(), "{bad:?}");
        }
        for keyword in ["type", "match", "self", "Self", "crate", "super", "async", "abstract", "try", "gen"] {
            let err = check_name(Kind::Step, keyword).unwrap_err();
            assert_eq!(err, format!("\"{keyword}\" is a Rust keyword, which cannot name a fn; pick another name"));
        }
        assert_eq!(pascal("charge_order_2"), "ChargeOrder2");
    }

    #[test]
    fn workflow_names_must_be_their_own_registry_accessor() {
        assert_eq!(
            check_name(Kind::Workflow, "get").unwrap_err(),
            "\"get\" is taken by the generated registry (`Workflows::get`), so this workflow's accessor would be \
             `get_()`; pick another name"
        );
        assert!(check_name(Kind::Workflow, "from_env").unwrap_err().contains("`from_env_()`"));
        assert_eq!(
            check_name(Kind::Workflow, "a__b").unwrap_err(),
            "\"a__b\" would be exported as \"aB\", whose registry accessor is `a_b()`, not `a__b()`; pick another \
             name, e.g. a_b"
        );
        // `type_` is exported as `type`, whose accessor is `type_()`: its own name.
        assert!(check_name(Kind::Workflow, "type_").is_ok());
        assert!(check_name(Kind::Workflow, "_1a").unwrap_err().contains("it starts with '1'"));
        // Steps have no registry accessor.
        assert!(check_name(Kind::Step, "get").is_ok());
    }
}
