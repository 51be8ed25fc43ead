//! Request counters for `/__dev/stats`. The e2e tests assert on them ("exactly one refresh",
//! "no request reached the other origin with a bearer"), so each counter has one precise
//! meaning, written next to it.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use axum::http::StatusCode;
use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counters {
    /// Every request except CORS preflights and `/__dev/*` (so polling stats adds nothing).
    pub requests: u64,
    /// Every 401 response, whatever the endpoint.
    pub unauthorized: u64,
    /// Requests whose bearer had a valid signature but was past its `exp`.
    pub expired_tokens: u64,
    /// Requests refused because their bearer, live and genuine, was issued before the last
    /// `/__dev/revoke`.
    pub revoked_tokens: u64,
    /// Successful refresh grants (`/auth/refresh` and the Supabase refresh_token grant).
    pub refreshes: u64,
    /// Refresh grants refused because the refresh token is not (or no longer) known: never
    /// issued, already rotated by an earlier refresh (the cross-tab rotation race), or
    /// revoked by a logout. `/auth/refresh` answers these 401 "Invalid refresh token", the
    /// Supabase grant 400 `refresh_token_not_found`. A request without a refresh token (400)
    /// is not counted.
    pub refresh_rejections: u64,
    /// Successful logins (`/auth/login` and the Supabase password grant).
    pub logins: u64,
    /// Successful `/auth/verify` calls.
    pub verifies: u64,
    /// Answered credit reads (`/api/users/credits`, `/auth/credits`).
    pub credit_reads: u64,
    /// Those of them that answered 0.
    pub zero_credit_reads: u64,
    /// `/__dev/restart` calls.
    pub restarts: u64,
    /// `/api/echo-auth` requests that arrived carrying an Authorization header.
    pub echo_auth_seen: u64,
    /// Requests per path (no query), for `/api/*` and `/auth/*` only.
    pub by_path: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
pub struct Stats {
    counters: Mutex<Counters>,
}

impl Stats {
    /// Runs `f` on the counters under the lock. A poisoned lock still holds valid counts
    /// (every update is a plain increment), so it is used rather than propagated.
    pub fn update(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.counters.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub fn snapshot(&self) -> Counters {
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn reset(&self) {
        self.update(|c| *c = Counters::default());
    }

    /// Called by the counting middleware once the response status is known.
    pub fn record_request(&self, path: &str, status: StatusCode) {
        self.update(|c| {
            c.requests += 1;
            if status == StatusCode::UNAUTHORIZED {
                c.unauthorized += 1;
            }
            if path.starts_with("/api/") || path.starts_with("/auth/") {
                *c.by_path.entry(path.to_owned()).or_default() += 1;
            }
        });
    }
}
