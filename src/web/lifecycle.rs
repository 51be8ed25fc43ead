//! Page-lifecycle listeners. Hidden tabs throttle timers to once a minute or less (Safari
//! longer), so the session re-checks whenever the tab may have slept past its refresh.

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::prelude::*;
use web_sys::{Document, Event, VisibilityState, Window};

/// `visibilitychange` (to visible), `pageshow` (including bfcache restores) and `online`.
/// The listeners are removed when this is dropped.
pub struct Lifecycle {
    window: Window,
    document: Document,
    handler: Closure<dyn FnMut(Event)>,
}

const WINDOW_EVENTS: [&str; 2] = ["pageshow", "online"];

impl Lifecycle {
    /// Calls `on_wake(event name)` whenever the page may have slept. `None` outside a window.
    pub fn listen(mut on_wake: impl FnMut(&'static str) + 'static) -> Option<Self> {
        let window = web_sys::window()?;
        let document = window.document()?;
        let doc = document.clone();
        let handler =
            Closure::<dyn FnMut(Event)>::new(move |event: Event| match event.type_().as_str() {
                "visibilitychange" if doc.visibility_state() == VisibilityState::Visible => {
                    on_wake("visible")
                }
                "pageshow" => on_wake("pageshow"),
                "online" => on_wake("online"),
                _ => {}
            });
        let f = handler.as_ref().unchecked_ref();
        for name in WINDOW_EVENTS {
            let _ = window.add_event_listener_with_callback(name, f);
        }
        let _ = document.add_event_listener_with_callback("visibilitychange", f);
        Some(Lifecycle {
            window,
            document,
            handler,
        })
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        let f = self.handler.as_ref().unchecked_ref();
        for name in WINDOW_EVENTS {
            let _ = self.window.remove_event_listener_with_callback(name, f);
        }
        let _ = self
            .document
            .remove_event_listener_with_callback("visibilitychange", f);
    }
}
