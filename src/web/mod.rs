//! The browser layer: carries out the core's decisions with fetch, timers, storage and
//! events. One driver (`driver.rs`) owns the core and every JavaScript handle; everything
//! asynchronous comes back to it through one callback. Every closure here is owned, every
//! timer is cancelled when it is replaced or dropped, and every wait on JavaScript has a
//! deadline in the core.

#[allow(unused_imports)]
use crate::prelude::*;

pub mod channel;
pub mod clock;
pub mod config;
pub mod driver;
pub mod error;
pub mod events;
pub mod js;
pub mod lifecycle;
pub mod log;
pub mod provider;
pub mod request;
pub mod storage;

/// A seed for the core's jitter generators (not for secrets).
pub fn random_seed() -> u64 {
    (js_sys::Math::random() * u64::MAX as f64) as u64
}

/// State shared by everything on the page (the managers, the one callback, the in-memory
/// recovery stamp). `thread_local!` is std-only; a wasm32 module without the atomics feature
/// runs on one thread, so sharing is sound there. The page's std-using test builds are
/// single-threaded wasm too; natively this state is never touched.
pub struct PageLocal<T>(pub T);

// SAFETY: see above: one thread, so never shared across threads.
unsafe impl<T> Sync for PageLocal<T> {}
