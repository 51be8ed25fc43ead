//! The session policy, in plain Rust: no `web-sys`, no `js-sys`, no clock of its own.
//!
//! Every function here takes the current time as an argument, so the whole policy runs
//! natively under `cargo test` on a virtual clock. The browser layer (`crate::web`) only
//! carries out what this module decides.

pub mod backoff;
pub mod credits;
pub mod error;
pub mod jwt;
pub mod policy;
pub mod recovery;
pub mod session;
pub mod stability;

/// Milliseconds since the Unix epoch, as the page's clock reads them.
pub type Millis = u64;
