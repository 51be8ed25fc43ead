//! The session over time in headless Chrome: scheduled and exp-aware refresh, refresh
//! before send, page wake-ups, the storage mirror, config errors,
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
    // 60 s Clerk tokens, 10 s margin (exp - margin is 50 s out), a 20 s interval: the
    // interval comes first, and the provider answers from its cache.
    let rig = Rig::new(60_000.0, &[("refreshIntervalMs", ms(20_000.0))]);
    rig.manager.start().unwrap();
    rig.advance(0.0).await;
    assert!(
        rig.manager.is_authenticated(),
        "start() fetches the first token"
    );
    assert_eq!(rig.provider.reasons(), "plain:initial");
    let scheduled = || rig.provider.reasons().matches("scheduled").count();
    rig.advance(19_999.0).await;
    assert_eq!(scheduled(), 0, "not before the interval");
    rig.advance(1.0).await;
    assert_eq!(scheduled(), 1, "at 20 s: {}", rig.provider.reasons());
    rig.advance(20_000.0).await;
    assert_eq!(
        rig.provider.reasons(),
        "plain:initial,plain:scheduled,plain:scheduled",
        "at 40 s"
    );
    assert_eq!(rig.clock().pending(), 1, "one timer, for the next refresh");
    rig.manager.stop();
    assert_eq!(rig.clock().pending(), 0, "stop() cancels the timer");
    rig.advance(600_000.0).await;
    assert_eq!(rig.calls(), 3, "nothing runs after stop()");
}

#[wasm_bindgen_test]
async fn without_a_clock_the_schedule_runs_on_the_browsers_own_timer() {
    // The one suite test on the real clock (no `config.clock`): the browser's setTimeout
    // is what is under test, so it waits real time, and its counts are ranges (timers in
    // a busy headless browser fire late, never early).
    let rig = Rig::real(60_000.0, &[("refreshIntervalMs", ms(200.0))]);
    rig.manager.start().unwrap();
    // Real time: the browser's timer is under test.
    sleep(50).await;
    assert_eq!(rig.provider.reasons(), "plain:initial");
    // Real time: two intervals of the browser's timer.
    sleep(500).await;
    let scheduled = rig.provider.reasons().matches("plain:scheduled").count();
    assert!(
        (1..=2).contains(&scheduled),
        "want 1 or 2 scheduled refreshes in 500 ms at 200 ms: {}",
        rig.provider.reasons()
    );
    rig.manager.stop();
    let calls = rig.calls();
    // Real time: the browser's timer must not fire after stop().
    sleep(450).await;
    assert_eq!(rig.calls(), calls, "stop() cleared the browser's timer");
}

#[wasm_bindgen_test]
async fn refresh_comes_early_when_exp_demands_it() {
    // A 60 s token with a 10 s margin must be refreshed at exactly 50 s, long before a
    // 5 min interval.
    let rig = Rig::new(
        60_000.0,
        &[
            ("refreshIntervalMs", ms(300_000.0)),
            ("expiryMarginMs", ms(10_000.0)),
        ],
    );
    let t0 = rig.now();
    rig.manager.start().unwrap();
    rig.advance(0.0).await;
    let first = rig.provider.token().unwrap();
    assert_eq!(
        rig.manager.token_expires_at().as_f64(),
        Some(t0 + 60_000.0),
        "tokenExpiresAt follows exp"
    );
    assert_eq!(
        rig.clock().next_due(),
        Some(t0 + 50_000.0),
        "due at exp - margin"
    );
    rig.advance(49_999.0).await;
    assert_eq!(
        rig.provider.token().unwrap(),
        first,
        "not before exp - margin"
    );
    assert_eq!(rig.events.count("tokenRefreshed"), 1);
    rig.advance(1.0).await;
    assert_ne!(rig.provider.token().unwrap(), first, "refreshed before exp");
    assert_eq!(rig.events.count("tokenRefreshed"), 2);
    assert!(rig.manager.is_authenticated());
    // The provider's cache still held the first token (10 s left, inside the margin), so
    // the scheduled refresh escalated to a forced one.
    assert_eq!(
        rig.provider.reasons(),
        "plain:initial,plain:scheduled,forced:scheduled"
    );
    assert_eq!(
        rig.manager.token_expires_at().as_f64(),
        Some(t0 + 110_000.0)
    );
    rig.manager.stop();
}

#[wasm_bindgen_test]
async fn a_token_inside_the_margin_is_refreshed_before_it_is_sent() {
    let rig = Rig::new(60_000.0, &[("expiryMarginMs", ms(10_000.0))]);
    rig.get("/api/first").await.unwrap();
    let first = rig.provider.token().unwrap();
    // 1 ms outside the margin: still sent as it is.
    rig.advance(49_999.0).await;
    assert_eq!(rig.get("/api/second").await.unwrap(), 200);
    assert_eq!(rig.provider.token().unwrap(), first);
    assert_eq!(rig.calls(), 1);
    // 10 s left: inside the margin, not yet expired.
    rig.advance(1.0).await;
    assert_eq!(rig.get("/api/third").await.unwrap(), 200);
    let third = rig.provider.token().unwrap();
    assert_ne!(first, third);
    assert_eq!(
        rig.backend.count(),
        3,
        "no request went out with the old token and got a 401"
    );
    assert_eq!(rig.backend.auth(-1), Some(["Bearer ", &third].concat()));
}

#[wasm_bindgen_test]
async fn waking_up_after_a_throttled_sleep_refreshes_at_once() {
    // A hidden tab's timers are throttled: time passes (`skip`) while our timer does not
    // fire. The wake-up events must catch the expiry anyway, before any timer runs.
    let rig = Rig::new(
        60_000.0,
        &[
            ("refreshIntervalMs", ms(300_000.0)),
            ("expiryMarginMs", ms(10_000.0)),
        ],
    );
    rig.manager.start().unwrap();
    rig.advance(0.0).await;
    let fired = rig.clock().fired();
    for (event, expected) in [("visibilitychange", 2), ("pageshow", 3), ("online", 4)] {
        rig.clock().skip(55_000.0); // past exp - margin, before exp
        wake(event);
        rig.clock().flush().await;
        assert_eq!(
            rig.events.count("tokenRefreshed"),
            expected,
            "{event} refreshes once"
        );
        assert!(rig.manager.is_authenticated(), "{event}");
        assert_eq!(
            rig.clock().next_due(),
            Some(rig.now() + 50_000.0),
            "{event}: the timer moved to the new token's exp - margin"
        );
    }
    assert_eq!(
        rig.clock().fired(),
        fired,
        "no timer fired: the events did it"
    );
    rig.manager.stop();
    rig.clock().skip(55_000.0);
    wake("online");
    rig.clock().flush().await;
    assert_eq!(
        rig.events.count("tokenRefreshed"),
        4,
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
    let mark = log_mark();
    let undo = break_storage();
    let status = rig.get("/api/me").await;
    let signed_out = settle(rig.manager.sign_out()).await;
    undo.call0(&JsValue::UNDEFINED).unwrap();
    assert_eq!(status.unwrap(), 200, "requests still work");
    assert!(signed_out.is_ok(), "signOut does not throw");
    assert_eq!(
        logged_since(mark, "warn", &["localStorage refused"]),
        1,
        "the fallback is logged, once"
    );
}

#[wasm_bindgen_test]
async fn sign_out_during_a_refresh_discards_its_token() {
    let rig = Rig::new(60_000.0, &[]);
    rig.provider.set_delay_ms(100.0);
    let pending = rig
        .manager
        .fetch_with_auth("/api/me".into(), JsValue::UNDEFINED);
    rig.advance(20.0).await; // the provider is still answering
    assert_eq!(rig.calls(), 1);
    rig.prompt(rig.manager.sign_out()).await.unwrap();
    let err = rig.prompt(pending).await.unwrap_err();
    assert_session_error(&err, "unauthenticated");
    rig.advance(80.0).await; // the provider's answer lands
    assert_eq!(rig.clock().pending(), 0, "the provider has answered");
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
    let t0 = rig.now();
    let promises: Array = (0..20)
        .map(|_| {
            rig.manager
                .fetch_with_auth("/api/x".into(), JsValue::UNDEFINED)
        })
        .collect();
    let all = rig
        .within(js_sys::Promise::all(&promises), 30)
        .await
        .expect("settled once the provider answered")
        .unwrap();
    assert_eq!(
        rig.now(),
        t0 + 30.0,
        "all 20 settled when the one answer came"
    );
    for response in Array::from(&all).iter() {
        assert_eq!(status(&response), 200);
    }
    assert_eq!(rig.calls(), 1);
    assert_eq!(rig.backend.count(), 20);
}

#[wasm_bindgen_test]
async fn refresh_token_is_forced_and_single_flight() {
    let rig = Rig::new(60_000.0, &[]);
    rig.provider.set_delay_ms(20.0);
    let a = rig.manager.refresh_token();
    let b = rig.manager.refresh_token();
    let both = rig
        .within(js_sys::Promise::all(&Array::of2(&a, &b)), 20)
        .await
        .expect("settled once the provider answered")
        .unwrap();
    let (a, b) = (Array::from(&both).get(0), Array::from(&both).get(1));
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
        ("clock", "now".into()),
        // A clock without clearTimeout: the error names `clock.clearTimeout`.
        (
            "clock",
            obj(&[
                ("now", get.clone().into()),
                ("setTimeout", get.clone().into()),
            ]),
        ),
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
        &[
            ("storageKeys", keys.into()),
            ("tokenTimeoutMs", ms(10_000.0)),
        ],
    );
    rig.manager.start().unwrap();
    rig.get("/api/a").await.unwrap();
    rig.backend.revoke(&rig.provider.token().unwrap());
    rig.get("/api/b").await.unwrap();
    rig.prompt(rig.manager.refresh_token()).await.unwrap();
    let mut codes = vec![];
    for mode in ["throw", "reject", "hang", "number", "null"] {
        rig.provider.set_mode(mode);
        // A hanging provider costs exactly tokenTimeoutMs; the others answer at once.
        let t0 = rig.now();
        let outcome = rig.within(rig.manager.refresh_token(), 10_000).await;
        let took = rig.now() - t0;
        let error = match outcome {
            Ok(Err(e)) => e,
            other => panic!("{mode}: {}", describe(&other)),
        };
        assert!(
            !error_text(&error).contains(LEAK_MARK),
            "{}",
            error_text(&error)
        );
        codes.push(format!(
            "{mode}:{}:{took}",
            error_code(&error).unwrap_or_default()
        ));
    }
    assert_eq!(
        codes.join(","),
        "throw:refresh_failed:0,reject:refresh_failed:0,hang:timeout:10000,\
         number:refresh_failed:0,null:unauthenticated:0"
    );
    rig.provider.set_mode("ok");
    rig.backend.set_mode("reject");
    let _ = rig
        .within(
            rig.manager
                .fetch_with_auth("/api/c".into(), JsValue::UNDEFINED),
            SOON,
        )
        .await;
    let undo = break_storage();
    let _ = rig.within(rig.manager.refresh_token(), SOON).await;
    undo.call0(&JsValue::UNDEFINED).unwrap();
    rig.prompt(rig.manager.sign_out()).await.unwrap();
    assert!(logged_lines() > 5, "the library logged at debug level");
    rig.assert_no_leaks();
}
