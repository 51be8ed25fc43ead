//! Data endpoints and the cross-origin redirect check.

use axum::extract::State;
use axum::http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, HOST, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::Authed;
use crate::state::SharedState;

/// `GET /api/data`: something for the demo page to show; `served_at` (ms) lets a test tell
/// two responses apart.
pub async fn data(State(state): State<SharedState>, auth: Authed) -> Json<Value> {
    Json(json!({
        "user_id": auth.user.id,
        "items": [
            { "id": 1, "name": "Quarterly report", "status": "ready" },
            { "id": 2, "name": "Usage export", "status": "processing" },
            { "id": 3, "name": "Invoice 1042", "status": "paid" },
        ],
        "served_at": state.clock.now_ms(),
    }))
}

/// `GET /api/users/me`.
pub async fn me(auth: Authed) -> Json<Value> {
    Json(json!({ "id": auth.user.id, "email": auth.user.email }))
}

/// `GET /api/redirect-elsewhere`: a 307 to `/api/echo-auth` on the *other* loopback origin
/// of this same server (`localhost` and `127.0.0.1` are different origins). A client that
/// forwards the bearer across the redirect shows up in `echo_auth_seen`. The target flips
/// when the page itself was loaded from `localhost`, so the redirect is always cross-origin.
pub async fn redirect_elsewhere(
    State(state): State<SharedState>,
    _auth: Authed,
    headers: HeaderMap,
) -> Response {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let requested_name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let other = if requested_name.eq_ignore_ascii_case("localhost") {
        "127.0.0.1"
    } else {
        "localhost"
    };
    let location = format!("http://{other}:{}/api/echo-auth", state.port);
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(LOCATION, location.clone())],
        Json(json!({ "redirect": location })),
    )
        .into_response()
}

/// `GET /api/echo-auth`: says whether an Authorization header arrived (never echoes it).
/// Open to any origin, because it is reached cross-origin by design.
pub async fn echo_auth(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let present = headers.contains_key(AUTHORIZATION);
    if present {
        state.stats.update(|c| c.echo_auth_seen += 1);
    }
    (
        [(ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        Json(json!({ "authorization_present": present })),
    )
        .into_response()
}
