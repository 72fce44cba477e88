//! Which attributes are lunora's: `workflow` and `step`, exported by `lunora_macros` and
//! re-exported by `lunora_runtime`. The macros are registered under these names and the
//! codegen scanner recognises exactly these paths (`#[workflow]` imported from one of these
//! crates, `#[lunora_runtime::step]`, `use lunora_macros::*`…), so the two cannot disagree
//! about which attributes count.

/// The crates whose `workflow` and `step` are lunora's: the proc-macro crate and the runtime
/// that re-exports it.
pub const LUNORA_CRATES: &[&str] = &["lunora_runtime", "lunora_macros"];

/// The crate users import the attributes from, as advice in messages names it.
pub const RUNTIME_CRATE: &str = "lunora_runtime";

/// One of lunora's two attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttributeKind {
    /// `#[workflow]`.
    Workflow,
    /// `#[step]`.
    Step,
}

impl AttributeKind {
    /// Both attributes, `workflow` first.
    pub const ALL: [AttributeKind; 2] = [AttributeKind::Workflow, AttributeKind::Step];

    /// The attribute's name as written: `workflow` or `step`.
    pub const fn name(self) -> &'static str {
        match self {
            AttributeKind::Workflow => "workflow",
            AttributeKind::Step => "step",
        }
    }

    /// The attribute named `name` (the last segment of its path, without `r#`), if it is one
    /// of lunora's names.
    pub fn of(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Whether `krate` is a crate whose `workflow` and `step` are lunora's.
pub fn is_lunora_crate(krate: &str) -> bool {
    LUNORA_CRATES.contains(&krate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_is_an_attribute() {
        for kind in AttributeKind::ALL {
            assert_eq!(AttributeKind::of(kind.name()), Some(kind));
        }
        for other in ["Workflow", "steps", "r#step", "", "test"] {
            assert_eq!(AttributeKind::of(other), None, "{other:?}");
        }
        assert!(is_lunora_crate(RUNTIME_CRATE));
        assert!(!is_lunora_crate("lunora_shared"));
    }
}
