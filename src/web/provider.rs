//! Following a provider that refreshes on its own. Supabase refreshes in the background and
//! announces it through `onAuthStateChange`; the bridge hands those tokens (and `null` on
//! sign-out) to the listener registered here, so the manager never pays for a second
//! refresh of a token the provider already renewed.

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::Function;
use wasm_bindgen::prelude::*;

/// One `subscribe(listener)` registration. Dropping it calls the unsubscribe function the
/// provider returned, then drops the listener closure.
pub struct Following {
    unsubscribe: Option<Function>,
    _listener: Closure<dyn FnMut(JsValue)>,
}

impl Following {
    /// Calls `subscribe(listener)`; `None` when `subscribe` throws (the manager then works
    /// without pushes, asking `getToken` as usual).
    pub fn start(subscribe: &Function, on_push: impl FnMut(JsValue) + 'static) -> Option<Self> {
        let listener = Closure::<dyn FnMut(JsValue)>::new(on_push);
        let returned = subscribe
            .call1(&JsValue::UNDEFINED, listener.as_ref())
            .ok()?;
        Some(Following {
            unsubscribe: returned.dyn_into().ok(),
            _listener: listener,
        })
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        if let Some(unsubscribe) = self.unsubscribe.take() {
            // A provider whose unsubscribe throws has nothing more we can do for it.
            let _ = unsubscribe.call0(&JsValue::UNDEFINED);
        }
    }
}
