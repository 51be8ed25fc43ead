//! /auth/login, /auth/refresh, /auth/logout, /auth/verify.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn login_returns_the_documented_shape_and_a_well_formed_jwt() {
    let rig = rig();
    let body = rig.login(DEMO).await;
    assert_session_shape(&body);
    assert_eq!(body["user"]["email"], "demo@example.com");

    let claims = jwt_payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], body["user"]["id"]);
    assert_eq!(claims["email"], "demo@example.com");
    assert_eq!(claims["role"], "authenticated");
    assert_eq!(claims["aud"], "authenticated");
    assert_eq!(claims["iat"], START_MS / 1000);
    assert_eq!(claims["exp"], START_MS / 1000 + 60);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
}

#[tokio::test]
async fn two_logins_in_the_same_second_get_different_tokens() {
    let rig = rig();
    let a = rig.access_token(DEMO).await;
    let b = rig.access_token(DEMO).await;
    assert_ne!(a, b, "jti must make every token unique");
}

#[tokio::test]
async fn login_accepts_the_second_user_with_its_own_id() {
    let rig = rig();
    let demo = rig.login(DEMO).await;
    let other = rig.login(OTHER).await;
    assert_eq!(other["user"]["email"], "other@example.com");
    assert_ne!(demo["user"]["id"], other["user"]["id"]);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_401_with_one_message() {
    let rig = rig();
    for body in [
        json!({ "email": "demo@example.com", "password": "wrong" }),
        json!({ "email": "nobody@example.com", "password": "demo" }),
        json!({ "email": "demo@example.com", "password": "other" }),
    ] {
        let reply = rig.post("/auth/login", None, &body.to_string()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(
            reply.json(),
            json!({ "error": "Invalid email or password" })
        );
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(rig.stats().await["logins"], 0);
}

#[tokio::test]
async fn malformed_login_bodies_are_400_with_an_explanation() {
    let rig = rig();
    for body in [
        "",
        "not json",
        "[]",
        r#"{"email":"demo@example.com"}"#,
        r#"{"email":1,"password":"demo"}"#,
    ] {
        let reply = rig.post("/auth/login", None, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "body {body:?}");
        let error = reply.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!error.is_empty(), "body {body:?} gave no error message");
    }
    let missing = rig
        .post("/auth/login", None, r#"{"email":"demo@example.com"}"#)
        .await;
    assert!(missing.json()["error"]
        .as_str()
        .unwrap()
        .contains("password"));
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_is_refused() {
    let rig = rig();
    let login = rig.login(DEMO).await;
    let first = login["refresh_token"].as_str().unwrap();
    rig.clock.advance_ms(5_000);

    let reply = rig
        .post(
            "/auth/refresh",
            None,
            &json!({ "refresh_token": first }).to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let refreshed = reply.json();
    assert_ne!(refreshed["access_token"], login["access_token"]);
    assert_ne!(refreshed["refresh_token"], login["refresh_token"]);
    assert_eq!(refreshed["token_type"], "bearer");
    assert_eq!(refreshed["expires_at"], START_MS / 1000 + 5 + 60);
    assert_eq!(refreshed["user"], login["user"]);

    let again = rig
        .post(
            "/auth/refresh",
            None,
            &json!({ "refresh_token": first }).to_string(),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.json(), json!({ "error": "Invalid refresh token" }));

    let second = refreshed["refresh_token"].as_str().unwrap();
    let next = rig
        .post(
            "/auth/refresh",
            None,
            &json!({ "refresh_token": second }).to_string(),
        )
        .await;
    assert_eq!(next.status, StatusCode::OK);
    let stats = rig.stats().await;
    assert_eq!(stats["refreshes"], 2);
    assert_eq!(
        stats["refresh_rejections"], 1,
        "the reuse of the rotated token"
    );
}

#[tokio::test]
async fn refresh_with_garbage_is_401_and_without_a_token_is_400() {
    let rig = rig();
    let reply = rig
        .post("/auth/refresh", None, r#"{"refresh_token":"nope"}"#)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["error"], "Invalid refresh token");
    let reply = rig.post("/auth/refresh", None, "{}").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let stats = rig.stats().await;
    assert_eq!(stats["refreshes"], 0);
    assert_eq!(
        stats["refresh_rejections"], 1,
        "the unknown token counts, the missing one (400) does not"
    );
}

#[tokio::test]
async fn logout_revokes_every_refresh_token_of_that_user_only() {
    let rig = rig();
    let a = rig.login(DEMO).await;
    let b = rig.login(DEMO).await;
    let other = rig.login(OTHER).await;

    let reply = rig
        .post("/auth/logout", a["access_token"].as_str(), "")
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.bytes.is_empty());

    for session in [&a, &b] {
        let body = json!({ "refresh_token": session["refresh_token"] }).to_string();
        assert_eq!(
            rig.post("/auth/refresh", None, &body).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let body = json!({ "refresh_token": other["refresh_token"] }).to_string();
    assert_eq!(
        rig.post("/auth/refresh", None, &body).await.status,
        StatusCode::OK
    );
    let stats = rig.stats().await;
    assert_eq!(
        (
            stats["refreshes"].clone(),
            stats["refresh_rejections"].clone()
        ),
        (json!(1), json!(2))
    );
}

#[tokio::test]
async fn logout_without_a_bearer_is_refused() {
    let rig = rig();
    let reply = rig.post("/auth/logout", None, "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json(), json!({ "error": "Authentication required" }));
}

#[tokio::test]
async fn verify_needs_the_body_token_to_equal_the_bearer() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    let other = rig.access_token(DEMO).await;

    let ok = rig
        .post(
            "/auth/verify",
            Some(&token),
            &json!({ "token": token }).to_string(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let user_id = jwt_payload(&token)["sub"].clone();
    assert_eq!(ok.json(), json!({ "valid": true, "user_id": user_id }));

    // Another genuine token of the same user is still a mismatch.
    let mismatch = rig
        .post(
            "/auth/verify",
            Some(&token),
            &json!({ "token": other }).to_string(),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNAUTHORIZED);
    assert!(mismatch.json()["error"]
        .as_str()
        .unwrap()
        .contains("does not match"));

    for body in ["{}", r#"{"token":null}"#, ""] {
        let missing = rig.post("/auth/verify", Some(&token), body).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED, "body {body:?}");
    }

    let malformed = rig.post("/auth/verify", Some(&token), "{token").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let wrong_type = rig
        .post("/auth/verify", Some(&token), r#"{"token":5}"#)
        .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);

    let no_bearer = rig
        .post("/auth/verify", None, &json!({ "token": token }).to_string())
        .await;
    assert_eq!(no_bearer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        no_bearer.json(),
        json!({ "error": "Authentication required" })
    );

    assert_eq!(
        rig.stats().await["verifies"],
        1,
        "only the matching call counts"
    );
}
