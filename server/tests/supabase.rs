//! The GoTrue-compatible subset under /auth/v1, as @supabase/supabase-js calls it.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{json, Value};

/// `POST /auth/v1/token?grant_type=…` as auth-js sends it.
async fn grant(rig: &Rig, grant_type: &str, body: Value) -> Reply {
    let path = ["/auth/v1/token?grant_type=", grant_type].concat();
    gotrue(rig, "POST", &path, None, Some(body)).await
}

/// The request auth-js builds: JSON with charset, apikey, API version header.
async fn gotrue(
    rig: &Rig,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("apikey", "anon-key")
        .header("x-client-info", "supabase-js-web/2.0.0")
        .header("x-supabase-api-version", "2024-01-01");
    if let Some(token) = bearer {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json;charset=UTF-8");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    rig.send(builder.body(body).unwrap()).await
}

/// What auth-js's handleError reads: it takes `error_code` (a string) when the response has
/// no API-version header, and the message from `msg`.
fn assert_gotrue_error(reply: &Reply, status: StatusCode, error_code: &str) {
    assert_eq!(reply.status, status);
    assert!(
        reply.header("x-supabase-api-version").is_none(),
        "would make auth-js read `code` as the error code"
    );
    let body = reply.json();
    assert_eq!(body["code"], status.as_u16());
    assert_eq!(body["error_code"], error_code);
    assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["error_description"], body["msg"]);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn password_grant_returns_a_supabase_session() {
    let rig = rig();
    let reply = grant(
        &rig,
        "password",
        json!({ "email": "demo@example.com", "password": "demo", "gotrue_meta_security": {} }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let session = reply.json();
    assert_session_shape(&session);
    let user = &session["user"];
    for key in [
        "id",
        "aud",
        "role",
        "email",
        "app_metadata",
        "user_metadata",
        "created_at",
    ] {
        assert!(!user[key].is_null(), "user.{key} missing");
    }
    assert_eq!(user["aud"], "authenticated");
    assert_eq!(user["role"], "authenticated");
    assert_eq!(user["email"], "demo@example.com");
    assert!(user["app_metadata"].is_object() && user["user_metadata"].is_object());
    assert_eq!(
        jwt_payload(session["access_token"].as_str().unwrap())["sub"],
        user["id"]
    );

    // The token works on this server's own API, and the login filled the session cache.
    let credits = rig
        .get("/api/users/credits", session["access_token"].as_str())
        .await;
    assert_eq!(credits.json()["credits"], 100);
    assert_eq!(rig.stats().await["logins"], 1);
}

#[tokio::test]
async fn password_grant_errors_are_gotrue_shaped() {
    let rig = rig();
    let bad = grant(
        &rig,
        "password",
        json!({ "email": "demo@example.com", "password": "nope" }),
    )
    .await;
    assert_gotrue_error(&bad, StatusCode::BAD_REQUEST, "invalid_credentials");
    assert_eq!(bad.json()["error"], "invalid_grant");
    assert_eq!(bad.json()["msg"], "Invalid login credentials");

    let missing = grant(&rig, "password", json!({ "email": "demo@example.com" })).await;
    assert_gotrue_error(&missing, StatusCode::BAD_REQUEST, "validation_failed");

    let request = Request::post("/auth/v1/token?grant_type=password")
        .body(Body::from("{oops"))
        .unwrap();
    assert_gotrue_error(
        &rig.send(request).await,
        StatusCode::BAD_REQUEST,
        "bad_json",
    );

    let no_grant = gotrue(&rig, "POST", "/auth/v1/token", None, Some(json!({}))).await;
    assert_gotrue_error(&no_grant, StatusCode::BAD_REQUEST, "validation_failed");
    let odd_grant = grant(&rig, "pkce", json!({})).await;
    assert_gotrue_error(&odd_grant, StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(odd_grant.json()["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn refresh_grant_rotates_like_gotrue() {
    let rig = rig();
    let first = grant(
        &rig,
        "password",
        json!({ "email": "other@example.com", "password": "other" }),
    )
    .await
    .json();
    let old = first["refresh_token"].clone();
    let refreshed = grant(&rig, "refresh_token", json!({ "refresh_token": old })).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let session = refreshed.json();
    assert_eq!(keys(&session), keys(&first));
    assert_ne!(session["refresh_token"], old);
    assert_ne!(session["access_token"], first["access_token"]);
    assert_eq!(session["user"], first["user"]);

    let reused = grant(&rig, "refresh_token", json!({ "refresh_token": old })).await;
    assert_gotrue_error(&reused, StatusCode::BAD_REQUEST, "refresh_token_not_found");
    assert_eq!(reused.json()["error"], "invalid_grant");

    let empty = grant(&rig, "refresh_token", json!({})).await;
    assert_gotrue_error(&empty, StatusCode::BAD_REQUEST, "validation_failed");
    let stats = rig.stats().await;
    assert_eq!(stats["refreshes"], 1);
    assert_eq!(
        stats["refresh_rejections"], 1,
        "the reused token counts, the missing one does not"
    );
}

#[tokio::test]
async fn user_endpoint_returns_the_bare_user_object() {
    let rig = rig();
    let session = rig.login(DEMO).await;
    let token = session["access_token"].as_str();
    let reply = gotrue(&rig, "GET", "/auth/v1/user", token, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let user = reply.json();
    assert_eq!(user["id"], session["user"]["id"]);
    assert_eq!(user["aud"], "authenticated");
    assert!(
        user.get("user").is_none(),
        "auth-js takes data.user ?? data: the user is not wrapped"
    );

    assert_gotrue_error(
        &gotrue(&rig, "GET", "/auth/v1/user", None, None).await,
        StatusCode::UNAUTHORIZED,
        "no_authorization",
    );
    assert_gotrue_error(
        &gotrue(&rig, "GET", "/auth/v1/user", Some("x.y.z"), None).await,
        StatusCode::UNAUTHORIZED,
        "bad_jwt",
    );
    rig.clock.advance_ms(61_000);
    let expired = gotrue(&rig, "GET", "/auth/v1/user", token, None).await;
    assert_gotrue_error(&expired, StatusCode::UNAUTHORIZED, "bad_jwt");
    assert!(expired.json()["msg"].as_str().unwrap().contains("expired"));
    assert_eq!(rig.stats().await["expired_tokens"], 1);
}

#[tokio::test]
async fn logout_revokes_refresh_tokens_and_needs_a_bearer() {
    let rig = rig();
    let session = rig.login(DEMO).await;
    let reply = gotrue(
        &rig,
        "POST",
        "/auth/v1/logout?scope=global",
        session["access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let refresh = grant(
        &rig,
        "refresh_token",
        json!({ "refresh_token": session["refresh_token"] }),
    )
    .await;
    assert_gotrue_error(&refresh, StatusCode::BAD_REQUEST, "refresh_token_not_found");
    assert_eq!(rig.stats().await["refresh_rejections"], 1);
    let anonymous = gotrue(&rig, "POST", "/auth/v1/logout", None, None).await;
    assert_gotrue_error(&anonymous, StatusCode::UNAUTHORIZED, "no_authorization");
}

#[tokio::test]
async fn preflight_allows_the_supabase_headers_from_any_origin() {
    let rig = rig();
    let request = Request::builder()
        .method("OPTIONS")
        .uri("/auth/v1/token?grant_type=password")
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "apikey,authorization,content-type,x-client-info,x-supabase-api-version",
        )
        .body(Body::empty())
        .unwrap();
    let reply = rig.send(request).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let allowed = reply
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for header in [
        "authorization",
        "content-type",
        "apikey",
        "x-client-info",
        "x-supabase-api-version",
    ] {
        assert!(
            allowed.split(',').any(|h| h.trim() == header),
            "{header} not in {allowed}"
        );
    }
    let methods = reply
        .header("access-control-allow-methods")
        .unwrap_or_default();
    for method in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
        assert!(
            methods.split(',').any(|m| m.trim() == method),
            "{method} not in {methods}"
        );
    }
    assert_eq!(
        rig.stats().await["requests"],
        0,
        "preflights are not counted"
    );
}
