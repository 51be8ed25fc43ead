//! `triggerSessionRecoveryCheck`: after a suspected backend restart, probe the session and
//! re-establish it, at most once per cooldown across every tab and every manager.
//!
//! ```text
//! trigger ──▶ cooldown? ──yes──▶ {ran:false, reason:'cooldown'}      (no request)
//!                │ no: stamp last_recovery_attempt = now
//!                ▼
//!        probes, each with a timeout: checkSession() alongside
//!        credits endpoint, then POST verify (a verify heals the backend, so it goes second)
//!                │
//!      all healthy ──▶ {ran:true, reason:'healthy'}
//!                │ any unhealthy
//!                ▼
//!        forced refresh ─▶ re-verify ─▶ drop user_credits_cache
//!                │                      emit 'recovered', window 'auth-recovered'
//!                │                      {ran:true, reason:'recovered'}
//!                └─ fails ─▶ emit 'refreshFailed' (reason 'recovery')
//!                            {ran:true, reason:'failed'}      (never retried in a loop)
//! ```

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Array, Promise, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CustomEvent, CustomEventInit};

use super::Inner;
use crate::core::credits::credits_look_healthy;
use crate::core::error::{Error, ErrorCode};
use crate::core::recovery::{
    decide, format_stamp, parse_stamp, Cooldown, CREDITS_CACHE_KEY, LAST_ATTEMPT_KEY,
};
use crate::core::session::{Need, Token};
use crate::web::deadline::within;
use crate::web::error::Failure;
use crate::web::events::detail;
use crate::web::request::Prepared;
use crate::web::storage::local_storage;
use crate::web::{now, promise};

thread_local! {
    /// The last attempt whose stamp could not be stored (storage blocked, full or
    /// unreadable), shared by every manager on the page: the in-memory cooldown.
    static UNSTORED_ATTEMPT: Cell<Option<u64>> = const { Cell::new(None) };
}

/// How a check ended, as `RecoveryOutcome.reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Another check ran within the cooldown; nothing was sent.
    Cooldown,
    /// Every probe was healthy.
    Healthy,
    /// A probe was unhealthy and the session was re-established.
    Recovered,
    /// A probe was unhealthy and re-establishing the session failed.
    Failed,
}

impl Outcome {
    const fn as_str(self) -> &'static str {
        match self {
            Outcome::Cooldown => "cooldown",
            Outcome::Healthy => "healthy",
            Outcome::Recovered => "recovered",
            Outcome::Failed => "failed",
        }
    }
}

/// The three probes, named as the `recovered` event reports them.
const PROBES: [&str; 3] = ["credits", "verify", "checkSession"];

impl Inner {
    /// `triggerSessionRecoveryCheck(trigger)`: resolves with a `RecoveryOutcome`.
    pub async fn recovery_check(self: Rc<Self>, trigger: String) -> Result<JsValue, JsValue> {
        let outcome = self.run_recovery_check(&trigger).await;
        Ok(detail(&[
            ("ran", JsValue::from_bool(outcome != Outcome::Cooldown)),
            ("reason", JsValue::from_str(outcome.as_str())),
            ("trigger", JsValue::from_str(&trigger)),
        ]))
    }

    pub(super) async fn run_recovery_check(self: &Rc<Self>, trigger: &str) -> Outcome {
        if !self.claim_recovery_slot() {
            self.log
                .debug(&["recovery check skipped: cooldown (", trigger, ")"]);
            return Outcome::Cooldown;
        }
        self.log.info(&["session recovery check (", trigger, ")"]);
        self.events.emit(
            "recoveryCheck",
            &detail(&[("trigger", JsValue::from_str(trigger))]),
            &self.log,
        );
        let failures_before = self.failures_announced.get();
        let unhealthy = match self.token_for(Need::to_send()).await {
            Ok((_, token)) => self.unhealthy_probes(token).await,
            Err(error) => return self.recovery_failed(&error, failures_before),
        };
        if unhealthy.is_empty() {
            self.log.debug(&["recovery check: every probe is healthy"]);
            return Outcome::Healthy;
        }
        let mut line = vec!["recovery check: unhealthy probe"];
        for name in &unhealthy {
            line.extend([" ", *name]);
        }
        line.push("; re-establishing the session");
        self.log.warn(&line);
        if let Err(error) = self.re_establish().await {
            return self.recovery_failed(&error, failures_before);
        }
        if let Some(storage) = local_storage() {
            let _ = storage.remove_item(CREDITS_CACHE_KEY);
        }
        let names: Array = unhealthy.iter().map(|n| JsValue::from_str(n)).collect();
        let event = detail(&[
            ("trigger", JsValue::from_str(trigger)),
            ("unhealthy", names.into()),
        ]);
        self.log.info(&["session recovered (", trigger, ")"]);
        self.events.emit("recovered", &event, &self.log);
        dispatch_auth_recovered(&event);
        Outcome::Recovered
    }

    /// Takes the one check allowed per cooldown, or says another tab or manager has it.
    /// Stamps `now` before any await, so callers racing within this tab see it at once.
    fn claim_recovery_slot(&self) -> bool {
        let at = now();
        let storage = local_storage();
        let read = storage.as_ref().map(|s| {
            s.get_item(LAST_ATTEMPT_KEY)
                .map(|v| v.and_then(|v| parse_stamp(&v)))
        });
        let stored = read.clone().and_then(Result::ok).flatten();
        let unstored = UNSTORED_ATTEMPT.with(Cell::get);
        let cooldown = self.core.borrow().policy().recovery_cooldown_ms;
        if let Cooldown::Wait { .. } = decide(at, cooldown, &[stored, unstored]) {
            return false;
        }
        let saved = matches!(read, Some(Ok(_)))
            && storage.is_some_and(|s| s.set_item(LAST_ATTEMPT_KEY, &format_stamp(at)).is_ok());
        if !saved {
            self.log.debug(&[
                "localStorage refused last_recovery_attempt; the cooldown is kept in memory",
            ]);
        }
        UNSTORED_ATTEMPT.with(|c| c.set((!saved).then_some(at)));
        true
    }

    /// Runs the probes and names the unhealthy ones. `checkSession` runs alongside the two
    /// HTTP probes; the verify probe goes out only once the credits probe has its answer,
    /// because on the backends this library serves a successful verify re-establishes the
    /// session. Sent together, the backend may handle the verify first, and the credits probe
    /// would then report healthy, hiding the restart: no `recovered`, and a stale credits
    /// cache left behind (seen in the end-to-end suite about one run in five).
    async fn unhealthy_probes(self: &Rc<Self>, token: Token) -> Vec<&'static str> {
        let http = {
            let inner = Rc::clone(self);
            promise(async move {
                let credits = inner.credits_probe(&token).await;
                let verify = inner.verify(&token).await.is_ok();
                Ok(Array::of2(&credits.into(), &verify.into()).into())
            })
        };
        let session = {
            let inner = Rc::clone(self);
            promise(async move {
                let limit = inner.core.borrow().policy().token_timeout_ms;
                // No checkSession: the provider's probe has nothing to say against the session.
                let healthy = inner.config.check_session.is_none()
                    || inner.check_session(limit).await == Some(true);
                Ok(JsValue::from_bool(healthy))
            })
        };
        let all = Promise::all(&Array::of2(&http, &session));
        // Each probe resolves (never rejects) once its own timeouts have passed at the latest.
        let results: Array = JsFuture::from(all)
            .await
            .ok()
            .and_then(|v| v.dyn_into().ok())
            .unwrap_or_default();
        let http: Array = results.get(0).dyn_into().unwrap_or_default();
        let healthy = [http.get(0), http.get(1), results.get(1)];
        PROBES
            .into_iter()
            .zip(healthy)
            .filter(|(_, healthy)| healthy.as_bool() != Some(true))
            .map(|(name, _)| name)
            .collect()
    }

    /// Healthy when the credits endpoint answers 2xx with a credits value that is not a
    /// suspicious zero. The request is sent once, without the 401 retry: this is a probe.
    async fn credits_probe(&self, token: &Token) -> bool {
        let Some(url) = &self.config.credits_url else {
            return true;
        };
        let timeout = self.core.borrow().policy().request_timeout_ms;
        match self.send_once(url, &JsValue::UNDEFINED, token).await {
            Ok(response) if response.ok() => super::credits::credits_in(&response, timeout)
                .await
                .is_some_and(|n| credits_look_healthy(n, true)),
            _ => false,
        }
    }

    /// `POST` the verify endpoint with the bearer header and the body `{"token": …}`.
    async fn verify(&self, token: &Token) -> Result<(), Error> {
        let Some(url) = &self.config.verify_url else {
            return Ok(());
        };
        let body = JSON::stringify(&detail(&[("token", JsValue::from_str(token.expose()))]))
            .map_err(|_| {
                Error::new(ErrorCode::RefreshFailed, "could not encode the verify body")
            })?;
        let init = detail(&[
            ("method", JsValue::from_str("POST")),
            (
                "headers",
                detail(&[("Content-Type", JsValue::from_str("application/json"))]),
            ),
            ("body", body.into()),
        ]);
        match self.send_once(url, &init, token).await {
            Ok(response) if response.ok() => {
                self.core.borrow_mut().verified();
                Ok(())
            }
            Ok(_) => Err(Error::new(
                ErrorCode::RefreshFailed,
                "the verify endpoint did not accept the session",
            )),
            Err(failure) => Err(failure.into_error()),
        }
    }

    /// Sends one request to one of our own endpoints (on an allowed origin, checked when
    /// the config was read) with `token`, bounded by `requestTimeoutMs`.
    async fn send_once(
        &self,
        url: &str,
        init: &JsValue,
        token: &Token,
    ) -> Result<web_sys::Response, Failure> {
        let timeout = self.core.borrow().policy().request_timeout_ms;
        Prepared::new(&JsValue::from_str(url), init)?
            .send(&self.config.fetch, Some(token.expose()), timeout)
            .await
    }

    /// Forces a new token and has the backend verify it.
    async fn re_establish(self: &Rc<Self>) -> Result<(), Error> {
        let (_, token) = self.token_for(Need::recovery(now())).await?;
        self.verify(&token).await
    }

    /// Reports a failed recovery once: a failed provider call has already announced itself.
    fn recovery_failed(&self, error: &Error, failures_before: u32) -> Outcome {
        if self.failures_announced.get() == failures_before {
            self.refresh_failed(error, "recovery");
        }
        Outcome::Failed
    }

    /// `checkSession()`, bounded by `limit_ms`: `None` when it throws, rejects, hangs or
    /// answers something other than a boolean.
    pub(super) async fn check_session(&self, limit_ms: u64) -> Option<bool> {
        let check = self.config.check_session.as_ref()?;
        let returned = check.call0(&JsValue::UNDEFINED).ok()?;
        match within(limit_ms, JsFuture::from(Promise::resolve(&returned))).await {
            Ok(Ok(answer)) => answer.as_bool(),
            _ => None,
        }
    }
}

/// `window.dispatchEvent(new CustomEvent('auth-recovered', { detail }))`, which templates
/// written against the old pages listen for.
fn dispatch_auth_recovered(event_detail: &JsValue) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let init = CustomEventInit::new();
    init.set_detail(event_detail);
    if let Ok(event) = CustomEvent::new_with_event_init_dict("auth-recovered", &init) {
        let _ = window.dispatch_event(&event);
    }
}
