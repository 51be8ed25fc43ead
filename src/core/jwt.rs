//! The timing claims (`exp`, `iat`) of a JWT, and the rules for trusting them.
//!
//! Nothing is verified here: checking the signature is the backend's job. The page only
//! needs to know when the token stops working, so that it refreshes first. The browser
//! decodes the payload (`atob`, `JSON.parse`: `claimsOf` in `js/runtime.js`); the rules for
//! trusting what it found are here, fuzzed natively. (A Rust base64 and JSON reader did the
//! decoding before, at 3.5 KB gzip: docs/size.md.)

#[allow(unused_imports)]
use crate::prelude::*;

use super::Millis;

/// NumericDates past year 9999 are garbage, not tokens that live for millennia.
const MAX_SECONDS: f64 = 253_402_300_800.0;

/// The timing claims of a token, in milliseconds of the issuer's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// `exp`: when the issuer stops accepting the token.
    pub expires_at: Option<Millis>,
    /// `iat`: when the issuer made it; compared with the page clock to learn skew.
    pub issued_at: Option<Millis>,
}

/// Why a token's claims could not be read. The token is then treated as opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimsError {
    /// Not three dot-separated segments with a non-empty payload.
    NotAJwt,
    /// The payload is not base64url.
    BadEncoding,
    /// The payload is not a JSON object, or `exp`/`iat` is not a number.
    BadJson,
    /// `exp` or `iat` is negative, zero, not finite, or absurdly far away.
    BadTime,
}

impl ClaimsError {
    /// A short description for logs (never includes the token).
    pub const fn describe(self) -> &'static str {
        match self {
            ClaimsError::NotAJwt => "token is not a JWT",
            ClaimsError::BadEncoding => "JWT payload is not base64url",
            ClaimsError::BadJson => "JWT payload is not a JSON object with numeric exp/iat",
            ClaimsError::BadTime => "JWT exp/iat is out of range",
        }
    }
}

/// The payload segment of a compact JWT (`header.payload.signature`).
///
/// What the browser read of a JWT (it decodes the payload with `atob` and `JSON.parse`):
/// its `exp` and `iat` when they are numbers or absent, or why it could not.
pub type Decoded = Result<(Option<f64>, Option<f64>), ClaimsError>;

/// A token's claims from what the browser decoded, by the rules of [`Claims::from_seconds`].
///
/// ```
/// use session_keeper::core::jwt::{claims, ClaimsError};
/// assert_eq!(claims(Ok((Some(1_700_000_060.0), None))).unwrap().expires_at, Some(1_700_000_060_000));
/// assert_eq!(claims(Err(ClaimsError::BadJson)), Err(ClaimsError::BadJson));
/// assert_eq!(claims(Ok((Some(-1.0), None))), Err(ClaimsError::BadTime));
/// ```
pub fn claims(decoded: Decoded) -> Result<Claims, ClaimsError> {
    decoded.and_then(|(exp, iat)| Claims::from_seconds(exp, iat))
}

impl Claims {
    /// Validates `exp` and `iat` as RFC 7519 NumericDates (seconds; fractions allowed).
    ///
    /// ```
    /// use session_keeper::core::jwt::Claims;
    /// let claims = Claims::from_seconds(Some(1_700_000_060.5), None).unwrap();
    /// assert_eq!(claims.expires_at, Some(1_700_000_060_500));
    /// assert!(Claims::from_seconds(Some(-1.0), None).is_err());
    /// ```
    pub fn from_seconds(exp: Option<f64>, iat: Option<f64>) -> Result<Claims, ClaimsError> {
        Ok(Claims {
            expires_at: seconds_to_ms(exp)?,
            issued_at: seconds_to_ms(iat)?,
        })
    }
}

fn seconds_to_ms(seconds: Option<f64>) -> Result<Option<Millis>, ClaimsError> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < MAX_SECONDS => Ok(Some((s * 1000.0) as Millis)),
        Some(_) => Err(ClaimsError::BadTime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates_are_validated() {
        assert_eq!(
            Claims::from_seconds(Some(1_700_000_060.0), Some(1_700_000_000.0)),
            Ok(Claims {
                expires_at: Some(1_700_000_060_000),
                issued_at: Some(1_700_000_000_000)
            })
        );
        assert_eq!(Claims::from_seconds(None, None), Ok(Claims::default()));
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(
                Claims::from_seconds(Some(bad), None),
                Err(ClaimsError::BadTime),
                "exp {bad}"
            );
            assert_eq!(
                Claims::from_seconds(None, Some(bad)),
                Err(ClaimsError::BadTime),
                "iat {bad}"
            );
        }
        for error in [
            ClaimsError::NotAJwt,
            ClaimsError::BadEncoding,
            ClaimsError::BadJson,
        ] {
            assert_eq!(claims(Err(error)), Err(error));
        }
    }
}
