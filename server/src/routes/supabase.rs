//! The subset of Supabase's auth API (GoTrue, under `/auth/v1`) that `@supabase/supabase-js`
//! uses for a password session, so the real client works with
//! `createClient('http://127.0.0.1:PORT', 'anon-key')`. The apikey header is accepted and
//! ignored: it identifies a project, it never authenticates a user.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::query_param;
use crate::auth::{authenticate, AUDIENCE, ROLE};
use crate::body::parse_json;
use crate::error::ApiError;
use crate::state::{IssuedSession, SharedState};
use crate::users::{self, User};

const BAD_REQUEST: StatusCode = StatusCode::BAD_REQUEST;

#[derive(Deserialize)]
struct PasswordGrant {
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct RefreshGrant {
    refresh_token: Option<String>,
}

pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "aud": AUDIENCE,
        "role": ROLE,
        "email": user.email,
        "email_confirmed_at": user.created_at,
        "app_metadata": { "provider": "email", "providers": ["email"] },
        "user_metadata": {},
        "created_at": user.created_at,
        "updated_at": user.created_at,
    })
}

/// auth-js keeps a response as a session only if `access_token`, `refresh_token` and a
/// non-zero `expires_in` are all present (`hasSession`).
fn session_json(session: &IssuedSession) -> Value {
    json!({
        "access_token": session.access_token,
        "token_type": "bearer",
        "expires_in": session.expires_in,
        "expires_at": session.expires_at,
        "refresh_token": session.refresh_token,
        "user": user_json(session.user),
    })
}

fn bad_json(e: String) -> ApiError {
    ApiError::gotrue(BAD_REQUEST, "bad_json", "invalid_request", &e)
}

/// `POST /auth/v1/token?grant_type=password|refresh_token`.
pub async fn token(
    State(state): State<SharedState>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    match query_param(&uri, "grant_type").as_deref() {
        Some("password") => password_grant(&state, &body),
        Some("refresh_token") => refresh_grant(&state, &body),
        Some(other) => Err(ApiError::gotrue(
            BAD_REQUEST,
            "validation_failed",
            "unsupported_grant_type",
            &format!("Unsupported grant type {other:?}; use password or refresh_token"),
        )),
        None => Err(ApiError::gotrue(
            BAD_REQUEST,
            "validation_failed",
            "invalid_request",
            "Missing grant_type query parameter",
        )),
    }
}

fn password_grant(state: &SharedState, body: &[u8]) -> Result<Json<Value>, ApiError> {
    let grant: PasswordGrant = parse_json(body).map_err(bad_json)?;
    let (Some(email), Some(password)) = (grant.email, grant.password) else {
        return Err(ApiError::gotrue(
            BAD_REQUEST,
            "validation_failed",
            "invalid_request",
            "email and password are required",
        ));
    };
    let user = users::check_credentials(&email, &password).ok_or_else(|| {
        ApiError::gotrue(
            BAD_REQUEST,
            "invalid_credentials",
            "invalid_grant",
            "Invalid login credentials",
        )
    })?;
    let session = state.login(user)?;
    state.stats.update(|c| c.logins += 1);
    Ok(Json(session_json(&session)))
}

fn refresh_grant(state: &SharedState, body: &[u8]) -> Result<Json<Value>, ApiError> {
    let grant: RefreshGrant = parse_json(body).map_err(bad_json)?;
    let Some(refresh_token) = grant.refresh_token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::gotrue(
            BAD_REQUEST,
            "validation_failed",
            "invalid_request",
            "refresh_token is required",
        ));
    };
    let session = state.refresh(&refresh_token)?.ok_or_else(|| {
        state.stats.update(|c| c.refresh_rejections += 1);
        ApiError::gotrue(
            BAD_REQUEST,
            "refresh_token_not_found",
            "invalid_grant",
            "Invalid Refresh Token: Refresh Token Not Found",
        )
    })?;
    state.stats.update(|c| c.refreshes += 1);
    Ok(Json(session_json(&session)))
}

/// `GET /auth/v1/user` (supabase `getUser()`): the user object itself, not wrapped.
pub async fn user(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let auth = authenticate(&state, &headers).map_err(|f| f.gotrue())?;
    Ok(Json(user_json(auth.user)))
}

/// `POST /auth/v1/logout[?scope=global|local|others]`: revokes all the user's refresh
/// tokens whatever the scope (one session per user is all this server models).
pub async fn logout(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let auth = authenticate(&state, &headers).map_err(|f| f.gotrue())?;
    state.revoke_refresh_tokens(auth.user.id);
    Ok(StatusCode::NO_CONTENT)
}
