//! session-keeper keeps a web dashboard's login session alive.
//!
//! The policy lives in [`core`]: plain Rust, time passed in, tested natively. The browser
//! layer (`js/runtime.js`, with its door into the core in [`web`]) carries out its
//! decisions; it is also where the JS API of SPEC.md lives (`SessionManager`,
//! `installGlobal`, the adapters), since nothing of it decides anything.
#![deny(missing_docs)]
// The shipped module is no_std (see Cargo.toml's `std` feature).
#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

/// A panic traps. Nothing here panics by design, and std's handler would pull in
/// `core::fmt` to format a message nobody reads.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    ::core::arch::wasm32::unreachable()
}

pub mod core;
pub mod web;

/// What std's prelude would give every module; the shipped module is no_std.
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::string::String;
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

/// lol_alloc's free list instead of std's dlmalloc: a fraction of its code.
// SAFETY: the module is single-threaded (no atomics), which `AssumeSingleThreaded` requires.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

use wasm_bindgen::prelude::*;

// The TypeScript of the JS API: the `SessionManager` class, the config, the provider and
// SDK shapes, the events and their details, the error class. The class lives in
// `js/runtime.js`, so nothing of it can be derived from Rust. `types/usage.ts` checks it
// with `tsc --noEmit` (make test-types).
#[wasm_bindgen(typescript_custom_section)]
const API_TYPES: &str = include_str!("../js/api.d.ts");

/// Runs at `init()`: hands the browser layer the door into the core, and the event names.
#[wasm_bindgen(start)]
fn start() {
    let names: js_sys::Array = core::event::NAMES
        .iter()
        .map(|n| JsValue::from_str(n))
        .collect();
    web::js::connect(web::entry::door(), &names);
}

#[cfg(feature = "std")]
pub mod testing;
