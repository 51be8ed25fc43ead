//! Waiting until every auth source agrees: the provider, the manager and the token mirror
//! are all signed in, or all signed out. Right after a page load or a backend restart they
//! briefly disagree, and a credits read made in that window is the one that shows 0.

#[allow(unused_imports)]
use crate::prelude::*;

use super::Millis;

/// `waitForAuthStability()` waits at most this long by default, and `updateCredits` waits
/// this long before its first read.
pub const DEFAULT_MAX_WAIT_MS: Millis = 10_000;
/// How often the sources are sampled by default.
pub const DEFAULT_INTERVAL_MS: Millis = 500;

/// What each source says at one moment; `None` for a source this page does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sources {
    /// The provider's `checkSession()`.
    pub provider: Option<bool>,
    /// Whether the manager holds a token that has not expired.
    pub manager: bool,
    /// Whether the localStorage mirror holds a token.
    pub mirror: Option<bool>,
}

/// What one sample calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every present source says the same.
    Agreed,
    /// The manager is out of step (the page has just loaded, or the provider signed out
    /// elsewhere): asking the provider for a token signs it in, or finds there is no session.
    AskProvider,
    /// The provider and the manager agree and the mirror does not: it is a leftover (a
    /// previous visit's token, or a key removed by hand), so it follows the manager.
    SyncMirror,
}

impl Sources {
    /// Judges one sample.
    pub fn verdict(&self) -> Verdict {
        let disagrees = |s: Option<bool>| s.is_some_and(|s| s != self.manager);
        match (disagrees(self.provider), disagrees(self.mirror)) {
            (false, false) => Verdict::Agreed,
            (true, _) => Verdict::AskProvider,
            // Only the mirror disagrees: with a provider to confirm the manager, the mirror
            // is stale; without one, the provider must be asked whether there is a session.
            (false, true) if self.provider.is_some() => Verdict::SyncMirror,
            (false, true) => Verdict::AskProvider,
        }
    }
}

/// What the waiting loop does after a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// Every source agrees.
    Stable,
    /// `maxWaitMs` has passed without agreement.
    TimedOut,
    /// Sample again after this many ms.
    Sleep(Millis),
}

/// One `waitForAuthStability()` call: polls every `interval_ms` until `deadline`.
#[derive(Clone, Copy, Debug)]
pub struct Stability {
    deadline: Millis,
    interval_ms: Millis,
}

impl Stability {
    /// Starts waiting at `now` for at most `max_wait_ms`.
    pub fn new(now: Millis, max_wait_ms: Millis, interval_ms: Millis) -> Self {
        Stability {
            deadline: now.saturating_add(max_wait_ms),
            interval_ms: interval_ms.max(1),
        }
    }

    /// The latest any single sample may take, so the last one cannot overrun the deadline.
    pub fn remaining(&self, now: Millis) -> Millis {
        self.deadline.saturating_sub(now)
    }

    /// Decides after a sample taken at `now`. The last sleep is shortened to end on the
    /// deadline, so the wait never runs past `maxWaitMs` by more than one sample.
    ///
    /// ```
    /// use session_keeper::core::stability::{Poll, Stability};
    /// let wait = Stability::new(0, 1_000, 400);
    /// assert_eq!(wait.after(0, false), Poll::Sleep(400));
    /// assert_eq!(wait.after(800, false), Poll::Sleep(200));
    /// assert_eq!(wait.after(1_000, false), Poll::TimedOut);
    /// assert_eq!(wait.after(1_000, true), Poll::Stable);
    /// ```
    pub fn after(&self, now: Millis, agreed: bool) -> Poll {
        if agreed {
            Poll::Stable
        } else if now >= self.deadline {
            Poll::TimedOut
        } else {
            Poll::Sleep(self.interval_ms.min(self.deadline - now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(provider: Option<bool>, manager: bool, mirror: Option<bool>) -> Sources {
        Sources {
            provider,
            manager,
            mirror,
        }
    }

    #[test]
    fn verdict_table() {
        use Verdict::*;
        let (t, f) = (Some(true), Some(false));
        // (provider, manager, mirror) → verdict
        let cases = [
            (None, false, None, Agreed),
            (None, true, None, Agreed),
            (t, true, t, Agreed),
            (f, false, f, Agreed),
            (t, true, None, Agreed),
            (None, false, f, Agreed),
            // The page just loaded: the provider has a session, the manager no token yet.
            (t, false, None, AskProvider),
            (t, false, t, AskProvider),
            // The provider signed out elsewhere; the manager still holds a token.
            (f, true, None, AskProvider),
            (f, true, t, AskProvider),
            // A mirror left from the last visit: confirmed stale by the provider, or not.
            (f, false, t, SyncMirror),
            (None, false, t, AskProvider),
            // The provider and manager agree on a session; the mirror lost its key.
            (t, true, f, SyncMirror),
            (None, true, f, AskProvider),
        ];
        for (provider, manager, mirror, expected) in cases {
            let s = sources(provider, manager, mirror);
            assert_eq!(s.verdict(), expected, "{s:?}");
        }
    }

    #[test]
    fn polls_every_interval_and_stops_at_the_deadline() {
        let wait = Stability::new(1_000, 10_000, 500);
        let mut now = 1_000;
        let mut samples = 0;
        loop {
            samples += 1;
            match wait.after(now, false) {
                Poll::Sleep(ms) => now += ms,
                Poll::TimedOut => break,
                Poll::Stable => unreachable!(),
            }
        }
        assert_eq!(now, 11_000);
        assert_eq!(samples, 21, "one sample at start, then one every 500 ms");
        assert_eq!(wait.remaining(10_800), 200);
        assert_eq!(wait.remaining(12_000), 0);
    }

    #[test]
    fn zero_wait_samples_once() {
        let wait = Stability::new(5, 0, 500);
        assert_eq!(wait.after(5, false), Poll::TimedOut);
        assert_eq!(wait.after(5, true), Poll::Stable);
    }
}
