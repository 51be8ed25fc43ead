//! Reading a refusal: whether a 401 or 403 answer asks the page for a new token.
//!
//! Backends that validate Supabase or Clerk tokens answer an expired one with
//! `{"error":"Token has expired",…,"requires_refresh":true}`, sometimes wrapped as
//! `{"detail":{…}}` (FastAPI's `HTTPException`), and some send it with 403 rather than 401.

#[allow(unused_imports)]
use crate::prelude::*;

use super::json::{Object, Value};

/// Whether a response with `status` and `body` (its text) asks for a refreshed token: any
/// 401, whatever its body; a 403 only when its JSON body has `requires_refresh: true` at the
/// top level or inside a `detail` object; nothing else.
///
/// ```
/// use session_keeper::core::refusal::asks_for_refresh;
/// assert!(asks_for_refresh(401, ""));
/// assert!(asks_for_refresh(403, r#"{"detail":{"error":"Token has expired","requires_refresh":true}}"#));
/// assert!(!asks_for_refresh(403, r#"{"error":"forbidden"}"#));
/// assert!(!asks_for_refresh(403, r#"{"requires_refresh":"true"}"#));
/// assert!(!asks_for_refresh(500, r#"{"requires_refresh":true}"#));
/// ```
pub fn asks_for_refresh(status: u16, body: &str) -> bool {
    match status {
        401 => true,
        403 => Object::parse(body).is_some_and(|body| {
            flagged(body)
                || matches!(body.get("detail"), Some(Value::Object(detail)) if flagged(detail))
        }),
        _ => false,
    }
}

fn flagged(object: Object<'_>) -> bool {
    object.get("requires_refresh") == Some(Value::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_401_and_flagged_403_ask_for_refresh() {
        for body in ["", "not json", "{}", r#"{"requires_refresh":false}"#] {
            assert!(asks_for_refresh(401, body), "401 {body:?}");
        }
        for body in [
            r#"{"requires_refresh":true}"#,
            r#" {"error":"Token has expired","expired_at":1,"current_time":2,"expired_seconds_ago":1,"requires_refresh":true} "#,
            r#"{"detail":{"error":"Token has expired","requires_refresh":true}}"#,
            r#"{"requires_refresh":false,"detail":{"requires_refresh":true}}"#,
            r#"{"requires_refresh":false,"requires_refresh":true}"#,
        ] {
            assert!(asks_for_refresh(403, body), "403 {body:?}");
        }
        for body in [
            "",
            "forbidden",
            "{}",
            "[]",
            "true",
            r#"[{"requires_refresh":true}]"#,
            r#"{"requires_refresh":1}"#,
            r#"{"requires_refresh":"true"}"#,
            r#"{"requires_refresh":null}"#,
            r#"{"requires_refresh":true,"requires_refresh":false}"#,
            r#"{"detail":"requires_refresh"}"#,
            r#"{"detail":[{"requires_refresh":true}]}"#,
            r#"{"detail":{"detail":{"requires_refresh":true}}}"#,
            r#"{"requires_refresh":true"#,
            r#"{"requires_refresh":true,}"#,
        ] {
            assert!(!asks_for_refresh(403, body), "403 {body:?}");
        }
        for status in [0, 200, 204, 400, 404, 419, 429, 500, 503] {
            assert!(
                !asks_for_refresh(status, r#"{"requires_refresh":true}"#),
                "{status}"
            );
        }
    }
}
