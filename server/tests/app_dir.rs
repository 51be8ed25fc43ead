//! `--app DIR`: a bundler's build output served at `/app/`.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn app_dir_is_served_at_app_with_its_index_and_assets() {
    let rig = rig_with_app();
    let index = rig.get("/app/", None).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(String::from_utf8_lossy(&index.bytes).contains("<title>vite app</title>"));
    assert_eq!(index.header("cache-control"), Some("no-store"));

    let explicit = rig.get("/app/index.html", None).await;
    assert_eq!(explicit.bytes, index.bytes);

    let script = rig.get("/app/assets/index-abc123.js", None).await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script
        .header("content-type")
        .unwrap()
        .contains("javascript"));

    let wasm = rig.get("/app/assets/session_keeper_bg-x.wasm", None).await;
    assert_eq!(wasm.status, StatusCode::OK);
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(wasm.bytes, b"\0asm\x01\0\0\0");

    // Static files count as requests, but not per path (only /api and /auth do).
    let stats = rig.stats().await;
    assert_eq!(stats["requests"], 4);
    assert_eq!(stats["by_path"], json!({}));
}

#[tokio::test]
async fn bare_app_redirects_to_the_slash_so_relative_urls_resolve_inside_it() {
    let rig = rig_with_app();
    let reply = rig.get("/app", None).await;
    assert_eq!(reply.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(reply.header("location"), Some("/app/"));
}

#[tokio::test]
async fn missing_app_files_are_json_404s_and_never_escape_the_dir() {
    let rig = rig_with_app();
    for path in [
        "/app/missing.js",
        "/app/assets/missing.wasm",
        "/app/../www/index.html",
        "/app/%2e%2e/www/index.html",
    ] {
        let reply = rig.get(path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json(), json!({ "error": "Not found" }), "{path}");
    }
}

#[tokio::test]
async fn without_the_flag_app_paths_are_404s_not_lookups_in_www() {
    let rig = rig();
    // The rig's www/ has app.js; /app/... must not reach www/.
    std::fs::create_dir_all(rig.root.join("www/app")).unwrap();
    std::fs::write(rig.root.join("www/app/index.html"), "www's").unwrap();
    for path in [
        "/app",
        "/app/",
        "/app/index.html",
        "/app/assets/index-abc123.js",
    ] {
        let reply = rig.get(path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json(), json!({ "error": "Not found" }), "{path}");
    }
    // www's own app.js is untouched by the /app prefix.
    assert_eq!(rig.get("/app.js", None).await.status, StatusCode::OK);
}
