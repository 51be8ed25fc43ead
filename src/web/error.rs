//! Converting core errors into JS `SessionError`s, once, at the boundary.

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

/// Why a request failed, kept typed until it reaches JavaScript, so callers inside the
/// library (credits retries) can tell a network failure from a caller's abort without
/// reading error text.
pub enum Failure {
    /// A session-keeper error.
    Session(Error),
    /// `fetch` itself failed (offline, DNS, CORS) or threw; holds fetch's own error as the
    /// cause.
    Network(JsValue),
    /// The caller aborted: rejected with the caller's own reason, unchanged, as fetch does.
    Aborted(JsValue),
    /// `input`/`init` that fetch would refuse: a `config` error with the `TypeError` as cause.
    Input(JsValue),
}

impl Failure {
    /// Whether another attempt may succeed: a network failure or a timeout.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Network(_) => true,
            Failure::Session(e) => e.code == ErrorCode::Timeout,
            Failure::Aborted(_) | Failure::Input(_) => false,
        }
    }

    /// The failure as a core error, for a caller that reports it in its own words.
    pub fn into_error(self) -> Error {
        match self {
            Failure::Session(e) => e,
            Failure::Network(_) => Error::new(ErrorCode::Network, NETWORK_MESSAGE),
            Failure::Aborted(_) => Error::new(ErrorCode::BadResponse, "the request was aborted"),
            Failure::Input(_) => Error::new(ErrorCode::Config, INPUT_MESSAGE),
        }
    }
}

const NETWORK_MESSAGE: &str = "fetch failed (offline, DNS, CORS or a refused connection)";
const INPUT_MESSAGE: &str = "fetchWithAuth got an input or init that fetch cannot use";

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Session(error)
    }
}

impl From<Failure> for JsValue {
    fn from(failure: Failure) -> JsValue {
        match failure {
            Failure::Session(error) => error.into(),
            Failure::Network(cause) => {
                SessionError::new(ErrorCode::Network.as_str(), NETWORK_MESSAGE, &cause).into()
            }
            Failure::Aborted(reason) => reason,
            Failure::Input(cause) => {
                SessionError::new(ErrorCode::Config.as_str(), INPUT_MESSAGE, &cause).into()
            }
        }
    }
}
