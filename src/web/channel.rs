//! Messages to the other tabs of the origin: a `BroadcastChannel` where the browser has
//! one, otherwise `storage` events on a localStorage key (Safari before 15.4 has no
//! `BroadcastChannel`). Either way a tab does not hear its own messages.

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, Event, MessageEvent, StorageEvent, Window};

use super::storage::local_storage;

/// The `BroadcastChannel` name, and the localStorage key of the fallback.
const NAME: &str = "session-keeper";

enum Transport {
    Broadcast(BroadcastChannel),
    Storage(Window),
}

/// An open channel; dropping it stops listening and closes it.
pub struct TabChannel {
    transport: Transport,
    handler: Closure<dyn FnMut(Event)>,
}

impl TabChannel {
    /// Listens for messages from other tabs; `None` where neither transport exists.
    pub fn open(mut on_message: impl FnMut(String) + 'static) -> Option<TabChannel> {
        let handler = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            if let Some(text) = message_text(&event) {
                on_message(text);
            }
        });
        let f = handler.as_ref().unchecked_ref();
        let transport = match BroadcastChannel::new(NAME) {
            Ok(channel) => {
                channel.set_onmessage(Some(f));
                Transport::Broadcast(channel)
            }
            Err(_) => {
                let window = web_sys::window()?;
                window.add_event_listener_with_callback("storage", f).ok()?;
                Transport::Storage(window)
            }
        };
        Some(TabChannel { transport, handler })
    }

    /// Sends `message` to the other tabs. Best effort: storage may be full or blocked.
    pub fn post(&self, message: &str) {
        match &self.transport {
            Transport::Broadcast(channel) => {
                let _ = channel.post_message(&JsValue::from_str(message));
            }
            Transport::Storage(_) => {
                let Some(storage) = local_storage() else {
                    return;
                };
                // A fresh suffix makes every write a change (storage events fire only on
                // changes); removing it at once leaves nothing behind.
                let nonce = crate::core::recovery::format_stamp(super::random_seed());
                let _ = storage.set_item(NAME, &[message, "|", &nonce].concat());
                let _ = storage.remove_item(NAME);
            }
        }
    }
}

/// The text of a channel message, or of a fallback storage write (not its removal).
fn message_text(event: &Event) -> Option<String> {
    if let Some(message) = event.dyn_ref::<MessageEvent>() {
        return message.data().as_string();
    }
    let change = event.dyn_ref::<StorageEvent>()?;
    if change.key().as_deref() != Some(NAME) {
        return None;
    }
    let value = change.new_value()?;
    Some(
        value
            .split_once('|')
            .map_or(value.as_str(), |(m, _)| m)
            .into(),
    )
}

impl Drop for TabChannel {
    fn drop(&mut self) {
        let f = self.handler.as_ref().unchecked_ref();
        match &self.transport {
            Transport::Broadcast(channel) => {
                channel.set_onmessage(None);
                channel.close();
            }
            Transport::Storage(window) => {
                let _ = window.remove_event_listener_with_callback("storage", f);
            }
        }
    }
}
