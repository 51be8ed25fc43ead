//! This server's own auth API: `/auth/login`, `/auth/refresh`, `/auth/logout`, `/auth/verify`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Authed;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::state::{IssuedSession, SharedState};
use crate::users;

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize)]
struct VerifyBody {
    /// Optional so that a body without it is a 401 (no proof), not a 400 (bad syntax).
    token: Option<String>,
}

pub fn session_json(session: &IssuedSession) -> Value {
    json!({
        "access_token": session.access_token,
        "refresh_token": session.refresh_token,
        "token_type": "bearer",
        "expires_in": session.expires_in,
        "expires_at": session.expires_at,
        "user": { "id": session.user.id, "email": session.user.email },
    })
}

pub async fn login(State(state): State<SharedState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: LoginBody = parse_json(&body).map_err(ApiError::bad_request)?;
    let user = users::check_credentials(&body.email, &body.password)
        .ok_or_else(|| ApiError::unauthorized("Invalid email or password"))?;
    let session = state.login(user)?;
    state.stats.update(|c| c.logins += 1);
    Ok(Json(session_json(&session)))
}

pub async fn refresh(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: RefreshBody = parse_json(&body).map_err(ApiError::bad_request)?;
    let session = state.refresh(&body.refresh_token)?.ok_or_else(|| {
        state.stats.update(|c| c.refresh_rejections += 1);
        ApiError::unauthorized("Invalid refresh token")
    })?;
    state.stats.update(|c| c.refreshes += 1);
    Ok(Json(session_json(&session)))
}

/// Ends every session of the user: all refresh tokens go. Access tokens already issued stay
/// valid until their `exp` (they are stateless), as with any JWT backend.
pub async fn logout(State(state): State<SharedState>, auth: Authed) -> StatusCode {
    state.revoke_refresh_tokens(auth.user.id);
    StatusCode::NO_CONTENT
}

/// The recovery probe: proves the caller holds the token (bearer header and body must carry
/// the same one) and re-creates the user's server-side session context.
pub async fn verify(
    State(state): State<SharedState>,
    auth: Authed,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let token = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        parse_json::<VerifyBody>(&body)
            .map_err(ApiError::bad_request)?
            .token
    };
    let Some(token) = token else {
        return Err(ApiError::unauthorized(
            "Body must carry the token: {\"token\": \"...\"}",
        ));
    };
    if token != auth.token {
        return Err(ApiError::unauthorized(
            "Token in body does not match the bearer token",
        ));
    }
    state.remember_session(auth.user);
    state.stats.update(|c| c.verifies += 1);
    Ok(Json(json!({ "valid": true, "user_id": auth.user.id })))
}
