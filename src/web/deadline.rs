//! Timers that are cleared as soon as nobody waits for them: the refresh timer, sleeping,
//! and bounding a wait on JavaScript.
//!
//! `setTimeout` and `clearTimeout` are imported with `catch` instead of going through
//! gloo-timers: gloo's `Timeout::new` calls `expect_throw`, so a page that has replaced
//! `setTimeout` with something that throws would trap the module. Here a timer that cannot
//! be armed is reported as `None`, and a sleep that cannot be armed ends at once, so every
//! wait still settles. (Dropping gloo-timers also saved about 460 B gzip: docs/size.md.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::core::policy::MAX_TIMER_MS;
use crate::core::Millis;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: u32) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue) -> Result<(), JsValue>;
}

fn arm(handler: &Function, ms: Millis) -> Option<JsValue> {
    set_timeout(handler, ms.min(MAX_TIMER_MS) as u32).ok()
}

/// Clears the timer it holds when dropped.
struct Armed(Option<JsValue>);

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some(id) = self.0.take() {
            let _ = clear_timeout(&id);
        }
    }
}

/// A callback after `ms`. Dropping it clears the timer and frees the callback, so
/// assigning a new one to an `Option<Timer>` field cancels the old one.
#[must_use = "dropping a Timer cancels it"]
pub struct Timer {
    _armed: Armed,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `callback` once after `ms`; `None` when the page's `setTimeout` refuses.
    pub fn new(ms: Millis, callback: impl FnMut() + 'static) -> Option<Timer> {
        let callback = Closure::<dyn FnMut()>::new(callback);
        let id = arm(callback.as_ref().unchecked_ref(), ms)?;
        Some(Timer {
            _armed: Armed(Some(id)),
            _callback: callback,
        })
    }
}

/// A future that is ready after `ms`. The timer resolves a promise directly (no Rust
/// closure); dropping the future clears it.
pub struct Sleep {
    wait: JsFuture,
    _armed: Armed,
}

/// See [`Sleep`]. Where `setTimeout` throws, the sleep ends at once rather than never.
pub fn sleep(ms: Millis) -> Sleep {
    let mut resolve = None;
    let promise = Promise::new(&mut |res, _| resolve = Some(res));
    let armed = resolve.and_then(|resolve| {
        let id = arm(&resolve, ms);
        if id.is_none() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
        id
    });
    Sleep {
        wait: JsFuture::from(promise),
        _armed: Armed(armed),
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.wait).poll(cx).map(|_| ())
    }
}

/// The typed marker for "the deadline passed first", so timeouts are never told apart
/// from other failures by comparing strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut;

/// `future`, or `TimedOut` after `ms`. Dropping it drops the timer, which clears it.
pub fn within<F: Future + Unpin>(ms: Millis, future: F) -> Deadline<F> {
    Deadline {
        future,
        timer: sleep(ms),
    }
}

/// See [`within`].
pub struct Deadline<F> {
    future: F,
    timer: Sleep,
}

impl<F: Future + Unpin> Future for Deadline<F> {
    type Output = Result<F::Output, TimedOut>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(value) = Pin::new(&mut self.future).poll(cx) {
            return Poll::Ready(Ok(value));
        }
        match Pin::new(&mut self.timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(TimedOut)),
            Poll::Pending => Poll::Pending,
        }
    }
}
