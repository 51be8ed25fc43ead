//! reference-backend: the local dev server that session-keeper's demo page and end-to-end
//! tests run against.
//!
//! It is a library as well as a binary so the integration tests can drive the exact router
//! the binary serves (`app::router`) without opening a socket, and with a manual clock.

pub mod app;
pub mod auth;
pub mod body;
pub mod clock;
pub mod config;
pub mod error;
pub mod routes;
pub mod state;
pub mod stats;
pub mod users;

pub use app::router;
pub use clock::Clock;
pub use config::Settings;
pub use state::{AppState, SharedState};
