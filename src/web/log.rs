//! Console logging with a `[session-keeper]` prefix and a level filter.
//!
//! Callers pass fixed text only. No function here accepts a token, and no message is built
//! from a value the page or the provider handed in.

use web_sys::console;

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
        let line = wasm_bindgen::JsValue::from_str(&line);
        match level {
            Level::Debug => console::debug_1(&line),
            Level::Info => console::info_1(&line),
            Level::Warn => console::warn_1(&line),
            _ => console::error_1(&line),
        }
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
