//! Dev controls for the demo page and the e2e tests, under `/__dev/`. They are
//! unauthenticated by design (a test must be able to "restart the backend" without a login),
//! so they answer only to loopback peers; the server binds loopback by default anyway.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::parse_json;
use crate::config::ttl_ms_from_secs;
use crate::error::ApiError;
use crate::state::SharedState;
use crate::stats::Counters;

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/restart", post(restart))
        .route("/revoke", post(revoke))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/config", get(get_config).post(set_config))
        .layer(middleware::from_fn(loopback_only))
}

/// Refuses non-loopback peers. Requests without connection info (the in-process tests) are
/// let through: they cannot come from the network.
async fn loopback_only(request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        if !peer.ip().to_canonical().is_loopback() {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "Dev controls answer only to loopback clients",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Simulates a backend restart: the session cache goes; balances and refresh tokens (the
/// "database") stay.
async fn restart(State(state): State<SharedState>) -> Json<Value> {
    state.clear_session_cache();
    state.stats.update(|c| c.restarts += 1);
    Json(json!({ "restarted": true }))
}

/// Revokes every access token issued so far (a key rotation, a "sign out everywhere", a
/// server-side ban): their next use gets 401 `{"error":"Token has been revoked",
/// "requires_refresh":true}`. Refresh tokens stay valid, so a client recovers by refreshing.
async fn revoke(State(state): State<SharedState>) -> Json<Value> {
    state.revoke_access_tokens();
    Json(json!({ "revoked": true }))
}

async fn stats(State(state): State<SharedState>) -> Json<Counters> {
    Json(state.stats.snapshot())
}

async fn reset_stats(State(state): State<SharedState>) -> Json<Value> {
    state.stats.reset();
    Json(json!({ "reset": true }))
}

#[derive(Deserialize)]
struct ConfigBody {
    token_ttl_secs: f64,
}

fn config_json(state: &SharedState) -> Json<Value> {
    Json(json!({ "token_ttl_secs": state.token_ttl_ms() as f64 / 1000.0 }))
}

async fn get_config(State(state): State<SharedState>) -> Json<Value> {
    config_json(&state)
}

/// `{"token_ttl_secs": n}`: lifetime of tokens issued from now on.
async fn set_config(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ConfigBody = parse_json(&body).map_err(ApiError::bad_request)?;
    let ms = ttl_ms_from_secs(body.token_ttl_secs).map_err(ApiError::bad_request)?;
    state.set_token_ttl_ms(ms);
    Ok(config_json(&state))
}
