//! The fault reproductions that break `console` (throwing, or deleted) or that have trapped
//! the module, kept apart from tests/faults.rs. A panic while `console` is deleted cannot
//! be reported: wasm-bindgen-test's panic hook writes with `console.error`, and a hook that
//! throws never returns, so every later panic on the page aborts without a message
//! (`RuntimeError: unreachable` only). In their own file they cannot take the messages of
//! the other fault tests with them.
//!
//! Same conventions as tests/faults.rs: rigs on a virtual clock, bounded waits, tables that
//! report every mismatch, hostile globals undone before asserting, `assert_no_trap()` last.
//! Run with `WASM_BINDGEN_TEST_TIMEOUT=300`.
#![cfg(target_arch = "wasm32")]

mod support;

use js_sys::Function;
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// =====================================================================================
// R1. A throwing console: no trap, every call settles.
// =====================================================================================

#[wasm_bindgen_test]
async fn r1_a_throwing_console_never_traps_and_every_call_settles() {
    watch_traps();
    let mut failures = Failures::default();
    for mode in ["throw", "reject"] {
        let rig = Rig::new(60_000.0, &[]);
        let thrower = Function::new_no_args("throw new Error('refreshFailed listener bug')");
        rig.manager.on("refreshFailed", thrower.into()).unwrap();
        rig.provider.set_mode(mode);
        let undo_console = hostile("console-throws");
        let first = rig.get_within("/api/x", SOON).await;
        undo(&undo_console);
        rig.provider.set_mode("ok");
        // The failed refresh closes the provider for a backoff window (at most 1 s after a
        // first failure): the second call comes after it.
        rig.advance(1_000.0).await;
        let second = rig.get_within("/api/x", SOON).await;
        rig.manager.stop();
        failures.check(
            &format!("{mode}: first call, console throwing"),
            &first,
            Want::Code("refresh_failed"),
        );
        failures.check(
            &format!("{mode}: second call, console restored"),
            &second,
            Want::Status(200),
        );
        failures.leaks(mode, &rig.events);
    }
    failures.finish("");
    assert_no_trap();
}

// =====================================================================================
// Hostile globals (fault matrix row).
// =====================================================================================

#[wasm_bindgen_test]
async fn m_hostile_globals_leave_the_standard_sequence_working() {
    watch_traps();
    let mut failures = Failures::default();
    for global in [
        "console-throws",
        "console-deleted",
        "abortsignal-any-deleted",
        "abortsignal-timeout-deleted",
        "broadcastchannel-deleted",
    ] {
        storage_remove(LAST_ATTEMPT);
        // BroadcastChannel goes before the manager is built; the others after (the console
        // tap needs a console).
        let early = (global == "broadcastchannel-deleted").then(|| hostile(global));
        let rig = Rig::try_new(
            60_000.0,
            &[
                ("checkSession", JsValue::TRUE),
                ("recoveryCooldownMs", ms(1.0)),
                ("credits", credit_retries(1.0)),
            ],
        );
        let rig = match rig {
            Ok(rig) => rig,
            Err(e) => {
                if let Some(f) = &early {
                    undo(f);
                }
                failures.0.push(format!(
                    "{global}: the constructor threw {}",
                    describe_value(&e)
                ));
                continue;
            }
        };
        let undo_global = early.unwrap_or_else(|| hostile(global));
        let signed_in = rig.get_within("/api/a", SOON).await;
        if let Some(token) = rig.provider.token() {
            rig.backend.revoke(&token);
        }
        let retried = rig.get_within("/api/b", SOON).await;
        let refreshed = rig.within(rig.manager.refresh_token(), SOON).await;
        rig.backend.restart();
        let recovered = rig.within(recovery_check(&rig.manager, global), SOON).await;
        let credits = rig
            .within(rig.manager.update_credits(credits_options()), SOON)
            .await;
        let signed_out = rig.within(rig.manager.sign_out(), SOON).await;
        undo(&undo_global);
        rig.manager.stop();
        for (step, outcome, want) in [
            ("sign-in", &signed_in, Want::Status(200)),
            ("401 then retry", &retried, Want::Status(200)),
            ("refreshToken", &refreshed, Want::Text),
            ("recovery check", &recovered, Want::Recovery("recovered")),
            ("updateCredits", &credits, Want::Number(100.0)),
            ("signOut", &signed_out, Want::Resolves),
        ] {
            failures.check(&format!("{global}: {step}"), outcome, want);
        }
        // The first token, the 401's, refreshToken's and the recovery's.
        let want = "plain:initial,forced:unauthorized,forced:manual,forced:recovery";
        failures.expect(rig.provider.reasons() == want, || {
            format!(
                "{global}: {} provider calls ({}), want {want}",
                rig.calls(),
                rig.provider.reasons()
            )
        });
        failures.leaks(global, &rig.events);
    }
    failures.finish("");
    assert_no_trap();
}
