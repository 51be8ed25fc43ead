//! The browser layer's one moving part: it owns the core machine and the JavaScript
//! handles, feeds the core what happened, and carries out what the core asks
//! (`core::action::Action`), then emits its events and arms its one timer. It decides
//! nothing.
//!
//! Everything asynchronous comes back through one page-wide callback, which finds its
//! manager by id (`js/runtime.js` attaches it to promises and timers). A promise that
//! settles after `free()` finds no manager and does nothing: no closure is ever called after
//! it was dropped. No `RefCell` borrow is held across a call into JavaScript, and a call that
//! re-enters the manager from inside one (a listener, the provider) only feeds the core: the
//! loop already running drains it.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, OnceCell, RefCell};

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{CustomEvent, CustomEventInit, Response};

use super::channel::TabChannel;
use super::clock::Clock;
use super::config::Config;
use super::error::Failure;
use super::events::{detail, Events};
use super::js;
use super::lifecycle::Lifecycle;
use super::log::write;
use super::provider::Following;
use super::request::Prepared;
use super::storage::{read_stamps, write_stamp, Mirror};
use super::PageLocal;
use crate::core::action::{Action, CallId, Read, Rejection, Reply, Target, Value};
use crate::core::credits::{retry_after_ms, with_refresh};
use crate::core::error::{Error, ErrorCode};
use crate::core::event::Event;
use crate::core::machine::{Core, Settings};
use crate::core::recovery::CREDITS_CACHE_KEY;
use crate::core::session::{RefreshId, Token};
use crate::core::Millis;

/// What a callback from `js/runtime.js` reports. A rejection is `kind + 1`.
mod kind {
    /// The one timer fired (a timer calls back with no arguments).
    pub const TIMER: u32 = 0;
    /// `getToken` answered (or, `+ 1`, failed).
    pub const PROVIDER: u32 = 2;
    /// A request was answered (`+ 1`: fetch failed; `+ 2`: it could not be made).
    pub const SENT: u32 = 4;
    /// `checkSession()` answered (`+ 1`: failed).
    pub const SAMPLE: u32 = 8;
    /// The browser is back online.
    pub const ONLINE: u32 = 10;
}

/// How many actions one turn may carry out: far beyond any real count, so a bug is a stall,
/// never a hang.
const TURN_LIMIT: usize = 100_000;

/// A promise the page holds.
struct Call {
    id: CallId,
    resolve: Function,
    reject: Function,
}

/// A request in flight, with what came back.
struct InFlight {
    send: u32,
    /// The call whose request this is (`fetchWithAuth`), if any.
    page: Option<CallId>,
    request: Rc<Prepared>,
}

/// The page's request for one `fetchWithAuth` call, and how its last attempt ended.
struct PageRequest {
    call: CallId,
    request: Rc<Prepared>,
    response: Option<Response>,
    failure: Option<Failure>,
}

/// One session in the browser.
pub struct Driver {
    core: RefCell<Core>,
    config: Config,
    clock: Clock,
    events: Events,
    mirror: Mirror,
    /// This manager's entry in [`MANAGERS`].
    id: u32,
    /// The page-wide callback with this manager's id bound: `(kind, id, value)`.
    callback: Function,
    calls: RefCell<Vec<Call>>,
    pages: RefCell<Vec<PageRequest>>,
    in_flight: RefCell<Vec<InFlight>>,
    /// The one timer, for the core's next deadline: `(id, due)`.
    timer: RefCell<Option<(JsValue, Millis)>>,
    lifecycle: RefCell<Option<Lifecycle>>,
    channel: RefCell<Option<Rc<TabChannel>>>,
    following: RefCell<Option<Following>>,
    /// Stops listening for `online`, while the core waits for it.
    online: RefCell<Option<Function>>,
    /// The detail of the last `recovered` event, for `auth-recovered`.
    recovered: RefCell<JsValue>,
    draining: Cell<bool>,
    closed: Cell<bool>,
}

impl Driver {
    /// Builds a session from a validated config and starts listening for other tabs and for
    /// the provider's pushes.
    pub fn new(config: Config) -> Rc<Driver> {
        let settings = Settings {
            policy: config.policy,
            credits: config.credits,
            check_session: config.check_session.is_some(),
            credits_endpoint: config.credits_url.is_some(),
            verify_endpoint: config.verify_url.is_some(),
            log_level: config.log_level,
            seed: super::random_seed(),
        };
        let clock = config
            .clock
            .as_ref()
            .and_then(Clock::injected)
            .unwrap_or(Clock::Browser);
        let id = NEXT_MANAGER.0.get().wrapping_add(1);
        NEXT_MANAGER.0.set(id);
        let callback: Function = callback()
            .bind1(&JsValue::NULL, &id.into())
            .unchecked_into();
        let driver = Rc::new_cyclic(|weak: &Weak<Driver>| {
            MANAGERS.0.borrow_mut().push((id, weak.clone()));
            Driver {
                core: RefCell::new(Core::new(settings)),
                mirror: Mirror::new(config.storage_keys.clone()),
                config,
                clock,
                events: Events::new(),
                id,
                callback,
                calls: RefCell::new(Vec::new()),
                pages: RefCell::new(Vec::new()),
                in_flight: RefCell::new(Vec::new()),
                timer: RefCell::new(None),
                lifecycle: RefCell::new(None),
                channel: RefCell::new(None),
                following: RefCell::new(None),
                online: RefCell::new(None),
                recovered: RefCell::new(JsValue::UNDEFINED),
                draining: Cell::new(false),
                closed: Cell::new(false),
            }
        });
        driver.listen_to_other_tabs();
        driver.follow_provider();
        driver
    }

    /// The listener registry.
    pub fn events(&self) -> &Events {
        &self.events
    }

    fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Feeds the core, then drains what it asked for.
    fn feed(self: &Rc<Self>, input: impl FnOnce(&mut Core, Millis)) {
        let now = self.now();
        input(&mut self.core.borrow_mut(), now);
        self.turn();
    }

    // ----- the JS API -----

    /// Whether there is a token that has not expired.
    pub fn is_authenticated(&self) -> bool {
        self.core.borrow().is_authenticated(self.now())
    }

    /// Page-clock expiry of the current token: ms since the epoch, or `null`.
    pub fn expires_at(&self) -> JsValue {
        expiry(self.core.borrow().expires_at())
    }

    /// `fetchWithAuth(input, init)`.
    pub fn fetch_with_auth(self: &Rc<Self>, input: &JsValue, init: &JsValue) -> Promise {
        let request = match Prepared::new(input, init) {
            Ok(request) => request,
            Err(failure) => return Promise::reject(&failure.into()),
        };
        let allowed = request.origin().is_some_and(|o| self.config.allows(&o));
        let authorized = allowed && !request.has_authorization();
        let replayable = request.replayable;
        self.promise(|driver, call| {
            driver.pages.borrow_mut().push(PageRequest {
                call,
                request: Rc::new(request),
                response: None,
                failure: None,
            });
            driver.feed(|core, now| core.fetch(now, call, authorized, replayable));
        })
    }

    /// `refreshToken()`.
    pub fn refresh_token(self: &Rc<Self>) -> Promise {
        self.promise(|driver, call| driver.feed(|core, now| core.refresh_token(now, call)))
    }

    /// `triggerSessionRecoveryCheck(trigger)`.
    pub fn recovery_check(self: &Rc<Self>, trigger: String) -> Promise {
        self.promise(|driver, call| driver.feed(|core, now| core.recover(now, call, trigger)))
    }

    /// `updateCredits({ forceRefresh })`.
    pub fn update_credits(self: &Rc<Self>, force: bool) -> Promise {
        let online = js::online();
        self.promise(|driver, call| {
            driver.feed(|core, now| {
                core.set_online(now, online);
                core.update_credits(now, call, force);
            })
        })
    }

    /// `waitForAuthStability({ maxWaitMs, intervalMs })`.
    pub fn wait_for_stability(self: &Rc<Self>, max_wait: Millis, interval: Millis) -> Promise {
        self.promise(|driver, call| {
            driver.feed(|core, now| core.wait_for_stability(now, call, max_wait, interval))
        })
    }

    /// `signOut()`.
    pub fn sign_out(self: &Rc<Self>) -> Promise {
        self.unlisten();
        self.promise(|driver, call| driver.feed(|core, now| core.sign_out(now, call)))
    }

    /// `start()`: scheduled refresh, page-lifecycle listeners and the provider's pushes.
    pub fn start(self: &Rc<Self>) {
        self.follow_provider();
        if self.lifecycle.borrow().is_none() {
            let weak = Rc::downgrade(self);
            let listeners = Lifecycle::listen(move |event| {
                if let Some(driver) = weak.upgrade() {
                    if event == "online" {
                        driver.feed(|core, now| core.set_online(now, true));
                    }
                    driver.feed(|core, now| core.woke(now, event));
                }
            });
            *self.lifecycle.borrow_mut() = listeners;
        }
        self.feed(|core, now| core.start(now));
    }

    /// `stop()`: cancels the schedule, removes the listeners, unsubscribes from the provider.
    pub fn stop(self: &Rc<Self>) {
        self.unlisten();
        // The provider's unsubscribe may call back into the manager.
        drop(take(&self.following));
        self.feed(|core, _| core.stop());
    }

    fn unlisten(&self) {
        drop(take(&self.lifecycle));
    }

    /// Tears everything down (`free()`): every waiting call ends with `freed`, and the
    /// timer, the listeners, the channel and the provider's subscription go.
    pub fn shutdown(self: &Rc<Self>) {
        if self.closed.replace(true) {
            return;
        }
        self.unlisten();
        drop(take(&self.following));
        drop(take(&self.channel));
        self.feed(|core, _| core.free());
        if let Some((id, _)) = take(&self.timer) {
            self.clock.disarm(&id);
        }
        if let Some(stop) = take(&self.online) {
            let _ = stop.call0(&JsValue::UNDEFINED);
        }
    }

    /// A new promise for call `call`; `start` feeds the core.
    fn promise(self: &Rc<Self>, start: impl FnOnce(&Rc<Self>, CallId)) -> Promise {
        let call = self.core.borrow_mut().next_id();
        let mut slot = None;
        let promise = Promise::new(&mut |resolve, reject| slot = Some((resolve, reject)));
        if let Some((resolve, reject)) = slot {
            self.calls.borrow_mut().push(Call {
                id: call,
                resolve,
                reject,
            });
        }
        start(self, call);
        promise
    }

    // ----- the loop -----

    /// Carries out everything the core has queued, emitting its events first, then follows
    /// its next deadline (at once if it has already passed: no timer is armed in the past).
    fn turn(self: &Rc<Self>) {
        if self.draining.replace(true) {
            // A re-entrant call: the turn already running carries out what it fed.
            return;
        }
        for _ in 0..TURN_LIMIT {
            let event = self.core.borrow_mut().poll_event();
            if let Some(event) = event {
                self.emit(&event);
                continue;
            }
            let action = self.core.borrow_mut().poll_action();
            if let Some(action) = action {
                self.execute(action);
                continue;
            }
            let next = self.core.borrow().poll_timeout();
            let now = self.now();
            match next {
                Some(due) if due <= now => self.core.borrow_mut().handle_timeout(now),
                _ => {
                    self.arm(next);
                    break;
                }
            }
        }
        self.draining.set(false);
    }

    /// Keeps the one timer on the core's next deadline.
    fn arm(&self, next: Option<Millis>) {
        if self.timer.borrow().as_ref().map(|(_, due)| *due) == next {
            return;
        }
        if let Some((id, _)) = take(&self.timer) {
            self.clock.disarm(&id);
        }
        let Some(due) = next else { return };
        // A timer calls its handler with no arguments; the callback takes (kind, id, value),
        // so they are bound here (wasm-bindgen's debug builds check their types).
        let handler: Function = self
            .callback()
            .bind2(
                &JsValue::NULL,
                &JsValue::from(kind::TIMER),
                &JsValue::from(0),
            )
            .unchecked_into();
        match self.clock.arm(&handler, due.saturating_sub(self.now())) {
            Some(id) => *self.timer.borrow_mut() = Some((id, due)),
            None => write(
                self.config.log_level,
                crate::core::action::Level::Warn,
                "setTimeout refused; refreshing on page wake-ups and requests only",
            ),
        }
    }

    /// Everything asynchronous lands here.
    fn on_js(self: &Rc<Self>, kind: u32, id: u32, value: JsValue) {
        match kind {
            kind::TIMER => {
                take(&self.timer);
                self.feed(|core, now| core.handle_timeout(now));
            }
            kind::PROVIDER => {
                let answer = provider_answer(value);
                self.feed(|core, now| core.provider_answered(now, id, answer));
            }
            k if k == kind::PROVIDER + 1 => self.feed(|core, now| {
                core.provider_answered(
                    now,
                    id,
                    Err(Error::new(
                        ErrorCode::RefreshFailed,
                        "getToken threw or rejected",
                    )),
                )
            }),
            kind::SENT => self.answered(id, value),
            k if k == kind::SENT + 1 || k == kind::SENT + 2 => self.failed(id, k, value),
            kind::SAMPLE => {
                let mirror = self.mirror.holds_token();
                self.feed(|core, now| core.sampled(now, id, value.as_bool(), mirror));
            }
            kind::ONLINE => self.feed(|core, now| core.set_online(now, true)),
            k if k == kind::SAMPLE + 1 => {
                let mirror = self.mirror.holds_token();
                self.feed(|core, now| core.sampled(now, id, None, mirror));
            }
            _ => {}
        }
    }

    fn answered(self: &Rc<Self>, send: u32, value: JsValue) {
        let Some(page) = self.finish_send(send) else {
            return;
        };
        let parts = Array::from(&value);
        let response: Response = parts.get(0).unchecked_into();
        let status = response.status();
        let body = parts.get(1).as_string();
        let now = self.now();
        let retry_after = parts
            .get(2)
            .as_string()
            .and_then(|header| retry_after_ms(&header, now, js::parse_date));
        if let Some(call) = page {
            self.with_page(call, |p| p.response = Some(response));
        }
        let reply = Reply::Answered {
            status,
            body,
            retry_after,
        };
        self.feed(|core, now| core.replied(now, send, reply));
    }

    fn failed(self: &Rc<Self>, send: u32, kind: u32, error: JsValue) {
        let Some((page, request)) = self.finish_send_with_request(send) else {
            return;
        };
        let (reply, failure) = match request.aborted() {
            Some(reason) => (Reply::Aborted, Failure::Aborted(reason)),
            None if kind == kind::SENT + 2 => (Reply::Input, Failure::Input(error)),
            None => (Reply::Network, Failure::Network(error)),
        };
        if let Some(call) = page {
            self.with_page(call, |p| p.failure = Some(failure));
        }
        let online = js::online();
        self.feed(|core, now| {
            core.set_online(now, online);
            core.replied(now, send, reply);
        });
    }

    /// Forgets request `send`; its page call, if it was a page's request.
    fn finish_send(&self, send: u32) -> Option<Option<CallId>> {
        self.finish_send_with_request(send).map(|(page, _)| page)
    }

    fn finish_send_with_request(&self, send: u32) -> Option<(Option<CallId>, Rc<Prepared>)> {
        let mut in_flight = self.in_flight.borrow_mut();
        let index = in_flight.iter().position(|f| f.send == send)?;
        let f = in_flight.swap_remove(index);
        Some((f.page, f.request))
    }

    fn with_page(&self, call: CallId, update: impl FnOnce(&mut PageRequest)) {
        if let Some(page) = self.pages.borrow_mut().iter_mut().find(|p| p.call == call) {
            update(page);
        }
    }

    // ----- carrying out actions -----

    fn execute(self: &Rc<Self>, action: Action) {
        let closed = self.closed.get();
        match action {
            Action::Resolve { call, value } => self.settle(call, Ok(value)),
            Action::Reject { call, error } => self.settle(call, Err(error)),
            Action::Abort { send } => {
                let request = self.finish_send_with_request(send);
                if let Some((_, request)) = request {
                    request.abort();
                }
            }
            _ if closed => {}
            Action::CallProvider { id, force, reason } => {
                self.call_provider(id, force, reason.as_str())
            }
            Action::Send {
                send,
                target,
                token,
                read,
            } => self.send(send, target, token, read),
            Action::Sample { id, provider } => match (&self.config.check_session, provider) {
                (Some(check), true) => js::invoke(
                    check,
                    &JsValue::UNDEFINED,
                    self.callback(),
                    kind::SAMPLE,
                    id,
                ),
                _ => {
                    let mirror = self.mirror.holds_token();
                    self.core.borrow_mut().sampled(self.now(), id, None, mirror);
                }
            },
            Action::WatchOnline(watch) => {
                if let Some(stop) = take(&self.online) {
                    let _ = stop.call0(&JsValue::UNDEFINED);
                }
                if let (true, Some(window)) = (watch, web_sys::window()) {
                    let stop = js::listen(&window, "online", self.callback(), kind::ONLINE);
                    *self.online.borrow_mut() = Some(stop);
                }
            }
            Action::Mirror(token) => match token {
                Some(token) => self.mirror.write(token.expose(), self.config.log_level),
                None => self.mirror.clear(self.config.log_level),
            },
            Action::ReadStamps { run } => {
                let stamps = read_stamps();
                self.core.borrow_mut().stamps_read(self.now(), run, stamps);
            }
            Action::Stamp(at) => write_stamp(at, self.config.log_level),
            Action::DropCreditsCache => js::remove_item(CREDITS_CACHE_KEY),
            Action::AuthRecovered => self.dispatch_auth_recovered(),
            Action::SessionOver => self.session_over(),
            Action::BroadcastSignOut => {
                let channel = self.channel.borrow().clone();
                if let Some(channel) = channel {
                    channel.post(SIGN_OUT_MESSAGE);
                }
            }
            Action::Log(level, line) => write(self.config.log_level, level, &line),
        }
    }

    fn callback(&self) -> &Function {
        &self.callback
    }

    fn call_provider(&self, id: RefreshId, force: bool, reason: &str) {
        let context = Object::new();
        let _ = Reflect::set(&context, &"forceRefresh".into(), &JsValue::from_bool(force));
        let _ = Reflect::set(&context, &"reason".into(), &JsValue::from_str(reason));
        js::invoke(
            &self.config.get_token,
            &context,
            self.callback(),
            kind::PROVIDER,
            id,
        );
    }

    fn send(self: &Rc<Self>, send: u32, target: Target, token: Option<Token>, read: Read) {
        let prepared = match target {
            Target::Page(call) => self
                .pages
                .borrow()
                .iter()
                .find(|p| p.call == call)
                .map(|p| Rc::clone(&p.request))
                .ok_or(()),
            Target::Credits { force } => {
                let url = self.config.credits_url.clone().unwrap_or_default();
                let url = if force { with_refresh(&url) } else { url };
                Prepared::new(&JsValue::from_str(&url), &JsValue::UNDEFINED)
                    .map(Rc::new)
                    .map_err(drop)
            }
            Target::Verify => {
                let url = self.config.verify_url.clone().unwrap_or_default();
                let body = js::verify_body(token.as_ref().map_or("", Token::expose));
                let init = detail(&[
                    ("method", JsValue::from_str("POST")),
                    (
                        "headers",
                        detail(&[("Content-Type", JsValue::from_str("application/json"))]),
                    ),
                    ("body", body),
                ]);
                Prepared::new(&JsValue::from_str(&url), &init)
                    .map(Rc::new)
                    .map_err(drop)
            }
        };
        let Ok(request) = prepared else {
            // The request cannot be made at all (an endpoint the page cannot resolve).
            return self.feed(|core, now| core.replied(now, send, Reply::Input));
        };
        let page = match target {
            Target::Page(call) => Some(call),
            _ => None,
        };
        self.in_flight.borrow_mut().push(InFlight {
            send,
            page,
            request: Rc::clone(&request),
        });
        let read = match read {
            Read::Refusal => 1,
            Read::Everything => 2,
        };
        js::send(
            &self.config.fetch,
            request.request(),
            request.replayable,
            token.as_ref().map(Token::expose),
            read,
            self.callback(),
            kind::SENT,
            send,
        );
    }

    /// Settles call `call` and forgets everything kept for it.
    fn settle(&self, call: CallId, outcome: Result<Value, Rejection>) {
        let slot = {
            let mut calls = self.calls.borrow_mut();
            calls
                .iter()
                .position(|c| c.id == call)
                .map(|i| calls.swap_remove(i))
        };
        let page = {
            let mut pages = self.pages.borrow_mut();
            pages
                .iter()
                .position(|p| p.call == call)
                .map(|i| pages.swap_remove(i))
        };
        let Some(slot) = slot else { return };
        let (settle, value) = match outcome {
            Ok(value) => (&slot.resolve, self.value(value, page)),
            Err(Rejection::Error(error)) => (&slot.reject, error.into()),
            Err(Rejection::Send(_)) => (
                &slot.reject,
                page.and_then(|p| p.failure).map_or_else(
                    || Error::new(ErrorCode::Network, "fetch failed").into(),
                    Into::into,
                ),
            ),
        };
        let _ = settle.call1(&JsValue::UNDEFINED, &value);
    }

    fn value(&self, value: Value, page: Option<PageRequest>) -> JsValue {
        match value {
            Value::Response(_) => page
                .and_then(|p| p.response)
                .map_or(JsValue::UNDEFINED, Into::into),
            Value::Token(token) => JsValue::from_str(token.expose()),
            Value::Number(n) => JsValue::from_f64(n),
            Value::Bool(b) => JsValue::from_bool(b),
            Value::Outcome {
                ran,
                reason,
                trigger,
            } => detail(&[
                ("ran", JsValue::from_bool(ran)),
                ("reason", JsValue::from_str(reason)),
                ("trigger", JsValue::from_str(&trigger)),
            ]),
            Value::Nothing => JsValue::UNDEFINED,
        }
    }

    fn emit(&self, event: &Event) {
        let fields: Vec<(&str, JsValue)> = event
            .fields()
            .into_iter()
            .map(|(name, field)| (name, super::events::field(field)))
            .collect();
        let detail = detail(&fields);
        if let Event::Recovered { .. } = event {
            *self.recovered.borrow_mut() = detail.clone();
        }
        self.events
            .emit(event.name(), &detail, self.config.log_level);
    }

    /// `window.dispatchEvent(new CustomEvent('auth-recovered', { detail }))`, which templates
    /// written against the old pages listen for.
    fn dispatch_auth_recovered(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let init = CustomEventInit::new();
        init.set_detail(&self.recovered.borrow());
        if let Ok(event) = CustomEvent::new_with_event_init_dict("auth-recovered", &init) {
            let _ = window.dispatch_event(&event);
        }
    }

    /// `onSessionExpired()`, or the login page.
    fn session_over(&self) {
        if let Some(callback) = &self.config.on_session_expired {
            if callback.call0(&JsValue::UNDEFINED).is_err() {
                write(
                    self.config.log_level,
                    crate::core::action::Level::Error,
                    "onSessionExpired threw",
                );
            }
        } else if let Some(url) = &self.config.login_url {
            if let Some(window) = web_sys::window() {
                let _ = window.location().assign(url);
            }
        }
    }

    // ----- other tabs, the provider's pushes -----

    fn listen_to_other_tabs(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let channel = TabChannel::open(move |message| {
            let Some(driver) = weak.upgrade() else { return };
            if message == SIGN_OUT_MESSAGE {
                driver.unlisten();
                driver.feed(|core, now| core.signed_out_elsewhere(now));
            }
        });
        *self.channel.borrow_mut() = channel.map(Rc::new);
    }

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
        let following = Following::start(subscribe, move |pushed: JsValue| {
            let Some(driver) = weak.upgrade() else { return };
            if pushed.is_null() || pushed.is_undefined() {
                return driver.feed(|core, now| core.pushed(now, None));
            }
            match pushed.as_string() {
                Some(token) => driver.feed(|core, now| core.pushed(now, Some(token))),
                None => write(
                    driver.config.log_level,
                    crate::core::action::Level::Warn,
                    "subscribe's listener got something other than a token or null",
                ),
            }
        });
        if following.is_none() {
            write(
                self.config.log_level,
                crate::core::action::Level::Warn,
                "subscribe threw; following the provider by getToken only",
            );
        }
        *self.following.borrow_mut() = following;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let id = self.id;
        MANAGERS.0.borrow_mut().retain(|(m, _)| *m != id);
    }
}

/// Every live manager of the page, by id.
static MANAGERS: PageLocal<RefCell<Vec<(u32, Weak<Driver>)>>> =
    PageLocal(RefCell::new(Vec::new()));
static NEXT_MANAGER: PageLocal<Cell<u32>> = PageLocal(Cell::new(0));
/// The one callback of the page. Page-wide on purpose, and never dropped: promises and
/// timers may settle long after their manager was freed, and calling a dropped closure
/// throws. An `Fn`, so a callback that arrives while another runs is not refused.
static CALLBACK: PageLocal<OnceCell<Closure<dyn Fn(u32, u32, u32, JsValue)>>> =
    PageLocal(OnceCell::new());

/// The page's one callback, made on first use.
fn callback() -> &'static Function {
    CALLBACK
        .0
        .get_or_init(|| {
            Closure::new(|manager: u32, kind: u32, id: u32, value: JsValue| {
                // Cloned out, so no borrow is held while the manager runs.
                let driver = MANAGERS
                    .0
                    .borrow()
                    .iter()
                    .find(|(id, _)| *id == manager)
                    .and_then(|(_, weak)| weak.upgrade());
                if let Some(driver) = driver {
                    driver.on_js(kind, id, value);
                }
            })
        })
        .as_ref()
        .unchecked_ref()
}

/// What other tabs of the origin hear when this one signs out.
const SIGN_OUT_MESSAGE: &str = "signOut";

/// What `getToken` resolved with: a token, "no session", or something unusable.
fn provider_answer(value: JsValue) -> Result<Option<String>, Error> {
    if value.is_null() || value.is_undefined() {
        return Ok(None);
    }
    value.as_string().map(Some).ok_or_else(|| {
        Error::new(
            ErrorCode::RefreshFailed,
            "getToken returned something other than a string or null",
        )
    })
}

/// Empties a slot. The value is dropped (clearing a listener, calling the provider's
/// unsubscribe) by the caller, after the borrow has ended: no `RefCell` borrow is ever held
/// across a call into JavaScript, which may call back into the manager.
fn take<T>(slot: &RefCell<Option<T>>) -> Option<T> {
    slot.borrow_mut().take()
}

/// An expiry for `tokenExpiresAt` and event details: ms since the epoch, or `null` (never
/// `undefined`) when unknown, as the `number | null` of the typed contract says.
pub fn expiry(at: Option<Millis>) -> JsValue {
    at.map_or(JsValue::NULL, |t| JsValue::from_f64(t as f64))
}
