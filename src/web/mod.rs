//! The browser layer: `js/runtime.js` carries out the core's decisions with fetch, timers,
//! storage and events, and feeds every result back through one door (`entry.rs`). The Rust
//! side here only opens the door and reads what comes through it.

pub mod entry;
pub mod error;
pub mod js;

/// State shared by everything on the page (the cores, the door). `thread_local!` is
/// std-only; a wasm32 module without the atomics feature runs on one thread, so sharing is
/// sound there, and natively this state is never touched.
pub struct PageLocal<T>(pub T);

// SAFETY: see above: one thread, so never shared across threads.
unsafe impl<T> Sync for PageLocal<T> {}
