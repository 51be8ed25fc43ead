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

/// Why a request failed, kept typed until it reaches JavaScript, so callers inside the
/// library (credits retries) can tell a network failure from a caller's abort without
/// reading error text.
pub enum Failure {
    /// A session-keeper error.
    Session(Error),
    /// `fetch` itself failed (offline, DNS, CORS); holds fetch's own error as the cause.
    Network(JsValue),
    /// Passed through unchanged: the caller's abort, or fetch's TypeError for bad input.
    Js(JsValue),
}

impl Failure {
    /// Whether another attempt may succeed: a network failure or a timeout.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Network(_) => true,
            Failure::Session(e) => e.code == ErrorCode::Timeout,
            Failure::Js(_) => false,
        }
    }

    /// The failure as a core error, for a caller that reports it in its own words.
    pub fn into_error(self) -> Error {
        match self {
            Failure::Session(e) => e,
            Failure::Network(_) => Error::new(ErrorCode::Network, NETWORK_MESSAGE),
            Failure::Js(_) => Error::new(ErrorCode::BadResponse, "the request could not be made"),
        }
    }
}

const NETWORK_MESSAGE: &str = "fetch failed (offline, DNS, CORS or a refused connection)";

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Session(error)
    }
}

impl From<JsValue> for Failure {
    fn from(value: JsValue) -> Self {
        Failure::Js(value)
    }
}

impl From<Failure> for JsValue {
    fn from(failure: Failure) -> JsValue {
        match failure {
            Failure::Session(error) => error.into(),
            Failure::Network(cause) => {
                SessionError::new(ErrorCode::Network.as_str(), NETWORK_MESSAGE, &cause).into()
            }
            Failure::Js(value) => value,
        }
    }
}
