//! Console logging with a `[session-keeper]` prefix and a level filter.
//!
//! Callers pass fixed text only. No function here accepts a token, and no message is built
//! from a value the page or the provider handed in.
//!
//! The console is imported with `catch`: some test setups and monitoring wrappers make
//! `console.warn` throw, and an exception escaping a Rust frame would leave a `RefCell`
//! borrowed and trap the module on the next poll. A console that throws (or is missing)
//! only loses the line.

use wasm_bindgen::prelude::*;

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

/// How much to log; everything below the level is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Every decision.
    Debug,
    /// Refreshes and state changes.
    Info,
    /// Failures that the library recovers from (the default).
    Warn,
    /// Failures the page must act on.
    Error,
    /// Nothing.
    Silent,
}

impl Level {
    /// Parses `logLevel`.
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name {
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" => Level::Warn,
            "error" => Level::Error,
            "silent" => Level::Silent,
            _ => return None,
        })
    }
}

/// A console logger at a fixed level.
#[derive(Clone, Copy, Debug)]
pub struct Logger(pub Level);

impl Logger {
    fn write(&self, level: Level, parts: &[&str]) {
        if level < self.0 {
            return;
        }
        let line = std::iter::once("[session-keeper] ")
            .chain(parts.iter().copied())
            .collect::<String>();
        let _ = match level {
            Level::Debug => console_debug(&line),
            Level::Info => console_info(&line),
            Level::Warn => console_warn(&line),
            _ => console_error(&line),
        };
    }

    /// Logs at debug level; `parts` are concatenated.
    pub fn debug(&self, parts: &[&str]) {
        self.write(Level::Debug, parts)
    }

    /// Logs at info level.
    pub fn info(&self, parts: &[&str]) {
        self.write(Level::Info, parts)
    }

    /// Logs at warn level.
    pub fn warn(&self, parts: &[&str]) {
        self.write(Level::Warn, parts)
    }

    /// Logs at error level.
    pub fn error(&self, parts: &[&str]) {
        self.write(Level::Error, parts)
    }
}
