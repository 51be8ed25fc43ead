//! Faults in headless Chrome: missing web APIs (`AbortSignal.any`, `AbortSignal.timeout`,
//! `BroadcastChannel`), tokens that never outlive the margin, a backend that refuses every
//! token, abort reasons, throwing fetches, a freed manager, provider answers of every shape,
//! network faults, odd 401 bodies, clock skew and sleep, broken storage, re-entrant
//! listeners and providers, and `stop`/`free`/`signOut` in the middle of a call. The tests
//! that break `console` (R1 and the hostile-globals row) are in tests/faults_trap.rs.
//!
//! Every scenario asserts four things: every promise settles (bounded by `within`, in
//! virtual milliseconds on the rig's clock, never hung on), nothing is silently dropped (each call has its expected status or
//! SessionError code), no token leaks, and provider and server calls are counted and
//! bounded. Every test also ends with `assert_no_trap()`: the page-wide detector in
//! harness.js records any `RuntimeError: unreachable` or "recursive use of an object", and
//! `Failures::finish` also fails on any uncaught error (a JS exception that escaped a Rust
//! frame without trapping the module).
//!
//! Hostile globals are always undone before asserting, so assertion messages print.
//! Managers are stopped (or freed) before asserting, so a failing test leaves no timer
//! running into the next one. Tables collect every mismatch and report them together.
//!
//! Rigs run on a virtual clock (tests/support/harness.js): timeouts, backoff windows,
//! credit retries and recovery cooldowns are the real defaults and cost no real time, and
//! the counts they produce are exact. Real time is used only where the browser's own timer
//! is under test (`AbortSignal.timeout`). Run with `WASM_BINDGEN_TEST_TIMEOUT=300` all the
//! same: a call that hangs waits out its real bound.
#![cfg(target_arch = "wasm32")]

mod support;

use js_sys::{Array, Function, Promise};
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// =====================================================================================
// R2. Older browsers: no AbortSignal.any, no AbortSignal.timeout, no BroadcastChannel.
// =====================================================================================

/// Every fetchWithAuth shape and updateCredits, with `global` deleted.
async fn every_call_settles_without(global: &str) -> Failures {
    let mut failures = Failures::default();
    storage_remove(LAST_ATTEMPT);
    let rig = Rig::new(
        60_000.0,
        &[
            ("credits", credit_retries(2.0)),
            ("recoveryCooldownMs", ms(1.0)),
            ("checkSession", JsValue::TRUE),
        ],
    );
    let undo_global = hostile(global);

    // A normal GET.
    let plain = rig.get_within("/api/plain", SOON).await;
    // A 401, then the retry.
    if let Some(token) = rig.provider.token() {
        rig.backend.revoke(&token);
    }
    let forced_before = rig.provider.forced();
    let retried = rig.get_within("/api/retry", SOON).await;
    let forced_by_retry = rig.provider.forced() - forced_before;
    // The caller's abort, while the request is in flight.
    let controller = web_sys::AbortController::new().unwrap();
    let release = rig.backend.hold_next();
    let pending = rig.manager.fetch_with_auth(
        "/api/abortable".into(),
        obj(&[("signal", controller.signal().into())]),
    );
    rig.clock().flush().await; // the request reaches the backend and is held
    controller.abort();
    let aborted = rig.within(pending, SOON).await;
    let _ = release.call0(&JsValue::NULL);
    // updateCredits.
    let credits = rig
        .within(rig.manager.update_credits(JsValue::UNDEFINED), SOON)
        .await;

    undo(&undo_global);
    rig.manager.stop();
    failures.check("GET", &plain, Want::Status(200));
    failures.check("401 then retry", &retried, Want::Status(200));
    failures.expect(forced_by_retry == 1, || {
        format!("401 then retry: {forced_by_retry} forced refreshes, want 1")
    });
    let caller_reason = field(&controller.signal(), "reason");
    match &aborted {
        Ok(Err(reason)) if same(reason, &caller_reason) => {}
        other => failures.0.push(format!(
            "caller abort: want a rejection with the signal's own reason ({}), got {}",
            describe_value(&caller_reason),
            describe(other)
        )),
    }
    failures.check("updateCredits", &credits, Want::Number(100.0));
    failures.leaks(global, &rig.events);
    failures
}

#[wasm_bindgen_test]
async fn r2_without_abort_signal_any_every_call_settles() {
    watch_traps();
    let failures = every_call_settles_without("abortsignal-any-deleted").await;
    failures.finish("");
}

#[wasm_bindgen_test]
async fn r2_without_abort_signal_timeout_every_call_settles() {
    watch_traps();
    let failures = every_call_settles_without("abortsignal-timeout-deleted").await;
    failures.finish("");
}

#[wasm_bindgen_test]
async fn r2_without_broadcast_channel_the_manager_works() {
    watch_traps();
    let mut failures = Failures::default();
    let undo_global = hostile("broadcastchannel-deleted");
    let rig = Rig::try_new(60_000.0, &[]);
    let (started, fetched, signed_out, still_authenticated) = match &rig {
        Ok(rig) => {
            rig.manager.start().unwrap();
            let fetched = rig.get_within("/api/x", SOON).await;
            let signed_out = rig.within(rig.manager.sign_out(), SOON).await;
            (true, fetched, signed_out, rig.manager.is_authenticated())
        }
        Err(_) => (false, Err(()), Err(()), false),
    };
    undo(&undo_global);
    if let Ok(rig) = &rig {
        rig.manager.stop();
    }
    failures.expect(started, || {
        format!(
            "construction threw {}",
            describe_value(rig.as_ref().err().unwrap())
        )
    });
    failures.check("fetchWithAuth after start()", &fetched, Want::Status(200));
    failures.check("signOut()", &signed_out, Want::Resolves);
    failures.expect(!still_authenticated, || "signed in after signOut".into());
    failures.finish("");
}

// =====================================================================================
// R3. Tokens that never outlive the margin: no refresh storm.
// =====================================================================================

/// The rounds of provider calls a rig whose tokens can never be sent has made by these
/// virtual times, whatever the jitter. Each round asks twice (plain, then forced) and opens
/// a failure window of 1 s · 2ⁿ⁻¹, jittered into [d/2, d]. The first retry waits for the
/// 1 s minimum gap between calls, so round 2 starts at exactly 1 s and round k + 1 between
/// 2ᵏ⁻¹ and 2ᵏ − 1 s: at 1.5 s, 3.5 s, 7.5 s, 15.5 s and 31.5 s the count is exact.
const STORM_HORIZONS: [(f64, u32); 6] = [
    (0.0, 1),
    (1_500.0, 2),
    (3_500.0, 3),
    (7_500.0, 4),
    (15_500.0, 5),
    (31_500.0, 6),
];

/// Starts a rig whose tokens live `lifetime` (whole-second claims) and never outlive the
/// margin, and checks the counts: two provider calls per round at each horizon of
/// [`STORM_HORIZONS`], a number of rounds over 10 minutes the backoff allows, and exactly
/// one warning naming the lifetime and expiryMarginMs.
async fn assert_no_storm(label: &str, lifetime: f64, extra: &[(&str, JsValue)]) {
    watch_traps();
    let mark = log_mark();
    let provider = Provider::new(lifetime);
    provider.set_whole_seconds(true);
    let rig = Rig::with(provider, extra);
    let t0 = rig.now();
    rig.manager.start().unwrap();
    let mut failures = Failures::default();
    let mut table = vec![];
    for (at, rounds) in STORM_HORIZONS {
        rig.advance(t0 + at - rig.now()).await;
        let (calls, forced, refreshed) = (
            rig.calls(),
            rig.provider.forced(),
            rig.events.count("tokenRefreshed"),
        );
        table.push(format!(
            "{at} ms: calls {calls}, forced {forced}, tokenRefreshed {refreshed}"
        ));
        failures.expect((calls, forced) == (2 * rounds, rounds), || {
            format!(
                "at {at} ms: {calls} calls, {forced} forced; want {rounds} rounds of a plain \
                 and a forced call"
            )
        });
        // A new token from every forced call, and from the plain one in the first round and
        // whenever the provider's cache ran out during the (jittered) window before.
        failures.expect((rounds + 1..=2 * rounds).contains(&refreshed), || {
            format!(
                "at {at} ms: {refreshed} tokenRefreshed, want {} to {}",
                rounds + 1,
                2 * rounds
            )
        });
    }
    // Over 10 minutes: after round 6 (by 63 s) the windows are capped at the refresh
    // interval (50 s, jittered into [25 s, 50 s]): 10 to 22 more rounds.
    rig.advance(t0 + 600_000.0 - rig.now()).await;
    let calls = rig.calls();
    table.push(format!("600000 ms: calls {calls}"));
    failures.expect((32..=56).contains(&calls), || {
        format!("{calls} provider calls in 10 minutes, want 16 to 28 rounds of 2")
    });
    rig.manager.stop();
    failures.expect(rig.clock().pending() == 0, || "a timer after stop()".into());
    let lifetime_text = format!("{}", lifetime as u64);
    let warned = logged_since(mark, "warn", &[&lifetime_text, "expiryMarginMs"]);
    failures.expect(warned == 1, || format!("{warned} warnings, want exactly 1"));
    failures.leaks(label, &rig.events);
    failures.finish(&format!("{label}: {}", table.join("; ")));
}

#[wasm_bindgen_test]
async fn r3a_tokens_shorter_than_the_margin_cause_no_refresh_storm() {
    // 5 s tokens, default expiryMarginMs (10 s): no token can ever be sent.
    assert_no_storm("lifetime 5000, margin 10000", 5_000.0, &[]).await;
}

#[wasm_bindgen_test]
async fn r3b_tokens_as_long_as_the_margin_cause_no_refresh_storm() {
    assert_no_storm(
        "lifetime 60000, margin 60000",
        60_000.0,
        &[("expiryMarginMs", ms(60_000.0))],
    )
    .await;
}

#[wasm_bindgen_test]
async fn r3c_requests_during_the_backoff_add_at_most_two_provider_calls() {
    watch_traps();
    let provider = Provider::new(5_000.0);
    provider.set_whole_seconds(true);
    let rig = Rig::with(provider, &[]);
    rig.manager.start().unwrap();
    let mut failures = Failures::default();
    // 10 requests spread over 1.5 s, one every 150 ms.
    for i in 0..10 {
        let outcome = rig.get_within("/api/x", SOON).await;
        failures.check(
            &format!("request {i}"),
            &outcome,
            Want::Code("refresh_failed"),
        );
        rig.advance(150.0).await;
    }
    let (calls, forced) = (rig.calls(), rig.provider.forced());
    let reasons = rig.provider.reasons();
    // Calls a request started (not the schedule): reason 'expiring'.
    let by_requests = reasons.matches(":expiring").count();
    rig.manager.stop();
    let sent = rig.backend.count();
    failures.expect(sent == 0, || {
        format!("{sent} requests sent with an unusable token")
    });
    let counts = format!(
        "provider calls {calls} (forced {forced}), {by_requests} started by the 10 requests: \
         {reasons}"
    );
    // Two rounds of a plain and a forced call: the first at start, the second when the
    // first failure window (jittered into [0.5 s, 1 s]) has closed. That second round is
    // the schedule's (at 1 s) or, when the window closed before 900 ms, the next request's:
    // requests add at most that one round, never more.
    failures.expect(calls == 4 && forced == 2, || {
        format!("want 4 provider calls, 2 forced: {counts}")
    });
    failures.expect(by_requests == 0 || by_requests == 2, || {
        format!("requests added calls outside the second round: {counts}")
    });
    failures.leaks("rig", &rig.events);
    failures.finish(&counts);
}

// =====================================================================================
// R4. A backend that refuses every token: one sessionExpired, until a real sign-in.
// =====================================================================================

#[wasm_bindgen_test]
async fn r4_a_backend_refusing_every_token_costs_one_session_expired() {
    watch_traps();
    let expired = Counter::new();
    let rig = Rig::new(60_000.0, &[("onSessionExpired", expired.callback())]);
    let mut failures = Failures::default();
    let warm = rig.get_within("/api/warm", SOON).await;
    failures.check("sign-in", &warm, Want::Status(200));
    rig.backend.set_mode("reject");
    let (forced0, server0) = (rig.provider.forced(), rig.backend.count());
    for i in 0..20 {
        let poll = rig.get_within("/api/poll", SOON).await;
        failures.check(&format!("poll {i}"), &poll, Want::Status(401));
        rig.advance(50.0).await;
    }
    let phase1 = (
        rig.events.count("sessionExpired"),
        expired.count(),
        rig.provider.forced() - forced0,
        rig.backend.count() - server0,
        rig.events.count("tokenRefreshed"),
    );

    // A real sign-in ends it.
    rig.backend.set_mode("normal");
    rig.manager.start().unwrap();
    let after_sign_in = rig.get_within("/api/poll", SOON).await;
    rig.backend.set_mode("reject");
    for i in 0..5 {
        let poll = rig.get_within("/api/poll", SOON).await;
        failures.check(&format!("poll {i} after sign-in"), &poll, Want::Status(401));
        rig.advance(50.0).await;
    }
    let phase2 = (rig.events.count("sessionExpired"), expired.count());
    rig.manager.stop();

    let counts = format!(
        "20 polls: sessionExpired {}, onSessionExpired {}, forced {}, server requests {}, \
         tokenRefreshed {} (total); after start() and 5 more polls: sessionExpired {}, \
         onSessionExpired {}",
        phase1.0, phase1.1, phase1.2, phase1.3, phase1.4, phase2.0, phase2.1
    );
    failures.expect(phase1.0 == 1, || {
        format!("sessionExpired {} != 1", phase1.0)
    });
    failures.expect(phase1.1 == 1, || {
        format!("onSessionExpired {} != 1", phase1.1)
    });
    failures.expect(phase1.2 == 1, || format!("forced calls {} != 1", phase1.2));
    failures.expect(phase1.3 == 21, || {
        format!("server requests {} != 20 + 1 retry", phase1.3)
    });
    failures.check(
        "first poll after start()",
        &after_sign_in,
        Want::Status(200),
    );
    failures.expect(phase2.0 == 2, || {
        format!("sessionExpired after the new refusal {} != 2", phase2.0)
    });
    failures.expect(phase2.1 == 2, || {
        format!("onSessionExpired after the new refusal {} != 2", phase2.1)
    });
    failures.leaks("rig", &rig.events);
    failures.finish(&counts);
}

// =====================================================================================
// S1–S4.
// =====================================================================================

/// Calls `fetchWithAuth(url)` with a controller's signal, aborts it with 'my-reason' after
/// 30 ms, and checks the call rejects with exactly that reason, by the time a refresh
/// under way (100 ms) has landed. Returns the requests sent for the call (the first try
/// included) after 150 ms more.
async fn abort_with_my_reason(rig: &Rig, url: &str, when: &str, failures: &mut Failures) -> u32 {
    let controller = web_sys::AbortController::new().unwrap();
    let before = rig.backend.count();
    let pending = rig
        .manager
        .fetch_with_auth(url.into(), obj(&[("signal", controller.signal().into())]));
    rig.advance(30.0).await;
    abort_with(&controller, &"my-reason".into());
    let aborted = rig.within(pending, 70).await;
    rig.advance(150.0).await;
    match &aborted {
        Ok(Err(e)) if same(e, &JsValue::from_str("my-reason")) => {}
        other => failures.0.push(format!(
            "abort('my-reason') {when}: want exactly 'my-reason', got {}",
            describe(other)
        )),
    }
    rig.backend.count() - before
}

#[wasm_bindgen_test]
async fn s1_the_callers_abort_reason_is_passed_through_unchanged() {
    let (rig, mut failures) = signed_in(&[]).await;

    // AbortSignal.timeout against a hanging backend: its own TimeoutError.
    rig.backend.set_mode("hang");
    let signal = timeout_signal(50);
    let before = rig.backend.count();
    // Real time: AbortSignal.timeout is the browser's own timer (the rig's virtual clock
    // stands still meanwhile, so the library's 30 s request timeout cannot fire).
    let timed_out = settle_within(
        rig.manager
            .fetch_with_auth("/api/slow".into(), obj(&[("signal", signal.clone())])),
        2_000,
    )
    .await;
    rig.clock().flush().await; // a retry, if one were sent, would go out now
    let sent = rig.backend.count() - before;
    let reason = field(&signal, "reason");
    match &timed_out {
        Ok(Err(e)) if same(e, &reason) && error_name(e).as_deref() == Some("TimeoutError") => {}
        other => failures.0.push(format!(
            "AbortSignal.timeout(50): want the signal's own TimeoutError, got {}",
            describe(other)
        )),
    }
    failures.expect(sent == 1, || {
        format!("AbortSignal.timeout: {sent} requests, want 1")
    });

    // controller.abort('my-reason') while the request hangs: the one request, then the
    // caller's own reason.
    let sent = abort_with_my_reason(&rig, "/api/slow", "in flight", &mut failures).await;
    failures.expect(sent == 1, || {
        format!("abort in flight: {sent} requests, want 1")
    });

    // controller.abort('my-reason') while the refresh after a 401 runs: no retry.
    rig.backend.set_mode("normal");
    warm_then_revoke(&rig, &mut failures).await;
    rig.provider.set_delay_ms(100.0);
    let sent =
        abort_with_my_reason(&rig, "/api/abortable", "during the refresh", &mut failures).await;
    failures.expect(sent == 1, || {
        format!("{} retries after the abort", sent.saturating_sub(1))
    });
    failures.leaks("rig", &rig.events);
    failures.finish("");
}

#[wasm_bindgen_test]
async fn s2_a_throwing_fetch_and_bad_input_are_typed_errors() {
    watch_traps();
    let mut failures = Failures::default();
    let thrower = SyncThrowingFetch::new();
    let rig = Rig::new(60_000.0, &[("fetch", thrower.fetch())]);
    let outcome = rig.get_within("/api/x", SOON).await;
    failures.check(
        "fetch throws synchronously",
        &outcome,
        Want::Code("network"),
    );
    if let Ok(Err(e)) = &outcome {
        let cause = field(e, "cause");
        failures.expect(same(&cause, &thrower.error()), || {
            format!(
                "network error's cause is {}, want the thrown TypeError",
                describe_value(&cause)
            )
        });
    }
    failures.expect(thrower.calls() == 1, || {
        format!("the throwing fetch was called {} times", thrower.calls())
    });

    let rig = Rig::new(60_000.0, &[]);
    let outcome = rig.get_within("http://[bad", SOON).await;
    failures.check(
        "fetchWithAuth('http://[bad')",
        &outcome,
        Want::Code("config"),
    );
    if let Ok(Err(e)) = &outcome {
        let cause = field(e, "cause");
        failures.expect(error_name(&cause).as_deref() == Some("TypeError"), || {
            format!(
                "config error's cause is {}, want a TypeError",
                describe_value(&cause)
            )
        });
    }
    failures.expect(rig.backend.count() == 0, || "a bad URL was sent".into());
    failures.leaks("rig", &rig.events);
    failures.finish("");
}

#[wasm_bindgen_test]
async fn s3_a_freed_manager_rejects_with_freed_and_never_traps() {
    let (rig, mut failures) = signed_in(&[]).await;
    let js = rig.into_js();
    let first_free = js.attempt("free", &[]);
    failures.expect(first_free.is_ok(), || {
        format!(
            "free() threw {}",
            describe_value(first_free.as_ref().unwrap_err())
        )
    });
    let (calls, server) = (js.calls(), js.backend.count());

    let listener: JsValue = Function::new_no_args("").into();
    let async_calls: [(&str, Vec<JsValue>); 6] = [
        ("fetchWithAuth", vec!["/api/x".into()]),
        ("refreshToken", vec![]),
        ("updateCredits", vec![]),
        ("triggerSessionRecoveryCheck", vec!["after-free".into()]),
        ("waitForAuthStability", vec![]),
        ("signOut", vec![]),
    ];
    for (name, args) in async_calls {
        match js.attempt(name, &args) {
            Err(thrown) => failures.0.push(format!(
                "{name}(): threw {} synchronously, want a promise rejecting with SessionError(freed)",
                describe_value(&thrown)
            )),
            Ok(value) if !is_promise(&value) => failures.0.push(format!(
                "{name}(): returned {}, want a promise",
                describe_value(&value)
            )),
            Ok(value) => {
                let outcome = js.within(value.into(), SOON).await;
                failures.check(&format!("{name}()"), &outcome, Want::Code("freed"));
            }
        }
    }
    let sync_calls: [(&str, Vec<JsValue>); 2] = [
        ("start", vec![]),
        ("on", vec!["stateChanged".into(), listener]),
    ];
    for (name, args) in sync_calls {
        match js.attempt(name, &args) {
            Err(e)
                if error_name(&e).as_deref() == Some("SessionError")
                    && error_code(&e).as_deref() == Some("freed") => {}
            other => failures.0.push(format!(
                "{name}(): want a thrown SessionError(freed), got {}",
                match other {
                    Ok(v) => format!("a return of {}", describe_value(&v)),
                    Err(e) => format!("a throw of {}", describe_value(&e)),
                }
            )),
        }
    }
    for name in ["stop", "free"] {
        if let Err(e) = js.attempt(name, &[]) {
            failures
                .0
                .push(format!("{name}() after free threw {}", describe_value(&e)));
        }
    }
    match js.getter("isAuthenticated") {
        Ok(v) if v == JsValue::FALSE => {}
        Ok(v) => failures
            .0
            .push(format!("isAuthenticated is {}", describe_value(&v))),
        Err(e) => failures
            .0
            .push(format!("isAuthenticated threw {}", describe_value(&e))),
    }
    match js.getter("tokenExpiresAt") {
        Ok(v) if v.is_null() => {}
        Ok(v) => failures
            .0
            .push(format!("tokenExpiresAt is {}", describe_value(&v))),
        Err(e) => failures
            .0
            .push(format!("tokenExpiresAt threw {}", describe_value(&e))),
    }
    let timers = js.clock.as_ref().map_or(0, |c| c.pending());
    failures.expect(timers == 0, || format!("{timers} timers armed after free"));
    js.advance(600_000.0).await;
    failures.expect(js.calls() == calls && js.backend.count() == server, || {
        format!(
            "calls after free: provider {}, server {}",
            js.calls() - calls,
            js.backend.count() - server
        )
    });
    failures.finish("");
}

#[wasm_bindgen_test]
async fn s4_recovered_names_the_probes_credits_verify_and_check_session() {
    watch_traps();
    let mut failures = Failures::default();
    for (broken, names) in [
        ("credits", r#"["credits"]"#),
        ("verify", r#"["verify"]"#),
        ("checkSession", r#"["checkSession"]"#),
    ] {
        storage_remove(LAST_ATTEMPT);
        let rig = Rig::new(60_000.0, &[("checkSession", JsValue::TRUE)]);
        let warm = rig.get_within("/api/warm", SOON).await;
        failures.check(&format!("{broken}: warm-up"), &warm, Want::Status(200));
        match broken {
            "credits" => rig.backend.set_zero_reads(1),
            "verify" => rig.backend.set_verify_refusals(1),
            _ => rig.provider.set_session_mode("false"),
        }
        let outcome = rig.within(recovery_check(&rig.manager, "s4"), SOON).await;
        failures.check(broken, &outcome, Want::Recovery("recovered"));
        let want = format!(r#"{{"trigger":"s4","unhealthy":{names}}}"#);
        let got = rig.events.last("recovered");
        failures.expect(got.as_deref() == Some(want.as_str()), || {
            format!("{broken}: recovered detail {got:?}, want {want}")
        });
        failures.leaks(broken, &rig.events);
    }
    failures.finish("");
}

// =====================================================================================
// The fault matrix.
// =====================================================================================

#[wasm_bindgen_test]
async fn m_every_provider_answer_ends_in_a_status_or_a_typed_error() {
    watch_traps();
    let mut failures = Failures::default();
    // (mode, outcome, provider calls, virtual ms until it settled): only a hanging
    // provider costs time, exactly the default tokenTimeoutMs.
    for (mode, want, calls, took) in [
        ("ok", Want::Status(200), 1, 0.0),
        ("null", Want::Code("unauthenticated"), 1, 0.0),
        ("throw", Want::Code("refresh_failed"), 1, 0.0),
        ("reject", Want::Code("refresh_failed"), 1, 0.0),
        ("hang", Want::Code("timeout"), 1, 10_000.0),
        ("number", Want::Code("refresh_failed"), 1, 0.0),
        ("empty", Want::Code("refresh_failed"), 1, 0.0),
        ("newline", Want::Code("refresh_failed"), 1, 0.0),
        ("object", Want::Code("refresh_failed"), 1, 0.0),
        ("thenable", Want::Code("refresh_failed"), 1, 0.0),
    ] {
        let rig = Rig::new(60_000.0, &[]);
        rig.provider.set_mode(mode);
        let t0 = rig.now();
        let outcome = rig.get_within("/api/me", SLOW).await;
        let elapsed = rig.now() - t0;
        failures.check(mode, &outcome, want);
        failures.expect(elapsed == took, || {
            format!("{mode}: settled after {elapsed} ms, want {took}")
        });
        failures.expect(rig.calls() == calls, || {
            format!(
                "{mode}: {} provider calls ({}), want {calls}",
                rig.calls(),
                rig.provider.reasons()
            )
        });
        let sent = rig.backend.count();
        let want_sent = u32::from(mode == "ok");
        failures.expect(sent == want_sent, || {
            format!("{mode}: {sent} requests sent, want {want_sent}")
        });
        failures.leaks(mode, &rig.events);
    }
    failures.finish("");
}

#[wasm_bindgen_test]
async fn m_network_faults_are_typed_and_bounded() {
    let (rig, mut failures) = signed_in(&[("credits", credit_retries(2.0))]).await;

    // Offline: fetch rejects with a TypeError.
    rig.backend.set_failures(1);
    let before = rig.backend.count();
    let offline = rig.get_within("/api/x", SOON).await;
    failures.check("offline", &offline, Want::Code("network"));
    if let Ok(Err(e)) = &offline {
        let cause = field(e, "cause");
        failures.expect(error_name(&cause).as_deref() == Some("TypeError"), || {
            format!("offline: cause {}", describe_value(&cause))
        });
    }
    failures.expect(rig.backend.count() - before == 1, || {
        format!("offline: {} requests", rig.backend.count() - before)
    });

    // 500 and 503 from fetchWithAuth: the response, no retry, no refresh.
    for status in [500u16, 503] {
        rig.backend.script(status, "{}", &JsValue::UNDEFINED);
        let (before, forced) = (rig.backend.count(), rig.provider.forced());
        let outcome = rig.get_within("/api/x", SOON).await;
        failures.check(
            &format!("{status}"),
            &outcome,
            Want::Status(i32::from(status)),
        );
        failures.expect(
            rig.backend.count() - before == 1 && rig.provider.forced() == forced,
            || format!("{status}: {} requests", rig.backend.count() - before),
        );
    }
    // updateCredits retries 5xx, then rejects with server: 1 + 2 attempts.
    for _ in 0..3 {
        rig.backend.script(500, "{}", &JsValue::UNDEFINED);
    }
    let before = rig.backend.count();
    let credits = rig
        .within(rig.manager.update_credits(credits_options()), SLOW)
        .await;
    failures.check("updateCredits on 500s", &credits, Want::Code("server"));
    failures.expect(rig.backend.count() - before == 3, || {
        format!(
            "updateCredits on 500s: {} requests, want 3",
            rig.backend.count() - before
        )
    });

    // 429 without Retry-After: fetchWithAuth returns it; updateCredits retries once.
    rig.backend.script(429, "{}", &JsValue::UNDEFINED);
    let outcome = rig.get_within("/api/x", SOON).await;
    failures.check("429 from fetchWithAuth", &outcome, Want::Status(429));
    rig.backend.script(429, "{}", &JsValue::UNDEFINED);
    let before = rig.backend.count();
    let credits = rig
        .within(rig.manager.update_credits(credits_options()), SLOW)
        .await;
    failures.check("updateCredits after a 429", &credits, Want::Number(100.0));
    failures.expect(rig.backend.count() - before == 2, || {
        format!(
            "updateCredits after a 429: {} requests",
            rig.backend.count() - before
        )
    });
    // 429 with Retry-After: 1 waits exactly that long (the first backoff delay, jittered
    // into [0.5 s, 1 s], is not longer).
    rig.backend
        .script(429, "{}", &obj(&[("Retry-After", "1".into())]));
    let before = rig.backend.count();
    let credits = rig
        .within(rig.manager.update_credits(credits_options()), SLOW)
        .await;
    failures.check(
        "updateCredits after 429 Retry-After: 1",
        &credits,
        Want::Number(100.0),
    );
    let sent = rig.backend.count() - before;
    failures.expect(sent == 2, || format!("429 Retry-After: {sent} requests"));
    if sent == 2 {
        let gap = rig.backend.gap(-2, -1);
        failures.expect(gap == 1_000.0, || {
            format!("retried {gap} ms after Retry-After: 1, want 1000")
        });
    }
    rig.manager.stop();

    // A hanging request, bounded by requestTimeoutMs (the default 30 s, to the ms).
    let slow = Rig::new(60_000.0, &[]);
    let warm = slow.get_within("/api/warm", SOON).await;
    failures.check("warm-up (timeout rig)", &warm, Want::Status(200));
    slow.backend.set_mode("hang");
    let before = slow.backend.count();
    let t0 = slow.now();
    let hung = slow.get_within("/api/slow", SLOW).await;
    let took = slow.now() - t0;
    failures.check("hanging request", &hung, Want::Code("timeout"));
    failures.expect(took == 30_000.0, || {
        format!("hanging request: settled after {took} ms, want 30000")
    });
    failures.expect(slow.backend.count() - before == 1, || {
        format!(
            "hanging request: {} requests",
            slow.backend.count() - before
        )
    });
    failures.expect(rig.events.count("sessionExpired") == 0, || {
        "a network fault reported the session expired".into()
    });
    failures.leaks("rig", &rig.events);
    failures.finish("");
}

#[wasm_bindgen_test]
async fn m_odd_401_bodies_cause_one_refresh_and_one_retry() {
    let (rig, mut failures) = signed_in(&[]).await;
    for (status, body) in [
        (401u16, "not json at all"),
        (401, "[]"),
        (401, r#"{"detail":"x"}"#),
        (401, r#"{"requires_refresh":"true"}"#),
        (401, "null"),
        (401, ""),
        (403, r#"{"detail":{"requires_refresh":true}}"#),
    ] {
        rig.backend.script(status, body, &JsValue::UNDEFINED);
        let (before, forced) = (rig.backend.count(), rig.provider.forced());
        let outcome = rig.get_within("/api/data", SOON).await;
        let label = format!("{status} {body:?}");
        failures.check(&label, &outcome, Want::Status(200));
        let (sent, refreshed) = (rig.backend.count() - before, rig.provider.forced() - forced);
        failures.expect(sent == 2 && refreshed == 1, || {
            format!("{label}: {sent} requests and {refreshed} forced refreshes, want 2 and 1")
        });
    }
    failures.expect(rig.events.count("sessionExpired") == 0, || {
        "a refreshed-and-accepted retry reported the session expired".into()
    });
    failures.leaks("rig", &rig.events);
    failures.finish("");
}

#[wasm_bindgen_test]
async fn m_clock_skew_of_ten_minutes_either_way() {
    watch_traps();
    let mut failures = Failures::default();
    // Issuer ahead: its iat lies in the page's future, which lowers the offset at once (one
    // call). Issuer behind: the first token looks expired, and only a forced one teaches
    // the offset (two calls).
    for (skew, calls) in [(600_000.0, 1), (-600_000.0, 2)] {
        let provider = Provider::new(60_000.0);
        provider.set_skew_ms(skew);
        let rig = Rig::with(provider, &[]);
        for i in 0..5 {
            let outcome = rig.get_within("/api/x", SOON).await;
            failures.check(
                &format!("skew {skew}: request {i}"),
                &outcome,
                Want::Status(200),
            );
        }
        failures.expect(rig.calls() == calls, || {
            format!(
                "skew {skew}: {} provider calls ({}), want {calls}",
                rig.calls(),
                rig.provider.reasons()
            )
        });
        failures.expect(rig.events.count("sessionExpired") == 0, || {
            format!("skew {skew}: sessionExpired")
        });
        failures.leaks(&format!("skew {skew}"), &rig.events);
    }
    failures.finish("");
}

#[wasm_bindgen_test]
async fn m_laptop_sleep_refreshes_once_on_wake() {
    watch_traps();
    let mut failures = Failures::default();
    let rig = Rig::new(60_000.0, &[]);
    rig.manager.start().unwrap();
    rig.advance(50.0).await;
    let before = rig.get_within("/api/before", SOON).await;
    failures.check("before sleep", &before, Want::Status(200));
    let old_token = rig.provider.token();
    let (plain, forced) = (rig.provider.plain(), rig.provider.forced());
    // Ten minutes pass in one step with no timer firing (the laptop lid was closed), then
    // the page wakes.
    rig.clock().skip(600_000.0);
    wake("visibilitychange");
    rig.clock().flush().await;
    wake("pageshow");
    rig.clock().flush().await;
    let (woke_plain, woke_forced) = (rig.provider.plain() - plain, rig.provider.forced() - forced);
    let after = rig.get_within("/api/after", SOON).await;
    let (auth, current) = (rig.backend.auth(-1), bearer(&rig.provider));
    // The overdue timer gave way to one at the new token's exp - margin.
    let due = rig.clock().next_due();
    let want_due = rig.now() + 50_000.0;
    failures.expect(due == Some(want_due), || {
        format!("after wake the timer is due at {due:?}, want {want_due}")
    });
    rig.manager.stop();
    failures.expect(woke_plain == 1 && woke_forced == 0, || {
        format!("on wake: {woke_plain} plain and {woke_forced} forced refreshes, want 1 and 0")
    });
    failures.check("after wake", &after, Want::Status(200));
    failures.expect(auth.is_some() && auth == current, || {
        "the request after wake did not carry the provider's current token".into()
    });
    failures.expect(rig.provider.token() != old_token, || {
        "no fresh token after wake".into()
    });
    failures.leaks("rig", &rig.events);
    failures.finish("");
}

#[wasm_bindgen_test]
async fn m_broken_storage_degrades_to_memory_and_everything_settles() {
    watch_traps();
    let mut failures = Failures::default();
    let keys = ["authToken", "auth_token"];
    for scenario in [
        "localstorage-throws",
        "localstorage-null",
        "storage-quota",
        "storage-reads-throw",
        "storage-throws",
        "garbage",
    ] {
        storage_remove(LAST_ATTEMPT);
        for key in keys {
            storage_remove(key);
        }
        if scenario == "garbage" {
            storage_set("authToken", "garbage\u{0}\n{not a token");
            storage_set("auth_token", "");
            storage_set(LAST_ATTEMPT, "NaN-garbage");
        }
        let rig = Rig::new(
            60_000.0,
            &[
                (
                    "storageKeys",
                    keys.iter()
                        .map(|k| JsValue::from_str(k))
                        .collect::<Array>()
                        .into(),
                ),
                ("checkSession", JsValue::TRUE),
                ("recoveryCooldownMs", ms(1.0)),
                ("credits", credit_retries(1.0)),
            ],
        );
        let undo_storage = (scenario != "garbage").then(|| hostile(scenario));
        let t0 = rig.now();
        // Each step gets a bound long enough to tell a stall (waiting for auth sources that
        // cannot agree: up to maxWaitMs, 10 s) from a hang; none may take any time at all.
        let fetched = rig.get_within("/api/me", SLOW).await;
        let stable = rig
            .within(
                rig.manager.wait_for_auth_stability(JsValue::UNDEFINED),
                SLOW,
            )
            .await;
        let checked = rig
            .within(recovery_check(&rig.manager, "storage"), SLOW)
            .await;
        // updateCredits waits for auth stability first.
        let credits = rig
            .within(rig.manager.update_credits(credits_options()), SLOW)
            .await;
        let refreshed = rig.within(rig.manager.refresh_token(), SLOW).await;
        let signed_out = rig.within(rig.manager.sign_out(), SLOW).await;
        let took = rig.now() - t0;
        if let Some(f) = &undo_storage {
            undo(f);
        }
        rig.manager.stop();
        let steps = [
            ("fetchWithAuth", fetched, Want::Status(200)),
            ("waitForAuthStability", stable, Want::Resolves),
            ("triggerSessionRecoveryCheck", checked, Want::Resolves),
            ("updateCredits", credits, Want::Number(100.0)),
            ("refreshToken", refreshed, Want::Text),
            ("signOut", signed_out, Want::Resolves),
        ];
        failures.expect(took == 0.0, || {
            format!(
                "{scenario}: the sequence took {took} ms: it waited for auth sources that \
                 cannot agree"
            )
        });
        for (name, outcome, want) in &steps {
            failures.check(&format!("{scenario}: {name}"), outcome, *want);
        }
        for key in keys {
            let left = storage_get(key);
            failures.expect(!left.as_deref().unwrap_or("").contains(LEAK_MARK), || {
                format!("{scenario}: a token was left in {key} after signOut")
            });
        }
        // The first token, and refreshToken's.
        failures.expect(
            rig.provider.reasons() == "plain:initial,forced:manual",
            || {
                format!(
                    "{scenario}: {} provider calls ({}), want plain:initial,forced:manual",
                    rig.calls(),
                    rig.provider.reasons()
                )
            },
        );
        failures.leaks(scenario, &rig.events);
    }
    // One check with working storage, so the in-memory cooldown stamp does not outlive
    // this test.
    storage_remove(LAST_ATTEMPT);
    let rig = Rig::new(60_000.0, &[("recoveryCooldownMs", ms(1.0))]);
    let _ = rig
        .within(recovery_check(&rig.manager, "reset"), SLOW)
        .await;
    for key in keys {
        storage_remove(key);
    }
    storage_remove(LAST_ATTEMPT);
    failures.finish("");
}

#[wasm_bindgen_test]
async fn m_listeners_that_call_back_into_the_manager() {
    watch_traps();
    let mut failures = Failures::default();
    for action in ["fetchWithAuth", "refreshToken", "stop", "start", "signOut"] {
        storage_remove(LAST_ATTEMPT);
        let reentry = Reentry::new(action);
        let rig = Rig::new(60_000.0, &[("credits", credit_retries(1.0))]);
        for name in ALL_EVENTS {
            rig.manager.on(name, reentry.listener(name)).unwrap();
        }
        let js = rig.into_js();
        reentry.set_manager(&js.manager);
        // A sequence that fires every event at least once.
        let signed_in = js.get_within("/api/a", SLOW).await;
        js.backend.restart();
        let recovery = js
            .call_within("triggerSessionRecoveryCheck", &["reentry".into()], SLOW)
            .await;
        // updateCredits first waits for auth stability (up to 10 s by the spec).
        let credits = js.call_within("updateCredits", &[], SLOW).await;
        js.provider.set_mode("reject");
        let failed = js.call_within("refreshToken", &[], SLOW).await;
        js.provider.set_mode("ok");
        js.backend.set_mode("reject");
        let refused = js.get_within("/api/b", SLOW).await;
        js.backend.set_mode("normal");
        let signed_out = js.call_within("signOut", &[], SLOW).await;
        let listeners = js.within(reentry.all(), SLOW).await;
        let _ = js.attempt("stop", &[]);
        js.advance(f64::from(SLOW)).await; // whatever the listeners started runs out
        let fired = reentry.fired_text();
        js.free();
        for (step, outcome) in [
            ("sign-in", &signed_in),
            ("recovery", &recovery),
            ("updateCredits", &credits),
            ("failing refreshToken", &failed),
            ("refused request", &refused),
            ("signOut", &signed_out),
        ] {
            failures.check(&format!("{action}: {step}"), outcome, Want::Settles);
        }
        failures.expect(listeners.is_ok(), || {
            format!(
                "{action}: {} promises from listeners did not settle (fired on {fired})",
                reentry.count()
            )
        });
        failures.expect(reentry.threw_text().is_empty(), || {
            format!(
                "{action}: the manager threw into a listener: {}",
                reentry.threw_text()
            )
        });
        failures.expect(js.events.leaks() == 0, || {
            format!("{action}: token in an event")
        });
    }
    failures.finish("");
}

#[wasm_bindgen_test]
async fn m_a_get_token_that_calls_back_into_the_manager_settles() {
    watch_traps();
    let mut failures = Failures::default();
    for action in ["fetchWithAuth", "refreshToken"] {
        let provider = Provider::new(60_000.0);
        let reentrant = ReentrantToken::new(&provider, action);
        let rig = Rig::with(provider, &[("getToken", reentrant.get_token())]);
        let js = rig.into_js();
        reentrant.set_manager(&js.manager);
        let t0 = js.now();
        // The manager waits on itself until the default tokenTimeoutMs (10 s) breaks it.
        let outer = js.get_within("/api/outer", SLOW).await;
        let took = js.now() - t0;
        let inner = js.within(Promise::resolve(&reentrant.inner()), SOON).await;
        // The refresh that timed out closes the provider for a backoff window (at most
        // 1 s after a first failure); after it, the manager works again.
        js.advance(1_000.0).await;
        let after = js.get_within("/api/after", SOON).await;
        js.free();
        failures.expect(reentrant.entered() == 1, || {
            format!(
                "{action}: getToken re-entered {} times",
                reentrant.entered()
            )
        });
        failures.check(
            &format!("{action}: outer fetchWithAuth"),
            &outer,
            Want::ResponseOrSessionError,
        );
        failures.check(
            &format!("{action}: the call inside getToken"),
            &inner,
            Want::Settles,
        );
        failures.check(
            &format!("{action}: the next request"),
            &after,
            Want::Status(200),
        );
        failures.expect(took == 10_000.0, || {
            format!("{action}: the outer call settled after {took} ms, want 10000")
        });
        // The outer call's (the inner call joined it, single flight), and the next
        // request's.
        failures.expect(
            js.provider.reasons() == "plain:initial,plain:initial",
            || {
                format!(
                    "{action}: {} provider calls ({}), want plain:initial twice",
                    js.calls(),
                    js.provider.reasons()
                )
            },
        );
        failures.expect(js.events.leaks() == 0, || {
            format!("{action}: token in an event")
        });
    }
    failures.finish("");
}

/// Runs `action` ('stop', 'free' or 'signOut') on a JS-held manager while `pending` (the
/// `fetchWithAuth` call, or what it threw) waits, then checks that it settles, that nothing
/// more is sent after it, but for the one request a `stop()` lets through (the caller was
/// already waiting for it), and that no token reached an event.
async fn interrupt(
    js: &JsRig,
    action: &str,
    pending: Result<JsValue, JsValue>,
    label: &str,
    release: Option<Function>,
    failures: &mut Failures,
) {
    match pending {
        Ok(pending) => interrupt_pending(js, action, pending, label, release, failures).await,
        Err(e) => failures.0.push(format!(
            "{label}: fetchWithAuth threw {}",
            describe_value(&e)
        )),
    }
    failures.expect(js.events.leaks() == 0, || {
        format!("{label}: token in an event")
    });
}

async fn interrupt_pending(
    js: &JsRig,
    action: &str,
    pending: JsValue,
    label: &str,
    release: Option<Function>,
    failures: &mut Failures,
) {
    let (calls, server) = (js.calls(), js.backend.count());
    // stop() cancels timers and listeners, not a request a caller is already waiting for:
    // that one request is sent once the provider answers.
    let allowed = u32::from(action == "stop" && release.is_none());
    if let Err(e) = js.attempt(action, &[]) {
        failures
            .0
            .push(format!("{label}: {action}() threw {}", describe_value(&e)));
    }
    if let Some(release) = release {
        js.advance(100.0).await;
        let _ = release.call0(&JsValue::NULL);
    }
    // Bounded by what is left of the provider's 200 ms answer (stop() lets it land).
    let outcome = js.within(Promise::resolve(&pending), 1_000).await;
    js.advance(f64::from(SLOW)).await; // anything still scheduled would run now
    failures.check(
        &format!("{label}: the pending fetchWithAuth"),
        &outcome,
        Want::ResponseOrSessionError,
    );
    let (new_calls, new_requests) = (js.calls() - calls, js.backend.count() - server);
    failures.expect(new_calls == 0, || {
        format!("{label}: {new_calls} provider calls after {action}()")
    });
    failures.expect(new_requests == allowed, || {
        format!("{label}: {new_requests} requests sent after {action}(), want {allowed}")
    });
    if action != "free" {
        js.free();
    }
}

#[wasm_bindgen_test]
async fn m_stop_free_and_sign_out_during_a_refresh() {
    watch_traps();
    let mut failures = Failures::default();
    for action in ["stop", "free", "signOut"] {
        let rig = Rig::new(60_000.0, &[]);
        rig.provider.set_delay_ms(200.0);
        let js = rig.into_js();
        let pending = js.attempt("fetchWithAuth", &["/api/x".into()]);
        js.advance(50.0).await; // the provider is answering
        let label = format!("{action} during the first refresh");
        interrupt(&js, action, pending, &label, None, &mut failures).await;
    }
    failures.finish("");
}

#[wasm_bindgen_test]
async fn m_stop_free_and_sign_out_during_a_retry() {
    watch_traps();
    let mut failures = Failures::default();
    for action in ["stop", "free", "signOut"] {
        let rig = Rig::new(60_000.0, &[]);
        warm_then_revoke(&rig, &mut failures).await;
        rig.provider.set_delay_ms(100.0);
        let js = rig.into_js();
        let pending = js.attempt("fetchWithAuth", &["/api/retry".into()]);
        js.advance(30.0).await; // the first try got its 401; the forced refresh runs
        let release = js.backend.hold_next(); // so the retry is held at the backend
        js.advance(120.0).await; // the refresh lands, the retry goes out
        let label = format!("{action} during the retry");
        failures.expect(js.backend.count() == 3, || {
            format!(
                "{label}: setup: {} requests, want warm-up, 401, held retry",
                js.backend.count()
            )
        });
        interrupt(&js, action, pending, &label, Some(release), &mut failures).await;
    }
    failures.finish("");
}
