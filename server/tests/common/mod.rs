//! Shared test rig: the real router, driven in-process with `oneshot`, on a manual clock and
//! throwaway static directories.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use reference_backend::{router, AppState, Clock, Settings, SharedState};
use serde_json::Value;
use tower::ServiceExt;

/// 2023-11-14T22:13:20Z: a whole second, so `exp` arithmetic in assertions is exact.
pub const START_MS: u64 = 1_700_000_000_000;
pub const DEMO: (&str, &str) = ("demo@example.com", "demo");
pub const OTHER: (&str, &str) = ("other@example.com", "other");

pub struct Rig {
    pub app: Router,
    pub state: SharedState,
    pub clock: Clock,
    pub root: PathBuf,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The body as JSON; Null when empty, so a 204 reads naturally.
    pub fn json(&self) -> Value {
        if self.bytes.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "reference-backend-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["www", "pkg", "node_modules/some-pkg", "app/assets"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create scratch dir");
    }
    std::fs::write(
        dir.join("www/index.html"),
        "<!doctype html><title>demo</title>",
    )
    .unwrap();
    std::fs::write(dir.join("www/app.js"), "export const x = 1;").unwrap();
    std::fs::write(dir.join("pkg/session_keeper_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(
        dir.join("pkg/session_keeper.js"),
        "export default function init() {}",
    )
    .unwrap();
    std::fs::write(dir.join("node_modules/some-pkg/index.mjs"), "export {};").unwrap();
    std::fs::write(
        dir.join("app/index.html"),
        "<!doctype html><title>vite app</title>",
    )
    .unwrap();
    std::fs::write(dir.join("app/assets/index-abc123.js"), "export {};").unwrap();
    std::fs::write(
        dir.join("app/assets/session_keeper_bg-x.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    dir
}

pub fn rig() -> Rig {
    rig_with(|_| {})
}

/// A rig started with `--app <scratch>/app` (index.html, assets/*.js, assets/*.wasm).
pub fn rig_with_app() -> Rig {
    rig_with(|s| s.app_dir = Some(s.www_dir.with_file_name("app")))
}

pub fn rig_with(adjust: impl FnOnce(&mut Settings)) -> Rig {
    let root = scratch_dir();
    let clock = Clock::manual(START_MS);
    let mut settings = Settings {
        token_ttl_ms: 60_000,
        www_dir: root.join("www"),
        pkg_dir: root.join("pkg"),
        node_modules_dir: root.join("node_modules"),
        secret: Some("test-secret".to_owned()),
        clock: clock.clone(),
        ..Settings::default()
    };
    adjust(&mut settings);
    let state = AppState::new(settings, 4321).expect("state");
    Rig {
        app: router(state.clone()),
        state,
        clock,
        root,
    }
}

impl Rig {
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            bytes,
        }
    }

    /// `body`: None sends no body; Some(text) sends it verbatim (JSON or deliberately not).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:4321");
        if let Some(token) = bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(text) => {
                builder = builder.header("content-type", "application/json");
                Body::from(text.to_owned())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.call(Method::GET, path, bearer, None).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: &str) -> Reply {
        self.call(Method::POST, path, bearer, Some(body)).await
    }

    /// Logs in and returns the whole 200 body.
    pub async fn login(&self, (email, password): (&str, &str)) -> Value {
        let body = serde_json::json!({ "email": email, "password": password }).to_string();
        let reply = self.post("/auth/login", None, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login failed: {:?}",
            reply.json()
        );
        reply.json()
    }

    pub async fn access_token(&self, user: (&str, &str)) -> String {
        self.login(user).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn stats(&self) -> Value {
        self.get("/__dev/stats", None).await.json()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Decodes a JWT's payload without checking it (tests inspect what the server minted).
pub fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("JWT has a payload");
    let bytes = base64_url_decode(part);
    serde_json::from_slice(&bytes).expect("payload is JSON")
}

fn base64_url_decode(input: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in input.bytes().filter(|&c| c != b'=') {
        let v = alphabet
            .iter()
            .position(|&a| a == c)
            .expect("base64url char") as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// The keys of a JSON object, in order.
pub fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The session body both /auth/login and the GoTrue token grant answer, for a 60 s token
/// issued at the rig's start time.
pub fn assert_session_shape(session: &Value) {
    assert_eq!(
        keys(session),
        [
            "access_token",
            "expires_at",
            "expires_in",
            "refresh_token",
            "token_type",
            "user"
        ]
    );
    assert_eq!(session["token_type"], "bearer");
    assert_eq!(session["expires_in"], 60);
    assert_eq!(session["expires_at"], START_MS / 1000 + 60);
}
