//! The timing claims (`exp`, `iat`) of a JWT, and the rules for trusting them.
//!
//! Nothing is verified here: checking the signature is the backend's job. The page only
//! needs to know when the token stops working, so that it refreshes first. Decoding the
//! payload (base64url, then JSON) is left to the browser's own `atob` and `JSON.parse`
//! (`crate::web::jwt`). A JSON parser compiled into the module would cost more than the
//! whole size budget allows.

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
/// ```
/// use session_keeper::core::jwt::{payload_segment, ClaimsError};
/// assert_eq!(payload_segment("h.p.s"), Ok("p"));
/// assert_eq!(payload_segment("opaque-token"), Err(ClaimsError::NotAJwt));
/// ```
pub fn payload_segment(token: &str) -> Result<&str, ClaimsError> {
    let mut segments = token.split('.');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(_), Some(payload), Some(_), None) if !payload.is_empty() => Ok(payload),
        _ => Err(ClaimsError::NotAJwt),
    }
}

/// Turns `base64url` into standard, padded base64, for `atob`. Refuses anything else.
///
/// ```
/// use session_keeper::core::jwt::base64url_to_base64;
/// assert_eq!(base64url_to_base64("eyJ-_w").as_deref(), Ok("eyJ+/w=="));
/// assert!(base64url_to_base64("a b").is_err());
/// ```
pub fn base64url_to_base64(segment: &str) -> Result<String, ClaimsError> {
    let trimmed = segment.trim_end_matches('=');
    if trimmed.len() % 4 == 1 {
        return Err(ClaimsError::BadEncoding);
    }
    let mut out = String::with_capacity(trimmed.len() + 3);
    for c in trimmed.chars() {
        out.push(match c {
            '-' => '+',
            '_' => '/',
            c if c.is_ascii_alphanumeric() => c,
            _ => return Err(ClaimsError::BadEncoding),
        });
    }
    while out.len() % 4 != 0 {
        out.push('=');
    }
    Ok(out)
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
    fn splits_compact_jwts_only() {
        assert_eq!(payload_segment("a.b.c"), Ok("b"));
        for bad in ["", "abc", "a.b", "a.b.c.d", "a..c", "..", "..."] {
            assert_eq!(payload_segment(bad), Err(ClaimsError::NotAJwt), "{bad:?}");
        }
    }

    #[test]
    fn base64url_is_translated_and_padded() {
        assert_eq!(base64url_to_base64("e30").as_deref(), Ok("e30="));
        assert_eq!(
            base64url_to_base64("e30=").as_deref(),
            Ok("e30="),
            "padded input is accepted"
        );
        assert_eq!(base64url_to_base64("ab").as_deref(), Ok("ab=="));
        assert_eq!(base64url_to_base64("abcd").as_deref(), Ok("abcd"));
        for bad in ["a", "abcde", "a+b/", "a b", "\u{e9}\u{e9}", "ab!!"] {
            assert_eq!(
                base64url_to_base64(bad),
                Err(ClaimsError::BadEncoding),
                "{bad:?}"
            );
        }
    }

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
    }
}
