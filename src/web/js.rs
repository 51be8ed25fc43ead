//! The browser layer itself is `js/runtime.js`: the `SessionManager` class the package
//! exports, its driver, the adapters and `installGlobal`. The module only hands it the door.

use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/runtime.js")]
extern "C" {
    /// Hands the browser layer the door into the core ([`super::entry::door`]) and the
    /// event names `on()` accepts.
    pub fn connect(door: &Function, names: &Array);
}
