//! The session state machine: which token a request may carry, when to refresh, and what a
//! 401 means. Time comes in as an argument; the browser layer runs the refreshes it asks for.
//!
//! The rules, each with a test below:
//! - A token is *usable* while `now + expiry_margin < exp` (page clock, skew-corrected).
//! - All callers that need a refresh at the same time share one provider call.
//! - Each caller waits for at most one plain and one forced refresh, so nothing loops.
//! - A 401 for a token that has since been replaced is answered with the current token,
//!   without a new refresh.
//! - Provider calls are bounded whatever the tokens, the config and the clock:
//!   - a refresh that yields no usable token (the provider failed, or handed out a token
//!     that is already inside the margin, or the rejected one again) closes the provider to
//!     every caller for a backoff window (1 s doubling up to the refresh interval, jittered);
//!   - scheduled refreshes are at least [`Session::min_gap`] apart, and the schedule never
//!     asks to wake at a time before the last provider call plus that gap.
//! - A session the backend refused (a freshly minted token got a 401 too), or that was
//!   signed out, is *halted*: nothing asks the provider again until a real sign-in
//!   (`start()`, a token pushed by the provider, `refreshToken()`, or the verify endpoint
//!   accepting the token).
//! - The session is reported expired once. The report is re-armed only by a real sign-in,
//!   or by the backend accepting a token newer than the one that was current at the report.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::string::String;
use core::fmt;

use super::backoff::Backoff;
use super::error::{Error, ErrorCode};
use super::jwt::{Claims, ClaimsError};
use super::policy::Policy;
use super::Millis;

/// Counts distinct tokens. A response is judged against the generation its request carried,
/// so a late 401 for a replaced token is not mistaken for a rejection of the current one.
pub type Generation = u32;

/// A bearer token. `Debug` is redacted so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token text, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Whether the provider may answer from its cache (`Plain`) or must mint a new token (`Forced`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshKind {
    /// `getToken({ forceRefresh: false })`: Clerk and Supabase answer from cache when they can.
    Plain,
    /// `getToken({ forceRefresh: true })`.
    Forced,
}

/// Why a refresh runs; passed to `getToken` as `reason` and reported in events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// There is no token yet.
    Initial,
    /// The token is about to expire.
    Expiring,
    /// The backend answered 401 (or `requires_refresh`) for the current token.
    Unauthorized,
    /// The refresh timer fired, or the tab woke up past it.
    Scheduled,
    /// The page called `refreshToken()`.
    Manual,
    /// A recovery check found the session broken (see `core::recovery`).
    Recovery,
    /// The provider refreshed on its own and pushed the token (see [`Session::pushed`]).
    Provider,
    /// Another tab of the same session refreshed and shared its token (see
    /// [`Session::shared`]).
    Tab,
}

impl Reason {
    /// The name JavaScript sees.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Initial => "initial",
            Reason::Expiring => "expiring",
            Reason::Unauthorized => "unauthorized",
            Reason::Scheduled => "scheduled",
            Reason::Manual => "manual",
            Reason::Recovery => "recovery",
            Reason::Provider => "provider",
            Reason::Tab => "tab",
        }
    }
}

/// Why a session stopped asking the provider until a real sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    /// The backend refused a freshly minted token as well: the next one would be refused
    /// too (a wrong secret, a user deleted on the server).
    Refused,
    /// Signed out: `signOut()`, another tab, or the provider's own sign-out.
    SignedOut,
}

/// What the provider answered: a token and its claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The token text, unchecked.
    pub token: String,
    /// Its `exp`/`iat`, or why they could not be read.
    pub claims: Result<Claims, ClaimsError>,
}

impl Answer {
    /// A token as the provider handed it over, with what the browser decoded of its claims.
    pub fn read(token: String, decoded: super::jwt::Decoded) -> Answer {
        Answer {
            claims: super::jwt::claims(decoded),
            token,
        }
    }
}

/// Identifies one provider call, so a result that arrives after `sign_out` is discarded.
pub type RefreshId = u32;

/// What a caller needs from the session, and which refreshes it has already waited for.
///
/// The budget (one plain and one forced refresh, three waits in all) is what makes every
/// caller finish, whatever the provider answers.
#[derive(Clone, Debug, Default)]
pub struct Need {
    rejected: Option<Generation>,
    confirmed_since: Option<Millis>,
    force: bool,
    manual: bool,
    recovery: bool,
    scheduled: bool,
    plain_done: bool,
    forced_done: bool,
    waits: u8,
    awaiting: Option<RefreshId>,
}

const MAX_WAITS: u8 = 3;

impl Need {
    /// The refresh this caller is waiting for, if it waits for one.
    pub fn awaits(&self) -> Option<RefreshId> {
        self.awaiting
    }

    /// A usable token to send a request with.
    pub fn to_send() -> Self {
        Need::default()
    }

    /// A token newer than `generation`, which the backend just rejected.
    pub fn after_rejection(generation: Generation) -> Self {
        Need {
            rejected: Some(generation),
            ..Need::default()
        }
    }

    /// A token the provider has confirmed at or after `now` (the refresh timer fired).
    pub fn scheduled(now: Millis) -> Self {
        Need {
            confirmed_since: Some(now),
            scheduled: true,
            ..Need::default()
        }
    }

    /// A freshly minted token (`refreshToken()`). The page asked for it explicitly, so it
    /// passes a halt and a failure window, and a usable answer counts as a sign-in.
    pub fn forced(now: Millis) -> Self {
        Need {
            confirmed_since: Some(now),
            force: true,
            manual: true,
            ..Need::default()
        }
    }

    /// A freshly minted token to re-establish a session the backend lost.
    pub fn recovery(now: Millis) -> Self {
        Need {
            recovery: true,
            manual: false,
            ..Need::forced(now)
        }
    }
}

/// The next thing a caller should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send with this token.
    Use(Generation, Token),
    /// A refresh is in flight: wait for it, then ask again.
    Wait,
    /// Call the provider, then report with [`Session::refresh_finished`] and ask again.
    Refresh(RefreshId, RefreshKind, Reason),
    /// Stop: the refresh budget is spent without a usable token, the provider is closed for
    /// a failure window, or the session is halted.
    GiveUp(Error),
}

/// What a finished refresh changed, for the browser layer to announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refreshed {
    /// A different token than before.
    New {
        /// Its generation.
        generation: Generation,
        /// Page-clock expiry, if the token has a readable `exp`.
        expires_at: Option<Millis>,
        /// Why `exp` could not be read, when it could not.
        unreadable: Option<ClaimsError>,
        /// Whether the session went from no token to a token.
        signed_in: bool,
        /// The token's whole lifetime, the first time the provider hands out one that lives
        /// less than `expiryMarginMs` plus [`Session::min_gap`] (so it is never or hardly
        /// ever sendable): warn once, naming it.
        short_lifetime: Option<Millis>,
    },
    /// The provider confirmed the token we already had.
    Unchanged,
    /// The provider has no session.
    SignedOut {
        /// Whether we had a token before.
        had_token: bool,
    },
    /// The refresh failed; the scheduler retries when the failure window ends (if started).
    Failed(Error),
    /// Thrown away: the session was signed out while this refresh ran, or a pushed token
    /// was older than the current one.
    Discarded,
}

#[derive(Clone, Debug)]
struct Current {
    token: Token,
    generation: Generation,
    /// Page-clock expiry (issuer `exp` + learnt clock offset); `None` for opaque tokens.
    expires_at: Option<Millis>,
    /// When the provider last handed us this token.
    confirmed_at: Millis,
}

/// The refresh in flight.
#[derive(Clone, Copy, Debug)]
struct Inflight {
    id: RefreshId,
    kind: RefreshKind,
    /// Started by `refreshToken()`: a usable answer ends a halt.
    manual: bool,
}

/// The state of one session, driven by the browser layer.
#[derive(Debug)]
pub struct Session {
    policy: Policy,
    current: Option<Current>,
    last_generation: Generation,
    /// Page clock minus issuer clock, in ms. Learnt from `iat`; see [`Session::learn_offset`].
    offset_ms: i64,
    inflight: Option<Inflight>,
    last_refresh_id: RefreshId,
    /// The most recent refresh that failed, and why: everyone who waited for it gets the error.
    last_failed: Option<(RefreshId, Error)>,
    /// Until when the provider is closed after a refresh that yielded no usable token, and
    /// the error every caller gets meanwhile.
    blocked: Option<(Millis, Error)>,
    /// When the last provider call started: scheduled calls keep [`Session::min_gap`] from it.
    last_call: Option<Millis>,
    /// Set once `sessionExpired` is reported: the generation current at that moment.
    reported: Option<Generation>,
    halted: Option<Halt>,
    /// Whether the short-lifetime warning has been given.
    short_warned: bool,
    running: bool,
    retry_at: Option<Millis>,
    failures: Backoff,
    jitter_seed: u64,
}

impl Session {
    /// A signed-out, stopped session. `jitter_seed` spreads failure retries across tabs.
    pub fn new(policy: Policy, jitter_seed: u64) -> Self {
        Session {
            policy,
            current: None,
            last_generation: 0,
            offset_ms: 0,
            inflight: None,
            last_refresh_id: 0,
            last_failed: None,
            blocked: None,
            last_call: None,
            reported: None,
            halted: None,
            short_warned: false,
            running: false,
            retry_at: None,
            failures: Self::failure_backoff(&policy, jitter_seed),
            jitter_seed,
        }
    }

    /// The failure windows: 1 s doubling, capped at the refresh interval, jittered.
    fn failure_backoff(policy: &Policy, seed: u64) -> Backoff {
        Backoff::new(
            1000.min(policy.refresh_interval_ms),
            policy.refresh_interval_ms,
        )
        .with_jitter(seed)
    }

    /// The least time between the start of one provider call and a scheduled one: the
    /// refresh interval, but at least 100 ms and at most 1 s. A backstop: whatever the
    /// tokens and the clock say, the timer cannot ask the provider faster than this.
    pub fn min_gap(&self) -> Millis {
        self.policy.refresh_interval_ms.clamp(100, 1000)
    }

    /// The settings this session runs with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// True while there is a token that has not yet expired.
    pub fn is_authenticated(&self, now: Millis) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.expires_at.is_none_or(|e| now < e))
    }

    /// The current token, if any.
    pub fn current_token(&self) -> Option<&Token> {
        self.current.as_ref().map(|c| &c.token)
    }

    /// Page-clock expiry of the current token.
    pub fn expires_at(&self) -> Option<Millis> {
        self.current.as_ref().and_then(|c| c.expires_at)
    }

    /// Why the session is halted, if it is.
    pub fn halted(&self) -> Option<Halt> {
        self.halted
    }

    /// The provider call in flight, if any.
    pub fn inflight(&self) -> Option<RefreshId> {
        self.inflight.map(|i| i.id)
    }

    fn usable(&self, current: &Current, now: Millis) -> bool {
        current
            .expires_at
            .is_none_or(|e| now.saturating_add(self.policy.expiry_margin_ms) < e)
    }

    /// Decides the caller's next step, and records a refresh as in flight when it says so.
    pub fn next_step(&mut self, now: Millis, need: &mut Need) -> Step {
        if let (Some(awaited), Some((failed, error))) = (need.awaiting.take(), &self.last_failed) {
            if awaited == *failed {
                return Step::GiveUp(error.clone());
            }
        }
        if let Some(current) = &self.current {
            let satisfied = self.usable(current, now)
                && need.rejected.is_none_or(|g| current.generation > g)
                && need
                    .confirmed_since
                    .is_none_or(|t| current.confirmed_at >= t)
                && (!need.force || need.forced_done);
            if satisfied {
                return Step::Use(current.generation, current.token.clone());
            }
        }
        if let (Some(halt), false) = (self.halted, need.manual) {
            return Step::GiveUp(halted_error(halt));
        }
        let want_forced = need.force || need.rejected.is_some() || need.plain_done;
        if let Some(inflight) = self.inflight {
            if need.waits >= MAX_WAITS {
                return Step::GiveUp(self.give_up(now, need));
            }
            need.waits += 1;
            need.awaiting = Some(inflight.id);
            // Joining counts as having had that kind of refresh: single flight.
            match inflight.kind {
                RefreshKind::Plain => need.plain_done = true,
                RefreshKind::Forced => need.forced_done = true,
            }
            return Step::Wait;
        }
        if !need.manual {
            if let Some((until, error)) = &self.blocked {
                if now < *until {
                    return Step::GiveUp(error.clone());
                }
            }
        }
        let kind = if want_forced {
            RefreshKind::Forced
        } else {
            RefreshKind::Plain
        };
        let done = match kind {
            RefreshKind::Plain => &mut need.plain_done,
            RefreshKind::Forced => &mut need.forced_done,
        };
        if *done || need.waits >= MAX_WAITS {
            return Step::GiveUp(self.give_up(now, need));
        }
        *done = true;
        need.waits += 1;
        let reason = if need.rejected.is_some() {
            Reason::Unauthorized
        } else if need.recovery {
            Reason::Recovery
        } else if need.force {
            Reason::Manual
        } else if self.current.is_none() {
            Reason::Initial
        } else if need.scheduled {
            Reason::Scheduled
        } else {
            Reason::Expiring
        };
        self.last_refresh_id = self.last_refresh_id.wrapping_add(1);
        self.inflight = Some(Inflight {
            id: self.last_refresh_id,
            kind,
            manual: need.manual,
        });
        self.last_call = Some(now);
        need.awaiting = Some(self.last_refresh_id);
        Step::Refresh(self.last_refresh_id, kind, reason)
    }

    /// The caller's budget is spent without a usable token. Unless the provider simply has
    /// no session, that is a failure: the provider is closed for a backoff window, so the
    /// next caller does not pay for the same answer again.
    fn give_up(&mut self, now: Millis, need: &Need) -> Error {
        let message = match &self.current {
            None => return no_session(),
            Some(c) if need.rejected.is_some_and(|g| c.generation <= g) => {
                "the provider returned the rejected token again"
            }
            Some(_) => "the provider returned a token that expires within expiryMarginMs",
        };
        let error = Error::new(ErrorCode::RefreshFailed, message);
        self.block(now, error.clone());
        error
    }

    /// Opens a failure window, unless one is open already (one backoff step per window).
    fn block(&mut self, now: Millis, error: Error) {
        if self.window_open(now) {
            return;
        }
        let delay = self
            .failures
            .next()
            .unwrap_or(self.policy.refresh_interval_ms)
            .max(1);
        let until = now.saturating_add(delay);
        self.blocked = Some((until, error));
        self.retry_at = Some(until);
    }

    /// Whether a failure window is open at `now`.
    fn window_open(&self, now: Millis) -> bool {
        self.blocked.as_ref().is_some_and(|(until, _)| now < *until)
    }

    /// Ends the failure window and the backoff: the provider handed out a usable token.
    fn unblock(&mut self) {
        self.blocked = None;
        self.retry_at = None;
        self.last_failed = None;
        self.jitter_seed = super::backoff::reseed(self.jitter_seed);
        self.failures = Self::failure_backoff(&self.policy, self.jitter_seed);
    }

    /// A real sign-in: the halt ends and a later expiry is reported again.
    fn resume(&mut self) {
        self.halted = None;
        self.reported = None;
    }

    /// Records the provider's answer to refresh `id`: `Ok(Some(answer))`, `Ok(None)` for "no
    /// session", or the error the call failed with.
    pub fn refresh_finished(
        &mut self,
        now: Millis,
        id: RefreshId,
        answer: Result<Option<Answer>, Error>,
    ) -> Refreshed {
        let Some(inflight) = self.inflight.filter(|i| i.id == id) else {
            return Refreshed::Discarded;
        };
        self.inflight = None;
        let answer = answer.and_then(|a| {
            a.map(|a| Ok((validate_token(a.token)?, a.claims)))
                .transpose()
        });
        match answer {
            Err(error) => {
                self.block(now, error.clone());
                self.last_failed = Some((id, error.clone()));
                Refreshed::Failed(error)
            }
            Ok(None) => {
                let had_token = self.current.take().is_some();
                self.retry_at = None;
                self.last_failed = Some((id, no_session()));
                // Asking again at once would get the same answer: a page polling while signed
                // out costs at most one provider call per gap. Not a growing backoff: a
                // sign-in must be picked up soon even without a push or `start()`.
                if !self.window_open(now) {
                    self.blocked = Some((now.saturating_add(self.min_gap()), no_session()));
                }
                Refreshed::SignedOut { had_token }
            }
            Ok(Some((token, claims))) => {
                let outcome = self.adopt(now, token, claims, inflight.kind);
                if inflight.manual && self.current.as_ref().is_some_and(|c| self.usable(c, now)) {
                    self.resume();
                }
                outcome
            }
        }
    }

    /// Takes a token the provider pushed on its own (Supabase's `TOKEN_REFRESHED`), without a
    /// provider call. A refresh in flight is left alone: its answer is judged when it lands.
    ///
    /// A pushed token that expires before the current one is stale (an event delivered late)
    /// and is ignored, so a push can never replace a newer token with an older one. A new
    /// token is a sign-in: it ends a halt.
    pub fn pushed(&mut self, now: Millis, answer: Answer) -> Result<Refreshed, Error> {
        let token = validate_token(answer.token)?;
        let stale = match (&answer.claims, &self.current) {
            (Ok(claims), Some(current)) if current.token != token => claims
                .expires_at
                .map(|e| shift(e, self.offset_ms))
                .zip(current.expires_at)
                .is_some_and(|(pushed, held)| pushed < held),
            _ => false,
        };
        if stale {
            return Ok(Refreshed::Discarded);
        }
        let outcome = self.adopt(now, token, answer.claims, RefreshKind::Plain);
        if matches!(outcome, Refreshed::New { .. }) {
            self.resume();
        }
        Ok(outcome)
    }

    /// Takes a token another tab of this session shared (its refresh, or the one it
    /// adopted), without a provider call. Only a usable token that expires later than the
    /// one held is taken, so a slow or stale message never replaces a newer token. A halted
    /// session takes none: a sign-out sticks until this tab signs in for real.
    pub fn shared(&mut self, now: Millis, answer: Answer) -> Refreshed {
        if self.halted.is_some() {
            return Refreshed::Discarded;
        }
        let Some(token) = self.newer_usable(now, answer.token, &answer.claims) else {
            return Refreshed::Discarded;
        };
        self.adopt(now, token, answer.claims, RefreshKind::Plain)
    }

    /// Ends refresh `id` with a token another tab shared, when it is usable and later than
    /// the one held: the refresh it would have made has already happened. `None`: it is not.
    pub fn refresh_shared(
        &mut self,
        now: Millis,
        id: RefreshId,
        answer: Answer,
    ) -> Option<Refreshed> {
        let inflight = self.inflight.filter(|i| i.id == id)?;
        let token = self.newer_usable(now, answer.token, &answer.claims)?;
        self.inflight = None;
        let outcome = self.adopt(now, token, answer.claims, RefreshKind::Plain);
        if inflight.manual {
            self.resume();
        }
        Some(outcome)
    }

    /// Ends refresh `id` without a provider call when the token changed since it started
    /// (`from`: the generation then) and the new one is usable: a token another tab shared
    /// arrived while this one waited for the cross-tab lock.
    pub fn refresh_superseded(&mut self, now: Millis, id: RefreshId, from: Generation) -> bool {
        let Some(inflight) = self.inflight.filter(|i| i.id == id) else {
            return false;
        };
        let fresh = self
            .current
            .as_ref()
            .is_some_and(|c| c.generation > from && self.usable(c, now));
        if fresh {
            self.inflight = None;
            if inflight.manual {
                self.resume();
            }
        }
        fresh
    }

    /// Whether a token that expires at `exp` (the issuer's clock, as stored by another tab)
    /// would replace the current one: usable now, and later than the current token.
    pub fn would_take(&self, now: Millis, exp: Millis) -> bool {
        let exp = shift(exp, self.offset_ms);
        now.saturating_add(self.policy.expiry_margin_ms) < exp
            && self
                .current
                .as_ref()
                .is_none_or(|c| c.expires_at.is_some_and(|held| exp > held))
    }

    /// The generation of the current token (0 without one).
    pub fn generation(&self) -> Generation {
        self.current.as_ref().map_or(0, |c| c.generation)
    }

    /// `token` if it may replace the current one: usable now, and expiring later than the
    /// current token. Without an `exp` there is no order, so only an empty session takes it.
    fn newer_usable(
        &self,
        now: Millis,
        token: String,
        claims: &Result<Claims, ClaimsError>,
    ) -> Option<Token> {
        let token = validate_token(token).ok()?;
        let expires_at = claims
            .as_ref()
            .ok()
            .and_then(|c| c.expires_at)
            .map(|e| shift(e, self.offset_ms));
        if expires_at.is_some_and(|e| now.saturating_add(self.policy.expiry_margin_ms) >= e) {
            return None;
        }
        let later = match &self.current {
            None => true,
            Some(current) if current.token == token => false,
            Some(current) => match (expires_at, current.expires_at) {
                (Some(theirs), Some(ours)) => theirs > ours,
                (Some(_), None) => true,
                (None, _) => false,
            },
        };
        later.then_some(token)
    }

    /// Makes `token` the current one (or confirms it). A usable token ends any failure
    /// window; one already inside the margin does not (the caller escalates or gives up).
    fn adopt(
        &mut self,
        now: Millis,
        token: Token,
        claims: Result<Claims, ClaimsError>,
        kind: RefreshKind,
    ) -> Refreshed {
        if let Some(current) = self.current.as_mut().filter(|c| c.token == token) {
            current.confirmed_at = now;
            // The same token again is progress only from the cache; a forced refresh that
            // could not mint a new one keeps the failure window's backoff growing.
            if kind == RefreshKind::Plain {
                self.judge_usefulness(now);
            }
            return Refreshed::Unchanged;
        }
        let (claims, unreadable) = match claims {
            Ok(claims) => (claims, None),
            Err(e) => (Claims::default(), Some(e)),
        };
        self.learn_offset(now, &claims, kind);
        let expires_at = claims.expires_at.map(|e| shift(e, self.offset_ms));
        let signed_in = self.current.is_none();
        self.last_generation = self.last_generation.wrapping_add(1);
        let current = Current {
            token,
            generation: self.last_generation,
            expires_at,
            confirmed_at: now,
        };
        self.current = Some(current);
        self.judge_usefulness(now);
        Refreshed::New {
            generation: self.last_generation,
            expires_at,
            unreadable,
            signed_in,
            short_lifetime: self.short_lifetime(now, &claims, expires_at),
        }
    }

    /// Ends the failure window when the current token is useful: usable for at least the
    /// minimum gap. One usable for less is sent while it lasts, but counts as a failure for
    /// the backoff: otherwise every request after its short window would mint another one.
    /// An unusable token changes nothing here: its caller escalates or gives up (and that
    /// opens the window).
    fn judge_usefulness(&mut self, now: Millis) {
        let Some(current) = &self.current else { return };
        if !self.usable(current, now) {
            return;
        }
        let room = current.expires_at.map_or(Millis::MAX, |e| {
            e.saturating_sub(self.policy.expiry_margin_ms)
                .saturating_sub(now)
        });
        if room >= self.min_gap() {
            self.unblock();
        } else {
            self.block(
                now,
                Error::new(
                    ErrorCode::RefreshFailed,
                    "the provider's tokens expire too soon after expiryMarginMs to be kept fresh",
                ),
            );
        }
    }

    /// A token's whole lifetime, the first time one arrives that leaves less than the
    /// minimum gap outside the margin: such a token is never (or hardly ever) usable, so
    /// refreshes would fail or come back at once.
    fn short_lifetime(
        &mut self,
        now: Millis,
        claims: &Claims,
        expires_at: Option<Millis>,
    ) -> Option<Millis> {
        let lifetime = match (claims.expires_at, claims.issued_at) {
            (Some(exp), Some(iat)) => exp.saturating_sub(iat),
            _ => expires_at?.saturating_sub(now),
        };
        let enough = self.policy.expiry_margin_ms.saturating_add(self.min_gap());
        if lifetime >= enough || self.short_warned {
            return None;
        }
        self.short_warned = true;
        Some(lifetime)
    }

    /// Learns the page-clock offset from a token's `iat`.
    ///
    /// A token's age on arrival (`now - iat`) is the offset plus the time it sat in the
    /// provider's cache, so the offset can never exceed it: lowering to it is always safe.
    /// Raising is allowed only from a *forced* token (minted just now, so its age is the
    /// offset) that would otherwise look unusable: that is a page clock running ahead, and
    /// without the correction every token would look expired and refresh forever.
    fn learn_offset(&mut self, now: Millis, claims: &Claims, kind: RefreshKind) {
        let (Some(iat), Some(exp)) = (claims.issued_at, claims.expires_at) else {
            return;
        };
        let age = now as i64 - iat as i64;
        let bound_broken = age < self.offset_ms;
        let fresh_looks_unusable = kind == RefreshKind::Forced
            && now.saturating_add(self.policy.expiry_margin_ms) >= shift(exp, self.offset_ms);
        if bound_broken || fresh_looks_unusable {
            self.offset_ms = age;
        }
    }

    /// Reports a final rejection (a second 401, a failed refresh, no session). True only for
    /// the first one: the session is reported expired once, and stays reported until a real
    /// sign-in or until the backend accepts a newer token (see [`Session::accepted`]).
    ///
    /// `halt` halts the session as well (the backend refused a fresh token, or another tab
    /// signed out), so nothing asks the provider again until a real sign-in.
    pub fn report_expired(&mut self, halt: Option<Halt>) -> bool {
        if let Some(halt) = halt {
            self.halted = Some(halt);
        }
        if self.reported.is_some() {
            return false;
        }
        self.reported = Some(self.current.as_ref().map_or(0, |c| c.generation));
        true
    }

    /// The backend accepted a request sent with `generation`. A token newer than the one
    /// reported expired works, so a later expiry is reported again. (A halt is not ended by
    /// this: an endpoint that ignores the bearer would end it on every call.)
    pub fn accepted(&mut self, generation: Generation) {
        if self.halted.is_none() && self.reported.is_some_and(|r| generation > r) {
            self.reported = None;
        }
    }

    /// The verify endpoint accepted the current token: the backend knows the session, which
    /// is a sign-in.
    pub fn verified(&mut self) {
        if self.halted == Some(Halt::Refused) {
            self.resume();
        }
    }

    /// Whether a request refused for `generation` may be refreshed and sent again. Not while
    /// halted: the 401 is the caller's answer, with no provider call.
    pub fn may_retry(&self) -> bool {
        self.halted.is_none()
    }

    /// Forgets the token and halts until a real sign-in; a refresh still in flight will be
    /// discarded. The schedule keeps its started/stopped state: a started session picks up
    /// again when a sign-in arrives. True when there was a token.
    pub fn sign_out(&mut self) -> bool {
        self.halted = Some(Halt::SignedOut);
        self.reported = None;
        self.retry_at = None;
        if let Some(inflight) = self.inflight.take() {
            self.last_failed = Some((
                inflight.id,
                Error::new(ErrorCode::Unauthenticated, "signed out"),
            ));
        }
        self.current.take().is_some()
    }

    /// Starts scheduled refresh; a real sign-in. With no token yet, the first refresh is due
    /// at once.
    pub fn start(&mut self, now: Millis) {
        self.running = true;
        self.resume();
        self.unblock();
        if self.current.is_none() {
            self.retry_at = Some(now);
        }
    }

    /// Whether the next scheduled refresh is a first try or a retry (after `start()` without
    /// a token, or after a failure), rather than the refresh of a held token.
    pub fn retrying(&self) -> bool {
        self.retry_at.is_some()
    }

    /// Whether scheduled refresh is on (`start` without a later `stop`).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops scheduled refresh; the token stays usable for requests.
    pub fn stop(&mut self) {
        self.running = false;
        self.retry_at = None;
    }

    /// When the scheduler should next wake, if it should at all.
    ///
    /// Never while a refresh is in flight (its finish re-arms the timer), never while
    /// halted, never inside a failure window, and never sooner than [`Session::min_gap`]
    /// after the last provider call. So a wake-up that has already passed cannot fire
    /// again and again: each one either calls the provider, which moves the next wake-up
    /// on by the gap, or finds the provider closed until a later time.
    pub fn next_wake(&self) -> Option<Millis> {
        self.next_wake_shifted(0)
    }

    /// [`Session::next_wake`] with the refresh moved by `shift` ms (earlier when negative),
    /// never past the gap after the last provider call or a failure window.
    pub fn next_wake_shifted(&self, shift: i64) -> Option<Millis> {
        if !self.running || self.inflight.is_some() || self.halted.is_some() {
            return None;
        }
        let due = match self.retry_at {
            Some(at) => at,
            None => {
                let current = self.current.as_ref()?;
                let by_interval = current
                    .confirmed_at
                    .saturating_add(self.policy.refresh_interval_ms);
                match current.expires_at {
                    Some(e) => by_interval.min(e.saturating_sub(self.policy.expiry_margin_ms)),
                    None => by_interval,
                }
                .saturating_add_signed(shift)
            }
        };
        let after_gap = self
            .last_call
            .map_or(0, |t| t.saturating_add(self.min_gap()));
        let after_block = self.blocked.as_ref().map_or(0, |(until, _)| *until);
        Some(due.max(after_gap).max(after_block))
    }

    /// Whether a scheduled refresh is due at `now`. Asked on every timer and on every wake-up
    /// of the tab (shown, restored, back online), because hidden tabs throttle timers.
    pub fn is_due(&self, now: Millis) -> bool {
        self.next_wake().is_some_and(|t| t <= now)
    }
}

/// Why a halted session gives no token.
fn halted_error(halt: Halt) -> Error {
    Error::new(
        ErrorCode::Unauthenticated,
        match halt {
            Halt::Refused => "the backend refused the session; nothing is refreshed until the user signs in again",
            Halt::SignedOut => "signed out; nothing is sent until the user signs in again",
        },
    )
}

/// Checks what the provider answered. Empty strings and characters that an HTTP header
/// cannot carry are refused here, not by `Headers.set` halfway through a request.
fn validate_token(token: String) -> Result<Token, Error> {
    if token.is_empty() {
        return Err(Error::new(
            ErrorCode::RefreshFailed,
            "getToken returned an empty string",
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            ErrorCode::RefreshFailed,
            "getToken returned a token with characters an Authorization header cannot carry",
        ));
    }
    Ok(Token(token))
}

fn no_session() -> Error {
    Error::new(
        ErrorCode::Unauthenticated,
        "no session: the provider returned no token",
    )
}

fn shift(t: Millis, offset: i64) -> Millis {
    t.saturating_add_signed(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_700_000_000_000;
    const MARGIN: Millis = 10_000;

    fn session() -> Session {
        Session::new(Policy::default(), 1)
    }

    /// A token issued at `iat_ms` that expires at `exp_ms` (issuer clock, whole seconds as
    /// in real JWTs). The text encodes both, so equal claims mean an equal token.
    fn token(iat_ms: Millis, exp_ms: Millis) -> Answer {
        let (iat, exp) = (iat_ms / 1000, exp_ms / 1000);
        Answer {
            token: format!("jwt-{iat}-{exp}"),
            claims: Claims::from_seconds(Some(exp as f64), Some(iat as f64)),
        }
    }

    fn opaque(text: &str) -> Answer {
        Answer {
            token: text.into(),
            claims: Err(ClaimsError::NotAJwt),
        }
    }

    /// Drives `need` until it settles, answering every refresh with `answer(kind)`.
    /// Returns the refresh kinds asked for and the final step.
    fn drive(
        s: &mut Session,
        now: Millis,
        mut need: Need,
        mut answer: impl FnMut(RefreshKind) -> Result<Option<Answer>, Error>,
    ) -> (Vec<RefreshKind>, Step) {
        let mut asked = vec![];
        loop {
            match s.next_step(now, &mut need) {
                Step::Refresh(id, kind, _) => {
                    asked.push(kind);
                    s.refresh_finished(now, id, answer(kind));
                }
                Step::Wait => panic!("nothing is in flight in a single-caller drive"),
                done => return (asked, done),
            }
        }
    }

    fn use_generation(step: &Step) -> Generation {
        match step {
            Step::Use(g, _) => *g,
            other => panic!("expected Use, got {other:?}"),
        }
    }

    #[test]
    fn first_send_asks_plain_and_uses_the_answer() {
        let mut s = session();
        let (asked, step) = drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        assert_eq!(asked, [RefreshKind::Plain]);
        assert_eq!(use_generation(&step), 1);
        assert_eq!(s.expires_at(), Some(T0 + 60_000));
        assert!(s.is_authenticated(T0));
    }

    #[test]
    fn a_usable_token_is_sent_without_asking() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        let (asked, step) = drive(&mut s, T0 + 49_999, Need::to_send(), |_| unreachable!());
        assert!(asked.is_empty());
        assert_eq!(use_generation(&step), 1);
    }

    #[test]
    fn never_sends_a_token_inside_the_margin_escalating_to_forced() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        let now = T0 + 60_000 - MARGIN; // exactly at the margin: not usable
        let (asked, step) = drive(&mut s, now, Need::to_send(), |kind| match kind {
            RefreshKind::Plain => Ok(Some(token(T0, T0 + 60_000))), // provider cache: same token
            RefreshKind::Forced => Ok(Some(token(now, now + 60_000))),
        });
        assert_eq!(asked, [RefreshKind::Plain, RefreshKind::Forced]);
        assert_eq!(use_generation(&step), 2);
    }

    #[test]
    fn gives_up_when_even_a_forced_token_is_inside_the_margin() {
        let mut s = session();
        // A 5 s token with a 10 s margin can never be sent: fail clearly, don't loop.
        let (asked, step) = drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 5_000)))
        });
        assert_eq!(asked, [RefreshKind::Plain, RefreshKind::Forced]);
        match step {
            Step::GiveUp(e) => {
                assert_eq!(e.code, ErrorCode::RefreshFailed);
                assert!(e.message.contains("expiryMarginMs"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejection_forces_one_refresh_and_gives_a_newer_generation() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        let (asked, step) = drive(&mut s, T0 + 1000, Need::after_rejection(1), |_| {
            Ok(Some(token(T0 + 1000, T0 + 61_000)))
        });
        assert_eq!(asked, [RefreshKind::Forced]);
        assert_eq!(use_generation(&step), 2);
    }

    #[test]
    fn stale_rejection_resends_the_current_token_without_refreshing() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        drive(&mut s, T0, Need::after_rejection(1), |_| {
            Ok(Some(token(T0 + 1, T0 + 61_000)))
        });
        // A late 401 for generation 1 arrives after generation 2 is in place.
        let (asked, step) = drive(
            &mut s,
            T0 + 2000,
            Need::after_rejection(1),
            |_| unreachable!(),
        );
        assert!(asked.is_empty());
        assert_eq!(use_generation(&step), 2);
    }

    #[test]
    fn rejected_token_returned_again_gives_up_after_one_forced_refresh() {
        let mut s = session();
        let same = token(T0, T0 + 60_000);
        drive(&mut s, T0, Need::to_send(), |_| Ok(Some(same.clone())));
        let (asked, step) = drive(&mut s, T0, Need::after_rejection(1), |_| {
            Ok(Some(same.clone()))
        });
        assert_eq!(asked, [RefreshKind::Forced]);
        assert!(matches!(step, Step::GiveUp(e) if e.message.contains("rejected token again")));
    }

    #[test]
    fn concurrent_callers_share_one_refresh() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        let mut needs: Vec<Need> = (0..100).map(|_| Need::after_rejection(1)).collect();
        let steps: Vec<Step> = needs.iter_mut().map(|n| s.next_step(T0, n)).collect();
        let refreshes: Vec<_> = steps
            .iter()
            .filter(|st| matches!(st, Step::Refresh(..)))
            .collect();
        assert_eq!(refreshes.len(), 1);
        assert_eq!(steps.iter().filter(|st| **st == Step::Wait).count(), 99);
        let Step::Refresh(id, RefreshKind::Forced, Reason::Unauthorized) = refreshes[0].clone()
        else {
            panic!()
        };
        s.refresh_finished(T0, id, Ok(Some(token(T0 + 1, T0 + 61_000))));
        for n in &mut needs {
            assert_eq!(use_generation(&s.next_step(T0, n)), 2);
        }
    }

    #[test]
    fn a_rejected_caller_that_joined_a_plain_refresh_still_gets_its_forced_one() {
        let mut s = session();
        let first = token(T0, T0 + 60_000);
        drive(&mut s, T0, Need::to_send(), |_| Ok(Some(first.clone())));
        let mut timer = Need::scheduled(T0 + 1);
        let Step::Refresh(plain_id, RefreshKind::Plain, Reason::Scheduled) =
            s.next_step(T0 + 1, &mut timer)
        else {
            panic!()
        };
        let mut rejected = Need::after_rejection(1);
        assert_eq!(s.next_step(T0 + 1, &mut rejected), Step::Wait);
        s.refresh_finished(T0 + 2, plain_id, Ok(Some(first.clone()))); // cache answered the old token
        let Step::Refresh(id, RefreshKind::Forced, _) = s.next_step(T0 + 2, &mut rejected) else {
            panic!()
        };
        s.refresh_finished(T0 + 3, id, Ok(Some(token(T0 + 3, T0 + 63_000))));
        assert_eq!(use_generation(&s.next_step(T0 + 3, &mut rejected)), 2);
    }

    #[test]
    fn a_provider_that_never_helps_costs_at_most_two_calls() {
        // Every answer is a brand-new token that is already inside the margin.
        let mut s = session();
        let mut minted = 0;
        let (asked, step) = drive(&mut s, T0, Need::to_send(), |_| {
            minted += 1;
            Ok(Some(token(T0 + minted, T0 + 1000 + minted)))
        });
        assert_eq!(asked, [RefreshKind::Plain, RefreshKind::Forced]);
        assert!(matches!(step, Step::GiveUp(_)));
    }

    #[test]
    fn a_joiner_never_waits_more_than_three_times() {
        let mut s = session();
        let mut waiter = Need::to_send();
        let mut waits = 0;
        for _ in 0..10 {
            // Someone else always has a refresh in flight that yields nothing usable.
            let mut other = Need::to_send();
            if let Step::Refresh(id, ..) = s.next_step(T0, &mut other) {
                match s.next_step(T0, &mut waiter) {
                    Step::Wait => waits += 1,
                    Step::GiveUp(_) => break,
                    other => panic!("{other:?}"),
                }
                s.refresh_finished(T0, id, Ok(Some(token(T0, T0 + 1000 + waits))));
            }
        }
        assert_eq!(waits, 3);
    }

    #[test]
    fn provider_answers_are_validated() {
        for (answer, code) in [
            (Ok(None), ErrorCode::Unauthenticated),
            (Ok(Some(opaque(""))), ErrorCode::RefreshFailed),
            (
                Ok(Some(opaque("abc\r\nX-Evil: 1"))),
                ErrorCode::RefreshFailed,
            ),
            (Ok(Some(opaque("t\u{f6}k"))), ErrorCode::RefreshFailed),
            (Ok(Some(opaque("has space"))), ErrorCode::RefreshFailed),
            (
                Err(Error::new(ErrorCode::Timeout, "getToken timed out")),
                ErrorCode::Timeout,
            ),
        ] {
            let mut s = session();
            let mut answer = Some(answer);
            let (asked, step) = drive(&mut s, T0, Need::to_send(), |_| answer.take().unwrap());
            assert_eq!(asked.len(), 1, "a failed refresh is not escalated");
            assert!(matches!(step, Step::GiveUp(e) if e.code == code));
            assert!(!s.is_authenticated(T0));
        }
        let mut s = session();
        let Step::Refresh(id, ..) = s.next_step(T0, &mut Need::to_send()) else {
            panic!()
        };
        assert_eq!(
            s.refresh_finished(T0, id, Ok(None)),
            Refreshed::SignedOut { had_token: false }
        );
    }

    #[test]
    fn joiners_of_a_failed_refresh_get_its_error() {
        let mut s = session();
        let mut owner = Need::to_send();
        let mut joiners: Vec<Need> = (0..5).map(|_| Need::to_send()).collect();
        let Step::Refresh(id, ..) = s.next_step(T0, &mut owner) else {
            panic!()
        };
        for j in &mut joiners {
            assert_eq!(s.next_step(T0, j), Step::Wait);
        }
        s.refresh_finished(
            T0,
            id,
            Err(Error::new(ErrorCode::Timeout, "getToken timed out")),
        );
        for n in std::iter::once(&mut owner).chain(&mut joiners) {
            assert!(matches!(s.next_step(T0, n), Step::GiveUp(e) if e.code == ErrorCode::Timeout));
        }
        // A newcomer inside the failure window gets the same error without a provider
        // call; after the window it tries again.
        assert!(matches!(
            s.next_step(T0 + 1, &mut Need::to_send()),
            Step::GiveUp(e) if e.code == ErrorCode::Timeout
        ));
        assert!(matches!(
            s.next_step(T0 + 1_000, &mut Need::to_send()),
            Step::Refresh(..)
        ));
    }

    #[test]
    fn opaque_tokens_are_usable_and_refreshed_by_interval() {
        let mut s = session();
        s.start(T0);
        let (_, step) = drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(opaque("opaque-session-id")))
        });
        assert_eq!(use_generation(&step), 1);
        assert_eq!(s.expires_at(), None);
        assert_eq!(s.next_wake(), Some(T0 + 50_000));
    }

    #[test]
    fn expiry_is_reported_once_and_a_new_token_alone_does_not_rearm_it() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        assert!(s.report_expired(None));
        assert!(!s.report_expired(None));
        // A new token (the forced refresh after the next 401) does not re-arm the report:
        // a backend that refuses every token must not cost one report per poll.
        drive(&mut s, T0, Need::after_rejection(1), |_| {
            Ok(Some(token(T0 + 1, T0 + 61_000)))
        });
        assert!(!s.report_expired(None));
        // The backend accepting a request sent with the token that was current at the
        // report proves nothing; accepting a newer one does.
        s.accepted(1);
        assert!(!s.report_expired(None));
        s.accepted(2);
        assert!(s.report_expired(None));
    }

    #[test]
    fn a_refused_session_halts_until_a_real_sign_in() {
        let mut s = session();
        s.start(T0);
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        drive(&mut s, T0, Need::after_rejection(1), |_| {
            Ok(Some(token(T0 + 1, T0 + 61_000)))
        });
        // The fresh token was refused as well.
        assert!(s.report_expired(Some(Halt::Refused)));
        assert!(!s.may_retry());
        assert_eq!(s.next_wake(), None, "no scheduled refresh while halted");
        // Later polls: the held token is still sent, nothing asks the provider, no report.
        let (asked, step) = drive(&mut s, T0 + 150, Need::to_send(), |_| unreachable!());
        assert!(asked.is_empty());
        assert_eq!(use_generation(&step), 2);
        s.accepted(2);
        assert_eq!(
            s.halted(),
            Some(Halt::Refused),
            "an accepting endpoint ends no halt"
        );
        let (asked, step) = drive(&mut s, T0 + 55_000, Need::to_send(), |_| unreachable!());
        assert!(asked.is_empty(), "not even when the token runs out");
        assert!(matches!(step, Step::GiveUp(e) if e.code == ErrorCode::Unauthenticated));
        assert!(!s.report_expired(None));
        // refreshToken() is explicit: it asks, and a usable answer is a sign-in.
        let (asked, _) = drive(&mut s, T0 + 55_000, Need::forced(T0 + 55_000), |_| {
            Ok(Some(token(T0 + 55_000, T0 + 115_000)))
        });
        assert_eq!(asked, [RefreshKind::Forced]);
        assert_eq!(s.halted(), None);
        assert!(s.report_expired(Some(Halt::Refused)));
        // start() and a pushed token are sign-ins too; so is the verify endpoint's yes.
        s.start(T0 + 56_000);
        assert_eq!(s.halted(), None);
        assert!(s.report_expired(Some(Halt::Refused)));
        s.pushed(T0 + 57_000, token(T0 + 57_000, T0 + 117_000))
            .unwrap();
        assert_eq!(s.halted(), None);
        assert!(s.report_expired(Some(Halt::Refused)));
        s.verified();
        assert_eq!(s.halted(), None);
    }

    #[test]
    fn a_signed_out_session_asks_the_provider_for_nothing_until_a_sign_in() {
        let mut s = session();
        s.start(T0);
        drive(&mut s, T0, Need::scheduled(T0), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        assert!(s.sign_out());
        assert!(s.is_running(), "the schedule waits for the next sign-in");
        assert_eq!(s.next_wake(), None);
        for need in [
            Need::to_send(),
            Need::scheduled(T0 + 1),
            Need::recovery(T0 + 1),
        ] {
            let (asked, step) = drive(&mut s, T0 + 1, need, |_| unreachable!());
            assert!(asked.is_empty());
            assert!(matches!(step, Step::GiveUp(e) if e.code == ErrorCode::Unauthenticated));
        }
        s.pushed(T0 + 2, token(T0 + 2, T0 + 62_000)).unwrap();
        assert_eq!(
            s.next_wake(),
            Some(T0 + 50_002),
            "the push signed in: the schedule resumes"
        );
    }

    #[test]
    fn recovery_forces_a_new_token_even_when_the_current_one_is_usable() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        let mut need = Need::recovery(T0 + 1);
        let Step::Refresh(id, kind, reason) = s.next_step(T0 + 1, &mut need) else {
            panic!("recovery must ask the provider");
        };
        assert_eq!((kind, reason), (RefreshKind::Forced, Reason::Recovery));
        s.refresh_finished(T0 + 1, id, Ok(Some(token(T0 + 1_000, T0 + 61_000))));
        assert_eq!(use_generation(&s.next_step(T0 + 1, &mut need)), 2);
    }

    #[test]
    fn schedule_is_interval_or_exp_minus_margin_whichever_comes_first() {
        let mut s = session();
        assert_eq!(s.next_wake(), None, "stopped sessions never wake");
        s.start(T0);
        assert_eq!(s.next_wake(), Some(T0), "first token is due at once");
        // 60 s token: exp − margin (50 s) ties with the interval.
        drive(&mut s, T0, Need::scheduled(T0), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        assert_eq!(s.next_wake(), Some(T0 + 50_000));
        // 30 s token: exp − margin (20 s) comes first.
        drive(&mut s, T0 + 1, Need::forced(T0 + 1), |_| {
            Ok(Some(token(T0, T0 + 30_000)))
        });
        assert_eq!(s.next_wake(), Some(T0 + 20_000));
        // 1 h token: the interval comes first.
        drive(&mut s, T0 + 2, Need::forced(T0 + 2), |_| {
            Ok(Some(token(T0, T0 + 3_600_000)))
        });
        assert_eq!(s.next_wake(), Some(T0 + 2 + 50_000));
        assert!(!s.is_due(T0 + 50_001));
        assert!(s.is_due(T0 + 50_002));
        s.stop();
        assert_eq!(s.next_wake(), None);
    }

    #[test]
    fn no_wake_up_is_scheduled_while_a_refresh_is_in_flight() {
        let mut s = session();
        s.start(T0);
        drive(&mut s, T0, Need::scheduled(T0), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        let due = T0 + 50_000;
        assert_eq!(s.next_wake(), Some(due));
        // A slow refresh starts at the due time; the past-due wake-up must not keep firing.
        let mut need = Need::scheduled(due);
        let Step::Refresh(id, ..) = s.next_step(due, &mut need) else {
            panic!()
        };
        assert_eq!(s.next_wake(), None);
        assert!(!s.is_due(due + 5_000));
        s.refresh_finished(due + 5_000, id, Ok(Some(token(due, due + 60_000))));
        assert_eq!(s.next_wake(), Some(due / 1000 * 1000 + 50_000));
    }

    #[test]
    fn a_throttled_timer_is_caught_up_on_wake() {
        let mut s = session();
        s.start(T0);
        drive(&mut s, T0, Need::scheduled(T0), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        // The tab was hidden for 3 minutes; its timer never fired.
        let woke = T0 + 180_000;
        assert!(s.is_due(woke));
        let (asked, step) = drive(&mut s, woke, Need::scheduled(woke), |_| {
            Ok(Some(token(woke, woke + 60_000)))
        });
        assert_eq!(asked, [RefreshKind::Plain]);
        assert_eq!(use_generation(&step), 2);
        assert_eq!(s.next_wake(), Some(woke + 50_000));
    }

    #[test]
    fn scheduled_refresh_asks_even_when_the_token_is_usable() {
        let mut s = session();
        s.start(T0);
        let long = token(T0, T0 + 3_600_000);
        drive(&mut s, T0, Need::scheduled(T0), |_| Ok(Some(long.clone())));
        let at = T0 + 50_000;
        let (asked, _) = drive(&mut s, at, Need::scheduled(at), |_| Ok(Some(long.clone())));
        assert_eq!(asked, [RefreshKind::Plain]);
        assert_eq!(
            s.next_wake(),
            Some(at + 50_000),
            "confirmation restarts the interval"
        );
    }

    #[test]
    fn failed_scheduled_refreshes_back_off_up_to_the_interval() {
        let mut s = session();
        s.start(T0);
        let mut now = T0;
        let mut delays = vec![];
        for _ in 0..10 {
            let (_, _) = drive(&mut s, now, Need::scheduled(now), |_| {
                Err(Error::new(ErrorCode::RefreshFailed, "x"))
            });
            let next = s.next_wake().unwrap();
            delays.push(next - now);
            now = next;
        }
        // Jittered doubling from 1 s, never beyond the 50 s interval, never zero.
        for (i, d) in delays.iter().enumerate() {
            let nominal = (1000u64 << i).min(50_000);
            assert!(*d >= nominal / 2 && *d <= nominal, "delay {i} = {d}");
        }
        // Success resets the backoff and the schedule returns to the token.
        drive(&mut s, now, Need::scheduled(now), |_| {
            Ok(Some(token(now, now + 60_000)))
        });
        // exp is whole seconds, so exp − margin lands on the second before now + 50 s.
        assert_eq!(s.next_wake(), Some(now / 1000 * 1000 + 50_000));
    }

    #[test]
    fn sign_out_discards_a_refresh_in_flight() {
        let mut s = session();
        s.start(T0);
        let mut need = Need::to_send();
        let mut joiner = Need::to_send();
        let Step::Refresh(id, ..) = s.next_step(T0, &mut need) else {
            panic!()
        };
        assert_eq!(s.next_step(T0, &mut joiner), Step::Wait);
        assert!(!s.sign_out());
        assert_eq!(
            s.refresh_finished(T0, id, Ok(Some(token(T0, T0 + 60_000)))),
            Refreshed::Discarded
        );
        for n in [&mut need, &mut joiner] {
            assert!(
                matches!(s.next_step(T0, n), Step::GiveUp(e) if e.code == ErrorCode::Unauthenticated)
            );
        }
        assert!(!s.is_authenticated(T0));
        assert_eq!(s.next_wake(), None);
    }

    #[test]
    fn page_clock_behind_the_issuer_is_corrected_downwards() {
        // The page clock is 5 minutes behind: iat lies in the page's future.
        let mut s = session();
        let issuer_now = T0 + 300_000;
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(issuer_now, issuer_now + 60_000)))
        });
        assert_eq!(
            s.expires_at(),
            Some(T0 + 60_000),
            "expiry is moved onto the page clock"
        );
        assert!(!s.is_due(T0 + 49_000));
    }

    #[test]
    fn page_clock_ahead_is_learnt_from_a_forced_token_only() {
        // The page clock runs 5 minutes ahead: every fresh token looks expired on arrival.
        let mut s = session();
        let page_now = T0 + 300_000;
        let (asked, step) = drive(&mut s, page_now, Need::to_send(), |kind| match kind {
            RefreshKind::Plain => Ok(Some(token(T0, T0 + 60_000))),
            RefreshKind::Forced => Ok(Some(token(T0 + 1000, T0 + 61_000))),
        });
        assert_eq!(asked, [RefreshKind::Plain, RefreshKind::Forced]);
        assert_eq!(use_generation(&step), 2);
        assert_eq!(s.expires_at(), Some(page_now + 60_000));
        // Later plain (cached) tokens are read with the learnt offset: no more escalation.
        let later = page_now + 55_000;
        let (asked, _) = drive(&mut s, later, Need::scheduled(later), |_| {
            Ok(Some(token(T0 + 55_000, T0 + 115_000)))
        });
        assert_eq!(asked, [RefreshKind::Plain]);
    }

    #[test]
    fn a_cached_old_token_is_not_mistaken_for_skew() {
        // Same clocks; the provider's cache hands out a token issued 55 s ago.
        let mut s = session();
        let old = token(T0 - 55_000, T0 + 5_000);
        let (asked, step) = drive(&mut s, T0, Need::to_send(), |kind| match kind {
            RefreshKind::Plain => Ok(Some(old.clone())),
            RefreshKind::Forced => Ok(Some(token(T0, T0 + 60_000))),
        });
        assert_eq!(asked, [RefreshKind::Plain, RefreshKind::Forced]);
        assert_eq!(use_generation(&step), 2);
        assert_eq!(s.expires_at(), Some(T0 + 60_000));
    }

    #[test]
    fn token_debug_output_is_redacted() {
        let t = Token("secret-token-text".into());
        assert!(!format!("{:?}", opaque("secret-token-text").claims).contains("secret"));
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        let step = Step::Use(1, t);
        assert!(!format!("{step:?}").contains("secret"));
    }

    // ----- tokens the provider pushes on its own -----

    #[test]
    fn a_pushed_token_is_used_without_asking_the_provider() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        let later = T0 + 30_000;
        let pushed = s.pushed(later, token(later, later + 60_000)).unwrap();
        assert!(matches!(
            pushed,
            Refreshed::New {
                signed_in: false,
                ..
            }
        ));
        let (asked, step) = drive(&mut s, later, Need::to_send(), |_| {
            panic!("no provider call")
        });
        assert!(asked.is_empty());
        assert_eq!(
            step,
            Step::Use(
                2,
                Token(format!("jwt-{}-{}", later / 1000, (later + 60_000) / 1000))
            )
        );
        assert_eq!(s.expires_at(), Some(later + 60_000));
    }

    #[test]
    fn a_pushed_token_also_satisfies_a_scheduled_refresh_due_later() {
        let mut s = session();
        s.start(T0);
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        // Due at exp - margin = T0 + 50 s; a push at T0 + 45 s moves the wake-up on.
        let push = T0 + 45_000;
        s.pushed(push, token(push, push + 60_000)).unwrap();
        assert!(!s.is_due(T0 + 50_000));
        assert_eq!(s.next_wake(), Some(push + 50_000));
    }

    #[test]
    fn a_pushed_token_older_than_the_current_one_is_ignored() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        let late_event = token(T0 - 20_000, T0 + 40_000);
        assert_eq!(
            s.pushed(T0 + 1_000, late_event).unwrap(),
            Refreshed::Discarded
        );
        assert_eq!(s.expires_at(), Some(T0 + 60_000));
    }

    #[test]
    fn pushing_the_current_token_again_changes_nothing() {
        let mut s = session();
        drive(&mut s, T0, Need::to_send(), |_| {
            Ok(Some(token(T0, T0 + 60_000)))
        });
        assert_eq!(
            s.pushed(T0 + 5_000, token(T0, T0 + 60_000)).unwrap(),
            Refreshed::Unchanged
        );
    }

    #[test]
    fn a_push_into_a_signed_out_session_signs_it_in() {
        let mut s = session();
        let pushed = s.pushed(T0, token(T0, T0 + 60_000)).unwrap();
        assert!(matches!(
            pushed,
            Refreshed::New {
                signed_in: true,
                ..
            }
        ));
        assert!(s.is_authenticated(T0));
    }

    #[test]
    fn a_pushed_token_an_http_header_cannot_carry_is_refused() {
        let mut s = session();
        let error = s.pushed(T0, opaque("bad token\n")).unwrap_err();
        assert_eq!(error.code, ErrorCode::RefreshFailed);
        assert!(s.current_token().is_none());
    }

    #[test]
    fn a_push_while_a_refresh_is_in_flight_leaves_that_refresh_to_land() {
        let mut s = session();
        let mut need = Need::to_send();
        let Step::Refresh(id, ..) = s.next_step(T0, &mut need) else {
            panic!("expected a refresh")
        };
        s.pushed(T0, token(T0, T0 + 60_000)).unwrap();
        // The provider's own answer (the same token) lands afterwards and only confirms it.
        assert_eq!(
            s.refresh_finished(T0 + 10, id, Ok(Some(token(T0, T0 + 60_000)))),
            Refreshed::Unchanged
        );
        assert_eq!(use_generation(&s.next_step(T0 + 10, &mut need)), 1);
    }

    #[test]
    fn a_push_ends_the_failure_backoff() {
        let mut s = session();
        s.start(T0);
        let mut need = Need::scheduled(T0);
        let Step::Refresh(id, ..) = s.next_step(T0, &mut need) else {
            panic!("expected a refresh")
        };
        s.refresh_finished(T0, id, Err(Error::new(ErrorCode::Network, "offline")));
        assert!(
            s.next_wake().is_some_and(|t| t < T0 + 5_000),
            "retrying soon after a failure"
        );
        s.pushed(T0 + 100, token(T0, T0 + 60_000)).unwrap();
        assert_eq!(s.next_wake(), Some(T0 + 50_000));
    }

    // ----- bounded provider calls (SPEC invariant 8), on a virtual clock -----

    /// A provider double for the driver: mints tokens living `lifetime` ms (issued on an
    /// issuer clock `skew` ms off the page's), answers plain calls from its cache while the
    /// token lives, or fails in the given way.
    struct Provider {
        mode: u8,
        lifetime: Millis,
        skew: i64,
        cached: Option<(Millis, Answer)>,
        minted: u64,
        calls: Vec<(Millis, RefreshKind)>,
    }

    impl Provider {
        fn answer(&mut self, now: Millis, kind: RefreshKind) -> Result<Option<Answer>, Error> {
            self.calls.push((now, kind));
            match self.mode {
                1 => return Err(Error::new(ErrorCode::RefreshFailed, "provider down")),
                2 => return Ok(None),
                3 => return Ok(Some(opaque("the-same-opaque-token"))),
                _ => {}
            }
            let fresh = self.cached.as_ref().is_some_and(|(exp, _)| now < *exp);
            if kind == RefreshKind::Forced || !fresh {
                self.minted += 1;
                let issued = shift(now, self.skew);
                let (iat, exp) = (issued / 1000, (issued + self.lifetime) / 1000);
                let answer = Answer {
                    token: format!("jwt-{iat}-{exp}-{}", self.minted),
                    claims: Claims::from_seconds(Some(exp as f64), Some(iat as f64)),
                };
                self.cached = Some((now + self.lifetime, answer));
            }
            Ok(self.cached.as_ref().map(|(_, a)| a.clone()))
        }
    }

    /// Runs a started session for `duration` ms the way the browser layer does: a timer at
    /// `next_wake()`, page requests every `poll` ms (0 = none), and the page clock jumping by
    /// `jump` ms once at half time (a laptop sleep, or the clock set back). Returns the
    /// provider's calls. Asserts on the way that a wake-up is never armed at or before the
    /// time it was handled, and that each page request costs at most two provider calls.
    fn run(
        s: &mut Session,
        p: &mut Provider,
        duration: Millis,
        poll: Millis,
        jump: i64,
    ) -> Vec<(Millis, RefreshKind)> {
        let mut now = T0;
        let end = T0 + duration;
        let mut next_poll = if poll == 0 { Millis::MAX } else { T0 };
        let mut jumped = false;
        s.start(now);
        for _ in 0..1_000_000 {
            let wake = s.next_wake().unwrap_or(Millis::MAX);
            let at = wake.min(next_poll);
            if at >= end {
                break;
            }
            now = now.max(at);
            if !jumped && now >= T0 + duration / 2 {
                jumped = true;
                now = shift(now, jump);
                next_poll = shift(next_poll, jump);
            }
            if s.is_due(now) {
                drive_with(s, now, Need::scheduled(now), p);
                if let Some(next) = s.next_wake() {
                    assert!(next > now, "wake-up re-armed in the past: {next} <= {now}");
                }
            }
            if now >= next_poll {
                let before = p.calls.len();
                drive_with(s, now, Need::to_send(), p);
                assert!(
                    p.calls.len() - before <= 2,
                    "one request, at most two provider calls"
                );
                next_poll = now + poll;
            }
        }
        std::mem::take(&mut p.calls)
    }

    fn drive_with(s: &mut Session, now: Millis, mut need: Need, p: &mut Provider) -> Step {
        loop {
            match s.next_step(now, &mut need) {
                Step::Refresh(id, kind, _) => {
                    let answer = p.answer(now, kind);
                    s.refresh_finished(now, id, answer);
                }
                Step::Wait => panic!("nothing is in flight in a synchronous drive"),
                done => return done,
            }
        }
    }

    fn provider(mode: u8, lifetime: Millis, skew: i64) -> Provider {
        Provider {
            mode,
            lifetime,
            skew,
            cached: None,
            minted: 0,
            calls: vec![],
        }
    }

    fn policy(interval: Millis, margin: Millis) -> Policy {
        Policy {
            refresh_interval_ms: interval,
            expiry_margin_ms: margin,
            ..Policy::default()
        }
    }

    #[test]
    fn five_second_tokens_with_the_default_margin_do_not_storm() {
        // Seen before the fix: about 640 provider calls in 1.5 s, half of them forced.
        let mut s = session();
        let calls = run(&mut s, &mut provider(0, 5_000, 0), 1_500, 0, 0);
        let forced = calls
            .iter()
            .filter(|(_, k)| *k == RefreshKind::Forced)
            .count();
        assert!(calls.len() <= 4 && forced <= 2, "{calls:?}");
        // Over an hour: one plain + forced pair per failure window, the windows doubling
        // up to the 50 s interval.
        let mut s = session();
        let calls = run(&mut s, &mut provider(0, 5_000, 0), 3_600_000, 0, 0);
        assert!(calls.len() <= 2 * (7 + 3_600 / 25), "{}", calls.len());
    }

    #[test]
    fn clerk_tokens_with_a_sixty_second_margin_do_not_storm() {
        let mut s = Session::new(policy(50_000, 60_000), 7);
        let calls = run(&mut s, &mut provider(0, 60_000, 0), 1_500, 0, 0);
        assert!(calls.len() <= 4, "{calls:?}");
    }

    #[test]
    fn the_first_short_token_is_named_once() {
        let mut s = session();
        let first = s.pushed(T0, token(T0, T0 + 5_000)).unwrap();
        assert!(matches!(
            first,
            Refreshed::New {
                short_lifetime: Some(5_000),
                ..
            }
        ));
        let second = s.pushed(T0 + 1, token(T0 + 1_000, T0 + 6_000)).unwrap();
        assert!(matches!(
            second,
            Refreshed::New {
                short_lifetime: None,
                ..
            }
        ));
    }

    #[test]
    fn requests_against_a_failing_provider_are_bounded_by_the_failure_windows() {
        // A dashboard polling every 150 ms for 10 minutes while the provider is down.
        let mut s = session();
        let calls = run(&mut s, &mut provider(1, 60_000, 0), 600_000, 150, 0);
        // Windows of 1, 2, 4, 8, 16, 32 s (jittered into their upper half), then 50 s.
        assert!(calls.len() <= 6 + 600 / 25, "{}", calls.len());
    }

    #[test]
    fn provider_calls_stay_bounded_whatever_the_tokens_config_and_clock() {
        let mut rng = 0x5eed_u64;
        let mut pick = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for case in 0..400 {
            let lifetimes = [
                0,
                1,
                500,
                5_000,
                9_999,
                10_000,
                60_000,
                3_600_000,
                1 + pick(7_200_000),
            ];
            let margins = [0, 1_000, 10_000, 60_000, pick(120_000)];
            let intervals = [100, 1_000, 50_000, 3_600_000, 100 + pick(100_000)];
            let skews = [-600_000, 0, 600_000, pick(1_200_000) as i64 - 600_000];
            let jumps = [0, 600_000, -600_000, 3_600_000];
            let lifetime = lifetimes[pick(lifetimes.len() as u64) as usize];
            let policy = policy(
                intervals[pick(intervals.len() as u64) as usize],
                margins[pick(margins.len() as u64) as usize],
            );
            let mode = pick(4) as u8;
            let skew = skews[pick(skews.len() as u64) as usize];
            let poll = [0, 150, 1_000][pick(3) as usize];
            let jump = jumps[pick(jumps.len() as u64) as usize];
            let mut s = Session::new(policy, case);
            let gap = s.min_gap();
            let duration = 600_000;
            let calls = run(
                &mut s,
                &mut provider(mode, lifetime, skew),
                duration,
                poll,
                jump,
            );
            // The scheduler cannot out-run its gap, and page requests meet either a usable
            // token or a closed provider: whatever the mix, a 10 s window holds at most two
            // calls per gap plus two per page request that found the provider open.
            let bound = 2 * (10_000 / gap as usize + 1) + 2 * (10_000 / 500 + 1);
            let mut times: Vec<Millis> = calls.iter().map(|(t, _)| *t).collect();
            times.sort_unstable();
            let mut first = 0;
            for (last, t) in times.iter().enumerate() {
                while times[first] + 10_000 <= *t {
                    first += 1;
                }
                let in_window = last - first + 1;
                assert!(
                    in_window <= bound,
                    "case {case}: {in_window} calls in 10 s (bound {bound}); lifetime {lifetime} {policy:?} mode {mode} skew {skew} poll {poll} jump {jump}"
                );
            }
        }
    }
}
