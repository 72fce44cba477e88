//! Field-level validation of step args and returns through [garde](https://docs.rs/garde), for
//! types that opt in by deriving `garde::Validate` (with `Context = ()`). Types that do not are
//! accepted as they are: serde already checked their shape.
//!
//! What `#[step]`'s generated `validate` calls, through `__private`:
//! `check(value).lunora_validate()` validates the args or the returns with garde when their
//! type implements `garde::Validate` (with `Context = ()`) and accepts them otherwise. The
//! choice is made by method resolution over inherent methods whose bounds may not hold:
//! [`Both`] (args and returns validated) derefs to [`OnlyArgs`], then [`OnlyReturns`], then
//! [`Neither`], and the first level whose bounds hold wins. No trait has to be in scope and all of it is generic code here, so each
//! step's `validate` is a single call, the least work for rustc in every user crate.

use crate::reusable::Validate;

pub fn check<A, R>(value: Validate<'_, A, R>) -> Both<'_, A, R> {
    Both(OnlyArgs(OnlyReturns(Neither(value))))
}

pub struct Both<'a, A, R>(OnlyArgs<'a, A, R>);
pub struct OnlyArgs<'a, A, R>(OnlyReturns<'a, A, R>);
pub struct OnlyReturns<'a, A, R>(Neither<'a, A, R>);
pub struct Neither<'a, A, R>(Validate<'a, A, R>);

impl<'a, A, R> std::ops::Deref for Both<'a, A, R> {
    type Target = OnlyArgs<'a, A, R>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a, A, R> std::ops::Deref for OnlyArgs<'a, A, R> {
    type Target = OnlyReturns<'a, A, R>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a, A, R> std::ops::Deref for OnlyReturns<'a, A, R> {
    type Target = Neither<'a, A, R>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<A: garde::Validate<Context = ()>, R: garde::Validate<Context = ()>> Both<'_, A, R> {
    pub fn lunora_validate(&self) -> Result<(), String> {
        match self.0 .0 .0 .0 {
            Validate::Args(args) => with_garde(args),
            Validate::Returns(returns) => with_garde(returns),
        }
    }
}

impl<A: garde::Validate<Context = ()>, R> OnlyArgs<'_, A, R> {
    pub fn lunora_validate(&self) -> Result<(), String> {
        match self.0 .0 .0 {
            Validate::Args(args) => with_garde(args),
            Validate::Returns(_) => Ok(()),
        }
    }
}

impl<A, R: garde::Validate<Context = ()>> OnlyReturns<'_, A, R> {
    pub fn lunora_validate(&self) -> Result<(), String> {
        match self.0 .0 {
            Validate::Args(_) => Ok(()),
            Validate::Returns(returns) => with_garde(returns),
        }
    }
}

impl<A, R> Neither<'_, A, R> {
    pub fn lunora_validate(&self) -> Result<(), String> {
        Ok(())
    }
}

fn with_garde<T: garde::Validate<Context = ()>>(value: &T) -> Result<(), String> {
    value.validate().map_err(|report| {
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

#[cfg(test)]
mod tests {
    use super::check;
    use crate::reusable::Validate::{Args, Returns};

    struct Positive(u32);

    impl garde::Validate for Positive {
        type Context = ();
        fn validate_into(&self, _: &(), parent: &mut dyn FnMut() -> garde::Path, report: &mut garde::Report) {
            if self.0 < 1 {
                report.append(parent(), garde::Error::new("lower than 1"));
            }
        }
    }

    /// Validated with garde, but only with a `()` context: others are accepted as they are.
    struct WithContext;

    impl garde::Validate for WithContext {
        type Context = u8;
        fn validate_into(&self, _: &u8, parent: &mut dyn FnMut() -> garde::Path, report: &mut garde::Report) {
            report.append(parent(), garde::Error::new("never valid"));
        }
    }

    struct Plain;

    const BAD: Positive = Positive(0);

    #[test]
    fn garde_types_are_validated_and_others_accepted_on_either_side() {
        let failed = Err("lower than 1".to_string());
        assert_eq!(check::<Positive, Positive>(Args(&BAD)).lunora_validate(), failed);
        assert_eq!(check::<Positive, Positive>(Returns(&BAD)).lunora_validate(), failed);
        assert_eq!(check::<Positive, Positive>(Args(&Positive(2))).lunora_validate(), Ok(()));
        assert_eq!(check::<Positive, Plain>(Args(&BAD)).lunora_validate(), failed);
        assert_eq!(check::<Positive, Plain>(Returns(&Plain)).lunora_validate(), Ok(()));
        assert_eq!(check::<Plain, Positive>(Args(&Plain)).lunora_validate(), Ok(()));
        assert_eq!(check::<Plain, Positive>(Returns(&BAD)).lunora_validate(), failed);
        assert_eq!(check::<Plain, u64>(Args(&Plain)).lunora_validate(), Ok(()));
        assert_eq!(check::<u64, Plain>(Returns(&Plain)).lunora_validate(), Ok(()));
        assert_eq!(check::<WithContext, Positive>(Args(&WithContext)).lunora_validate(), Ok(()));
        assert_eq!(check::<WithContext, Positive>(Returns(&BAD)).lunora_validate(), failed);
    }
}
