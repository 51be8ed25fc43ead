//! What the core asks the browser layer to do ([`Action`]), and what the browser layer
//! reports back ([`Reply`], [`Answer`](super::session::Answer)). The browser layer decides
//! nothing: it carries out each action and feeds each result back in.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::borrow::Cow;
use alloc::string::String;

use super::error::Error;
use super::session::{Reason, RefreshId, Token};
use super::Millis;

/// A promise the page holds (one call of the JS API).
pub type CallId = u32;
/// One HTTP request in flight.
pub type SendId = u32;
/// One sample of the auth sources (`checkSession()` and the storage mirror).
pub type SampleId = u32;

/// How much to log; everything below the configured level is never built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Every decision.
    Debug,
    /// Refreshes and state changes.
    Info,
    /// Failures that the library recovers from (the default).
    Warn,
    /// Failures the page must act on.
    Error,
    /// Nothing.
    Silent,
}

impl Level {
    /// Parses `logLevel`.
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name {
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" => Level::Warn,
            "error" => Level::Error,
            "silent" => Level::Silent,
            _ => return None,
        })
    }
}

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The request the page passed to `fetchWithAuth` (call `CallId`).
    Page(CallId),
    /// `GET` the credits endpoint, with `?refresh=true` when `force`.
    Credits {
        /// Past any server-side cache.
        force: bool,
    },
    /// `POST` the verify endpoint with `{"token": …}`.
    Verify,
}

/// What the browser layer reads of a response before reporting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// The status only, and the body text of a 403 (from a clone: the caller keeps it).
    Refusal,
    /// The status, the body text and `Retry-After`.
    Everything,
}

/// What a settled call resolves with.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// The `Response` of request `SendId`.
    Response(SendId),
    /// A token (`refreshToken()`).
    Token(Token),
    /// A number (`updateCredits()`).
    Number(f64),
    /// A boolean (`waitForAuthStability()`).
    Bool(bool),
    /// A `RecoveryOutcome`.
    Outcome {
        /// Whether a check ran.
        ran: bool,
        /// `cooldown`, `healthy`, `recovered` or `failed`.
        reason: &'static str,
        /// The trigger label.
        trigger: String,
    },
    /// `undefined` (`signOut()`).
    Nothing,
}

/// What a failed call rejects with.
#[derive(Clone, Debug, PartialEq)]
pub enum Rejection {
    /// A `SessionError`.
    Error(Error),
    /// Whatever request `SendId` failed with: the caller's own abort reason, or a
    /// `SessionError` (`network`, `config`) with fetch's error as its cause.
    Send(SendId),
    /// The caller's own abort reason: its signal fired while the call waited for a token.
    Aborted,
}

/// Something for the browser layer to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Call `getToken({ forceRefresh, reason })`; report with `Core::provider_answered`.
    CallProvider {
        /// Which refresh.
        id: RefreshId,
        /// `forceRefresh`.
        force: bool,
        /// `reason`.
        reason: Reason,
    },
    /// Send a request, with `Authorization: Bearer <token>` when there is a token; report
    /// with `Core::replied`.
    Send {
        /// Which request.
        send: SendId,
        /// Where it goes.
        target: Target,
        /// The bearer, if any.
        token: Option<Token>,
        /// What to read of the response.
        read: Read,
    },
    /// Abort request `send`: its time is up, and its reply will be ignored.
    Abort {
        /// Which request.
        send: SendId,
    },
    /// Sample the auth sources: `checkSession()` when `provider`, and the storage mirror;
    /// report with `Core::sampled`.
    Sample {
        /// Which sample.
        id: SampleId,
        /// Whether to call `checkSession()`.
        provider: bool,
    },
    /// Listen for the browser's `online` event (report with `Core::set_online`), or stop.
    WatchOnline(bool),
    /// Write the token to the storage mirror (`storageKeys`), or clear it.
    Mirror(Option<Token>),
    /// Read the recovery attempts on record (the stored `last_recovery_attempt`, and the
    /// page's in-memory one where storage failed); report with `Core::stamps_read`.
    ReadStamps {
        /// Which recovery run asks.
        run: u32,
    },
    /// Store `last_recovery_attempt`.
    Stamp(Millis),
    /// Remove `localStorage['user_credits_cache']`.
    DropCreditsCache,
    /// `window.dispatchEvent(new CustomEvent('auth-recovered', …))` with the detail of the
    /// `recovered` event just emitted.
    AuthRecovered,
    /// The session is over: call `onSessionExpired`, or go to `loginUrl`.
    SessionOver,
    /// Tell the other tabs that this one signed out (and forget the token stored for them).
    BroadcastSignOut,
    /// Take the cross-tab refresh lock for refresh `id`, then read the token the tabs
    /// stored; report with `Core::shared_read`. A lock not granted within `steal_after` ms
    /// is stolen: its holder has hung or been frozen past its own deadline.
    Coordinate {
        /// Which refresh.
        id: RefreshId,
        /// How long to wait for the lock before stealing it.
        steal_after: Millis,
    },
    /// Release the cross-tab refresh lock of refresh `id` (or stop waiting for it), once the
    /// token shared before it is stored.
    Release {
        /// Which refresh.
        id: RefreshId,
    },
    /// Store this token for the other tabs and tell them about it.
    Share(Token),
    /// The leader missed its refresh: take the leadership (steal its lock).
    TakeLead,
    /// Settle call `call` with `value`.
    Resolve {
        /// Which call.
        call: CallId,
        /// Its value.
        value: Value,
    },
    /// Reject call `call`.
    Reject {
        /// Which call.
        call: CallId,
        /// Why.
        error: Rejection,
    },
    /// Write a line to the console.
    Log(Level, Cow<'static, str>),
}

/// What the browser read of a JSON response body (`JSON.parse`, then these members); a body
/// that is not a JSON object has none.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Body {
    /// `requires_refresh` is `true`.
    pub requires_refresh: bool,
    /// `detail.requires_refresh` is `true` (FastAPI wraps its errors in `detail`).
    pub detail_requires_refresh: bool,
    /// `credits`, when it is a number.
    pub credits: Option<f64>,
    /// `success`, when it is a boolean.
    pub success: Option<bool>,
}

/// How a request ended, as the browser layer reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// The server answered.
    Answered {
        /// The status.
        status: u16,
        /// What the body said, when it was to be read (and was a JSON object).
        body: Option<Body>,
        /// What `Retry-After` asked for, when it was to be read.
        retry_after: Option<Millis>,
    },
    /// fetch failed (offline, DNS, CORS) or threw.
    Network,
    /// The caller's own signal aborted it.
    Aborted,
    /// `input`/`init` that fetch cannot use.
    Input,
}
