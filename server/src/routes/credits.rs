//! Credits. The two read endpoints answer 0 for a user missing from the session cache (after
//! `/__dev/restart`), status 200: the field bug session-keeper's recovery exists to heal.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::query_param;
use crate::auth::Authed;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::state::SharedState;
use crate::users::User;

fn read_credits(state: &SharedState, user: &User) -> u64 {
    let credits = state.visible_credits(user.id);
    state.stats.update(|c| {
        c.credit_reads += 1;
        if credits == 0 {
            c.zero_credit_reads += 1;
        }
    });
    credits
}

/// `GET /api/users/credits` → `{"credits": n}`.
pub async fn user_credits(State(state): State<SharedState>, auth: Authed) -> Json<Value> {
    Json(json!({ "credits": read_credits(&state, auth.user) }))
}

/// `GET /auth/credits[?refresh=true]` → `{"success": true, "credits": n, "user_id": id}`.
/// `refresh=true` is what the library sends for a forced read; it is validated and accepted,
/// but, like the backends this models, it does not restore a lost session: only
/// `/auth/verify` (or a new login) does.
pub async fn auth_credits(
    State(state): State<SharedState>,
    auth: Authed,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    if let Some(value) = query_param(&uri, "refresh") {
        if !matches!(value.as_str(), "" | "true" | "false" | "1" | "0") {
            return Err(ApiError::bad_request(format!(
                "refresh must be true or false, got {value:?}"
            )));
        }
    }
    let credits = read_credits(&state, auth.user);
    Ok(Json(
        json!({ "success": true, "credits": credits, "user_id": auth.user.id }),
    ))
}

#[derive(Deserialize)]
struct SpendBody {
    amount: u64,
}

/// `POST /api/credits/spend {"amount": n}`: deducts from the real balance (which a restart
/// does not touch) and answers the remainder; 409 when the balance does not cover it.
pub async fn spend(
    State(state): State<SharedState>,
    auth: Authed,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: SpendBody = parse_json(&body)
        .map_err(|e| ApiError::bad_request(format!("amount must be a positive integer ({e})")))?;
    if body.amount == 0 {
        return Err(ApiError::bad_request("amount must be a positive integer"));
    }
    match state.spend(auth.user.id, body.amount) {
        Ok(remaining) => Ok(Json(json!({ "credits": remaining }))),
        Err(balance) => Err(ApiError::with_body(
            StatusCode::CONFLICT,
            json!({ "error": "Insufficient credits", "credits": balance, "requested": body.amount }),
        )),
    }
}
