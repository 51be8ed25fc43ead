//! Time source. Handlers never read the system clock directly: token expiry is the heart of
//! what this server exercises, and a manual clock lets tests cross an `exp` without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// Wall-clock time; what the binary uses.
    #[default]
    System,
    /// Milliseconds since the Unix epoch, moved only by `advance_ms`/`set_ms` (tests).
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub fn manual(start_ms: u64) -> Self {
        Clock::Manual(Arc::new(AtomicU64::new(start_ms)))
    }

    pub fn now_ms(&self) -> u64 {
        match self {
            // A clock before 1970 is a broken machine; 0 makes every token look expired,
            // which fails closed rather than open.
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            Clock::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    pub fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// Moves a manual clock forward. Returns false (and does nothing) on the system clock,
    /// so a test that forgot to install a manual clock notices.
    pub fn advance_ms(&self, delta: u64) -> bool {
        match self {
            Clock::System => false,
            Clock::Manual(ms) => {
                ms.fetch_add(delta, Ordering::SeqCst);
                true
            }
        }
    }
}
