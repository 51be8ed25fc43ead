//! Access tokens (HS256 JWTs) and bearer authentication.
//!
//! Expiry is checked here against the server's `Clock`, not by jsonwebtoken (which reads the
//! system time and allows 60 s of leeway by default): the e2e tests run 4 s tokens and need
//! "expired" to mean exactly `now >= exp`, and the unit tests move a manual clock.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::ApiError;
use crate::state::{AppState, SharedState};
use crate::users::{self, User};

/// Supabase's audience and role for a signed-in user; its clients and RLS policies expect them.
pub const AUDIENCE: &str = "authenticated";
pub const ROLE: &str = "authenticated";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub role: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    /// Unique per token, so two tokens minted in the same second still differ (the library's
    /// "did the token change?" checks compare strings).
    pub jti: String,
    /// Private claim: the issue instant in microseconds since the epoch, strictly increasing
    /// per server process (see `AppState::next_issue_stamp`). `iat` has whole-second
    /// resolution, too coarse to tell whether a token minted in the same second as a
    /// `/__dev/revoke` came before or after it; this stamp orders them exactly. Absent from
    /// tokens minted by older builds: those count as issued at the end of their `iat` second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_us: Option<u64>,
}

impl Claims {
    /// When the token was issued, in microseconds; fails closed (end of the `iat` second)
    /// for a token without the private stamp.
    pub fn issued_us(&self) -> u64 {
        self.iat_us
            .unwrap_or_else(|| self.iat.saturating_mul(1_000_000).saturating_add(999_999))
    }
}

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Bad signature, wrong algorithm, wrong audience, missing claims, not a JWT at all.
    Invalid,
    /// Genuine (signature checks out) but `now >= exp`.
    Expired { exp: u64 },
}

impl Keys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// `exp` is whole seconds, so it is `floor((now + ttl) / 1000)`: for a whole-second TTL
    /// that is exactly `iat + TTL`, and the 1 s minimum TTL keeps `exp > iat`. `issued_us` is
    /// the private `iat_us` stamp.
    pub fn mint(
        &self,
        user: &User,
        now_ms: u64,
        issued_us: u64,
        ttl_ms: u64,
        jti: String,
    ) -> Result<(String, Claims), ApiError> {
        let iat = now_ms / 1000;
        let exp = ((now_ms + ttl_ms) / 1000).max(iat + 1);
        let claims = Claims {
            sub: user.id.to_owned(),
            email: user.email.to_owned(),
            role: ROLE.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat,
            exp,
            jti,
            iat_us: Some(issued_us),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| ApiError::internal("Could not sign the access token"))?;
        Ok((token, claims))
    }

    pub fn check(&self, token: &str, now_ms: u64) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if now_ms >= claims.exp.saturating_mul(1000) {
            return Err(TokenError::Expired { exp: claims.exp });
        }
        Ok(claims)
    }
}

/// The token of an `Authorization: Bearer <t>` header. Any other scheme, an empty token or a
/// header that is not visible ASCII counts as no bearer at all: there is no anonymous mode.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A request whose bearer is a live token for a known user.
#[derive(Debug)]
pub struct Authed {
    pub user: &'static User,
    pub claims: Claims,
    pub token: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
    Expired {
        expired_at: u64,
        now: u64,
    },
    /// Genuine and live, but issued before the last `/__dev/revoke`.
    Revoked,
}

/// Checks the bearer of a request. Counts expired and revoked tokens here, the one place every
/// authenticated endpoint passes through. A token that is both expired and revoked is
/// reported (and counted) as expired: revocation only matters while a token is still live.
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Authed, AuthFailure> {
    let token = bearer_token(headers).ok_or(AuthFailure::Missing)?;
    let now_ms = state.clock.now_ms();
    let claims = match state.keys.check(token, now_ms) {
        Ok(claims) => claims,
        Err(TokenError::Invalid) => return Err(AuthFailure::Invalid),
        Err(TokenError::Expired { exp }) => {
            state.stats.update(|c| c.expired_tokens += 1);
            return Err(AuthFailure::Expired {
                expired_at: exp,
                now: now_ms / 1000,
            });
        }
    };
    if state.is_revoked(&claims) {
        state.stats.update(|c| c.revoked_tokens += 1);
        return Err(AuthFailure::Revoked);
    }
    // A signature we made for a user who is not (or no longer) built in is still no login.
    let user = users::by_id(&claims.sub)
        .filter(|u| u.email == claims.email)
        .ok_or(AuthFailure::Invalid)?;
    Ok(Authed {
        user,
        claims,
        token: token.to_owned(),
    })
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Missing => ApiError::unauthorized("Authentication required"),
            AuthFailure::Invalid => ApiError::unauthorized("Invalid token"),
            // The exact body the library's refresh-and-retry logic recognises (SPEC).
            AuthFailure::Expired { expired_at, now } => ApiError::with_body(
                StatusCode::UNAUTHORIZED,
                json!({
                    "error": "Token has expired",
                    "expired_at": expired_at,
                    "current_time": now,
                    "expired_seconds_ago": now.saturating_sub(expired_at),
                    "requires_refresh": true,
                }),
            ),
            AuthFailure::Revoked => ApiError::with_body(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "Token has been revoked", "requires_refresh": true }),
            ),
        }
    }
}

impl AuthFailure {
    /// The same failure in GoTrue's dialect, for the `/auth/v1/*` endpoints.
    pub fn gotrue(self) -> ApiError {
        let status = StatusCode::UNAUTHORIZED;
        match self {
            AuthFailure::Missing => ApiError::gotrue(
                status,
                "no_authorization",
                "invalid_request",
                "This endpoint requires a Bearer token",
            ),
            AuthFailure::Invalid => ApiError::gotrue(
                status,
                "bad_jwt",
                "invalid_token",
                "invalid JWT: unable to parse or verify signature",
            ),
            AuthFailure::Expired { .. } => ApiError::gotrue(
                status,
                "bad_jwt",
                "invalid_token",
                "invalid JWT: token is expired",
            ),
            AuthFailure::Revoked => ApiError::gotrue(
                status,
                "bad_jwt",
                "invalid_token",
                "invalid JWT: token has been revoked",
            ),
        }
    }
}

impl FromRequestParts<SharedState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        authenticate(state, &parts.headers).map_err(ApiError::from)
    }
}
