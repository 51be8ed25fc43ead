//! The session over time in headless Chrome: scheduled and exp-aware refresh, refresh
//! before send, page wake-ups, the storage mirror, sign-out across tabs, config errors,
//! events, and tokens never reaching logs, errors or events.
#![cfg(target_arch = "wasm32")]

mod support;

use js_sys::Array;
use session_keeper::testing::SessionManager;
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn scheduled_refresh_runs_every_interval_until_stopped() {
    let rig = Rig::new(60_000.0, &[("refreshIntervalMs", ms(100.0))]);
    rig.manager.start().unwrap();
    sleep(30).await;
    assert!(
        rig.manager.is_authenticated(),
        "start() fetches the first token"
    );
    assert!(
        rig.provider.reasons().starts_with("plain:initial"),
        "{}",
        rig.provider.reasons()
    );
    sleep(350).await;
    let scheduled = rig.provider.reasons().matches("scheduled").count();
    assert!(
        (2..=5).contains(&scheduled),
        "expected ~3 scheduled refreshes, got {}",
        rig.provider.reasons()
    );
    rig.manager.stop();
    let calls = rig.provider.plain() + rig.provider.forced();
    sleep(300).await;
    assert_eq!(
        rig.provider.plain() + rig.provider.forced(),
        calls,
        "stop() cancels the timer"
    );
}

#[wasm_bindgen_test]
async fn refresh_comes_early_when_exp_demands_it() {
    // A 1.6 s token with a 200 ms margin must be refreshed around 1.4 s, long before the
    // 60 s interval. (Tokens are real-time here; the core's tests cover 60 s tokens on a
    // virtual clock. A token must leave at least the 1 s minimum refresh gap outside the
    // margin, or refreshes back off instead.)
    let rig = Rig::new(
        1_600.0,
        &[
            ("refreshIntervalMs", ms(60_000.0)),
            ("expiryMarginMs", ms(200.0)),
        ],
    );
    rig.manager.start().unwrap();
    sleep(50).await;
    let first = rig.provider.token().unwrap();
    let expires = rig.manager.token_expires_at().as_f64().unwrap();
    assert!(
        (expires - js_sys::Date::now() - 1_550.0).abs() < 100.0,
        "tokenExpiresAt follows exp"
    );
    sleep(1_500).await;
    assert_ne!(rig.provider.token().unwrap(), first, "refreshed before exp");
    assert!(rig.events.count("tokenRefreshed") >= 2);
    assert!(rig.manager.is_authenticated());
    // The early refresh escalated to forced because the cached token was inside the margin.
    assert!(
        rig.provider.reasons().contains("forced:scheduled"),
        "{}",
        rig.provider.reasons()
    );
    rig.manager.stop();
}

#[wasm_bindgen_test]
async fn a_token_inside_the_margin_is_refreshed_before_it_is_sent() {
    let rig = Rig::new(2_000.0, &[("expiryMarginMs", ms(800.0))]);
    rig.get("/api/first").await.unwrap();
    let first = rig.provider.token().unwrap();
    sleep(1_300).await; // 700 ms left: inside the 800 ms margin, not yet expired
    assert_eq!(rig.get("/api/second").await.unwrap(), 200);
    let second = rig.provider.token().unwrap();
    assert_ne!(first, second);
    assert_eq!(
        rig.backend.count(),
        2,
        "no request went out with the old token and got a 401"
    );
    assert_eq!(rig.backend.auth(-1), Some(["Bearer ", &second].concat()));
}

#[wasm_bindgen_test]
async fn waking_up_after_a_throttled_sleep_refreshes_at_once() {
    // The timer is set far out (as a throttled hidden tab would leave it); the wake-up
    // events must catch the expiry anyway.
    let rig = Rig::new(
        1_200.0,
        &[
            ("refreshIntervalMs", ms(60_000.0)),
            ("expiryMarginMs", ms(100.0)),
        ],
    );
    rig.manager.start().unwrap();
    sleep(30).await;
    for (event, expected) in [("visibilitychange", 2), ("pageshow", 3), ("online", 4)] {
        let before = rig.events.count("tokenRefreshed");
        sleep(1_200).await; // past exp − margin; our own timer may or may not have fired
        wake(event);
        sleep(30).await;
        assert!(
            rig.events.count("tokenRefreshed") > before,
            "{event} did not trigger a refresh"
        );
        assert!(rig.events.count("tokenRefreshed") >= expected);
        assert!(rig.manager.is_authenticated(), "{event}");
    }
    rig.manager.stop();
    let count = rig.events.count("tokenRefreshed");
    sleep(400).await;
    wake("online");
    sleep(30).await;
    assert_eq!(
        rig.events.count("tokenRefreshed"),
        count,
        "stop() removed the lifecycle listeners"
    );
}

#[wasm_bindgen_test]
async fn storage_mirror_writes_raw_tokens_and_signout_clears_them() {
    let keys = Array::of2(&"authToken".into(), &"moneta_session_token".into());
    let rig = Rig::new(60_000.0, &[("storageKeys", keys.into())]);
    rig.get("/api/me").await.unwrap();
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let token = rig.provider.token().unwrap();
    assert_eq!(
        storage.get_item("authToken").unwrap(),
        Some(token.clone()),
        "raw string, not JSON"
    );
    assert_eq!(
        storage.get_item("moneta_session_token").unwrap(),
        Some(token)
    );
    settle(rig.manager.sign_out()).await.unwrap();
    assert_eq!(storage.get_item("authToken").unwrap(), None);
    assert_eq!(storage.get_item("moneta_session_token").unwrap(), None);
    assert!(!rig.manager.is_authenticated());
}

#[wasm_bindgen_test]
async fn memory_only_by_default() {
    let rig = Rig::new(60_000.0, &[]);
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let before = storage.length().unwrap();
    rig.get("/api/me").await.unwrap();
    assert_eq!(
        storage.length().unwrap(),
        before,
        "nothing written without storageKeys"
    );
}

#[wasm_bindgen_test]
async fn throwing_storage_degrades_to_memory() {
    let keys = Array::of1(&"auth_token".into());
    let rig = Rig::new(60_000.0, &[("storageKeys", keys.into())]);
    let undo = break_storage();
    let status = rig.get("/api/me").await;
    let signed_out = settle(rig.manager.sign_out()).await;
    undo.call0(&JsValue::UNDEFINED).unwrap();
    assert_eq!(status.unwrap(), 200, "requests still work");
    assert!(signed_out.is_ok(), "signOut does not throw");
    assert!(
        logged_matching("localStorage refused") >= 1,
        "the fallback is logged"
    );
}

#[wasm_bindgen_test]
async fn sign_out_tells_other_tabs() {
    let a = Rig::new(60_000.0, &[]);
    let b = Rig::new(60_000.0, &[]);
    a.get("/api/a").await.unwrap();
    b.get("/api/b").await.unwrap();
    b.manager.start().unwrap();
    assert!(b.manager.is_authenticated());
    settle(a.manager.sign_out()).await.unwrap();
    sleep(50).await;
    assert!(
        !b.manager.is_authenticated(),
        "the other tab forgot its token"
    );
    assert_eq!(b.events.count("sessionExpired"), 1);
    assert!(b
        .events
        .last("sessionExpired")
        .unwrap()
        .contains("signed_out_elsewhere"));
    assert_eq!(
        a.events.count("sessionExpired"),
        0,
        "the tab that signed out is not told it expired"
    );
    let calls = b.provider.plain() + b.provider.forced();
    sleep(100).await;
    assert_eq!(
        b.provider.plain() + b.provider.forced(),
        calls,
        "the other tab stopped refreshing"
    );
}

#[wasm_bindgen_test]
async fn sign_out_during_a_refresh_discards_its_token() {
    let rig = Rig::new(60_000.0, &[]);
    rig.provider.set_delay_ms(100.0);
    let pending = rig
        .manager
        .fetch_with_auth("/api/me".into(), JsValue::UNDEFINED);
    sleep(20).await;
    settle(rig.manager.sign_out()).await.unwrap();
    let err = settle(pending).await.unwrap_err();
    assert_session_error(&err, "unauthenticated");
    sleep(120).await;
    assert!(
        !rig.manager.is_authenticated(),
        "a late provider answer must not sign back in"
    );
    assert_eq!(rig.backend.count(), 0);
}

#[wasm_bindgen_test]
async fn concurrent_first_requests_share_one_provider_call() {
    let rig = Rig::new(60_000.0, &[]);
    rig.provider.set_delay_ms(30.0);
    let promises: Vec<_> = (0..20)
        .map(|_| {
            rig.manager
                .fetch_with_auth("/api/x".into(), JsValue::UNDEFINED)
        })
        .collect();
    for p in promises {
        assert_eq!(status(&settle(p).await.unwrap()), 200);
    }
    assert_eq!(rig.provider.plain() + rig.provider.forced(), 1);
}

#[wasm_bindgen_test]
async fn refresh_token_is_forced_and_single_flight() {
    let rig = Rig::new(60_000.0, &[]);
    rig.provider.set_delay_ms(20.0);
    let a = rig.manager.refresh_token();
    let b = rig.manager.refresh_token();
    let (a, b) = (settle(a).await.unwrap(), settle(b).await.unwrap());
    assert_eq!(a, b);
    assert_eq!(a.as_string(), rig.provider.token());
    assert_eq!(rig.provider.forced(), 1);
    assert!(rig
        .events
        .last("tokenRefreshed")
        .unwrap()
        .contains("\"reason\":\"manual\""));
}

#[wasm_bindgen_test]
async fn events_report_state_and_unsubscribe_works() {
    let rig = Rig::new(60_000.0, &[]);
    let extra = Recorder::new();
    let off = rig
        .manager
        .on("tokenRefreshed", extra.listener("tokenRefreshed"))
        .unwrap();
    rig.get("/api/me").await.unwrap();
    assert_eq!(extra.count("tokenRefreshed"), 1);
    let detail = rig.events.last("tokenRefreshed").unwrap();
    assert!(
        detail.contains("\"expiresAt\":") && detail.contains("\"reason\":\"initial\""),
        "{detail}"
    );
    assert!(rig
        .events
        .last("stateChanged")
        .unwrap()
        .contains("\"authenticated\":true"));
    off.call0(&JsValue::UNDEFINED).unwrap();
    settle(rig.manager.refresh_token()).await.unwrap();
    assert_eq!(
        extra.count("tokenRefreshed"),
        1,
        "unsubscribed listener not called"
    );
    assert_eq!(rig.events.count("tokenRefreshed"), 2);
    settle(rig.manager.sign_out()).await.unwrap();
    assert!(rig
        .events
        .last("stateChanged")
        .unwrap()
        .contains("\"authenticated\":false"));

    for (name, listener) in [
        ("nope", extra.listener("x")),
        ("tokenRefreshed", JsValue::from(3)),
    ] {
        assert_session_error(&rig.manager.on(name, listener).unwrap_err(), "config");
    }
    // A throwing listener does not stop the others.
    let thrower = js_sys::Function::new_no_args("throw new Error('listener bug')");
    rig.manager.on("tokenRefreshed", thrower.into()).unwrap();
    settle(rig.manager.refresh_token()).await.unwrap();
    assert_eq!(rig.events.count("tokenRefreshed"), 3);
}

#[wasm_bindgen_test]
async fn malformed_tokens_are_used_as_opaque_without_breaking_anything() {
    let payloads = [
        "not-a-jwt",
        "a.b.c",
        "a.!!!.c",
        "x.WzEsMl0.y",
        "x.eyJleHAiOiJzb29uIn0.y",
        "x.eyJleHAiOi0xfQ.y",
    ];
    for token in payloads {
        let rig = Rig::new(60_000.0, &[]);
        let get = js_sys::Function::new_no_args(&format!("return '{token}'"));
        let backend = Backend::new(&rig.provider);
        let manager = SessionManager::new(config(
            &rig.provider,
            &backend,
            &obj(&[("getToken", get.into())]),
        ))
        .unwrap();
        // The token is used as opaque: sent, and with no exp its expiry is unknown.
        let outcome = settle(manager.fetch_with_auth("/api/x".into(), JsValue::UNDEFINED)).await;
        assert_eq!(
            backend.auth(0),
            Some(["Bearer ", token].concat()),
            "{token}"
        );
        assert!(
            manager.token_expires_at().is_null(),
            "{token}: no exp means unknown expiry (null)"
        );
        // The fake backend refuses it; the forced refresh returns the same string, so the
        // call ends, typed, after one request: no loop.
        assert_session_error(&outcome.unwrap_err(), "refresh_failed");
        assert_eq!(backend.count(), 1, "{token}");
    }
}

#[wasm_bindgen_test]
fn invalid_config_throws_a_config_error_naming_the_field() {
    tap_console();
    let provider = Provider::new(1000.0);
    let backend = Backend::new(&provider);
    let get = provider.get_token();
    // Not a config object at all.
    for cfg in [JsValue::UNDEFINED, JsValue::from_str("token")] {
        let err = SessionManager::new(cfg)
            .err()
            .expect("accepted a non-object");
        assert_session_error(&err, "config");
    }
    // One bad field at a time, beside a valid getToken (except where getToken is the bad one).
    let cases: Vec<(&str, JsValue)> = vec![
        ("getToken", JsValue::UNDEFINED),
        ("getToken", "abc".into()),
        ("refreshIntervalMs", ms(-5.0)),
        ("refreshIntervalMs", "50".into()),
        ("expiryMarginMs", ms(f64::NAN)),
        ("tokenTimeoutMs", ms(0.0)),
        ("requestTimeoutMs", ms(1e12)),
        ("logLevel", "loud".into()),
        ("storageKeys", "authToken".into()),
        ("storageKeys", Array::of1(&ms(1.0)).into()),
        ("fetch", ms(1.0)),
        ("onSessionExpired", "x".into()),
        ("loginUrl", "javascript:alert(1)".into()),
    ];
    for (field, value) in cases {
        let cfg = obj(&[("getToken", get.clone().into()), (field, value)]);
        let err = SessionManager::new(cfg)
            .err()
            .unwrap_or_else(|| panic!("{field}: accepted"));
        assert_session_error(&err, "config");
        assert!(
            error_text(&err).contains(field),
            "{field}: {}",
            error_text(&err)
        );
    }
    let ok = config(&provider, &backend, &obj(&[("loginUrl", "/login".into())]));
    assert!(
        SessionManager::new(ok).is_ok(),
        "relative loginUrl resolves against the page"
    );
}

#[wasm_bindgen_test]
async fn no_token_reaches_logs_errors_or_events() {
    // Drive every path that logs or reports at debug level, then search everything.
    let keys = Array::of1(&"authToken".into());
    let rig = Rig::new(
        60_000.0,
        &[("storageKeys", keys.into()), ("tokenTimeoutMs", ms(50.0))],
    );
    rig.manager.start().unwrap();
    rig.get("/api/a").await.unwrap();
    rig.backend.revoke(&rig.provider.token().unwrap());
    rig.get("/api/b").await.unwrap();
    settle(rig.manager.refresh_token()).await.unwrap();
    let mut errors = vec![];
    for mode in ["throw", "reject", "hang", "number", "null"] {
        rig.provider.set_mode(mode);
        let _ = settle(rig.manager.refresh_token())
            .await
            .map_err(|e| errors.push(e));
    }
    rig.provider.set_mode("ok");
    rig.backend.set_mode("reject");
    let _ = rig.get("/api/c").await;
    let undo = break_storage();
    let _ = settle(rig.manager.refresh_token()).await;
    undo.call0(&JsValue::UNDEFINED).unwrap();
    settle(rig.manager.sign_out()).await.unwrap();
    assert!(errors.len() >= 5);
    for e in &errors {
        assert!(!error_text(e).contains(LEAK_MARK), "{}", error_text(e));
    }
    assert!(logged_lines() > 5, "the library logged at debug level");
    rig.assert_no_leaks();
}
