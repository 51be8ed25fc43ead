//! Bindings to the JS test doubles in `harness.js`, and small async helpers.
#![allow(dead_code)]

use js_sys::{Function, Object, Promise, Reflect};
use session_keeper::testing::SessionManager;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/tests/support/harness.js")]
extern "C" {
    pub type Provider;
    #[wasm_bindgen(constructor)]
    pub fn new(lifetime_ms: f64) -> Provider;
    #[wasm_bindgen(method, setter)]
    pub fn set_mode(this: &Provider, mode: &str);
    #[wasm_bindgen(method, setter = delayMs)]
    pub fn set_delay_ms(this: &Provider, ms: f64);
    #[wasm_bindgen(method)]
    pub fn forced(this: &Provider) -> u32;
    #[wasm_bindgen(method)]
    pub fn plain(this: &Provider) -> u32;
    #[wasm_bindgen(method)]
    pub fn reasons(this: &Provider) -> String;
    #[wasm_bindgen(method)]
    pub fn mint(this: &Provider) -> String;
    #[wasm_bindgen(method, getter)]
    pub fn token(this: &Provider) -> Option<String>;
    #[wasm_bindgen(method, getter = getToken)]
    pub fn get_token(this: &Provider) -> Function;
    #[wasm_bindgen(method, getter = checkSession)]
    pub fn check_session(this: &Provider) -> Function;
    #[wasm_bindgen(method, setter = sessionMode)]
    pub fn set_session_mode(this: &Provider, mode: &str);
    #[wasm_bindgen(method, getter = sessionChecks)]
    pub fn session_checks(this: &Provider) -> u32;
    /// The issuer clock minus the page clock, applied to iat and exp of minted tokens.
    #[wasm_bindgen(method, setter = skewMs)]
    pub fn set_skew_ms(this: &Provider, ms: f64);
    /// Mint whole-second claims, so `exp - iat` is exactly the lifetime.
    #[wasm_bindgen(method, setter = wholeSeconds)]
    pub fn set_whole_seconds(this: &Provider, on: bool);
    /// Mint, cache and delay on this virtual clock.
    #[wasm_bindgen(method, setter = clock)]
    pub fn set_clock(this: &Provider, clock: &VirtualClock);
    /// The token's lifetime for the next mint.
    #[wasm_bindgen(method, setter = lifetimeMs)]
    pub fn set_lifetime_ms(this: &Provider, ms: f64);

    pub type Backend;
    #[wasm_bindgen(constructor)]
    pub fn new(provider: &Provider) -> Backend;
    /// Request times on this virtual clock (the provider's by default).
    #[wasm_bindgen(method, setter = clock)]
    pub fn set_clock(this: &Backend, clock: &VirtualClock);
    #[wasm_bindgen(method, setter)]
    pub fn set_mode(this: &Backend, mode: &str);
    #[wasm_bindgen(method)]
    pub fn revoke(this: &Backend, token: &str);
    #[wasm_bindgen(method)]
    pub fn count(this: &Backend) -> u32;
    #[wasm_bindgen(method)]
    pub fn auth(this: &Backend, i: i32) -> Option<String>;
    #[wasm_bindgen(method)]
    pub fn body(this: &Backend, i: i32) -> Option<String>;
    #[wasm_bindgen(method, js_name = contentType)]
    pub fn content_type(this: &Backend, i: i32) -> Option<String>;
    #[wasm_bindgen(method)]
    pub fn url(this: &Backend, i: i32) -> String;
    #[wasm_bindgen(method, js_name = holdNext)]
    pub fn hold_next(this: &Backend) -> Function;
    #[wasm_bindgen(method)]
    pub fn script(this: &Backend, status: u16, body: &str, headers: &JsValue);
    #[wasm_bindgen(method)]
    pub fn restart(this: &Backend);
    #[wasm_bindgen(method, setter = zeroReads)]
    pub fn set_zero_reads(this: &Backend, n: u32);
    #[wasm_bindgen(method, setter = verifyMode)]
    pub fn set_verify_mode(this: &Backend, mode: &str);
    #[wasm_bindgen(method, setter = failures)]
    pub fn set_failures(this: &Backend, n: u32);
    #[wasm_bindgen(method, setter = offlineOnFailure)]
    pub fn set_offline_on_failure(this: &Backend, on: bool);
    #[wasm_bindgen(method, setter = verifyRefusals)]
    pub fn set_verify_refusals(this: &Backend, n: u32);
    #[wasm_bindgen(method, getter)]
    pub fn restarted(this: &Backend) -> bool;
    #[wasm_bindgen(method)]
    pub fn hits(this: &Backend, path: &str) -> u32;
    #[wasm_bindgen(method)]
    pub fn gap(this: &Backend, i: i32, j: i32) -> f64;
    #[wasm_bindgen(method, js_name = at)]
    pub fn method_at(this: &Backend, i: i32) -> JsValue;

    pub type WindowEvents;
    #[wasm_bindgen(constructor)]
    pub fn new(name: &str) -> WindowEvents;
    #[wasm_bindgen(method)]
    pub fn count(this: &WindowEvents) -> u32;
    #[wasm_bindgen(method)]
    pub fn last(this: &WindowEvents) -> Option<String>;
    #[wasm_bindgen(method)]
    pub fn close(this: &WindowEvents);

    #[wasm_bindgen(js_name = setOnline)]
    pub fn set_online(online: bool);
    #[wasm_bindgen(js_name = storageGet)]
    pub fn storage_get(key: &str) -> Option<String>;
    #[wasm_bindgen(js_name = storageSet)]
    pub fn storage_set(key: &str, value: &str);
    #[wasm_bindgen(js_name = storageRemove)]
    pub fn storage_remove(key: &str);
    #[wasm_bindgen(js_name = breakStorageReads)]
    pub fn break_storage_reads() -> Function;
    pub fn field(object: &JsValue, name: &str) -> JsValue;

    pub type Recorder;
    #[wasm_bindgen(constructor)]
    pub fn new() -> Recorder;
    #[wasm_bindgen(method)]
    pub fn listener(this: &Recorder, name: &str) -> JsValue;
    #[wasm_bindgen(method)]
    pub fn count(this: &Recorder, name: &str) -> u32;
    #[wasm_bindgen(method)]
    pub fn last(this: &Recorder, name: &str) -> Option<String>;
    #[wasm_bindgen(method)]
    pub fn leaks(this: &Recorder) -> u32;

    pub fn config(provider: &Provider, backend: &Backend, extra: &JsValue) -> JsValue;
    pub fn bodies() -> js_sys::Array;
    #[wasm_bindgen(js_name = streamInit)]
    pub fn stream_init() -> JsValue;
    #[wasm_bindgen(js_name = tapConsole)]
    pub fn tap_console();
    #[wasm_bindgen(js_name = loggedLines)]
    pub fn logged_lines() -> u32;
    #[wasm_bindgen(js_name = loggedLeaks)]
    pub fn logged_leaks() -> u32;
    #[wasm_bindgen(js_name = loggedMatching)]
    pub fn logged_matching(text: &str) -> u32;
    #[wasm_bindgen(js_name = breakStorage)]
    pub fn break_storage() -> Function;
    pub fn wake(name: &str);
    #[wasm_bindgen(js_name = errorCode)]
    pub fn error_code(e: &JsValue) -> Option<String>;
    #[wasm_bindgen(js_name = errorName)]
    pub fn error_name(e: &JsValue) -> Option<String>;
    #[wasm_bindgen(js_name = errorText)]
    pub fn error_text(e: &JsValue) -> String;
    pub fn status(r: &JsValue) -> i32;
    pub fn jwt(lifetime_ms: f64, iat_shift_ms: f64) -> String;

    /// The virtual clock of `config.clock` (harness.js).
    pub type VirtualClock;
    #[wasm_bindgen(constructor)]
    pub fn new() -> VirtualClock;
    /// Virtual milliseconds since the epoch.
    #[wasm_bindgen(method)]
    pub fn now(this: &VirtualClock) -> f64;
    #[wasm_bindgen(method, js_name = advance)]
    fn advance_js(this: &VirtualClock, ms: f64) -> Promise;
    #[wasm_bindgen(method, js_name = within)]
    fn within_js(this: &VirtualClock, promise: &Promise, ms: f64) -> Promise;
    #[wasm_bindgen(method, js_name = flush)]
    fn flush_js(this: &VirtualClock) -> Promise;
    /// Moves `now` on by `ms` without firing a timer (a laptop asleep).
    #[wasm_bindgen(method)]
    pub fn skip(this: &VirtualClock, ms: f64);
    /// Armed timers.
    #[wasm_bindgen(method)]
    pub fn pending(this: &VirtualClock) -> u32;
    /// The due time of the earliest armed timer.
    #[wasm_bindgen(method, js_name = nextDue)]
    pub fn next_due(this: &VirtualClock) -> Option<f64>;
    /// Timers fired so far.
    #[wasm_bindgen(method, getter)]
    pub fn fired(this: &VirtualClock) -> u32;
}

impl VirtualClock {
    /// Moves time on by `ms`, firing the timers that fall due in order, and letting the
    /// page's promises, bodies and events run between them.
    pub async fn advance(&self, ms: f64) {
        JsFuture::from(self.advance_js(ms)).await.unwrap();
    }

    /// What `promise` did within `ms` of virtual time (timers fire one by one meanwhile; it
    /// stops as soon as the promise settles, so `now()` is then the settling time).
    pub async fn within(&self, promise: Promise, ms: u32) -> Outcome {
        let report = JsFuture::from(self.within_js(&promise, f64::from(ms)))
            .await
            .unwrap_or(JsValue::UNDEFINED);
        outcome_of(&report)
    }

    /// Lets everything run that is not waiting on time.
    pub async fn flush(&self) {
        JsFuture::from(self.flush_js()).await.unwrap();
    }
}

// ----- the fault suites (tests/faults.rs, tests/faults_trap.rs) -----
#[wasm_bindgen(module = "/tests/support/harness.js")]
extern "C" {
    #[wasm_bindgen(js_name = settleWithin)]
    fn settle_within_js(promise: &JsValue, ms: u32) -> Promise;
    /// A short, token-free description of any value.
    #[wasm_bindgen(js_name = describeValue)]
    pub fn describe_value(value: &JsValue) -> String;

    #[wasm_bindgen(js_name = watchTraps)]
    fn install_trap_detector();
    #[wasm_bindgen(js_name = trapCount)]
    fn trap_count() -> u32;
    /// Every trap text seen on this page so far.
    #[wasm_bindgen(js_name = trapsSeen)]
    pub fn traps_seen() -> js_sys::Array;
    #[wasm_bindgen(js_name = trapsSince)]
    fn traps_since(mark: u32) -> String;
    #[wasm_bindgen(js_name = uncaughtCount)]
    fn uncaught_count() -> u32;
    #[wasm_bindgen(js_name = uncaughtSince)]
    fn uncaught_since(mark: u32) -> String;

    #[wasm_bindgen(js_name = logMark)]
    pub fn log_mark() -> u32;
    #[wasm_bindgen(js_name = loggedSince)]
    fn logged_since_js(mark: u32, level: &str, needles: &js_sys::Array) -> u32;

    /// Applies one hostile global by name; returns its undo.
    pub fn hostile(name: &str) -> Function;

    pub type Counter;
    #[wasm_bindgen(constructor)]
    pub fn new() -> Counter;
    /// The counting function (the JS `fn` property, also named `callback`).
    #[wasm_bindgen(method, getter)]
    pub fn callback(this: &Counter) -> JsValue;
    #[wasm_bindgen(method)]
    pub fn count(this: &Counter) -> u32;

    fn attempt(object: &JsValue, name: &str, args: &js_sys::Array) -> JsValue;
    #[wasm_bindgen(js_name = attemptGet)]
    fn attempt_get(object: &JsValue, name: &str) -> JsValue;
    /// `Object.is(a, b)`.
    pub fn same(a: &JsValue, b: &JsValue) -> bool;
    #[wasm_bindgen(js_name = isPromise)]
    pub fn is_promise(value: &JsValue) -> bool;
    /// `AbortSignal.timeout(ms)` (the native one, even after a test deleted it).
    #[wasm_bindgen(js_name = timeoutSignal)]
    pub fn timeout_signal(ms: u32) -> JsValue;
    /// `controller.abort(reason)`.
    #[wasm_bindgen(js_name = abortWith)]
    pub fn abort_with(controller: &JsValue, reason: &JsValue);

    pub type SyncThrowingFetch;
    #[wasm_bindgen(constructor)]
    pub fn new() -> SyncThrowingFetch;
    #[wasm_bindgen(method, getter)]
    pub fn fetch(this: &SyncThrowingFetch) -> JsValue;
    #[wasm_bindgen(method, getter)]
    pub fn error(this: &SyncThrowingFetch) -> JsValue;
    #[wasm_bindgen(method, getter)]
    pub fn calls(this: &SyncThrowingFetch) -> u32;

    pub type Reentry;
    #[wasm_bindgen(constructor)]
    pub fn new(action: &str) -> Reentry;
    #[wasm_bindgen(method, js_name = setManager)]
    pub fn set_manager(this: &Reentry, manager: &JsValue);
    #[wasm_bindgen(method)]
    pub fn listener(this: &Reentry, name: &str) -> JsValue;
    #[wasm_bindgen(method)]
    pub fn all(this: &Reentry) -> Promise;
    #[wasm_bindgen(method)]
    pub fn count(this: &Reentry) -> u32;
    #[wasm_bindgen(method, js_name = threwText)]
    pub fn threw_text(this: &Reentry) -> String;
    #[wasm_bindgen(method, js_name = firedText)]
    pub fn fired_text(this: &Reentry) -> String;

    pub type ReentrantToken;
    #[wasm_bindgen(constructor)]
    pub fn new(provider: &Provider, action: &str) -> ReentrantToken;
    #[wasm_bindgen(method, getter = getToken)]
    pub fn get_token(this: &ReentrantToken) -> JsValue;
    #[wasm_bindgen(method, js_name = setManager)]
    pub fn set_manager(this: &ReentrantToken, manager: &JsValue);
    #[wasm_bindgen(method, getter)]
    pub fn inner(this: &ReentrantToken) -> JsValue;
    #[wasm_bindgen(method, getter)]
    pub fn entered(this: &ReentrantToken) -> u32;
}

pub const LEAK_MARK: &str = "LEAKMARK";

/// A millisecond setting.
pub fn ms(v: f64) -> JsValue {
    JsValue::from_f64(v)
}

/// A plain object from key/value pairs.
pub fn obj(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

/// The doubles and a manager wired to them, logging at debug level into the console tap.
/// By default the manager, the provider and the backend run on one virtual clock
/// (`config.clock`): time moves only through [`Rig::advance`] and the bounded waits.
pub struct Rig {
    pub provider: Provider,
    pub backend: Backend,
    pub manager: SessionManager,
    pub events: Recorder,
    /// `None` for a rig on the page's real clock ([`Rig::real`]).
    pub clock: Option<VirtualClock>,
    /// The group of tabs its manager belongs to (`tabs`).
    pub group: JsValue,
}

pub const ALL_EVENTS: [&str; 7] = [
    "tokenRefreshed",
    "refreshFailed",
    "sessionExpired",
    "stateChanged",
    "recoveryCheck",
    "recovered",
    "creditsUpdated",
];

/// A bound for what needs no virtual time at all (no timer can fire while the clock stands
/// still): real milliseconds, only so that a bug fails the test instead of hanging it.
pub const PROMPT: u32 = 10_000;

impl Rig {
    /// A rig on a new virtual clock.
    pub fn new(lifetime_ms: f64, extra: &[(&str, JsValue)]) -> Rig {
        Rig::with(Provider::new(lifetime_ms), extra)
    }

    /// A rig around a provider the test set up first, on a new virtual clock.
    pub fn with(provider: Provider, extra: &[(&str, JsValue)]) -> Rig {
        Rig::try_with(provider, extra, Some(VirtualClock::new())).expect("valid config")
    }

    /// `Rig::new`, with the constructor's error returned instead of panicking.
    pub fn try_new(lifetime_ms: f64, extra: &[(&str, JsValue)]) -> Result<Rig, JsValue> {
        Rig::try_with(Provider::new(lifetime_ms), extra, Some(VirtualClock::new()))
    }

    /// The opt-out: a rig on the page's real clock (`Date.now`, `setTimeout`), for tests of
    /// the browser's own timers.
    pub fn real(lifetime_ms: f64, extra: &[(&str, JsValue)]) -> Rig {
        Rig::try_with(Provider::new(lifetime_ms), extra, None).expect("valid config")
    }

    /// Another tab of the same session: a second rig on this rig's clock, in its group of
    /// tabs.
    pub fn beside(&self, lifetime_ms: f64, extra: &[(&str, JsValue)]) -> Rig {
        let clock = self
            .clock
            .as_ref()
            .map(|c| JsValue::from(c).unchecked_into::<VirtualClock>());
        let mut extra = extra.to_vec();
        extra.push(("tabs", self.group.clone()));
        Rig::try_with(Provider::new(lifetime_ms), &extra, clock).expect("valid config")
    }

    fn try_with(
        provider: Provider,
        extra: &[(&str, JsValue)],
        clock: Option<VirtualClock>,
    ) -> Result<Rig, JsValue> {
        tap_console();
        install_trap_detector();
        let backend = Backend::new(&provider);
        let extra = obj(extra);
        if let Some(clock) = &clock {
            provider.set_clock(clock);
            // A test's own `clock` (a hostile one) wins.
            if !Reflect::has(&extra, &"clock".into()).unwrap_or(false) {
                Reflect::set(&extra, &"clock".into(), clock).unwrap();
            }
        }
        let config = config(&provider, &backend, &extra);
        let group = Reflect::get(&config, &"tabs".into()).unwrap_or(JsValue::UNDEFINED);
        let manager = SessionManager::new(config)?;
        let events = Recorder::new();
        for name in ALL_EVENTS {
            manager.on(name, events.listener(name)).unwrap();
        }
        Ok(Rig {
            provider,
            backend,
            manager,
            events,
            clock,
            group,
        })
    }

    /// The rig's virtual clock (panics on a [`Rig::real`] rig).
    pub fn clock(&self) -> &VirtualClock {
        self.clock
            .as_ref()
            .expect("a rig on the real clock has no virtual time")
    }

    /// Virtual now.
    pub fn now(&self) -> f64 {
        self.clock().now()
    }

    /// Moves virtual time on by `ms` (see [`VirtualClock::advance`]).
    pub async fn advance(&self, ms: f64) {
        self.clock().advance(ms).await;
    }

    /// What `promise` did within `ms`: virtual milliseconds on a virtual clock (the
    /// timers due meanwhile fire), real ones on the real clock.
    pub async fn within(&self, promise: Promise, ms: u32) -> Outcome {
        match &self.clock {
            Some(clock) => clock.within(promise, ms).await,
            None => settle_within(promise, ms).await,
        }
    }

    /// `promise`'s result, which must come without any virtual time passing.
    pub async fn prompt(&self, promise: Promise) -> Result<JsValue, JsValue> {
        prompt(promise).await
    }

    /// Provider calls so far, plain and forced.
    pub fn calls(&self) -> u32 {
        self.provider.plain() + self.provider.forced()
    }

    /// `fetchWithAuth(url, init)`, waited for at most `ms` (virtual on a virtual clock).
    pub async fn fetch_within(&self, url: &str, init: &JsValue, ms: u32) -> Outcome {
        self.within(
            self.manager
                .fetch_with_auth(JsValue::from_str(url), init.clone()),
            ms,
        )
        .await
    }

    /// `fetchWithAuth(url)`, waited for at most `ms`.
    pub async fn get_within(&self, url: &str, ms: u32) -> Outcome {
        self.fetch_within(url, &JsValue::UNDEFINED, ms).await
    }

    /// Hands the manager over to JavaScript (as a page holds it), for tests that call it
    /// from JS: listeners and getTokens that re-enter it, and `free()`.
    pub fn into_js(self) -> JsRig {
        JsRig {
            provider: self.provider,
            backend: self.backend,
            manager: JsValue::from(self.manager),
            events: self.events,
            clock: self.clock,
        }
    }

    /// `fetchWithAuth(url)` resolved to its status, or the rejection; it must settle
    /// without virtual time passing.
    pub async fn get(&self, url: &str) -> Result<i32, JsValue> {
        self.fetch(url, &JsValue::UNDEFINED).await
    }

    /// `fetchWithAuth(url, init)`, as [`Rig::get`].
    pub async fn fetch(&self, url: &str, init: &JsValue) -> Result<i32, JsValue> {
        prompt(
            self.manager
                .fetch_with_auth(JsValue::from_str(url), init.clone()),
        )
        .await
        .map(|r| status(&r))
    }

    /// Signs in with one request, then has the backend revoke that token (as after a
    /// rotation or a server-side logout); returns the revoked token.
    pub async fn warm_then_revoke(&self) -> String {
        self.get("/api/warm").await.unwrap();
        let token = self.provider.token().unwrap();
        self.backend.revoke(&token);
        token
    }

    /// Asserts no token reached an event detail or a log line so far, and the module has
    /// not trapped.
    pub fn assert_no_leaks(&self) {
        assert_eq!(
            self.events.leaks(),
            0,
            "a token appeared in an event detail"
        );
        assert_eq!(logged_leaks(), 0, "a token appeared in a log line");
        assert_no_trap();
    }
}

/// A rig whose manager JavaScript owns: every call goes through the JS API, as on a page.
pub struct JsRig {
    pub provider: Provider,
    pub backend: Backend,
    pub manager: JsValue,
    pub events: Recorder,
    pub clock: Option<VirtualClock>,
}

/// What calling a method did: returned `Ok(value)` or threw `Err(error)` synchronously.
pub type Attempt = Result<JsValue, JsValue>;

impl JsRig {
    /// `manager[name](...args)`, with a synchronous throw caught.
    pub fn attempt(&self, name: &str, args: &[JsValue]) -> Attempt {
        let report = attempt(&self.manager, name, &args.iter().collect());
        let value = field(&report, "value");
        if field(&report, "threw").is_truthy() {
            Err(value)
        } else {
            Ok(value)
        }
    }

    /// Reads the getter `name`, with a throw caught.
    pub fn getter(&self, name: &str) -> Attempt {
        let report = attempt_get(&self.manager, name);
        let value = field(&report, "value");
        if field(&report, "threw").is_truthy() {
            Err(value)
        } else {
            Ok(value)
        }
    }

    /// `manager[name](...args)` waited for at most `ms` (virtual on a virtual clock); a
    /// synchronous throw counts as a rejection.
    pub async fn call_within(&self, name: &str, args: &[JsValue], ms: u32) -> Outcome {
        match self.attempt(name, args) {
            Err(thrown) => Ok(Err(thrown)),
            Ok(value) => self.within(Promise::resolve(&value), ms).await,
        }
    }

    /// As [`Rig::within`].
    pub async fn within(&self, promise: Promise, ms: u32) -> Outcome {
        match &self.clock {
            Some(clock) => clock.within(promise, ms).await,
            None => settle_within(promise, ms).await,
        }
    }

    /// As [`Rig::now`].
    pub fn now(&self) -> f64 {
        self.clock
            .as_ref()
            .expect("a rig on the real clock has no virtual time")
            .now()
    }

    /// As [`Rig::advance`].
    pub async fn advance(&self, ms: f64) {
        self.clock
            .as_ref()
            .expect("a rig on the real clock has no virtual time")
            .advance(ms)
            .await;
    }

    pub async fn get_within(&self, url: &str, ms: u32) -> Outcome {
        self.call_within("fetchWithAuth", &[JsValue::from_str(url)], ms)
            .await
    }

    pub fn calls(&self) -> u32 {
        self.provider.plain() + self.provider.forced()
    }

    /// `free()`, ignoring what it does (the S3 test checks that separately).
    pub fn free(&self) {
        let _ = self.attempt("free", &[]);
    }
}

// ----- bounded waits, outcomes, traps -----

/// What a promise did within a bound: `Err(())` when it had not settled in time, else
/// `Ok(Ok(value))` or `Ok(Err(reason))`.
pub type Outcome = Result<Result<JsValue, JsValue>, ()>;

/// Waits for `promise` at most `ms`: "every promise settles" is asserted, never hung on.
pub async fn settle_within(promise: Promise, ms: u32) -> Outcome {
    let report = JsFuture::from(settle_within_js(&promise, ms))
        .await
        .unwrap_or(JsValue::UNDEFINED);
    outcome_of(&report)
}

/// `promise`'s result; it must settle without any virtual time passing (on a virtual clock
/// nothing else can make it settle), so a bug fails within [`PROMPT`] real ms, not hangs.
pub async fn prompt(promise: Promise) -> Result<JsValue, JsValue> {
    match settle_within(promise, PROMPT).await {
        Ok(result) => result,
        Err(()) => panic!("did not settle without time passing (waited {PROMPT} real ms)"),
    }
}

/// A `settleWithin`/`within` report as an [`Outcome`].
fn outcome_of(report: &JsValue) -> Outcome {
    match field(report, "state").as_string().as_deref() {
        Some("fulfilled") => Ok(Ok(field(report, "value"))),
        Some("rejected") => Ok(Err(field(report, "reason"))),
        _ => Err(()),
    }
}

/// A token-free description of an outcome, for messages.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Err(()) => "HANG (did not settle within the bound)".to_string(),
        Ok(Ok(value)) => ["resolved ", &describe_value(value)].concat(),
        Ok(Err(reason)) => ["rejected ", &describe_value(reason)].concat(),
    }
}

/// What a test expects of an outcome.
#[derive(Clone, Copy, Debug)]
pub enum Want {
    /// Resolves with a Response of this status.
    Status(i32),
    /// Rejects with a SessionError of this code.
    Code(&'static str),
    /// Resolves with this number (credits).
    Number(f64),
    /// Resolves with a RecoveryOutcome of this reason.
    Recovery(&'static str),
    /// Resolves with a string (refreshToken).
    Text,
    /// Resolves with anything.
    Resolves,
    /// Resolves with a Response, or rejects with a SessionError.
    ResponseOrSessionError,
    /// Settles either way.
    Settles,
}

/// `Ok(())` when `outcome` is what `want` says, else what happened instead.
pub fn check(outcome: &Outcome, want: Want) -> Result<(), String> {
    let fine = match (outcome, want) {
        (Err(()), _) => false,
        (Ok(Ok(r)), Want::Status(s)) => status(r) == s,
        (Ok(Err(e)), Want::Code(code)) => {
            error_name(e).as_deref() == Some("SessionError")
                && error_code(e).as_deref() == Some(code)
        }
        (Ok(Ok(v)), Want::Number(n)) => v.as_f64() == Some(n),
        (Ok(Ok(v)), Want::Recovery(reason)) => {
            field(v, "reason").as_string().as_deref() == Some(reason)
        }
        (Ok(Ok(v)), Want::Text) => v.is_string(),
        (Ok(Ok(_)), Want::Resolves) => true,
        (Ok(Ok(r)), Want::ResponseOrSessionError) => status(r) >= 0,
        (Ok(Err(e)), Want::ResponseOrSessionError) => {
            error_name(e).as_deref() == Some("SessionError")
        }
        (Ok(_), Want::Settles) => true,
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(["want ", &format!("{want:?}"), ", got ", &describe(outcome)].concat())
    }
}

thread_local! {
    static TRAP_MARK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static UNCAUGHT_MARK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Installs the page-wide trap detector (once) and starts this test's window: traps seen
/// before this call are not this test's. Call it first in every fault test.
pub fn watch_traps() {
    tap_console();
    install_trap_detector();
    TRAP_MARK.with(|m| m.set(trap_count()));
    UNCAUGHT_MARK.with(|m| m.set(uncaught_count()));
}

/// Asserts the module has not trapped (`RuntimeError: unreachable`, wasm-bindgen's
/// "recursive use of an object") since `watch_traps()` (or since the page loaded).
pub fn assert_no_trap() {
    let seen = traps_in_this_test();
    assert!(seen.is_empty(), "the module trapped:\n{seen}");
}

/// The trap texts seen since `watch_traps()` (or since the page loaded), joined.
pub fn traps_in_this_test() -> String {
    install_trap_detector();
    traps_since(TRAP_MARK.with(|m| m.get()))
}

/// Uncaught errors (any kind) seen since `watch_traps()`, for reports.
pub fn uncaught_in_this_test() -> String {
    uncaught_since(UNCAUGHT_MARK.with(|m| m.get()))
}

/// Library lines logged since `mark` at `level` ("" for any) containing every needle.
pub fn logged_since(mark: u32, level: &str, needles: &[&str]) -> u32 {
    let list: js_sys::Array = needles.iter().map(|n| JsValue::from_str(n)).collect();
    logged_since_js(mark, level, &list)
}

/// Runs an undo function a hostile-global helper returned.
pub fn undo(f: &Function) {
    f.call0(&JsValue::NULL).expect("undo threw");
}

pub async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// A real-time wait. Only for a browser mechanism under test (timers firing, delivery
/// between tabs); say which at every call.
pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

/// Real time, for a browser mechanism under test (a BroadcastChannel message reaching
/// another manager): polls `done` every 5 ms, for at most `ms` real ms.
pub async fn real_wait_until(done: impl Fn() -> bool, ms: u32) {
    let start = js_sys::Date::now();
    while !done() && js_sys::Date::now() - start < f64::from(ms) {
        // Real time: a browser mechanism under test (see the callers).
        sleep(5).await;
    }
}

/// Asserts an error is a SessionError with `code`, and carries no token.
pub fn assert_session_error(e: &JsValue, code: &str) {
    assert_eq!(
        error_name(e).as_deref(),
        Some("SessionError"),
        "{}",
        error_text(e)
    );
    assert_eq!(error_code(e).as_deref(), Some(code), "{}", error_text(e));
    assert!(
        !error_text(e).contains(LEAK_MARK),
        "token in error: {}",
        error_text(e)
    );
}

// ----- shared by tests/faults.rs and tests/faults_trap.rs -----

/// The localStorage key of the shared recovery cooldown.
pub const LAST_ATTEMPT: &str = "last_recovery_attempt";
/// The bound for anything that should settle at once: no virtual time at all (on a rig's
/// virtual clock, `within(p, SOON)` fires no timer; the page's promises, bodies and events
/// still run).
pub const SOON: u32 = 0;
/// The bound for anything with a retry, a recovery or a timeout inside (virtual ms): the
/// spec's credit retries (1 s, 2 s, 4 s), the default request timeout (30 s) and the
/// stability wait (10 s) all fit.
pub const SLOW: u32 = 60_000;

/// The spec's credit retries: `max_retries` of them, after 1 s × 2ⁿ (each jittered into its
/// upper half), none longer than 30 s. Free on a virtual clock.
pub fn credit_retries(max_retries: f64) -> JsValue {
    obj(&[
        ("maxRetries", ms(max_retries)),
        ("baseDelayMs", ms(1_000.0)),
        ("maxDelayMs", ms(30_000.0)),
    ])
}

/// Collects mismatches, so one test reports every row of its table at once.
#[derive(Default)]
pub struct Failures(pub Vec<String>);

impl Failures {
    pub fn check(&mut self, label: &str, outcome: &Outcome, want: Want) {
        if let Err(problem) = check(outcome, want) {
            self.0.push(format!("{label}: {problem}"));
        }
    }
    pub fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
    /// A token in an event detail of `events`.
    pub fn leaks(&mut self, label: &str, events: &Recorder) {
        let leaks = events.leaks();
        self.expect(leaks == 0, || {
            format!("{label}: a token in {leaks} event detail(s)")
        });
    }
    /// Asserts nothing failed, no token reached a log line and the module did not trap in
    /// this test; reports all of it at once, with `context` and any uncaught errors.
    #[track_caller]
    pub fn finish(mut self, context: &str) {
        let leaked = logged_leaks();
        self.expect(leaked == 0, || format!("a token in {leaked} log line(s)"));
        let traps = traps_in_this_test();
        self.expect(traps.is_empty(), || format!("the module trapped: {traps}"));
        // An uncaught error is a JS exception that escaped a Rust frame (invariant 9), even
        // when it did not trap the module.
        let uncaught = uncaught_in_this_test();
        self.expect(uncaught.is_empty(), || {
            format!("uncaught errors: {uncaught}")
        });
        assert!(
            self.0.is_empty(),
            "{} failure(s):\n  {}\n{context}",
            self.0.len(),
            self.0.join("\n  "),
        );
    }
}

/// `Bearer <t>` for the provider's current token.
pub fn bearer(provider: &Provider) -> Option<String> {
    provider.token().map(|t| ["Bearer ", &t].concat())
}

/// The start of most fault tests: the trap watch, an empty failure list, and a manager
/// (60 s tokens, `extra` config) signed in with one bounded request.
pub async fn signed_in(extra: &[(&str, JsValue)]) -> (Rig, Failures) {
    watch_traps();
    let mut failures = Failures::default();
    let rig = Rig::new(60_000.0, extra);
    let warm = rig.get_within("/api/warm", SOON).await;
    failures.check("warm-up", &warm, Want::Status(200));
    (rig, failures)
}

/// Signs in with one bounded request, then revokes that token at the backend.
pub async fn warm_then_revoke(rig: &Rig, failures: &mut Failures) {
    let warm = rig.get_within("/api/warm", SOON).await;
    failures.check("warm-up", &warm, Want::Status(200));
    if let Some(token) = rig.provider.token() {
        rig.backend.revoke(&token);
    }
}

pub fn recovery_check(manager: &SessionManager, trigger: &str) -> Promise {
    manager.trigger_session_recovery_check(JsValue::from_str(trigger))
}

pub fn credits_options() -> JsValue {
    obj(&[("forceRefresh", JsValue::FALSE)])
}
