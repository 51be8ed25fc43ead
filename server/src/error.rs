//! One error type for every handler, so every failure is a JSON body with a clear message and
//! the right 4xx. Two body dialects exist: this server's own `{"error": ...}` and GoTrue's
//! (Supabase auth), which supabase-js parses for its error codes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({ "error": message.into() }),
        }
    }

    pub fn with_body(status: StatusCode, body: Value) -> Self {
        ApiError { status, body }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// GoTrue v2's error body. auth-js (`handleError`) takes the code from `error_code` when
    /// the response has no `X-Supabase-Api-Version` header (this server sends none), so the
    /// numeric `code` is safe; the message comes from `msg`, then `error_description`. The
    /// OAuth-style `error`/`error_description` pair is what older GoTrue sent for token grants.
    pub fn gotrue(status: StatusCode, error_code: &str, oauth_error: &str, msg: &str) -> Self {
        ApiError {
            status,
            body: json!({
                "code": status.as_u16(),
                "error_code": error_code,
                "msg": msg,
                "error": oauth_error,
                "error_description": msg,
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme it wants.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
