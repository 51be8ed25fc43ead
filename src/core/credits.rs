//! Reading the credits counter: what a reading means and when to try again.
//!
//! A restarted backend answers 0 for a user who has credits until the session is
//! re-established, and an overloaded one answers 5xx or 429. Both are worth a few
//! spaced-out retries; nothing else is.

#[allow(unused_imports)]
use crate::prelude::*;

use super::action::Body;
use super::backoff::Backoff;
use super::error::{Error, ErrorCode};
use super::{decimal, Millis};

/// Retry settings (`credits` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditsPolicy {
    /// Retries after the first read (`maxRetries`).
    pub max_retries: u32,
    /// The first delay; each further delay doubles (`baseDelayMs`).
    pub base_delay_ms: Millis,
    /// No delay exceeds this, and a longer `Retry-After` ends the retries (`maxDelayMs`).
    pub max_delay_ms: Millis,
    /// Whether each delay is drawn from its upper half, so that pages that failed together
    /// do not retry together. Always on in the browser (the config has no such field); off
    /// gives the plain `base·2ⁿ` schedule of the pages this library replaced, which the
    /// restart-herd benchmark (`examples/herd.rs`) keeps as its baseline.
    pub jitter: bool,
}

/// The largest `maxRetries` accepted: more than this only hides a broken backend.
pub const MAX_RETRIES_LIMIT: u32 = 10;

impl Default for CreditsPolicy {
    /// 3 retries after 1 s, 2 s, 4 s (each jittered into its upper half), no delay over 30 s.
    fn default() -> Self {
        CreditsPolicy {
            max_retries: 3,
            base_delay_ms: 1_000,
            max_delay_ms: 30_000,
            jitter: true,
        }
    }
}

/// The outcome of one read of the credits endpoint.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading {
    /// The endpoint answered a credits value.
    Credits(f64),
    /// Worth another try: the request failed on the network, timed out, or the server
    /// answered 5xx or 429 (with its `Retry-After`, when it sent one).
    Transient {
        /// Why this read failed, reported if no retry succeeds.
        error: Error,
        /// How long the server asked us to wait.
        retry_after_ms: Option<Millis>,
    },
    /// Another try cannot help: no session, or a status or body the library cannot use.
    Final(Error),
}

/// What to do after a reading.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// Report this value.
    Done(f64),
    /// Wait `delay_ms`, then read again. `zero` says the reading was a suspicious 0, so a
    /// recovery check should run and the next read should bypass the server's cache.
    Retry {
        /// How long to wait.
        delay_ms: Millis,
        /// Whether this retry follows a suspicious zero.
        zero: bool,
    },
    /// Give up with this error.
    Fail(Error),
}

/// The retry plan of one `updateCredits()` call.
#[derive(Clone, Debug)]
pub struct CreditsRetry {
    delays: Backoff,
    max_delay_ms: Millis,
    /// The delay of the one check a zero still gets when transient failures spent every
    /// retry before it (0: none left, a zero was checked already or retries are off).
    zero_check_ms: Millis,
}

impl CreditsRetry {
    /// A plan for `policy`, with jitter drawn from `seed` (unless `policy.jitter` is off).
    pub fn new(policy: CreditsPolicy, seed: u64) -> Self {
        let delays = Backoff::new(policy.base_delay_ms, policy.max_delay_ms)
            .with_max_times(policy.max_retries);
        CreditsRetry {
            delays: if policy.jitter {
                delays.with_jitter(seed)
            } else {
                delays
            },
            max_delay_ms: policy.max_delay_ms,
            zero_check_ms: if policy.max_retries > 0 {
                policy.base_delay_ms.max(1)
            } else {
                0
            },
        }
    }

    /// Decides what follows `reading`, for a user who is `authenticated` or not.
    ///
    /// ```
    /// use session_keeper::core::credits::{CreditsPolicy, CreditsRetry, Next, Reading};
    /// let mut plan = CreditsRetry::new(CreditsPolicy { max_retries: 1, ..Default::default() }, 1);
    /// assert!(matches!(plan.next(Reading::Credits(0.0), true), Next::Retry { zero: true, .. }));
    /// assert_eq!(plan.next(Reading::Credits(0.0), true), Next::Done(0.0));
    /// ```
    pub fn next(&mut self, reading: Reading, authenticated: bool) -> Next {
        match reading {
            Reading::Credits(value) if credits_look_healthy(value, authenticated) => {
                Next::Done(value)
            }
            // After the last retry a zero is reported as read: it may be the truth. But a
            // zero gets one session check in every run: when an outage spent the retries on
            // failures, the first zero after it is the restarted backend's, and one check
            // (and one read after it) past the plan is what heals it.
            Reading::Credits(value) => match self.delays.next() {
                Some(delay_ms) => {
                    self.zero_check_ms = 0;
                    Next::Retry {
                        delay_ms,
                        zero: true,
                    }
                }
                None if self.zero_check_ms > 0 => Next::Retry {
                    delay_ms: core::mem::take(&mut self.zero_check_ms),
                    zero: true,
                },
                None => Next::Done(value),
            },
            Reading::Transient {
                retry_after_ms: Some(asked),
                ..
            } if asked > self.max_delay_ms => Next::Fail(Error::new(
                ErrorCode::Server,
                "Retry-After asked for longer than credits.maxDelayMs",
            )),
            Reading::Transient {
                error,
                retry_after_ms,
            } => match self.delays.next() {
                Some(delay_ms) => Next::Retry {
                    delay_ms: delay_ms.max(retry_after_ms.unwrap_or(0)),
                    zero: false,
                },
                None => Next::Fail(error),
            },
            Reading::Final(error) => Next::Fail(error),
        }
    }
}

/// Whether a credits reading looks like a working session. Zero is what a restarted
/// backend answers for a user who has credits, so for a signed-in user it is suspicious.
/// Both the recovery check's credits probe and `updateCredits` judge readings by it.
pub fn credits_look_healthy(credits: f64, authenticated: bool) -> bool {
    credits != 0.0 || !authenticated
}

/// Reads a credits body: `{"credits": n}` or `{"success": true, "credits": n}`, where `n` is
/// a finite number that is not negative. `success: false` is a refusal, whatever else it says.
pub fn read_credits(credits: Option<f64>, success: Option<bool>) -> Option<f64> {
    if success == Some(false) {
        return None;
    }
    credits.filter(|n| n.is_finite() && *n >= 0.0)
}

/// The credits URL for a read that must bypass the server's cache: `refresh=true` added to
/// the query, before any fragment.
///
/// ```
/// use session_keeper::core::credits::with_refresh;
/// assert_eq!(with_refresh("https://a.example/auth/credits"), "https://a.example/auth/credits?refresh=true");
/// assert_eq!(with_refresh("https://a.example/c?u=1#x"), "https://a.example/c?u=1&refresh=true#x");
/// ```
pub fn with_refresh(url: &str) -> String {
    let hash = url.bytes().position(|b| b == b'#').unwrap_or(url.len());
    let (base, fragment) = (
        url.get(..hash).unwrap_or(url),
        url.get(hash..).unwrap_or(""),
    );
    let joiner = if !base.bytes().any(|b| b == b'?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    super::join(&[base, joiner, "refresh=true", fragment])
}

/// What one answer of the credits endpoint means: its status, its body text and what its
/// `Retry-After` asked for. (A 401 here comes after `fetchWithAuth`'s own refresh and retry,
/// so the session is refused.)
///
/// ```
/// use session_keeper::core::action::Body;
/// use session_keeper::core::credits::{classify, Reading};
/// let seven = Body { credits: Some(7.0), ..Body::default() };
/// assert_eq!(classify(200, Some(&seven), None), Reading::Credits(7.0));
/// assert!(matches!(classify(503, None, Some(2_000)), Reading::Transient { retry_after_ms: Some(2_000), .. }));
/// assert!(matches!(classify(200, None, None), Reading::Final(_)));
/// ```
pub fn classify(status: u16, body: Option<&Body>, retry_after_ms: Option<Millis>) -> Reading {
    if is_transient_status(status) {
        return Reading::Transient {
            error: Error::new(
                ErrorCode::Server,
                "the credits endpoint kept answering 5xx or 429",
            ),
            retry_after_ms,
        };
    }
    if status == 401 {
        return Reading::Final(Error::new(
            ErrorCode::Unauthenticated,
            "the credits endpoint refused the session",
        ));
    }
    if !(200..300).contains(&status) {
        return Reading::Final(Error::new(
            ErrorCode::BadResponse,
            "the credits endpoint answered an unexpected status",
        ));
    }
    match body.and_then(|b| read_credits(b.credits, b.success)) {
        Some(credits) => Reading::Credits(credits),
        None => Reading::Final(Error::new(
            ErrorCode::BadResponse,
            "the credits endpoint answered no usable credits number",
        )),
    }
}

/// Whether a status is worth retrying: overload (429) and server errors (5xx).
pub fn is_transient_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// The wait a `Retry-After` header asks for: delay-seconds, or an HTTP date that
/// `parse_date` turns into page-clock ms. A date in the past asks for no wait; anything
/// unreadable asks for nothing.
///
/// ```
/// use session_keeper::core::credits::retry_after_ms;
/// assert_eq!(retry_after_ms("2", 0, |_| None), Some(2_000));
/// assert_eq!(retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1_000, |_| Some(4_000)), Some(3_000));
/// ```
pub fn retry_after_ms(
    header: &str,
    now: Millis,
    parse_date: impl FnOnce(&str) -> Option<Millis>,
) -> Option<Millis> {
    let value = header.trim();
    if value.is_empty() {
        return None;
    }
    if let Some(seconds) = decimal(value) {
        // Absurdly many seconds saturate rather than wrap; maxDelayMs then ends the retries.
        return Some(seconds.saturating_mul(1_000));
    }
    parse_date(value).map(|at| at.saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_retries: u32) -> CreditsPolicy {
        CreditsPolicy {
            max_retries,
            base_delay_ms: 1_000,
            max_delay_ms: 30_000,
            jitter: true,
        }
    }

    fn network() -> Error {
        Error::new(ErrorCode::Network, "fetch failed")
    }

    fn transient(retry_after_ms: Option<Millis>) -> Reading {
        Reading::Transient {
            error: network(),
            retry_after_ms,
        }
    }

    fn delays(plan: &mut CreditsRetry, reading: Reading) -> Vec<Millis> {
        let mut seen = Vec::new();
        while let Next::Retry { delay_ms, .. } = plan.next(reading.clone(), true) {
            seen.push(delay_ms);
        }
        seen
    }

    #[test]
    fn a_zero_after_failures_spent_the_retries_still_gets_one_check() {
        let mut plan = CreditsRetry::new(policy(3), 7);
        let down = Reading::Transient {
            error: Error::new(ErrorCode::Network, "down"),
            retry_after_ms: None,
        };
        assert_eq!(delays(&mut plan, down).len(), 3);
        assert_eq!(
            plan.next(Reading::Credits(0.0), true),
            Next::Retry {
                delay_ms: 1_000,
                zero: true
            },
            "one check past the plan"
        );
        assert_eq!(plan.next(Reading::Credits(0.0), true), Next::Done(0.0));
        // A zero checked within the plan gets no extra one; retries off get none.
        let mut plan = CreditsRetry::new(policy(3), 7);
        assert_eq!(delays(&mut plan, Reading::Credits(0.0)).len(), 3);
        let mut plan = CreditsRetry::new(policy(0), 7);
        assert_eq!(plan.next(Reading::Credits(0.0), true), Next::Done(0.0));
    }

    #[test]
    fn zero_retries_with_doubling_jittered_delays_then_reports_zero() {
        let mut plan = CreditsRetry::new(policy(3), 99);
        let seen = delays(&mut plan, Reading::Credits(0.0));
        assert_eq!(seen.len(), 3);
        for (delay, nominal) in seen.iter().zip([1_000, 2_000, 4_000]) {
            assert!(
                (nominal / 2..=nominal).contains(delay),
                "{delay} not in [{}, {nominal}]",
                nominal / 2
            );
        }
        // The exact sequence replays from the seed.
        let mut again = CreditsRetry::new(policy(3), 99);
        assert_eq!(delays(&mut again, Reading::Credits(0.0)), seen);
        // The plan is spent: the next zero is reported as read.
        assert_eq!(plan.next(Reading::Credits(0.0), true), Next::Done(0.0));
    }

    #[test]
    fn the_exact_sequence_for_seed_1() {
        let mut plan = CreditsRetry::new(policy(4), 1);
        let seen = delays(&mut plan, Reading::Credits(0.0));
        let expected: Vec<Millis> = Backoff::new(1_000, 30_000)
            .with_max_times(4)
            .with_jitter(1)
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn without_jitter_the_delays_are_exactly_base_times_two_to_the_n_whatever_the_seed() {
        let plain = CreditsPolicy {
            jitter: false,
            ..policy(3)
        };
        for seed in [1, 99] {
            let mut plan = CreditsRetry::new(plain, seed);
            assert_eq!(
                delays(&mut plan, Reading::Credits(0.0)),
                [1_000, 2_000, 4_000]
            );
        }
    }

    #[test]
    fn a_value_ends_at_once_and_zero_is_plain_when_signed_out() {
        let mut plan = CreditsRetry::new(policy(3), 1);
        assert_eq!(plan.next(Reading::Credits(100.0), true), Next::Done(100.0));
        assert_eq!(plan.next(Reading::Credits(0.0), false), Next::Done(0.0));
    }

    #[test]
    fn zero_retries_are_flagged_for_recovery_and_errors_are_not() {
        let mut plan = CreditsRetry::new(policy(3), 1);
        assert!(matches!(
            plan.next(Reading::Credits(0.0), true),
            Next::Retry { zero: true, .. }
        ));
        assert!(matches!(
            plan.next(transient(None), true),
            Next::Retry { zero: false, .. }
        ));
    }

    #[test]
    fn transient_failures_retry_then_fail_with_the_last_error() {
        let mut plan = CreditsRetry::new(policy(2), 1);
        assert_eq!(delays(&mut plan, transient(None)).len(), 2);
        assert_eq!(plan.next(transient(None), true), Next::Fail(network()));
    }

    #[test]
    fn retry_after_sets_a_floor_and_a_longer_one_than_the_cap_ends_retries() {
        let mut plan = CreditsRetry::new(policy(3), 1);
        assert_eq!(
            plan.next(transient(Some(7_000)), true),
            Next::Retry {
                delay_ms: 7_000,
                zero: false
            }
        );
        let Next::Fail(error) = plan.next(transient(Some(30_001)), true) else {
            panic!("a Retry-After over maxDelayMs must end the retries");
        };
        assert_eq!(error.code, ErrorCode::Server);
    }

    #[test]
    fn final_readings_never_retry() {
        let mut plan = CreditsRetry::new(policy(3), 1);
        let error = Error::new(ErrorCode::BadResponse, "odd body");
        assert_eq!(
            plan.next(Reading::Final(error.clone()), true),
            Next::Fail(error)
        );
    }

    #[test]
    fn no_retries_configured_means_one_read() {
        let mut plan = CreditsRetry::new(policy(0), 1);
        assert_eq!(plan.next(Reading::Credits(0.0), true), Next::Done(0.0));
        assert_eq!(plan.next(transient(None), true), Next::Fail(network()));
    }

    #[test]
    fn zero_credits_are_suspicious_only_when_signed_in() {
        assert!(!credits_look_healthy(0.0, true));
        assert!(credits_look_healthy(0.0, false));
        assert!(credits_look_healthy(100.0, true));
        assert!(credits_look_healthy(0.5, true));
    }

    #[test]
    fn credits_bodies() {
        assert_eq!(read_credits(Some(5.0), None), Some(5.0));
        assert_eq!(read_credits(Some(0.0), Some(true)), Some(0.0));
        assert_eq!(read_credits(Some(5.0), Some(false)), None);
        assert_eq!(read_credits(None, Some(true)), None);
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            assert_eq!(read_credits(Some(bad), None), None);
        }
    }

    #[test]
    fn refresh_is_added_to_any_query() {
        for (url, expected) in [
            ("/api/users/credits", "/api/users/credits?refresh=true"),
            ("/c?", "/c?refresh=true"),
            ("/c?a=1&", "/c?a=1&refresh=true"),
            ("/c?a=1", "/c?a=1&refresh=true"),
            ("/c#frag", "/c?refresh=true#frag"),
            ("/c?a=1#f?g", "/c?a=1&refresh=true#f?g"),
        ] {
            assert_eq!(with_refresh(url), expected);
        }
    }

    #[test]
    fn transient_statuses() {
        for s in [429, 500, 502, 503, 504, 599] {
            assert!(is_transient_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 418, 600] {
            assert!(!is_transient_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let date = |v: &str| (v == "Wed, 21 Oct 2015 07:28:00 GMT").then_some(10_000);
        assert_eq!(retry_after_ms("0", 0, date), Some(0));
        assert_eq!(retry_after_ms(" 120 ", 0, date), Some(120_000));
        assert_eq!(
            retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 4_000, date),
            Some(6_000)
        );
        // A date already past asks for no wait.
        assert_eq!(
            retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 50_000, date),
            Some(0)
        );
        assert_eq!(retry_after_ms("soon", 0, date), None);
        assert_eq!(retry_after_ms("", 0, date), None);
        assert_eq!(retry_after_ms("-3", 0, date), None);
        assert_eq!(
            retry_after_ms("99999999999999999999999", 0, date),
            Some(u64::MAX)
        );
    }
}
