//! session-keeper keeps a web dashboard's login session alive.
//!
//! The policy lives in [`core`]: plain Rust, time passed in, tested natively. [`web`]
//! carries out its decisions in the browser. This file holds only the JavaScript API of
//! SPEC.md.
#![deny(missing_docs)]
// The shipped module is no_std (see Cargo.toml's `std` feature).
#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

/// A panic traps. Nothing here panics by design, and std's handler would pull in
/// `core::fmt` to format a message nobody reads.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}

pub mod bridge;
pub mod core;
pub mod web;

/// What std's prelude would give every module; the shipped module is no_std.
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

/// Talc instead of std's dlmalloc: a fraction of its code, and the module is
/// single-threaded (no atomics), which is what this allocator variant assumes.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

use ::core::cell::RefCell;

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::error::Error;
use crate::core::event::NAMES;
use crate::web::entry;
use crate::web::js::{self, Driver};

// The TypeScript the generated `.d.ts` cannot derive from Rust: the config, the provider
// and SDK shapes, the events and their details, the error class. `types/usage.ts` checks it
// with `tsc --noEmit` (make test-types).
#[wasm_bindgen(typescript_custom_section)]
const API_TYPES: &str = include_str!("../js/api.d.ts");

/// Keeps one login session alive: `fetchWithAuth`, scheduled refresh, events.
///
/// Every decision is the core's (`core::machine::Core`); the browser side
/// (`js/runtime.js`) carries them out. This class is the JS API, and delegates.
#[wasm_bindgen]
pub struct SessionManager {
    /// `None` once freed. Cloned out before any call into JS: no borrow is held across one.
    driver: RefCell<Option<Driver>>,
}

impl SessionManager {
    /// The live driver, or the `freed` error once `free()` was called.
    fn live(&self) -> Result<Driver, Error> {
        let driver = self
            .driver
            .borrow()
            .as_ref()
            .map(|d| JsValue::clone(d).unchecked_into::<Driver>());
        driver.ok_or_else(Error::freed)
    }

    /// Runs `call` on the live driver, or rejects with `freed`.
    fn with_live(&self, call: impl FnOnce(&Driver) -> Promise) -> Promise {
        match self.live() {
            Ok(driver) => call(&driver),
            Err(error) => Promise::reject(&error.into()),
        }
    }
}

#[wasm_bindgen]
impl SessionManager {
    /// `new SessionManager(config)`; an invalid config throws `SessionError` code `config`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "SessionConfig")] config: JsValue,
    ) -> Result<SessionManager, JsValue> {
        let read = js::read_config(&config)?;
        let field = |name: &str| {
            Reflect::get(&read, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
        };
        let present = |name: &str| {
            let v = field(name);
            !(v.is_null() || v.is_undefined())
        };
        let numbers: Array = field("numbers").unchecked_into();
        let level = field("level").as_f64().unwrap_or(2.0) as u32;
        let settings = entry::settings(
            &numbers,
            [
                present("checkSession"),
                present("creditsUrl"),
                present("verifyUrl"),
            ],
            level,
        )?;
        js::connect(entry::door());
        let id = entry::register(settings, field("creditsUrl").as_string());
        Ok(SessionManager {
            driver: RefCell::new(Some(Driver::new(&read, id))),
        })
    }

    /// Tears the manager down: cancels the timer, removes every listener, closes the
    /// cross-tab channel and unsubscribes from the provider. Every method called afterwards
    /// throws or rejects with `SessionError` code `freed` (instead of wasm-bindgen's
    /// "null pointer passed to rust"); `stop()` and `free()` do nothing, `isAuthenticated`
    /// is false and `tokenExpiresAt` null. This replaces wasm-bindgen's own `free()`, and the
    /// small Rust handle is released when the garbage collector takes the JS object.
    #[wasm_bindgen(js_name = free)]
    pub fn free_manager(&self) {
        let driver = self.driver.borrow_mut().take();
        if let Some(driver) = driver {
            driver.free();
        }
    }

    /// Starts scheduled refresh (every `refreshIntervalMs`, earlier when `exp` demands) and
    /// the page-lifecycle re-checks.
    pub fn start(&self) -> Result<(), JsValue> {
        self.live()?.start();
        Ok(())
    }

    /// Cancels the refresh timer and removes every listener the manager added.
    pub fn stop(&self) {
        if let Ok(driver) = self.live() {
            driver.stop();
        }
    }

    /// Stops, forgets the token, clears the storage mirror and tells other tabs.
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(&self) -> Promise {
        self.with_live(|driver| driver.sign_out())
    }

    /// `fetch` with the bearer added for allowed origins, refreshed and retried once on 401.
    #[wasm_bindgen(js_name = fetchWithAuth, unchecked_return_type = "Promise<Response>")]
    pub fn fetch_with_auth(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestInfo | URL")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestInit")] init: JsValue,
    ) -> Promise {
        self.with_live(|driver| driver.fetch_with_auth(&input, &init))
    }

    /// Forces a refresh (shared with any in flight) and resolves with the new token.
    #[wasm_bindgen(js_name = refreshToken, unchecked_return_type = "Promise<string>")]
    pub fn refresh_token(&self) -> Promise {
        self.with_live(|driver| driver.refresh_token())
    }

    /// Whether the manager holds a token that has not expired.
    #[wasm_bindgen(getter, js_name = isAuthenticated)]
    pub fn is_authenticated(&self) -> bool {
        self.live().is_ok_and(|driver| driver.is_authenticated())
    }

    /// When the current token expires, in ms since the epoch (page clock), or `null`.
    #[wasm_bindgen(getter, js_name = tokenExpiresAt, unchecked_return_type = "number | null")]
    pub fn token_expires_at(&self) -> JsValue {
        self.live()
            .map_or(JsValue::NULL, |driver| driver.token_expires_at())
    }

    /// Runs a session-recovery check unless one ran within `recoveryCooldownMs` (in any
    /// tab); resolves with `{ ran, reason, trigger }`.
    #[wasm_bindgen(
        js_name = triggerSessionRecoveryCheck,
        unchecked_return_type = "Promise<RecoveryOutcome>"
    )]
    pub fn trigger_session_recovery_check(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] trigger: JsValue,
    ) -> Promise {
        self.with_live(|driver| driver.recovery_check(&trigger))
    }

    /// Reads the credits counter, healing a restarted backend on the way; resolves with it.
    #[wasm_bindgen(js_name = updateCredits, unchecked_return_type = "Promise<number>")]
    pub fn update_credits(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "UpdateCreditsOptions")] options: JsValue,
    ) -> Promise {
        self.with_live(|driver| driver.update_credits(&options))
    }

    /// Resolves true once the provider, the manager and the token mirror agree, false
    /// after `maxWaitMs`.
    #[wasm_bindgen(
        js_name = waitForAuthStability,
        unchecked_return_type = "Promise<boolean>"
    )]
    pub fn wait_for_auth_stability(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "StabilityOptions")] options: JsValue,
    ) -> Promise {
        self.with_live(|driver| driver.wait_for_stability(&options))
    }

    /// Subscribes `listener` to `event`; returns the function that unsubscribes it. Typed
    /// per event in `js/api.d.ts`. The names are the core's (`core::event::NAMES`).
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: JsValue) -> Result<Function, JsValue> {
        if !NAMES.contains(&event) {
            return Err(Error::config(
                "on()",
                "got an unknown event name; see SessionEvent for the list",
            )
            .into());
        }
        self.live()?.on(event, &listener)
    }
}

impl Drop for SessionManager {
    /// `free()`: cancels the timer, removes the listeners and closes the cross-tab channel.
    fn drop(&mut self) {
        self.free_manager();
    }
}

/// `installGlobal(config)`: for server-rendered templates written against the old global
/// functions. Builds and starts a manager, sets `window.fetchWithAuth`,
/// `triggerSessionRecoveryCheck`, `updateCredits`, `waitForAuthStability` and
/// `window.sessionKeeper` (the manager), then dispatches `session-keeper-ready` on `window`.
/// A second call stops the previous manager.
#[wasm_bindgen(js_name = installGlobal, unchecked_return_type = "SessionManager")]
pub fn install_global(
    #[wasm_bindgen(unchecked_param_type = "SessionConfig")] config: JsValue,
) -> Result<JsValue, JsValue> {
    let manager = SessionManager::new(config)?;
    manager.start()?;
    let manager = JsValue::from(manager);
    bridge::install(&manager)?;
    Ok(manager)
}

/// `clerkTokenProvider(clerk)`: a `TokenProvider` over a Clerk instance. Plain refreshes
/// read Clerk's own cache; forced ones pass `skipCache: true`. Throws `SessionError`
/// `config` for anything without Clerk's shape.
#[wasm_bindgen(js_name = clerkTokenProvider, unchecked_return_type = "TokenProvider")]
pub fn clerk_token_provider(
    #[wasm_bindgen(unchecked_param_type = "ClerkLike")] clerk: JsValue,
) -> Result<JsValue, JsValue> {
    bridge::clerk_token_provider(&clerk)
}

/// `supabaseTokenProvider(client)`: a `TokenProvider` over a Supabase client, following its
/// `onAuthStateChange`. Throws `SessionError` `config` for anything without its shape.
#[wasm_bindgen(js_name = supabaseTokenProvider, unchecked_return_type = "TokenProvider")]
pub fn supabase_token_provider(
    #[wasm_bindgen(unchecked_param_type = "SupabaseClientLike")] client: JsValue,
) -> Result<JsValue, JsValue> {
    bridge::supabase_token_provider(&client)
}
