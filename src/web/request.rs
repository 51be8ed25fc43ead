//! Preparing one request.
//!
//! A request is built once as a `Request` (resolving the URL, method, headers and body the
//! way fetch would). Each attempt sends a *clone* (`send` in `js/runtime.js`), so the retry
//! after a 401 carries the same method, URL, headers and body, whatever the body type. The
//! one exception is a `ReadableStream` body: cloning would buffer the whole stream in
//! memory, so such a request is sent once and not retried.
//!
//! The request carries the manager's own `AbortSignal` (the request timeout); the caller's
//! signal is forwarded into it by `follow` in `js/runtime.js`. That works in every browser of the
//! baseline, where `AbortSignal.any` does not (Safari < 17.4, Firefox < 124, Chrome < 116).

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use web_sys::{AbortController, AbortSignal, ReadableStream, Request, RequestInit, Url};

use super::error::Failure;

#[wasm_bindgen]
extern "C" {
    /// `Request`, constructed with fetch's own loose argument types.
    #[wasm_bindgen(extends = Request, js_name = Request)]
    type LooseRequest;

    #[wasm_bindgen(catch, constructor, js_class = "Request")]
    fn new(input: &JsValue, init: &JsValue) -> Result<LooseRequest, JsValue>;
}

#[wasm_bindgen(module = "/js/runtime.js")]
extern "C" {
    /// Aborts `to` with `from`'s reason when `from` aborts; returns the function that stops.
    #[wasm_bindgen(catch)]
    fn follow(from: &AbortSignal, to: &AbortController) -> Result<Function, JsValue>;
}

/// `new Request(input, init)` for anything fetch accepts (string, URL or Request).
fn new_request(input: &JsValue, init: &JsValue) -> Result<Request, JsValue> {
    LooseRequest::new(input, init).map(Into::into)
}

/// A request ready to be sent one or more times.
pub struct Prepared {
    base: Request,
    /// The caller's own signal (the one `input`/`init` carried).
    caller: AbortSignal,
    /// Aborts the request on timeout, or when the caller's signal aborts.
    timeout: AbortController,
    /// Stops forwarding the caller's abort; called on drop.
    unfollow: Option<Function>,
    /// False for `ReadableStream` bodies, which are sent once and never retried.
    pub replayable: bool,
}

impl Prepared {
    /// Builds the request exactly as fetch would. An `input`/`init` that fetch would refuse
    /// is a `config` failure whose cause is the `TypeError`.
    pub fn new(input: &JsValue, init: &JsValue) -> Result<Prepared, Failure> {
        let request = new_request(input, init).map_err(Failure::Input)?;
        let stream_body = init.is_object()
            && Reflect::get(init, &JsValue::from_str("body"))
                .is_ok_and(|b| b.is_instance_of::<ReadableStream>());
        let timeout = AbortController::new().map_err(Failure::Input)?;
        let with_signal = RequestInit::new();
        with_signal.set_signal(Some(&timeout.signal()));
        if stream_body {
            Reflect::set(
                &with_signal,
                &JsValue::from_str("duplex"),
                &JsValue::from_str("half"),
            )
            .map_err(Failure::Input)?;
        }
        let base = new_request(&request, &with_signal).map_err(Failure::Input)?;
        let caller = request.signal();
        let unfollow = follow(&caller, &timeout).ok();
        Ok(Prepared {
            base,
            caller,
            timeout,
            unfollow,
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
        self.caller.aborted().then(|| self.caller.reason())
    }

    /// The request to send (each attempt sends a clone of it, when it may be sent again).
    pub fn request(&self) -> &Request {
        &self.base
    }

    /// Aborts the request: its time is up.
    pub fn abort(&self) {
        self.timeout.abort();
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(unfollow) = self.unfollow.take() {
            let _ = unfollow.call0(&JsValue::UNDEFINED);
        }
    }
}
