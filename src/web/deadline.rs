//! Timers that are cleared as soon as nobody waits for them: sleeping, and bounding a wait
//! on JavaScript.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use gloo_timers::future::TimeoutFuture;

use crate::core::policy::MAX_TIMER_MS;
use crate::core::Millis;

/// The typed marker for "the deadline passed first", so timeouts are never told apart
/// from other failures by comparing strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut;

/// A timer future for `ms` (clamped to what `setTimeout` can hold). Dropping it clears it.
pub fn sleep(ms: Millis) -> TimeoutFuture {
    TimeoutFuture::new(ms.min(MAX_TIMER_MS) as u32)
}

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
    timer: TimeoutFuture,
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
