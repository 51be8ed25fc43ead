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
#[cfg(feature = "std")]
pub mod fake_jwt;
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

/// Takes item `index` out of `items` (the last one takes its place), if there is one.
/// `Vec::swap_remove` would do, but its bounds assert formats a message, which pulls
/// `core::fmt` into the module; checked here, the optimizer drops that branch.
pub fn take<T>(items: &mut Vec<T>, index: usize) -> Option<T> {
    (index < items.len()).then(|| items.swap_remove(index))
}

/// `parts` joined into one `String`. `crate::core::join(&[..])` would do, but its overflow check
/// panics with a formatted message, which pulls `core::fmt` into the module.
pub fn join(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}

/// `n` in decimal digits, without `core::fmt`.
pub fn digits(n: u64) -> String {
    let mut out = String::new();
    let mut div = 1u64;
    while n / div >= 10 {
        div *= 10;
    }
    while div > 0 {
        out.push(char::from(b'0' + (n / div % 10) as u8));
        div /= 10;
    }
    out
}

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
