//! The real binary on a real socket: the stdout line the e2e harness parses, the CLI's
//! refusals, and the bound port in the redirect.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_reference-backend");

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> (Server, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("PORT")
        .env_remove("TOKEN_TTL_SECS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn reference-backend");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let port = line
        .trim_end()
        .strip_prefix("reference-backend listening on http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (Server { child, port }, line)
}

/// Minimal HTTP/1.1 client: one request per connection, returns (status, head, body).
fn http(port: u16, request_head: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!(
        "{request_head}\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn prints_exactly_the_listening_line_and_serves_on_that_port() {
    let (server, line) = start(&[
        "--port",
        "0",
        "--token-ttl-secs",
        "4",
        "--www",
        "/nonexistent-www",
    ]);
    assert!(line.ends_with('\n'));
    assert_ne!(server.port, 0);

    let login = r#"{"email":"demo@example.com","password":"demo"}"#;
    let (status, _, body) = http(
        server.port,
        "POST /auth/login HTTP/1.1\r\nContent-Type: application/json",
        login,
    );
    assert_eq!(status, 200, "{body}");
    let session: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(session["expires_in"], 4, "--token-ttl-secs applies");
    let token = session["access_token"].as_str().unwrap();

    let (status, head, _) = http(
        server.port,
        &format!("GET /api/redirect-elsewhere HTTP/1.1\r\nAuthorization: Bearer {token}"),
        "",
    );
    assert_eq!(status, 307);
    let expected = format!("location: http://localhost:{}/api/echo-auth", server.port);
    assert!(head.contains(&expected), "{head}");

    // /__dev/ answers a loopback peer (the connection info is real here).
    let (status, _, body) = http(server.port, "POST /__dev/restart HTTP/1.1", "");
    assert_eq!((status, body.as_str()), (200, r#"{"restarted":true}"#));

    let (status, _, body) = http(server.port, "GET / HTTP/1.1", "");
    assert_eq!(status, 404, "missing www dir: {body}");
}

#[test]
fn bad_arguments_exit_2_with_a_message_and_print_no_listening_line() {
    for args in [
        &["--token-ttl-secs", "0.2"][..],
        &["--port", "99999"],
        &["--bogus"],
        &["--port"],
    ] {
        let output = Command::new(BIN)
            .args(args)
            .env_remove("PORT")
            .env_remove("TOKEN_TTL_SECS")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("reference-backend:") && stderr.contains("usage:"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn env_port_is_used_when_no_flag_is_given() {
    let output = Command::new(BIN)
        .env("PORT", "not-a-port")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("PORT"));
}

#[test]
fn serves_the_app_dir_and_revokes_over_a_real_socket() {
    let dir = std::env::temp_dir().join(format!("reference-backend-app-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>built</title>",
    )
    .unwrap();
    std::fs::write(dir.join("assets/main.js"), "export {};").unwrap();
    let (server, _) = start(&["--port", "0", "--app", dir.to_str().unwrap()]);

    let (status, head, body) = http(server.port, "GET /app/ HTTP/1.1", "");
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(body.contains("<title>built</title>"));
    let (status, head, _) = http(server.port, "GET /app/assets/main.js HTTP/1.1", "");
    assert_eq!(status, 200);
    assert!(head.contains("javascript"), "{head}");

    let login = r#"{"email":"demo@example.com","password":"demo"}"#;
    let (_, _, body) = http(
        server.port,
        "POST /auth/login HTTP/1.1\r\nContent-Type: application/json",
        login,
    );
    let session: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = session["access_token"].as_str().unwrap();
    let me = format!("GET /api/users/me HTTP/1.1\r\nAuthorization: Bearer {token}");
    assert_eq!(http(server.port, &me, "").0, 200);
    let (status, _, body) = http(server.port, "POST /__dev/revoke HTTP/1.1", "");
    assert_eq!((status, body.as_str()), (200, r#"{"revoked":true}"#));
    let (status, _, body) = http(server.port, &me, "");
    assert_eq!(status, 401);
    assert!(body.contains("Token has been revoked"), "{body}");

    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
