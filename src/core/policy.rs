//! The numeric settings of a session, validated once at construction.

#[allow(unused_imports)]
use crate::prelude::*;

use super::error::Error;
use super::Millis;

/// `setTimeout` treats anything above 2³¹−1 ms as 0 (fires at once), so no setting may exceed it.
pub const MAX_TIMER_MS: Millis = 2_147_483_647;

/// Timing settings. Every field is validated by [`Policy::millis`] before it gets here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Refresh at least this often while started (`refreshIntervalMs`).
    pub refresh_interval_ms: Millis,
    /// Never send a token this close to its `exp` (`expiryMarginMs`).
    pub expiry_margin_ms: Millis,
    /// A `getToken` that takes longer counts as a failed refresh (`tokenTimeoutMs`).
    pub token_timeout_ms: Millis,
    /// A request that takes longer is aborted (`requestTimeoutMs`).
    pub request_timeout_ms: Millis,
    /// At most one session-recovery check per this many ms, all tabs together
    /// (`recoveryCooldownMs`).
    pub recovery_cooldown_ms: Millis,
}

impl Default for Policy {
    /// 50 s refresh (Clerk tokens live ~60 s), 10 s margin, 10 s provider timeout, 30 s
    /// request timeout, 30 s recovery cooldown.
    fn default() -> Self {
        Policy {
            refresh_interval_ms: 50_000,
            expiry_margin_ms: 10_000,
            token_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            recovery_cooldown_ms: 30_000,
        }
    }
}

impl Policy {
    /// Validates one millisecond setting: absent means `default`; otherwise it must be a
    /// finite whole number in `[min, MAX_TIMER_MS]`. The error names `field`.
    ///
    /// ```
    /// use session_keeper::core::policy::Policy;
    /// assert_eq!(Policy::millis("refreshIntervalMs", None, 50_000, 1), Ok(50_000));
    /// assert_eq!(Policy::millis("refreshIntervalMs", Some(200.0), 50_000, 1), Ok(200));
    /// assert!(Policy::millis("refreshIntervalMs", Some(-1.0), 50_000, 1).is_err());
    /// ```
    pub fn millis(
        field: &str,
        value: Option<f64>,
        default: Millis,
        min: Millis,
    ) -> Result<Millis, Error> {
        let Some(v) = value else { return Ok(default) };
        // Whole: every float from 2^53 up is one; below, the round trip through i64 says.
        let whole = v.abs() >= 9_007_199_254_740_992.0 || (v as i64) as f64 == v;
        if !v.is_finite() || !whole {
            return Err(Error::config(
                field,
                "must be a whole number of milliseconds",
            ));
        }
        if v < min as f64 {
            return Err(Error::config(
                field,
                if min == 0 {
                    "must not be negative"
                } else {
                    "must be at least 1"
                },
            ));
        }
        if v > MAX_TIMER_MS as f64 {
            return Err(Error::config(
                field,
                "must be at most 2147483647 (the browser timer limit)",
            ));
        }
        Ok(v as Millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ErrorCode;

    #[test]
    fn rejects_non_numbers_and_out_of_range_naming_the_field() {
        for bad in [f64::NAN, f64::INFINITY, 1.5, -1.0, 0.0, 3e9] {
            let err = Policy::millis("tokenTimeoutMs", Some(bad), 10, 1).unwrap_err();
            assert_eq!(err.code, ErrorCode::Config);
            assert!(
                err.message.starts_with("tokenTimeoutMs "),
                "{}",
                err.message
            );
        }
        assert_eq!(Policy::millis("expiryMarginMs", Some(0.0), 10, 0), Ok(0));
        assert_eq!(
            Policy::millis("x", Some(MAX_TIMER_MS as f64), 10, 1),
            Ok(MAX_TIMER_MS)
        );
    }
}
