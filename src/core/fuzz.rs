//! Fuzz targets (proptest, native) for every parser and reading rule the core owns:
//! decimal digits, stored stamps, `Retry-After`, `with_refresh`, config values, and the
//! rules applied to what the browser decodes (a token's claims, a credits body, a refusal).
//!
//! Each target checks that arbitrary input never panics, and structured properties against
//! an expectation computed independently.
//!
//! `cargo test --lib` runs proptest's default number of cases per target (256), which keeps
//! the whole suite fast; `PROPTEST_CASES` overrides it for a long run:
//!
//! ```text
//! CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
//!   CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!   PROPTEST_CASES=1000000 cargo test --release --lib core::fuzz
//! ```
//!
//! (Optimised for speed, with overflow checks and debug assertions kept on, so an
//! arithmetic overflow is a failure as it would be in a debug build.)
//!
//! Byte-level decoding (base64, the JSON grammar) is the browser's: `atob` and `JSON.parse`
//! in `js/runtime.js` (`claimsOf`, `facts`). A Rust reader did it before (fuzzed with
//! serde_json as the oracle, 99 million cases, no failure); it cost 3.5 KB gzip of the
//! shipped module, which the size budget could not carry (docs/size.md).

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::action::Body;
use super::credits::{classify, read_credits, retry_after_ms, with_refresh, Reading};
use super::error::ErrorCode;
use super::jwt::{claims, Claims, ClaimsError};
use super::policy::{Policy, MAX_TIMER_MS};
use super::recovery::{format_stamp, parse_stamp};
use super::refusal::asks_for_refresh;
use super::{decimal, Millis};

/// proptest's defaults (including `PROPTEST_CASES`), without writing failure files into the
/// source tree: failures become regression tests by hand.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// Digits: decimal, stored stamps, Retry-After.

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decimal_never_panics(text in any::<String>()) {
        let read = decimal(&text);
        prop_assert_eq!(read.is_some(), !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn decimal_reads_digits_saturating(text in "[0-9]{1,38}") {
        let exact = text.parse::<u128>().unwrap();
        prop_assert_eq!(decimal(&text), Some(u64::try_from(exact).unwrap_or(u64::MAX)));
    }

    #[test]
    fn decimal_round_trips(n in any::<u64>()) {
        prop_assert_eq!(decimal(&n.to_string()), Some(n));
    }

    #[test]
    fn decimal_refuses_any_other_character(head in "[0-9]{0,4}", bad in "[^0-9]", tail in "[0-9]{0,4}") {
        prop_assert_eq!(decimal(&[head, bad, tail].concat()), None);
    }

    #[test]
    fn stamps_never_panic(text in any::<String>()) {
        let trimmed = text.trim();
        let expected = (trimmed.len() <= 16).then(|| decimal(trimmed)).flatten();
        prop_assert_eq!(parse_stamp(&text), expected);
    }

    #[test]
    fn stamps_round_trip(at in 0u64..10_000_000_000_000_000, before in "[ \t\n]{0,2}", after in "[ \t\n]{0,2}") {
        let stored = format_stamp(at);
        prop_assert_eq!(&stored, &at.to_string());
        prop_assert_eq!(parse_stamp(&[before.as_str(), &stored, &after].concat()), Some(at));
    }

    #[test]
    fn stamps_past_16_digits_are_refused(at in 10_000_000_000_000_000u64..) {
        prop_assert_eq!(format_stamp(at), at.to_string());
        prop_assert_eq!(parse_stamp(&format_stamp(at)), None);
    }

    #[test]
    fn retry_after_never_panics(header in any::<String>(), now in any::<u64>(), date in any::<Option<u64>>()) {
        let mut asked = None;
        let got = retry_after_ms(&header, now, |value| {
            asked = Some(value.to_string());
            date
        });
        let value = header.trim();
        let expected = if value.is_empty() {
            None
        } else if let Some(seconds) = decimal(value) {
            Some(seconds.saturating_mul(1_000))
        } else {
            date.map(|at| at.saturating_sub(now))
        };
        prop_assert_eq!(got, expected);
        // The date parser sees the trimmed value, and only when it is not delay-seconds.
        let date_asked = !value.is_empty() && decimal(value).is_none();
        prop_assert_eq!(asked.as_deref(), date_asked.then_some(value));
    }

    #[test]
    fn retry_after_seconds(seconds in any::<u64>(), before in "[ \t]{0,2}", after in "[ \t]{0,2}", now in any::<u64>()) {
        let header = [before.as_str(), &seconds.to_string(), &after].concat();
        let got = retry_after_ms(&header, now, |_| panic!("delay-seconds are not a date"));
        prop_assert_eq!(got, Some(seconds.saturating_mul(1_000)));
    }

    #[test]
    fn retry_after_dates(
        day in prop::sample::select(vec!["Mon", "Tue", "Wed"]),
        at in any::<u64>(),
        now in any::<u64>(),
        readable in any::<bool>(),
    ) {
        let header = [day, ", 21 Oct 2015 07:28:00 GMT"].concat();
        let got = retry_after_ms(&header, now, |value| {
            assert_eq!(value, header);
            readable.then_some(at)
        });
        prop_assert_eq!(got, readable.then(|| at.saturating_sub(now)));
    }
}

// ---------------------------------------------------------------------------------------
// URLs and config values.

proptest! {
    #![proptest_config(config())]

    #[test]
    fn with_refresh_never_panics_and_adds_one_parameter(url in any::<String>()) {
        check_with_refresh(&url)?;
    }

    #[test]
    fn with_refresh_on_url_shapes(url in "(https://a\\.example)?/[a-z/]{0,8}(\\?([a-z]{1,3}=[0-9]{0,2}&?){0,3})?(#[a-z?&#=]{0,6})?") {
        check_with_refresh(&url)?;
    }

    #[test]
    fn policy_millis_accepts_exactly_whole_timer_values(
        field in "[A-Za-z.]{1,20}",
        value in prop_oneof![
            any::<f64>(),
            (-5i64..=5).prop_map(|v| v as f64),
            (MAX_TIMER_MS as i64 - 3..=MAX_TIMER_MS as i64 + 3).prop_map(|v| v as f64),
            any::<i64>().prop_map(|v| v as f64),
            Just(-0.0),
            Just(f64::MIN_POSITIVE / 2.0),
        ],
        default in any::<u64>(),
        min in 0u64..=2,
    ) {
        prop_assert_eq!(Policy::millis(&field, None, default, min), Ok(default));
        let valid = value.is_finite()
            && value == value.trunc()
            && value >= min as f64
            && value <= MAX_TIMER_MS as f64;
        match Policy::millis(&field, Some(value), default, min) {
            Ok(ms) => {
                prop_assert!(valid, "accepted {value}");
                prop_assert_eq!(ms as f64, value);
            }
            Err(error) => {
                prop_assert!(!valid, "refused {value}");
                prop_assert_eq!(error.code, ErrorCode::Config);
                prop_assert!(error.message.starts_with(&[field.as_str(), " "].concat()), "{}", error.message);
            }
        }
    }
}

fn check_with_refresh(url: &str) -> Result<(), TestCaseError> {
    let out = with_refresh(url);
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    // The fragment is kept as it was, after the new parameter.
    let suffix = fragment.map(|f| ["#", f].concat()).unwrap_or_default();
    prop_assert!(
        out.starts_with(base) && out.ends_with(&suffix),
        "{url:?} -> {out:?}"
    );
    let added = &out[base.len()..out.len() - suffix.len()];
    let joiner = added.strip_suffix("refresh=true");
    prop_assert!(matches!(joiner, Some("" | "?" | "&")), "{url:?} -> {out:?}");
    // A query is started only where there was none; no empty parameter is made.
    let new_base = &out[..out.len() - suffix.len()];
    prop_assert_eq!(joiner == Some("?"), !base.contains('?'));
    prop_assert!(!new_base.ends_with("&&refresh=true") || base.ends_with("&&"));
    prop_assert!(!new_base.contains("?&refresh=true") || base.ends_with("?&"));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The rules on what the browser decoded.

/// What RFC 7519 NumericDates the core accepts: absent, or finite, positive and before the
/// year 10000, in seconds.
fn expected_time(seconds: Option<f64>) -> Result<Option<Millis>, ClaimsError> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < 253_402_300_800.0 => {
            Ok(Some((s * 1000.0) as Millis))
        }
        Some(_) => Err(ClaimsError::BadTime),
    }
}

fn seconds() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        any::<f64>().prop_map(Some),
        (0u64..4_000_000_000).prop_map(|s| Some(s as f64)),
        (0u64..4_000_000_000_000).prop_map(|ms| Some(ms as f64 / 1000.0)),
        Just(Some(f64::NAN)),
        Just(Some(f64::INFINITY)),
        Just(Some(-1.0)),
        Just(Some(253_402_300_800.0)),
    ]
}

fn body() -> impl Strategy<Value = Option<Body>> {
    let number = prop_oneof![
        Just(None),
        any::<f64>().prop_map(Some),
        (0u32..1_000_000).prop_map(|n| Some(f64::from(n)))
    ];
    prop_oneof![
        Just(None),
        (any::<bool>(), any::<bool>(), number, any::<Option<bool>>()).prop_map(
            |(requires_refresh, detail_requires_refresh, credits, success)| Some(Body {
                requires_refresh,
                detail_requires_refresh,
                credits,
                success,
            })
        ),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn claims_follow_the_numeric_date_rules(exp in seconds(), iat in seconds()) {
        let expected = expected_time(exp).and_then(|e| Ok(Claims { expires_at: e, issued_at: expected_time(iat)? }));
        prop_assert_eq!(claims(Ok((exp, iat))), expected);
    }

    #[test]
    fn claims_keep_why_a_token_could_not_be_decoded(kind in 0usize..3) {
        let error = [ClaimsError::NotAJwt, ClaimsError::BadEncoding, ClaimsError::BadJson][kind];
        prop_assert_eq!(claims(Err(error)), Err(error));
    }

    #[test]
    fn credits_readings_follow_the_rules(credits in any::<Option<f64>>(), success in any::<Option<bool>>()) {
        let expected = if success == Some(false) { None } else { credits.filter(|n| n.is_finite() && *n >= 0.0) };
        prop_assert_eq!(read_credits(credits, success), expected);
    }

    #[test]
    fn refusals_ask_for_a_refresh_only_as_specified(status in any::<u16>(), body in body()) {
        let flagged = body.is_some_and(|b| b.requires_refresh || b.detail_requires_refresh);
        prop_assert_eq!(asks_for_refresh(status, body.as_ref()), status == 401 || (status == 403 && flagged));
    }

    #[test]
    fn credits_answers_are_classified_without_panicking(status in any::<u16>(), body in body(), retry in any::<Option<u64>>()) {
        match classify(status, body.as_ref(), retry) {
            Reading::Credits(n) => {
                prop_assert!((200..300).contains(&status) && n.is_finite() && n >= 0.0);
            }
            Reading::Transient { error, retry_after_ms } => {
                prop_assert!(status == 429 || (500..600).contains(&status));
                prop_assert_eq!(error.code, ErrorCode::Server);
                prop_assert_eq!(retry_after_ms, retry);
            }
            Reading::Final(error) => prop_assert!(matches!(error.code, ErrorCode::Unauthenticated | ErrorCode::BadResponse)),
        }
    }
}
