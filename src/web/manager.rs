//! One session in the browser: runs the core's steps, calls the provider, sends requests,
//! keeps the refresh timer and the page-lifecycle listeners.
//!
//! `Inner` is shared (`Rc`) between the exported `SessionManager` and the futures in flight.
//! Timer, lifecycle and broadcast callbacks hold only a `Weak`, so dropping the manager
//! (`free()`) tears everything down. No `RefCell` borrow is held across an `await`.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

mod credits;
mod recovery;
mod stability;

use super::channel::TabChannel;
use super::config::Config;
use super::deadline::{within, Timer};
use super::error::Failure;
use super::events::{detail, Events};
use super::lifecycle::Lifecycle;
use super::log::Logger;
use super::provider::Following;
use super::request::{wants_refresh, Prepared};
use super::storage::Mirror;
use super::{now, promise, random_seed, spawn};
use crate::core::error::{Error, ErrorCode};
use crate::core::jwt::claims;
use crate::core::session::{
    Answer, Generation, Halt, Need, Reason, RefreshId, RefreshKind, Refreshed, Session, Step, Token,
};
use crate::core::Millis;

/// What other tabs of the origin hear when this one signs out.
const SIGN_OUT_MESSAGE: &str = "signOut";

/// The shared state of one session.
pub struct Inner {
    core: RefCell<Session>,
    config: Config,
    log: Logger,
    events: Events,
    mirror: Mirror,
    /// The provider call in flight; joiners await this same promise (single flight).
    inflight: RefCell<Option<(RefreshId, Promise)>>,
    /// The refresh timer; replacing or dropping it cancels it.
    timer: RefCell<Option<Timer>>,
    lifecycle: RefCell<Option<Lifecycle>>,
    /// Shared (`Rc`) so it can be cloned out of the cell before posting: no borrow is held
    /// across the call into JS.
    channel: RefCell<Option<Rc<TabChannel>>>,
    /// The provider's push subscription (`subscribe`), released by `stop()` and `free()`.
    following: RefCell<Option<Following>>,
    /// The `updateCredits()` run in flight; overlapping calls share it.
    credits_inflight: RefCell<Option<Promise>>,
    /// How many `refreshFailed` events were emitted, so a recovery reports a failure once.
    failures_announced: Cell<u32>,
    /// Set by `free()`: work still in flight ends with `freed`, sends nothing, announces
    /// nothing and arms no timer.
    closed: Cell<bool>,
}

impl Inner {
    /// Builds a session from a validated config and starts listening for other tabs.
    pub fn new(config: Config) -> Rc<Inner> {
        let inner = Rc::new(Inner {
            core: RefCell::new(Session::new(config.policy, random_seed())),
            log: Logger(config.log_level),
            mirror: Mirror::new(config.storage_keys.clone()),
            events: Events::new(),
            config,
            inflight: RefCell::new(None),
            timer: RefCell::new(None),
            lifecycle: RefCell::new(None),
            channel: RefCell::new(None),
            following: RefCell::new(None),
            credits_inflight: RefCell::new(None),
            failures_announced: Cell::new(0),
            closed: Cell::new(false),
        });
        inner.listen_to_other_tabs();
        inner.follow_provider();
        inner
    }

    /// The listener registry.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Whether there is a token that has not expired.
    pub fn is_authenticated(&self) -> bool {
        self.core.borrow().is_authenticated(now())
    }

    /// Page-clock expiry of the current token, as JavaScript sees it.
    pub fn expires_at(&self) -> JsValue {
        expiry(self.core.borrow().expires_at())
    }

    // ----- tokens -----

    /// Runs the core's steps until `need` is met: a usable token, or an error.
    async fn token_for(self: &Rc<Self>, mut need: Need) -> Result<(Generation, Token), Error> {
        loop {
            if self.closed.get() {
                return Err(Error::freed());
            }
            let step = self.core.borrow_mut().next_step(now(), &mut need);
            let pending = match step {
                Step::Use(generation, token) => return Ok((generation, token)),
                Step::GiveUp(error) => return Err(error),
                Step::Wait => self.inflight.borrow().as_ref().map(|(_, p)| p.clone()),
                Step::Refresh(id, kind, reason) => Some(self.start_refresh(id, kind, reason)),
            };
            if let Some(pending) = pending {
                // The refresh promise never rejects; its outcome is read back from the core.
                let _ = JsFuture::from(pending).await;
            }
        }
    }

    /// Starts provider call `id` and publishes it as the one in flight.
    fn start_refresh(self: &Rc<Self>, id: RefreshId, kind: RefreshKind, reason: Reason) -> Promise {
        let inner = Rc::clone(self);
        let pending = promise(async move {
            let answer = inner.ask_provider(kind, reason).await;
            let outcome = inner.core.borrow_mut().refresh_finished(now(), id, answer);
            {
                let mut slot = inner.inflight.borrow_mut();
                if slot.as_ref().is_some_and(|(i, _)| *i == id) {
                    *slot = None;
                }
            }
            inner.announce(outcome, reason);
            inner.reschedule();
            Ok(JsValue::UNDEFINED)
        });
        *self.inflight.borrow_mut() = Some((id, pending.clone()));
        pending
    }

    /// Calls `getToken({ forceRefresh, reason })`, bounded by `tokenTimeoutMs`.
    async fn ask_provider(
        &self,
        kind: RefreshKind,
        reason: Reason,
    ) -> Result<Option<Answer>, Error> {
        let context = detail(&[
            (
                "forceRefresh",
                JsValue::from_bool(kind == RefreshKind::Forced),
            ),
            ("reason", JsValue::from_str(reason.as_str())),
        ]);
        self.log
            .debug(&["asking the provider for a token (", reason.as_str(), ")"]);
        let returned = self
            .config
            .get_token
            .call1(&JsValue::UNDEFINED, &context)
            .map_err(|_| Error::new(ErrorCode::RefreshFailed, "getToken threw"))?;
        let timeout = self.core.borrow().policy().token_timeout_ms;
        match within(timeout, JsFuture::from(Promise::resolve(&returned))).await {
            Err(_) => Err(Error::new(
                ErrorCode::Timeout,
                "getToken did not settle within tokenTimeoutMs",
            )),
            Ok(Err(_)) => Err(Error::new(ErrorCode::RefreshFailed, "getToken rejected")),
            Ok(Ok(value)) if value.is_null() || value.is_undefined() => Ok(None),
            Ok(Ok(value)) => match value.as_string() {
                Some(token) => Ok(Some(Answer {
                    claims: claims(&token),
                    token,
                })),
                None => Err(Error::new(
                    ErrorCode::RefreshFailed,
                    "getToken returned something other than a string or null",
                )),
            },
        }
    }

    /// Tells the page what a finished refresh changed: events, mirror, logs.
    fn announce(&self, outcome: Refreshed, reason: Reason) {
        if self.closed.get() {
            return;
        }
        match outcome {
            Refreshed::New {
                expires_at,
                unreadable,
                signed_in,
                short_lifetime,
                ..
            } => {
                // Cloned first: no borrow is held across a call into JS (storage, console,
                // listeners), which may call back into the manager.
                let current = self.core.borrow().current_token().cloned();
                if let Some(current) = current {
                    self.mirror.write(current.expose(), &self.log);
                }
                if let Some(lifetime) = short_lifetime {
                    let margin = self.config.policy.expiry_margin_ms;
                    let consequence = if lifetime <= margin {
                        " ms, so no token can be sent"
                    } else {
                        " ms by less than the minimum refresh gap (1 s, or refreshIntervalMs if shorter), so tokens go stale between refreshes"
                    };
                    self.log.warn(&[
                        "token lifetime ",
                        &decimal(lifetime),
                        " ms does not exceed expiryMarginMs ",
                        &decimal(margin),
                        consequence,
                        "; lower expiryMarginMs (refreshes back off meanwhile)",
                    ]);
                }
                if let Some(problem) = unreadable {
                    self.log.debug(&[
                        problem.describe(),
                        "; refreshing by refreshIntervalMs and on 401 only",
                    ]);
                }
                self.log.info(&["token refreshed (", reason.as_str(), ")"]);
                let expires = expiry(expires_at);
                self.events.emit(
                    "tokenRefreshed",
                    &detail(&[
                        ("expiresAt", expires.clone()),
                        ("reason", JsValue::from_str(reason.as_str())),
                    ]),
                    &self.log,
                );
                if signed_in {
                    self.state_changed(true, expires);
                }
            }
            Refreshed::Unchanged => self
                .log
                .debug(&["the provider confirmed the current token"]),
            Refreshed::SignedOut { had_token } => {
                self.log.info(&["the provider has no session"]);
                self.mirror.clear(&self.log);
                if had_token {
                    self.state_changed(false, JsValue::NULL);
                }
            }
            Refreshed::Failed(error) => self.refresh_failed(&error, reason.as_str()),
            Refreshed::Discarded => {}
        }
    }

    /// Logs and emits `refreshFailed` for `error`, with why the refresh ran.
    fn refresh_failed(&self, error: &Error, reason: &str) {
        self.failures_announced
            .set(self.failures_announced.get().wrapping_add(1));
        self.log.warn(&["token refresh failed: ", &error.message]);
        self.events.emit(
            "refreshFailed",
            &detail(&[
                ("code", JsValue::from_str(error.code.as_str())),
                ("message", JsValue::from_str(&error.message)),
                ("reason", JsValue::from_str(reason)),
            ]),
            &self.log,
        );
    }

    fn state_changed(&self, authenticated: bool, expires_at: JsValue) {
        self.events.emit(
            "stateChanged",
            &detail(&[
                ("authenticated", JsValue::from_bool(authenticated)),
                ("expiresAt", expires_at),
            ]),
            &self.log,
        );
    }

    /// Reports the session expired, once (see `Session::report_expired`), then calls
    /// `onSessionExpired` or goes to the login page. `halt` also halts the session: nothing
    /// asks the provider again until a real sign-in.
    fn session_expired(self: &Rc<Self>, reason: &str, halt: Option<Halt>) {
        let first = self.core.borrow_mut().report_expired(halt);
        // A halt disarms the timer.
        self.reschedule();
        if !first {
            return;
        }
        self.log.warn(&["session expired (", reason, ")"]);
        self.events.emit(
            "sessionExpired",
            &detail(&[("reason", JsValue::from_str(reason))]),
            &self.log,
        );
        if let Some(callback) = &self.config.on_session_expired {
            if callback.call0(&JsValue::UNDEFINED).is_err() {
                self.log.error(&["onSessionExpired threw"]);
            }
        } else if let Some(url) = &self.config.login_url {
            if let Some(window) = web_sys::window() {
                let _ = window.location().assign(url);
            }
        }
    }

    /// `refreshToken()`: a forced refresh, shared with any other in flight.
    pub async fn refresh_token(self: Rc<Self>) -> Result<JsValue, JsValue> {
        let (_, token) = self.token_for(Need::forced(now())).await?;
        Ok(JsValue::from_str(token.expose()))
    }

    // ----- requests -----

    /// `fetchWithAuth(input, init)`.
    pub async fn fetch_with_auth(
        self: Rc<Self>,
        input: JsValue,
        init: JsValue,
    ) -> Result<JsValue, JsValue> {
        Ok(self.fetch_authorized(&input, &init).await?.into())
    }

    /// `fetchWithAuth`, with failures kept typed for callers inside the library.
    async fn fetch_authorized(
        self: &Rc<Self>,
        input: &JsValue,
        init: &JsValue,
    ) -> Result<Response, Failure> {
        let request = Prepared::new(input, init)?;
        let timeout = self.core.borrow().policy().request_timeout_ms;
        let allowed = request.origin().is_some_and(|o| self.config.allows(&o));
        if !allowed || request.has_authorization() {
            // Other origins never see the bearer; a caller's own Authorization header wins.
            if allowed {
                self.log
                    .debug(&["the caller set Authorization; sending the request as it is"]);
            }
            return request.send(&self.config.fetch, None, timeout).await;
        }
        let (generation, token) = self.token_or_expire(Need::to_send()).await?;
        let response = request
            .send(&self.config.fetch, Some(token.expose()), timeout)
            .await?;
        if !wants_refresh(&response, timeout).await {
            self.core.borrow_mut().accepted(generation);
            return Ok(response);
        }
        if !self.core.borrow().may_retry() {
            // Halted: the backend has refused this session already. The 401 is the answer;
            // no provider call, no second report.
            return Ok(response);
        }
        if !request.replayable {
            self.log
                .warn(&["a request with a ReadableStream body got a 401 and cannot be replayed"]);
            self.refresh_detached(Need::after_rejection(generation));
            return Ok(response);
        }
        self.log.debug(&["401: refreshing and retrying once"]);
        let (retried_with, token) = self
            .token_or_expire(Need::after_rejection(generation))
            .await?;
        if let Some(reason) = request.aborted() {
            return Err(Failure::Aborted(reason));
        }
        if self.closed.get() {
            return Err(Error::freed().into());
        }
        let retried = request
            .send(&self.config.fetch, Some(token.expose()), timeout)
            .await?;
        if wants_refresh(&retried, timeout).await {
            // A freshly minted token was refused too: the next one would be as well.
            self.session_expired("unauthorized", Some(Halt::Refused));
        } else {
            self.core.borrow_mut().accepted(retried_with);
        }
        Ok(retried)
    }

    async fn token_or_expire(self: &Rc<Self>, need: Need) -> Result<(Generation, Token), Error> {
        let result = self.token_for(need).await;
        if let Err(error) = &result {
            let reason = if error.code == ErrorCode::Unauthenticated {
                "unauthenticated"
            } else {
                "refresh_failed"
            };
            self.session_expired(reason, None);
        }
        result
    }

    /// Meets `need` in the background. Nobody waits for the outcome: every refresh announces
    /// its own result (events, backoff) and re-arms the timer when it finishes.
    fn refresh_detached(self: &Rc<Self>, need: Need) {
        let inner = Rc::clone(self);
        spawn(async move {
            let _ = inner.token_for(need).await;
        });
    }

    // ----- schedule -----

    /// `start()`: scheduled refresh, page-lifecycle listeners and the provider's pushes.
    pub fn start(self: &Rc<Self>) {
        self.core.borrow_mut().start(now());
        self.follow_provider();
        if self.lifecycle.borrow().is_none() {
            let weak = Rc::downgrade(self);
            let listeners = Lifecycle::listen(move |event| {
                if let Some(inner) = weak.upgrade() {
                    inner
                        .log
                        .debug(&["page woke up (", event, "); re-checking the token"]);
                    inner.wake();
                }
            });
            *self.lifecycle.borrow_mut() = listeners;
        }
        self.wake();
    }

    /// `stop()`: cancels the timer, removes the listeners, unsubscribes from the provider.
    pub fn stop(&self) {
        self.halt();
        // The provider's unsubscribe may call back into the manager.
        drop(take(&self.following));
    }

    /// Stops scheduled refresh and the lifecycle listeners; the provider stays followed.
    fn halt(&self) {
        self.core.borrow_mut().stop();
        drop(take(&self.timer));
        drop(take(&self.lifecycle));
    }

    /// The timer fired, or the tab woke up: refreshes now if due, otherwise re-arms.
    fn wake(self: &Rc<Self>) {
        self.reschedule();
    }

    /// Follows the core's next wake-up: refreshes at once when it has already passed (a
    /// timer is never armed in the past), otherwise arms the one refresh timer (dropping
    /// the old one clears it). The core moves its wake-up past every provider call by its
    /// minimum gap, and past every failure window, so this cannot spin.
    fn reschedule(self: &Rc<Self>) {
        if self.closed.get() {
            return;
        }
        let next = self.core.borrow().next_wake();
        let at = now();
        drop(take(&self.timer));
        let Some(due) = next else { return };
        if due <= at {
            let inner = Rc::clone(self);
            return spawn(async move {
                let _ = inner.token_for(Need::scheduled(at)).await;
                // A scheduled attempt that ends without a provider call (the provider is
                // closed for a failure window) re-arms here; one that calls re-arms when
                // its refresh finishes, and again here.
                inner.reschedule();
            });
        }
        let weak: Weak<Inner> = Rc::downgrade(self);
        let timer = Timer::new(due - at, move || {
            if let Some(inner) = weak.upgrade() {
                inner.wake();
            }
        });
        if timer.is_none() {
            self.log
                .warn(&["setTimeout refused; refreshing on page wake-ups and requests only"]);
        }
        *self.timer.borrow_mut() = timer;
    }

    // ----- sign-out, here and in other tabs -----

    /// `signOut()`: stop, forget the token, clear the mirror, tell other tabs.
    pub fn sign_out(self: &Rc<Self>) {
        self.halt();
        self.forget();
        let channel = self.channel.borrow().clone();
        if let Some(channel) = channel {
            channel.post(SIGN_OUT_MESSAGE);
        }
    }

    /// Forgets the token and halts until a real sign-in (`start()`, a pushed token,
    /// `refreshToken()`). A started schedule stays started and picks up on sign-in.
    fn forget(self: &Rc<Self>) {
        let had_token = self.core.borrow_mut().sign_out();
        self.inflight.borrow_mut().take();
        self.reschedule();
        self.mirror.clear(&self.log);
        if had_token {
            self.log.info(&["signed out"]);
            self.state_changed(false, JsValue::NULL);
        }
    }

    // ----- the provider's own refreshes and sign-outs -----

    /// Registers with the provider's `subscribe`, once.
    fn follow_provider(self: &Rc<Self>) {
        let Some(subscribe) = &self.config.subscribe else {
            return;
        };
        if self.following.borrow().is_some() {
            return;
        }
        let weak = Rc::downgrade(self);
        // Built before it is stored: the provider may call the listener inside `subscribe`.
        let following = Following::start(subscribe, move |pushed| {
            if let Some(inner) = weak.upgrade() {
                inner.provider_pushed(pushed);
            }
        });
        if following.is_none() {
            self.log
                .warn(&["subscribe threw; following the provider by getToken only"]);
        }
        *self.following.borrow_mut() = following;
    }

    /// A token the provider refreshed on its own, or `null`: the user signed out there.
    fn provider_pushed(self: &Rc<Self>, pushed: JsValue) {
        if pushed.is_null() || pushed.is_undefined() {
            self.log.info(&["the provider signed out"]);
            self.forget();
            return;
        }
        let Some(token) = pushed.as_string() else {
            self.log
                .warn(&["subscribe's listener got something other than a token or null"]);
            return;
        };
        let answer = Answer {
            claims: claims(&token),
            token,
        };
        let outcome = self.core.borrow_mut().pushed(now(), answer);
        match outcome {
            Ok(outcome) => {
                self.announce(outcome, Reason::Provider);
                self.reschedule();
            }
            Err(error) => self.log.warn(&[
                "the provider pushed a token that cannot be used: ",
                &error.message,
            ]),
        }
    }

    fn listen_to_other_tabs(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let channel = TabChannel::open(move |message| {
            let Some(inner) = weak.upgrade() else { return };
            if message == SIGN_OUT_MESSAGE {
                let was_authenticated = inner.core.borrow().current_token().is_some();
                inner.forget();
                if was_authenticated {
                    inner.session_expired("signed_out_elsewhere", Some(Halt::SignedOut));
                }
            }
        });
        *self.channel.borrow_mut() = channel.map(Rc::new);
    }

    /// Tears everything down (`free()`): timer, listeners, channel.
    pub fn shutdown(&self) {
        self.closed.set(true);
        self.stop();
        drop(take(&self.channel));
    }
}

/// Empties a slot. The value is dropped (clearing a timer, removing listeners, calling the
/// provider's unsubscribe) by the caller, after the borrow has ended: no `RefCell` borrow is
/// ever held across a call into JavaScript, which may call back into the manager.
fn take<T>(slot: &RefCell<Option<T>>) -> Option<T> {
    slot.borrow_mut().take()
}

/// `n` in decimal digits, for log lines (no `core::fmt` in the module).
fn decimal(n: Millis) -> String {
    crate::core::recovery::format_stamp(n)
}

/// An expiry for `tokenExpiresAt` and event details: ms since the epoch, or `null` (never
/// `undefined`) when unknown, as the `number | null` of the typed contract says.
fn expiry(at: Option<Millis>) -> JsValue {
    at.map_or(JsValue::NULL, |t| JsValue::from_f64(t as f64))
}
