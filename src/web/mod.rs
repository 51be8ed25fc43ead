//! The browser layer: carries out the core's decisions with fetch, timers, storage and
//! events. Every closure here is owned, every timer is cancelled on drop, and every wait on
//! JavaScript has a deadline.

pub mod config;
pub mod deadline;
pub mod error;
pub mod events;
pub mod jwt;
pub mod lifecycle;
pub mod log;
pub mod manager;
pub mod request;
pub mod storage;

/// The page clock, in the core's unit.
pub fn now() -> crate::core::Millis {
    js_sys::Date::now() as crate::core::Millis
}
