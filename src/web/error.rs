//! Converting errors into JS `SessionError`s, once, at the boundary.

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::prelude::*;

use crate::core::error::{Error, ErrorCode};

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

/// How one request failed, with the JavaScript value that says so: kept until the call is
/// settled, because the core only names the failure.
pub enum Failure {
    /// `fetch` failed (offline, DNS, CORS) or threw: `network`, with fetch's error as cause.
    Network(JsValue),
    /// The caller aborted: rejected with the caller's own reason, unchanged, as fetch does.
    Aborted(JsValue),
    /// `input`/`init` that fetch would refuse: `config`, with the `TypeError` as cause.
    Input(JsValue),
}

impl From<Failure> for JsValue {
    fn from(failure: Failure) -> JsValue {
        let (code, message, cause) = match failure {
            Failure::Aborted(reason) => return reason,
            Failure::Network(cause) => (
                ErrorCode::Network,
                "fetch failed (offline, DNS, CORS or a refused connection)",
                cause,
            ),
            Failure::Input(cause) => (
                ErrorCode::Config,
                "fetchWithAuth got an input or init that fetch cannot use",
                cause,
            ),
        };
        SessionError::new(code.as_str(), message, &cause).into()
    }
}
