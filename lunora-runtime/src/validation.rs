//! Field-level validation of step args and returns through [garde](https://docs.rs/garde), for
//! types that opt in by deriving `garde::Validate` (with `Context = ()`). Types that do not are
//! accepted as they are: serde already checked their shape.
//!
//! The macros pick the right behaviour per type with autoref specialisation: the call
//! `(&Validator(&value)).lunora_validate()` resolves to [`ViaGarde`] when the type implements
//! `garde::Validate`, and falls back to [`ViaNothing`] otherwise.

/// Wraps a value for validation.
pub struct Validator<'a, T>(pub &'a T);

/// Chosen when `T: garde::Validate`: runs the rules and lists every failing field path.
pub trait ViaGarde {
    fn lunora_validate(&self) -> Result<(), String>;
}

impl<T: garde::Validate<Context = ()>> ViaGarde for Validator<'_, T> {
    fn lunora_validate(&self) -> Result<(), String> {
        self.0.validate().map_err(|report| {
            report
                .iter()
                .map(|(path, error)| {
                    let path = path.to_string();
                    if path.is_empty() {
                        error.message().to_string()
                    } else {
                        format!("{path}: {}", error.message())
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Chosen when the type has no validation rules.
pub trait ViaNothing {
    fn lunora_validate(&self) -> Result<(), String>;
}

impl<T> ViaNothing for &Validator<'_, T> {
    fn lunora_validate(&self) -> Result<(), String> {
        Ok(())
    }
}
