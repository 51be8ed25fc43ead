//! Command line entry: parse flags, bind, print the one stdout line the tests wait for, serve.

use std::io::Write;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use axum::serve::ListenerExt;
use reference_backend::config::{parse_args, Command, USAGE};
use reference_backend::{router, AppState};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match parse_args(std::env::args().skip(1), |key| std::env::var(key).ok()) {
        Ok(Command::Run(settings)) => settings,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("reference-backend: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    // "localhost" is pinned to 127.0.0.1 so the printed URL is stable (resolvers may
    // list ::1 first).
    let host = if settings.host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1".to_owned()
    } else {
        settings.host.clone()
    };
    let listener = match TcpListener::bind((host.as_str(), settings.port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "reference-backend: cannot listen on {host}:{}: {e}",
                settings.port
            );
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("reference-backend: cannot read the bound address: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !addr.ip().is_loopback() {
        eprintln!("reference-backend: warning: listening on {addr}, beyond loopback; /__dev/ refuses non-loopback peers, the demo users are public");
    }

    let state = match AppState::new(settings, addr.port()) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("reference-backend: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = router(state);

    // `localhost` may resolve to ::1 first (Node's fetch does that); the redirect check
    // sends clients to `localhost:PORT`, so serve [::1] on the same port when possible.
    if addr.ip() == IpAddr::from([127, 0, 0, 1]) {
        if let Ok(v6) =
            TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))).await
        {
            let app = app.clone();
            tokio::spawn(async move {
                let service = app.into_make_service_with_connect_info::<SocketAddr>();
                if let Err(e) = axum::serve(v6.tap_io(no_delay), service).await {
                    eprintln!("reference-backend: [::1] listener stopped: {e}");
                }
            });
        }
    }

    // The one stdout line; tests parse it, so flush it now rather than at exit.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "reference-backend listening on http://{addr}");
    let _ = stdout.flush();

    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    match axum::serve(listener.tap_io(no_delay), service).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reference-backend: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Small responses go out at once: with Nagle's algorithm on, a second small file on a
/// keep-alive connection waited about 40 ms for the client's delayed ACK (measured by
/// `bench/run.mjs`'s start-up loads).
fn no_delay(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}
