//! The one door between the browser layer (`js/runtime.js`) and the core: every input goes
//! in through [`enter`], which runs the core and answers with its next deadline and what it
//! asks for, in order, as small arrays (`encode`). The numbers here and in `js/runtime.js`
//! (`OP`, and `run`'s cases) are the same list.
//!
//! The cores of the page live in a registry by manager id. An input for a manager that was
//! freed finds nothing and does nothing. The core runs while the registry is borrowed, but
//! it never calls JavaScript; encoding happens after the borrow has ended.

use core::cell::{OnceCell, RefCell};

use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;

#[allow(unused_imports)]
use crate::prelude::*;

use super::PageLocal;
use crate::core::action::{Action, Body, Level, Read, Rejection, Reply, Target, Value};
use crate::core::credits::{retry_after_ms, with_refresh};
use crate::core::error::{Error, ErrorCode};
use crate::core::event::{Event, Field};
use crate::core::jwt::ClaimsError;
use crate::core::machine::{Core, Settings};
use crate::core::policy::Policy;
use crate::core::recovery::parse_stamp;
use crate::core::session::{Answer, Token};
use crate::core::stability::{DEFAULT_INTERVAL_MS, DEFAULT_MAX_WAIT_MS};
use crate::core::Millis;

/// What `js/runtime.js` feeds in (its `OP`).
mod op {
    pub const FETCH: u32 = 1;
    pub const REFRESH: u32 = 2;
    pub const RECOVER: u32 = 3;
    pub const CREDITS: u32 = 4;
    pub const STABILITY: u32 = 5;
    pub const START: u32 = 6;
    pub const STOP: u32 = 7;
    pub const SIGN_OUT: u32 = 8;
    pub const FREE: u32 = 9;
    pub const PROVIDER: u32 = 10;
    pub const REPLIED: u32 = 11;
    pub const SAMPLED: u32 = 12;
    pub const STAMPS: u32 = 13;
    pub const TIMEOUT: u32 = 14;
    pub const PUSHED: u32 = 15;
    pub const SIGNED_OUT_ELSEWHERE: u32 = 16;
    pub const WOKE: u32 = 17;
    pub const ONLINE: u32 = 18;
    pub const AUTHENTICATED: u32 = 19;
    pub const EXPIRES_AT: u32 = 20;
    pub const REGISTER: u32 = 21;
    pub const ABORTED: u32 = 22;
    pub const SHARED_READ: u32 = 23;
    pub const SHARED_TOKEN: u32 = 24;
    pub const LEADER: u32 = 25;
    pub const IS_LEADER: u32 = 26;
    pub const WANTED: u32 = 27;
}

/// One manager's core, and what the core does not need to know.
struct Entry {
    id: u32,
    core: Core,
    credits_url: Option<String>,
}

static CORES: PageLocal<RefCell<Vec<Entry>>> = PageLocal(RefCell::new(Vec::new()));
static NEXT: PageLocal<core::cell::Cell<u32>> = PageLocal(core::cell::Cell::new(0));
/// `(op, manager, now, a, b) => [due, value, ...items]`.
type Door = Closure<dyn Fn(u32, u32, f64, JsValue, JsValue) -> JsValue>;
/// The door, made once and never dropped: the browser layer holds it for the page's life.
static DOOR: PageLocal<OnceCell<Door>> = PageLocal(OnceCell::new());

/// The door as a JS function, `(op, manager, now, a, b) => [due, value, ...items]`.
pub fn door() -> &'static Function {
    DOOR.0
        .get_or_init(|| Closure::new(enter))
        .as_ref()
        .unchecked_ref()
}

/// A new manager for a config `readConfig` has read: `numbers` (its millisecond settings),
/// `about` `[flags, level, creditsUrl]`. Its id, or the `config` error naming the field.
fn register_config(numbers: &JsValue, about: &JsValue) -> JsValue {
    let numbers: Array = numbers.clone().unchecked_into();
    let about: Array = about.clone().unchecked_into();
    let flags = about.get(0).as_f64().unwrap_or(0.0) as u32;
    let level = about.get(1).as_f64().unwrap_or(2.0) as u32;
    match settings(
        &numbers,
        [
            flags & 1 != 0,
            flags & 2 != 0,
            flags & 4 != 0,
            flags & 8 != 0,
            flags & 16 != 0,
        ],
        level,
    ) {
        Ok(settings) => JsValue::from(register(settings, about.get(2).as_string())),
        Err(error) => error.into(),
    }
}

/// Registers a new manager's core; its id.
fn register(settings: Settings, credits_url: Option<String>) -> u32 {
    let id = NEXT.0.get().wrapping_add(1);
    NEXT.0.set(id);
    if let Ok(mut cores) = CORES.0.try_borrow_mut() {
        cores.push(Entry {
            id,
            core: Core::new(settings),
            credits_url,
        });
    }
    id
}

/// The validated settings of a config the browser layer has read (`readConfig`): the
/// numbers are checked here, by the core's rules, and an error names the field.
fn settings(numbers: &Array, flags: [bool; 5], level: u32) -> Result<Settings, Error> {
    let number = |i: u32| numbers.get(i).as_f64();
    let defaults = Policy::default();
    let millis = |name: &'static str, i: u32, default: Millis, min: Millis| {
        Policy::millis(name, number(i), default, min)
    };
    let policy = Policy {
        refresh_interval_ms: millis("refreshIntervalMs", 0, defaults.refresh_interval_ms, 1)?,
        expiry_margin_ms: millis("expiryMarginMs", 1, defaults.expiry_margin_ms, 0)?,
        token_timeout_ms: millis("tokenTimeoutMs", 2, defaults.token_timeout_ms, 1)?,
        request_timeout_ms: millis("requestTimeoutMs", 3, defaults.request_timeout_ms, 1)?,
        recovery_cooldown_ms: millis("recoveryCooldownMs", 4, defaults.recovery_cooldown_ms, 1)?,
    };
    let credits_defaults = crate::core::credits::CreditsPolicy::default();
    let max_retries = millis(
        "credits.maxRetries",
        5,
        u64::from(credits_defaults.max_retries),
        0,
    )?;
    if max_retries > u64::from(crate::core::credits::MAX_RETRIES_LIMIT) {
        return Err(Error::config("credits.maxRetries", "must be at most 10"));
    }
    let credits = crate::core::credits::CreditsPolicy {
        max_retries: max_retries as u32,
        base_delay_ms: millis("credits.baseDelayMs", 6, credits_defaults.base_delay_ms, 1)?,
        max_delay_ms: millis("credits.maxDelayMs", 7, credits_defaults.max_delay_ms, 1)?,
        jitter: true,
    };
    let log_level = [
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Silent,
    ]
    .get(level as usize)
    .copied()
    .unwrap_or(Level::Warn);
    Ok(Settings {
        policy,
        credits,
        check_session: flags[0],
        credits_endpoint: flags[1],
        verify_endpoint: flags[2],
        log_level,
        seed: (js_sys::Math::random() * u64::MAX as f64) as u64,
        tabs: flags[3],
        locks: flags[4],
    })
}

/// Runs input `op` on manager `manager` at `now`, then drains what the core asks for.
fn enter(op: u32, manager: u32, now: f64, a: JsValue, b: JsValue) -> JsValue {
    let now = if now.is_finite() && now > 0.0 {
        now as Millis
    } else {
        0
    };
    if op == op::REGISTER {
        return Array::of2(&JsValue::NULL, &register_config(&a, &b)).into();
    }
    let mut value = JsValue::UNDEFINED;
    let mut items: Vec<Item> = Vec::new();
    let due;
    let mut credits_url = None;
    {
        // Never already borrowed (the core calls no JavaScript); `try_` keeps the borrow
        // panic, and the `core::fmt` it formats with, out of the module.
        let Ok(mut cores) = CORES.0.try_borrow_mut() else {
            return JsValue::NULL;
        };
        let Some(index) = cores.iter().position(|e| e.id == manager) else {
            return Array::of2(&JsValue::NULL, &JsValue::UNDEFINED).into();
        };
        let Some(entry) = cores.get_mut(index) else {
            return JsValue::NULL;
        };
        let core = &mut entry.core;
        let number = |v: &JsValue| v.as_f64().unwrap_or(0.0) as u32;
        match op {
            op::FETCH => {
                let flags = number(&b);
                core.fetch(now, number(&a), flags & 1 != 0, flags & 2 != 0);
            }
            op::REFRESH => core.refresh_token(now, number(&a)),
            op::RECOVER => core.recover(now, number(&a), b.as_string().unwrap_or_default()),
            op::CREDITS => {
                let flags = number(&b);
                core.set_online(now, flags & 2 != 0);
                core.update_credits(now, number(&a), flags & 1 != 0);
            }
            op::STABILITY => {
                let numbers: Array = b.unchecked_into();
                let field = |name: &'static str, i: u32, default: Millis, min: Millis| {
                    Policy::millis(name, numbers.get(i).as_f64(), default, min)
                };
                let call = number(&a);
                match field("maxWaitMs", 0, DEFAULT_MAX_WAIT_MS, 0)
                    .and_then(|max| Ok((max, field("intervalMs", 1, DEFAULT_INTERVAL_MS, 1)?)))
                {
                    Ok((max_wait, interval)) => {
                        core.wait_for_stability(now, call, max_wait, interval)
                    }
                    Err(error) => items.push(Item::Action(Action::Reject {
                        call,
                        error: Rejection::Error(error),
                    })),
                }
            }
            op::START => core.start(now),
            op::STOP => core.stop(),
            op::SIGN_OUT => core.sign_out(now, number(&a)),
            op::FREE => core.free(),
            op::PROVIDER => {
                let answer = if let Some(answer) = answer(&b) {
                    Ok(Some(answer))
                } else if b.is_null() || b.is_undefined() {
                    Ok(None)
                } else if number(&b) == 1 {
                    Err(Error::new(
                        ErrorCode::RefreshFailed,
                        "getToken threw or rejected",
                    ))
                } else {
                    Err(Error::new(
                        ErrorCode::RefreshFailed,
                        "getToken returned something other than a string or null",
                    ))
                };
                core.provider_answered(now, number(&a), answer);
            }
            op::REPLIED => {
                let reply = if Array::is_array(&b) {
                    let parts: Array = b.unchecked_into();
                    Reply::Answered {
                        status: parts.get(0).as_f64().unwrap_or(0.0) as u16,
                        body: body(&parts.get(1)),
                        retry_after: parts
                            .get(2)
                            .as_string()
                            .and_then(|header| retry_after_ms(&header, now, parse_date)),
                    }
                } else {
                    match number(&b) {
                        0 => Reply::Network,
                        1 => Reply::Aborted,
                        _ => Reply::Input,
                    }
                };
                core.replied(now, number(&a), reply);
            }
            op::SAMPLED => {
                let parts: Array = b.unchecked_into();
                core.sampled(
                    now,
                    number(&a),
                    parts.get(0).as_bool(),
                    parts.get(1).as_bool(),
                );
            }
            op::STAMPS => {
                let parts: Array = b.unchecked_into();
                let stored = parts.get(0).as_string().and_then(|s| parse_stamp(&s));
                let memory = parts.get(1).as_f64().map(|n| n as Millis);
                core.stamps_read(now, number(&a), [stored, memory]);
            }
            op::ABORTED => core.caller_aborted(now, number(&a)),
            op::SHARED_READ => {
                let stored = b.as_f64().filter(|x| *x > 0.0).map(|x| x as Millis);
                value = JsValue::from_bool(core.shared_read(now, number(&a), stored));
            }
            op::WANTED => core.wanted(now),
            op::SHARED_TOKEN => {
                if let Some(shared) = answer(&a) {
                    core.shared_token(now, shared);
                }
            }
            op::LEADER => core.set_leader(now, a.as_bool().unwrap_or(true)),
            op::IS_LEADER => value = JsValue::from_bool(core.is_leader()),
            op::TIMEOUT => core.handle_timeout(now),
            op::PUSHED => core.pushed(now, answer(&a)),
            op::SIGNED_OUT_ELSEWHERE => core.signed_out_elsewhere(now),
            op::WOKE => core.woke(
                now,
                ["visible", "pageshow", "online"]
                    .get(number(&a) as usize)
                    .copied()
                    .unwrap_or("wake"),
            ),
            op::ONLINE => core.set_online(now, a.as_bool().unwrap_or(true)),
            op::AUTHENTICATED => value = JsValue::from_bool(core.is_authenticated(now)),
            op::EXPIRES_AT => value = time(core.expires_at()),
            _ => {}
        }
        for _ in 0..100_000 {
            if let Some(event) = core.poll_event() {
                items.push(Item::Event(event));
            } else if let Some(action) = core.poll_action() {
                items.push(Item::Action(action));
            } else {
                break;
            }
        }
        due = core.poll_timeout();
        if items.iter().any(|i| {
            matches!(
                i,
                Item::Action(Action::Send {
                    target: Target::Credits { .. },
                    ..
                })
            )
        }) {
            credits_url = entry.credits_url.clone();
        }
        if op == op::FREE {
            crate::core::take(&mut cores, index);
        }
    }
    let out = Array::new();
    out.push(&due.map_or(JsValue::NULL, |t| JsValue::from_f64(t as f64)));
    out.push(&value);
    for item in items {
        out.push(&encode(item, credits_url.as_deref()));
    }
    out.into()
}

enum Item {
    Event(Event),
    Action(Action),
}

/// A token as the browser layer hands it over: `[token, decoded, exp, iat]`, where
/// `decoded` is 0 (`exp`/`iat` are numbers or null), or why the claims could not be read
/// (1 not a JWT, 2 not base64url, 3 not a JSON object with numeric claims).
fn answer(value: &JsValue) -> Option<Answer> {
    if !Array::is_array(value) {
        return None;
    }
    let parts: Array = value.clone().unchecked_into();
    let token = parts.get(0).as_string()?;
    let decoded = match parts.get(1).as_f64() {
        Some(0.0) => Ok((parts.get(2).as_f64(), parts.get(3).as_f64())),
        Some(1.0) => Err(ClaimsError::NotAJwt),
        Some(2.0) => Err(ClaimsError::BadEncoding),
        _ => Err(ClaimsError::BadJson),
    };
    Some(Answer::read(token, decoded))
}

/// What the browser read of a JSON body: `[requires_refresh, detail.requires_refresh,
/// credits, success]`, or `null` for a body that is not a JSON object.
fn body(value: &JsValue) -> Option<Body> {
    if !Array::is_array(value) {
        return None;
    }
    let parts: Array = value.clone().unchecked_into();
    Some(Body {
        requires_refresh: parts.get(0).as_bool() == Some(true),
        detail_requires_refresh: parts.get(1).as_bool() == Some(true),
        credits: parts.get(2).as_f64(),
        success: parts.get(3).as_bool(),
    })
}

fn parse_date(text: &str) -> Option<Millis> {
    let at = js_sys::Date::parse(text);
    (at.is_finite() && at >= 0.0).then_some(at as Millis)
}

fn time(at: Option<Millis>) -> JsValue {
    at.map_or(JsValue::NULL, |t| JsValue::from_f64(t as f64))
}

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn num(n: impl Into<f64>) -> JsValue {
    JsValue::from_f64(n.into())
}

/// One row, as a JS array.
fn row(parts: &[JsValue]) -> JsValue {
    let row = Array::new();
    for part in parts {
        row.push(part);
    }
    row.into()
}

/// One thing for `js/runtime.js` to do, as `[code, …]` (its `run`).
fn encode(item: Item, credits_url: Option<&str>) -> JsValue {
    let action = match item {
        Item::Event(event) => {
            let row = Array::new();
            row.push(&num(0));
            row.push(&text(event.name()));
            for (name, field) in event.fields() {
                row.push(&text(name));
                row.push(&match field {
                    Field::Text(t) => text(t),
                    Field::Number(n) => num(n),
                    Field::Bool(b) => JsValue::from_bool(b),
                    Field::Time(at) => time(at),
                    Field::Probes(probes) => row_of(probes.iter().map(|p| text(p.as_str()))),
                });
            }
            return row.into();
        }
        Item::Action(action) => action,
    };
    let token = |t: Option<Token>| t.map_or(JsValue::NULL, |t| text(t.expose()));
    match action {
        Action::CallProvider { id, force, reason } => row(&[
            num(1),
            num(id),
            JsValue::from_bool(force),
            text(reason.as_str()),
        ]),
        Action::Send {
            send,
            target,
            token: bearer,
            read,
        } => {
            let (kind, what) = match target {
                Target::Page(call) => (0, num(call)),
                Target::Credits { force } => {
                    let url = credits_url.unwrap_or_default();
                    (
                        1,
                        if force {
                            text(&with_refresh(url))
                        } else {
                            text(url)
                        },
                    )
                }
                Target::Verify => (2, JsValue::UNDEFINED),
            };
            let read = match read {
                Read::Refusal => 1,
                Read::Everything => 2,
            };
            row(&[num(2), num(send), num(kind), what, token(bearer), num(read)])
        }
        Action::Abort { send } => row(&[num(3), num(send)]),
        Action::Sample { id, provider } => row(&[num(4), num(id), JsValue::from_bool(provider)]),
        Action::WatchOnline(on) => row(&[num(5), JsValue::from_bool(on)]),
        Action::Mirror(held) => row(&[num(6), token(held)]),
        Action::ReadStamps { run } => row(&[num(7), num(run)]),
        Action::Stamp(at) => row(&[num(8), num(at as f64)]),
        Action::DropCreditsCache => row(&[num(9)]),
        Action::AuthRecovered => row(&[num(10)]),
        Action::SessionOver => row(&[num(11)]),
        Action::BroadcastSignOut => row(&[num(12)]),
        Action::Coordinate { id, steal_after } => row(&[num(16), num(id), num(steal_after as f64)]),
        Action::Release { id } => row(&[num(17), num(id)]),
        Action::Share(shared) => row(&[num(18), text(shared.expose())]),
        Action::TakeLead => row(&[num(19)]),
        Action::Resolve { call, value } => match value {
            Value::Response(_) => row(&[num(13), num(call), num(0)]),
            Value::Outcome {
                ran,
                reason,
                trigger,
            } => row(&[
                num(13),
                num(call),
                num(1),
                JsValue::from_bool(ran),
                text(reason),
                text(&trigger),
            ]),
            Value::Nothing => row(&[num(13), num(call), num(2)]),
            Value::Token(t) => row(&[num(13), num(call), num(3), text(t.expose())]),
            Value::Number(n) => row(&[num(13), num(call), num(3), num(n)]),
            Value::Bool(b) => row(&[num(13), num(call), num(3), JsValue::from_bool(b)]),
        },
        Action::Reject { call, error } => match error {
            Rejection::Error(error) => row(&[
                num(14),
                num(call),
                text(error.code.as_str()),
                text(&error.message),
            ]),
            // The browser layer holds the request's failure, or the caller's abort reason.
            Rejection::Send(_) | Rejection::Aborted => row(&[num(14), num(call), JsValue::NULL]),
        },
        Action::Log(level, line) => row(&[num(15), num(level as u32), text(&line)]),
    }
}

fn row_of(parts: impl Iterator<Item = JsValue>) -> JsValue {
    let row = Array::new();
    for part in parts {
        row.push(&part);
    }
    row.into()
}
