//! Session recovery after a backend restart: the cooldown shared by every tab.
//!
//! The cooldown is the guard against the recovery loop an earlier version of these pages
//! had: every check writes its start time under [`LAST_ATTEMPT_KEY`], and no tab starts
//! another check until `cooldown_ms` later. Values other tabs (or old code) left there are
//! only trusted when they make sense, so a bad value can delay recovery by at most one
//! cooldown, never forever.

#[allow(unused_imports)]
use crate::prelude::*;

use super::{decimal, Millis};

/// The localStorage key holding the last attempt time (ms since the epoch, decimal).
pub const LAST_ATTEMPT_KEY: &str = "last_recovery_attempt";

/// The localStorage key of the credits cache that a recovery removes.
pub const CREDITS_CACHE_KEY: &str = "user_credits_cache";

/// Whether a recovery check may run now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cooldown {
    /// Run, and record `now` as the last attempt.
    Run,
    /// Another check ran recently; the next may run at `until`.
    Wait {
        /// Page-clock time when the cooldown ends.
        until: Millis,
    },
}

/// Decides whether a check may run at `now`, given the last attempt times on record (the
/// shared stored one and the in-memory fallback), each `None` when absent or unreadable.
///
/// A stamp later than `now + cooldown_ms` cannot have been written by a tab on this clock
/// (or the clock was set back), so it is ignored rather than obeyed.
///
/// ```
/// use session_keeper::core::recovery::{decide, Cooldown};
/// assert_eq!(decide(100_000, 30_000, &[Some(90_000)]), Cooldown::Wait { until: 120_000 });
/// assert_eq!(decide(100_000, 30_000, &[Some(60_000), None]), Cooldown::Run);
/// ```
pub fn decide(now: Millis, cooldown_ms: Millis, stamps: &[Option<Millis>]) -> Cooldown {
    let latest = stamps
        .iter()
        .flatten()
        .filter(|&&at| at <= now.saturating_add(cooldown_ms))
        .max();
    match latest {
        Some(&at) if now < at.saturating_add(cooldown_ms) => Cooldown::Wait {
            until: at.saturating_add(cooldown_ms),
        },
        _ => Cooldown::Run,
    }
}

/// Reads a stored attempt time: plain decimal digits only. Anything else (negative, a
/// fraction, an exponent, text, more digits than any real clock) reads as no stamp.
pub fn parse_stamp(raw: &str) -> Option<Millis> {
    let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    if raw.len() > 16 {
        return None;
    }
    decimal(raw)
}

/// Writes an attempt time the way pages store `Date.now()`: decimal digits.
pub fn format_stamp(at: Millis) -> String {
    super::digits(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Millis = 30_000;
    const NOW: Millis = 1_700_000_000_000;

    #[test]
    fn cooldown_table() {
        let cases: &[(&[Option<Millis>], Cooldown)] = &[
            (&[], Cooldown::Run),
            (&[None, None], Cooldown::Run),
            // Just ran, ran 29.999 s ago, ran exactly 30 s ago, ran long ago.
            (
                &[Some(NOW)],
                Cooldown::Wait {
                    until: NOW + COOLDOWN,
                },
            ),
            (&[Some(NOW - 29_999)], Cooldown::Wait { until: NOW + 1 }),
            (&[Some(NOW - COOLDOWN)], Cooldown::Run),
            (&[Some(0)], Cooldown::Run),
            // Slightly ahead (another tab's write racing ours): obeyed, so at most 2×.
            (
                &[Some(NOW + 5)],
                Cooldown::Wait {
                    until: NOW + 5 + COOLDOWN,
                },
            ),
            (
                &[Some(NOW + COOLDOWN)],
                Cooldown::Wait {
                    until: NOW + 2 * COOLDOWN,
                },
            ),
            // Far in the future: ignored, never blocks forever.
            (&[Some(NOW + COOLDOWN + 1)], Cooldown::Run),
            (&[Some(u64::MAX)], Cooldown::Run),
            // The later trusted stamp wins; an untrusted one does not hide a trusted one.
            (
                &[Some(NOW - 40_000), Some(NOW - 1_000)],
                Cooldown::Wait {
                    until: NOW + 29_000,
                },
            ),
            (
                &[Some(u64::MAX), Some(NOW - 1_000)],
                Cooldown::Wait {
                    until: NOW + 29_000,
                },
            ),
            (
                &[None, Some(NOW - 10_000)],
                Cooldown::Wait {
                    until: NOW + 20_000,
                },
            ),
        ];
        for (stamps, expected) in cases {
            assert_eq!(decide(NOW, COOLDOWN, stamps), *expected, "{stamps:?}");
        }
    }

    #[test]
    fn a_far_future_stamp_delays_nothing_and_a_near_one_at_most_two_cooldowns() {
        let near = NOW + COOLDOWN;
        let mut t = NOW;
        while decide(t, COOLDOWN, &[Some(near)]) != Cooldown::Run {
            t += 1_000;
        }
        assert!(t - NOW <= 2 * COOLDOWN);
    }

    #[test]
    fn stamps_parse_only_as_plain_digits() {
        assert_eq!(parse_stamp("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_stamp(" 42\n"), Some(42));
        for bad in [
            "",
            " ",
            "-5",
            "1.5",
            "1e12",
            "NaN",
            "null",
            "abc",
            "12abc",
            "+5",
            "99999999999999999",
        ] {
            assert_eq!(parse_stamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stamps_round_trip() {
        for at in [0, 7, 10, 1_700_000_000_123, 9_999_999_999_999_999] {
            assert_eq!(parse_stamp(&format_stamp(at)), Some(at));
        }
        assert_eq!(format_stamp(1_700_000_000_123), "1700000000123");
    }
}
