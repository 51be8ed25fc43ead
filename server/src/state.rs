//! Everything the server remembers, all in memory.
//!
//! Three stores with different lifetimes, because the restart bug depends on the difference:
//! - balances and refresh tokens survive `/__dev/restart` (they model the database);
//! - the session cache does not (it models the backend's in-memory per-user context). Credit
//!   reads for a user missing from it answer 0: the bug session-keeper's recovery heals by
//!   calling `/auth/verify`, which puts the user back.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::auth::{Claims, Keys};
use crate::clock::Clock;
use crate::config::Settings;
use crate::error::ApiError;
use crate::stats::Stats;
use crate::users::{self, User};

pub type SharedState = Arc<AppState>;

pub struct AppState {
    pub settings: Settings,
    /// The port actually bound (differs from `settings.port` when that was 0); the
    /// cross-origin redirect points at it.
    pub port: u16,
    pub clock: Clock,
    pub keys: Keys,
    pub stats: Stats,
    ttl_ms: AtomicU64,
    /// The last issue stamp handed out (µs since the epoch, strictly increasing).
    last_stamp_us: AtomicU64,
    /// Access tokens whose `iat_us` stamp is below this are refused (0: nothing revoked).
    revoked_before_us: AtomicU64,
    store: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    balances: HashMap<&'static str, u64>,
    session_cache: HashSet<&'static str>,
    /// refresh token -> user id. Rotation removes the old entry.
    refresh_tokens: HashMap<String, &'static str>,
}

/// A freshly issued access + refresh token pair.
pub struct IssuedSession {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds from now to `exp` (the TTL, for whole-second TTLs).
    pub expires_in: u64,
    pub expires_at: u64,
    pub user: &'static User,
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> Result<String, getrandom::Error> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn random_or_500(n: usize) -> Result<String, ApiError> {
    random_hex(n).map_err(|_| ApiError::internal("No randomness available"))
}

impl AppState {
    pub fn new(settings: Settings, bound_port: u16) -> Result<SharedState, String> {
        let secret = match &settings.secret {
            Some(s) => s.clone().into_bytes(),
            None => random_hex(32)
                .map_err(|e| format!("cannot generate a signing secret: {e}"))?
                .into_bytes(),
        };
        let store = Store {
            balances: users::USERS
                .iter()
                .map(|u| (u.id, u.initial_credits))
                .collect(),
            ..Store::default()
        };
        Ok(Arc::new(AppState {
            port: bound_port,
            clock: settings.clock.clone(),
            keys: Keys::from_secret(&secret),
            stats: Stats::default(),
            ttl_ms: AtomicU64::new(settings.token_ttl_ms),
            last_stamp_us: AtomicU64::new(0),
            revoked_before_us: AtomicU64::new(0),
            store: Mutex::new(store),
            settings,
        }))
    }

    /// Every store update is a single insert/remove, so a poisoned lock still holds a
    /// consistent store; keep serving rather than fail every later request.
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn token_ttl_ms(&self) -> u64 {
        self.ttl_ms.load(Ordering::SeqCst)
    }

    /// Applies to tokens issued from now on; tokens already out keep their `exp`.
    pub fn set_token_ttl_ms(&self, ms: u64) {
        self.ttl_ms.store(ms, Ordering::SeqCst);
    }

    /// A unique, strictly increasing instant in µs: the clock's time, or one more than the
    /// last stamp when several events fall in the same millisecond (or the manual clock has
    /// not moved). Tokens and revocations draw from this one sequence, so "issued before the
    /// revoke" is exact whatever the clock's resolution.
    fn next_issue_stamp(&self) -> u64 {
        let now_us = self.clock.now_ms().saturating_mul(1000);
        let previous = self
            .last_stamp_us
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now_us.max(last + 1))
            })
            .unwrap_or_else(|last| last);
        now_us.max(previous + 1)
    }

    /// `/__dev/revoke`: every access token issued until now is refused from now on; tokens
    /// issued later are not. Returns the revocation's own stamp (µs).
    pub fn revoke_access_tokens(&self) -> u64 {
        let stamp = self.next_issue_stamp();
        self.revoked_before_us.fetch_max(stamp, Ordering::SeqCst);
        stamp
    }

    pub fn is_revoked(&self, claims: &Claims) -> bool {
        claims.issued_us() < self.revoked_before_us.load(Ordering::SeqCst)
    }

    fn mint_access(
        &self,
        user: &'static User,
        refresh_token: String,
    ) -> Result<IssuedSession, ApiError> {
        let now_ms = self.clock.now_ms();
        let stamp = self.next_issue_stamp();
        let (access_token, claims) =
            self.keys
                .mint(user, now_ms, stamp, self.token_ttl_ms(), random_or_500(16)?)?;
        Ok(IssuedSession {
            access_token,
            refresh_token,
            expires_in: claims.exp.saturating_sub(now_ms / 1000),
            expires_at: claims.exp,
            user,
        })
    }

    /// Login: a new token pair, and the user enters the session cache.
    pub fn login(&self, user: &'static User) -> Result<IssuedSession, ApiError> {
        let refresh = random_or_500(32)?;
        {
            let mut store = self.store();
            store.refresh_tokens.insert(refresh.clone(), user.id);
            store.session_cache.insert(user.id);
        }
        self.mint_access(user, refresh)
    }

    /// Refresh with rotation: the old refresh token is consumed in the same critical section
    /// that registers the new one, so two concurrent refreshes with one token cannot both win.
    /// `Ok(None)` means the token is unknown, already used or revoked. Deliberately does not
    /// touch the session cache: only login and `/auth/verify` restore it.
    pub fn refresh(&self, old: &str) -> Result<Option<IssuedSession>, ApiError> {
        let new_refresh = random_or_500(32)?;
        let user = {
            let mut store = self.store();
            let Some(user_id) = store.refresh_tokens.remove(old) else {
                return Ok(None);
            };
            store.refresh_tokens.insert(new_refresh.clone(), user_id);
            user_id
        };
        let user = users::by_id(user).ok_or_else(|| ApiError::internal("Unknown user"))?;
        self.mint_access(user, new_refresh).map(Some)
    }

    pub fn revoke_refresh_tokens(&self, user_id: &str) -> usize {
        let mut store = self.store();
        let before = store.refresh_tokens.len();
        store.refresh_tokens.retain(|_, owner| *owner != user_id);
        before - store.refresh_tokens.len()
    }

    pub fn remember_session(&self, user: &'static User) {
        self.store().session_cache.insert(user.id);
    }

    pub fn has_session(&self, user_id: &str) -> bool {
        self.store().session_cache.contains(user_id)
    }

    /// The simulated backend restart.
    pub fn clear_session_cache(&self) {
        self.store().session_cache.clear();
    }

    /// What the credits endpoints answer: the balance, or 0 when the session cache lost the
    /// user (the restart bug).
    pub fn visible_credits(&self, user_id: &str) -> u64 {
        let store = self.store();
        if store.session_cache.contains(user_id) {
            store.balances.get(user_id).copied().unwrap_or(0)
        } else {
            0
        }
    }

    /// Deducts from the real balance. `Err(balance)` when it does not cover `amount`.
    pub fn spend(&self, user_id: &str, amount: u64) -> Result<u64, u64> {
        let mut store = self.store();
        let Some(balance) = store.balances.get_mut(user_id) else {
            return Err(0);
        };
        if *balance < amount {
            return Err(*balance);
        }
        *balance -= amount;
        Ok(*balance)
    }
}
