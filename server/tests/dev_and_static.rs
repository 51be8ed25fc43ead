//! /__dev/ controls and stats, the cross-origin redirect check, static files, common headers.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::json;

#[tokio::test]
async fn stats_count_requests_401s_and_paths_without_query() {
    let rig = rig();
    let token = rig.access_token(DEMO).await; // 1 request, 1 login
    rig.get("/api/data", None).await; // 401
    rig.get("/api/data", Some("junk")).await; // 401
    rig.get("/api/data", Some(&token)).await;
    rig.get("/auth/credits?refresh=true", Some(&token)).await;
    rig.get("/", None).await; // counted in requests, not by_path
    rig.get("/__dev/stats", None).await; // not counted at all

    let stats = rig.stats().await;
    assert_eq!(
        stats,
        json!({
            "requests": 6,
            "unauthorized": 2,
            "expired_tokens": 0,
            "revoked_tokens": 0,
            "refreshes": 0,
            "refresh_rejections": 0,
            "logins": 1,
            "verifies": 0,
            "credit_reads": 1,
            "zero_credit_reads": 0,
            "restarts": 0,
            "echo_auth_seen": 0,
            "by_path": { "/api/data": 3, "/auth/credits": 1, "/auth/login": 1 },
        })
    );
}

#[tokio::test]
async fn stats_reset_zeroes_every_counter_but_keeps_sessions() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    rig.post("/__dev/restart", None, "").await;
    rig.get("/api/data", None).await;
    let reset = rig.post("/__dev/stats/reset", None, "").await;
    assert_eq!(reset.status, StatusCode::OK);
    let stats = rig.stats().await;
    for (key, value) in stats.as_object().unwrap() {
        if key == "by_path" {
            assert_eq!(value, &json!({}));
        } else {
            assert_eq!(value, 0, "{key}");
        }
    }
    assert_eq!(
        rig.get("/api/data", Some(&token)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn dev_routes_refuse_wrong_methods_with_json() {
    let rig = rig();
    let reply = rig.get("/__dev/restart", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json(), json!({ "error": "Method not allowed" }));
    assert_eq!(rig.stats().await["restarts"], 0);
}

#[tokio::test]
async fn redirect_elsewhere_points_at_the_other_loopback_origin() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    let reply = rig.get("/api/redirect-elsewhere", Some(&token)).await;
    assert_eq!(reply.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        reply.header("location"),
        Some("http://localhost:4321/api/echo-auth")
    );

    // Loaded from localhost: the other origin is 127.0.0.1.
    let request = Request::get("/api/redirect-elsewhere")
        .header("host", "localhost:4321")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let reply = rig.send(request).await;
    assert_eq!(
        reply.header("location"),
        Some("http://127.0.0.1:4321/api/echo-auth")
    );

    let anonymous = rig.get("/api/redirect-elsewhere", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.header("location").is_none());
}

#[tokio::test]
async fn echo_auth_reports_and_counts_authorization_headers() {
    let rig = rig();
    let without = rig.get("/api/echo-auth", None).await;
    assert_eq!(without.status, StatusCode::OK);
    assert_eq!(without.json(), json!({ "authorization_present": false }));
    assert_eq!(without.header("access-control-allow-origin"), Some("*"));
    assert_eq!(rig.stats().await["echo_auth_seen"], 0);

    let with = rig.get("/api/echo-auth", Some("anything")).await;
    assert_eq!(with.json(), json!({ "authorization_present": true }));
    assert!(
        !String::from_utf8_lossy(&with.bytes).contains("anything"),
        "never echo the token"
    );
    assert_eq!(rig.stats().await["echo_auth_seen"], 1);

    // Cross-origin with a header that needs a preflight: exactly one allow-origin.
    let request = Request::get("/api/echo-auth")
        .header("origin", "null")
        .header("authorization", "Bearer x")
        .body(Body::empty())
        .unwrap();
    let reply = rig.send(request).await;
    assert_eq!(
        reply
            .headers
            .get_all("access-control-allow-origin")
            .iter()
            .count(),
        1
    );

    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/echo-auth")
        .header("origin", "http://127.0.0.1:4321")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Body::empty())
        .unwrap();
    let reply = rig.send(preflight).await;
    assert!(reply.status.is_success());
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(reply
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .contains("authorization"));
}

#[tokio::test]
async fn static_files_are_served_with_the_right_types() {
    let rig = rig();
    let index = rig.get("/", None).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(String::from_utf8_lossy(&index.bytes).contains("<title>demo</title>"));

    let wasm = rig.get("/pkg/session_keeper_bg.wasm", None).await;
    assert_eq!(wasm.status, StatusCode::OK);
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(wasm.bytes, b"\0asm\x01\0\0\0");

    for path in [
        "/pkg/session_keeper.js",
        "/www/app.js",
        "/app.js",
        "/node_modules/some-pkg/index.mjs",
    ] {
        let reply = rig.get(path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(
            reply.header("content-type").unwrap().contains("javascript"),
            "{path}"
        );
    }
    assert!(rig.get("/www/index.html", None).await.status.is_success());
}

#[tokio::test]
async fn missing_files_and_unknown_paths_are_json_404s() {
    let rig = rig();
    for path in [
        "/pkg/missing.wasm",
        "/www/missing.js",
        "/missing",
        "/node_modules/nope/index.js",
        "/pkg/../../etc/passwd",
    ] {
        let reply = rig.get(path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json(), json!({ "error": "Not found" }), "{path}");
    }
    let post = rig.post("/nowhere", None, "{}").await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_response_says_no_store() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    for reply in [
        rig.get("/", None).await,
        rig.get("/pkg/session_keeper_bg.wasm", None).await,
        rig.get("/missing", None).await,
        rig.get("/api/data", Some(&token)).await,
        rig.get("/api/data", None).await,
        rig.get("/__dev/stats", None).await,
        rig.post("/auth/login", None, "{").await,
    ] {
        assert_eq!(
            reply.header("cache-control"),
            Some("no-store"),
            "{}",
            reply.status
        );
    }
}
