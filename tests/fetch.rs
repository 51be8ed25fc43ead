//! fetchWithAuth in headless Chrome: origin allow-list, retry-once, single flight, stale
//! 401s, body replay, timeouts and aborts. The provider and backend are JS doubles
//! (tests/support/harness.js); everything else is the real library in a real browser.
#![cfg(target_arch = "wasm32")]

mod support;

use futures_util_free::join_all;
use js_sys::{Array, Reflect};
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// `join_all` without a futures dependency: JS promises already run concurrently.
mod futures_util_free {
    use js_sys::{Array, Promise};
    use wasm_bindgen::JsValue;

    pub async fn join_all(promises: Vec<Promise>) -> Vec<JsValue> {
        let all = Promise::all_settled(&promises.into_iter().collect::<Array>());
        let settled: Array = wasm_bindgen_futures::JsFuture::from(all)
            .await
            .unwrap()
            .into();
        settled
            .iter()
            .map(|s| js_sys::Reflect::get(&s, &"value".into()).unwrap())
            .collect()
    }
}

#[wasm_bindgen_test]
async fn bearer_goes_only_to_allowed_origins() {
    let rig = Rig::new(60_000.0, &[]);
    assert_eq!(rig.get("/api/same-origin").await.unwrap(), 200);
    let token = rig.provider.token().unwrap();
    assert_eq!(rig.backend.auth(-1), Some(["Bearer ", &token].concat()));

    // Another origin: passes through untouched, no header, no retry on its 401.
    let status = rig.get("https://elsewhere.example/api").await.unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        rig.backend.auth(-1),
        None,
        "bearer leaked to another origin"
    );
    assert_eq!(
        rig.backend.count(),
        2,
        "a foreign 401 must not trigger a retry"
    );
    assert_eq!(rig.provider.forced(), 0);

    // A URL object and a Request to another origin behave the same.
    let url = web_sys::Url::new("https://elsewhere.example/x").unwrap();
    settle(rig.manager.fetch_with_auth(url.into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(rig.backend.auth(-1), None);
    let request = web_sys::Request::new_with_str("https://elsewhere.example/y").unwrap();
    settle(
        rig.manager
            .fetch_with_auth(request.into(), JsValue::UNDEFINED),
    )
    .await
    .unwrap();
    assert_eq!(rig.backend.auth(-1), None);
}

#[wasm_bindgen_test]
async fn extra_allowed_origins_get_the_bearer_and_bad_entries_are_refused() {
    let origins = Array::of2(
        &"https://api.example.com".into(),
        &"http://localhost:9999/".into(),
    );
    let rig = Rig::new(60_000.0, &[("allowedOrigins", origins.into())]);
    rig.get("https://api.example.com/v1/me").await.unwrap();
    assert!(rig.backend.auth(-1).is_some());
    rig.get("http://localhost:9999/x").await.unwrap();
    assert!(
        rig.backend.auth(-1).is_some(),
        "trailing slash in config is normalised"
    );
    rig.get("https://api.example.com.evil.test/").await.unwrap();
    assert_eq!(rig.backend.auth(-1), None, "suffix match must not count");
    rig.get("HTTPS://API.Example.COM:443").await.unwrap();
    assert!(
        rig.backend.auth(-1).is_some(),
        "case and the default port are normalised"
    );
    rig.get("https://api.example.com:8443/x").await.unwrap();
    assert_eq!(rig.backend.auth(-1), None, "another port is another origin");
    rig.get("https://api.example.com?q=https://x/")
        .await
        .unwrap();
    assert!(rig.backend.auth(-1).is_some(), "no path, a query");
    rig.get("/same-origin-not-listed").await.unwrap();
    assert_eq!(
        rig.backend.auth(-1),
        None,
        "an explicit list replaces the page origin"
    );

    for bad in [
        "*",
        "https://api.example.com/v1",
        "null",
        "file:///etc",
        "not a url",
        "javascript:alert(1)",
    ] {
        let provider = Provider::new(1000.0);
        let backend = Backend::new(&provider);
        let cfg = config(
            &provider,
            &backend,
            &obj(&[("allowedOrigins", Array::of1(&bad.into()).into())]),
        );
        let err = session_keeper::testing::SessionManager::new(cfg)
            .err()
            .expect(bad);
        assert_session_error(&err, "config");
        assert!(
            error_text(&err).contains("allowedOrigins"),
            "{}",
            error_text(&err)
        );
    }
}

#[wasm_bindgen_test]
async fn callers_own_authorization_header_is_kept() {
    let rig = Rig::new(60_000.0, &[]);
    let init = obj(&[(
        "headers",
        obj(&[("Authorization", "Basic dXNlcjpwYXNz".into())]),
    )]);
    let status = rig.fetch("/api/basic", &init).await.unwrap();
    assert_eq!(rig.backend.auth(-1).as_deref(), Some("Basic dXNlcjpwYXNz"));
    assert_eq!(status, 401);
    assert_eq!(
        rig.provider.plain() + rig.provider.forced(),
        0,
        "no token is fetched for a caller-authorised request"
    );
}

#[wasm_bindgen_test]
async fn a_401_refreshes_and_retries_exactly_once() {
    let rig = Rig::new(60_000.0, &[]);
    let first = rig.warm_then_revoke().await;
    assert_eq!(rig.get("/api/data").await.unwrap(), 200);
    assert_eq!(rig.provider.forced(), 1);
    assert_eq!(rig.backend.count(), 3, "warm-up, the 401, the one retry");
    assert_eq!(rig.backend.auth(-2), Some(["Bearer ", &first].concat()));
    assert_eq!(
        rig.backend.auth(-1),
        Some(["Bearer ", &rig.provider.token().unwrap()].concat())
    );
    assert!(
        rig.provider.reasons().ends_with("forced:unauthorized"),
        "{}",
        rig.provider.reasons()
    );
    assert_eq!(rig.events.count("sessionExpired"), 0);
}

#[wasm_bindgen_test]
async fn a_403_with_requires_refresh_in_detail_is_treated_like_a_401() {
    let rig = Rig::new(60_000.0, &[]);
    rig.get("/api/warm").await.unwrap();
    rig.backend.script(
        403,
        r#"{"detail":{"error":"Token has expired","requires_refresh":true}}"#,
        &JsValue::UNDEFINED,
    );
    assert_eq!(rig.get("/api/data").await.unwrap(), 200);
    assert_eq!(rig.provider.forced(), 1);
    // A plain 403 (no hint) is a real "forbidden": returned as is, no refresh.
    rig.backend
        .script(403, r#"{"detail":"Not allowed"}"#, &JsValue::UNDEFINED);
    assert_eq!(rig.get("/api/admin").await.unwrap(), 403);
    assert_eq!(rig.provider.forced(), 1);
}

#[wasm_bindgen_test]
async fn a_late_401_for_a_replaced_token_resends_without_refreshing() {
    let rig = Rig::new(60_000.0, &[]);
    rig.warm_then_revoke().await;
    let release = rig.backend.hold_next();
    // B is sent with the first token and held; A gets its 401, refreshes and succeeds.
    let b = rig
        .manager
        .fetch_with_auth("/api/b".into(), JsValue::UNDEFINED);
    rig.clock().flush().await; // B reaches the backend (no time passes)
    assert_eq!(rig.backend.count(), 2, "the warm-up and B");
    assert_eq!(rig.get("/api/a").await.unwrap(), 200);
    assert_eq!(rig.provider.forced(), 1);
    // Now B's 401 for the replaced token arrives.
    release.call0(&JsValue::UNDEFINED).unwrap();
    let status = status(&rig.prompt(b).await.unwrap());
    assert_eq!(status, 200);
    assert_eq!(
        rig.provider.forced(),
        1,
        "the stale 401 must not start a second refresh"
    );
    assert_eq!(rig.backend.url(-1), rig.backend.url(1), "B was resent");
    assert_eq!(
        rig.backend.auth(-1),
        Some(["Bearer ", &rig.provider.token().unwrap()].concat())
    );
}

#[wasm_bindgen_test]
async fn a_storm_of_100_401s_causes_one_refresh_and_100_retries() {
    let rig = Rig::new(60_000.0, &[]);
    rig.warm_then_revoke().await;
    let before = rig.backend.count();
    let promises = (0..100)
        .map(|i| {
            rig.manager
                .fetch_with_auth(format!("/api/item/{i}").into(), JsValue::UNDEFINED)
        })
        .collect();
    let responses = join_all(promises).await;
    assert!(
        responses.iter().all(|r| status(r) == 200),
        "every request ends in 200"
    );
    assert_eq!(
        rig.provider.forced(),
        1,
        "exactly one forced refresh: {}",
        rig.provider.reasons()
    );
    assert_eq!(
        rig.backend.count() - before,
        200,
        "100 first tries and 100 retries"
    );
}

#[wasm_bindgen_test]
async fn a_second_401_ends_in_exactly_one_session_expired() {
    let expired_calls = Array::new();
    let on_expired = Closure::<dyn FnMut()>::new({
        let calls = expired_calls.clone();
        move || {
            calls.push(&JsValue::TRUE);
        }
    });
    let rig = Rig::new(
        60_000.0,
        &[("onSessionExpired", on_expired.as_ref().clone())],
    );
    rig.get("/api/warm").await.unwrap();
    let before = rig.backend.count();
    rig.backend.set_mode("reject");
    let promises = (0..10)
        .map(|_| {
            rig.manager
                .fetch_with_auth("/api/x".into(), JsValue::UNDEFINED)
        })
        .collect();
    let responses = join_all(promises).await;
    assert!(
        responses.iter().all(|r| status(r) == 401),
        "callers get the final 401 response"
    );
    assert_eq!(
        rig.backend.count() - before,
        20,
        "each request retried at most once"
    );
    assert_eq!(rig.events.count("sessionExpired"), 1);
    assert_eq!(expired_calls.length(), 1, "onSessionExpired called once");
    assert_eq!(rig.provider.forced(), 1);
    rig.assert_no_leaks();
}

#[wasm_bindgen_test]
async fn no_token_means_nothing_is_sent_and_unauthenticated() {
    let rig = Rig::new(60_000.0, &[]);
    rig.provider.set_mode("null");
    let err = rig.get("/api/me").await.unwrap_err();
    assert_session_error(&err, "unauthenticated");
    assert_eq!(rig.backend.count(), 0, "no anonymous request");
    assert_eq!(rig.events.count("sessionExpired"), 1);
    assert!(!rig.manager.is_authenticated());
}

#[wasm_bindgen_test]
async fn every_body_type_is_replayed_byte_for_byte() {
    for pair in bodies().iter() {
        let pair: Array = pair.into();
        let (name, init) = (pair.get(0).as_string().unwrap(), pair.get(1));
        let rig = Rig::new(60_000.0, &[]);
        rig.warm_then_revoke().await;
        assert_eq!(
            rig.fetch("/api/upload", &init).await.unwrap(),
            200,
            "{name}"
        );
        let (first, retry) = (rig.backend.body(-2), rig.backend.body(-1));
        assert!(
            first.as_deref().is_some_and(|b| !b.is_empty()),
            "{name}: first body empty"
        );
        assert_eq!(first, retry, "{name}: retry body differs");
        assert_eq!(
            rig.backend.content_type(-2),
            rig.backend.content_type(-1),
            "{name}: content-type differs"
        );
    }
}

#[wasm_bindgen_test]
async fn a_stream_body_is_sent_once_and_its_401_returned() {
    let rig = Rig::new(60_000.0, &[]);
    rig.warm_then_revoke().await;
    let before = rig.backend.count();
    assert_eq!(rig.fetch("/api/stream", &stream_init()).await.unwrap(), 401);
    assert_eq!(rig.backend.count() - before, 1, "not replayed");
    assert_eq!(rig.backend.body(-1).as_deref(), Some("streamed"));
    rig.clock().flush().await; // the refresh the 401 started lands (no time passes)
    assert_eq!(
        rig.provider.forced(),
        1,
        "the token is still refreshed for the next call"
    );
    assert_eq!(rig.get("/api/after").await.unwrap(), 200);
}

#[wasm_bindgen_test]
async fn a_hanging_provider_times_out() {
    // The default tokenTimeoutMs (10 s), to the millisecond.
    let rig = Rig::new(60_000.0, &[]);
    rig.provider.set_mode("hang");
    let pending = rig
        .manager
        .fetch_with_auth("/api/me".into(), JsValue::UNDEFINED);
    let t0 = rig.now();
    assert_eq!(
        rig.within(pending.clone(), 9_999).await,
        Err(()),
        "pending at 9.999 s"
    );
    let err = rig.within(pending, 1).await.unwrap().unwrap_err();
    assert_eq!(
        rig.now() - t0,
        10_000.0,
        "rejected at exactly tokenTimeoutMs"
    );
    assert_session_error(&err, "timeout");
    assert_eq!(rig.backend.count(), 0);
    assert_eq!(rig.calls(), 1);
    assert_eq!(rig.events.count("refreshFailed"), 1);
    assert!(rig
        .events
        .last("refreshFailed")
        .unwrap()
        .contains("\"code\":\"timeout\""));
}

#[wasm_bindgen_test]
async fn provider_failures_are_typed() {
    for (mode, code) in [
        ("throw", "refresh_failed"),
        ("reject", "refresh_failed"),
        ("number", "refresh_failed"),
    ] {
        let rig = Rig::new(60_000.0, &[]);
        rig.provider.set_mode(mode);
        let err = rig.get("/api/me").await.unwrap_err();
        assert_session_error(&err, code);
        assert_eq!(rig.backend.count(), 0, "{mode}");
        rig.assert_no_leaks();
    }
}

#[wasm_bindgen_test]
async fn a_hanging_request_is_aborted_by_request_timeout() {
    // The default requestTimeoutMs (30 s), to the millisecond.
    let rig = Rig::new(60_000.0, &[]);
    rig.backend.set_mode("hang");
    let pending = rig
        .manager
        .fetch_with_auth("/api/slow".into(), JsValue::UNDEFINED);
    let t0 = rig.now();
    assert_eq!(
        rig.within(pending.clone(), 29_999).await,
        Err(()),
        "pending at 29.999 s"
    );
    let err = rig.within(pending, 1).await.unwrap().unwrap_err();
    assert_eq!(
        rig.now() - t0,
        30_000.0,
        "aborted at exactly requestTimeoutMs"
    );
    assert_session_error(&err, "timeout");
    assert_eq!(rig.backend.count(), 1, "sent once, not retried");
}

#[wasm_bindgen_test]
async fn the_callers_abort_signal_stops_the_request_and_its_retry() {
    let rig = Rig::new(60_000.0, &[]);
    rig.warm_then_revoke().await;
    rig.provider.set_delay_ms(100.0);
    let controller = web_sys::AbortController::new().unwrap();
    let init = obj(&[("signal", controller.signal().into())]);
    let pending = rig.manager.fetch_with_auth("/api/abortable".into(), init);
    rig.advance(30.0).await; // the 401 came back; the refresh is under way
    assert_eq!(rig.calls(), 2, "the sign-in and the forced refresh");
    let before = rig.backend.count();
    controller.abort();
    // The call rejects at the abort itself, as fetch would, not when the refresh lands
    // (70 ms on); the refresh goes on for everyone else.
    let err = match rig.within(pending, SOON).await {
        Ok(Err(err)) => err,
        other => panic!("want a rejection, got {}", describe(&other)),
    };
    assert_eq!(
        error_name(&err).as_deref(),
        Some("AbortError"),
        "{}",
        error_text(&err)
    );
    rig.advance(150.0).await; // whatever was left of the refresh lands
    assert_eq!(rig.provider.forced(), 1);
    assert_eq!(rig.backend.count(), before, "no retry after abort");

    // Aborting while the request itself is in flight rejects at once.
    let controller = web_sys::AbortController::new().unwrap();
    rig.backend.hold_next();
    let pending = rig.manager.fetch_with_auth(
        "/api/held".into(),
        obj(&[("signal", controller.signal().into())]),
    );
    rig.clock().flush().await; // the request reaches the backend and is held
    assert_eq!(rig.backend.count(), before + 1);
    controller.abort();
    let err = rig.prompt(pending).await.unwrap_err();
    assert_eq!(error_name(&err).as_deref(), Some("AbortError"));

    // A signal aborted before the call, which needs a refresh first: rejected at once, and
    // nothing is sent for it.
    rig.advance(60_000.0).await; // past the token's margin
    let controller = web_sys::AbortController::new().unwrap();
    controller.abort();
    let sent = rig.backend.count();
    let pending = rig.manager.fetch_with_auth(
        "/api/late".into(),
        obj(&[("signal", controller.signal().into())]),
    );
    let err = match rig.within(pending, SOON).await {
        Ok(Err(err)) => err,
        other => panic!("want a rejection at once, got {}", describe(&other)),
    };
    assert_eq!(error_name(&err).as_deref(), Some("AbortError"));
    rig.advance(1_000.0).await;
    assert_eq!(rig.backend.count(), sent, "nothing was sent for it");
}

#[wasm_bindgen_test]
async fn a_network_failure_is_a_network_error_with_its_cause() {
    let provider = Provider::new(60_000.0);
    let backend = Backend::new(&provider);
    let failing =
        js_sys::Function::new_no_args("return Promise.reject(new TypeError('Failed to fetch'))");
    let cfg = config(&provider, &backend, &obj(&[("fetch", failing.into())]));
    let manager = session_keeper::testing::SessionManager::new(cfg).unwrap();
    let err = settle(manager.fetch_with_auth("/api/x".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_session_error(&err, "network");
    let cause = Reflect::get(&err, &"cause".into()).unwrap();
    assert_eq!(error_name(&cause).as_deref(), Some("TypeError"));
}
