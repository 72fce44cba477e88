//! `lunora-codegen new step|workflow NAME`: appends a skeleton that compiles to
//! `src/steps.rs` / `src/workflows.rs` (created if absent). The skeletons use fully qualified
//! paths so they compile whatever the file already imports.

use std::path::{Path, PathBuf};

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

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "static",
    "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "gen", "try",
];

fn check_name(name: &str) -> Result<(), String> {
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') || name == "_" {
        return Err(format!(
            "\"{name}\" is not a snake_case Rust name; use lower-case letters, digits and '_', e.g. charge_order"
        ));
    }
    if KEYWORDS.contains(&name) {
        return Err(format!("\"{name}\" is a Rust keyword; pick another name"));
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
    check_name(name)?;
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
    fn names_must_be_snake_case_and_not_keywords() {
        assert!(check_name("charge_order").is_ok());
        assert!(check_name("ChargeOrder").unwrap_err().contains("not a snake_case Rust name"));
        assert!(check_name("9lives").is_err());
        assert!(check_name("charge-order").is_err());
        assert!(check_name("match").unwrap_err().contains("keyword"));
        assert_eq!(pascal("charge_order_2"), "ChargeOrder2");
    }
}
