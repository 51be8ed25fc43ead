//! The Clerk and Supabase bridges, the provider push channel (`subscribe`) and
//! `installGlobal`, in headless Chrome. The SDKs are doubles with their documented shapes
//! (`harness.js`); the end-to-end suite drives the real supabase-js.
#![cfg(target_arch = "wasm32")]

mod support;

use js_sys::{Function, Promise, Reflect};
use session_keeper::testing::{
    clerk_token_provider, install_global, supabase_token_provider, SessionManager,
};
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/support/harness.js")]
extern "C" {
    type FakeClerk;
    #[wasm_bindgen(constructor)]
    fn new(provider: &Provider) -> FakeClerk;
    #[wasm_bindgen(method)]
    fn calls(this: &FakeClerk) -> String;
    #[wasm_bindgen(method, js_name = signOut)]
    fn sign_out(this: &FakeClerk);
    #[wasm_bindgen(method, js_name = listenerCount)]
    fn listener_count(this: &FakeClerk) -> u32;
    #[wasm_bindgen(method, getter)]
    fn unsubscribed(this: &FakeClerk) -> u32;
    #[wasm_bindgen(method, getter)]
    fn session(this: &FakeClerk) -> JsValue;

    type FakeSupabase;
    #[wasm_bindgen(constructor)]
    fn new(provider: &Provider) -> FakeSupabase;
    #[wasm_bindgen(method, js_name = signIn)]
    fn sign_in(this: &FakeSupabase);
    #[wasm_bindgen(method, js_name = signOut)]
    fn sign_out(this: &FakeSupabase);
    #[wasm_bindgen(method, js_name = refreshInBackground)]
    fn refresh_in_background(this: &FakeSupabase);
    #[wasm_bindgen(method, js_name = accessToken)]
    fn access_token(this: &FakeSupabase) -> Option<String>;
    #[wasm_bindgen(method)]
    fn subscribers(this: &FakeSupabase) -> u32;
    #[wasm_bindgen(method, getter = getSessionCalls)]
    fn get_session_calls(this: &FakeSupabase) -> u32;
    #[wasm_bindgen(method, getter = refreshSessionCalls)]
    fn refresh_session_calls(this: &FakeSupabase) -> u32;
    #[wasm_bindgen(method, getter)]
    fn unsubscribed(this: &FakeSupabase) -> u32;
    #[wasm_bindgen(method, setter = failWith)]
    fn set_fail_with(this: &FakeSupabase, message: &str);

    type Pusher;
    #[wasm_bindgen(constructor)]
    fn new() -> Pusher;
    #[wasm_bindgen(method)]
    fn push(this: &Pusher, value: &JsValue);
    #[wasm_bindgen(method, getter)]
    fn subscribe(this: &Pusher) -> Function;
    #[wasm_bindgen(method, getter)]
    fn unsubscribed(this: &Pusher) -> u32;

    fn bridged(provider: &JsValue, backend: &Backend, extra: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = callMethod)]
    fn call_method(object: &JsValue, name: &str, arg: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = clearGlobals)]
    fn clear_globals();
}

/// An SDK double, the token source and backend behind it, and a manager over its adapter,
/// all on one virtual clock.
struct Bridged<Sdk> {
    source: Provider,
    backend: Backend,
    sdk: Sdk,
    manager: SessionManager,
    events: Recorder,
    clock: VirtualClock,
}

impl Bridged<FakeClerk> {
    /// A signed-in Clerk (or signed out when `signed_in` is false) and a manager over it.
    fn clerk(signed_in: bool, extra: &[(&str, JsValue)]) -> Self {
        Bridged::over(
            FakeClerk::new,
            |sdk| {
                if !signed_in {
                    sdk.sign_out()
                }
            },
            clerk_token_provider,
            extra,
        )
    }
}

impl Bridged<FakeSupabase> {
    /// A Supabase client (signed in when `signed_in`) and a manager over it.
    fn supabase(signed_in: bool, extra: &[(&str, JsValue)]) -> Self {
        Bridged::over(
            FakeSupabase::new,
            |sdk| {
                if signed_in {
                    sdk.sign_in()
                }
            },
            supabase_token_provider,
            extra,
        )
    }
}

impl<Sdk: AsRef<JsValue>> Bridged<Sdk> {
    /// The double built by `make` and put in its starting state by `prepare`, with a manager
    /// over the provider `adapter` builds from it.
    fn over(
        make: fn(&Provider) -> Sdk,
        prepare: impl FnOnce(&Sdk),
        adapter: fn(JsValue) -> Result<JsValue, JsValue>,
        extra: &[(&str, JsValue)],
    ) -> Self {
        let (source, backend, clock) = doubles();
        let sdk = make(&source);
        prepare(&sdk);
        let provider = adapter(sdk.as_ref().clone()).unwrap();
        let (manager, events) = manager_over(&provider, &backend, &clock, extra);
        Bridged {
            source,
            backend,
            sdk,
            manager,
            events,
            clock,
        }
    }
}

impl<Sdk> Bridged<Sdk> {
    async fn get(&self, url: &str) -> Result<i32, JsValue> {
        get(&self.manager, url).await
    }
}

/// A token source minting 60 s tokens, a backend that accepts its current one, and the
/// virtual clock they run on.
fn doubles() -> (Provider, Backend, VirtualClock) {
    let clock = VirtualClock::new();
    let source = Provider::new(60_000.0);
    source.set_clock(&clock);
    let backend = Backend::new(&source);
    (source, backend, clock)
}

/// Asserts `make(input)` throws `SessionError` `config` whose message names `mentions`.
fn assert_refused(
    make: fn(JsValue) -> Result<JsValue, JsValue>,
    inputs: Vec<JsValue>,
    mentions: &str,
) {
    for input in inputs {
        let error = make(input).unwrap_err();
        assert_session_error(&error, "config");
        assert!(
            error_text(&error).contains(mentions),
            "{}",
            error_text(&error)
        );
    }
}

/// A manager over a bridge's provider, on `clock`, with every event recorded.
fn manager_over(
    provider: &JsValue,
    backend: &Backend,
    clock: &VirtualClock,
    extra: &[(&str, JsValue)],
) -> (SessionManager, Recorder) {
    tap_console();
    let extra = obj(extra);
    Reflect::set(&extra, &"clock".into(), clock).unwrap();
    let manager = SessionManager::new(bridged(provider, backend, &extra)).expect("valid config");
    let events = Recorder::new();
    for name in ALL_EVENTS {
        manager.on(name, events.listener(name)).unwrap();
    }
    (manager, events)
}

async fn get(manager: &SessionManager, url: &str) -> Result<i32, JsValue> {
    settle(manager.fetch_with_auth(url.into(), JsValue::UNDEFINED))
        .await
        .map(|r| status(&r))
}

async fn check_session(provider: &JsValue) -> JsValue {
    settle(call_method(provider, "checkSession", &JsValue::UNDEFINED))
        .await
        .unwrap()
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

// ----- Clerk -----

#[wasm_bindgen_test]
async fn clerk_plain_refresh_reads_clerks_cache_and_a_forced_one_skips_it() {
    let rig = Bridged::clerk(true, &[]);
    assert_eq!(rig.get("/api/a").await.unwrap(), 200);
    assert_eq!(
        rig.sdk.calls(),
        "cached",
        "a plain refresh is session.getToken()"
    );
    settle(rig.manager.refresh_token()).await.unwrap();
    assert_eq!(rig.sdk.calls(), r#"cached,{"skipCache":true}"#);

    // A 401 for the current token: the retry's token comes from a skipCache call.
    rig.backend.revoke(&rig.source.token().unwrap());
    assert_eq!(rig.get("/api/b").await.unwrap(), 200);
    assert_eq!(
        rig.sdk.calls(),
        r#"cached,{"skipCache":true},{"skipCache":true}"#
    );
    assert_eq!(rig.backend.auth(-1), bearer(&rig.source.token().unwrap()));
}

#[wasm_bindgen_test]
async fn clerk_without_a_session_sends_nothing() {
    let rig = Bridged::clerk(false, &[]);
    let error = rig.get("/api/a").await.unwrap_err();
    assert_session_error(&error, "unauthenticated");
    assert_eq!(rig.backend.count(), 0, "no anonymous request");
    assert_eq!(rig.events.count("sessionExpired"), 1);
}

#[wasm_bindgen_test]
async fn clerk_check_session_is_true_only_for_an_active_session() {
    let clerk = FakeClerk::new(&Provider::new(60_000.0));
    let provider = clerk_token_provider(clerk.clone()).unwrap();
    assert_eq!(check_session(&provider).await, JsValue::TRUE);
    Reflect::set(&clerk.session(), &"status".into(), &"expired".into()).unwrap();
    assert_eq!(check_session(&provider).await, JsValue::FALSE);
    clerk.sign_out();
    assert_eq!(check_session(&provider).await, JsValue::FALSE);
}

#[wasm_bindgen_test]
async fn clerk_sign_out_stops_the_manager_and_stop_unsubscribes() {
    let rig = Bridged::clerk(true, &[]);
    rig.manager.start().unwrap();
    rig.clock.advance(0.0).await;
    assert!(rig.manager.is_authenticated());
    assert_eq!(
        rig.sdk.calls(),
        "cached",
        "the first token, from Clerk's cache"
    );
    assert_eq!(
        rig.sdk.listener_count(),
        1,
        "one addListener, no polling loop of our own"
    );

    rig.sdk.sign_out();
    assert!(
        !rig.manager.is_authenticated(),
        "Clerk's sign-out reaches the manager at once"
    );
    assert_eq!(
        rig.events.last("stateChanged").as_deref(),
        Some(r#"{"authenticated":false,"expiresAt":null}"#)
    );
    assert_eq!(rig.clock.pending(), 0, "no timer after sign-out");
    rig.clock.advance(600_000.0).await;
    assert_eq!(
        rig.sdk.calls(),
        "cached",
        "no scheduled refresh after sign-out"
    );
    assert_eq!(
        rig.events.count("sessionExpired"),
        0,
        "a sign-out is not an expiry"
    );

    rig.manager.stop();
    assert_eq!((rig.sdk.unsubscribed(), rig.sdk.listener_count()), (1, 0));
}

#[wasm_bindgen_test]
fn something_that_is_not_clerk_is_a_config_error() {
    let inputs = vec![
        JsValue::NULL,
        "pk_test_123".into(),
        obj(&[("session", JsValue::NULL)]),
    ];
    assert_refused(clerk_token_provider, inputs, "addListener");
}

// ----- Supabase -----

#[wasm_bindgen_test]
async fn supabase_sends_the_session_access_token_and_a_401_calls_refresh_session() {
    let rig = Bridged::supabase(true, &[]);
    assert_eq!(rig.get("/api/a").await.unwrap(), 200);
    let access = || bearer(&rig.sdk.access_token().unwrap());
    assert_eq!(
        rig.backend.auth(0),
        access(),
        "the user's access token, not the anon key"
    );
    assert_eq!(rig.sdk.refresh_session_calls(), 0);

    rig.backend.revoke(&rig.sdk.access_token().unwrap());
    assert_eq!(rig.get("/api/b").await.unwrap(), 200);
    assert_eq!(
        rig.sdk.refresh_session_calls(),
        1,
        "one refreshSession() for the 401"
    );
    assert_eq!(
        rig.backend.count(),
        3,
        "first call, the refused one, the retry"
    );
    assert_eq!(rig.backend.auth(-1), access());
}

#[wasm_bindgen_test]
async fn a_token_supabase_refreshed_itself_is_used_without_asking_again() {
    let rig = Bridged::supabase(true, &[]);
    assert_eq!(rig.get("/api/a").await.unwrap(), 200);
    let asked = || rig.sdk.get_session_calls() + rig.sdk.refresh_session_calls();
    let before = asked();

    rig.sdk.refresh_in_background();
    let refreshed = rig.events.last("tokenRefreshed").unwrap_or_default();
    assert!(refreshed.contains(r#""reason":"provider""#), "{refreshed}");
    assert_eq!(rig.get("/api/b").await.unwrap(), 200);
    assert_eq!(
        rig.backend.auth(-1),
        bearer(&rig.sdk.access_token().unwrap()),
        "the pushed token"
    );
    assert_eq!(asked(), before, "no extra getSession/refreshSession");
}

#[wasm_bindgen_test]
async fn supabase_sign_out_stops_the_manager_and_sign_in_resumes_it() {
    // Default schedule: 60 s tokens, refreshed at exp - 10 s.
    let rig = Bridged::supabase(true, &[]);
    rig.manager.start().unwrap();
    rig.clock.advance(0.0).await;
    assert!(rig.manager.is_authenticated());

    assert!(rig.manager.token_expires_at().as_f64().is_some());

    rig.sdk.sign_out();
    assert!(!rig.manager.is_authenticated());
    assert!(
        rig.manager.token_expires_at().is_null(),
        "null after sign-out, as typed"
    );
    let asked = rig.sdk.get_session_calls();
    rig.clock.advance(600_000.0).await;
    assert_eq!(
        rig.sdk.get_session_calls(),
        asked,
        "stopped: no scheduled getSession"
    );
    let error = rig.get("/api/a").await.unwrap_err();
    assert_session_error(&error, "unauthenticated");
    assert_eq!(rig.backend.count(), 0, "nothing sent without a session");

    rig.sdk.sign_in();
    assert!(
        rig.manager.is_authenticated(),
        "SIGNED_IN's token is adopted"
    );
    let asked = (rig.sdk.get_session_calls(), rig.sdk.refresh_session_calls());
    rig.clock.advance(49_999.0).await;
    assert_eq!(
        (rig.sdk.get_session_calls(), rig.sdk.refresh_session_calls()),
        asked,
        "nothing before exp - margin"
    );
    rig.clock.advance(1.0).await;
    // getSession answers the token it holds (10 s left: inside the margin), so the
    // scheduled refresh goes on to refreshSession.
    assert_eq!(
        (rig.sdk.get_session_calls(), rig.sdk.refresh_session_calls()),
        (asked.0 + 1, asked.1 + 1),
        "the schedule resumed after signing in again"
    );
    assert_eq!(
        rig.events.count("sessionExpired"),
        1,
        "only the request made while signed out"
    );
    rig.manager.stop();
}

#[wasm_bindgen_test]
async fn stop_and_free_release_the_supabase_subscription() {
    let Bridged { sdk, manager, .. } = Bridged::supabase(false, &[]);
    assert_eq!(
        sdk.subscribers(),
        1,
        "the manager follows onAuthStateChange from the start"
    );
    manager.stop();
    assert_eq!((sdk.subscribers(), sdk.unsubscribed()), (0, 1));
    manager.start().unwrap();
    assert_eq!(sdk.subscribers(), 1, "start() follows it again");
    drop(manager); // free()
    assert_eq!((sdk.subscribers(), sdk.unsubscribed()), (0, 2));
}

#[wasm_bindgen_test]
async fn supabase_errors_are_failed_refreshes_that_name_no_token() {
    let rig = Bridged::supabase(true, &[]);
    rig.sdk.set_fail_with(&format!("{LEAK_MARK} network down"));
    // INITIAL_SESSION already handed over a token; a forced refresh meets the error.
    let error = settle(rig.manager.refresh_token()).await.unwrap_err();
    assert_session_error(&error, "refresh_failed");
    assert_eq!(rig.events.count("refreshFailed"), 1);
    assert_eq!(rig.events.leaks(), 0);
    assert_eq!(logged_leaks(), 0);
}

#[wasm_bindgen_test]
async fn supabase_check_session_reports_whether_there_is_a_session() {
    let supabase = FakeSupabase::new(&Provider::new(60_000.0));
    let provider = supabase_token_provider(supabase.clone()).unwrap();
    assert_eq!(check_session(&provider).await, JsValue::FALSE);
    supabase.sign_in();
    assert_eq!(check_session(&provider).await, JsValue::TRUE);
}

#[wasm_bindgen_test]
fn something_that_is_not_a_supabase_client_is_a_config_error() {
    let no_auth_methods = obj(&[("auth", obj(&[]))]);
    let inputs = vec![
        JsValue::UNDEFINED,
        "anon-key".into(),
        obj(&[]),
        no_auth_methods,
    ];
    assert_refused(supabase_token_provider, inputs, "onAuthStateChange");
}

// ----- the push channel itself -----

#[wasm_bindgen_test]
async fn pushes_that_are_not_tokens_are_ignored_and_logged_without_their_value() {
    let (rig_provider, backend, clock) = doubles();
    let pusher = Pusher::new();
    let provider = obj(&[
        ("getToken", rig_provider.get_token().into()),
        ("subscribe", pusher.subscribe().into()),
    ]);
    let (manager, events) = manager_over(&provider, &backend, &clock, &[]);
    assert_eq!(get(&manager, "/api/a").await.unwrap(), 200);
    pusher.push(&JsValue::from_f64(42.0));
    pusher.push(&JsValue::from_str(&format!("{LEAK_MARK} has spaces")));
    assert!(manager.is_authenticated(), "a bad push changes nothing");
    assert_eq!(events.count("tokenRefreshed"), 1, "only the first token");
    assert_eq!(logged_leaks(), 0, "the refused value is not logged");
    assert_eq!(get(&manager, "/api/b").await.unwrap(), 200);
}

#[wasm_bindgen_test]
async fn a_subscribe_that_throws_leaves_the_manager_working() {
    let (rig_provider, backend, clock) = doubles();
    let throwing = Function::new_no_args("throw new Error('no pushes today')");
    let provider = obj(&[
        ("getToken", rig_provider.get_token().into()),
        ("subscribe", throwing.into()),
    ]);
    let (manager, _) = manager_over(&provider, &backend, &clock, &[]);
    assert_eq!(get(&manager, "/api/a").await.unwrap(), 200);
    assert_eq!(logged_matching("subscribe threw"), 1);
}

// ----- installGlobal -----

fn global(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &name.into()).unwrap()
}

#[wasm_bindgen_test]
async fn install_global_sets_the_template_functions_and_announces_itself() {
    clear_globals();
    let (provider, backend, clock) = doubles();
    let ready = WindowEvents::new("session-keeper-ready");
    let manager = install_global(config(
        &provider,
        &backend,
        &obj(&[("clock", clock.into())]),
    ))
    .unwrap();
    assert_eq!(ready.count(), 1);
    ready.close();
    assert_eq!(global("sessionKeeper"), manager);

    // A template's call, through the global, unbound from any object.
    let response = settle(
        global("fetchWithAuth")
            .unchecked_into::<Function>()
            .call1(&JsValue::NULL, &"/api/template".into())
            .unwrap()
            .into(),
    )
    .await
    .unwrap();
    assert_eq!(status(&response), 200);
    assert_eq!(backend.auth(-1), bearer(&provider.token().unwrap()));
    for name in [
        "triggerSessionRecoveryCheck",
        "updateCredits",
        "waitForAuthStability",
    ] {
        assert!(global(name).is_function(), "{name} is set");
    }
    assert!(
        provider.reasons().starts_with("plain:initial"),
        "installGlobal starts the schedule: {}",
        provider.reasons()
    );
    clear_globals();
}

#[wasm_bindgen_test]
async fn a_second_install_stops_the_first_manager() {
    clear_globals();
    let (first, backend, clock) = doubles();
    let on_clock = || obj(&[("clock", JsValue::from(&clock))]);
    install_global(config(&first, &backend, &on_clock())).unwrap();
    clock.advance(0.0).await;
    assert_eq!(first.reasons(), "plain:initial");
    let second = Provider::new(60_000.0);
    second.set_clock(&clock);
    let backend2 = Backend::new(&second);
    install_global(config(&second, &backend2, &on_clock())).unwrap();
    clock.advance(600_000.0).await;
    assert_eq!(
        first.reasons(),
        "plain:initial",
        "the first manager's schedule is stopped"
    );
    // The second one runs on: 60 s tokens, every 50 s (a plain call from the cache that
    // escalates to a forced one inside the margin).
    // 13 plain calls (the first, and one at 50 s, 100 s, …, 600 s) and 12 forced ones.
    assert_eq!(
        (second.plain(), second.forced()),
        (13, 12),
        "{}",
        second.reasons()
    );
    clear_globals();
}

#[wasm_bindgen_test]
fn install_global_with_a_bad_config_throws_and_sets_nothing() {
    clear_globals();
    let error = install_global(obj(&[("loginUrl", "/login".into())])).unwrap_err();
    assert_session_error(&error, "config");
    assert!(global("fetchWithAuth").is_undefined());
}
