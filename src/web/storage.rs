//! The opt-in localStorage mirror that old templates read (`authToken`, `auth_token`, …).
//!
//! Plain `web_sys::Storage` rather than gloo-storage, for two reasons. gloo-storage
//! JSON-encodes values, but templates read the raw token string. And its `raw()` throws when
//! storage is blocked, while a blocked or full storage must degrade to memory only, never
//! to an exception.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;

use web_sys::Storage;

use super::log::write;
use crate::core::action::Level;
use crate::core::recovery::{format_stamp, parse_stamp, LAST_ATTEMPT_KEY};
use crate::core::Millis;

/// Writes the token under every configured key, and removes it on sign-out.
pub struct Mirror {
    keys: Vec<String>,
    warned: Cell<bool>,
    /// The last write or removal failed: what storage holds says nothing about the session.
    broken: Cell<bool>,
}

impl Mirror {
    /// A mirror for `keys`; with no keys it does nothing (memory only, the default).
    pub fn new(keys: Vec<String>) -> Self {
        Mirror {
            keys,
            warned: Cell::new(false),
            broken: Cell::new(false),
        }
    }

    /// Writes `token` under every key.
    pub fn write(&self, token: &str, log: Level) {
        self.each(log, |storage, key| storage.set_item(key, token).is_ok());
    }

    /// Removes every key.
    pub fn clear(&self, log: Level) {
        self.each(log, |storage, key| storage.remove_item(key).is_ok());
    }

    /// Whether the mirror holds a token: `None` with no keys, where storage cannot be read,
    /// or where the last write failed (full or blocked storage), so a mirror the page cannot
    /// keep never blocks agreement.
    pub fn holds_token(&self) -> Option<bool> {
        if self.keys.is_empty() || self.broken.get() {
            return None;
        }
        let storage = local_storage()?;
        let mut found = false;
        for key in &self.keys {
            found |= storage.get_item(key).ok()?.is_some_and(|v| !v.is_empty());
        }
        Some(found)
    }

    fn each(&self, log: Level, mut op: impl FnMut(&Storage, &str) -> bool) {
        if self.keys.is_empty() {
            return;
        }
        let mut ok = false;
        if let Some(storage) = local_storage() {
            ok = true;
            // Every key is tried, even after one fails.
            for key in &self.keys {
                ok &= op(&storage, key);
            }
        }
        self.broken.set(!ok);
        if !ok && !self.warned.replace(true) {
            write(
                log,
                Level::Warn,
                "localStorage refused the token mirror; the token stays in memory only",
            );
        }
    }
}

/// localStorage, or `None` where the page may not use it (sandboxed frames, disabled storage).
pub fn local_storage() -> Option<Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The last recovery attempt whose stamp could not be stored (storage blocked, full or
/// unreadable), shared by every manager on the page: the in-memory cooldown.
static UNSTORED_ATTEMPT: super::PageLocal<Cell<Option<Millis>>> =
    super::PageLocal(Cell::new(None));

/// The recovery attempts on record: the stored `last_recovery_attempt` (shared by every tab)
/// and the page's in-memory one.
pub fn read_stamps() -> [Option<Millis>; 2] {
    let stored = local_storage()
        .and_then(|s| s.get_item(LAST_ATTEMPT_KEY).ok().flatten())
        .and_then(|v| parse_stamp(&v));
    [stored, UNSTORED_ATTEMPT.0.get()]
}

/// Stores a recovery attempt; where storage refuses, the page keeps it in memory.
pub fn write_stamp(at: Millis, log: Level) {
    let saved = local_storage().is_some_and(|s| {
        s.get_item(LAST_ATTEMPT_KEY).is_ok()
            && s.set_item(LAST_ATTEMPT_KEY, &format_stamp(at)).is_ok()
    });
    if !saved {
        write(
            log,
            Level::Debug,
            "localStorage refused last_recovery_attempt; the cooldown is kept in memory",
        );
    }
    UNSTORED_ATTEMPT.0.set((!saved).then_some(at));
}
