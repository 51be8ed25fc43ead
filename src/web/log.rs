//! Console logging with a `[session-keeper]` prefix and a level filter.
//!
//! Callers pass fixed text only. No function here accepts a token, and no message is built
//! from a value the page or the provider handed in.
//!
//! The console is imported with `catch`: some test setups and monitoring wrappers make
//! `console.warn` throw, and an exception escaping a Rust frame would leave a `RefCell`
//! borrowed and trap the module on the next poll. A console that throws (or is missing)
//! only loses the line.

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::prelude::*;

use crate::core::action::Level;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = console, js_name = debug)]
    fn console_debug(line: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_namespace = console, js_name = info)]
    fn console_info(line: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_namespace = console, js_name = warn)]
    fn console_warn(line: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_namespace = console, js_name = error)]
    fn console_error(line: &str) -> Result<(), JsValue>;
}

/// Writes `[session-keeper] <line>` at `level`, unless the configured level is above it.
pub fn write(configured: Level, level: Level, line: &str) {
    if level < configured {
        return;
    }
    let line = ["[session-keeper] ", line].concat();
    let _ = match level {
        Level::Debug => console_debug(&line),
        Level::Info => console_info(&line),
        Level::Warn => console_warn(&line),
        _ => console_error(&line),
    };
}
