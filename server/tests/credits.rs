//! Credits, the simulated restart, and the recovery path through /auth/verify.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
async fn both_credit_endpoints_answer_the_balance_after_login() {
    let rig = rig();
    let demo = rig.login(DEMO).await;
    let token = demo["access_token"].as_str();
    assert_eq!(
        rig.get("/api/users/credits", token).await.json(),
        json!({ "credits": 100 })
    );
    assert_eq!(
        rig.get("/auth/credits", token).await.json(),
        json!({ "success": true, "credits": 100, "user_id": demo["user"]["id"] })
    );
    let other = rig.access_token(OTHER).await;
    assert_eq!(
        rig.get("/api/users/credits", Some(&other)).await.json()["credits"],
        42
    );
}

#[tokio::test]
async fn credits_read_zero_after_restart_until_verify() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    let refresh_token = rig.login(DEMO).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let restart = rig.post("/__dev/restart", None, "").await;
    assert_eq!(restart.json(), json!({ "restarted": true }));

    // The bug: 200 with 0, on both endpoints, even with a forced read.
    let plain = rig.get("/api/users/credits", Some(&token)).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.json(), json!({ "credits": 0 }));
    let forced = rig.get("/auth/credits?refresh=true", Some(&token)).await;
    assert_eq!(forced.status, StatusCode::OK);
    assert_eq!(forced.json()["credits"], 0);

    // Tokens and refresh tokens survived the restart; a refresh alone does not heal.
    assert_eq!(
        rig.get("/api/data", Some(&token)).await.status,
        StatusCode::OK
    );
    let refreshed = rig
        .post(
            "/auth/refresh",
            None,
            &json!({ "refresh_token": refresh_token }).to_string(),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let new_token = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        rig.get("/api/users/credits", Some(&new_token)).await.json()["credits"],
        0
    );

    // The library's recovery step: verify puts the user back.
    let verify = rig
        .post(
            "/auth/verify",
            Some(&new_token),
            &json!({ "token": new_token }).to_string(),
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK);
    assert_eq!(
        rig.get("/api/users/credits", Some(&new_token)).await.json()["credits"],
        100
    );
    assert_eq!(
        rig.get("/auth/credits?refresh=true", Some(&token))
            .await
            .json()["credits"],
        100
    );

    let stats = rig.stats().await;
    assert_eq!(stats["restarts"], 1);
    assert_eq!(stats["credit_reads"], 5);
    assert_eq!(stats["zero_credit_reads"], 3);
    assert_eq!(stats["verifies"], 1);
}

#[tokio::test]
async fn restart_loses_only_the_session_cache_of_every_user() {
    let rig = rig();
    let demo = rig.access_token(DEMO).await;
    let other = rig.access_token(OTHER).await;
    rig.post("/__dev/restart", None, "").await;
    rig.post(
        "/auth/verify",
        Some(&demo),
        &json!({ "token": demo }).to_string(),
    )
    .await;
    assert_eq!(
        rig.get("/api/users/credits", Some(&demo)).await.json()["credits"],
        100
    );
    assert_eq!(
        rig.get("/api/users/credits", Some(&other)).await.json()["credits"],
        0
    );
    // A fresh login heals too.
    let other = rig.access_token(OTHER).await;
    assert_eq!(
        rig.get("/api/users/credits", Some(&other)).await.json()["credits"],
        42
    );
}

#[tokio::test]
async fn auth_credits_rejects_a_nonsense_refresh_flag() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    let reply = rig.get("/auth/credits?refresh=maybe", Some(&token)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["error"].as_str().unwrap().contains("refresh"));
    assert_eq!(
        rig.get("/auth/credits?refresh=false", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn spend_deducts_and_refuses_overdrafts() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    let spent = rig
        .post("/api/credits/spend", Some(&token), r#"{"amount": 30}"#)
        .await;
    assert_eq!(spent.status, StatusCode::OK);
    assert_eq!(spent.json(), json!({ "credits": 70 }));
    assert_eq!(
        rig.get("/api/users/credits", Some(&token)).await.json()["credits"],
        70
    );

    let overdraft = rig
        .post("/api/credits/spend", Some(&token), r#"{"amount": 71}"#)
        .await;
    assert_eq!(overdraft.status, StatusCode::CONFLICT);
    assert_eq!(
        overdraft.json(),
        json!({ "error": "Insufficient credits", "credits": 70, "requested": 71 })
    );

    let exact = rig
        .post("/api/credits/spend", Some(&token), r#"{"amount": 70}"#)
        .await;
    assert_eq!(exact.json(), json!({ "credits": 0 }));

    // Another user's balance is untouched.
    let other = rig.access_token(OTHER).await;
    assert_eq!(
        rig.get("/api/users/credits", Some(&other)).await.json()["credits"],
        42
    );
}

#[tokio::test]
async fn spend_accepts_only_positive_integers() {
    let rig = rig();
    let token = rig.access_token(DEMO).await;
    for body in [
        r#"{"amount": 0}"#,
        r#"{"amount": -5}"#,
        r#"{"amount": 1.5}"#,
        r#"{"amount": "5"}"#,
        "{}",
        "nope",
    ] {
        let reply = rig.post("/api/credits/spend", Some(&token), body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            reply.json()["error"]
                .as_str()
                .unwrap()
                .contains("positive integer"),
            "{body}"
        );
    }
    assert_eq!(
        rig.get("/api/users/credits", Some(&token)).await.json()["credits"],
        100
    );
    let anonymous = rig
        .post("/api/credits/spend", None, r#"{"amount": 1}"#)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}
