//! Decoding a JWT payload with the browser's own `atob` and `JSON.parse`.

use js_sys::{Array, Reflect, JSON};
use wasm_bindgen::prelude::*;

use crate::core::jwt::{base64url_to_base64, payload_segment, Claims, ClaimsError};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = atob)]
    fn atob(data: &str) -> Result<String, JsValue>;
}

/// Reads `exp` and `iat`. Errors name the failing step and never include the token.
pub fn read_claims(token: &str) -> Result<Claims, ClaimsError> {
    let base64 = base64url_to_base64(payload_segment(token)?)?;
    let json = atob(&base64).map_err(|_| ClaimsError::BadEncoding)?;
    let payload = JSON::parse(&json).map_err(|_| ClaimsError::BadJson)?;
    // A claims set is a JSON object (RFC 7519 §4), not an array or a scalar.
    if !payload.is_object() || Array::is_array(&payload) {
        return Err(ClaimsError::BadJson);
    }
    let number = |name: &str| -> Result<Option<f64>, ClaimsError> {
        let value =
            Reflect::get(&payload, &JsValue::from_str(name)).map_err(|_| ClaimsError::BadJson)?;
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        value.as_f64().map(Some).ok_or(ClaimsError::BadJson)
    };
    Claims::from_seconds(number("exp")?, number("iat")?)
}
