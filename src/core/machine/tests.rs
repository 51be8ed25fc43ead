//! The whole policy on a virtual clock: a simulated page (provider, backend, storage, one
//! timer) plays the browser layer's part against the [`Core`], action by action.

use std::collections::HashMap;

use super::*;
use crate::core::action::Body;
use crate::core::credits::CreditsPolicy;

const T0: Millis = 1_700_000_000_000;

/// What the simulated provider does when asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Answers at once: its cached token while it lives, a new one when forced.
    Ok,
    /// Answers `null`.
    Null,
    /// Fails.
    Fail,
    /// Never answers.
    Hang,
}

/// How the simulated backend answers requests carrying the provider's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// 200 for the provider's newest token, 401 for anything else.
    Normal,
    /// 401 for everything.
    RefuseAll,
    /// Never answers.
    Hang,
}

struct Sim {
    core: Core,
    now: Millis,
    mode: Mode,
    lifetime: Millis,
    minted: u32,
    cached: Option<(String, Millis)>,
    newest: Option<String>,
    provider_calls: Vec<(bool, Reason)>,
    /// The last provider call, for answering a hanging one by hand.
    last_refresh: Option<RefreshId>,
    backend: Backend,
    /// Scripted replies (status, body), used before the rules above.
    script: Vec<(u16, &'static str)>,
    /// Credits the endpoint reads: zero while `restarted`.
    restarted: bool,
    requests: Vec<(Target, Option<String>)>,
    check_session: Option<bool>,
    settled: HashMap<CallId, Result<Value, Rejection>>,
    events: Vec<Event>,
    logs: Vec<(Level, String)>,
    mirror: Option<bool>,
    stored_stamp: Option<Millis>,
    others: Vec<Action>,
}

fn settings() -> Settings {
    Settings {
        policy: Policy::default(),
        credits: CreditsPolicy {
            max_retries: 3,
            base_delay_ms: 1_000,
            max_delay_ms: 30_000,
            jitter: true,
        },
        check_session: true,
        credits_endpoint: true,
        verify_endpoint: true,
        log_level: Level::Debug,
        seed: 7,
        tabs: false,
        locks: false,
    }
}

impl Sim {
    fn new() -> Sim {
        Sim::with(settings())
    }

    fn with(settings: Settings) -> Sim {
        Sim {
            core: Core::new(settings),
            now: T0,
            mode: Mode::Ok,
            lifetime: 60_000,
            minted: 0,
            cached: None,
            newest: None,
            provider_calls: vec![],
            last_refresh: None,
            backend: Backend::Normal,
            script: vec![],
            restarted: false,
            requests: vec![],
            check_session: Some(true),
            settled: HashMap::new(),
            events: vec![],
            logs: vec![],
            mirror: None,
            stored_stamp: None,
            others: vec![],
        }
    }

    /// A token as the browser layer hands it over: with its claims decoded (the JWT payload
    /// of these test tokens is plain JSON, so decoding is just reading the numbers back).
    fn decoded(&self, token: &str) -> Answer {
        let payload = token.split('.').nth(1).unwrap_or_default();
        let json = base64url_decode(payload);
        let number = |name: &str| {
            let key = format!("\"{name}\":");
            let at = json.find(&key)? + key.len();
            json[at..].split([',', '}']).next()?.parse::<f64>().ok()
        };
        Answer::read(token.to_owned(), Ok((number("exp"), number("iat"))))
    }

    fn mint(&mut self) -> String {
        self.minted += 1;
        let (iat, exp) = (self.now / 1000, (self.now + self.lifetime) / 1000);
        let payload = format!("{{\"iat\":{iat},\"exp\":{exp},\"n\":{}}}", self.minted);
        let token = format!("h.{}.s", base64url(payload.as_bytes()));
        self.cached = Some((token.clone(), self.now + self.lifetime));
        self.newest = Some(token.clone());
        token
    }

    /// Carries out every queued action (answering at once where the doubles do), and
    /// records every event.
    fn pump(&mut self) {
        for _ in 0..100_000 {
            if let Some(event) = self.core.poll_event() {
                self.events.push(event);
                continue;
            }
            let Some(action) = self.core.poll_action() else {
                return;
            };
            self.execute(action);
        }
        panic!("the machine never went quiet");
    }

    fn execute(&mut self, action: Action) {
        match action {
            Action::CallProvider { id, force, reason } => {
                self.provider_calls.push((force, reason));
                self.last_refresh = Some(id);
                let answer = match self.mode {
                    Mode::Hang => return,
                    Mode::Null => Ok(None),
                    Mode::Fail => Err(Error::new(ErrorCode::RefreshFailed, "getToken threw")),
                    Mode::Ok => {
                        let fresh = self.cached.as_ref().filter(|(_, exp)| self.now < *exp);
                        Ok(Some(match (force, fresh) {
                            (false, Some((token, _))) => token.clone(),
                            _ => self.mint(),
                        }))
                    }
                };
                let answer = answer.map(|t| t.map(|t| self.decoded(&t)));
                self.core.provider_answered(self.now, id, answer);
            }
            Action::Send {
                send,
                target,
                token,
                ..
            } => {
                let bearer = token.map(|t| t.expose().to_owned());
                self.requests.push((target, bearer.clone()));
                let valid = bearer.is_some() && bearer == self.newest;
                let reply = if let Some((status, body)) =
                    (!self.script.is_empty()).then(|| self.script.remove(0))
                {
                    answered(status, body)
                } else {
                    match (self.backend, target) {
                        (Backend::Hang, _) => return,
                        (Backend::RefuseAll, _) => answered(401, r#"{"requires_refresh":true}"#),
                        (_, _) if !valid => answered(401, r#"{"requires_refresh":true}"#),
                        (_, Target::Verify) => {
                            self.restarted = false;
                            answered(200, r#"{"valid":true}"#)
                        }
                        (_, Target::Credits { .. }) if self.restarted => {
                            answered(200, r#"{"credits":0}"#)
                        }
                        (_, Target::Credits { .. }) => answered(200, r#"{"credits":100}"#),
                        (_, Target::Page(_)) => answered(200, "{}"),
                    }
                };
                self.core.replied(self.now, send, reply);
            }
            Action::Sample { id, provider } => {
                let provider = provider.then_some(self.check_session).flatten();
                self.core.sampled(self.now, id, provider, self.mirror);
            }
            Action::ReadStamps { run } => {
                self.core
                    .stamps_read(self.now, run, [self.stored_stamp, None]);
            }
            Action::Stamp(at) => self.stored_stamp = Some(at),
            Action::Mirror(token) if self.mirror.is_some() => self.mirror = Some(token.is_some()),
            Action::Resolve { call, value } => {
                assert!(
                    self.settled.insert(call, Ok(value)).is_none(),
                    "call {call} settled twice"
                );
            }
            Action::Reject { call, error } => {
                assert!(
                    self.settled.insert(call, Err(error)).is_none(),
                    "call {call} settled twice"
                );
            }
            Action::Log(level, line) => self.logs.push((level, line.into_owned())),
            other => self.others.push(other),
        }
    }

    /// Lets `ms` of virtual time pass, firing every deadline on the way.
    fn advance(&mut self, ms: Millis) {
        let end = self.now + ms;
        for _ in 0..100_000 {
            match self.core.poll_timeout() {
                Some(at) if at <= end => {
                    assert!(
                        at >= self.now,
                        "a deadline in the past: {at} < {}",
                        self.now
                    );
                    self.now = self.now.max(at);
                    self.core.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn call(&mut self) -> CallId {
        self.core.next_id()
    }

    fn fetch(&mut self) -> CallId {
        let call = self.call();
        self.core.fetch(self.now, call, true, true);
        self.pump();
        call
    }

    fn error(&self, call: CallId) -> Option<ErrorCode> {
        match self.settled.get(&call)? {
            Err(Rejection::Error(e)) => Some(e.code),
            _ => None,
        }
    }

    fn count(&self, name: &str) -> usize {
        self.events.iter().filter(|e| e.name() == name).count()
    }

    fn forced(&self) -> usize {
        self.provider_calls
            .iter()
            .filter(|(force, _)| *force)
            .count()
    }

    fn sign_in(&mut self) {
        let call = self.fetch();
        assert!(matches!(
            self.settled.get(&call),
            Some(Ok(Value::Response(_)))
        ));
    }

    /// The provider pushes a new token: its own refresh, or a sign-in.
    fn push_new(&mut self) {
        let token = self.mint();
        let token = self.decoded(&token);
        self.core.pushed(self.now, Some(token));
        self.pump();
    }

    /// Within 250 ms the schedule asks the provider again (it had been asked `asked` times).
    fn assert_schedule_resumes(&mut self, asked: usize) {
        self.advance(250);
        assert!(
            self.provider_calls.len() > asked,
            "the schedule resumed: {:?}",
            self.core.poll_timeout()
        );
    }

    fn others(&self, want: &Action) -> usize {
        self.others.iter().filter(|a| *a == want).count()
    }
}

fn answered(status: u16, body: &str) -> Reply {
    // What the browser layer would read of these few bodies.
    let number = |name: &str| {
        let key = format!("\"{name}\":");
        let at = body.find(&key)? + key.len();
        body[at..].split([',', '}']).next()?.parse::<f64>().ok()
    };
    let body = body.starts_with('{').then(|| Body {
        requires_refresh: body.contains(r#""requires_refresh":true"#),
        detail_requires_refresh: false,
        credits: number("credits"),
        success: None,
    });
    Reply::Answered {
        status,
        body,
        retry_after: None,
    }
}

use crate::core::fake_jwt::{base64url, base64url_decode};

// ----- fetchWithAuth: retry-once and the expiry rules -----

#[test]
fn a_401_refreshes_once_and_retries_once_with_the_new_token() {
    let mut sim = Sim::new();
    sim.sign_in();
    let refused = sim.newest.clone();
    sim.newest = Some("revoked".into()); // the backend now refuses the token held
    sim.cached = None;
    let call = sim.fetch();
    assert!(matches!(sim.settled[&call], Ok(Value::Response(_))));
    assert_eq!(sim.forced(), 1);
    let bearers: Vec<_> = sim.requests.iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(bearers.len(), 3, "sign-in, the refused try, the one retry");
    assert_eq!(bearers[1], refused);
    assert_eq!(bearers[2], sim.newest);
    assert_eq!(sim.count("sessionExpired"), 0);
}

#[test]
fn a_burst_of_refusals_shares_one_refresh() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.newest = Some("revoked".into());
    sim.cached = None;
    // 100 calls all sent with the refused token before any answer comes back: queue them.
    let calls: Vec<CallId> = (0..100)
        .map(|_| {
            let call = sim.call();
            sim.core.fetch(sim.now, call, true, true);
            call
        })
        .collect();
    sim.pump();
    assert_eq!(sim.forced(), 1, "one provider call for the whole burst");
    assert_eq!(sim.requests.len(), 1 + 100 + 100);
    assert!(calls
        .iter()
        .all(|c| matches!(sim.settled[c], Ok(Value::Response(_)))));
}

#[test]
fn a_backend_that_refuses_every_token_costs_one_report_and_one_forced_refresh() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.backend = Backend::RefuseAll;
    for _ in 0..20 {
        let call = sim.fetch();
        assert!(
            matches!(sim.settled[&call], Ok(Value::Response(_))),
            "every poll gets its 401"
        );
        sim.advance(150);
    }
    assert_eq!(sim.count("sessionExpired"), 1);
    assert_eq!(sim.others(&Action::SessionOver), 1);
    assert_eq!(sim.forced(), 1);
    assert_eq!(sim.requests.len(), 1 + 20 + 1);
    // A real sign-in ends the halt; the next refusal is reported again, once.
    sim.core.start(sim.now);
    sim.pump();
    for _ in 0..5 {
        sim.fetch();
        sim.advance(150);
    }
    assert_eq!(sim.count("sessionExpired"), 2);
}

#[test]
fn a_request_to_another_origin_is_sent_as_it_is_and_never_refreshed() {
    let mut sim = Sim::new();
    sim.backend = Backend::RefuseAll;
    let call = sim.call();
    sim.core.fetch(sim.now, call, false, true);
    sim.pump();
    assert!(matches!(sim.settled[&call], Ok(Value::Response(_))));
    assert_eq!(sim.requests, [(Target::Page(call), None)]);
    assert!(sim.provider_calls.is_empty());
}

#[test]
fn a_stream_body_is_sent_once_and_its_401_returned_while_a_refresh_runs_detached() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.newest = Some("revoked".into());
    sim.cached = None;
    let call = sim.call();
    sim.core.fetch(sim.now, call, true, false);
    sim.pump();
    assert!(matches!(sim.settled[&call], Ok(Value::Response(_))));
    assert_eq!(sim.requests.len(), 2, "no replay");
    assert_eq!(sim.forced(), 1, "the next call gets a fresh token");
}

#[test]
fn no_session_means_nothing_is_sent() {
    let mut sim = Sim::new();
    sim.mode = Mode::Null;
    let call = sim.fetch();
    assert_eq!(sim.error(call), Some(ErrorCode::Unauthenticated));
    assert!(sim.requests.is_empty());
    assert_eq!(sim.count("sessionExpired"), 1);
}

#[test]
fn a_hanging_provider_and_a_hanging_request_time_out_on_their_deadlines() {
    let mut sim = Sim::new();
    sim.mode = Mode::Hang;
    let call = sim.fetch();
    assert!(!sim.settled.contains_key(&call));
    sim.advance(9_999);
    assert!(!sim.settled.contains_key(&call));
    sim.advance(1);
    assert_eq!(sim.error(call), Some(ErrorCode::Timeout));

    let mut sim = Sim::new();
    sim.sign_in();
    sim.backend = Backend::Hang;
    let call = sim.fetch();
    sim.advance(30_000);
    assert_eq!(sim.error(call), Some(ErrorCode::Timeout));
    assert_eq!(
        sim.others
            .iter()
            .filter(|a| matches!(a, Action::Abort { .. }))
            .count(),
        1
    );
}

#[test]
fn a_failing_provider_closes_for_a_window_and_callers_inside_it_pay_nothing() {
    let mut sim = Sim::new();
    sim.mode = Mode::Fail;
    let first = sim.fetch();
    assert_eq!(sim.error(first), Some(ErrorCode::RefreshFailed));
    let inside = sim.fetch();
    assert_eq!(sim.error(inside), Some(ErrorCode::RefreshFailed));
    assert_eq!(sim.provider_calls.len(), 1);
    assert_eq!(sim.count("refreshFailed"), 1);
    assert_eq!(sim.count("sessionExpired"), 1);
    sim.advance(1_000);
    sim.fetch();
    assert_eq!(
        sim.provider_calls.len(),
        2,
        "after the window, one more try"
    );
}

// ----- the schedule -----

#[test]
fn the_schedule_refreshes_from_exp_and_never_rearms_in_the_past() {
    let mut sim = Sim::new();
    sim.core.start(sim.now);
    sim.pump();
    assert_eq!(sim.provider_calls, [(false, Reason::Initial)]);
    assert_eq!(sim.count("stateChanged"), 1);
    // A 60 s token with a 10 s margin is refreshed at exp − margin = 50 s.
    sim.advance(49_000);
    assert_eq!(sim.provider_calls.len(), 1);
    sim.advance(1_000);
    assert_eq!(
        sim.provider_calls.len(),
        3,
        "plain (the cache is inside the margin), then forced"
    );
    sim.core.stop();
    sim.advance(600_000);
    assert_eq!(sim.provider_calls.len(), 3, "stop() ends the schedule");
}

#[test]
fn a_tab_that_slept_past_its_refresh_refreshes_on_wake_once() {
    let mut sim = Sim::new();
    sim.core.start(sim.now);
    sim.pump();
    // The tab is frozen for ten minutes: no timer fired.
    sim.now += 600_000;
    sim.core.woke(sim.now, "visible");
    sim.pump();
    assert_eq!(sim.provider_calls.len(), 2);
    let call = sim.fetch();
    assert!(matches!(sim.settled[&call], Ok(Value::Response(_))));
    assert_eq!(sim.provider_calls.len(), 2);
}

// ----- sign-out, pushes, other tabs, free -----

#[test]
fn sign_out_halts_until_a_real_sign_in_and_tells_the_other_tabs() {
    let mut sim = Sim::new();
    sim.core.start(sim.now);
    sim.pump();
    let call = sim.call();
    sim.core.sign_out(sim.now, call);
    sim.pump();
    assert_eq!(sim.settled[&call], Ok(Value::Nothing));
    assert_eq!(sim.others(&Action::BroadcastSignOut), 1);
    let after = sim.fetch();
    assert_eq!(sim.error(after), Some(ErrorCode::Unauthenticated));
    sim.advance(600_000);
    assert_eq!(sim.provider_calls.len(), 1, "nothing asks the provider");
    sim.push_new();
    let call = sim.fetch();
    assert!(matches!(sim.settled[&call], Ok(Value::Response(_))));
}

#[test]
fn another_tabs_sign_out_is_reported_once() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.core.signed_out_elsewhere(sim.now);
    sim.pump();
    sim.core.signed_out_elsewhere(sim.now);
    sim.pump();
    assert_eq!(sim.count("sessionExpired"), 1);
    assert!(matches!(
        sim.events.iter().find(|e| e.name() == "sessionExpired"),
        Some(Event::SessionExpired {
            reason: ExpiryReason::SignedOutElsewhere
        })
    ));
}

#[test]
fn free_settles_every_waiting_call_with_freed_and_sends_nothing_more() {
    let mut sim = Sim::new();
    sim.mode = Mode::Hang;
    let fetch = sim.fetch();
    let refresh = sim.call();
    sim.core.refresh_token(sim.now, refresh);
    let wait = sim.call();
    sim.core.wait_for_stability(sim.now, wait, 10_000, 500);
    sim.pump();
    sim.core.free();
    sim.pump();
    for call in [fetch, refresh, wait] {
        assert_eq!(sim.error(call), Some(ErrorCode::Freed), "call {call}");
    }
    assert_eq!(sim.core.poll_timeout(), None);
    let late = sim.fetch();
    assert_eq!(sim.error(late), Some(ErrorCode::Freed));
    assert!(sim.requests.is_empty());
}

// ----- recovery -----

fn recover(sim: &mut Sim, trigger: &str) -> Value {
    let call = sim.call();
    sim.core.recover(sim.now, call, trigger.into());
    sim.pump();
    sim.settled
        .remove(&call)
        .expect("settled")
        .expect("resolved")
}

fn outcome(value: &Value) -> &'static str {
    match value {
        Value::Outcome { reason, .. } => reason,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_healthy_session_is_probed_and_left_alone() {
    let mut sim = Sim::new();
    sim.sign_in();
    assert_eq!(outcome(&recover(&mut sim, "manual")), "healthy");
    assert_eq!(sim.count("recoveryCheck"), 1);
    assert_eq!(sim.count("recovered"), 0);
    assert_eq!(sim.forced(), 0);
}

#[test]
fn each_unhealthy_probe_alone_recovers_and_is_named() {
    for probe in [Probe::Credits, Probe::Verify, Probe::CheckSession] {
        let mut sim = Sim::new();
        sim.sign_in();
        match probe {
            Probe::Credits => sim.restarted = true,
            Probe::Verify => sim.script = vec![(200, r#"{"credits":100}"#), (401, "{}")],
            Probe::CheckSession => sim.check_session = Some(false),
        }
        assert_eq!(outcome(&recover(&mut sim, "t")), "recovered", "{probe:?}");
        let Some(Event::Recovered { unhealthy, .. }) =
            sim.events.iter().find(|e| e.name() == "recovered")
        else {
            panic!("no recovered event for {probe:?}")
        };
        assert_eq!(unhealthy, &[probe]);
        assert_eq!(sim.forced(), 1);
        assert_eq!(sim.others(&Action::DropCreditsCache), 1);
        assert_eq!(sim.others(&Action::AuthRecovered), 1);
    }
}

#[test]
fn the_verify_probe_goes_out_only_after_the_credits_answer() {
    let mut sim = Sim::new();
    sim.sign_in();
    recover(&mut sim, "t");
    let targets: Vec<_> = sim.requests.iter().skip(1).map(|(t, _)| *t).collect();
    assert_eq!(targets, [Target::Credits { force: false }, Target::Verify]);
}

#[test]
fn recovery_is_rate_limited_by_the_cooldown_on_record() {
    let mut sim = Sim::new();
    sim.sign_in();
    assert_eq!(outcome(&recover(&mut sim, "a")), "healthy");
    assert_eq!(outcome(&recover(&mut sim, "b")), "cooldown");
    sim.advance(29_999);
    assert_eq!(outcome(&recover(&mut sim, "c")), "cooldown");
    sim.advance(1);
    assert_eq!(outcome(&recover(&mut sim, "d")), "healthy");
    // Another tab's stamp counts too.
    sim.advance(30_000);
    sim.stored_stamp = Some(sim.now - 1_000);
    assert_eq!(outcome(&recover(&mut sim, "e")), "cooldown");
    assert_eq!(sim.count("recoveryCheck"), 2);
}

#[test]
fn a_failed_recovery_is_reported_once_and_never_loops() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.check_session = Some(false);
    sim.mode = Mode::Fail;
    assert_eq!(outcome(&recover(&mut sim, "t")), "failed");
    assert_eq!(sim.count("refreshFailed"), 1);
    assert_eq!(
        sim.provider_calls.len(),
        2,
        "the sign-in and the one forced try"
    );
    sim.advance(600_000);
    assert_eq!(sim.provider_calls.len(), 2);
}

// ----- credits -----

fn credits(sim: &mut Sim, force: bool) -> CallId {
    let call = sim.call();
    sim.core.update_credits(sim.now, call, force);
    sim.pump();
    call
}

#[test]
fn a_restart_reads_zero_recovers_and_reads_again_past_the_cache() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.restarted = true;
    let call = credits(&mut sim, false);
    sim.advance(5_000);
    assert_eq!(sim.settled[&call], Ok(Value::Number(100.0)));
    assert_eq!(sim.count("recoveryCheck"), 1);
    assert_eq!(sim.count("recovered"), 1);
    assert_eq!(sim.count("creditsUpdated"), 1);
    let reads: Vec<_> = sim
        .requests
        .iter()
        .filter_map(|(t, _)| match t {
            Target::Credits { force } => Some(*force),
            _ => None,
        })
        .collect();
    // The read (0), the recovery's credits probe (0), then the read past the cache.
    assert_eq!(reads, [false, false, true]);
}

#[test]
fn overlapping_credit_reads_share_one_run() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.backend = Backend::Hang;
    let a = credits(&mut sim, false);
    let b = credits(&mut sim, false);
    sim.backend = Backend::Normal;
    sim.advance(30_000);
    sim.advance(10_000);
    assert_eq!(sim.settled.get(&a), sim.settled.get(&b));
    assert_eq!(sim.count("creditsUpdated"), 1);
}

#[test]
fn server_errors_are_retried_with_backoff_then_rejected_typed() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.script = vec![(503, ""), (503, ""), (503, ""), (503, "")];
    let call = credits(&mut sim, false);
    sim.advance(10_000);
    assert_eq!(sim.error(call), Some(ErrorCode::Server));
    assert_eq!(sim.requests.len(), 1 + 4, "the read and three retries");
}

#[test]
fn an_offline_browser_pauses_the_credits_run_without_spending_retries() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.core.set_online(sim.now, false);
    let call = credits(&mut sim, false);
    sim.advance(20_000);
    assert!(!sim.settled.contains_key(&call), "waiting for online");
    sim.core.set_online(sim.now, true);
    sim.pump();
    assert_eq!(sim.settled[&call], Ok(Value::Number(100.0)));
    // Staying offline past requestTimeoutMs rejects with network.
    sim.core.set_online(sim.now, false);
    let call = credits(&mut sim, false);
    sim.advance(30_000);
    assert_eq!(sim.error(call), Some(ErrorCode::Network));
}

#[test]
fn odd_bodies_reject_with_bad_response_without_retrying() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.script = vec![(200, "not json")];
    let call = credits(&mut sim, false);
    assert_eq!(sim.error(call), Some(ErrorCode::BadResponse));
    assert_eq!(sim.requests.len(), 2);
}

// ----- stability -----

fn stable(sim: &mut Sim, max_wait: Millis) -> CallId {
    let call = sim.call();
    sim.core.wait_for_stability(sim.now, call, max_wait, 500);
    sim.pump();
    call
}

#[test]
fn a_fresh_page_becomes_stable_by_asking_the_provider() {
    let mut sim = Sim::new();
    let call = stable(&mut sim, 10_000);
    assert_eq!(sim.settled[&call], Ok(Value::Bool(true)));
    assert_eq!(sim.provider_calls.len(), 1);
}

#[test]
fn a_stale_mirror_is_brought_in_line() {
    let mut sim = Sim::new();
    sim.sign_in();
    sim.mirror = Some(false); // a key removed by hand
    let call = stable(&mut sim, 10_000);
    assert_eq!(sim.settled[&call], Ok(Value::Bool(true)));
    assert_eq!(sim.mirror, Some(true));
}

#[test]
fn sources_that_never_agree_time_out_with_false_on_the_deadline() {
    let mut sim = Sim::new();
    sim.check_session = Some(false);
    sim.sign_in();
    let call = stable(&mut sim, 2_000);
    sim.advance(1_999);
    assert!(!sim.settled.contains_key(&call));
    sim.advance(1);
    assert_eq!(sim.settled[&call], Ok(Value::Bool(false)));
}

#[test]
fn a_pushed_sign_in_resumes_a_started_schedule() {
    let mut sim = Sim::with(Settings {
        policy: Policy {
            refresh_interval_ms: 100,
            ..Policy::default()
        },
        ..settings()
    });
    sim.core.start(sim.now);
    sim.pump();
    sim.advance(30);
    sim.core.pushed(sim.now, None);
    sim.pump();
    let asked = sim.provider_calls.len();
    sim.advance(300);
    assert_eq!(
        sim.provider_calls.len(),
        asked,
        "halted: no scheduled calls"
    );
    let call = sim.fetch();
    assert_eq!(sim.error(call), Some(ErrorCode::Unauthenticated));
    sim.push_new();
    assert!(sim.core.is_authenticated(sim.now));
    sim.assert_schedule_resumes(asked);
}

#[test]
fn a_push_that_lands_before_the_providers_own_answer_leaves_the_schedule_running() {
    let mut sim = Sim::with(Settings {
        policy: Policy {
            refresh_interval_ms: 100,
            ..Policy::default()
        },
        ..settings()
    });
    sim.mode = Mode::Hang;
    sim.core.start(sim.now);
    sim.pump();
    let token = sim.mint();
    let pushed = sim.decoded(&token);
    sim.core.pushed(sim.now, Some(pushed));
    sim.pump();
    let id = sim.last_refresh.unwrap();
    let token = sim.decoded(&token);
    sim.core.provider_answered(sim.now, id, Ok(Some(token)));
    sim.pump();
    sim.mode = Mode::Ok;
    sim.advance(30);
    sim.core.pushed(sim.now, None);
    sim.pump();
    let call = sim.fetch();
    assert_eq!(sim.error(call), Some(ErrorCode::Unauthenticated));
    sim.advance(300);
    let asked = sim.provider_calls.len();
    sim.push_new();
    sim.assert_schedule_resumes(asked);
}

#[test]
fn a_caller_abort_ends_a_call_waiting_for_a_token_at_once_and_the_refresh_goes_on() {
    let mut sim = Sim::new();
    sim.mode = Mode::Hang;
    let aborted = sim.fetch();
    let waiting = sim.fetch();
    sim.advance(70);
    sim.core.caller_aborted(sim.now, aborted);
    sim.pump();
    assert_eq!(sim.settled.get(&aborted), Some(&Err(Rejection::Aborted)));
    assert!(
        !sim.settled.contains_key(&waiting),
        "the other caller still waits"
    );
    // The shared refresh was not asked again, and its answer still serves the other call.
    let id = sim.last_refresh.unwrap();
    let token = sim.mint();
    let token = sim.decoded(&token);
    sim.core.provider_answered(sim.now, id, Ok(Some(token)));
    sim.pump();
    assert_eq!(sim.provider_calls.len(), 1);
    assert!(matches!(sim.settled[&waiting], Ok(Value::Response(_))));
    assert_eq!(
        sim.requests.len(),
        1,
        "nothing was sent for the aborted call"
    );

    // In flight, the browser aborts the request and reports it: the core leaves it be.
    sim.backend = Backend::Hang;
    let sent = sim.fetch();
    sim.core.caller_aborted(sim.now, sent);
    sim.pump();
    assert!(!sim.settled.contains_key(&sent));
    // Waiting to retry after a 401: ends at once too, with no retry sent.
    sim.backend = Backend::Normal;
    sim.newest = Some("revoked".into());
    sim.cached = None;
    sim.mode = Mode::Hang;
    let retrying = sim.fetch();
    let before = sim.requests.len();
    sim.core.caller_aborted(sim.now, retrying);
    sim.pump();
    assert_eq!(sim.settled.get(&retrying), Some(&Err(Rejection::Aborted)));
    sim.advance(10_000);
    assert_eq!(sim.requests.len(), before, "no retry went out");
}

#[test]
fn each_credits_run_draws_its_own_retry_delays() {
    let mut sim = Sim::new();
    sim.sign_in();
    let mut runs = vec![];
    for _ in 0..2 {
        sim.script = vec![(503, ""); 4];
        let start = sim.now;
        let call = credits(&mut sim, false);
        let mut seen = sim.requests.len();
        let mut retries = vec![];
        for _ in 0..10_000 {
            sim.advance(1);
            if sim.requests.len() > seen {
                seen = sim.requests.len();
                retries.push(sim.now - start);
            }
        }
        assert_eq!(sim.error(call), Some(ErrorCode::Server));
        assert_eq!(retries.len(), 3);
        runs.push(retries);
    }
    assert_ne!(
        runs[0], runs[1],
        "the second run replayed the first's delays"
    );
}

/// Several tabs of one session on one virtual clock: one provider that rotates a single
/// refresh token (so two tabs refreshing at once is a rotation race), one cross-tab lock, one
/// stored token, and a channel that delivers each shared token a step late.
mod tabs {
    use super::*;
    use std::collections::VecDeque;

    struct Tab {
        core: Core,
        frozen: bool,
        settled: HashMap<CallId, bool>,
        expired: usize,
    }

    struct Tabs {
        tabs: Vec<Tab>,
        now: Millis,
        lifetime: Millis,
        minted: u32,
        /// Provider calls by tab: (tab, forced).
        provider_calls: Vec<(usize, bool)>,
        /// Each tab's provider cache, as Clerk's or the demo's: its own last token.
        cache: Vec<Option<(String, Millis)>>,
        stored: Option<String>,
        lock: Option<(usize, RefreshId)>,
        waiting: VecDeque<(usize, RefreshId)>,
        mail: VecDeque<(usize, String)>,
        refused: usize,
    }

    fn tab_settings(seed: u64) -> Settings {
        Settings {
            tabs: true,
            locks: true,
            seed,
            ..settings()
        }
    }

    impl Tabs {
        fn new(count: usize, lifetime: Millis) -> Tabs {
            let mut tabs = Tabs {
                tabs: (0..count)
                    .map(|i| Tab {
                        core: Core::new(tab_settings(i as u64 + 1)),
                        frozen: false,
                        settled: HashMap::new(),
                        expired: 0,
                    })
                    .collect(),
                now: T0,
                lifetime,
                minted: 0,
                provider_calls: vec![],
                cache: vec![None; count],
                stored: None,
                lock: None,
                waiting: VecDeque::new(),
                mail: VecDeque::new(),
                refused: 0,
            };
            for i in 0..count {
                // Tab 0 holds the leader's lock; the others queue for it.
                tabs.tabs[i].core.set_leader(tabs.now, i == 0);
                tabs.tabs[i].core.start(tabs.now);
            }
            tabs.pump();
            tabs
        }

        fn mint(&mut self) -> String {
            self.minted += 1;
            let (iat, exp) = (self.now / 1000, (self.now + self.lifetime) / 1000);
            let payload = format!("{{\"iat\":{iat},\"exp\":{exp},\"n\":{}}}", self.minted);
            format!("h.{}.s", base64url(payload.as_bytes()))
        }

        fn decoded(token: &str) -> Answer {
            let json = base64url_decode(token.split('.').nth(1).unwrap_or_default());
            let number = |name: &str| {
                let key = format!("\"{name}\":");
                let at = json.find(&key)? + key.len();
                json[at..].split([',', '}']).next()?.parse::<f64>().ok()
            };
            Answer::read(token.to_owned(), Ok((number("exp"), number("iat"))))
        }

        fn expiry(token: &str) -> Millis {
            Tabs::decoded(token)
                .claims
                .ok()
                .and_then(|c| c.expires_at)
                .unwrap_or(0)
        }

        fn grant(&mut self, tab: usize, id: RefreshId) {
            self.lock = Some((tab, id));
            // Only the exp is stored; the token itself comes by message.
            let stored = self.stored.as_deref().map(Tabs::expiry);
            if self.tabs[tab].core.shared_read(self.now, id, stored) {
                // It waits for a newer token: the runtime asks the other tabs for it.
                for i in 0..self.tabs.len() {
                    if i != tab && !self.tabs[i].frozen {
                        self.tabs[i].core.wanted(self.now);
                    }
                }
            }
        }

        /// Carries out what every tab that is not frozen asks for, until nothing moves.
        fn pump(&mut self) {
            for _ in 0..100_000 {
                let mut moved = false;
                for i in 0..self.tabs.len() {
                    if self.tabs[i].frozen {
                        continue;
                    }
                    while let Some(event) = self.tabs[i].core.poll_event() {
                        if event.name() == "sessionExpired" {
                            self.tabs[i].expired += 1;
                        }
                    }
                    if let Some(action) = self.tabs[i].core.poll_action() {
                        self.execute(i, action);
                        moved = true;
                    }
                }
                if !moved {
                    let Some((from, token)) = self.mail.pop_front() else {
                        return;
                    };
                    for i in 0..self.tabs.len() {
                        if i != from && !self.tabs[i].frozen {
                            self.tabs[i]
                                .core
                                .shared_token(self.now, Tabs::decoded(&token));
                        }
                    }
                }
            }
            panic!("the tabs never settled");
        }

        fn execute(&mut self, tab: usize, action: Action) {
            let now = self.now;
            match action {
                Action::Coordinate { id, .. } => {
                    if self.lock.is_none() {
                        self.grant(tab, id);
                    } else {
                        self.waiting.push_back((tab, id));
                    }
                }
                Action::Release { id } => {
                    if self.lock == Some((tab, id)) {
                        self.lock = None;
                        if let Some((next, id)) = self.waiting.pop_front() {
                            self.grant(next, id);
                        }
                    } else {
                        self.waiting.retain(|w| *w != (tab, id));
                    }
                }
                Action::CallProvider { id, force, .. } => {
                    self.provider_calls.push((tab, force));
                    let cached = self.cache[tab]
                        .clone()
                        .filter(|(_, exp)| !force && now + 10_000.min(self.lifetime / 2) < *exp);
                    let token = match cached {
                        Some((token, _)) => token,
                        None => {
                            // A refresh needs the lock: a second one at once is a race the
                            // rotating refresh token loses.
                            if self.lock.is_none_or(|(holder, _)| holder != tab) {
                                self.refused += 1;
                            }
                            let token = self.mint();
                            self.cache[tab] = Some((token.clone(), Tabs::expiry(&token)));
                            token
                        }
                    };
                    self.tabs[tab]
                        .core
                        .provider_answered(now, id, Ok(Some(Tabs::decoded(&token))));
                }
                Action::Share(token) => {
                    self.stored = Some(token.expose().to_owned());
                    self.mail.push_back((tab, token.expose().to_owned()));
                }
                Action::Send { send, token, .. } => {
                    let live = token.is_some_and(|t| Tabs::expiry(t.expose()) > now);
                    let reply = if live {
                        answered(200, "{}")
                    } else {
                        answered(401, "{}")
                    };
                    self.tabs[tab].core.replied(now, send, reply);
                }
                Action::TakeLead => {
                    for (i, other) in self.tabs.iter_mut().enumerate() {
                        if i != tab {
                            other.core.set_leader(now, false);
                        }
                    }
                }
                Action::BroadcastSignOut => {
                    self.stored = None;
                    for i in 0..self.tabs.len() {
                        if i != tab {
                            self.tabs[i].core.signed_out_elsewhere(now);
                        }
                    }
                }
                Action::Resolve { call, .. } => {
                    self.tabs[tab].settled.insert(call, true);
                }
                Action::Reject { call, .. } => {
                    self.tabs[tab].settled.insert(call, false);
                }
                _ => {}
            }
        }

        /// Lets `ms` pass, firing every deadline of every tab that is not frozen.
        fn advance(&mut self, ms: Millis) {
            let end = self.now + ms;
            for _ in 0..100_000 {
                let next = (0..self.tabs.len())
                    .filter(|&i| !self.tabs[i].frozen)
                    .filter_map(|i| self.tabs[i].core.poll_timeout().map(|at| (at, i)))
                    .min();
                match next {
                    Some((at, i)) if at <= end => {
                        assert!(at >= self.now, "a deadline in the past");
                        self.now = at;
                        self.tabs[i].core.handle_timeout(at);
                        self.pump();
                    }
                    _ => break,
                }
            }
            self.now = end;
        }

        fn fetch(&mut self, tab: usize) -> CallId {
            let call = self.tabs[tab].core.next_id();
            self.tabs[tab].core.fetch(self.now, call, true, true);
            self.pump();
            call
        }

        /// Every tab that is not frozen calls `fetchWithAuth` once a second for `seconds`;
        /// the calls that did not succeed.
        fn busy(&mut self, seconds: u64) -> usize {
            let mut calls = vec![];
            for _ in 0..seconds {
                for tab in 0..self.tabs.len() {
                    if !self.tabs[tab].frozen {
                        calls.push((tab, self.fetch(tab)));
                    }
                }
                self.advance(1_000);
            }
            calls
                .iter()
                .filter(|(tab, call)| self.tabs[*tab].settled.get(call) != Some(&true))
                .count()
        }

        fn leaders(&self) -> Vec<usize> {
            (0..self.tabs.len())
                .filter(|&i| self.tabs[i].core.is_leader())
                .collect()
        }
    }

    #[test]
    fn one_refresh_per_lifetime_whatever_the_number_of_tabs() {
        for count in [1, 2, 5] {
            // 4 s tokens, a 1 s margin, busy for 20 s: 5 lifetimes.
            let mut tabs = Tabs {
                ..Tabs::new(0, 4_000)
            };
            tabs.tabs = (0..count)
                .map(|i| Tab {
                    core: Core::new(Settings {
                        policy: Policy {
                            expiry_margin_ms: 1_000,
                            ..Policy::default()
                        },
                        ..tab_settings(i as u64 + 1)
                    }),
                    frozen: false,
                    settled: HashMap::new(),
                    expired: 0,
                })
                .collect();
            tabs.cache = vec![None; count];
            for i in 0..count {
                tabs.tabs[i].core.set_leader(tabs.now, i == 0);
                tabs.tabs[i].core.start(tabs.now);
            }
            tabs.pump();
            let failed = tabs.busy(20);
            assert_eq!(failed, 0, "{count} tabs");
            assert_eq!(tabs.refused, 0, "{count} tabs: a rotation race");
            // The sign-in's token, then one every 3 s (exp - margin): at 3, 6, …, 18 s.
            assert_eq!(
                tabs.minted, 7,
                "{count} tabs: one per lifetime, however many tabs"
            );
            assert_eq!(
                tabs.provider_calls.len(),
                7,
                "{count} tabs: and no plain calls"
            );
            assert_eq!(tabs.leaders(), vec![0], "{count} tabs");
            assert!(tabs.tabs.iter().all(|t| t.expired == 0));
        }
    }

    #[test]
    fn an_idle_follower_takes_over_a_grace_after_the_missed_refresh() {
        let mut tabs = Tabs::new(2, 60_000);
        tabs.fetch(0);
        tabs.fetch(1);
        let minted = tabs.minted;
        tabs.tabs[0].frozen = true;
        // The leader would have refreshed at 50 s (exp - margin).
        tabs.advance(51_999);
        assert_eq!(tabs.minted, minted);
        assert!(!tabs.tabs[1].core.is_leader());
        tabs.advance(1);
        assert!(tabs.tabs[1].core.is_leader(), "taken over at 52 s");
        assert_eq!(tabs.minted, minted + 1);
    }

    #[test]
    fn without_web_locks_each_tab_leads_at_its_own_lead_and_adopts_the_first_token() {
        let mut tabs = Tabs::new(0, 60_000);
        tabs.tabs = (0..3)
            .map(|i| Tab {
                core: Core::new(Settings {
                    locks: false,
                    ..tab_settings(100 + 337 * i as u64)
                }),
                frozen: false,
                settled: HashMap::new(),
                expired: 0,
            })
            .collect();
        tabs.cache = vec![None; 3];
        for tab in &mut tabs.tabs {
            tab.core.start(T0);
        }
        tabs.pump();
        assert_eq!(tabs.busy(600), 0);
        assert_eq!(tabs.leaders().len(), 3);
        // Twelve 50 s refresh cycles in 10 minutes, plus the sign-in.
        assert_eq!(
            tabs.minted, 13,
            "the first tab's token reached the others in time"
        );
    }

    /// One tab's core driven by hand: what it asked for since the last look.
    fn drain(core: &mut Core) -> Vec<Action> {
        let mut actions = vec![];
        while let Some(action) = core.poll_action() {
            actions.push(action);
        }
        while core.poll_event().is_some() {}
        actions
    }

    /// A tab holding `held` at `now` past its margin, with a `fetchWithAuth` waiting on the
    /// cross-tab lock: the core, the refresh's id.
    fn waiting_for_the_lock(tabs: &mut Tabs, held: &str) -> (Core, RefreshId) {
        let mut core = Core::new(tab_settings(9));
        core.shared_token(tabs.now, Tabs::decoded(held));
        tabs.advance(50_001);
        let call = core.next_id();
        core.fetch(tabs.now, call, true, true);
        let id = drain(&mut core)
            .into_iter()
            .find_map(|a| match a {
                Action::Coordinate { id, .. } => Some(id),
                _ => None,
            })
            .expect("a coordinated refresh");
        (core, id)
    }

    fn sent_with(actions: &[Action]) -> Option<String> {
        actions.iter().find_map(|a| match a {
            Action::Send { token, .. } => token.as_ref().map(|t| t.expose().to_owned()),
            _ => None,
        })
    }

    #[test]
    fn a_token_shared_while_waiting_for_the_lock_ends_the_refresh() {
        let mut tabs = Tabs::new(0, 60_000);
        let held = tabs.mint();
        let (mut core, id) = waiting_for_the_lock(&mut tabs, &held);
        let newer = tabs.mint();
        core.shared_token(tabs.now, Tabs::decoded(&newer));
        core.shared_read(tabs.now, id, Some(Tabs::expiry(&newer)));
        let actions = drain(&mut core);
        assert!(!actions
            .iter()
            .any(|a| matches!(a, Action::CallProvider { .. })));
        assert!(actions.contains(&Action::Release { id }));
        assert_eq!(sent_with(&actions), Some(newer));
    }

    #[test]
    fn a_newer_token_stored_is_awaited_by_message_then_the_provider_is_asked() {
        // The message comes late: the refresh takes it.
        let mut tabs = Tabs::new(0, 60_000);
        let held = tabs.mint();
        let (mut core, id) = waiting_for_the_lock(&mut tabs, &held);
        let newer = tabs.mint();
        core.shared_read(tabs.now, id, Some(Tabs::expiry(&newer)));
        assert!(drain(&mut core).is_empty(), "waits for the message");
        tabs.advance(999);
        core.handle_timeout(tabs.now);
        assert!(drain(&mut core).is_empty());
        core.shared_token(tabs.now, Tabs::decoded(&newer));
        let actions = drain(&mut core);
        assert!(actions.contains(&Action::Release { id }));
        assert_eq!(sent_with(&actions), Some(newer));

        // The message never comes: after SHARE_WAIT_MS the provider is asked.
        let mut tabs = Tabs::new(0, 60_000);
        let held = tabs.mint();
        let (mut core, id) = waiting_for_the_lock(&mut tabs, &held);
        let lost = tabs.mint();
        core.shared_read(tabs.now, id, Some(Tabs::expiry(&lost)));
        assert_eq!(core.poll_timeout(), Some(tabs.now + SHARE_WAIT_MS));
        tabs.advance(SHARE_WAIT_MS);
        core.handle_timeout(tabs.now);
        assert!(drain(&mut core)
            .iter()
            .any(|a| matches!(a, Action::CallProvider { id: asked, .. } if *asked == id)));
    }

    #[test]
    fn a_tab_opened_later_asks_the_others_for_the_token_instead_of_the_provider() {
        let mut tabs = Tabs::new(2, 60_000);
        assert_eq!(tabs.busy(10), 0);
        let (minted, asked) = (tabs.minted, tabs.provider_calls.len());
        tabs.tabs.push(Tab {
            core: Core::new(tab_settings(3)),
            frozen: false,
            settled: HashMap::new(),
            expired: 0,
        });
        tabs.cache.push(None);
        let opened = tabs.now;
        tabs.tabs[2].core.set_leader(tabs.now, false);
        tabs.tabs[2].core.start(tabs.now);
        tabs.pump();
        let call = tabs.fetch(2);
        assert_eq!(tabs.tabs[2].settled.get(&call), Some(&true), "sent at once");
        assert_eq!(tabs.now, opened, "no wait for SHARE_WAIT_MS");
        assert_eq!(tabs.minted, minted);
        assert_eq!(
            tabs.provider_calls.len(),
            asked,
            "nobody asked the provider"
        );
    }

    #[test]
    fn a_halted_or_tokenless_tab_answers_no_want() {
        let mut core = Core::new(tab_settings(4));
        core.wanted(T0);
        assert!(drain(&mut core).is_empty());
        let mut tabs = Tabs::new(1, 60_000);
        let token = tabs.mint();
        core.shared_token(T0, Tabs::decoded(&token));
        drain(&mut core);
        core.wanted(T0);
        let shared: Vec<String> = drain(&mut core)
            .into_iter()
            .map(|a| match a {
                Action::Share(t) => t.expose().to_owned(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(shared, vec![token]);
        let call = core.next_id();
        core.sign_out(T0, call);
        drain(&mut core);
        core.wanted(T0);
        assert!(drain(&mut core).is_empty(), "signed out");
    }

    #[test]
    fn a_stale_shared_token_never_replaces_a_newer_one() {
        let mut tabs = Tabs::new(2, 60_000);
        let old = tabs.mint();
        tabs.advance(5_000);
        let newer = tabs.mint();
        tabs.tabs[1]
            .core
            .shared_token(tabs.now, Tabs::decoded(&newer));
        tabs.tabs[1]
            .core
            .shared_token(tabs.now, Tabs::decoded(&old));
        tabs.pump();
        let held = tabs.tabs[1]
            .core
            .session
            .current_token()
            .map(|t| t.expose().to_owned());
        assert_eq!(held.as_deref(), Some(newer.as_str()));
    }

    #[test]
    fn a_follower_takes_over_from_a_frozen_leader_within_the_grace() {
        let mut tabs = Tabs::new(3, 60_000);
        assert_eq!(tabs.busy(5), 0);
        let minted = tabs.minted;
        tabs.tabs[0].frozen = true;
        // The leader would refresh at 50 s; a follower takes over 2 s later, and no call
        // fails meanwhile (a follower that needs a token refreshes under the lock).
        assert_eq!(tabs.busy(60), 0);
        let leaders = tabs.leaders();
        assert_eq!(leaders.len(), 1, "{leaders:?}");
        assert_ne!(leaders[0], 0, "a follower leads now");
        assert!(tabs.minted > minted, "someone refreshed");
        assert_eq!(tabs.refused, 0);
        // Within one lifetime after the freeze, at most one refresh per lifetime.
        assert!(
            tabs.minted - minted <= 2,
            "{} refreshes",
            tabs.minted - minted
        );
    }

    #[test]
    fn a_sign_out_in_one_tab_sticks_in_every_tab() {
        let mut tabs = Tabs::new(3, 60_000);
        assert_eq!(tabs.busy(3), 0);
        let call = tabs.tabs[0].core.next_id();
        tabs.tabs[0].core.sign_out(tabs.now, call);
        tabs.pump();
        let asked = tabs.provider_calls.len();
        // A late message with a token minted before the sign-out changes nothing.
        let late = tabs.mint();
        for tab in 1..3 {
            tabs.tabs[tab]
                .core
                .shared_token(tabs.now, Tabs::decoded(&late));
        }
        tabs.pump();
        let failed = tabs.busy(180);
        assert_eq!(failed, 3 * 180, "every call is refused unauthenticated");
        assert_eq!(
            tabs.provider_calls.len(),
            asked,
            "nobody asked the provider"
        );
        assert!(tabs.tabs[1..].iter().all(|t| t.expired == 1));
    }
}
