//! Converting errors into JS `SessionError`s, once, at the boundary.

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::prelude::*;

use crate::core::error::Error;

#[wasm_bindgen(module = "/js/runtime.js")]
extern "C" {
    /// `class SessionError extends Error` with a stable `code`.
    #[wasm_bindgen(extends = js_sys::Error)]
    pub type SessionError;

    #[wasm_bindgen(constructor)]
    fn new(code: &str, message: &str, cause: &JsValue) -> SessionError;
}

impl From<Error> for JsValue {
    fn from(error: Error) -> JsValue {
        SessionError::new(error.code.as_str(), &error.message, &JsValue::UNDEFINED).into()
    }
}
