//! Converting core errors into JS `SessionError`s, once, at the boundary.

use wasm_bindgen::prelude::*;

use crate::core::error::{Error, ErrorCode};

#[wasm_bindgen(module = "/js/session-error.js")]
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

/// A `SessionError` that keeps the JS error that caused it (for `network`: fetch's TypeError).
pub fn with_cause(code: ErrorCode, message: &str, cause: &JsValue) -> JsValue {
    SessionError::new(code.as_str(), message, cause).into()
}
