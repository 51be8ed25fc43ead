//! The session policy, in plain Rust: no `web-sys`, no `js-sys`, no clock of its own.
//!
//! Every function here takes the current time as an argument, so the whole policy runs
//! natively under `cargo test` on a virtual clock. The browser layer (`crate::web`) only
//! carries out what this module decides.

#[allow(unused_imports)]
use crate::prelude::*;

pub mod action;
pub mod backoff;
pub mod credits;
pub mod error;
pub mod event;
pub mod json;
pub mod jwt;
pub mod machine;
pub mod policy;
pub mod recovery;
pub mod refusal;
pub mod session;
pub mod stability;

// Native only: proptest does not build for wasm32 (the browser suites build the lib's
// tests too).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fuzz;

/// Milliseconds since the Unix epoch, as the page's clock reads them.
pub type Millis = u64;

/// Reads plain decimal digits (no sign, point or exponent), saturating at `u64::MAX`.
/// `None` for an empty string or any other character. Stored stamps and `Retry-After`
/// seconds are both read with it; `str::parse` would accept a leading `+`.
pub fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_reads_digits_only_and_saturates() {
        use super::decimal;
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("1700000000123"), Some(1_700_000_000_123));
        assert_eq!(decimal("99999999999999999999999"), Some(u64::MAX));
        for bad in ["", " 1", "-5", "+5", "1.5", "1e3", "abc"] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }
}
