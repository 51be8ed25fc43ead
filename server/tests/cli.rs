//! Flag and environment parsing (config::parse_args), without starting anything.

use reference_backend::config::{parse_args, ttl_ms_from_secs, Command};
use reference_backend::Settings;

fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, String> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    match parse_args(args.iter().map(|a| a.to_string()), lookup)? {
        Command::Run(settings) => Ok(settings),
        Command::Help => Err("help".to_owned()),
    }
}

#[test]
fn defaults_match_the_documented_ones() {
    let s = parse(&[], &[]).unwrap();
    assert_eq!(
        (s.host.as_str(), s.port, s.token_ttl_ms),
        ("127.0.0.1", 8080, 60_000)
    );
    assert_eq!(s.www_dir.to_str(), Some("./www"));
    assert_eq!(s.pkg_dir.to_str(), Some("./pkg"));
    assert_eq!(s.node_modules_dir.to_str(), Some("./node_modules"));
    assert!(s.secret.is_none(), "random secret per start by default");
    assert!(s.app_dir.is_none(), "no /app/ unless asked");
}

#[test]
fn flags_beat_env_and_both_spellings_work() {
    let s = parse(
        &["--port=9001", "--token-ttl-secs", "4"],
        &[("PORT", "7000"), ("TOKEN_TTL_SECS", "10")],
    )
    .unwrap();
    assert_eq!((s.port, s.token_ttl_ms), (9001, 4_000));
    let s = parse(&[], &[("PORT", "7000"), ("TOKEN_TTL_SECS", "2.5")]).unwrap();
    assert_eq!((s.port, s.token_ttl_ms), (7000, 2_500));
    let s = parse(
        &[
            "--www",
            "/a",
            "--pkg=/b",
            "--node-modules",
            "/c",
            "--app=/d",
            "--secret",
            "s",
            "--host",
            "::1",
            "--verbose",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        (
            s.www_dir.to_str(),
            s.pkg_dir.to_str(),
            s.node_modules_dir.to_str()
        ),
        (Some("/a"), Some("/b"), Some("/c"))
    );
    assert_eq!(s.app_dir.as_deref().and_then(|d| d.to_str()), Some("/d"));
    assert_eq!(
        (s.secret.as_deref(), s.host.as_str(), s.verbose),
        (Some("s"), "::1", true)
    );
}

#[test]
fn refusals_name_the_culprit() {
    for (args, env, needle) in [
        (&["--port", "x"][..], &[][..], "--port"),
        (&["--token-ttl-secs", "0.999"], &[], "between 1"),
        (&["--token-ttl-secs", "NaN"], &[], "finite"),
        (&[], &[("TOKEN_TTL_SECS", "abc")], "TOKEN_TTL_SECS"),
        (&["--secret="], &[], "--secret"),
        (&["--app="], &[], "--app"),
        (&["--app"], &[], "needs a value"),
        (&["--www"], &[], "needs a value"),
        (&["serve"], &[], "unknown argument"),
    ] {
        let error = parse(args, env)
            .err()
            .unwrap_or_else(|| panic!("{args:?} {env:?} accepted"));
        assert!(error.contains(needle), "{args:?}: {error}");
    }
    assert_eq!(parse(&["--help"], &[]).err().as_deref(), Some("help"));
}

#[test]
fn ttl_limits() {
    assert_eq!(ttl_ms_from_secs(1.0), Ok(1_000));
    assert_eq!(ttl_ms_from_secs(4.0), Ok(4_000));
    assert_eq!(ttl_ms_from_secs(0.25 + 1.0), Ok(1_250));
    assert!(ttl_ms_from_secs(0.9).is_err());
    assert!(ttl_ms_from_secs(f64::INFINITY).is_err());
    assert!(ttl_ms_from_secs(31.0 * 24.0 * 3600.0).is_err());
}
