//! Handlers, one module per API area. `app.rs` maps them to paths.

pub mod api;
pub mod auth;
pub mod credits;
pub mod dev;
pub mod supabase;

use axum::http::Uri;

/// First value of a query parameter, percent-decoded; None when absent. Hand-parsed because
/// the query is optional decoration on these endpoints and must never make them fail.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}
