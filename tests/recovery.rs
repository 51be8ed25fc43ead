//! Recovery after a backend restart, in headless Chrome: the shared cooldown, the three
//! probes, the credits retries (zero, 5xx, Retry-After, offline) and the auth-stability
//! wait. The backend double (tests/support/harness.js) behaves like the real ones: after
//! `restart()` its credits read 0 until a `POST /auth/verify` with the token succeeds.
#![cfg(target_arch = "wasm32")]

mod support;

use js_sys::{Array, Promise};
use session_keeper::testing::SessionManager;
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const LAST_ATTEMPT: &str = "last_recovery_attempt";

/// Every test starts with no recovery on record.
fn fresh(extra: &[(&str, JsValue)]) -> Rig {
    storage_remove(LAST_ATTEMPT);
    Rig::new(60_000.0, extra)
}

/// `triggerSessionRecoveryCheck(trigger)` → (ran, reason), checking the outcome's shape.
/// It must settle without virtual time passing (the probes answer at once).
async fn check(manager: &SessionManager, trigger: &str) -> (bool, String) {
    let outcome = prompt(manager.trigger_session_recovery_check(trigger.into()))
        .await
        .expect("a recovery check always resolves");
    assert_eq!(
        field(&outcome, "trigger").as_string().as_deref(),
        Some(trigger)
    );
    (
        field(&outcome, "ran").as_bool().unwrap(),
        field(&outcome, "reason").as_string().unwrap(),
    )
}

/// `updateCredits({ forceRefresh })` on the rig's virtual clock: its retries wait their
/// (virtual) delays. The result, and the virtual ms it took.
async fn credits(rig: &Rig, force: bool) -> (Result<f64, JsValue>, f64) {
    let options = obj(&[("forceRefresh", JsValue::from_bool(force))]);
    let t0 = rig.now();
    let outcome = rig.within(rig.manager.update_credits(options), SLOW).await;
    let result = outcome
        .expect("updateCredits settles")
        .map(|v| v.as_f64().expect("credits resolve to a number"));
    (result, rig.now() - t0)
}

/// Every promise's value, on the rig's virtual clock (retries wait their delays).
async fn all(rig: &Rig, promises: Vec<Promise>) -> Vec<JsValue> {
    let list: Array = promises.into_iter().collect();
    let settled = rig
        .within(Promise::all(&list), SLOW)
        .await
        .expect("all settle")
        .unwrap();
    Array::from(&settled).to_vec()
}

// ----- the restart scenario -----

#[wasm_bindgen_test]
async fn a_restarted_backend_heals_with_exactly_one_recovery_check() {
    let rig = fresh(&[
        ("credits", credit_retries(3.0)),
        ("checkSession", JsValue::TRUE),
    ]);
    let recovered = WindowEvents::new("auth-recovered");
    storage_set("user_credits_cache", "0");
    rig.get("/api/warm").await.unwrap();
    // Restarted: the session cache is gone until a verify, and two more reads after it
    // still answer 0 (the cache refills lazily), so the page reads 0, 0, then 100.
    rig.backend.restart();
    rig.backend.set_zero_reads(2);

    // Many callers at once: credits readers and explicit checks.
    let mut calls: Vec<Promise> = (0..5)
        .map(|_| rig.manager.update_credits(JsValue::UNDEFINED))
        .collect();
    calls.extend((0..5).map(|_| rig.manager.trigger_session_recovery_check("manual".into())));
    let results = all(&rig, calls).await;

    for credits in &results[..5] {
        assert_eq!(credits.as_f64(), Some(100.0), "the page shows 100 again");
    }
    let ran = results[5..]
        .iter()
        .filter(|o| field(o, "ran").as_bool() == Some(true))
        .count();
    assert_eq!(
        rig.events.count("recoveryCheck"),
        1,
        "one check per cooldown"
    );
    // The first explicit call ran it (the page's read of 0 retries only after a delay);
    // the other four, and the retry's zero, met the cooldown.
    assert_eq!(ran, 1, "exactly one of the explicit calls ran the check");
    assert_eq!(rig.events.count("recovered"), 1);
    assert_eq!(recovered.count(), 1, "auth-recovered dispatched once");
    assert_eq!(
        rig.events.count("creditsUpdated"),
        1,
        "five callers, one shared read"
    );
    assert_eq!(
        rig.events.last("creditsUpdated").as_deref(),
        Some(r#"{"credits":100}"#)
    );
    assert_eq!(
        storage_get("user_credits_cache"),
        None,
        "the stale cache is gone"
    );
    assert!(!rig.backend.restarted(), "the session was verified again");
    assert_eq!(
        rig.backend.hits("/auth/verify"),
        2,
        "the probe and the re-verify"
    );
    // The page's first read (0: it went out before the check), the probe's (0), then the
    // page's retries: 0, 0 (the cache refills lazily) and 100.
    assert_eq!(rig.backend.hits("/api/users/credits"), 5);
    assert!(rig
        .backend
        .url(-1)
        .ends_with("/api/users/credits?refresh=true"));
    assert_eq!(rig.provider.reasons(), "plain:initial,forced:recovery");
    assert_eq!(
        rig.events.count("sessionExpired"),
        0,
        "healed without a logout"
    );
    recovered.close();
    rig.assert_no_leaks();
}

#[wasm_bindgen_test]
async fn a_healthy_session_is_probed_and_left_alone() {
    let rig = fresh(&[("checkSession", JsValue::TRUE)]);
    assert_eq!(
        check(&rig.manager, "manual").await,
        (true, "healthy".into())
    );
    let token = rig.provider.token().unwrap();
    assert_eq!(rig.provider.session_checks(), 1);
    assert_eq!(rig.backend.hits("/api/users/credits"), 1);
    // The verify probe: POST, bearer header, and the token in a JSON body.
    let verify = (0..rig.backend.count() as i32)
        .find(|&i| rig.backend.url(i).ends_with("/auth/verify"))
        .unwrap();
    assert_eq!(rig.backend.auth(verify), Some(["Bearer ", &token].concat()));
    assert_eq!(
        rig.backend.body(verify),
        Some([r#"{"token":""#, &token, r#""}"#].concat())
    );
    assert_eq!(
        rig.backend.content_type(verify).as_deref(),
        Some("application/json")
    );
    assert_eq!(rig.provider.forced(), 0, "healthy: no forced refresh");
    assert_eq!(rig.events.count("recovered"), 0);
    assert!(storage_get(LAST_ATTEMPT).is_some());
    rig.assert_no_leaks();
}

#[wasm_bindgen_test]
async fn the_verify_probe_waits_for_the_credits_answer() {
    // A verify heals a restarted backend; sent alongside, it could be served first and make
    // the credits probe read a healthy value, hiding the restart.
    let rig = fresh(&[("checkSession", JsValue::TRUE)]);
    rig.get("/api/warm").await.unwrap();
    let release = rig.backend.hold_next();
    let pending = rig.manager.trigger_session_recovery_check("order".into());
    rig.clock().flush().await; // the probes go out (no time passes)
    assert_eq!(rig.backend.hits("/api/users/credits"), 1);
    assert_eq!(
        rig.backend.hits("/auth/verify"),
        0,
        "verify went out before credits answered"
    );
    assert_eq!(
        rig.provider.session_checks(),
        1,
        "checkSession runs alongside"
    );
    release.call0(&JsValue::NULL).unwrap();
    let outcome = rig.prompt(pending).await.unwrap();
    assert_eq!(
        field(&outcome, "reason").as_string().as_deref(),
        Some("healthy")
    );
    assert_eq!(rig.backend.hits("/auth/verify"), 1);
}

#[wasm_bindgen_test]
async fn each_unhealthy_probe_alone_starts_a_recovery() {
    // (what breaks, which probe names it)
    for (broken, probe) in [
        ("credits", "credits"),
        ("verify", "verify"),
        ("session", "checkSession"),
    ] {
        let rig = fresh(&[
            ("checkSession", JsValue::TRUE),
            ("recoveryCooldownMs", ms(60_000.0)),
        ]);
        rig.get("/api/warm").await.unwrap();
        match broken {
            "credits" => rig.backend.set_zero_reads(1),
            "verify" => rig.backend.set_verify_refusals(1),
            _ => rig.provider.set_session_mode("false"),
        }
        let outcome = check(&rig.manager, broken).await;
        // checkSession false: the provider is asked for a token anyway (it has one here).
        assert_eq!(outcome, (true, "recovered".into()), "{broken}");
        // The exact list, as the published type names the probes.
        assert_eq!(
            rig.events.last("recovered").unwrap(),
            [
                "{\"trigger\":\"",
                broken,
                "\",\"unhealthy\":[\"",
                probe,
                "\"]}"
            ]
            .concat(),
            "{broken}"
        );
    }
}

// ----- the cooldown -----

#[wasm_bindgen_test]
async fn two_managers_sharing_local_storage_share_the_cooldown() {
    // The default cooldown, 30 s, to the millisecond; two tabs on one clock.
    let a = fresh(&[]);
    let b = a.beside(60_000.0, &[]);
    assert_eq!(check(&a.manager, "tab-a").await, (true, "healthy".into()));
    let before = b.backend.count();
    assert_eq!(check(&b.manager, "tab-b").await, (false, "cooldown".into()));
    assert_eq!(
        b.backend.count(),
        before,
        "a check inside the cooldown sends nothing"
    );
    assert_eq!(b.events.count("recoveryCheck"), 0);
    b.advance(29_999.0).await;
    assert_eq!(check(&b.manager, "tab-b").await, (false, "cooldown".into()));
    b.advance(1.0).await;
    assert_eq!(check(&b.manager, "tab-b").await, (true, "healthy".into()));
    assert_eq!(check(&a.manager, "tab-a").await, (false, "cooldown".into()));
}

#[wasm_bindgen_test]
async fn garbage_negative_and_far_future_stamps_do_not_block_recovery() {
    let now = VirtualClock::new().now();
    let far_future = (now + 3_600_000.0).to_string();
    for stamp in [
        "garbage",
        "-5",
        "1e99",
        "NaN",
        "",
        "1.5",
        far_future.as_str(),
    ] {
        let rig = fresh(&[("recoveryCooldownMs", ms(60_000.0))]);
        storage_set(LAST_ATTEMPT, stamp);
        assert!(
            check(&rig.manager, "x").await.0,
            "stamp {stamp:?} blocked recovery"
        );
        let written: f64 = storage_get(LAST_ATTEMPT).unwrap().parse().unwrap();
        assert_eq!(written, rig.now(), "rewritten as now");
    }
    // A recent stamp (another tab just ran) is obeyed.
    let rig = fresh(&[("recoveryCooldownMs", ms(60_000.0))]);
    storage_set(LAST_ATTEMPT, &(rig.now() - 1_000.0).to_string());
    assert_eq!(check(&rig.manager, "x").await, (false, "cooldown".into()));
    rig.advance(58_999.0).await;
    assert_eq!(check(&rig.manager, "x").await, (false, "cooldown".into()));
    rig.advance(1.0).await;
    assert_eq!(
        check(&rig.manager, "x").await,
        (true, "healthy".into()),
        "60 s after the other tab's"
    );
}

#[wasm_bindgen_test]
async fn storage_that_throws_falls_back_to_an_in_memory_cooldown() {
    let a = fresh(&[]);
    let b = a.beside(60_000.0, &[]);
    let undo_writes = break_storage();
    let undo_reads = break_storage_reads();
    assert_eq!(check(&a.manager, "a").await, (true, "healthy".into()));
    // Same page, storage unusable: the in-memory stamp is shared by every manager.
    assert_eq!(check(&a.manager, "a").await, (false, "cooldown".into()));
    assert_eq!(check(&b.manager, "b").await, (false, "cooldown".into()));
    undo_reads.call0(&JsValue::NULL).unwrap();
    // Reads work again but writes still fail: the memory still guards.
    assert_eq!(check(&b.manager, "b").await, (false, "cooldown".into()));
    undo_writes.call0(&JsValue::NULL).unwrap();
    b.advance(29_999.0).await;
    assert_eq!(check(&b.manager, "b").await, (false, "cooldown".into()));
    b.advance(1.0).await;
    assert_eq!(check(&b.manager, "b").await, (true, "healthy".into()));
    assert!(
        storage_get(LAST_ATTEMPT).is_some(),
        "back to the shared stamp"
    );
}

// ----- failures are bounded and reported once -----

#[wasm_bindgen_test]
async fn every_probe_hanging_is_bounded_by_its_timeout() {
    // The default timeouts: 30 s per request, 10 s per provider call.
    let rig = fresh(&[("checkSession", JsValue::TRUE)]);
    rig.get("/api/warm").await.unwrap();
    rig.backend.set_mode("hang");
    rig.provider.set_session_mode("hang");
    let t0 = rig.now();
    let outcome = rig
        .within(
            rig.manager.trigger_session_recovery_check("hang".into()),
            SLOW * 2,
        )
        .await
        .expect("bounded")
        .unwrap();
    let took = rig.now() - t0;
    // The credits probe times out (30 s; checkSession gave up after 10 s alongside), then
    // the verify probe, which waits for the credits answer (30 s more); the forced
    // refresh works at once and the re-verify times out (30 s more): failed, after exactly
    // three request timeouts.
    assert_eq!(
        field(&outcome, "reason").as_string().as_deref(),
        Some("failed")
    );
    assert_eq!(took, 90_000.0);
    assert_eq!(rig.events.count("refreshFailed"), 1);
    let failed = rig.events.last("refreshFailed").unwrap();
    assert!(failed.contains(r#""reason":"recovery""#), "{failed}");
    assert!(failed.contains(r#""code":"timeout""#), "{failed}");
    assert_eq!(rig.events.count("recovered"), 0);
}

#[wasm_bindgen_test]
async fn a_recovery_that_fails_reports_once_and_never_loops() {
    let rig = fresh(&[
        ("credits", credit_retries(3.0)),
        ("recoveryCooldownMs", ms(60_000.0)),
    ]);
    let recovered = WindowEvents::new("auth-recovered");
    rig.get("/api/warm").await.unwrap();
    rig.backend.restart();
    rig.backend.set_verify_mode("refuse");
    // Credits stay 0: after the last retry the value read is reported, 0 included.
    let (read, took) = credits(&rig, false).await;
    assert_eq!(read.unwrap(), 0.0);
    // Three retries after 1 s, 2 s and 4 s, each jittered into its upper half.
    assert!((3_500.0..=7_000.0).contains(&took), "took {took} ms");
    assert_eq!(
        rig.events.count("recoveryCheck"),
        1,
        "the later zeros hit the cooldown"
    );
    assert_eq!(rig.events.count("refreshFailed"), 1);
    assert!(rig
        .events
        .last("refreshFailed")
        .unwrap()
        .contains("recovery"));
    assert_eq!(recovered.count(), 0);
    assert_eq!(
        rig.backend.hits("/api/users/credits"),
        5,
        "1 read + 1 probe + 3 retries"
    );
    assert_eq!(rig.provider.forced(), 1);
    let settled = rig.backend.count();
    assert_eq!(rig.clock().pending(), 0, "no timer left");
    rig.advance(600_000.0).await;
    assert_eq!(
        rig.backend.count(),
        settled,
        "nothing runs on after the promise settled"
    );
    recovered.close();
}

#[wasm_bindgen_test]
async fn a_provider_failure_during_recovery_is_reported_once() {
    let rig = fresh(&[("recoveryCooldownMs", ms(60_000.0))]);
    rig.get("/api/warm").await.unwrap();
    rig.backend.set_zero_reads(1);
    rig.provider.set_mode("reject");
    assert_eq!(check(&rig.manager, "x").await, (true, "failed".into()));
    assert_eq!(
        rig.events.count("refreshFailed"),
        1,
        "not once by the refresh and again"
    );
    assert!(rig
        .events
        .last("refreshFailed")
        .unwrap()
        .contains(r#""reason":"recovery""#));
    assert_eq!(
        rig.events.count("sessionExpired"),
        0,
        "a failed recovery is not a logout"
    );
}

#[wasm_bindgen_test]
async fn auth_recovered_is_dispatched_exactly_once_per_recovery() {
    let rig = fresh(&[]);
    let recovered = WindowEvents::new("auth-recovered");
    rig.get("/api/warm").await.unwrap();
    rig.backend.restart();
    assert_eq!(check(&rig.manager, "first").await.1, "recovered");
    assert_eq!(recovered.count(), 1);
    assert_eq!(
        recovered.last().as_deref(),
        Some(r#"{"trigger":"first","unhealthy":["credits"]}"#)
    );
    rig.advance(30_000.0).await; // the cooldown
    assert_eq!(check(&rig.manager, "healthy").await.1, "healthy");
    assert_eq!(recovered.count(), 1, "a healthy check dispatches nothing");
    rig.advance(30_000.0).await;
    rig.backend.restart();
    assert_eq!(check(&rig.manager, "second").await.1, "recovered");
    assert_eq!(recovered.count(), 2);
    recovered.close();
}

#[wasm_bindgen_test]
async fn the_verify_endpoint_must_be_on_an_allowed_origin() {
    storage_remove(LAST_ATTEMPT);
    let provider = Provider::new(60_000.0);
    let backend = Backend::new(&provider);
    for (endpoints, field_name) in [
        (
            obj(&[("verify", "https://evil.example/auth/verify".into())]),
            "endpoints.verify",
        ),
        (
            obj(&[("credits", "javascript:alert(1)".into())]),
            "endpoints.credits",
        ),
    ] {
        let err = SessionManager::new(config(
            &provider,
            &backend,
            &obj(&[("endpoints", endpoints)]),
        ))
        .err()
        .expect("must be refused");
        assert_session_error(&err, "config");
        assert!(
            error_text(&err).contains(field_name),
            "{}",
            error_text(&err)
        );
    }
    for (name, value) in [
        ("recoveryCooldownMs", ms(-1.0)),
        ("credits", obj(&[("maxRetries", ms(11.0))])),
        ("credits", obj(&[("baseDelayMs", ms(0.5))])),
        ("credits", "fast".into()),
        ("endpoints", JsValue::from_f64(1.0)),
    ] {
        let err = SessionManager::new(config(&provider, &backend, &obj(&[(name, value)])))
            .err()
            .expect("must be refused");
        assert_session_error(&err, "config");
    }
}

// ----- updateCredits -----

#[wasm_bindgen_test]
async fn credits_accept_both_body_shapes_and_force_bypasses_the_cache() {
    let rig = fresh(&[]);
    assert_eq!(credits(&rig, false).await, (Ok(100.0), 0.0));
    assert!(rig.backend.url(-1).ends_with("/api/users/credits"));
    assert_eq!(credits(&rig, true).await, (Ok(100.0), 0.0));
    assert!(rig
        .backend
        .url(-1)
        .ends_with("/api/users/credits?refresh=true"));
    let auth = Rig::new(
        60_000.0,
        &[("endpoints", obj(&[("credits", "/auth/credits".into())]))],
    );
    assert_eq!(credits(&auth, true).await, (Ok(100.0), 0.0));
    assert!(auth.backend.url(-1).ends_with("/auth/credits?refresh=true"));
    assert_eq!(
        auth.events.last("creditsUpdated").as_deref(),
        Some(r#"{"credits":100}"#)
    );
}

#[wasm_bindgen_test]
async fn odd_credit_bodies_and_statuses_reject_with_bad_response_without_retrying() {
    let rig = fresh(&[("credits", credit_retries(3.0))]);
    rig.get("/api/warm").await.unwrap();
    for (status, body) in [
        (200, "not json"),
        (200, r#"{"credits":"100"}"#),
        (200, r#"{"credits":-3}"#),
        (200, r#"{"success":false,"credits":5}"#),
        (200, "[100]"),
        (404, r#"{"error":"no such route"}"#),
    ] {
        rig.backend.script(status, body, &JsValue::UNDEFINED);
        let before = rig.backend.count();
        let (read, took) = credits(&rig, false).await;
        assert_session_error(&read.unwrap_err(), "bad_response");
        assert_eq!(rig.backend.count(), before + 1, "{body}: no retry");
        assert_eq!(took, 0.0, "{body}: no wait");
    }
    assert_eq!(rig.events.count("creditsUpdated"), 0);
}

#[wasm_bindgen_test]
async fn network_errors_and_5xx_are_retried_then_reject_typed() {
    let rig = fresh(&[("credits", credit_retries(2.0))]);
    rig.get("/api/warm").await.unwrap();
    // Recovers within the retries: a network failure, a 503, then 100.
    rig.backend.set_failures(1);
    rig.backend.script(503, "{}", &JsValue::UNDEFINED);
    let before = rig.backend.count();
    assert_eq!(credits(&rig, false).await.0.unwrap(), 100.0);
    assert_eq!(rig.backend.count(), before + 3);
    // The retries waited 1 s and 2 s, each jittered into its upper half.
    let (first, second) = (rig.backend.gap(-3, -2), rig.backend.gap(-2, -1));
    assert!(
        (500.0..=1_000.0).contains(&first),
        "first retry after {first} ms"
    );
    assert!(
        (1_000.0..=2_000.0).contains(&second),
        "second retry after {second} ms"
    );
    // Spends them all: 1 + 2 attempts, then the last error.
    let before = rig.backend.count();
    rig.backend.set_failures(3);
    let err = credits(&rig, false).await.0.unwrap_err();
    assert_session_error(&err, "network");
    assert_eq!(rig.backend.count(), before + 3);
    for _ in 0..3 {
        rig.backend.script(500, "{}", &JsValue::UNDEFINED);
    }
    let before = rig.backend.count();
    assert_session_error(&credits(&rig, false).await.0.unwrap_err(), "server");
    assert_eq!(rig.backend.count(), before + 3);
}

#[wasm_bindgen_test]
async fn a_zero_after_an_outage_spent_the_retries_still_gets_a_check_and_heals() {
    let rig = fresh(&[
        ("credits", credit_retries(2.0)),
        ("checkSession", JsValue::TRUE),
    ]);
    rig.get("/api/warm").await.unwrap();
    // Down for the first read and the first retry, then up again after a restart: the last
    // retry reads 0 (the credits read 0 until the session is verified).
    rig.backend.set_failures(2);
    rig.backend.restart();
    let verifies = rig.backend.hits("/auth/verify");
    assert_eq!(
        credits(&rig, false).await.0.unwrap(),
        100.0,
        "not the restart's 0"
    );
    assert!(
        rig.backend.hits("/auth/verify") > verifies,
        "the session was checked"
    );
    assert!(!rig.backend.restarted());
}

#[wasm_bindgen_test]
async fn retry_after_is_honoured_in_seconds_and_as_a_date() {
    let rig = fresh(&[("credits", credit_retries(2.0))]);
    rig.get("/api/warm").await.unwrap();
    // Retry-After: 3 is longer than the first backoff delay (at most 1 s): it rules.
    rig.backend
        .script(429, "{}", &obj(&[("Retry-After", "3".into())]));
    assert_eq!(credits(&rig, false).await, (Ok(100.0), 3_000.0));
    assert_eq!(
        rig.backend.gap(-2, -1),
        3_000.0,
        "retried after exactly 3 s"
    );

    // HTTP dates have whole seconds: the wait runs to that second, to the millisecond.
    let date_ms = ((rig.now() + 2_000.0) / 1_000.0).floor() * 1_000.0;
    let date = js_sys::Date::new(&JsValue::from_f64(date_ms)).to_utc_string();
    rig.backend
        .script(503, "{}", &obj(&[("Retry-After", date.into())]));
    let want = date_ms - rig.now(); // more than 1 s: longer than the first backoff delay
    assert_eq!(credits(&rig, false).await, (Ok(100.0), want));
    assert_eq!(
        rig.backend.gap(-2, -1),
        want,
        "retried at the Retry-After date"
    );

    // Longer than maxDelayMs: no retry at all, a typed error at once.
    let before = rig.backend.count();
    rig.backend
        .script(503, "{}", &obj(&[("Retry-After", "3600".into())]));
    let (read, took) = credits(&rig, false).await;
    assert_session_error(&read.unwrap_err(), "server");
    assert_eq!(took, 0.0);
    assert_eq!(rig.backend.count(), before + 1);
}

#[wasm_bindgen_test]
async fn offline_waits_for_online_instead_of_spending_retries() {
    let rig = fresh(&[("credits", credit_retries(0.0))]);
    rig.get("/api/warm").await.unwrap();
    let before = rig.backend.count();
    set_online(false);
    let pending = rig.manager.update_credits(JsValue::UNDEFINED);
    // Offline for just under the request timeout (30 s), which bounds the wait.
    assert_eq!(rig.within(pending.clone(), 29_999).await, Err(()));
    assert_eq!(rig.backend.count(), before, "nothing is sent while offline");
    set_online(true);
    // maxRetries 0: had the wait spent a retry, this would have failed.
    assert_eq!(rig.prompt(pending).await.unwrap().as_f64(), Some(100.0));
    assert_eq!(rig.backend.count(), before + 1);

    // Connection lost mid-read: the failure is not counted, the read waits and goes on.
    rig.backend.set_failures(1);
    rig.backend.set_offline_on_failure(true);
    let before = rig.backend.count();
    let pending = rig.manager.update_credits(JsValue::UNDEFINED);
    assert_eq!(rig.within(pending.clone(), 29_999).await, Err(()));
    assert_eq!(
        rig.backend.count(),
        before + 1,
        "one failed read, then waiting"
    );
    set_online(true);
    assert_eq!(rig.prompt(pending).await.unwrap().as_f64(), Some(100.0));
    assert_eq!(rig.backend.count(), before + 2);
}

#[wasm_bindgen_test]
async fn staying_offline_rejects_with_network_after_the_request_timeout() {
    // The default requestTimeoutMs, 30 s, to the millisecond.
    let rig = fresh(&[]);
    rig.get("/api/warm").await.unwrap();
    let before = rig.backend.count();
    set_online(false);
    let (result, took) = credits(&rig, false).await;
    set_online(true);
    assert_session_error(&result.unwrap_err(), "network");
    assert_eq!(took, 30_000.0);
    assert_eq!(rig.backend.count(), before);
}

#[wasm_bindgen_test]
async fn signed_out_users_get_an_unauthenticated_error_not_a_zero_loop() {
    let rig = fresh(&[("credits", credit_retries(3.0))]);
    rig.provider.set_mode("null");
    let (read, took) = credits(&rig, false).await;
    assert_session_error(&read.unwrap_err(), "unauthenticated");
    assert_eq!(took, 0.0, "at once");
    assert_eq!(
        rig.backend.count(),
        0,
        "no request goes out without a token"
    );
    assert_eq!(rig.events.count("recoveryCheck"), 0);
}

// ----- waitForAuthStability -----

/// `waitForAuthStability({ maxWaitMs, intervalMs })` on the rig's virtual clock: its
/// answer, and the virtual ms it took.
async fn stable(rig: &Rig, max_wait: f64, interval: f64) -> (bool, f64) {
    let options = obj(&[("maxWaitMs", ms(max_wait)), ("intervalMs", ms(interval))]);
    let t0 = rig.now();
    let answer = rig
        .within(rig.manager.wait_for_auth_stability(options), SLOW)
        .await
        .expect("bounded by maxWaitMs")
        .unwrap()
        .as_bool()
        .unwrap();
    (answer, rig.now() - t0)
}

#[wasm_bindgen_test]
async fn a_fresh_page_becomes_stable_by_fetching_its_token() {
    storage_remove("authToken");
    let rig = fresh(&[
        ("checkSession", JsValue::TRUE),
        ("storageKeys", Array::of1(&"authToken".into()).into()),
    ]);
    assert!(!rig.manager.is_authenticated());
    assert_eq!(
        stable(&rig, 10_000.0, 500.0).await,
        (true, 0.0),
        "settled without waiting an interval"
    );
    assert!(rig.manager.is_authenticated());
    assert!(
        storage_get("authToken").is_some(),
        "the mirror caught up too"
    );
    let _ = rig.manager.sign_out();
    storage_remove("authToken");
}

#[wasm_bindgen_test]
async fn a_stale_mirror_without_a_session_settles_signed_out() {
    storage_set("authToken", "stale-token-from-last-visit");
    let rig = fresh(&[
        ("checkSession", JsValue::TRUE),
        ("storageKeys", Array::of1(&"authToken".into()).into()),
    ]);
    rig.provider.set_mode("null");
    rig.provider.set_session_mode("false");
    assert_eq!(stable(&rig, 10_000.0, 500.0).await, (true, 0.0));
    assert_eq!(
        storage_get("authToken"),
        None,
        "the stale mirror was cleared"
    );
    assert!(!rig.manager.is_authenticated());
}

#[wasm_bindgen_test]
async fn sources_that_never_agree_time_out_with_false() {
    let rig = fresh(&[("checkSession", JsValue::TRUE)]);
    // The provider claims a session but hands out no token.
    rig.provider.set_mode("null");
    // The spec's wait: every 500 ms, for up to 10 s.
    assert_eq!(stable(&rig, 10_000.0, 500.0).await, (false, 10_000.0));
    let polls = rig.provider.session_checks();
    assert_eq!(polls, 21, "a sample at 0, 0.5 s, …, 10 s");
    // A checkSession that hangs is bounded by maxWaitMs too.
    rig.provider.set_session_mode("hang");
    assert_eq!(stable(&rig, 10_000.0, 500.0).await, (false, 10_000.0));
}

#[wasm_bindgen_test]
async fn bad_options_reject_with_config() {
    let rig = fresh(&[]);
    for options in [
        obj(&[("maxWaitMs", ms(-1.0))]),
        obj(&[("intervalMs", ms(0.0))]),
        JsValue::from_str("soon"),
    ] {
        let err = settle(rig.manager.wait_for_auth_stability(options))
            .await
            .unwrap_err();
        assert_session_error(&err, "config");
    }
    let err = settle(
        rig.manager
            .update_credits(obj(&[("forceRefresh", "yes".into())])),
    )
    .await
    .unwrap_err();
    assert_session_error(&err, "config");
    let err = settle(
        rig.manager
            .trigger_session_recovery_check(JsValue::from_f64(3.0)),
    )
    .await
    .unwrap_err();
    assert_session_error(&err, "config");
    // Absent options are the documented defaults.
    let stable = rig
        .within(
            rig.manager.wait_for_auth_stability(JsValue::UNDEFINED),
            SLOW,
        )
        .await;
    assert_eq!(stable, Ok(Ok(JsValue::TRUE)), "{}", describe(&stable));
}
