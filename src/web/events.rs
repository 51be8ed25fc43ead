//! The `on(event, listener)` registry.
//!
//! Listeners live in a JS `Map<name, Set<Function>>`, and the unsubscribe function handed
//! back is `Set.prototype.delete` bound to that set and listener. So no Rust closure is
//! created per subscription, and nothing leaks when a page never unsubscribes.

use js_sys::{Array, Function, Map, Object, Reflect, Set};
use wasm_bindgen::{JsCast, JsValue};

use super::log::Logger;
use crate::core::error::Error;

/// Every event name `on` accepts.
pub const EVENTS: [&str; 7] = [
    "tokenRefreshed",
    "refreshFailed",
    "sessionExpired",
    "recoveryCheck",
    "recovered",
    "creditsUpdated",
    "stateChanged",
];

/// Listener registry of one `SessionManager`.
pub struct Events {
    listeners: Map,
}

impl Events {
    /// An empty registry.
    pub fn new() -> Self {
        Events {
            listeners: Map::new(),
        }
    }

    /// Adds `listener` for `name`; returns the function that removes it.
    pub fn on(&self, name: &str, listener: &JsValue) -> Result<Function, Error> {
        if !EVENTS.contains(&name) {
            return Err(Error::config(
                "on()",
                "got an unknown event name; see SessionEvent for the list",
            ));
        }
        let Some(listener) = listener.dyn_ref::<Function>() else {
            return Err(Error::config("on()", "needs a function as its listener"));
        };
        let key = JsValue::from_str(name);
        let set: Set = match self.listeners.get(&key).dyn_into() {
            Ok(set) => set,
            Err(_) => {
                let set = Set::new(&JsValue::UNDEFINED);
                self.listeners.set(&key, &set);
                set
            }
        };
        set.add(listener);
        let delete: Function = Reflect::get(&set, &JsValue::from_str("delete"))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| Error::config("on()", "could not bind the unsubscribe function"))?;
        let unsubscribe: JsValue = delete.bind1(&set, listener).into();
        Ok(unsubscribe.unchecked_into())
    }

    /// Calls every listener of `name` with `detail`. A listener that throws is logged and
    /// skipped; the others still run.
    pub fn emit(&self, name: &str, detail: &JsValue, log: &Logger) {
        let Ok(set) = self
            .listeners
            .get(&JsValue::from_str(name))
            .dyn_into::<Set>()
        else {
            return;
        };
        // Snapshot first: a listener may unsubscribe itself while we iterate.
        for listener in Array::from(&set).iter() {
            if let Ok(f) = listener.dyn_into::<Function>() {
                if f.call1(&JsValue::UNDEFINED, detail).is_err() {
                    log.warn(&[
                        "a '",
                        name,
                        "' listener threw; the other listeners still ran",
                    ]);
                }
            }
        }
    }
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds an event detail object from plain values (never a token).
pub fn detail(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in fields {
        // Setting a fresh plain object's own property cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}
