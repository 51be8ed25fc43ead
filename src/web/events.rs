//! The `on(event, listener)` registry.
//!
//! Listeners live in a JS `Map<name, Set<Function>>`, and the unsubscribe function handed
//! back is `Set.prototype.delete` bound to that set and listener. So no Rust closure is
//! created per subscription, and nothing leaks when a page never unsubscribes.

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::{Array, Function, Map, Object, Reflect, Set};
use wasm_bindgen::{JsCast, JsValue};

use super::log::write;
use crate::core::action::Level;
use crate::core::error::Error;
use crate::core::event::{Field, NAMES};

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
        if !NAMES.contains(&name) {
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
    pub fn emit(&self, name: &str, detail: &JsValue, log: Level) {
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
                    let line = [
                        "a '",
                        name,
                        "' listener threw; the other listeners still ran",
                    ];
                    write(log, Level::Warn, &line.concat());
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

/// One field of an event detail, as JavaScript sees it.
pub fn field(field: Field<'_>) -> JsValue {
    match field {
        Field::Text(text) => JsValue::from_str(text),
        Field::Number(n) => JsValue::from_f64(n),
        Field::Bool(b) => JsValue::from_bool(b),
        Field::Time(at) => super::driver::expiry(at),
        Field::Probes(probes) => probes
            .iter()
            .map(|p| JsValue::from_str(p.as_str()))
            .collect::<Array>()
            .into(),
    }
}
