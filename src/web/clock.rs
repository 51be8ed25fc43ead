//! The page's clock and its one timer: the browser's (`Date.now`, `setTimeout`), or one the
//! page injects through `config.clock`, as the browser suites do to run the whole library on
//! virtual time. The core never reads a clock; this is the only place that does.

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::Millis;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: f64) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue) -> Result<(), JsValue>;
}

/// Where time comes from.
pub enum Clock {
    /// `Date.now()` and the global `setTimeout`.
    Browser,
    /// An object with `now()`, `setTimeout(f, ms)` and `clearTimeout(id)`.
    Injected {
        /// `now`.
        now: Function,
        /// `setTimeout`.
        set: Function,
        /// `clearTimeout`.
        clear: Function,
        /// The object, for `this`.
        this: JsValue,
    },
}

impl Clock {
    /// Reads an injected clock from `value` (`None` when absent or not clock-shaped).
    pub fn injected(value: &JsValue) -> Option<Clock> {
        let method = |name: &str| -> Option<Function> {
            Reflect::get(value, &JsValue::from_str(name))
                .ok()?
                .dyn_into()
                .ok()
        };
        Some(Clock::Injected {
            now: method("now")?,
            set: method("setTimeout")?,
            clear: method("clearTimeout")?,
            this: value.clone(),
        })
    }

    /// Milliseconds since the epoch.
    pub fn now(&self) -> Millis {
        let now = match self {
            Clock::Browser => js_sys::Date::now(),
            Clock::Injected { now, this, .. } => now
                .call0(this)
                .ok()
                .and_then(|n| n.as_f64())
                .unwrap_or_else(js_sys::Date::now),
        };
        if now.is_finite() && now > 0.0 {
            now as Millis
        } else {
            0
        }
    }

    /// Calls `handler` after `ms`; the id to cancel it with, or `None` if the timer could
    /// not be armed.
    pub fn arm(&self, handler: &Function, ms: Millis) -> Option<JsValue> {
        let ms = ms.min(crate::core::policy::MAX_TIMER_MS) as f64;
        match self {
            Clock::Browser => set_timeout(handler, ms).ok(),
            Clock::Injected { set, this, .. } => {
                set.call2(this, handler, &JsValue::from_f64(ms)).ok()
            }
        }
    }

    /// Cancels timer `id`.
    pub fn disarm(&self, id: &JsValue) {
        let _ = match self {
            Clock::Browser => clear_timeout(id),
            Clock::Injected { clear, this, .. } => clear.call1(this, id).map(drop),
        };
    }
}
