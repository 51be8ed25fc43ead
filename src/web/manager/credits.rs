//! `updateCredits`: read the credits counter, healing a restarted backend on the way.
//!
//! A zero for a signed-in user triggers a recovery check ('credits-zero') and a retry that
//! bypasses the server's cache; network failures, timeouts, 5xx and 429 are retried with
//! the same jittered backoff, never sooner than a `Retry-After`. While the browser is
//! offline the read waits for `online` instead of spending retries.

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Response, Window};

use super::Inner;
use crate::core::credits::{
    is_transient_status, read_credits_body, retry_after_ms, with_refresh, CreditsRetry, Next,
    Reading,
};
use crate::core::error::{Error, ErrorCode};
use crate::core::stability::{DEFAULT_INTERVAL_MS, DEFAULT_MAX_WAIT_MS};
use crate::core::Millis;
use crate::web::deadline::{sleep, within};
use crate::web::events::detail;
use crate::web::request::body_text;
use crate::web::{now, promise, random_seed};

impl Inner {
    /// `updateCredits({ forceRefresh })`. Overlapping calls share the run in flight.
    pub fn update_credits(self: &Rc<Self>, force: bool) -> Promise {
        if let Some(running) = self.credits_inflight.borrow().as_ref() {
            return running.clone();
        }
        let inner = Rc::clone(self);
        let running = promise(async move {
            let result = inner.read_credits_with_retries(force).await;
            inner.credits_inflight.borrow_mut().take();
            let credits = result?;
            inner.events.emit(
                "creditsUpdated",
                &detail(&[("credits", JsValue::from_f64(credits))]),
                &inner.log,
            );
            Ok(JsValue::from_f64(credits))
        });
        *self.credits_inflight.borrow_mut() = Some(running.clone());
        running
    }

    async fn read_credits_with_retries(self: &Rc<Self>, mut force: bool) -> Result<f64, Error> {
        let Some(url) = self.config.credits_url.clone() else {
            return Err(Error::config(
                "endpoints.credits",
                "is needed where the page has no URL to resolve the default against",
            ));
        };
        self.wait_for_stability(DEFAULT_MAX_WAIT_MS, DEFAULT_INTERVAL_MS)
            .await;
        let mut plan = CreditsRetry::new(self.config.credits, random_seed());
        loop {
            self.wait_until_online().await?;
            let target = if force {
                with_refresh(&url)
            } else {
                url.clone()
            };
            let reading = self.read_credits_once(&target).await;
            if matches!(reading, Reading::Transient { .. }) && offline().is_some() {
                // Lost the connection: the next turn waits for `online`; no retry is spent.
                continue;
            }
            match plan.next(reading, self.is_authenticated()) {
                Next::Done(credits) => return Ok(credits),
                Next::Retry { delay_ms, zero } => {
                    if zero {
                        self.log
                            .info(&["credits read 0 for a signed-in user; checking the session"]);
                        self.run_recovery_check("credits-zero").await;
                        force = true;
                    }
                    sleep(delay_ms).await;
                }
                Next::Fail(error) => {
                    self.log
                        .warn(&["credits could not be read: ", &error.message]);
                    return Err(error);
                }
            }
        }
    }

    /// One read through `fetchWithAuth`, classified for the retry plan.
    async fn read_credits_once(self: &Rc<Self>, url: &str) -> Reading {
        let response = match self
            .fetch_authorized(&JsValue::from_str(url), &JsValue::UNDEFINED)
            .await
        {
            Ok(response) => response,
            Err(failure) if failure.is_transient() => {
                return Reading::Transient {
                    error: failure.into_error(),
                    retry_after_ms: None,
                }
            }
            Err(failure) => return Reading::Final(failure.into_error()),
        };
        let status = response.status();
        if is_transient_status(status) {
            return Reading::Transient {
                error: Error::new(
                    ErrorCode::Server,
                    "the credits endpoint kept answering 5xx or 429",
                ),
                retry_after_ms: retry_after(&response),
            };
        }
        if status == 401 {
            // fetchWithAuth has already refreshed, retried and reported the expiry.
            return Reading::Final(Error::new(
                ErrorCode::Unauthenticated,
                "the credits endpoint refused the session",
            ));
        }
        if !response.ok() {
            return Reading::Final(Error::new(
                ErrorCode::BadResponse,
                "the credits endpoint answered an unexpected status",
            ));
        }
        let timeout = self.core.borrow().policy().request_timeout_ms;
        match credits_in(&response, timeout).await {
            Some(credits) => Reading::Credits(credits),
            None => Reading::Final(Error::new(
                ErrorCode::BadResponse,
                "the credits endpoint answered without a usable credits number",
            )),
        }
    }

    /// Waits while `navigator.onLine` is false, for the `online` event, at most
    /// `requestTimeoutMs`; then fails with `network`.
    async fn wait_until_online(&self) -> Result<(), Error> {
        let Some(window) = offline() else {
            return Ok(());
        };
        self.log
            .info(&["offline: waiting for the browser to come back online"]);
        let Some(online) = OnlineEvent::listen(window) else {
            return Ok(());
        };
        let limit = self.core.borrow().policy().request_timeout_ms;
        let result = within(limit, JsFuture::from(online.promise.clone())).await;
        drop(online);
        result.map(|_| ()).map_err(|_| {
            Error::new(
                ErrorCode::Network,
                "the browser stayed offline for requestTimeoutMs",
            )
        })
    }
}

/// The window, when the browser says it is offline.
fn offline() -> Option<Window> {
    web_sys::window().filter(|w| !w.navigator().on_line())
}

/// A promise of the next `online` event. The promise's own `resolve` is the listener, so no
/// closure is created; dropping this removes it.
struct OnlineEvent {
    window: Window,
    resolve: Function,
    promise: Promise,
}

impl OnlineEvent {
    fn listen(window: Window) -> Option<Self> {
        let mut resolve = None;
        let promise = Promise::new(&mut |res, _| resolve = Some(res));
        // The executor runs synchronously, so `resolve` is set by now.
        let resolve = resolve?;
        window
            .add_event_listener_with_callback("online", &resolve)
            .ok()?;
        Some(OnlineEvent {
            window,
            resolve,
            promise,
        })
    }
}

impl Drop for OnlineEvent {
    fn drop(&mut self) {
        let _ = self
            .window
            .remove_event_listener_with_callback("online", &self.resolve);
    }
}

/// The wait a 429/503 asks for in its `Retry-After` header.
fn retry_after(response: &Response) -> Option<Millis> {
    let header = response.headers().get("retry-after").ok().flatten()?;
    retry_after_ms(&header, now(), |date| {
        let at = js_sys::Date::parse(date);
        at.is_finite().then_some(at as Millis)
    })
}

/// The credits number in a JSON body (`{"credits": n}` or `{"success": true, "credits": n}`),
/// read within `timeout_ms` and parsed by the core.
pub(super) async fn credits_in(response: &Response, timeout_ms: Millis) -> Option<f64> {
    read_credits_body(&body_text(response, timeout_ms).await?)
}
