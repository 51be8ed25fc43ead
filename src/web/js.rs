//! The browser layer itself, `js/runtime.js`: the driver class each `SessionManager`
//! delegates to, and reading the config. Every method that can throw is `catch`-ed.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/runtime.js")]
extern "C" {
    /// Hands the browser layer the door into the core ([`super::entry::door`]).
    pub fn connect(door: &Function);

    /// Checks a `SessionConfig`; throws `SessionError` `config` naming the field.
    #[wasm_bindgen(catch, js_name = readConfig)]
    pub fn read_config(config: &JsValue) -> Result<JsValue, JsValue>;

    /// One manager's browser side.
    pub type Driver;

    /// The browser side of manager `id`, for a config `readConfig` has checked.
    #[wasm_bindgen(constructor)]
    pub fn new(config: &JsValue, id: u32) -> Driver;

    /// `fetchWithAuth(input, init)`.
    #[wasm_bindgen(method, js_name = fetchWithAuth)]
    pub fn fetch_with_auth(this: &Driver, input: &JsValue, init: &JsValue) -> Promise;
    /// `refreshToken()`.
    #[wasm_bindgen(method, js_name = refreshToken)]
    pub fn refresh_token(this: &Driver) -> Promise;
    /// `triggerSessionRecoveryCheck(trigger)`.
    #[wasm_bindgen(method, js_name = triggerSessionRecoveryCheck)]
    pub fn recovery_check(this: &Driver, trigger: &JsValue) -> Promise;
    /// `updateCredits(options)`.
    #[wasm_bindgen(method, js_name = updateCredits)]
    pub fn update_credits(this: &Driver, options: &JsValue) -> Promise;
    /// `waitForAuthStability(options)`.
    #[wasm_bindgen(method, js_name = waitForAuthStability)]
    pub fn wait_for_stability(this: &Driver, options: &JsValue) -> Promise;
    /// `signOut()`.
    #[wasm_bindgen(method, js_name = signOut)]
    pub fn sign_out(this: &Driver) -> Promise;
    /// `start()`.
    #[wasm_bindgen(method)]
    pub fn start(this: &Driver);
    /// `stop()`.
    #[wasm_bindgen(method)]
    pub fn stop(this: &Driver);
    /// `free()`.
    #[wasm_bindgen(method)]
    pub fn free(this: &Driver);
    /// `isAuthenticated`.
    #[wasm_bindgen(method, js_name = isAuthenticated)]
    pub fn is_authenticated(this: &Driver) -> bool;
    /// `tokenExpiresAt`.
    #[wasm_bindgen(method, js_name = tokenExpiresAt)]
    pub fn token_expires_at(this: &Driver) -> JsValue;
    /// `on(name, listener)`; throws `config` for a listener that is not a function.
    #[wasm_bindgen(method, catch)]
    pub fn on(this: &Driver, name: &str, listener: &JsValue) -> Result<Function, JsValue>;
}
