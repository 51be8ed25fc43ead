//! Reading a refusal: whether a 401 or 403 answer asks the page for a new token.
//!
//! Backends that validate Supabase or Clerk tokens answer an expired one with
//! `{"error":"Token has expired",…,"requires_refresh":true}`, sometimes wrapped as
//! `{"detail":{…}}` (FastAPI's `HTTPException`), and some send it with 403 rather than 401.

#[allow(unused_imports)]
use crate::prelude::*;

use super::action::Body;

/// Whether a response with `status` and `body` (what the browser read of its JSON) asks for
/// a refreshed token: any 401, whatever its body; a 403 only when the body says
/// `requires_refresh: true` at the top level or inside a `detail` object; nothing else.
///
/// ```
/// use session_keeper::core::action::Body;
/// use session_keeper::core::refusal::asks_for_refresh;
/// let flagged = Body { detail_requires_refresh: true, ..Body::default() };
/// assert!(asks_for_refresh(401, None));
/// assert!(asks_for_refresh(403, Some(&flagged)));
/// assert!(!asks_for_refresh(403, Some(&Body::default())));
/// assert!(!asks_for_refresh(403, None));
/// assert!(!asks_for_refresh(500, Some(&flagged)));
/// ```
pub fn asks_for_refresh(status: u16, body: Option<&Body>) -> bool {
    match status {
        401 => true,
        403 => body.is_some_and(|b| b.requires_refresh || b.detail_requires_refresh),
        _ => false,
    }
}
