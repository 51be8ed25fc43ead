//! The browser layer: carries out the core's decisions with fetch, timers, storage and
//! events. One driver (`driver.rs`) owns the core and every JavaScript handle; everything
//! asynchronous comes back to it through one callback. Every closure here is owned, every
//! timer is cancelled when it is replaced or dropped, and every wait on JavaScript has a
//! deadline in the core.

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
