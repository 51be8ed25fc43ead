//! Bindings to the JS test doubles in `harness.js`, and small async helpers.
#![allow(dead_code)]

use js_sys::{Function, Object, Promise, Reflect};
use session_keeper::SessionManager;
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

    pub type Backend;
    #[wasm_bindgen(constructor)]
    pub fn new(provider: &Provider) -> Backend;
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
pub struct Rig {
    pub provider: Provider,
    pub backend: Backend,
    pub manager: SessionManager,
    pub events: Recorder,
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

impl Rig {
    pub fn new(lifetime_ms: f64, extra: &[(&str, JsValue)]) -> Rig {
        tap_console();
        let provider = Provider::new(lifetime_ms);
        let backend = Backend::new(&provider);
        let manager =
            SessionManager::new(config(&provider, &backend, &obj(extra))).expect("valid config");
        let events = Recorder::new();
        for name in ALL_EVENTS {
            manager.on(name, events.listener(name)).unwrap();
        }
        Rig {
            provider,
            backend,
            manager,
            events,
        }
    }

    /// `fetchWithAuth(url)` resolved to its status, or the rejection.
    pub async fn get(&self, url: &str) -> Result<i32, JsValue> {
        self.fetch(url, &JsValue::UNDEFINED).await
    }

    pub async fn fetch(&self, url: &str, init: &JsValue) -> Result<i32, JsValue> {
        settle(
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

    /// Asserts no token reached an event detail or a log line so far.
    pub fn assert_no_leaks(&self) {
        assert_eq!(
            self.events.leaks(),
            0,
            "a token appeared in an event detail"
        );
        assert_eq!(logged_leaks(), 0, "a token appeared in a log line");
    }
}

pub async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
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
