//! The dispatch endpoint's bearer token: `Authorization: Bearer <LUNORA_ADMIN_TOKEN>`,
//! compared in constant time so the answer's timing does not tell how much of a guess matched.

use std::fmt;

use subtle::ConstantTimeEq;

use crate::env::Env;
use crate::error::{Error, Result};
use crate::secret::MIN_SECRET_CHARS;

/// The variable holding the token callers must present.
pub const TOKEN_VAR: &str = "LUNORA_ADMIN_TOKEN";

/// The configured token. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// The token from `env`'s `LUNORA_ADMIN_TOKEN`: refused when missing, blank or shorter
    /// than the 8 characters `ctx.run` itself requires, since an endpoint that accepted any
    /// caller would run functions for anyone who can reach it.
    pub fn from_env(env: &Env) -> Result<Self> {
        let token = env.var(TOKEN_VAR).unwrap_or_default();
        if token.trim().is_empty() {
            return Err(Error::non_retryable(format!(
                "the dispatch endpoint needs the environment variable {TOKEN_VAR} (the token ctx.run \
                 sends as `Authorization: Bearer …`); set it in the Worker's vars or secrets, or the \
                 Env the endpoint is built with. Nothing is served without it."
            )));
        }
        let length = token.chars().count();
        if length < MIN_SECRET_CHARS {
            return Err(Error::non_retryable(format!(
                "{TOKEN_VAR} is {length} characters long; the dispatch endpoint needs at least \
                 {MIN_SECRET_CHARS} (use a long random token)"
            )));
        }
        Ok(Self(token.to_owned()))
    }

    /// Whether `authorization` (the header's value, if any) is `Bearer <token>`. The scheme is
    /// case-insensitive (RFC 9110); the token is compared in constant time (only its length
    /// can show in timing).
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else { return false };
        let Some((scheme, presented)) = split_scheme(value) else { return false };
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return false;
        }
        presented.ct_eq(self.0.as_bytes()).into()
    }
}

/// `Bearer <token>` → (`Bearer`, `<token>`): one space, no other whitespace around the token.
fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = value.iter().position(|&b| b == b' ')?;
    Some((&value[..space], &value[space + 1..]))
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> AdminToken {
        AdminToken::from_env(&Env::new().with_var(TOKEN_VAR, "s3cret-token-value")).unwrap()
    }

    #[test]
    fn accepts_only_the_exact_bearer_token() {
        let t = token();
        assert!(t.accepts(Some(b"Bearer s3cret-token-value")));
        assert!(t.accepts(Some(b"bearer s3cret-token-value")));
        for wrong in [
            &b"Bearer s3cret-token-valuE"[..],
            b"Bearer s3cret-token-value ",
            b"Bearer  s3cret-token-value",
            b"Bearer s3cret-token-valu",
            b"Basic s3cret-token-value",
            b"s3cret-token-value",
            b"Bearer",
            b"",
        ] {
            assert!(!t.accepts(Some(wrong)), "{:?}", String::from_utf8_lossy(wrong));
        }
        assert!(!t.accepts(None));
    }

    #[test]
    fn a_missing_blank_or_short_token_refuses_to_serve() {
        for env in [Env::new(), Env::new().with_var(TOKEN_VAR, "  "), Env::new().with_var(TOKEN_VAR, "short")] {
            let error = AdminToken::from_env(&env).unwrap_err();
            assert!(error.message().contains(TOKEN_VAR), "{error}");
        }
        assert_eq!(format!("{:?}", token()), "AdminToken([REDACTED])");
    }
}
