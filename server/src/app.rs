//! The router: every path, and the layers every response passes through.
//!
//! Layer order, outermost first: `Cache-Control: no-store` (a dev server must never let a
//! browser keep a stale wasm build or a stale 401), CORS (answers preflights itself, so
//! they never reach the counters), then request counting (which sees final statuses).

use std::path::Path;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Redirect, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::Router;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::set_status::SetStatus;

use crate::error::ApiError;
use crate::routes::{api, auth, credits, dev, supabase};
use crate::state::SharedState;

pub fn router(state: SharedState) -> Router {
    let settings = &state.settings;
    // `--app DIR` (a bundler's build output, built with base `/app/`): `/app/` is its
    // index.html. Without the flag `/app/*` is a 404 rather than a lookup in www/.
    let app = match &settings.app_dir {
        Some(dir) => Router::new()
            .route("/app", get(app_slash))
            .nest_service("/app/", files(dir)),
        None => Router::new()
            .route("/app", any(not_found))
            .route("/app/", any(not_found))
            .route("/app/{*rest}", any(not_found)),
    };
    Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/verify", post(auth::verify))
        .route("/auth/credits", get(credits::auth_credits))
        .route("/auth/v1/token", post(supabase::token))
        .route("/auth/v1/user", get(supabase::user))
        .route("/auth/v1/logout", post(supabase::logout))
        .route("/api/data", get(api::data))
        .route("/api/users/me", get(api::me))
        .route("/api/users/credits", get(credits::user_credits))
        .route("/api/credits/spend", post(credits::spend))
        .route("/api/redirect-elsewhere", get(api::redirect_elsewhere))
        .route("/api/echo-auth", get(api::echo_auth))
        .nest("/__dev", dev::router())
        .merge(app)
        .nest_service("/www", files(&settings.www_dir))
        .nest_service("/pkg", files(&settings.pkg_dir))
        .nest_service("/node_modules", files(&settings.node_modules_dir))
        // Everything else is looked up in www/: `/` is www/index.html, and a page served at
        // `/` that imports `./app.js` finds www/app.js. Unknown paths end in a JSON 404,
        // whatever the method.
        .fallback_service(files(&settings.www_dir).call_fallback_on_method_not_allowed(true))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(cors())
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

/// A static directory; `.wasm` goes out as `application/wasm` (streaming compilation
/// requires it) by ServeDir's extension table. Missing files get the JSON 404.
fn files(dir: &Path) -> ServeDir<SetStatus<MethodRouter>> {
    ServeDir::new(dir).not_found_service(any(not_found))
}

/// `/app` → `/app/`, so the page's relative URLs resolve inside the app.
async fn app_slash() -> Redirect {
    Redirect::permanent("/app/")
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

/// Any origin, no credentials: the bearer travels in a header, never in a cookie. The
/// allowed headers are the library's and supabase-js's (`apikey`, `x-client-info`,
/// `x-supabase-api-version`). Retry-After is exposed because the library's credits backoff
/// honours it.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("apikey"),
            HeaderName::from_static("x-client-info"),
            HeaderName::from_static("x-supabase-api-version"),
        ])
        .expose_headers([RETRY_AFTER, WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(600))
}

async fn count_requests(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let dev = path == "/__dev" || path.starts_with("/__dev/");
    if method != Method::OPTIONS && !dev {
        state.stats.record_request(&path, response.status());
    }
    if state.settings.verbose {
        // Path only: query strings may carry tokens (they never should, but a log must not
        // be where one leaks).
        eprintln!("{method} {path} {}", response.status().as_u16());
    }
    response
}
