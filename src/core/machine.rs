//! The whole session policy as one sans-IO machine, in the manner of quinn-proto: the
//! browser layer feeds in what happened (`fetch`, `provider_answered`, `replied`,
//! `sampled`, `handle_timeout`, …, each with the time), then drains what to do
//! ([`Core::poll_action`]) and what to tell the page ([`Core::poll_event`]), and arms one
//! timer for [`Core::poll_timeout`]. Nothing here touches the browser or reads a clock.
//!
//! What it owns:
//! - the token state ([`Session`]) and everyone waiting for a token (single flight);
//! - every `fetchWithAuth` attempt: retry-once, the expiry rules, the halt;
//! - the recovery run: cooldown, three probes, re-establishing the session;
//! - the credits run: stability first, offline pauses, retries with backoff;
//! - the stability waits;
//! - every deadline: provider calls, requests, samples, sleeps, the refresh schedule.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::action::{
    Action, CallId, Level, Read, Rejection, Reply, SampleId, SendId, Target, Value,
};
use super::credits::{classify, credits_look_healthy, CreditsPolicy, CreditsRetry, Next, Reading};
use super::error::{Error, ErrorCode};
use super::event::{Event, ExpiryReason, Probe};
use super::policy::Policy;
use super::recovery::{decide, format_stamp, Cooldown};
use super::session::{
    Answer, Generation, Halt, Need, Reason, RefreshId, RefreshKind, Refreshed, Session, Step, Token,
};
use super::stability::{Poll, Sources, Stability, Verdict};
use super::Millis;

/// How many steps one input may take before the machine stops for this turn. Each step
/// either settles a caller or waits for the outside world, so this is far beyond any real
/// count; it is the loop bound that makes a bug a stall instead of a hang.
const STEP_LIMIT: usize = 100_000;

/// What the machine knows of the page's configuration.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Timing settings.
    pub policy: Policy,
    /// `updateCredits` retries.
    pub credits: CreditsPolicy,
    /// Whether the provider has `checkSession()`.
    pub check_session: bool,
    /// Whether the credits endpoint is set up (a relative default needs a page URL).
    pub credits_endpoint: bool,
    /// Whether the verify endpoint is set up.
    pub verify_endpoint: bool,
    /// Lines below this level are never built.
    pub log_level: Level,
    /// Seeds the jitter of retries, so tabs spread out.
    pub seed: u64,
    /// Whether this manager coordinates with the other tabs of its session (`tabs`):
    /// refreshes under a cross-tab lock that first reads the expiry the tabs stored, and
    /// every new token shared.
    pub tabs: bool,
    /// Whether the browser has Web Locks. With them one tab leads the scheduled refresh;
    /// without them every tab does, each at its own random lead, and adopts what the others
    /// share first.
    pub locks: bool,
}

/// How long after the leader's scheduled refresh a follower that has seen no new token
/// decides the leader is gone (closed without a handover, frozen, hung) and takes over.
pub const FOLLOWER_GRACE_MS: Millis = 2_000;
/// Without Web Locks, each tab takes its tokens to expire up to this much earlier than
/// `expiryMarginMs` says, by an amount of its own, so that the tabs' refreshes come apart
/// and the first tab's shared token reaches the others before their turn.
pub const STAGGER_MS: Millis = 1_000;
/// How long a refresh waits for the message of a token another tab stored just before it
/// released the cross-tab lock (messages can lag the lock by a few ms).
pub const SHARE_WAIT_MS: Millis = 1_000;

/// Who waits for a token, and what they do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// A `fetchWithAuth` attempt (or the credits run's read).
    Attempt(u32),
    /// `refreshToken()`.
    Refresh(CallId),
    /// The refresh timer.
    Scheduled,
    /// A refresh nobody waits for (after a 401 on a request that cannot be replayed).
    Detached,
    /// A recovery run.
    Recovery(u32),
    /// A stability wait asking the provider.
    Stability(u32),
}

struct Waiter {
    need: Need,
    purpose: Purpose,
}

/// Who gets an attempt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// The page's call.
    Call(CallId),
    /// The credits run.
    Credits,
}

/// One request sent with a token, refreshed and sent once more after a refusal.
struct Attempt {
    id: u32,
    owner: Owner,
    target: Target,
    /// Whether it carries the bearer (an allowed origin without the caller's own header).
    authorized: bool,
    /// Whether its body can be sent again.
    replayable: bool,
    /// The token generation it was last sent with.
    generation: Generation,
    /// Whether this is the one retry.
    retried: bool,
}

/// How an attempt ended for its owner.
enum Outcome {
    /// The server answered (the `Response` is request `SendId`).
    Answered {
        send: SendId,
        status: u16,
        body: Option<super::action::Body>,
        retry_after: Option<Millis>,
    },
    /// No response: `transient` failures (network, timeout) are worth another try.
    Failed {
        rejection: Rejection,
        error: Error,
        transient: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendOwner {
    Attempt(u32),
    CreditsProbe(u32),
    Verify(u32),
}

struct Sent {
    id: SendId,
    deadline: Millis,
    owner: SendOwner,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SampleOwner {
    Wait(u32),
    Recovery(u32),
}

struct Sampling {
    id: SampleId,
    deadline: Millis,
    owner: SampleOwner,
}

struct ProviderCall {
    id: RefreshId,
    reason: Reason,
    deadline: Millis,
    /// Whether the provider is to be asked for a new token (`forceRefresh`).
    force: bool,
    /// The generation of the token held when the refresh started.
    from: Generation,
    stage: CallStage,
}

/// Where a refresh stands with the other tabs and the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallStage {
    /// Waiting for the cross-tab lock, then for what the tabs stored.
    Coordinating,
    /// Another tab stored a newer token: waiting for its message.
    Awaiting,
    /// The provider is asked.
    Asking,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Reading the attempts on record, for the cooldown.
    Claiming,
    /// Waiting for a token to probe with.
    Token,
    /// The probes are out.
    Probing,
    /// Forcing a new token.
    ReEstablishing,
    /// Verifying the new token.
    Reverifying,
}

/// One recovery check.
struct RecoveryRun {
    id: u32,
    owner: Owner,
    trigger: String,
    failures_before: u32,
    stage: Stage,
    token: Option<Token>,
    credits: Option<bool>,
    verify: Option<bool>,
    session: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CreditsStage {
    Stabilizing,
    Offline { until: Millis },
    Reading,
    Recovering { delay: Millis },
    Sleeping { until: Millis },
}

/// The one `updateCredits()` run; overlapping calls share it.
struct CreditsRun {
    callers: Vec<CallId>,
    force: bool,
    plan: CreditsRetry,
    stage: CreditsStage,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum WaitStage {
    Sampling,
    Asking {
        provider: Option<bool>,
        until: Millis,
    },
    Resampling {
        provider: Option<bool>,
    },
    Sleeping {
        until: Millis,
    },
}

/// One `waitForAuthStability()` (or the credits run's own).
struct Wait {
    id: u32,
    owner: Owner,
    wait: Stability,
    stage: WaitStage,
}

/// The session policy, driven by the browser layer.
pub struct Core {
    settings: Settings,
    session: Session,
    waiters: Vec<Waiter>,
    attempts: Vec<Attempt>,
    sent: Vec<Sent>,
    samples: Vec<Sampling>,
    provider: Option<ProviderCall>,
    recoveries: Vec<RecoveryRun>,
    credits: Option<CreditsRun>,
    /// Seeds the next credits run's jitter; each run draws its own delays.
    credits_seed: u64,
    waits: Vec<Wait>,
    online: bool,
    closed: bool,
    last_id: u32,
    failures_announced: u32,
    /// This manager's own last recovery attempt, whatever storage kept.
    last_recovery: Option<Millis>,
    /// Whether this tab leads the scheduled refresh (see [`Settings::locks`]).
    leader: bool,
    /// What to do, in order. A `Vec`: `VecDeque` costs more code than the queue is worth.
    actions: Vec<Action>,
    events: Vec<Event>,
}

impl Core {
    /// A signed-out, stopped session.
    pub fn new(settings: Settings) -> Core {
        let mut policy = settings.policy;
        if settings.tabs && !settings.locks {
            policy.expiry_margin_ms = policy
                .expiry_margin_ms
                .saturating_add(settings.seed % STAGGER_MS);
        }
        Core {
            session: Session::new(policy, settings.seed),
            settings,
            waiters: Vec::new(),
            attempts: Vec::new(),
            sent: Vec::new(),
            samples: Vec::new(),
            provider: None,
            recoveries: Vec::new(),
            credits: None,
            credits_seed: settings.seed,
            waits: Vec::new(),
            online: true,
            closed: false,
            last_id: 0,
            failures_announced: 0,
            last_recovery: None,
            leader: true,
            actions: Vec::new(),
            events: Vec::new(),
        }
    }

    // ----- what the browser layer drains -----

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        (!self.actions.is_empty()).then(|| self.actions.remove(0))
    }

    /// The next event to emit.
    pub fn poll_event(&mut self) -> Option<Event> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    /// When [`Core::handle_timeout`] must run next: the earliest deadline of any provider
    /// call, request, sample, sleep or scheduled refresh.
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.closed {
            return None;
        }
        let mut next: Option<Millis> = None;
        let mut consider = |at: Millis| next = Some(next.map_or(at, |n| n.min(at)));
        if !self.scheduled_pending() {
            if let Some(at) = self.scheduled_at() {
                consider(at);
            }
        }
        if let Some(call) = &self.provider {
            consider(call.deadline);
        }
        for sent in &self.sent {
            consider(sent.deadline);
        }
        for sample in &self.samples {
            consider(sample.deadline);
        }
        for wait in &self.waits {
            if let WaitStage::Asking { until, .. } | WaitStage::Sleeping { until } = wait.stage {
                consider(until);
            }
        }
        if let Some(CreditsRun {
            stage: CreditsStage::Offline { until } | CreditsStage::Sleeping { until },
            ..
        }) = self.credits
        {
            consider(until);
        }
        next
    }

    // ----- what the page can ask -----

    /// Whether there is a token that has not expired.
    pub fn is_authenticated(&self, now: Millis) -> bool {
        self.session.is_authenticated(now)
    }

    /// Page-clock expiry of the current token.
    pub fn expires_at(&self) -> Option<Millis> {
        self.session.expires_at()
    }

    /// The settings the machine runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A fresh id for a call, a request or a sample.
    pub fn next_id(&mut self) -> u32 {
        self.last_id = self.last_id.wrapping_add(1);
        self.last_id
    }

    // ----- the JS API -----

    /// `fetchWithAuth` for call `call`. `authorized`: the request goes to an allowed origin
    /// and the caller set no `Authorization` of their own. `replayable`: its body can be sent
    /// again (not a `ReadableStream`).
    pub fn fetch(&mut self, now: Millis, call: CallId, authorized: bool, replayable: bool) {
        if self.refuse_closed(call) {
            return;
        }
        self.begin_attempt(
            now,
            Owner::Call(call),
            Target::Page(call),
            authorized,
            replayable,
        );
        self.run(now);
    }

    /// The caller's signal aborted `fetchWithAuth` call `call`. A request in flight is
    /// aborted by the browser, which reports it through [`Core::replied`]; a call still
    /// waiting for a token (to send, or to retry with after a 401) ends now, as `fetch`
    /// would, instead of when the provider answers. The refresh it waited for goes on.
    pub fn caller_aborted(&mut self, now: Millis, call: CallId) {
        let Some(attempt) = self
            .attempts
            .iter()
            .find(|a| a.owner == Owner::Call(call))
            .map(|a| a.id)
        else {
            return;
        };
        if self
            .sent
            .iter()
            .any(|s| s.owner == SendOwner::Attempt(attempt))
        {
            return;
        }
        self.waiters
            .retain(|w| w.purpose != Purpose::Attempt(attempt));
        self.attempt_failed(
            now,
            attempt,
            Rejection::Aborted,
            Error::new(ErrorCode::Network, "aborted by the caller"),
            false,
        );
        self.run(now);
    }

    /// `refreshToken()`: a forced refresh, shared with any in flight.
    pub fn refresh_token(&mut self, now: Millis, call: CallId) {
        if self.refuse_closed(call) {
            return;
        }
        self.waiters.push(Waiter {
            need: Need::forced(now),
            purpose: Purpose::Refresh(call),
        });
        self.run(now);
    }

    /// `triggerSessionRecoveryCheck(trigger)`.
    pub fn recover(&mut self, now: Millis, call: CallId, trigger: String) {
        if self.refuse_closed(call) {
            return;
        }
        self.begin_recovery(Owner::Call(call), trigger);
        self.run(now);
    }

    /// The recovery attempts on record for run `run`: the stored `last_recovery_attempt`
    /// and the page's in-memory one. At most one check runs per cooldown, across every tab
    /// and manager.
    pub fn stamps_read(&mut self, now: Millis, run: u32, stamps: [Option<Millis>; 2]) {
        let Some(index) = self
            .recoveries
            .iter()
            .position(|r| r.id == run && r.stage == Stage::Claiming)
        else {
            return;
        };
        let on_record = [stamps[0], stamps[1], self.last_recovery];
        if let Cooldown::Wait { .. } =
            decide(now, self.settings.policy.recovery_cooldown_ms, &on_record)
        {
            let Some(run) = super::take(&mut self.recoveries, index) else {
                return;
            };
            self.debug_parts(&["recovery check skipped: cooldown (", &run.trigger, ")"]);
            self.recovery_finish(now, run.owner, run.trigger, "cooldown");
            return self.run(now);
        }
        self.last_recovery = Some(now);
        self.actions.push(Action::Stamp(now));
        let Some(claimed) = self.recoveries.get_mut(index) else {
            return;
        };
        claimed.stage = Stage::Token;
        claimed.failures_before = self.failures_announced;
        let trigger = claimed.trigger.clone();
        self.info_parts(&["session recovery check (", &trigger, ")"]);
        self.events.push(Event::RecoveryCheck { trigger });
        self.waiters.push(Waiter {
            need: Need::to_send(),
            purpose: Purpose::Recovery(run),
        });
        self.run(now);
    }

    /// `updateCredits({ forceRefresh })`. Overlapping calls share one run.
    pub fn update_credits(&mut self, now: Millis, call: CallId, force: bool) {
        if self.refuse_closed(call) {
            return;
        }
        if let Some(run) = &mut self.credits {
            run.callers.push(call);
            return;
        }
        if !self.settings.credits_endpoint {
            return self.reject(
                call,
                Error::config("endpoints.credits", "is needed where the page has no URL"),
            );
        }
        self.credits_seed = super::backoff::reseed(self.credits_seed);
        self.credits = Some(CreditsRun {
            callers: vec![call],
            force,
            plan: CreditsRetry::new(self.settings.credits, self.credits_seed),
            stage: CreditsStage::Stabilizing,
        });
        self.begin_wait(
            now,
            Owner::Credits,
            super::stability::DEFAULT_MAX_WAIT_MS,
            super::stability::DEFAULT_INTERVAL_MS,
        );
        self.run(now);
    }

    /// `waitForAuthStability({ maxWaitMs, intervalMs })`.
    pub fn wait_for_stability(
        &mut self,
        now: Millis,
        call: CallId,
        max_wait_ms: Millis,
        interval_ms: Millis,
    ) {
        if self.refuse_closed(call) {
            return;
        }
        self.begin_wait(now, Owner::Call(call), max_wait_ms, interval_ms);
        self.run(now);
    }

    /// `start()`: scheduled refresh; a real sign-in.
    pub fn start(&mut self, now: Millis) {
        if self.closed {
            return;
        }
        self.session.start(now);
        self.run(now);
    }

    /// `stop()`: no more scheduled refreshes (requests still get tokens).
    pub fn stop(&mut self) {
        self.session.stop();
        self.waiters.retain(|w| w.purpose != Purpose::Scheduled);
    }

    /// `signOut()`: stop, forget the token, clear the mirror, tell the other tabs.
    pub fn sign_out(&mut self, now: Millis, call: CallId) {
        if self.refuse_closed(call) {
            return;
        }
        self.stop();
        self.forget(now);
        self.actions.push(Action::BroadcastSignOut);
        self.resolve(call, Value::Nothing);
        self.run(now);
    }

    /// `free()`: every call still waiting ends with `freed`; nothing more is sent, announced
    /// or scheduled.
    pub fn free(&mut self) {
        if self.closed {
            return;
        }
        self.stop();
        self.closed = true;
        let mut calls: Vec<CallId> = Vec::new();
        for attempt in &self.attempts {
            if let Owner::Call(call) = attempt.owner {
                calls.push(call);
            }
        }
        for waiter in &self.waiters {
            if let Purpose::Refresh(call) = waiter.purpose {
                calls.push(call);
            }
        }
        for run in &self.recoveries {
            if let Owner::Call(call) = run.owner {
                calls.push(call);
            }
        }
        for wait in &self.waits {
            if let Owner::Call(call) = wait.owner {
                calls.push(call);
            }
        }
        if let Some(run) = self.credits.take() {
            calls.extend(run.callers);
        }
        // Settlements already queued stay: their callers must hear. Nothing else happens.
        self.actions
            .retain(|a| matches!(a, Action::Resolve { .. } | Action::Reject { .. }));
        self.events.clear();
        for send in self.sent.drain(..) {
            self.actions.push(Action::Abort { send: send.id });
        }
        self.waiters.clear();
        self.attempts.clear();
        self.recoveries.clear();
        self.waits.clear();
        self.samples.clear();
        self.provider = None;
        for call in calls {
            self.actions.push(Action::Reject {
                call,
                error: Rejection::Error(Error::freed()),
            });
        }
    }

    // ----- what the outside world reports -----

    /// The provider answered refresh `id`: a token with what the browser decoded of its
    /// claims, `None` for "no session", or why the call failed (threw, rejected, answered
    /// something that is not a string).
    pub fn provider_answered(
        &mut self,
        now: Millis,
        id: RefreshId,
        answer: Result<Option<Answer>, Error>,
    ) {
        let Some(call) = self
            .provider
            .take_if(|p| p.id == id && p.stage == CallStage::Asking)
        else {
            return;
        };
        let outcome = self.session.refresh_finished(now, id, answer);
        if self.settings.tabs && matches!(outcome, Refreshed::New { .. }) {
            if let Some(token) = self.session.current_token().cloned() {
                self.actions.push(Action::Share(token));
            }
        }
        self.announce(outcome, call.reason);
        self.release(id);
        self.run(now);
    }

    /// Request `send` ended.
    pub fn replied(&mut self, now: Millis, send: SendId, reply: Reply) {
        let Some(index) = self.sent.iter().position(|s| s.id == send) else {
            return;
        };
        let Some(Sent { owner, .. }) = super::take(&mut self.sent, index) else {
            return;
        };
        match owner {
            SendOwner::Attempt(attempt) => self.attempt_replied(now, attempt, send, reply),
            SendOwner::CreditsProbe(run) => {
                let healthy = matches!(
                    &reply,
                    Reply::Answered { status: 200..=299, body: Some(body), .. }
                        if super::credits::read_credits(body.credits, body.success)
                            .is_some_and(|n| credits_look_healthy(n, true))
                );
                self.probe_credits_done(now, run, healthy);
            }
            SendOwner::Verify(run) => {
                let verdict = match reply {
                    Reply::Answered {
                        status: 200..=299, ..
                    } => {
                        self.session.verified();
                        Ok(())
                    }
                    Reply::Answered { .. } => Err(Error::new(
                        ErrorCode::RefreshFailed,
                        "the verify endpoint did not accept the session",
                    )),
                    _ => Err(Error::new(
                        ErrorCode::Network,
                        "fetch failed (offline, DNS, CORS or a refused connection)",
                    )),
                };
                self.verify_done(now, run, verdict);
            }
        }
        self.run(now);
    }

    /// Sample `id` ended: what `checkSession()` said (`None`: not asked, or it could not
    /// say), and whether the storage mirror holds a token (`None`: no mirror, or it cannot
    /// be read or written).
    pub fn sampled(
        &mut self,
        now: Millis,
        id: SampleId,
        provider: Option<bool>,
        mirror: Option<bool>,
    ) {
        let Some(index) = self.samples.iter().position(|s| s.id == id) else {
            return;
        };
        let Some(Sampling { owner, .. }) = super::take(&mut self.samples, index) else {
            return;
        };
        match owner {
            SampleOwner::Recovery(run) => {
                self.probe_session_done(now, run, provider == Some(true));
            }
            SampleOwner::Wait(wait) => self.wait_sampled(now, wait, provider, mirror),
        }
        self.run(now);
    }

    /// The provider pushed a token it refreshed on its own, or `None`: it signed out.
    pub fn pushed(&mut self, now: Millis, token: Option<Answer>) {
        if self.closed {
            return;
        }
        match token {
            None => {
                self.info("the provider signed out");
                self.forget(now);
            }
            Some(token) => match self.session.pushed(now, token) {
                Ok(outcome) => self.announce(outcome, Reason::Provider),
                Err(error) => self.log(
                    Level::Warn,
                    crate::core::join(&[
                        "the provider pushed a token that cannot be used: ",
                        &error.message,
                    ])
                    .into(),
                ),
            },
        }
        self.run(now);
    }

    /// Another tab signed out.
    pub fn signed_out_elsewhere(&mut self, now: Millis) {
        if self.closed {
            return;
        }
        let was_authenticated = self.session.current_token().is_some();
        self.forget(now);
        if was_authenticated {
            self.expire(ExpiryReason::SignedOutElsewhere, Some(Halt::SignedOut));
        }
        self.run(now);
    }

    /// The page may have slept (shown, restored from the back/forward cache, back online):
    /// refresh now if the schedule is due.
    pub fn woke(&mut self, now: Millis, why: &'static str) {
        if self.closed {
            return;
        }
        // A wake-up that finds the schedule due logs the refresh it starts.
        let _ = why;
        self.run(now);
    }

    /// Refresh `id` holds the cross-tab lock; `stored` is the `exp` of the newest token the
    /// tabs stored (`None`: none, or it could not be read). A token that changed while this
    /// tab waited, or one another tab has just made (its message on the way), ends the
    /// refresh without asking the provider.
    ///
    /// True when the refresh now waits for that newer token's message: the browser layer then
    /// asks the other tabs for it (`wanted`), since a tab opened after it was sent missed it.
    pub fn shared_read(&mut self, now: Millis, id: RefreshId, stored: Option<Millis>) -> bool {
        let Some(call) = self
            .provider
            .as_mut()
            .filter(|p| p.id == id && p.stage == CallStage::Coordinating)
        else {
            return false;
        };
        let from = call.from;
        let mut awaiting = false;
        if self.session.refresh_superseded(now, id, from) {
            self.provider = None;
            self.release(id);
        } else if stored.is_some_and(|exp| self.session.would_take(now, exp)) {
            // Stored before the lock was released; its message can lag by a few ms.
            call.stage = CallStage::Awaiting;
            call.deadline = now.saturating_add(SHARE_WAIT_MS);
            awaiting = true;
        } else {
            let (force, reason) = (call.force, call.reason);
            // A follower refreshing a token that ran out, with nothing newer stored: the
            // leader did not do its job (closed, frozen, hung). This tab does it from now on.
            if !self.leader && matches!(reason, Reason::Expiring | Reason::Scheduled) {
                self.take_lead();
            }
            self.ask_provider(now, id, force, reason);
        }
        self.run(now);
        awaiting
    }

    /// Another tab waits for the newest token (it opened after that token was shared): the
    /// one held goes to the tabs again, if it has not expired. A halted or signed-out tab
    /// holds none.
    pub fn wanted(&mut self, now: Millis) {
        if self.closed || self.session.halted().is_some() || !self.session.is_authenticated(now) {
            return;
        }
        if let Some(token) = self.session.current_token() {
            self.actions.push(Action::Share(token.clone()));
        }
    }

    /// Another tab shared a token: taken when it is usable and later than the one held. A
    /// refresh waiting for it ends with it.
    pub fn shared_token(&mut self, now: Millis, answer: Answer) {
        if self.closed {
            return;
        }
        let awaiting = self
            .provider
            .as_ref()
            .filter(|p| p.stage == CallStage::Awaiting)
            .map(|p| p.id);
        let outcome = match awaiting {
            Some(id) => match self.session.refresh_shared(now, id, answer) {
                Some(outcome) => {
                    self.provider = None;
                    self.release(id);
                    outcome
                }
                None => Refreshed::Discarded,
            },
            None => self.session.shared(now, answer),
        };
        self.announce(outcome, Reason::Tab);
        self.run(now);
    }

    /// Whether this tab leads the scheduled refresh (it holds the leader's Web Lock).
    pub fn set_leader(&mut self, now: Millis, leader: bool) {
        self.leader = leader;
        self.run(now);
    }

    /// Whether this tab leads the scheduled refresh: it runs one (`start()`) and holds the
    /// leader's lock, or there are no Web Locks to choose a leader.
    pub fn is_leader(&self) -> bool {
        self.leader && self.session.is_running() && self.session.halted().is_none() && !self.closed
    }

    /// Whether the browser is online; an `online` event resumes a paused credits run.
    pub fn set_online(&mut self, now: Millis, online: bool) {
        let came_back = online && !self.online;
        self.online = online;
        if came_back && !self.closed {
            if let Some(CreditsRun {
                stage: CreditsStage::Offline { .. },
                ..
            }) = self.credits
            {
                self.credits_read(now);
            }
            self.run(now);
        }
    }

    /// Every deadline at or before `now` has passed: provider calls and requests time out,
    /// samples give up, sleeps end, the scheduled refresh starts.
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.closed {
            return;
        }
        if let Some(call) = self
            .provider
            .take_if(|p| p.deadline <= now && p.stage != CallStage::Asking)
        {
            // The lock or the message did not come in time: ask the provider after all.
            self.ask_provider(now, call.id, call.force, call.reason);
        }
        if let Some(call) = self.provider.take_if(|p| p.deadline <= now) {
            self.release(call.id);
            let outcome = self.session.refresh_finished(
                now,
                call.id,
                Err(Error::new(
                    ErrorCode::Timeout,
                    "getToken did not settle within tokenTimeoutMs",
                )),
            );
            self.announce(outcome, call.reason);
        }
        while let Some(index) = self.sent.iter().position(|s| s.deadline <= now) {
            let Some(sent) = super::take(&mut self.sent, index) else {
                break;
            };
            self.actions.push(Action::Abort { send: sent.id });
            let timeout = Error::new(
                ErrorCode::Timeout,
                "the request did not complete within requestTimeoutMs",
            );
            match sent.owner {
                SendOwner::Attempt(attempt) => self.attempt_failed(
                    now,
                    attempt,
                    Rejection::Error(timeout.clone()),
                    timeout,
                    true,
                ),
                SendOwner::CreditsProbe(run) => self.probe_credits_done(now, run, false),
                SendOwner::Verify(run) => self.verify_done(now, run, Err(timeout)),
            }
        }
        while let Some(index) = self.samples.iter().position(|s| s.deadline <= now) {
            let Some(sample) = super::take(&mut self.samples, index) else {
                break;
            };
            match sample.owner {
                SampleOwner::Recovery(run) => self.probe_session_done(now, run, false),
                SampleOwner::Wait(wait) => self.wait_sampled(now, wait, None, None),
            }
        }
        let due: Vec<u32> = self
            .waits
            .iter()
            .filter(|w| matches!(w.stage, WaitStage::Asking { until, .. } | WaitStage::Sleeping { until } if until <= now))
            .map(|w| w.id)
            .collect();
        for wait in due {
            self.wait_timer(now, wait);
        }
        if let Some(run) = &self.credits {
            match run.stage {
                CreditsStage::Sleeping { until } if until <= now => self.credits_read(now),
                CreditsStage::Offline { until } if until <= now => {
                    self.credits_finish(Err(Error::new(
                        ErrorCode::Network,
                        "the browser stayed offline for requestTimeoutMs",
                    )))
                }
                _ => {}
            }
        }
        self.run(now);
    }

    // ----- tokens -----

    /// Starts the scheduled refresh when it is due, then steps every waiter that can move,
    /// until none can.
    fn run(&mut self, now: Millis) {
        if self.closed {
            return;
        }
        if !self.scheduled_pending() && self.scheduled_at().is_some_and(|at| at <= now) {
            // A follower's own first refresh, or a retry after a failure, takes the token the
            // tabs stored if there is one; only a missed refresh of a held token is a
            // missing leader.
            if !self.leader && !self.session.retrying() {
                self.take_lead();
            }
            self.waiters.push(Waiter {
                need: Need::scheduled(now),
                purpose: Purpose::Scheduled,
            });
        }
        let mut index = 0;
        for _ in 0..STEP_LIMIT {
            let Some(waiter) = self.waiters.get_mut(index) else {
                break;
            };
            // A waiter joined to the refresh in flight moves when that refresh lands.
            if waiter.need.awaits().is_some() && waiter.need.awaits() == self.session.inflight() {
                index += 1;
                continue;
            }
            match self.session.next_step(now, &mut waiter.need) {
                Step::Wait => index += 1,
                Step::Refresh(id, kind, reason) => {
                    self.call_provider(now, id, kind, reason);
                    index += 1;
                }
                Step::Use(generation, token) => {
                    // The last waiter takes this one's place: it has not been stepped yet.
                    if let Some(waiter) = super::take(&mut self.waiters, index) {
                        self.deliver(now, waiter.purpose, Ok((generation, token)));
                    }
                }
                Step::GiveUp(error) => {
                    if let Some(waiter) = super::take(&mut self.waiters, index) {
                        self.deliver(now, waiter.purpose, Err(error));
                    }
                }
            }
        }
    }

    fn scheduled_pending(&self) -> bool {
        self.waiters.iter().any(|w| w.purpose == Purpose::Scheduled)
    }

    fn call_provider(&mut self, now: Millis, id: RefreshId, kind: RefreshKind, reason: Reason) {
        let force = kind == RefreshKind::Forced;
        if self.settings.tabs {
            // Another tab may be refreshing right now: wait for the lock, then see what it
            // stored. A holder gets its own tokenTimeoutMs and a second before it is robbed.
            let steal_after = self.settings.policy.token_timeout_ms.saturating_add(1_000);
            self.provider = Some(ProviderCall {
                id,
                reason,
                deadline: now.saturating_add(steal_after).saturating_add(2_000),
                force,
                from: self.session.generation(),
                stage: CallStage::Coordinating,
            });
            self.actions.push(Action::Coordinate { id, steal_after });
            return;
        }
        self.ask_provider(now, id, force, reason);
    }

    fn ask_provider(&mut self, now: Millis, id: RefreshId, force: bool, reason: Reason) {
        self.debug_parts(&["asking the provider for a token (", reason.as_str(), ")"]);
        self.provider = Some(ProviderCall {
            id,
            reason,
            deadline: now.saturating_add(self.settings.policy.token_timeout_ms),
            force,
            from: self.session.generation(),
            stage: CallStage::Asking,
        });
        self.actions
            .push(Action::CallProvider { id, force, reason });
    }

    fn take_lead(&mut self) {
        self.info("the leading tab missed its refresh; this tab takes over");
        self.leader = true;
        self.actions.push(Action::TakeLead);
    }

    /// The refresh in flight is over (answered, timed out, discarded): the cross-tab lock
    /// it holds goes.
    fn release(&mut self, id: RefreshId) {
        if self.settings.tabs {
            self.actions.push(Action::Release { id });
        }
    }

    /// When the scheduled refresh is due: the session's schedule for the leader; a grace
    /// later for a follower, which refreshes only if the leader did not.
    fn scheduled_at(&self) -> Option<Millis> {
        let shift = if self.settings.tabs && self.settings.locks && !self.leader {
            FOLLOWER_GRACE_MS as i64
        } else {
            0
        };
        self.session.next_wake_shifted(shift)
    }

    /// Hands a token (or why there is none) to whoever waited for it.
    fn deliver(
        &mut self,
        now: Millis,
        purpose: Purpose,
        token: Result<(Generation, Token), Error>,
    ) {
        match purpose {
            Purpose::Attempt(attempt) => self.attempt_token(now, attempt, token),
            Purpose::Refresh(call) => match token {
                Ok((_, token)) => self.resolve(call, Value::Token(token)),
                Err(error) => self.reject(call, error),
            },
            Purpose::Scheduled | Purpose::Detached => {}
            Purpose::Recovery(run) => self.recovery_token(now, run, token),
            Purpose::Stability(wait) => self.wait_asked(wait),
        }
    }

    /// Tells the page what a finished refresh changed: events, mirror, logs.
    fn announce(&mut self, outcome: Refreshed, reason: Reason) {
        match outcome {
            Refreshed::New {
                expires_at,
                unreadable,
                signed_in,
                short_lifetime,
                ..
            } => {
                let token = self.session.current_token().cloned();
                self.actions.push(Action::Mirror(token));
                if let Some(problem) = unreadable {
                    self.debug_parts(&[
                        problem.describe(),
                        "; refreshed by refreshIntervalMs and on 401",
                    ]);
                }
                if let Some(lifetime) = short_lifetime {
                    self.warn_short_lifetime(lifetime);
                }
                self.info_parts(&["token refreshed (", reason.as_str(), ")"]);
                self.events
                    .push(Event::TokenRefreshed { expires_at, reason });
                if signed_in {
                    self.events.push(Event::StateChanged {
                        authenticated: true,
                        expires_at,
                    });
                }
            }
            Refreshed::Unchanged => {}
            Refreshed::SignedOut { had_token } => {
                self.info("the provider has no session");
                self.actions.push(Action::Mirror(None));
                if had_token {
                    self.signed_out_event();
                }
            }
            Refreshed::Failed(error) => self.refresh_failed(error, reason),
            Refreshed::Discarded => {}
        }
    }

    fn warn_short_lifetime(&mut self, lifetime: Millis) {
        let margin = self.settings.policy.expiry_margin_ms;
        let consequence = if lifetime <= margin {
            " ms, so no token can be sent"
        } else {
            " ms by less than the 1 s refresh gap, so tokens go stale between refreshes"
        };
        let line = crate::core::join(&[
            "token lifetime ",
            &format_stamp(lifetime),
            " ms does not exceed expiryMarginMs ",
            &format_stamp(margin),
            consequence,
            "; lower expiryMarginMs",
        ]);
        self.log(Level::Warn, line.into());
    }

    fn refresh_failed(&mut self, error: Error, reason: Reason) {
        self.failures_announced = self.failures_announced.wrapping_add(1);
        self.log(
            Level::Warn,
            crate::core::join(&["token refresh failed: ", &error.message]).into(),
        );
        self.events.push(Event::RefreshFailed { error, reason });
    }

    fn signed_out_event(&mut self) {
        self.events.push(Event::StateChanged {
            authenticated: false,
            expires_at: None,
        });
    }

    /// Forgets the token and halts until a real sign-in; a started schedule stays started.
    fn forget(&mut self, _now: Millis) {
        let had_token = self.session.sign_out();
        // The refresh in flight is discarded with the token.
        if let Some(call) = self.provider.take() {
            self.release(call.id);
        }
        self.actions.push(Action::Mirror(None));
        if had_token {
            self.info("signed out");
            self.signed_out_event();
        }
    }

    /// Reports the session expired, once; `halt` also halts it.
    fn expire(&mut self, reason: ExpiryReason, halt: Option<Halt>) {
        if !self.session.report_expired(halt) {
            return;
        }
        self.log(
            Level::Warn,
            crate::core::join(&["session expired (", reason.as_str(), ")"]).into(),
        );
        self.events.push(Event::SessionExpired { reason });
        self.actions.push(Action::SessionOver);
    }

    fn expire_for(&mut self, error: &Error) {
        let reason = if error.code == ErrorCode::Unauthenticated {
            ExpiryReason::Unauthenticated
        } else {
            ExpiryReason::RefreshFailed
        };
        self.expire(reason, None);
    }

    // ----- fetchWithAuth attempts -----

    fn begin_attempt(
        &mut self,
        now: Millis,
        owner: Owner,
        target: Target,
        authorized: bool,
        replayable: bool,
    ) {
        let id = self.next_id();
        self.attempts.push(Attempt {
            id,
            owner,
            target,
            authorized,
            replayable,
            generation: 0,
            retried: false,
        });
        if authorized {
            self.waiters.push(Waiter {
                need: Need::to_send(),
                purpose: Purpose::Attempt(id),
            });
        } else {
            self.send(now, SendOwner::Attempt(id), target, None);
        }
    }

    fn send(&mut self, now: Millis, owner: SendOwner, target: Target, token: Option<Token>) {
        let id = self.next_id();
        self.sent.push(Sent {
            id,
            deadline: now.saturating_add(self.settings.policy.request_timeout_ms),
            owner,
        });
        let read = match target {
            Target::Page(_) => Read::Refusal,
            Target::Credits { .. } | Target::Verify => Read::Everything,
        };
        self.actions.push(Action::Send {
            send: id,
            target,
            token,
            read,
        });
    }

    fn attempt_token(&mut self, now: Millis, id: u32, token: Result<(Generation, Token), Error>) {
        let Some(attempt) = self.attempts.iter_mut().find(|a| a.id == id) else {
            return;
        };
        match token {
            Ok((generation, token)) => {
                attempt.generation = generation;
                let target = attempt.target;
                self.send(now, SendOwner::Attempt(id), target, Some(token));
            }
            Err(error) => {
                self.expire_for(&error);
                self.attempt_failed(now, id, Rejection::Error(error.clone()), error, false);
            }
        }
    }

    fn attempt_replied(&mut self, now: Millis, id: u32, send: SendId, reply: Reply) {
        let Some(attempt) = self.attempts.iter().find(|a| a.id == id) else {
            return;
        };
        let (status, body, retry_after) = match reply {
            Reply::Answered {
                status,
                body,
                retry_after,
            } => (status, body, retry_after),
            Reply::Network => {
                let error = Error::new(
                    ErrorCode::Network,
                    "fetch failed (offline, DNS, CORS or a refused connection)",
                );
                return self.attempt_failed(now, id, Rejection::Send(send), error, true);
            }
            Reply::Aborted | Reply::Input => {
                let error = Error::new(ErrorCode::BadResponse, "the request could not be made");
                return self.attempt_failed(now, id, Rejection::Send(send), error, false);
            }
        };
        let refused = super::refusal::asks_for_refresh(status, body.as_ref());
        let (authorized, retried, replayable, generation) = (
            attempt.authorized,
            attempt.retried,
            attempt.replayable,
            attempt.generation,
        );
        let answered = Outcome::Answered {
            send,
            status,
            body,
            retry_after,
        };
        if !authorized {
            return self.attempt_done(now, id, answered);
        }
        if !refused {
            self.session.accepted(generation);
            return self.attempt_done(now, id, answered);
        }
        if retried {
            // A freshly minted token was refused too: the next one would be as well.
            self.expire(ExpiryReason::Unauthorized, Some(Halt::Refused));
            return self.attempt_done(now, id, answered);
        }
        if !replayable {
            self.log(
                Level::Warn,
                "a ReadableStream body got a 401 and is not replayed".into(),
            );
            self.waiters.push(Waiter {
                need: Need::after_rejection(generation),
                purpose: Purpose::Detached,
            });
            return self.attempt_done(now, id, answered);
        }
        if !self.session.may_retry() {
            // Halted: the backend has refused this session already. The 401 is the answer;
            // no provider call, no second report.
            return self.attempt_done(now, id, answered);
        }
        self.debug("401: refreshing and retrying once");
        if let Some(attempt) = self.attempts.iter_mut().find(|a| a.id == id) {
            attempt.retried = true;
        }
        self.waiters.push(Waiter {
            need: Need::after_rejection(generation),
            purpose: Purpose::Attempt(id),
        });
    }

    fn attempt_failed(
        &mut self,
        now: Millis,
        id: u32,
        rejection: Rejection,
        error: Error,
        transient: bool,
    ) {
        self.attempt_done(
            now,
            id,
            Outcome::Failed {
                rejection,
                error,
                transient,
            },
        );
    }

    fn attempt_done(&mut self, now: Millis, id: u32, outcome: Outcome) {
        let Some(index) = self.attempts.iter().position(|a| a.id == id) else {
            return;
        };
        let Some(attempt) = super::take(&mut self.attempts, index) else {
            return;
        };
        match attempt.owner {
            Owner::Call(call) => match outcome {
                Outcome::Answered { send, .. } => self.resolve(call, Value::Response(send)),
                Outcome::Failed { rejection, .. } => self.actions.push(Action::Reject {
                    call,
                    error: rejection,
                }),
            },
            Owner::Credits => self.credits_read_done(now, outcome),
        }
    }

    // ----- the recovery run -----

    /// Starts a recovery check; it runs once the attempts on record are read (the cooldown).
    fn begin_recovery(&mut self, owner: Owner, trigger: String) {
        let id = self.next_id();
        self.recoveries.push(RecoveryRun {
            id,
            owner,
            trigger,
            failures_before: self.failures_announced,
            stage: Stage::Claiming,
            token: None,
            credits: None,
            verify: None,
            session: None,
        });
        self.actions.push(Action::ReadStamps { run: id });
    }

    fn recovery_token(&mut self, now: Millis, id: u32, token: Result<(Generation, Token), Error>) {
        let Some(run) = self.recoveries.iter_mut().find(|r| r.id == id) else {
            return;
        };
        let token = match token {
            Ok((_, token)) => token,
            Err(error) => return self.recovery_failed(now, id, error),
        };
        match run.stage {
            Stage::Token => {
                // checkSession runs alongside the credits probe; verify goes out only once
                // the credits probe has its answer, because on these backends a successful
                // verify re-establishes the session, and a credits probe answered after it
                // would hide the restart.
                run.stage = Stage::Probing;
                run.token = Some(token.clone());
                if !self.settings.check_session {
                    run.session = Some(true);
                } else {
                    let sample = self.next_id();
                    self.samples.push(Sampling {
                        id: sample,
                        deadline: now.saturating_add(self.settings.policy.token_timeout_ms),
                        owner: SampleOwner::Recovery(id),
                    });
                    self.actions.push(Action::Sample {
                        id: sample,
                        provider: true,
                    });
                }
                if self.settings.credits_endpoint {
                    self.send(
                        now,
                        SendOwner::CreditsProbe(id),
                        Target::Credits { force: false },
                        Some(token),
                    );
                } else {
                    self.probe_credits_done(now, id, true);
                }
            }
            Stage::ReEstablishing => {
                run.stage = Stage::Reverifying;
                if self.settings.verify_endpoint {
                    self.send(now, SendOwner::Verify(id), Target::Verify, Some(token));
                } else {
                    self.verify_done(now, id, Ok(()));
                }
            }
            Stage::Claiming | Stage::Probing | Stage::Reverifying => {}
        }
    }

    fn probe_credits_done(&mut self, now: Millis, id: u32, healthy: bool) {
        let Some(run) = self.recoveries.iter_mut().find(|r| r.id == id) else {
            return;
        };
        run.credits = Some(healthy);
        let token = run.token.clone();
        if self.settings.verify_endpoint {
            self.send(now, SendOwner::Verify(id), Target::Verify, token);
        } else {
            self.verify_done(now, id, Ok(()));
        }
    }

    fn probe_session_done(&mut self, now: Millis, id: u32, healthy: bool) {
        if let Some(run) = self.recoveries.iter_mut().find(|r| r.id == id) {
            run.session = Some(healthy);
            self.judge_probes(now, id);
        }
    }

    /// The verify endpoint answered: as a probe (any failure is unhealthy), or as the
    /// re-verify of a new token (a failure fails the recovery, and says why).
    fn verify_done(&mut self, now: Millis, id: u32, verdict: Result<(), Error>) {
        let Some(run) = self.recoveries.iter_mut().find(|r| r.id == id) else {
            return;
        };
        if run.stage == Stage::Reverifying {
            return match verdict {
                Ok(()) => self.recovered(now, id),
                Err(error) => self.recovery_failed(now, id, error),
            };
        }
        run.verify = Some(verdict.is_ok());
        self.judge_probes(now, id);
    }

    /// Once every probe has answered: healthy, or re-establish the session.
    fn judge_probes(&mut self, now: Millis, id: u32) {
        let Some(run) = self.recoveries.iter_mut().find(|r| r.id == id) else {
            return;
        };
        let (Some(credits), Some(verify), Some(session)) = (run.credits, run.verify, run.session)
        else {
            return;
        };
        let unhealthy: Vec<Probe> = [
            (Probe::Credits, credits),
            (Probe::Verify, verify),
            (Probe::CheckSession, session),
        ]
        .into_iter()
        .filter(|(_, healthy)| !healthy)
        .map(|(probe, _)| probe)
        .collect();
        if unhealthy.is_empty() {
            let Some(run) = self.take_recovery(id) else {
                return;
            };
            self.debug("recovery check: every probe is healthy");
            return self.recovery_finish(now, run.owner, run.trigger, "healthy");
        }
        let mut line = String::from("recovery check: unhealthy probe");
        for probe in &unhealthy {
            line.push(' ');
            line.push_str(probe.as_str());
        }
        line.push_str("; re-establishing the session");
        run.stage = Stage::ReEstablishing;
        // The unhealthy list waits in the run until the session is back.
        run.credits = Some(!unhealthy.contains(&Probe::Credits));
        run.verify = Some(!unhealthy.contains(&Probe::Verify));
        run.session = Some(!unhealthy.contains(&Probe::CheckSession));
        self.log(Level::Warn, line.into());
        self.waiters.push(Waiter {
            need: Need::recovery(now),
            purpose: Purpose::Recovery(id),
        });
    }

    fn recovered(&mut self, now: Millis, id: u32) {
        let Some(run) = self.take_recovery(id) else {
            return;
        };
        let unhealthy = [
            (Probe::Credits, run.credits),
            (Probe::Verify, run.verify),
            (Probe::CheckSession, run.session),
        ]
        .into_iter()
        .filter(|(_, healthy)| *healthy == Some(false))
        .map(|(probe, _)| probe)
        .collect();
        self.actions.push(Action::DropCreditsCache);
        self.info_parts(&["session recovered (", &run.trigger, ")"]);
        self.events.push(Event::Recovered {
            trigger: run.trigger.clone(),
            unhealthy,
        });
        self.actions.push(Action::AuthRecovered);
        self.recovery_finish(now, run.owner, run.trigger, "recovered");
    }

    /// Reports a failed recovery once: a failed provider call has already announced itself.
    fn recovery_failed(&mut self, now: Millis, id: u32, error: Error) {
        let Some(run) = self.take_recovery(id) else {
            return;
        };
        if self.failures_announced == run.failures_before {
            self.refresh_failed(error, Reason::Recovery);
        }
        self.recovery_finish(now, run.owner, run.trigger, "failed");
    }

    fn take_recovery(&mut self, id: u32) -> Option<RecoveryRun> {
        let index = self.recoveries.iter().position(|r| r.id == id)?;
        super::take(&mut self.recoveries, index)
    }

    fn recovery_finish(
        &mut self,
        now: Millis,
        owner: Owner,
        trigger: String,
        reason: &'static str,
    ) {
        match owner {
            Owner::Call(call) => self.resolve(
                call,
                Value::Outcome {
                    ran: reason != "cooldown",
                    reason,
                    trigger,
                },
            ),
            Owner::Credits => {
                if let Some(CreditsRun {
                    stage: CreditsStage::Recovering { delay },
                    ..
                }) = self.credits
                {
                    if let Some(run) = &mut self.credits {
                        run.force = true;
                        run.stage = CreditsStage::Sleeping {
                            until: now.saturating_add(delay),
                        };
                    }
                }
            }
        }
    }

    // ----- the credits run -----

    fn credits_read(&mut self, now: Millis) {
        let Some(run) = &mut self.credits else { return };
        let was_offline = matches!(run.stage, CreditsStage::Offline { .. });
        if !self.online {
            run.stage = CreditsStage::Offline {
                until: now.saturating_add(self.settings.policy.request_timeout_ms),
            };
            if !was_offline {
                self.actions.push(Action::WatchOnline(true));
            }
            self.info("offline: waiting for the browser to come back online");
            return;
        }
        run.stage = CreditsStage::Reading;
        if was_offline {
            self.actions.push(Action::WatchOnline(false));
        }
        let force = run.force;
        self.begin_attempt(now, Owner::Credits, Target::Credits { force }, true, true);
    }

    fn credits_read_done(&mut self, now: Millis, outcome: Outcome) {
        let reading = match outcome {
            Outcome::Answered {
                status,
                body,
                retry_after,
                ..
            } => classify(status, body.as_ref(), retry_after),
            Outcome::Failed {
                error, transient, ..
            } => {
                if transient {
                    Reading::Transient {
                        error,
                        retry_after_ms: None,
                    }
                } else {
                    Reading::Final(error)
                }
            }
        };
        if matches!(reading, Reading::Transient { .. }) && !self.online {
            // Lost the connection: the next turn waits for `online`; no retry is spent.
            return self.credits_read(now);
        }
        let authenticated = self.session.is_authenticated(now);
        let Some(run) = &mut self.credits else { return };
        match run.plan.next(reading, authenticated) {
            Next::Done(credits) => self.credits_finish(Ok(credits)),
            Next::Retry { delay_ms, zero } => {
                if zero {
                    run.stage = CreditsStage::Recovering { delay: delay_ms };
                    self.info("credits read 0 for a signed-in user; checking the session");
                    // The check runs only if no other ran within the cooldown; either way the
                    // next read bypasses the server's cache.
                    self.begin_recovery(Owner::Credits, "credits-zero".into());
                } else {
                    run.stage = CreditsStage::Sleeping {
                        until: now.saturating_add(delay_ms),
                    };
                }
            }
            Next::Fail(error) => {
                self.log(
                    Level::Warn,
                    crate::core::join(&["credits could not be read: ", &error.message]).into(),
                );
                self.credits_finish(Err(error));
            }
        }
    }

    fn credits_finish(&mut self, result: Result<f64, Error>) {
        let Some(run) = self.credits.take() else {
            return;
        };
        if matches!(run.stage, CreditsStage::Offline { .. }) {
            self.actions.push(Action::WatchOnline(false));
        }
        match result {
            Ok(credits) => {
                self.events.push(Event::CreditsUpdated { credits });
                for call in run.callers {
                    self.resolve(call, Value::Number(credits));
                }
            }
            Err(error) => {
                for call in run.callers {
                    self.reject(call, error.clone());
                }
            }
        }
    }

    // ----- stability waits -----

    fn begin_wait(&mut self, now: Millis, owner: Owner, max_wait_ms: Millis, interval_ms: Millis) {
        let id = self.next_id();
        self.waits.push(Wait {
            id,
            owner,
            wait: Stability::new(now, max_wait_ms, interval_ms),
            stage: WaitStage::Sampling,
        });
        self.wait_sample(now, id, self.settings.check_session);
    }

    fn wait_sample(&mut self, now: Millis, wait: u32, provider: bool) {
        let Some(w) = self.waits.iter().find(|w| w.id == wait) else {
            return;
        };
        let limit = w
            .wait
            .remaining(now)
            .min(self.settings.policy.token_timeout_ms);
        let id = self.next_id();
        self.samples.push(Sampling {
            id,
            deadline: now.saturating_add(limit),
            owner: SampleOwner::Wait(wait),
        });
        self.actions.push(Action::Sample { id, provider });
    }

    fn wait_sampled(&mut self, now: Millis, id: u32, provider: Option<bool>, mirror: Option<bool>) {
        let Some(wait) = self.waits.iter_mut().find(|w| w.id == id) else {
            return;
        };
        let manager = self.session.is_authenticated(now);
        match wait.stage {
            WaitStage::Sampling => {
                if self.settings.check_session && provider.is_none() {
                    // The provider could not say: no agreement this time.
                    return self.wait_after(now, id, false);
                }
                let sources = Sources {
                    provider: if self.settings.check_session {
                        provider
                    } else {
                        None
                    },
                    manager,
                    mirror,
                };
                match sources.verdict() {
                    Verdict::Agreed => self.wait_after(now, id, true),
                    Verdict::AskProvider => {
                        let limit = wait
                            .wait
                            .remaining(now)
                            .min(self.settings.policy.token_timeout_ms);
                        wait.stage = WaitStage::Asking {
                            provider: sources.provider,
                            until: now.saturating_add(limit),
                        };
                        self.waiters.push(Waiter {
                            need: Need::scheduled(now),
                            purpose: Purpose::Stability(id),
                        });
                    }
                    Verdict::SyncMirror => {
                        wait.stage = WaitStage::Resampling {
                            provider: sources.provider,
                        };
                        let token = self.session.current_token().cloned();
                        self.actions.push(Action::Mirror(token));
                        self.wait_sample(now, id, false);
                    }
                }
            }
            WaitStage::Resampling { provider } => {
                let sources = Sources {
                    provider,
                    manager,
                    mirror,
                };
                self.wait_after(now, id, sources.verdict() == Verdict::Agreed);
            }
            WaitStage::Asking { .. } | WaitStage::Sleeping { .. } => {}
        }
    }

    /// The provider was asked (or the ask ran out of time): sample the manager and the
    /// mirror again, so the usual case settles without waiting an interval.
    fn wait_asked(&mut self, id: u32) {
        let Some(wait) = self.waits.iter_mut().find(|w| w.id == id) else {
            return;
        };
        if let WaitStage::Asking { provider, .. } = wait.stage {
            wait.stage = WaitStage::Resampling { provider };
            let sample = self.next_id();
            self.samples.push(Sampling {
                id: sample,
                deadline: Millis::MAX,
                owner: SampleOwner::Wait(id),
            });
            self.actions.push(Action::Sample {
                id: sample,
                provider: false,
            });
        }
    }

    fn wait_timer(&mut self, now: Millis, id: u32) {
        let Some(wait) = self.waits.iter_mut().find(|w| w.id == id) else {
            return;
        };
        match wait.stage {
            WaitStage::Asking { .. } => {
                self.waiters.retain(|w| w.purpose != Purpose::Stability(id));
                self.wait_asked(id);
            }
            WaitStage::Sleeping { .. } => {
                wait.stage = WaitStage::Sampling;
                self.wait_sample(now, id, self.settings.check_session);
            }
            _ => {}
        }
    }

    fn wait_after(&mut self, now: Millis, id: u32, agreed: bool) {
        let Some(index) = self.waits.iter().position(|w| w.id == id) else {
            return;
        };
        let Some(wait) = self.waits.get_mut(index) else {
            return;
        };
        let stable = match wait.wait.after(now, agreed) {
            Poll::Sleep(ms) => {
                wait.stage = WaitStage::Sleeping {
                    until: now.saturating_add(ms),
                };
                return;
            }
            Poll::Stable => true,
            Poll::TimedOut => {
                self.log(
                    Level::Warn,
                    "auth sources did not agree within maxWaitMs".into(),
                );
                false
            }
        };
        let Some(wait) = super::take(&mut self.waits, index) else {
            return;
        };
        match wait.owner {
            Owner::Call(call) => self.resolve(call, Value::Bool(stable)),
            Owner::Credits => self.credits_read(now),
        }
    }

    // ----- settling calls, logging -----

    fn refuse_closed(&mut self, call: CallId) -> bool {
        if self.closed {
            self.reject(call, Error::freed());
        }
        self.closed
    }

    fn resolve(&mut self, call: CallId, value: Value) {
        self.actions.push(Action::Resolve { call, value });
    }

    fn reject(&mut self, call: CallId, error: Error) {
        self.actions.push(Action::Reject {
            call,
            error: Rejection::Error(error),
        });
    }

    fn log(&mut self, level: Level, line: Cow<'static, str>) {
        if level >= self.settings.log_level {
            self.actions.push(Action::Log(level, line));
        }
    }

    fn logs(&self, level: Level) -> bool {
        level >= self.settings.log_level
    }

    fn debug(&mut self, line: &'static str) {
        self.log(Level::Debug, line.into());
    }

    fn debug_parts(&mut self, parts: &[&str]) {
        if self.logs(Level::Debug) {
            self.log(Level::Debug, super::join(parts).into());
        }
    }

    fn info(&mut self, line: &'static str) {
        self.log(Level::Info, line.into());
    }

    fn info_parts(&mut self, parts: &[&str]) {
        if self.logs(Level::Info) {
            self.log(Level::Info, super::join(parts).into());
        }
    }
}

#[cfg(test)]
mod tests;
