//! JSON body parsing. Handlers take raw bytes and parse here, instead of axum's `Json`
//! extractor, so every malformed body becomes the same 400 `{"error": ...}` with serde's
//! explanation, whatever the Content-Type (supabase-js sends `application/json;charset=UTF-8`,
//! `sendBeacon` sends `text/plain`).

use serde::de::DeserializeOwned;

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("Request body must be a JSON object".to_owned());
    }
    serde_json::from_slice(bytes).map_err(|e| format!("Invalid JSON body: {e}"))
}
