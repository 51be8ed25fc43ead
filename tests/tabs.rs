//! Tabs of one session in headless Chrome. Managers of one page in one group (`tabs`) share
//! Web Locks, IndexedDB and a BroadcastChannel exactly as the tabs of an origin do, so each
//! manager here stands for a tab. The provider and backend doubles are shared, as a real
//! identity provider and backend are.
//!
//! Policy time is virtual; the waits on real time (`settle_io`) are for the browser's own
//! lock grants, IndexedDB transactions and channel deliveries, which are what is under test.
#![cfg(target_arch = "wasm32")]

mod support;

use js_sys::Function;
use session_keeper::testing::SessionManager;
use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Tabs on one provider, one backend and one virtual clock.
struct Tabs {
    provider: Provider,
    backend: Backend,
    clock: VirtualClock,
    group: String,
    tabs: Vec<(SessionManager, Recorder)>,
    /// `fetchWithAuth` calls made by `busy`.
    calls: std::cell::Cell<u32>,
}

impl Tabs {
    fn new(count: usize, lifetime_ms: f64) -> Tabs {
        watch_traps();
        let provider = Provider::new(lifetime_ms);
        let backend = Backend::new(&provider);
        backend.set_mode("live");
        let clock = VirtualClock::new();
        provider.set_clock(&clock);
        let group = format!("tabs-{}", js_sys::Math::random());
        let mut tabs = Tabs {
            provider,
            backend,
            clock,
            group,
            tabs: vec![],
            calls: std::cell::Cell::new(0),
        };
        for _ in 0..count {
            tabs.open();
        }
        tabs
    }

    /// Opens one more tab of the session.
    fn open(&mut self) -> usize {
        let extra = obj(&[
            ("clock", self.clock.clone()),
            ("tabs", self.group.clone().into()),
        ]);
        let manager =
            SessionManager::new(config(&self.provider, &self.backend, &extra)).expect("valid");
        let events = Recorder::new();
        for name in ALL_EVENTS {
            manager.on(name, events.listener(name)).unwrap();
        }
        self.tabs.push((manager, events));
        self.tabs.len() - 1
    }

    fn tab(&self, i: usize) -> &SessionManager {
        &self.tabs[i].0
    }

    fn events(&self, i: usize) -> &Recorder {
        &self.tabs[i].1
    }

    fn leaders(&self) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|&i| self.tab(i).is_leader())
            .collect()
    }

    /// Lets the browser grant locks, commit IndexedDB transactions and deliver channel
    /// messages (real time: browser mechanisms, not policy).
    async fn settle_io(&self) {
        self.clock.flush().await;
        sleep(30).await;
        self.clock.flush().await;
    }

    /// Moves virtual time on by `ms` one timer at a time, letting the browser's own work
    /// finish after each: real tabs do not run ahead of their messages.
    async fn advance(&self, ms: f64) {
        let end = self.clock.now() + ms;
        for _ in 0..10_000 {
            match self.clock.next_due() {
                Some(due) if due <= end => {
                    self.clock.advance((due - self.clock.now()).max(0.0)).await;
                    self.settle_io().await;
                }
                _ => break,
            }
        }
        self.clock.advance((end - self.clock.now()).max(0.0)).await;
    }

    /// Every open tab calls `fetchWithAuth` once per `step_ms` of virtual time, for `total_ms`;
    /// the number of calls that did not end in a 200.
    async fn busy(&self, open: &[usize], total_ms: f64, step_ms: f64) -> u32 {
        let mut failed = 0;
        let mut elapsed = 0.0;
        while elapsed < total_ms {
            for &i in open {
                let call = self
                    .tab(i)
                    .fetch_with_auth("/api/x".into(), JsValue::UNDEFINED);
                // Each call may wait on the lock and IndexedDB: real time, bounded.
                let outcome = settle_within(call, 2_000).await;
                if !matches!(&outcome, Ok(Ok(r)) if status(r) == 200) {
                    failed += 1;
                    web_sys_log(&format!("tab {i} at +{elapsed} ms: {}", describe(&outcome)));
                }
                self.calls.set(self.calls.get() + 1);
            }
            self.advance(step_ms).await;
            self.settle_io().await;
            elapsed += step_ms;
        }
        failed
    }
}

#[wasm_bindgen_test]
async fn one_tab_leads_and_each_new_token_is_made_once_for_all_tabs() {
    let tabs = Tabs::new(3, 60_000.0);
    for i in 0..3 {
        tabs.tab(i).start().unwrap();
        tabs.settle_io().await;
    }
    assert_eq!(tabs.leaders(), vec![0], "the first tab to start leads");
    // Five lifetimes of 60 s tokens, every tab busy every 5 s.
    let failed = tabs.busy(&[0, 1, 2], 300_000.0, 5_000.0).await;
    assert_eq!(failed, 0);
    // A forced refresh at every exp - margin (50 s, 100 s, …, 300 s): 6 in 300 s for all
    // three tabs together, as one tab alone makes.
    assert_eq!(tabs.provider.forced(), 6, "{}", tabs.provider.reasons());
    assert_eq!(tabs.leaders(), vec![0]);
    for i in 1..3 {
        assert!(
            tabs.events(i).count("tokenRefreshed") >= 6,
            "tab {i} took each token from the others"
        );
        assert!(tabs
            .events(i)
            .last("tokenRefreshed")
            .unwrap()
            .contains("tab"));
    }
    assert_eq!(
        tabs.backend.count(),
        tabs.calls.get(),
        "one request per call: no 401, no retry"
    );
}

#[wasm_bindgen_test]
async fn a_token_from_a_recovery_in_one_tab_reaches_the_others() {
    storage_remove("last_recovery_attempt");
    let tabs = Tabs::new(2, 60_000.0);
    for i in 0..2 {
        tabs.tab(i).start().unwrap();
        tabs.settle_io().await;
    }
    assert_eq!(tabs.busy(&[0, 1], 10_000.0, 5_000.0).await, 0);
    let before = tabs.events(1).count("tokenRefreshed");
    let made = tabs.provider.forced();
    // The backend restarted: credits read 0 until the session is verified again.
    tabs.backend.restart();
    let outcome = settle_within(
        tabs.tab(0).trigger_session_recovery_check("manual".into()),
        5_000,
    )
    .await
    .expect("settles")
    .expect("resolves");
    assert_eq!(
        field(&outcome, "reason").as_string().as_deref(),
        Some("recovered")
    );
    tabs.settle_io().await;
    assert_eq!(
        tabs.provider.forced(),
        made + 1,
        "{}",
        tabs.provider.reasons()
    );
    assert_eq!(tabs.events(1).count("tokenRefreshed"), before + 1);
    assert!(tabs
        .events(1)
        .last("tokenRefreshed")
        .unwrap()
        .contains("tab"));
    assert_eq!(
        tabs.tab(1).token_expires_at(),
        tabs.tab(0).token_expires_at()
    );
    // The other tab sends the recovered token with no provider call of its own.
    assert_eq!(tabs.busy(&[1], 5_000.0, 5_000.0).await, 0);
    assert_eq!(tabs.provider.forced(), made + 1);
    storage_remove("last_recovery_attempt");
}

#[wasm_bindgen_test]
async fn a_tab_opened_later_gets_the_token_from_the_others_not_the_provider() {
    let mut tabs = Tabs::new(2, 60_000.0);
    for i in 0..2 {
        tabs.tab(i).start().unwrap();
        tabs.settle_io().await;
    }
    assert_eq!(tabs.busy(&[0, 1], 10_000.0, 5_000.0).await, 0);
    let asked = tabs.provider.forced() + tabs.provider.plain();
    let opened = tabs.open();
    tabs.tab(opened).start().unwrap();
    tabs.settle_io().await;
    // Its first call: the stored expiry is newer than what it holds (nothing), so it asks the
    // other tabs, which send their token at once; no virtual time passes.
    let at = tabs.clock.now();
    assert_eq!(tabs.busy(&[opened], 1.0, 1.0).await, 0);
    assert_eq!(
        tabs.provider.forced() + tabs.provider.plain(),
        asked,
        "{}",
        tabs.provider.reasons()
    );
    assert!(tabs
        .events(opened)
        .last("tokenRefreshed")
        .unwrap()
        .contains("tab"));
    assert_eq!(
        tabs.tab(opened).token_expires_at(),
        tabs.tab(0).token_expires_at()
    );
    assert!(tabs.clock.now() - at <= 1.0, "no wait for a message");
}

#[wasm_bindgen_test]
async fn closing_the_leader_hands_the_lead_to_a_follower_with_no_missed_refresh() {
    let tabs = Tabs::new(2, 60_000.0);
    for i in 0..2 {
        tabs.tab(i).start().unwrap();
        tabs.settle_io().await;
    }
    assert_eq!(tabs.busy(&[0, 1], 60_000.0, 5_000.0).await, 0);
    assert_eq!(tabs.leaders(), vec![0]);
    let made = tabs.provider.forced();
    tabs.tab(0).free();
    // Real time: the browser grants the released lock to the next in line.
    real_wait_until(|| tabs.tab(1).is_leader(), 2_000).await;
    assert!(tabs.tab(1).is_leader(), "the follower leads");
    assert_eq!(tabs.busy(&[1], 120_000.0, 5_000.0).await, 0);
    assert!(
        tabs.provider.forced() >= made + 2,
        "the new leader refreshes on schedule: {}",
        tabs.provider.reasons()
    );
}

#[wasm_bindgen_test]
async fn without_web_locks_every_tab_leads_and_the_first_token_reaches_the_others() {
    let hide = Function::new_no_args(
        "const d = Object.getOwnPropertyDescriptor(Navigator.prototype, 'locks');
         Object.defineProperty(navigator, 'locks', { value: undefined, configurable: true });
         return () => { delete navigator.locks; };",
    );
    let restore: Function = hide.call0(&JsValue::NULL).unwrap().into();
    let tabs = Tabs::new(3, 60_000.0);
    restore.call0(&JsValue::NULL).unwrap();
    for i in 0..3 {
        tabs.tab(i).start().unwrap();
    }
    tabs.settle_io().await;
    assert_eq!(
        tabs.leaders(),
        vec![0, 1, 2],
        "no locks: every started tab leads"
    );
    assert_eq!(tabs.busy(&[0, 1, 2], 300_000.0, 5_000.0).await, 0);
    // Each tab refreshes at its own random lead (up to 1 s early); the first one's token
    // reaches the others before their turn.
    assert!(
        tabs.provider.forced() <= 7,
        "duplicates: {}",
        tabs.provider.reasons()
    );
}

#[wasm_bindgen_test]
async fn sign_out_in_one_tab_signs_out_every_tab_and_sticks() {
    let tabs = Tabs::new(3, 60_000.0);
    for i in 0..3 {
        tabs.tab(i).start().unwrap();
        tabs.settle_io().await;
    }
    assert_eq!(tabs.busy(&[0, 1, 2], 10_000.0, 5_000.0).await, 0);
    settle(tabs.tab(1).sign_out()).await.unwrap();
    // Real time: the message crosses a BroadcastChannel, which the browser delivers.
    real_wait_until(|| (0..3).all(|i| !tabs.tab(i).is_authenticated()), 2_000).await;
    for i in [0, 2] {
        assert!(!tabs.tab(i).is_authenticated(), "tab {i} forgot its token");
        assert_eq!(tabs.events(i).count("sessionExpired"), 1);
        assert!(tabs
            .events(i)
            .last("sessionExpired")
            .unwrap()
            .contains("signed_out_elsewhere"));
    }
    assert_eq!(
        tabs.events(1).count("sessionExpired"),
        0,
        "the tab that signed out is not told it expired"
    );
    assert!(
        tabs.leaders().is_empty(),
        "nobody leads a signed-out session"
    );
    let (calls, sent) = (
        tabs.provider.plain() + tabs.provider.forced(),
        tabs.backend.count(),
    );
    // Every call is refused unauthenticated, and nothing reaches the provider or the
    // backend for ten minutes.
    assert_eq!(tabs.busy(&[0, 1, 2], 600_000.0, 60_000.0).await, 3 * 10);
    assert_eq!(
        tabs.provider.plain() + tabs.provider.forced(),
        calls,
        "nobody signed itself back in"
    );
    assert_eq!(tabs.backend.count(), sent);
    assert_eq!(tabs.clock.pending(), 0, "no timer left in any tab");
}

fn web_sys_log(line: &str) {
    js_sys::Reflect::get(&js_sys::global(), &"console".into())
        .ok()
        .and_then(|c| js_sys::Reflect::get(&c, &"log".into()).ok())
        .map(|f| Function::from(f).call1(&JsValue::NULL, &line.into()));
}

#[wasm_bindgen_test]
async fn throwing_web_locks_and_indexeddb_leave_one_working_tab() {
    let break_them = Function::new_no_args(
        "const locks = Object.getOwnPropertyDescriptor(Navigator.prototype, 'locks');
         const idb = Object.getOwnPropertyDescriptor(globalThis, 'indexedDB');
         Object.defineProperty(navigator, 'locks', { configurable: true,
           value: { request() { throw new Error('locks exploded'); } } });
         Object.defineProperty(globalThis, 'indexedDB', { configurable: true,
           value: { open() { throw new Error('indexedDB exploded'); } } });
         return () => { delete navigator.locks; Object.defineProperty(globalThis, 'indexedDB', idb); };",
    );
    let restore: Function = break_them.call0(&JsValue::NULL).unwrap().into();
    let tabs = Tabs::new(1, 60_000.0);
    tabs.tab(0).start().unwrap();
    tabs.settle_io().await;
    let failed = tabs.busy(&[0], 120_000.0, 5_000.0).await;
    restore.call0(&JsValue::NULL).unwrap();
    assert_eq!(failed, 0);
    assert!(
        tabs.tab(0).is_leader(),
        "without working locks the tab leads itself"
    );
    // A forced refresh at each exp - margin (50 s, 100 s).
    assert_eq!(tabs.provider.forced(), 2, "{}", tabs.provider.reasons());
    assert_no_trap();
}
