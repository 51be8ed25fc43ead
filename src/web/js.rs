//! The imports from `js/runtime.js` and the few globals the driver reads. Every import that
//! can throw is `catch`-ed, or cannot throw by construction (the snippet turns every failure
//! into a callback).

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::{Function, JSON};
use wasm_bindgen::prelude::*;

use crate::core::Millis;

#[wasm_bindgen(module = "/js/runtime.js")]
extern "C" {
    /// `cb(kind, id, value)` once `f(arg)` settles (`kind + 1`: it threw or rejected).
    pub fn invoke(f: &Function, arg: &JsValue, cb: &Function, kind: u32, id: u32);

    /// `cb(kind, 0, type)` on every `type` event of `target`; returns the function that stops.
    pub fn listen(target: &JsValue, kind: &str, cb: &Function, report: u32) -> Function;

    /// Sends one attempt of `request` (a clone when `replay`) with the bearer, and reports
    /// through `cb` (see the snippet).
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        fetch: &Function,
        request: &web_sys::Request,
        replay: bool,
        token: Option<&str>,
        read: u8,
        cb: &Function,
        kind: u32,
        id: u32,
    );
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = Date, js_name = parse)]
    fn date_parse(text: &str) -> Result<f64, JsValue>;
}

/// `navigator.onLine`, true where there is no navigator.
pub fn online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// An HTTP date as page-clock ms, for `Retry-After`.
pub fn parse_date(text: &str) -> Option<Millis> {
    let at = date_parse(text).ok()?;
    (at.is_finite() && at >= 0.0).then_some(at as Millis)
}

/// `localStorage.removeItem(key)`, best effort.
pub fn remove_item(key: &str) {
    if let Some(storage) = super::storage::local_storage() {
        let _ = storage.remove_item(key);
    }
}

/// The verify endpoint's body, `{"token": "<token>"}`.
pub fn verify_body(token: &str) -> JsValue {
    let body = super::events::detail(&[("token", JsValue::from_str(token))]);
    JSON::stringify(&body).map_or(JsValue::UNDEFINED, Into::into)
}
