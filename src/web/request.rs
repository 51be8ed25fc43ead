//! Preparing, authorising and sending one request.
//!
//! A request is built once as a `Request` (resolving the URL, method, headers and body the
//! way fetch would). Each attempt sends a *clone*, so the retry after a 401 carries the same
//! method, URL, headers and body, whatever the body type. The one exception is a
//! `ReadableStream` body: cloning would buffer the whole stream in memory, so such a request
//! is sent once and not retried.

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, ReadableStream, Request, RequestInit, Response, Url};

use super::deadline::within;
use super::error::Failure;
use crate::core::error::{Error, ErrorCode};
use crate::core::Millis;

#[wasm_bindgen]
extern "C" {
    /// `Request`, constructed with fetch's own loose argument types.
    #[wasm_bindgen(extends = Request, js_name = Request)]
    type LooseRequest;

    #[wasm_bindgen(catch, constructor, js_class = "Request")]
    fn new(input: &JsValue, init: &JsValue) -> Result<LooseRequest, JsValue>;
}

/// `new Request(input, init)` for anything fetch accepts (string, URL or Request).
fn new_request(input: &JsValue, init: &JsValue) -> Result<Request, JsValue> {
    LooseRequest::new(input, init).map(Into::into)
}

/// A request ready to be sent one or more times.
pub struct Prepared {
    base: Request,
    /// Aborts the request on timeout. Its signal is combined with the caller's, so the
    /// caller's own abort still works on every attempt.
    timeout: AbortController,
    /// False for `ReadableStream` bodies, which are sent once and never retried.
    pub replayable: bool,
}

impl Prepared {
    /// Builds the request exactly as fetch would; a bad `input`/`init` throws fetch's own
    /// TypeError.
    pub fn new(input: &JsValue, init: &JsValue) -> Result<Prepared, JsValue> {
        let request = new_request(input, init)?;
        let stream_body = init.is_object()
            && Reflect::get(init, &JsValue::from_str("body"))
                .is_ok_and(|b| b.is_instance_of::<ReadableStream>());
        let timeout = AbortController::new()?;
        let with_signal = RequestInit::new();
        with_signal.set_signal(Some(&AbortSignal::any(&Array::of2(
            &request.signal(),
            &timeout.signal(),
        ))));
        if stream_body {
            Reflect::set(
                &with_signal,
                &JsValue::from_str("duplex"),
                &JsValue::from_str("half"),
            )?;
        }
        let base = new_request(&request, &with_signal)?;
        Ok(Prepared {
            base,
            timeout,
            replayable: !stream_body,
        })
    }

    /// The origin the request goes to. The `Request` constructor has already resolved the URL
    /// against the document's base URL, exactly as fetch will.
    pub fn origin(&self) -> Option<String> {
        Url::new(&self.base.url()).ok().map(|url| url.origin())
    }

    /// Whether the caller set its own `Authorization` header (then the caller owns auth).
    pub fn has_authorization(&self) -> bool {
        self.base.headers().has("authorization").unwrap_or(false)
    }

    /// The caller's abort reason, if the caller has aborted.
    pub fn aborted(&self) -> Option<JsValue> {
        let signal = self.base.signal();
        (signal.aborted() && !self.timeout.signal().aborted()).then(|| signal.reason())
    }

    /// Sends one attempt with `Authorization: Bearer <token>` (or unchanged when `token` is
    /// `None`). Waits at most `timeout_ms`, then aborts the request and fails with `timeout`.
    pub async fn send(
        &self,
        fetch: &Function,
        token: Option<&str>,
        timeout_ms: Millis,
    ) -> Result<Response, Failure> {
        // `Request::clone` tees the body for a replay; a stream body is sent as the one instance.
        let attempt = if self.replayable {
            self.base.clone()?
        } else {
            Clone::clone(&self.base)
        };
        if let Some(token) = token {
            attempt
                .headers()
                .set("Authorization", &["Bearer ", token].concat())?;
        }
        let returned = fetch.call1(&JsValue::UNDEFINED, &attempt)?;
        match within(timeout_ms, JsFuture::from(Promise::resolve(&returned))).await {
            Err(_) => {
                self.timeout.abort();
                Err(Error::new(
                    ErrorCode::Timeout,
                    "the request did not complete within requestTimeoutMs",
                )
                .into())
            }
            Ok(Err(error)) if is_abort(&error) => Err(Failure::Js(error)),
            Ok(Err(error)) => Err(Failure::Network(error)),
            Ok(Ok(value)) => value.dyn_into::<Response>().map_err(|_| {
                Error::new(
                    ErrorCode::Network,
                    "fetch resolved to something that is not a Response",
                )
                .into()
            }),
        }
    }
}

/// The caller's own abort is passed through unchanged, as fetch would.
fn is_abort(error: &JsValue) -> bool {
    Reflect::get(error, &JsValue::from_str("name"))
        .ok()
        .and_then(|n| n.as_string())
        .is_some_and(|n| n == "AbortError")
}

/// Whether a response asks for a new token: any 401, or a 403 whose JSON body says
/// `requires_refresh: true` (plain or wrapped in `detail`).
pub async fn wants_refresh(response: &Response, timeout_ms: Millis) -> bool {
    match response.status() {
        401 => true,
        403 => {
            let Ok(copy) = response.clone() else {
                return false;
            };
            let Ok(json) = copy.json() else { return false };
            match within(timeout_ms, JsFuture::from(json)).await {
                Ok(Ok(body)) => requires_refresh(&body),
                _ => false,
            }
        }
        _ => false,
    }
}

fn requires_refresh(body: &JsValue) -> bool {
    let flag = |v: &JsValue| {
        Reflect::get(v, &JsValue::from_str("requires_refresh"))
            .is_ok_and(|f| f.as_bool() == Some(true))
    };
    body.is_object()
        && (flag(body)
            || Reflect::get(body, &JsValue::from_str("detail"))
                .is_ok_and(|d| d.is_object() && flag(&d)))
}
