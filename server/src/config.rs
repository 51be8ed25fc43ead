//! Start-up settings and the command line. Parsing lives here rather than in main.rs so the
//! flag/env precedence and the TTL limits are unit-testable.

use std::path::PathBuf;

use crate::clock::Clock;

/// Shortest token lifetime accepted. Below a second `exp` (whole seconds in a JWT) could
/// equal `iat`, i.e. a token born expired.
pub const MIN_TTL_MS: u64 = 1_000;
/// Longest: 30 days. Anything longer is a typo, not a test scenario.
pub const MAX_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

#[derive(Clone, Debug)]
pub struct Settings {
    pub host: String,
    /// 0 asks the OS for a free port; the bound port is what gets printed and used.
    pub port: u16,
    pub token_ttl_ms: u64,
    pub www_dir: PathBuf,
    pub pkg_dir: PathBuf,
    pub node_modules_dir: PathBuf,
    /// A built app (the e2e suite's Vite build) served at `/app/`. None: `/app/*` is a 404.
    pub app_dir: Option<PathBuf>,
    /// HS256 secret. None: a random one per start, so tokens never outlive the process.
    pub secret: Option<String>,
    /// One stderr line per request (method, path, status; never headers, never tokens).
    pub verbose: bool,
    pub clock: Clock,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host: "127.0.0.1".to_owned(),
            port: 8080,
            token_ttl_ms: 60_000,
            www_dir: PathBuf::from("./www"),
            pkg_dir: PathBuf::from("./pkg"),
            node_modules_dir: PathBuf::from("./node_modules"),
            app_dir: None,
            secret: None,
            verbose: false,
            clock: Clock::System,
        }
    }
}

pub const USAGE: &str = "\
usage: reference-backend [--port 8080] [--host 127.0.0.1] [--token-ttl-secs 60]
                         [--www DIR] [--pkg DIR] [--node-modules DIR] [--app DIR]
                         [--secret S] [--verbose]

  --port N             listen port; 0 picks a free one (env PORT)
  --host H             listen address (default 127.0.0.1; keep it loopback: /__dev/ is open)
  --token-ttl-secs T   access-token lifetime in seconds, >= 1, fractions allowed (env TOKEN_TTL_SECS)
  --www DIR            demo page directory, served at / and /www/ (default ./www)
  --pkg DIR            wasm-pack output, served at /pkg/ (default ./pkg)
  --node-modules DIR   npm packages, served at /node_modules/ (default ./node_modules)
  --app DIR            a built app (e.g. Vite output), served at /app/ (default: none)
  --secret S           HS256 signing secret (default: random per start)
  --verbose            log one line per request to stderr

Prints exactly one line to stdout once listening:
  reference-backend listening on http://HOST:PORT";

pub enum Command {
    Run(Settings),
    Help,
}

/// Converts a TTL in (possibly fractional) seconds to milliseconds within the limits.
pub fn ttl_ms_from_secs(secs: f64) -> Result<u64, String> {
    if !secs.is_finite() {
        return Err("token TTL must be a finite number of seconds".to_owned());
    }
    let ms = (secs * 1000.0).round();
    if ms < MIN_TTL_MS as f64 || ms > MAX_TTL_MS as f64 {
        return Err(format!(
            "token TTL must be between {} and {} seconds, got {secs}",
            MIN_TTL_MS / 1000,
            MAX_TTL_MS / 1000
        ));
    }
    Ok(ms as u64)
}

fn parse_port(value: &str, source: &str) -> Result<u16, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{source}: expected a port number 0-65535, got {value:?}"))
}

fn parse_ttl(value: &str, source: &str) -> Result<u64, String> {
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{source}: expected seconds, got {value:?}"))?;
    ttl_ms_from_secs(secs).map_err(|e| format!("{source}: {e}"))
}

/// Flags win over environment variables, which win over defaults. Both `--flag value` and
/// `--flag=value` are accepted.
pub fn parse_args<I, E>(args: I, env: E) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    E: Fn(&str) -> Option<String>,
{
    let mut settings = Settings::default();
    if let Some(port) = env("PORT").filter(|v| !v.trim().is_empty()) {
        settings.port = parse_port(&port, "PORT")?;
    }
    if let Some(ttl) = env("TOKEN_TTL_SECS").filter(|v| !v.trim().is_empty()) {
        settings.token_ttl_ms = parse_ttl(&ttl, "TOKEN_TTL_SECS")?;
    }

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        if flag == "--verbose" {
            settings.verbose = true;
            continue;
        }
        let known = [
            "--port",
            "--host",
            "--token-ttl-secs",
            "--www",
            "--pkg",
            "--node-modules",
            "--app",
            "--secret",
        ];
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown argument {arg:?}"));
        }
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        match flag.as_str() {
            "--port" => settings.port = parse_port(&value, "--port")?,
            "--host" => settings.host = value,
            "--token-ttl-secs" => settings.token_ttl_ms = parse_ttl(&value, "--token-ttl-secs")?,
            "--www" => settings.www_dir = value.into(),
            "--pkg" => settings.pkg_dir = value.into(),
            "--node-modules" => settings.node_modules_dir = value.into(),
            // An empty path would serve the working directory.
            "--app" if value.is_empty() => return Err("--app must not be empty".to_owned()),
            "--app" => settings.app_dir = Some(value.into()),
            "--secret" if value.is_empty() => return Err("--secret must not be empty".to_owned()),
            "--secret" => settings.secret = Some(value),
            _ => unreachable!("flag checked against the known list above"),
        }
    }
    Ok(Command::Run(settings))
}
