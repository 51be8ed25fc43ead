//! Clerk and Supabase adapters: `clerkTokenProvider(clerk)` and
//! `supabaseTokenProvider(client)` turn an SDK client into a `TokenProvider`.
//!
//! The adapters are a JS snippet (`js/bridges.js`): each method is a one-line delegation to
//! the SDK, and a `TokenProvider` must be a plain object whose functions are its own
//! properties (so that `{ ...provider, loginUrl }` keeps them). Written in Rust, each would
//! be a closure handed to JS plus an async state machine in the module, for no gain: the
//! manager already bounds every provider call by `tokenTimeoutMs` and checks every answer.

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/bridges.js")]
extern "C" {
    /// Builds the provider; throws `SessionError` `config` for something that is not Clerk.
    #[wasm_bindgen(catch, js_name = clerkProvider)]
    pub fn clerk_token_provider(clerk: &JsValue) -> Result<JsValue, JsValue>;

    /// Builds the provider; throws `SessionError` `config` for something that is not a
    /// Supabase client.
    #[wasm_bindgen(catch, js_name = supabaseProvider)]
    pub fn supabase_token_provider(client: &JsValue) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen(module = "/js/bridges.js")]
extern "C" {
    /// Binds the template globals (`window.fetchWithAuth`, …) to `manager`. Caught: the
    /// previous `window.sessionKeeper` belongs to the page and may be anything.
    #[wasm_bindgen(catch)]
    pub fn install(manager: &JsValue) -> Result<(), JsValue>;
}
