//! Reading the JS `SessionConfig` into checked Rust values. Every failure is a `config`
//! error that names the field.

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Url;

use crate::core::action::Level;
use crate::core::credits::{CreditsPolicy, MAX_RETRIES_LIMIT};
use crate::core::error::Error;
use crate::core::policy::Policy;
use crate::core::stability::{DEFAULT_INTERVAL_MS, DEFAULT_MAX_WAIT_MS};
use crate::core::Millis;

/// The credits endpoint when `endpoints.credits` is not given.
const DEFAULT_CREDITS_URL: &str = "/api/users/credits";
/// The verify endpoint when `endpoints.verify` is not given.
const DEFAULT_VERIFY_URL: &str = "/auth/verify";

/// A validated `SessionConfig`.
pub struct Config {
    /// Timing settings.
    pub policy: Policy,
    /// `getToken(ctx)`.
    pub get_token: Function,
    /// `checkSession()`, the provider's own session probe.
    pub check_session: Option<Function>,
    /// `subscribe(listener)`: the provider pushes the tokens it refreshes on its own, and
    /// `null` on sign-out; returns the function that unsubscribes.
    pub subscribe: Option<Function>,
    /// Called once per expiry instead of the default redirect.
    pub on_session_expired: Option<Function>,
    /// Absolute http(s) URL to send the user to when the session expires.
    pub login_url: Option<String>,
    /// Origins (`scheme://host[:port]`) that may receive the bearer.
    pub allowed_origins: Vec<String>,
    /// localStorage keys to mirror the token under.
    pub storage_keys: Vec<String>,
    /// Absolute URL of the credits endpoint (`None` where a relative default cannot resolve).
    pub credits_url: Option<String>,
    /// Absolute URL of the verify endpoint, which receives the token in its body.
    pub verify_url: Option<String>,
    /// Retry settings of `updateCredits`.
    pub credits: CreditsPolicy,
    /// The `fetch` to send requests with.
    pub fetch: Function,
    /// Console level.
    pub log_level: Level,
    /// A clock to run on instead of the browser's (`now`, `setTimeout`, `clearTimeout`):
    /// simulations and the browser suites run the library on virtual time with it.
    pub clock: Option<JsValue>,
}

impl Config {
    /// Reads and checks `value`, which must be a `SessionConfig` object.
    pub fn read(value: &JsValue) -> Result<Config, Error> {
        if !value.is_object() {
            return Err(Error::config(
                "config",
                "must be an object with a getToken function",
            ));
        }
        let get = |field: &'static str| -> Result<JsValue, Error> {
            // Getters and proxies can throw.
            Reflect::get(value, &JsValue::from_str(field))
                .map_err(|_| Error::config(field, "could not be read"))
        };
        let defaults = Policy::default();
        // `min` is 0 where zero means "off" (no margin), else 1.
        let millis = |field: &'static str, default, min| {
            Policy::millis(field, number(&get(field)?, field)?, default, min)
        };
        let policy = Policy {
            refresh_interval_ms: millis("refreshIntervalMs", defaults.refresh_interval_ms, 1)?,
            expiry_margin_ms: millis("expiryMarginMs", defaults.expiry_margin_ms, 0)?,
            token_timeout_ms: millis("tokenTimeoutMs", defaults.token_timeout_ms, 1)?,
            request_timeout_ms: millis("requestTimeoutMs", defaults.request_timeout_ms, 1)?,
            recovery_cooldown_ms: millis("recoveryCooldownMs", defaults.recovery_cooldown_ms, 1)?,
        };
        let get_token = function(&get("getToken")?, "getToken")?.ok_or_else(|| {
            Error::config(
                "getToken",
                "is required: a function returning a token, null, or a Promise of one",
            )
        })?;
        let fetch = match function(&get("fetch")?, "fetch")? {
            Some(f) => f,
            None => Reflect::get(&js_sys::global(), &JsValue::from_str("fetch"))
                .ok()
                .and_then(|f| f.dyn_into().ok())
                .ok_or_else(|| {
                    Error::config("fetch", "was not given and this page has no global fetch")
                })?,
        };
        let log_level = match string(&get("logLevel")?, "logLevel")? {
            None => Level::Warn,
            Some(name) => Level::parse(&name).ok_or_else(|| {
                Error::config(
                    "logLevel",
                    "must be one of debug, info, warn, error, silent",
                )
            })?,
        };
        let allowed_origins = match strings(&get("allowedOrigins")?, "allowedOrigins")? {
            None => vec![page_origin().ok_or_else(|| {
                Error::config(
                    "allowedOrigins",
                    "is required where the page has no origin of its own",
                )
            })?],
            Some(list) => list.iter().map(|s| origin(s)).collect::<Result<_, _>>()?,
        };
        let login_url = string(&get("loginUrl")?, "loginUrl")?
            .map(|s| login_url(&s))
            .transpose()?;
        let endpoints = section(&get("endpoints")?, "endpoints")?;
        let endpoint =
            |name: &str, field: &'static str, default: &str| -> Result<Option<String>, Error> {
                match string(&member(&endpoints, name, field)?, field)? {
                    Some(raw) => endpoint(&raw, field, &allowed_origins).map(Some),
                    // Without a page to resolve against, a relative default means "not set up".
                    None => Ok(endpoint(default, field, &allowed_origins).ok()),
                }
            };
        let credits_url = endpoint("credits", "endpoints.credits", DEFAULT_CREDITS_URL)?;
        let verify_url = endpoint("verify", "endpoints.verify", DEFAULT_VERIFY_URL)?;
        let credits = credits_policy(&section(&get("credits")?, "credits")?)?;
        Ok(Config {
            policy,
            get_token,
            check_session: function(&get("checkSession")?, "checkSession")?,
            subscribe: function(&get("subscribe")?, "subscribe")?,
            on_session_expired: function(&get("onSessionExpired")?, "onSessionExpired")?,
            login_url,
            allowed_origins,
            storage_keys: strings(&get("storageKeys")?, "storageKeys")?.unwrap_or_default(),
            credits_url,
            verify_url,
            credits,
            fetch,
            log_level,
            clock: Some(get("clock")?).filter(|c| c.is_object()),
        })
    }

    /// Whether a request to `origin` may carry the bearer.
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

/// `waitForAuthStability(options)`: `(maxWaitMs, intervalMs)`, defaults 10 s and 500 ms.
pub fn stability_options(options: &JsValue) -> Result<(Millis, Millis), Error> {
    let options = section(options, "options")?;
    let field = |name: &str, default, min| {
        Policy::millis(
            name,
            number(&member(&options, name, name)?, name)?,
            default,
            min,
        )
    };
    Ok((
        field("maxWaitMs", DEFAULT_MAX_WAIT_MS, 0)?,
        field("intervalMs", DEFAULT_INTERVAL_MS, 1)?,
    ))
}

/// `updateCredits(options)`: whether `forceRefresh` is set.
pub fn force_refresh_option(options: &JsValue) -> Result<bool, Error> {
    let options = section(options, "options")?;
    let value = member(&options, "forceRefresh", "forceRefresh")?;
    Ok(optional(
        &value,
        "forceRefresh",
        "must be true or false",
        JsValue::as_bool,
    )?
    .unwrap_or(false))
}

/// `triggerSessionRecoveryCheck(trigger)`: a label for events and logs, `manual` when absent.
pub fn trigger_label(value: &JsValue) -> Result<String, Error> {
    Ok(string(value, "trigger")?.unwrap_or_else(|| "manual".into()))
}

/// The `credits` section: each field optional, each checked like the top-level settings.
fn credits_policy(section: &JsValue) -> Result<CreditsPolicy, Error> {
    let defaults = CreditsPolicy::default();
    let field = |name: &str, dotted: &str, default, min| -> Result<u64, Error> {
        let value = number(&member(section, name, dotted)?, dotted)?;
        Policy::millis(dotted, value, default, min)
    };
    let max_retries = field(
        "maxRetries",
        "credits.maxRetries",
        u64::from(defaults.max_retries),
        0,
    )?;
    if max_retries > u64::from(MAX_RETRIES_LIMIT) {
        return Err(Error::config("credits.maxRetries", "must be at most 10"));
    }
    Ok(CreditsPolicy {
        max_retries: max_retries as u32,
        base_delay_ms: field(
            "baseDelayMs",
            "credits.baseDelayMs",
            defaults.base_delay_ms,
            1,
        )?,
        max_delay_ms: field("maxDelayMs", "credits.maxDelayMs", defaults.max_delay_ms, 1)?,
    })
}

/// An optional nested object (`endpoints`, `credits`): absent reads as an empty section.
pub fn section(v: &JsValue, field: &str) -> Result<JsValue, Error> {
    if absent(v) {
        return Ok(JsValue::UNDEFINED);
    }
    if !v.is_object() {
        return Err(Error::config(field, "must be an object"));
    }
    Ok(v.clone())
}

/// `section[name]`; `dotted` names the field in errors (`credits.maxRetries`).
pub fn member(section: &JsValue, name: &str, dotted: &str) -> Result<JsValue, Error> {
    if absent(section) {
        return Ok(JsValue::UNDEFINED);
    }
    Reflect::get(section, &JsValue::from_str(name))
        .map_err(|_| Error::config(dotted, "could not be read"))
}

fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// An optional field: absent (`undefined`/`null`) is `None`; present must convert.
fn optional<T>(
    v: &JsValue,
    field: &str,
    expected: &str,
    convert: impl FnOnce(&JsValue) -> Option<T>,
) -> Result<Option<T>, Error> {
    if absent(v) {
        return Ok(None);
    }
    convert(v)
        .map(Some)
        .ok_or_else(|| Error::config(field, expected))
}

/// An optional number field.
pub fn number(v: &JsValue, field: &str) -> Result<Option<f64>, Error> {
    optional(v, field, "must be a number", JsValue::as_f64)
}

/// An optional string field.
pub fn string(v: &JsValue, field: &str) -> Result<Option<String>, Error> {
    optional(v, field, "must be a string", JsValue::as_string)
}

fn function(v: &JsValue, field: &str) -> Result<Option<Function>, Error> {
    optional(v, field, "must be a function", |v| {
        v.dyn_ref::<Function>().cloned()
    })
}

fn strings(v: &JsValue, field: &str) -> Result<Option<Vec<String>>, Error> {
    if absent(v) {
        return Ok(None);
    }
    if !Array::is_array(v) {
        return Err(Error::config(field, "must be an array of strings"));
    }
    Array::from(v)
        .iter()
        .map(|item| {
            item.as_string()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::config(field, "must contain only non-empty strings"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Normalises an allowed origin through the URL parser. Anything with a path, a query, or
/// an opaque origin (`*`, `null`, `file:`) is refused: the allow-list is exact origins only.
fn origin(entry: &str) -> Result<String, Error> {
    const PROBLEM: &str = "entries must be origins such as https://api.example.com (scheme, host, optional port; no path, no wildcard)";
    let url = Url::new(entry).map_err(|_| Error::config("allowedOrigins", PROBLEM))?;
    let origin = url.origin();
    let bare = url.pathname() == "/"
        && url.search().is_empty()
        && url.hash().is_empty()
        && url.username().is_empty();
    if origin == "null" || !bare || !matches!(url.protocol().as_str(), "http:" | "https:") {
        return Err(Error::config("allowedOrigins", PROBLEM));
    }
    Ok(origin)
}

/// Resolves `loginUrl` against the page and allows only http(s): a `javascript:` URL here
/// would run script on every expiry.
fn login_url(raw: &str) -> Result<String, Error> {
    let url = resolve(raw).ok_or_else(|| Error::config("loginUrl", "must be a URL"))?;
    if !matches!(url.protocol().as_str(), "http:" | "https:") {
        return Err(Error::config("loginUrl", "must be an http or https URL"));
    }
    Ok(url.href())
}

/// Resolves an endpoint against the page. The endpoint must be on an allowed origin: it is
/// sent the bearer, and the verify endpoint the token itself in its body.
fn endpoint(raw: &str, field: &'static str, allowed: &[String]) -> Result<String, Error> {
    let url = resolve(raw).ok_or_else(|| Error::config(field, "must be a URL"))?;
    if !allowed.iter().any(|o| *o == url.origin()) {
        return Err(Error::config(
            field,
            "must be on one of allowedOrigins: it is sent the bearer token",
        ));
    }
    Ok(url.href())
}

/// Resolves `raw` against the page's URL, as fetch would.
fn resolve(raw: &str) -> Option<Url> {
    match web_sys::window().and_then(|w| w.location().href().ok()) {
        Some(base) => Url::new_with_base(raw, &base),
        None => Url::new(raw),
    }
    .ok()
}

/// The page's own origin, when it has a real one.
fn page_origin() -> Option<String> {
    let origin = web_sys::window()?.location().origin().ok()?;
    (origin != "null").then_some(origin)
}
