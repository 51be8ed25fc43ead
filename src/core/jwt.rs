//! Reading a JWT's timing claims (`exp`, `iat`).
//!
//! Nothing is verified here: checking the signature is the backend's job. The page only
//! needs to know when the token stops working, so that it refreshes first.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::Deserialize;

use super::Millis;

/// JWT segments are base64url without padding (RFC 7515 §2); some issuers pad anyway.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// NumericDates past year 9999 are garbage, not tokens that live for millennia.
const MAX_SECONDS: f64 = 253_402_300_800.0;

/// The timing claims of a token, converted to milliseconds of the issuer's clock.
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
    /// Not three dot-separated segments.
    NotAJwt,
    /// The payload is not base64url.
    BadEncoding,
    /// The payload is not a JSON object with numeric `exp`/`iat`.
    BadJson,
    /// `exp` or `iat` is negative, zero, fractional garbage or absurdly far away.
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

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
}

/// Reads `exp` and `iat` from a JWT, without verifying it.
///
/// ```
/// use session_keeper::core::jwt::{read_claims, ClaimsError};
/// // {"exp":1700000060,"iat":1700000000}
/// let token = "e30.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMH0.sig";
/// let claims = read_claims(token).unwrap();
/// assert_eq!(claims.expires_at, Some(1_700_000_060_000));
/// assert_eq!(read_claims("opaque-token"), Err(ClaimsError::NotAJwt));
/// ```
pub fn read_claims(token: &str) -> Result<Claims, ClaimsError> {
    let mut segments = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return Err(ClaimsError::NotAJwt);
    };
    if payload.is_empty() {
        return Err(ClaimsError::NotAJwt);
    }
    let json = BASE64URL.decode(payload).map_err(|_| ClaimsError::BadEncoding)?;
    // A claims set is a JSON object (RFC 7519 §4); serde would also read `[exp, iat]`.
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ClaimsError::BadJson);
    }
    let raw: RawClaims = serde_json::from_slice(&json).map_err(|_| ClaimsError::BadJson)?;
    Ok(Claims { expires_at: seconds_to_ms(raw.exp)?, issued_at: seconds_to_ms(raw.iat)? })
}

/// JWT times are seconds since the epoch (RFC 7519 NumericDate; fractions allowed).
fn seconds_to_ms(seconds: Option<f64>) -> Result<Option<Millis>, ClaimsError> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < MAX_SECONDS => Ok(Some((s * 1000.0) as Millis)),
        Some(_) => Err(ClaimsError::BadTime),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an unsigned JWT with the given payload JSON.
    pub(crate) fn jwt(payload: &str) -> String {
        ["e30.", &BASE64URL.encode(payload), ".sig"].concat()
    }

    #[test]
    fn reads_exp_and_iat_in_milliseconds() {
        let claims = read_claims(&jwt(r#"{"sub":"u1","exp":1700000060,"iat":1700000000}"#)).unwrap();
        assert_eq!(claims, Claims { expires_at: Some(1_700_000_060_000), issued_at: Some(1_700_000_000_000) });
    }

    #[test]
    fn fractional_seconds_and_missing_claims_are_fine() {
        let claims = read_claims(&jwt(r#"{"exp":1700000060.5}"#)).unwrap();
        assert_eq!(claims, Claims { expires_at: Some(1_700_000_060_500), issued_at: None });
        assert_eq!(read_claims(&jwt("{}")).unwrap(), Claims::default());
        assert_eq!(read_claims(&jwt(r#"{"exp":null}"#)).unwrap(), Claims::default());
    }

    #[test]
    fn padded_payloads_are_accepted() {
        let padded = ["e30.", &base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":10}"#), ".s"].concat();
        assert!(padded.contains('='));
        assert_eq!(read_claims(&padded).unwrap().expires_at, Some(10_000));
    }

    #[test]
    fn malformed_tokens_are_classified_not_panicked_on() {
        let cases: &[(&str, ClaimsError)] = &[
            ("", ClaimsError::NotAJwt),
            ("a.b", ClaimsError::NotAJwt),
            ("a.b.c.d", ClaimsError::NotAJwt),
            ("a..c", ClaimsError::NotAJwt),
            ("a.!!!.c", ClaimsError::BadEncoding),
            ("a.\u{e9}\u{e9}.c", ClaimsError::BadEncoding),
        ];
        for (token, expected) in cases {
            assert_eq!(read_claims(token), Err(*expected), "{token:?}");
        }
        for payload in [r#"[1,2]"#, r#""exp""#, r#"{"exp":"1700000000"}"#, "{", r#"{"exp":true}"#] {
            assert_eq!(read_claims(&jwt(payload)), Err(ClaimsError::BadJson), "{payload}");
        }
        for payload in [r#"{"exp":-5}"#, r#"{"exp":0}"#, r#"{"exp":1e300}"#, r#"{"iat":-1}"#] {
            assert_eq!(read_claims(&jwt(payload)), Err(ClaimsError::BadTime), "{payload}");
        }
    }
}
