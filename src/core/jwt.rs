//! The timing claims (`exp`, `iat`) of a JWT, and the rules for trusting them.
//!
//! Nothing is verified here: checking the signature is the backend's job. The page only
//! needs to know when the token stops working, so that it refreshes first. [`claims`]
//! decodes the payload (base64url, then the small JSON reader of [`super::json`]) in plain
//! Rust, so the whole path is fuzzed natively.

#[allow(unused_imports)]
use crate::prelude::*;

use super::json::{Object, Value};
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
    // A byte scan rather than `str::split`, which would bring a searcher along.
    let mut dots = token
        .bytes()
        .enumerate()
        .filter_map(|(at, byte)| (byte == b'.').then_some(at));
    match (dots.next(), dots.next(), dots.next()) {
        (Some(first), Some(second), None) => token
            .get(first + 1..second)
            .filter(|payload| !payload.is_empty())
            .ok_or(ClaimsError::NotAJwt),
        _ => Err(ClaimsError::NotAJwt),
    }
}

/// Decodes a `base64url` segment (RFC 4648 §5), padded or not, as the browser's
/// `atob` does with the segment turned into standard base64: trailing `=` are ignored, a length that leaves
/// one character over is refused, and the unused low bits of the last character are
/// dropped.
///
/// ```
/// use session_keeper::core::jwt::base64url_decode;
/// assert_eq!(base64url_decode("eyJ-_w").as_deref(), Ok(&b"{\"~\xff"[..]));
/// assert_eq!(base64url_decode("e30=").as_deref(), Ok(&b"{}"[..]));
/// assert!(base64url_decode("e30+").is_err(), "standard base64 is not base64url");
/// ```
pub fn base64url_decode(segment: &str) -> Result<Vec<u8>, ClaimsError> {
    let mut trimmed = segment.as_bytes();
    while let Some(rest) = trimmed.strip_suffix(b"=") {
        trimmed = rest;
    }
    if trimmed.len() % 4 == 1 {
        return Err(ClaimsError::BadEncoding);
    }
    let mut out = Vec::with_capacity(trimmed.len() / 4 * 3 + 2);
    let mut bits: u32 = 0;
    let mut count = 0;
    for &byte in trimmed {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return Err(ClaimsError::BadEncoding),
        };
        bits = (bits << 6 | u32::from(sextet)) & 0xfff;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Ok(out)
}

/// Reads `exp` and `iat` from a compact JWT. An absent or `null` claim is `None`; a claim
/// that is not a number is [`ClaimsError::BadJson`]; numbers then follow
/// [`Claims::from_seconds`]. Errors name the failing step and never include the token.
///
/// The results are those of the browser's `JSON.parse(atob(…))`: the payload's bytes need
/// not be UTF-8 (see [`super::json`]).
///
/// ```
/// use session_keeper::core::jwt::{claims, Claims, ClaimsError};
/// // {"exp":1700000060,"iat":1700000000}
/// let token = "x.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMH0.y";
/// assert_eq!(claims(token).unwrap().expires_at, Some(1_700_000_060_000));
/// assert_eq!(claims("x.eyJleHAiOiJzb29uIn0.y"), Err(ClaimsError::BadJson)); // {"exp":"soon"}
/// assert_eq!(claims("opaque"), Err(ClaimsError::NotAJwt));
/// ```
pub fn claims(token: &str) -> Result<Claims, ClaimsError> {
    let payload = base64url_decode(payload_segment(token)?)?;
    // A claims set is a JSON object (RFC 7519 §4), not an array or a scalar.
    let object = Object::parse_bytes(&payload).ok_or(ClaimsError::BadJson)?;
    let number = |name: &str| match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n)),
        Some(_) => Err(ClaimsError::BadJson),
    };
    Claims::from_seconds(number("exp")?, number("iat")?)
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

    /// base64url without padding, for building test tokens.
    fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    }

    fn token(payload: &[u8]) -> String {
        crate::core::join(&["eyJhbGciOiJIUzI1NiJ9.", &encode(payload), ".c2ln"])
    }

    #[test]
    fn base64url_decodes_padded_and_unpadded() {
        assert_eq!(base64url_decode("e30").as_deref(), Ok(&b"{}"[..]));
        assert_eq!(base64url_decode("e30=").as_deref(), Ok(&b"{}"[..]));
        assert_eq!(base64url_decode("").as_deref(), Ok(&b""[..]));
        assert_eq!(base64url_decode("AQID").as_deref(), Ok(&[1u8, 2, 3][..]));
        assert_eq!(base64url_decode("AQI").as_deref(), Ok(&[1u8, 2][..]));
        assert_eq!(base64url_decode("AQ==").as_deref(), Ok(&[1u8][..]));
        assert_eq!(
            base64url_decode("-_-_").as_deref(),
            Ok(&[0xfbu8, 0xff, 0xbf][..])
        );
        // Like atob, the unused low bits of the last character are dropped.
        assert_eq!(base64url_decode("e31").as_deref(), Ok(&b"{}"[..]));
        for bad in [
            "a",
            "abcde",
            "a+b/",
            "a b",
            "\u{e9}\u{e9}",
            "ab!!",
            "e3=0",
            "A===A",
        ] {
            assert_eq!(
                base64url_decode(bad),
                Err(ClaimsError::BadEncoding),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let read = |payload: &str| claims(&token(payload.as_bytes()));
        assert_eq!(
            read(r#"{"sub":"u","exp":1700000060,"iat":1700000000.5}"#),
            Ok(Claims {
                expires_at: Some(1_700_000_060_000),
                issued_at: Some(1_700_000_000_500)
            })
        );
        assert_eq!(read("{}"), Ok(Claims::default()));
        assert_eq!(read(r#"{"exp":null,"iat":null}"#), Ok(Claims::default()));
        assert_eq!(
            read(r#"{"\u0065xp":1700000060}"#).map(|c| c.expires_at),
            Ok(Some(1_700_000_060_000))
        );
        assert_eq!(
            read(r#"{"exp":1,"exp":1700000060}"#).map(|c| c.expires_at),
            Ok(Some(1_700_000_060_000)),
            "the last duplicate wins, as with JSON.parse"
        );
        assert_eq!(
            read(r#"{"nested":{"exp":"x"}}"#),
            Ok(Claims::default()),
            "only top-level claims count"
        );
        assert_eq!(read(r#"{"exp":"soon"}"#), Err(ClaimsError::BadJson));
        assert_eq!(read(r#"{"iat":true}"#), Err(ClaimsError::BadJson));
        assert_eq!(read(r#"{"exp":[1]}"#), Err(ClaimsError::BadJson));
        assert_eq!(read("[1,2]"), Err(ClaimsError::BadJson));
        assert_eq!(read("1700000060"), Err(ClaimsError::BadJson));
        assert_eq!(read(r#"{"exp":1,}"#), Err(ClaimsError::BadJson));
        assert_eq!(
            read(""),
            Err(ClaimsError::NotAJwt),
            "an empty payload segment"
        );
        assert_eq!(read(r#"{"exp":-1}"#), Err(ClaimsError::BadTime));
        assert_eq!(read(r#"{"exp":1e400}"#), Err(ClaimsError::BadTime));
        assert_eq!(read(r#"{"exp":-0}"#), Err(ClaimsError::BadTime));
        assert_eq!(
            read(r#"{"exp":"soon","iat":-1}"#),
            Err(ClaimsError::BadJson)
        );
        assert_eq!(read(r#"{"exp":-1,"iat":"x"}"#), Err(ClaimsError::BadJson));
    }

    #[test]
    fn payload_bytes_need_not_be_utf8() {
        // JSON.parse(atob(…)) reads each byte as one Latin-1 character.
        let mut payload = br#"{"name":""#.to_vec();
        payload.extend_from_slice(&[0xc3, 0xa9, 0xff, 0x80]);
        payload.extend_from_slice(br#"","exp":1700000060}"#);
        assert_eq!(
            claims(&token(&payload)).map(|c| c.expires_at),
            Ok(Some(1_700_000_060_000))
        );
        // Outside a string such a byte is invalid JSON, as it is for JSON.parse.
        assert_eq!(
            claims(&token(&[b'{', 0xa0, b'}'])),
            Err(ClaimsError::BadJson)
        );
    }

    #[test]
    fn the_browser_suites_malformed_tokens_fail_the_same_way() {
        // tests/session.rs malformed_tokens_are_used_as_opaque_without_breaking_anything, and
        // the step where src/web/jwt.rs (atob + JSON.parse) fails on each.
        for (token, error) in [
            ("not-a-jwt", ClaimsError::NotAJwt),
            ("a.b.c", ClaimsError::BadEncoding),
            ("a.!!!.c", ClaimsError::BadEncoding),
            ("x.WzEsMl0.y", ClaimsError::BadJson),
            ("x.eyJleHAiOiJzb29uIn0.y", ClaimsError::BadJson),
            ("x.eyJleHAiOi0xfQ.y", ClaimsError::BadTime),
            ("x.=.y", ClaimsError::BadJson),
        ] {
            assert_eq!(claims(token), Err(error), "{token}");
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
