//! Bearer checking on the data endpoints: missing, malformed, forged, expired.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::json;

#[tokio::test]
async fn data_endpoints_answer_a_valid_bearer() {
    let rig = rig();
    let login = rig.login(DEMO).await;
    let token = login["access_token"].as_str().unwrap();
    let user_id = login["user"]["id"].clone();

    let data = rig.get("/api/data", Some(token)).await;
    assert_eq!(data.status, StatusCode::OK);
    let body = data.json();
    assert_eq!(body["user_id"], user_id);
    assert!(body["items"]
        .as_array()
        .is_some_and(|items| !items.is_empty()));
    assert_eq!(body["served_at"], START_MS);

    let me = rig.get("/api/users/me", Some(token)).await;
    assert_eq!(
        me.json(),
        json!({ "id": user_id, "email": "demo@example.com" })
    );
}

#[tokio::test]
async fn missing_bearer_is_401_authentication_required_never_anonymous() {
    let rig = rig();
    for path in [
        "/api/data",
        "/api/users/me",
        "/api/users/credits",
        "/auth/credits",
        "/api/redirect-elsewhere",
    ] {
        let reply = rig.get(path, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            reply.json(),
            json!({ "error": "Authentication required" }),
            "{path}"
        );
    }
}

#[tokio::test]
async fn other_schemes_and_empty_bearers_count_as_missing() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    for header in [
        format!("Basic {token}"),
        "Bearer ".to_owned(),
        "Bearer".to_owned(),
        token.clone(),
    ] {
        let request = Request::get("/api/data")
            .header("authorization", header.clone())
            .body(Body::empty())
            .unwrap();
        let reply = rig.send(request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(
            reply.json()["error"],
            "Authentication required",
            "{header:?}"
        );
    }
    // The scheme name is case-insensitive (RFC 7235).
    let request = Request::get("/api/data")
        .header("authorization", format!("bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(rig.send(request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn forged_or_malformed_tokens_are_invalid() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;

    // Same claims, signed with another secret.
    let forger = rig_with(|s| s.secret = Some("another-secret".to_owned()));
    let forged = forger.access_token(DEMO).await;
    // Payload swapped into a genuine header+signature.
    let parts: Vec<&str> = token.split('.').collect();
    let other_payload = forged.split('.').nth(1).unwrap();
    let spliced = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    // Signature stripped (alg none style).
    let unsigned = format!("{}.{}.", parts[0], parts[1]);

    for bad in [
        forged.as_str(),
        spliced.as_str(),
        unsigned.as_str(),
        "abc.def.ghi",
        "not-a-jwt",
    ] {
        let reply = rig.get("/api/data", Some(bad)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(reply.json(), json!({ "error": "Invalid token" }), "{bad}");
    }
    assert_eq!(rig.stats().await["expired_tokens"], 0);
}

#[tokio::test]
async fn expired_token_body_has_exactly_the_documented_fields() {
    let rig = rig_with(|s| s.token_ttl_ms = 1_000);
    let token = rig.access_token(DEMO).await;
    let exp = START_MS / 1000 + 1;
    assert_eq!(jwt_payload(&token)["exp"], exp);

    // Still valid just before exp.
    rig.clock.advance_ms(999);
    assert_eq!(
        rig.get("/api/data", Some(&token)).await.status,
        StatusCode::OK
    );

    // 1 ms later it is exp, which is already too late; then 3 s past it.
    rig.clock.advance_ms(1);
    assert_eq!(
        rig.get("/api/data", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    rig.clock.advance_ms(3_000);
    let reply = rig.get("/api/data", Some(&token)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.json(),
        json!({
            "error": "Token has expired",
            "expired_at": exp,
            "current_time": exp + 3,
            "expired_seconds_ago": 3,
            "requires_refresh": true,
        })
    );

    let stats = rig.stats().await;
    assert_eq!(stats["expired_tokens"], 2);
    assert_eq!(stats["unauthorized"], 2);
}

#[tokio::test]
async fn expired_tokens_cannot_verify_either() {
    let rig = rig_with(|s| s.token_ttl_ms = 1_000);
    let token = rig.access_token(DEMO).await;
    rig.clock.advance_ms(2_000);
    let reply = rig
        .post(
            "/auth/verify",
            Some(&token),
            &json!({ "token": token }).to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["requires_refresh"], true);
}

#[tokio::test]
async fn dev_config_changes_the_ttl_of_tokens_issued_afterwards() {
    let rig = rig();
    let before = rig.login(DEMO).await;
    let reply = rig
        .post("/__dev/config", None, r#"{"token_ttl_secs": 4}"#)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({ "token_ttl_secs": 4.0 }));
    assert_eq!(
        rig.get("/__dev/config", None).await.json()["token_ttl_secs"],
        4.0
    );

    let after = rig.login(DEMO).await;
    assert_eq!(after["expires_in"], 4);
    assert_eq!(
        jwt_payload(after["access_token"].as_str().unwrap())["exp"],
        START_MS / 1000 + 4
    );

    rig.clock.advance_ms(4_000);
    let old_still_ok = rig.get("/api/data", before["access_token"].as_str()).await;
    assert_eq!(
        old_still_ok.status,
        StatusCode::OK,
        "tokens already out keep their exp"
    );
    let new_expired = rig.get("/api/data", after["access_token"].as_str()).await;
    assert_eq!(new_expired.json()["error"], "Token has expired");
}

#[tokio::test]
async fn dev_config_refuses_ttls_below_one_second_or_not_numbers() {
    let rig = rig();
    for body in [
        r#"{"token_ttl_secs": 0.5}"#,
        r#"{"token_ttl_secs": -4}"#,
        r#"{"token_ttl_secs": "4"}"#,
        "{}",
        "4",
    ] {
        let reply = rig.post("/__dev/config", None, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(
        rig.get("/__dev/config", None).await.json()["token_ttl_secs"],
        60.0
    );
}

#[tokio::test]
async fn fractional_ttls_round_exp_down_but_never_to_iat() {
    let rig = rig_with(|s| s.token_ttl_ms = 1_500);
    let login = rig.login(DEMO).await;
    let claims = jwt_payload(login["access_token"].as_str().unwrap());
    assert_eq!(claims["exp"], START_MS / 1000 + 1);
    assert_eq!(login["expires_in"], 1);

    rig.clock.advance_ms(600); // now = START + 0.6 s: exp = floor(START + 2.1 s)
    let login = rig.login(DEMO).await;
    assert_eq!(
        jwt_payload(login["access_token"].as_str().unwrap())["exp"],
        START_MS / 1000 + 2
    );
    assert_eq!(login["expires_in"], 2);
}
