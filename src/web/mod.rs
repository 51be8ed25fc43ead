//! The browser layer: carries out the core's decisions with fetch, timers, storage and
//! events. Every closure here is owned, every timer is cancelled on drop, and every wait on
//! JavaScript has a deadline.

pub mod channel;
pub mod config;
pub mod deadline;
pub mod error;
pub mod events;
pub mod lifecycle;
pub mod log;
pub mod manager;
pub mod provider;
pub mod request;
pub mod storage;

/// A seed for the core's jitter generators (not for secrets).
pub fn random_seed() -> u64 {
    (js_sys::Math::random() * u64::MAX as f64) as u64
}

/// The page clock, in the core's unit.
pub fn now() -> crate::core::Millis {
    js_sys::Date::now() as crate::core::Millis
}

/// Every async task, boxed behind one type. Each distinct future type handed to
/// `future_to_promise` or `spawn_local` gets its own copy of the task machinery, which made
/// up about 15 KB of the module.
type Task = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>>>,
>;

/// Runs `task` and hands back its Promise.
pub fn promise(
    task: impl std::future::Future<Output = Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>>
        + 'static,
) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(Box::pin(task) as Task)
}

/// Runs `task` in the background; nobody waits for it.
pub fn spawn(task: impl std::future::Future<Output = ()> + 'static) {
    // The promise never rejects, so dropping it loses nothing.
    let _ = promise(async move {
        task.await;
        Ok(wasm_bindgen::JsValue::UNDEFINED)
    });
}
