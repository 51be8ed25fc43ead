//! Every event a session emits: the one source of the names `on()` accepts and of each
//! event's detail. `js/api.d.ts` declares the same shapes (`SessionEventMap`), and
//! `e2e/faults.test.js` type-checks each runtime detail against it.

#[allow(unused_imports)]
use crate::prelude::*;

use super::error::Error;
use super::session::Reason;
use super::Millis;

/// Why `sessionExpired` fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryReason {
    /// The backend refused a freshly minted token too.
    Unauthorized,
    /// The provider has no session (or the session is halted).
    Unauthenticated,
    /// The provider failed while a token was needed.
    RefreshFailed,
    /// Another tab signed out.
    SignedOutElsewhere,
}

impl ExpiryReason {
    /// The name JavaScript sees in `detail.reason`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExpiryReason::Unauthorized => "unauthorized",
            ExpiryReason::Unauthenticated => "unauthenticated",
            ExpiryReason::RefreshFailed => "refresh_failed",
            ExpiryReason::SignedOutElsewhere => "signed_out_elsewhere",
        }
    }
}

/// One of the three recovery probes, as `recovered.unhealthy` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The credits endpoint answered badly or a suspicious 0.
    Credits,
    /// The verify endpoint did not accept the session.
    Verify,
    /// The provider's own `checkSession()` said no (or could not say).
    CheckSession,
}

impl Probe {
    /// The name JavaScript sees.
    pub const fn as_str(self) -> &'static str {
        match self {
            Probe::Credits => "credits",
            Probe::Verify => "verify",
            Probe::CheckSession => "checkSession",
        }
    }
}

/// Something the page hears about through `on(name, listener)`.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A new token is in use.
    TokenRefreshed {
        /// Page-clock expiry, if the token has a readable `exp`.
        expires_at: Option<Millis>,
        /// Why it was fetched (`provider` when the provider pushed it).
        reason: Reason,
    },
    /// A refresh failed (reported once per failure).
    RefreshFailed {
        /// What went wrong: its stable code and its message (never a token).
        error: Error,
        /// Why the refresh ran.
        reason: Reason,
    },
    /// The session is over until the user signs in again (reported once).
    SessionExpired {
        /// Why.
        reason: ExpiryReason,
    },
    /// A recovery check started.
    RecoveryCheck {
        /// What triggered it.
        trigger: String,
    },
    /// A recovery check re-established the session (also dispatched on `window` as
    /// `auth-recovered`).
    Recovered {
        /// What triggered it.
        trigger: String,
        /// The probes that were unhealthy.
        unhealthy: Vec<Probe>,
    },
    /// `updateCredits()` read the counter.
    CreditsUpdated {
        /// The value read.
        credits: f64,
    },
    /// Signed in or out.
    StateChanged {
        /// Whether there is a token now.
        authenticated: bool,
        /// Its page-clock expiry, if known.
        expires_at: Option<Millis>,
    },
}

/// Every event name, in the order `SessionEventMap` declares them.
pub const NAMES: [&str; 7] = [
    "tokenRefreshed",
    "refreshFailed",
    "sessionExpired",
    "recoveryCheck",
    "recovered",
    "creditsUpdated",
    "stateChanged",
];

impl Event {
    /// The event's name, as `on()` takes it.
    pub fn name(&self) -> &'static str {
        NAMES.get(self.index()).copied().unwrap_or_default()
    }

    /// The event's position in [`NAMES`].
    pub fn index(&self) -> usize {
        match self {
            Event::TokenRefreshed { .. } => 0,
            Event::RefreshFailed { .. } => 1,
            Event::SessionExpired { .. } => 2,
            Event::RecoveryCheck { .. } => 3,
            Event::Recovered { .. } => 4,
            Event::CreditsUpdated { .. } => 5,
            Event::StateChanged { .. } => 6,
        }
    }

    /// The detail's fields, in declaration order, for the browser layer to build the object
    /// listeners receive.
    pub fn fields(&self) -> Vec<(&'static str, Field<'_>)> {
        match self {
            Event::TokenRefreshed { expires_at, reason } => vec![
                ("expiresAt", Field::Time(*expires_at)),
                ("reason", Field::Text(reason.as_str())),
            ],
            Event::RefreshFailed { error, reason } => vec![
                ("code", Field::Text(error.code.as_str())),
                ("message", Field::Text(&error.message)),
                ("reason", Field::Text(reason.as_str())),
            ],
            Event::SessionExpired { reason } => vec![("reason", Field::Text(reason.as_str()))],
            Event::RecoveryCheck { trigger } => vec![("trigger", Field::Text(trigger))],
            Event::Recovered { trigger, unhealthy } => vec![
                ("trigger", Field::Text(trigger)),
                ("unhealthy", Field::Probes(unhealthy)),
            ],
            Event::CreditsUpdated { credits } => vec![("credits", Field::Number(*credits))],
            Event::StateChanged {
                authenticated,
                expires_at,
            } => vec![
                ("authenticated", Field::Bool(*authenticated)),
                ("expiresAt", Field::Time(*expires_at)),
            ],
        }
    }
}

/// One field of an event detail.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field<'a> {
    /// A string.
    Text(&'a str),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// Milliseconds since the epoch, or `null`.
    Time(Option<Millis>),
    /// A list of probe names.
    Probes(&'a [Probe]),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_enum_and_the_declaration_order() {
        let events = [
            Event::TokenRefreshed {
                expires_at: None,
                reason: Reason::Initial,
            },
            Event::RefreshFailed {
                error: Error::new(crate::core::error::ErrorCode::Timeout, "m"),
                reason: Reason::Scheduled,
            },
            Event::SessionExpired {
                reason: ExpiryReason::Unauthorized,
            },
            Event::RecoveryCheck {
                trigger: "t".into(),
            },
            Event::Recovered {
                trigger: "t".into(),
                unhealthy: vec![Probe::CheckSession],
            },
            Event::CreditsUpdated { credits: 1.0 },
            Event::StateChanged {
                authenticated: true,
                expires_at: Some(5),
            },
        ];
        let names: Vec<_> = events.iter().map(Event::name).collect();
        assert_eq!(names, NAMES);
        assert_eq!(
            events[4].fields()[1],
            ("unhealthy", Field::Probes(&[Probe::CheckSession]))
        );
    }
}
