//! `POST /__dev/revoke`: access tokens issued up to that moment are refused, later ones work,
//! even within the same second (the manual clock below does not move at all).

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{json, Value};

fn revoked_body() -> Value {
    json!({ "error": "Token has been revoked", "requires_refresh": true })
}

async fn revoke(rig: &Rig) {
    let reply = rig.post("/__dev/revoke", None, "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({ "revoked": true }));
}

#[tokio::test]
async fn tokens_issued_before_a_revoke_get_401_requires_refresh_on_every_bearer_endpoint() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    assert_eq!(
        rig.get("/api/users/me", Some(&token)).await.status,
        StatusCode::OK
    );
    revoke(&rig).await;
    rig.post("/__dev/stats/reset", None, "").await;

    let verify = json!({ "token": token }).to_string();
    let replies = [
        rig.get("/api/users/me", Some(&token)).await,
        rig.get("/api/data", Some(&token)).await,
        rig.get("/api/users/credits", Some(&token)).await,
        rig.get("/auth/credits", Some(&token)).await,
        rig.post("/auth/verify", Some(&token), &verify).await,
        rig.post("/api/credits/spend", Some(&token), r#"{"amount":1}"#)
            .await,
        rig.post("/auth/logout", Some(&token), "").await,
    ];
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.json(), revoked_body());
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    let stats = rig.stats().await;
    assert_eq!(stats["revoked_tokens"], replies.len());
    assert_eq!(stats["unauthorized"], replies.len());
    assert_eq!(stats["expired_tokens"], 0);
    assert_eq!(stats["verifies"], 0, "a revoked token heals nothing");
    assert_eq!(stats["credit_reads"], 0);
}

#[tokio::test]
async fn a_token_minted_after_the_revoke_in_the_same_millisecond_works() {
    let rig = rig();
    let before = rig.access_token(DEMO).await;
    revoke(&rig).await;
    let after = rig.access_token(DEMO).await;
    // Same clock reading for all three events, so `iat` cannot tell them apart.
    assert_eq!(jwt_payload(&before)["iat"], jwt_payload(&after)["iat"]);

    assert_eq!(
        rig.get("/api/users/me", Some(&before)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let me = rig.get("/api/users/me", Some(&after)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "demo@example.com");
    let stats = rig.stats().await;
    assert_eq!(stats["revoked_tokens"], 1);
    assert_eq!(stats["unauthorized"], 1);
}

#[tokio::test]
async fn the_refresh_token_survives_a_revoke_and_its_new_access_token_works() {
    let rig = rig();
    let login = rig.login(DEMO).await;
    let old = login["access_token"].as_str().unwrap();
    rig.clock.advance_ms(1_500);
    revoke(&rig).await;
    assert_eq!(rig.get("/api/data", Some(old)).await.json(), revoked_body());

    let body = json!({ "refresh_token": login["refresh_token"] }).to_string();
    let refreshed = rig.post("/auth/refresh", None, &body).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let new = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        rig.get("/api/data", Some(&new)).await.status,
        StatusCode::OK
    );
    let stats = rig.stats().await;
    assert_eq!(
        (stats["refreshes"].clone(), stats["revoked_tokens"].clone()),
        (json!(1), json!(1))
    );
}

#[tokio::test]
async fn gotrue_endpoints_refuse_revoked_tokens_in_gotrue_dialect() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    revoke(&rig).await;
    for reply in [
        rig.get("/auth/v1/user", Some(&token)).await,
        rig.post("/auth/v1/logout", Some(&token), "").await,
    ] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let body = reply.json();
        assert_eq!(body["error_code"], "bad_jwt");
        assert_eq!(body["msg"], "invalid JWT: token has been revoked");
    }
    assert_eq!(rig.stats().await["revoked_tokens"], 2);
}

#[tokio::test]
async fn an_expired_revoked_token_counts_as_expired_only() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    revoke(&rig).await;
    rig.clock.advance_ms(60_000);
    let reply = rig.get("/api/data", Some(&token)).await;
    assert_eq!(reply.json()["error"], "Token has expired");
    let stats = rig.stats().await;
    assert_eq!(
        (
            stats["expired_tokens"].clone(),
            stats["revoked_tokens"].clone()
        ),
        (json!(1), json!(0))
    );
}

#[tokio::test]
async fn a_second_revoke_moves_the_line_forward() {
    let rig = rig();
    revoke(&rig).await;
    let between = rig.access_token(DEMO).await;
    assert_eq!(
        rig.get("/api/data", Some(&between)).await.status,
        StatusCode::OK
    );
    rig.clock.advance_ms(10);
    revoke(&rig).await;
    let after = rig.access_token(DEMO).await;
    assert_eq!(
        rig.get("/api/data", Some(&between)).await.json(),
        revoked_body()
    );
    assert_eq!(
        rig.get("/api/data", Some(&after)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_carry_a_strictly_increasing_microsecond_issue_stamp() {
    let rig = rig();
    let a = jwt_payload(&rig.access_token(DEMO).await);
    let b = jwt_payload(&rig.access_token(DEMO).await);
    rig.clock.advance_ms(2);
    let c = jwt_payload(&rig.access_token(DEMO).await);
    let (a, b, c) = (
        a["iat_us"].as_u64().unwrap(),
        b["iat_us"].as_u64().unwrap(),
        c["iat_us"].as_u64().unwrap(),
    );
    assert_eq!(a, START_MS * 1000, "the clock's time when no tie");
    assert_eq!(b, a + 1, "a tie moves one microsecond on");
    assert_eq!(c, (START_MS + 2) * 1000);
}

#[tokio::test]
async fn revoke_answers_only_loopback_peers() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    let from = |ip: [u8; 4]| {
        Request::post("/__dev/revoke")
            .extension(ConnectInfo(SocketAddr::from((ip, 50_000))))
            .body(Body::empty())
            .unwrap()
    };
    let remote = rig.send(from([203, 0, 113, 5])).await;
    assert_eq!(remote.status, StatusCode::FORBIDDEN);
    assert_eq!(
        rig.get("/api/data", Some(&token)).await.status,
        StatusCode::OK,
        "not revoked"
    );

    let local = rig.send(from([127, 0, 0, 1])).await;
    assert_eq!(local.status, StatusCode::OK);
    assert_eq!(
        rig.get("/api/data", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn revoke_needs_post() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    assert_eq!(
        rig.get("/__dev/revoke", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        rig.get("/api/data", Some(&token)).await.status,
        StatusCode::OK
    );
}
