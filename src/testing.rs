//! The JS API driven from Rust, for the browser suites (built with the `std` feature only,
//! which the test builds switch on). These are the very class and functions the package
//! exports from `js/runtime.js`, reached through this crate's own import of that module, so
//! the suites exercise what ships.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/runtime.js")]
extern "C" {
    #[wasm_bindgen(js_name = SessionManager)]
    type Manager;

    #[wasm_bindgen(constructor, catch, js_class = SessionManager)]
    fn new(config: &JsValue) -> Result<Manager, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn start(this: &Manager) -> Result<(), JsValue>;
    #[wasm_bindgen(method)]
    fn stop(this: &Manager);
    #[wasm_bindgen(method)]
    fn free(this: &Manager);
    #[wasm_bindgen(method, js_name = signOut)]
    fn sign_out(this: &Manager) -> Promise;
    #[wasm_bindgen(method, js_name = fetchWithAuth)]
    fn fetch_with_auth(this: &Manager, input: &JsValue, init: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = refreshToken)]
    fn refresh_token(this: &Manager) -> Promise;
    #[wasm_bindgen(method, getter, js_name = isAuthenticated)]
    fn is_authenticated(this: &Manager) -> bool;
    #[wasm_bindgen(method, getter, js_name = tokenExpiresAt)]
    fn token_expires_at(this: &Manager) -> JsValue;
    #[wasm_bindgen(method, getter, js_name = isLeader)]
    fn is_leader(this: &Manager) -> bool;
    #[wasm_bindgen(method, js_name = triggerSessionRecoveryCheck)]
    fn recovery_check(this: &Manager, trigger: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = updateCredits)]
    fn update_credits(this: &Manager, options: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = waitForAuthStability)]
    fn wait_for_stability(this: &Manager, options: &JsValue) -> Promise;
    #[wasm_bindgen(method, catch)]
    fn on(this: &Manager, event: &str, listener: &JsValue) -> Result<Function, JsValue>;

    #[wasm_bindgen(catch, js_name = installGlobal)]
    fn install(config: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = clerkTokenProvider)]
    fn clerk(clerk: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = supabaseTokenProvider)]
    fn supabase(client: &JsValue) -> Result<JsValue, JsValue>;
}

/// `SessionManager`, as JavaScript sees it. Dropping it calls `free()`, as a page would
/// when it is done; `JsValue::from(manager)` hands the object over to JavaScript instead.
pub struct SessionManager(Manager);

impl SessionManager {
    /// `new SessionManager(config)`.
    pub fn new(config: JsValue) -> Result<SessionManager, JsValue> {
        connect();
        Manager::new(&config).map(SessionManager)
    }

    /// `start()`.
    pub fn start(&self) -> Result<(), JsValue> {
        self.0.start()
    }

    /// `stop()`.
    pub fn stop(&self) {
        self.0.stop()
    }

    /// `free()` (dropping the handle does it too): a closed tab.
    pub fn free(&self) {
        self.0.free()
    }

    /// `signOut()`.
    pub fn sign_out(&self) -> Promise {
        self.0.sign_out()
    }

    /// `fetchWithAuth(input, init)`.
    pub fn fetch_with_auth(&self, input: JsValue, init: JsValue) -> Promise {
        self.0.fetch_with_auth(&input, &init)
    }

    /// `refreshToken()`.
    pub fn refresh_token(&self) -> Promise {
        self.0.refresh_token()
    }

    /// `isAuthenticated`.
    pub fn is_authenticated(&self) -> bool {
        self.0.is_authenticated()
    }

    /// `tokenExpiresAt`.
    pub fn token_expires_at(&self) -> JsValue {
        self.0.token_expires_at()
    }

    /// `isLeader`.
    pub fn is_leader(&self) -> bool {
        self.0.is_leader()
    }

    /// `triggerSessionRecoveryCheck(trigger)`.
    pub fn trigger_session_recovery_check(&self, trigger: JsValue) -> Promise {
        self.0.recovery_check(&trigger)
    }

    /// `updateCredits(options)`.
    pub fn update_credits(&self, options: JsValue) -> Promise {
        self.0.update_credits(&options)
    }

    /// `waitForAuthStability(options)`.
    pub fn wait_for_auth_stability(&self, options: JsValue) -> Promise {
        self.0.wait_for_stability(&options)
    }

    /// `on(event, listener)`.
    pub fn on(&self, event: &str, listener: JsValue) -> Result<Function, JsValue> {
        self.0.on(event, &listener)
    }
}

impl Drop for SessionManager {
    fn drop(&mut self) {
        self.0.free();
    }
}

impl From<SessionManager> for JsValue {
    fn from(manager: SessionManager) -> JsValue {
        let object = JsValue::clone(&manager.0);
        core::mem::forget(manager);
        object
    }
}

/// `installGlobal(config)`.
pub fn install_global(config: JsValue) -> Result<JsValue, JsValue> {
    connect();
    install(&config)
}

/// The test harness does not run the module's start function (it has its own), so the
/// browser layer gets its door here. Connecting again is harmless.
fn connect() {
    crate::start();
}

/// `clerkTokenProvider(clerk)`.
pub fn clerk_token_provider(clerk: JsValue) -> Result<JsValue, JsValue> {
    self::clerk(&clerk)
}

/// `supabaseTokenProvider(client)`.
pub fn supabase_token_provider(client: JsValue) -> Result<JsValue, JsValue> {
    supabase(&client)
}
