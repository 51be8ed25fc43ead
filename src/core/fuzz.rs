//! Fuzz targets (proptest, native) for every parser the core owns.
//!
//! Each target checks that arbitrary input never panics, and structured properties against
//! an expectation computed independently: a model of the generated JSON, `str::parse::<f64>`
//! for numbers, `serde_json` as the oracle of the JSON grammar, a separate base64 decoder.
//!
//! `cargo test --lib` runs proptest's default number of cases per target (256), which keeps
//! the whole suite fast; `PROPTEST_CASES` overrides it for a long run:
//!
//! ```text
//! CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
//!   CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!   PROPTEST_CASES=1000000 cargo test --release --lib core::fuzz
//! ```
//!
//! (Optimised for speed, with overflow checks and debug assertions kept on, so an
//! arithmetic overflow is a failure as it would be in a debug build.)
//!
//! Every failure a run finds becomes a plain `#[test]` in `regressions` at the end.
//!
//! Known, deliberate divergences from `serde_json` (all of them `JSON.parse`'s behaviour):
//! a lone surrogate escape and a number out of `f64` range are accepted (`serde_json`
//! refuses both); nesting deeper than `json::MAX_DEPTH` is refused (`serde_json` allows 128).

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::credits::{read_credits_body, retry_after_ms, with_refresh};
use super::error::ErrorCode;
use super::json::{Object, Value, MAX_DEPTH};
use super::jwt::{base64url_decode, claims, payload_segment, Claims, ClaimsError};
use super::policy::{Policy, MAX_TIMER_MS};
use super::recovery::{format_stamp, parse_stamp};
use super::refusal::asks_for_refresh;
use super::{decimal, Millis};

/// The oracle for `base64url_decode`: the browser path the library used before the core
/// decoded tokens itself (this translation, then `atob`).
fn base64url_to_base64(segment: &str) -> Result<String, ClaimsError> {
    let trimmed = segment.trim_end_matches('=');
    if trimmed.len() % 4 == 1 {
        return Err(ClaimsError::BadEncoding);
    }
    let mut out = String::with_capacity(trimmed.len() + 3);
    for c in trimmed.chars() {
        out.push(match c {
            '-' => '+',
            '_' => '/',
            c if c.is_ascii_alphanumeric() => c,
            _ => return Err(ClaimsError::BadEncoding),
        });
    }
    while out.len() % 4 != 0 {
        out.push('=');
    }
    Ok(out)
}

#[test]
fn base64url_is_translated_and_padded() {
    assert_eq!(base64url_to_base64("e30").as_deref(), Ok("e30="));
    assert_eq!(
        base64url_to_base64("e30=").as_deref(),
        Ok("e30="),
        "padded input is accepted"
    );
    assert_eq!(base64url_to_base64("ab").as_deref(), Ok("ab=="));
    assert_eq!(base64url_to_base64("abcd").as_deref(), Ok("abcd"));
    for bad in ["a", "abcde", "a+b/", "a b", "\u{e9}\u{e9}", "ab!!"] {
        assert_eq!(
            base64url_to_base64(bad),
            Err(ClaimsError::BadEncoding),
            "{bad:?}"
        );
    }
}

/// proptest's defaults (including `PROPTEST_CASES`), without writing failure files into the
/// source tree: failures become regression tests by hand.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// A model of JSON documents: what is generated, how it renders, what a reader must find.

/// A member name: what it decodes to, and how it is written (some characters escaped).
#[derive(Clone, Debug)]
struct Name {
    decoded: String,
    rendered: String,
}

#[derive(Clone, Debug)]
enum Model {
    Null,
    Bool(bool),
    /// The text, and its value as `str::parse::<f64>` reads it (correctly rounded).
    Num(String, f64),
    /// The rendered string, quotes included.
    Str(String),
    Arr(Vec<Model>),
    Obj(Vec<(Name, Model)>),
}

impl Model {
    fn render(&self, out: &mut String, ws: &mut Spaces) {
        match self {
            Model::Null => out.push_str("null"),
            Model::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Model::Num(text, _) => out.push_str(text),
            Model::Str(text) => out.push_str(text),
            Model::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ws.push(out);
                    item.render(out, ws);
                    ws.push(out);
                }
                ws.push(out);
                out.push(']');
            }
            Model::Obj(members) => render_object(members, out, ws),
        }
    }
}

fn render_object(members: &[(Name, Model)], out: &mut String, ws: &mut Spaces) {
    out.push('{');
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        ws.push(out);
        out.push_str(&name.rendered);
        ws.push(out);
        out.push(':');
        ws.push(out);
        value.render(out, ws);
        ws.push(out);
    }
    ws.push(out);
    out.push('}');
}

/// Whitespace to put between tokens, cycled through.
#[derive(Clone, Debug)]
struct Spaces {
    pieces: Vec<String>,
    next: usize,
}

impl Spaces {
    fn push(&mut self, out: &mut String) {
        if let Some(piece) = self.pieces.get(self.next % self.pieces.len().max(1)) {
            out.push_str(piece);
        }
        self.next += 1;
    }
}

/// A top-level object with its rendering.
#[derive(Clone, Debug)]
struct Doc {
    members: Vec<(Name, Model)>,
    text: String,
}

/// The last member called `name`: JSON.parse's rule for duplicates.
fn lookup<'m>(members: &'m [(Name, Model)], name: &str) -> Option<&'m Model> {
    members
        .iter()
        .rev()
        .find(|(n, _)| n.decoded == name)
        .map(|(_, m)| m)
}

fn spaces() -> impl Strategy<Value = Spaces> {
    prop::collection::vec("[ \t\n\r]{0,2}", 1..6).prop_map(|pieces| Spaces { pieces, next: 0 })
}

/// Writes `c` as a `\u` escape (a surrogate pair outside the BMP).
fn unicode_escape(c: char, out: &mut String) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        out.push_str(&format!("\\u{unit:04x}"));
    }
}

/// Renders `decoded` as a JSON string, escaping where `escape` says (and wherever JSON must).
fn render_string(decoded: &str, escape: &[u8]) -> String {
    let mut out = String::from("\"");
    for (i, c) in decoded.chars().enumerate() {
        let how = escape.get(i).copied().unwrap_or(0) % 3;
        match c {
            '"' => out.push_str(if how == 0 { "\\\"" } else { "\\u0022" }),
            '\\' => out.push_str(if how == 0 { "\\\\" } else { "\\u005C" }),
            '/' if how == 1 => out.push_str("\\/"),
            '\n' if how != 2 => out.push_str("\\n"),
            '\t' if how != 2 => out.push_str("\\t"),
            '\r' if how != 2 => out.push_str("\\r"),
            '\u{8}' if how != 2 => out.push_str("\\b"),
            '\u{c}' if how != 2 => out.push_str("\\f"),
            c if (c as u32) < 0x20 || how == 2 => unicode_escape(c, &mut out),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn name() -> impl Strategy<Value = Name> {
    let decoded = prop_oneof![
        4 => prop::sample::select(vec![
            "exp", "iat", "credits", "success", "requires_refresh", "detail", "sub", "user_id",
        ])
        .prop_map(String::from),
        1 => "[a-z_]{0,6}",
        1 => "[\"\\\\/\n\t\u{1}é😀 a-e]{0,5}",
    ];
    (decoded, prop::collection::vec(any::<u8>(), 0..24)).prop_map(|(decoded, escape)| {
        // Mostly plain, so that plain names are common too.
        let escape: Vec<u8> = escape.iter().map(|e| e / 64).collect();
        let rendered = render_string(&decoded, &escape);
        Name { decoded, rendered }
    })
}

/// Numbers whose value this reader must give exactly: at most 15 significant digits and a
/// small exponent, plus edge values whose reading is unambiguous.
fn exact_number() -> impl Strategy<Value = Model> {
    let text = prop_oneof![
        6 => "-?(0|[1-9][0-9]{0,9})(\\.[0-9]{1,5})?([eE][+-]?[0-9])?",
        2 => "(1|2)[0-9]{9}(\\.[0-9]{1,3})?",
        1 => prop::sample::select(vec![
            "0", "-0", "0.0", "-0.0", "1e400", "-1e400", "1e-400", "1e308", "-1e308",
            "253402300800", "253402300799.999", "0.001", "0.0001", "1E+2", "5e-324",
            "1.7976931348623157e308", "9007199254740993", "18446744073709551616",
        ])
        .prop_map(String::from),
    ];
    text.prop_map(|t| {
        let v = t.parse::<f64>().unwrap_or(f64::NAN);
        Model::Num(t, v)
    })
}

fn string_value() -> impl Strategy<Value = Model> {
    (
        "[a-z\"\\\\/\n\u{1f}é😀]{0,6}",
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(s, escape)| Model::Str(render_string(&s, &escape)))
}

fn model() -> impl Strategy<Value = Model> {
    let leaf = prop_oneof![
        1 => Just(Model::Null),
        3 => any::<bool>().prop_map(Model::Bool),
        3 => exact_number(),
        2 => string_value(),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Model::Arr),
            prop::collection::vec((name(), inner), 0..5).prop_map(Model::Obj),
        ]
    })
}

fn doc() -> impl Strategy<Value = Doc> {
    (prop::collection::vec((name(), model()), 0..7), spaces()).prop_map(|(members, mut ws)| {
        let mut text = String::new();
        ws.push(&mut text);
        render_object(&members, &mut text, &mut ws);
        ws.push(&mut text);
        Doc { members, text }
    })
}

/// Checks an object read by `Object` against its model, nested objects included.
fn check_object(
    object: Object<'_>,
    members: &[(Name, Model)],
    depth: u32,
) -> Result<(), TestCaseError> {
    let mut names: Vec<&str> = members.iter().map(|(n, _)| n.decoded.as_str()).collect();
    names.extend(["exp", "credits", "", "absent"]);
    for name in names {
        match (object.get(name), lookup(members, name)) {
            (None, None) => {}
            (Some(Value::Null), Some(Model::Null)) | (Some(Value::Str), Some(Model::Str(_))) => {}
            (Some(Value::Other), Some(Model::Arr(_))) => {}
            (Some(Value::Bool(a)), Some(Model::Bool(b))) => prop_assert_eq!(a, *b),
            (Some(Value::Number(a)), Some(Model::Num(text, b))) => {
                prop_assert!(
                    a.to_bits() == b.to_bits()
                        || (a == 0.0 && *b == 0.0 && a.is_sign_negative() == b.is_sign_negative()),
                    "{text}: read {a:e}, expected {b:e}"
                );
            }
            (Some(Value::Object(inner)), Some(Model::Obj(inner_members))) if depth < 8 => {
                check_object(inner, inner_members, depth + 1)?
            }
            (Some(Value::Object(_)), Some(Model::Obj(_))) => {}
            (got, expected) => prop_assert!(false, "{name:?}: read {got:?}, model {expected:?}"),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// serde_json as the oracle of the grammar.

fn serde_depth(value: &serde_json::Value) -> u32 {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(serde_depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(serde_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Within a few units in the last place (exact readings are checked elsewhere against
/// `str::parse`; `serde_json`'s own float reading is not always correctly rounded).
fn close(a: f64, b: f64) -> bool {
    a == b
        || (a.is_finite() && b.is_finite() && (a - b).abs() <= 1e-14 * a.abs().max(b.abs()))
        || (a.abs() < 1e-300 && b.abs() < 1e-300)
}

fn agrees_with_serde(text: &str) -> Result<(), TestCaseError> {
    let ours = Object::parse(text);
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => {
            if serde_depth(&serde_json::Value::Object(map.clone())) > MAX_DEPTH {
                prop_assert!(ours.is_none(), "accepted nesting past MAX_DEPTH");
                return Ok(());
            }
            let Some(ours) = ours else {
                return Err(TestCaseError::fail("rejected an object serde_json accepts"));
            };
            same_members(ours, &map)
        }
        Ok(_) => {
            prop_assert!(ours.is_none(), "accepted a document that is not an object");
            Ok(())
        }
        Err(error) => {
            let message = error.to_string();
            let divergence = message.contains("surrogate")
                || message.contains("hex escape")
                || message.contains("number out of range");
            prop_assert!(
                divergence || ours.is_none(),
                "accepted what serde_json rejects: {message}"
            );
            Ok(())
        }
    }
}

fn same_members(
    ours: Object<'_>,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), TestCaseError> {
    for (name, expected) in map {
        let got = ours.get(name);
        match (got, expected) {
            (Some(Value::Null), serde_json::Value::Null)
            | (Some(Value::Str), serde_json::Value::String(_))
            | (Some(Value::Other), serde_json::Value::Array(_)) => {}
            (Some(Value::Bool(a)), serde_json::Value::Bool(b)) => prop_assert_eq!(a, *b),
            (Some(Value::Number(a)), serde_json::Value::Number(b)) => {
                let b = b.as_f64().unwrap_or(f64::NAN);
                prop_assert!(close(a, b), "{name:?}: read {a:e}, serde_json {b:e}");
            }
            (Some(Value::Object(inner)), serde_json::Value::Object(inner_map)) => {
                same_members(inner, inner_map)?
            }
            (got, expected) => prop_assert!(false, "{name:?}: read {got:?}, serde_json {expected}"),
        }
    }
    Ok(())
}

/// Text made of JSON's own tokens and near-misses, so that random input reaches deep.
fn jsonish() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "\"a\"",
        "\"exp\"",
        "\\",
        "\\u",
        "\\ud83d",
        "\\ude00",
        "\\n",
        "0",
        "1",
        "-",
        "+",
        ".",
        "e",
        "E",
        "9",
        "1e400",
        "true",
        "false",
        "null",
        "tru",
        " ",
        "\t",
        "\n",
        "\u{1}",
        "\u{a0}",
        "é",
        "x",
        "\"credits\":",
        "{\"a\":",
    ]);
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// A valid document with one random edit: a character removed, replaced or inserted.
fn mutated() -> impl Strategy<Value = String> {
    (
        doc(),
        any::<prop::sample::Index>(),
        0..3u8,
        prop::sample::select(vec![
            '{', '}', '[', ']', ':', ',', '"', '\\', '0', '-', '.', 'e', ' ', 'u', '\u{0}',
        ]),
    )
        .prop_map(|(doc, at, edit, c)| {
            let mut chars: Vec<char> = doc.text.chars().collect();
            let at = at.index(chars.len() + 1);
            match edit {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => chars[at] = c,
                _ => chars.insert(at, c),
            }
            chars.into_iter().collect()
        })
}

/// Nested arrays and objects, `levels` deep in all.
fn nested(levels: usize, kinds: &[bool]) -> String {
    let mut text = String::new();
    for level in 0..levels {
        let object = level == 0 || kinds.get(level).copied().unwrap_or(true);
        text.push_str(if object { "{\"a\":" } else { "[" });
    }
    text.push('1');
    for level in (0..levels).rev() {
        let object = level == 0 || kinds.get(level).copied().unwrap_or(true);
        text.push(if object { '}' } else { ']' });
    }
    text
}

/// Any `serde_json` value: arbitrary keys and strings, every number form it writes.
fn serde_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<u64>().prop_map(J::from),
        any::<f64>().prop_map(J::from),
        any::<String>().prop_map(J::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
            prop::collection::vec((any::<String>(), inner), 0..5)
                .prop_map(|members| J::Object(members.into_iter().collect())),
        ]
    })
}

fn read_number(text: &str) -> Option<f64> {
    match Object::parse(&["{\"n\":", text, "}"].concat())?.get("n")? {
        Value::Number(n) => Some(n),
        _ => None,
    }
}

/// Significant digits and the decimal exponent of a number's text, for the exactness rule.
fn digits_and_exponent(text: &str) -> (usize, i64) {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = [int.trim_start_matches('-'), frac].concat();
    let significant = all.trim_start_matches('0').trim_end_matches('0');
    let trailing = all.len() - all.trim_end_matches('0').len();
    (
        significant.len(),
        exponent - frac.len() as i64 + trailing as i64,
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Some(object) = Object::parse_bytes(&bytes) {
            for name in ["exp", "a", ""] {
                if let Some(Value::Object(inner)) = object.get(name) {
                    let _ = inner.get("a");
                }
            }
        }
    }

    #[test]
    fn json_never_panics_on_text(text in any::<String>()) {
        if let Some(object) = Object::parse(&text) {
            let _ = object.get("exp");
        }
    }

    #[test]
    fn json_jsonish_text_agrees_with_serde(text in jsonish()) {
        agrees_with_serde(&text)?;
    }

    #[test]
    fn json_generated_objects_read_as_modelled(doc in doc()) {
        let object = Object::parse(&doc.text);
        prop_assert!(object.is_some(), "rejected a valid document: {}", doc.text);
        check_object(object.unwrap(), &doc.members, 0)?;
        agrees_with_serde(&doc.text)?;
    }

    #[test]
    fn json_serde_written_objects_read_the_same(
        members in prop::collection::vec((any::<String>(), serde_value()), 0..6),
        pretty in any::<bool>(),
    ) {
        let object = serde_json::Value::Object(members.into_iter().collect());
        let text = if pretty {
            serde_json::to_string_pretty(&object)
        } else {
            serde_json::to_string(&object)
        };
        let text = text.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(Object::parse(&text).is_some(), "rejected {}", text);
        agrees_with_serde(&text)?;
    }

    #[test]
    fn json_mutated_objects_agree_with_serde(text in mutated()) {
        agrees_with_serde(&text)?;
    }

    #[test]
    fn json_nesting_is_accepted_up_to_max_depth(
        levels in 1usize..48,
        kinds in prop::collection::vec(any::<bool>(), 48),
    ) {
        let text = nested(levels, &kinds);
        prop_assert_eq!(Object::parse(&text).is_some(), levels <= MAX_DEPTH as usize);
        agrees_with_serde(&text)?;
    }

    #[test]
    fn json_numbers_match_str_parse(
        text in "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?",
    ) {
        let ours = read_number(&text);
        let exact = text.parse::<f64>().unwrap();
        prop_assert!(ours.is_some(), "rejected the number {}", text);
        let ours = ours.unwrap();
        let (significant, exponent) = digits_and_exponent(&text);
        if significant <= 15 && exponent.abs() <= 22 {
            prop_assert_eq!(ours.to_bits(), exact.to_bits(), "{} read as {:e}", text, ours);
        } else if exact.is_infinite() || exact == 0.0 {
            // Past the range, the reading saturates the same way (or lands next to it).
            prop_assert!(ours == exact || close(ours, exact) || (exact.is_infinite() && ours.abs() > 1.79e308),
                "{} read as {:e}, not {:e}", text, ours, exact);
        } else {
            prop_assert!(close(ours, exact), "{} read as {:e}, not {:e}", text, ours, exact);
        }
    }
}

// ---------------------------------------------------------------------------------------
// JWT: segments, base64url, claims.

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// base64url of `bytes`, with or without padding.
fn encode(bytes: &[u8], padded: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(match B64[(n >> (18 - 6 * i) & 63) as usize] {
                b'+' => '-',
                b'/' => '_',
                c => char::from(c),
            });
        }
        if padded {
            out.push_str(&"=="[..3 - chunk.len()]);
        }
    }
    out
}

/// Standard base64 decoding as `atob` does it, written independently of `base64url_decode`.
fn atob(standard: &str) -> Option<Vec<u8>> {
    let body = standard
        .strip_suffix("==")
        .or_else(|| standard.strip_suffix('='))
        .unwrap_or(standard);
    if standard.len() % 4 != 0 {
        return None;
    }
    let values: Option<Vec<u32>> = body
        .bytes()
        .map(|c| B64.iter().position(|&b| b == c).map(|p| p as u32))
        .collect();
    let values = values?;
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, v)| n | v << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// What `claims` must answer for a payload whose top level is `members`.
fn expected_claims(members: &[(Name, Model)]) -> Result<Claims, super::jwt::ClaimsError> {
    use super::jwt::ClaimsError;
    let number = |name: &str| match lookup(members, name) {
        None | Some(Model::Null) => Ok(None),
        Some(Model::Num(_, v)) => Ok(Some(*v)),
        Some(_) => Err(ClaimsError::BadJson),
    };
    let exp = number("exp")?;
    let iat = number("iat")?;
    let ms = |s: Option<f64>| match s {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < 253_402_300_800.0 => {
            Ok(Some((s * 1000.0) as Millis))
        }
        Some(_) => Err(ClaimsError::BadTime),
    };
    Ok(Claims {
        expires_at: ms(exp)?,
        issued_at: ms(iat)?,
    })
}

/// A claims payload: `exp`/`iat` members among noise, some duplicated.
fn claims_doc() -> impl Strategy<Value = Doc> {
    let claim = prop_oneof![
        6 => exact_number(),
        1 => Just(Model::Null),
        1 => model(),
    ];
    let member = prop_oneof![
        3 => (prop::sample::select(vec!["exp", "iat"]), prop::collection::vec(any::<u8>(), 0..4), claim)
            .prop_map(|(n, escape, value)| (Name { decoded: n.into(), rendered: render_string(n, &escape.iter().map(|e| e / 128).collect::<Vec<_>>()) }, value)),
        2 => (name(), model()),
    ];
    (prop::collection::vec(member, 0..6), spaces()).prop_map(|(members, mut ws)| {
        let mut text = String::new();
        render_object(&members, &mut text, &mut ws);
        Doc { members, text }
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn jwt_never_panics(token in any::<String>()) {
        let _ = claims(&token);
        let _ = payload_segment(&token);
        let _ = base64url_to_base64(&token);
        let _ = base64url_decode(&token);
    }

    #[test]
    fn jwt_never_panics_on_token_shapes(
        header in "[A-Za-z0-9_=-]{0,8}",
        payload in "[A-Za-z0-9_=+/ .-]{0,40}",
        signature in "[A-Za-z0-9_.-]{0,8}",
    ) {
        let _ = claims(&[header.as_str(), ".", &payload, ".", &signature].concat());
    }

    #[test]
    fn jwt_payload_segment_is_the_middle_of_three(parts in prop::collection::vec("[a-z0-9_-]{0,4}", 0..5)) {
        let token = parts.join(".");
        let expected = match parts.as_slice() {
            [_, payload, _] if !payload.is_empty() => Ok(payload.as_str()),
            _ => Err(super::jwt::ClaimsError::NotAJwt),
        };
        prop_assert_eq!(payload_segment(&token), expected);
    }

    #[test]
    fn jwt_base64url_decode_agrees_with_atob_path(segment in "[A-Za-z0-9_=+/ -]{0,24}") {
        // The browser path: base64url_to_base64, then atob; atob never refuses its output.
        let browser = base64url_to_base64(&segment).map(|standard| atob(&standard).unwrap());
        prop_assert_eq!(base64url_decode(&segment), browser);
    }

    #[test]
    fn jwt_base64url_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64), padded in any::<bool>()) {
        prop_assert_eq!(base64url_decode(&encode(&bytes, padded)), Ok(bytes));
    }

    #[test]
    fn jwt_claims_read_as_modelled(doc in claims_doc(), padded in any::<bool>(), latin1 in prop::collection::vec(128u8.., 0..4)) {
        // Bytes that are not UTF-8 in a string member, as atob + JSON.parse allow.
        let mut payload = doc.text.clone().into_bytes();
        if !doc.members.is_empty() {
            let mut noise = br#""~":""#.to_vec();
            noise.extend_from_slice(&latin1);
            noise.extend_from_slice(br#"","#);
            payload.splice(1..1, noise);
        }
        let token = ["eyJhbGciOiJSUzI1NiJ9.", &encode(&payload, padded), ".sig"].concat();
        prop_assert_eq!(claims(&token), expected_claims(&doc.members), "payload {}", doc.text);
    }
}

// ---------------------------------------------------------------------------------------
// Credits bodies and refusals.

fn credits_doc() -> impl Strategy<Value = Doc> {
    let value = prop_oneof![
        4 => exact_number(),
        2 => any::<bool>().prop_map(Model::Bool),
        1 => Just(Model::Null),
        1 => model(),
    ];
    let member = prop_oneof![
        3 => (prop::sample::select(vec!["credits", "success"]), value)
            .prop_map(|(n, value)| (Name { decoded: n.into(), rendered: render_string(n, &[]) }, value)),
        1 => (name(), model()),
    ];
    (prop::collection::vec(member, 0..5), spaces()).prop_map(|(members, mut ws)| {
        let mut text = String::new();
        render_object(&members, &mut text, &mut ws);
        Doc { members, text }
    })
}

fn expected_credits(members: &[(Name, Model)]) -> Option<f64> {
    if matches!(lookup(members, "success"), Some(Model::Bool(false))) {
        return None;
    }
    match lookup(members, "credits") {
        Some(Model::Num(_, v)) if v.is_finite() && *v >= 0.0 => Some(*v),
        _ => None,
    }
}

fn refusal_doc() -> impl Strategy<Value = Doc> {
    let flag = prop_oneof![
        4 => any::<bool>().prop_map(Model::Bool),
        1 => Just(Model::Str("\"true\"".into())),
        1 => Just(Model::Num("1".into(), 1.0)),
        1 => model(),
    ];
    let flag_member =
        (prop::collection::vec(any::<u8>(), 0..16), flag).prop_map(|(escape, value)| {
            let escape: Vec<u8> = escape.iter().map(|e| e / 128).collect();
            (
                Name {
                    decoded: "requires_refresh".into(),
                    rendered: render_string("requires_refresh", &escape),
                },
                value,
            )
        });
    let detail = prop_oneof![
        3 => prop::collection::vec(prop_oneof![2 => flag_member.clone(), 1 => (name(), model())], 0..4).prop_map(Model::Obj),
        1 => model(),
    ]
    .prop_map(|value| (Name { decoded: "detail".into(), rendered: "\"detail\"".into() }, value));
    let member = prop_oneof![2 => flag_member, 2 => detail, 1 => (name(), model())];
    (prop::collection::vec(member, 0..5), spaces()).prop_map(|(members, mut ws)| {
        let mut text = String::new();
        render_object(&members, &mut text, &mut ws);
        Doc { members, text }
    })
}

fn expected_refusal(members: &[(Name, Model)]) -> bool {
    let flagged =
        |m: &[(Name, Model)]| matches!(lookup(m, "requires_refresh"), Some(Model::Bool(true)));
    flagged(members)
        || matches!(lookup(members, "detail"), Some(Model::Obj(inner)) if flagged(inner))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn credits_body_never_panics(text in any::<String>()) {
        let _ = read_credits_body(&text);
    }

    #[test]
    fn credits_body_reads_as_modelled(doc in credits_doc()) {
        let got = read_credits_body(&doc.text);
        let expected = expected_credits(&doc.members);
        prop_assert_eq!(got.map(f64::to_bits), expected.map(f64::to_bits), "{}", doc.text);
    }

    #[test]
    fn credits_body_refuses_non_objects(text in jsonish()) {
        if read_credits_body(&text).is_some() {
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(value.is_object());
        }
    }

    #[test]
    fn refusal_never_panics(status in any::<u16>(), body in any::<String>()) {
        let asks = asks_for_refresh(status, &body);
        prop_assert!(status == 401 || status == 403 || !asks);
        if status == 401 {
            prop_assert!(asks);
        }
    }

    #[test]
    fn refusal_reads_403_bodies_as_modelled(doc in refusal_doc()) {
        prop_assert_eq!(asks_for_refresh(403, &doc.text), expected_refusal(&doc.members), "{}", doc.text);
        prop_assert!(asks_for_refresh(401, &doc.text));
        prop_assert!(!asks_for_refresh(200, &doc.text));
    }

    #[test]
    fn refusal_ignores_broken_403_bodies(text in mutated()) {
        if asks_for_refresh(403, &text) {
            prop_assert!(Object::parse(&text).is_some());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Digits: decimal, stored stamps, Retry-After.

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decimal_never_panics(text in any::<String>()) {
        let read = decimal(&text);
        prop_assert_eq!(read.is_some(), !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn decimal_reads_digits_saturating(text in "[0-9]{1,38}") {
        let exact = text.parse::<u128>().unwrap();
        prop_assert_eq!(decimal(&text), Some(u64::try_from(exact).unwrap_or(u64::MAX)));
    }

    #[test]
    fn decimal_round_trips(n in any::<u64>()) {
        prop_assert_eq!(decimal(&n.to_string()), Some(n));
    }

    #[test]
    fn decimal_refuses_any_other_character(head in "[0-9]{0,4}", bad in "[^0-9]", tail in "[0-9]{0,4}") {
        prop_assert_eq!(decimal(&[head, bad, tail].concat()), None);
    }

    #[test]
    fn stamps_never_panic(text in any::<String>()) {
        let trimmed = text.trim();
        let expected = (trimmed.len() <= 16).then(|| decimal(trimmed)).flatten();
        prop_assert_eq!(parse_stamp(&text), expected);
    }

    #[test]
    fn stamps_round_trip(at in 0u64..10_000_000_000_000_000, before in "[ \t\n]{0,2}", after in "[ \t\n]{0,2}") {
        let stored = format_stamp(at);
        prop_assert_eq!(&stored, &at.to_string());
        prop_assert_eq!(parse_stamp(&[before.as_str(), &stored, &after].concat()), Some(at));
    }

    #[test]
    fn stamps_past_16_digits_are_refused(at in 10_000_000_000_000_000u64..) {
        prop_assert_eq!(format_stamp(at), at.to_string());
        prop_assert_eq!(parse_stamp(&format_stamp(at)), None);
    }

    #[test]
    fn retry_after_never_panics(header in any::<String>(), now in any::<u64>(), date in any::<Option<u64>>()) {
        let mut asked = None;
        let got = retry_after_ms(&header, now, |value| {
            asked = Some(value.to_string());
            date
        });
        let value = header.trim();
        let expected = if value.is_empty() {
            None
        } else if let Some(seconds) = decimal(value) {
            Some(seconds.saturating_mul(1_000))
        } else {
            date.map(|at| at.saturating_sub(now))
        };
        prop_assert_eq!(got, expected);
        // The date parser sees the trimmed value, and only when it is not delay-seconds.
        let date_asked = !value.is_empty() && decimal(value).is_none();
        prop_assert_eq!(asked.as_deref(), date_asked.then_some(value));
    }

    #[test]
    fn retry_after_seconds(seconds in any::<u64>(), before in "[ \t]{0,2}", after in "[ \t]{0,2}", now in any::<u64>()) {
        let header = [before.as_str(), &seconds.to_string(), &after].concat();
        let got = retry_after_ms(&header, now, |_| panic!("delay-seconds are not a date"));
        prop_assert_eq!(got, Some(seconds.saturating_mul(1_000)));
    }

    #[test]
    fn retry_after_dates(
        day in prop::sample::select(vec!["Mon", "Tue", "Wed"]),
        at in any::<u64>(),
        now in any::<u64>(),
        readable in any::<bool>(),
    ) {
        let header = [day, ", 21 Oct 2015 07:28:00 GMT"].concat();
        let got = retry_after_ms(&header, now, |value| {
            assert_eq!(value, header);
            readable.then_some(at)
        });
        prop_assert_eq!(got, readable.then(|| at.saturating_sub(now)));
    }
}

// ---------------------------------------------------------------------------------------
// URLs and config values.

proptest! {
    #![proptest_config(config())]

    #[test]
    fn with_refresh_never_panics_and_adds_one_parameter(url in any::<String>()) {
        check_with_refresh(&url)?;
    }

    #[test]
    fn with_refresh_on_url_shapes(url in "(https://a\\.example)?/[a-z/]{0,8}(\\?([a-z]{1,3}=[0-9]{0,2}&?){0,3})?(#[a-z?&#=]{0,6})?") {
        check_with_refresh(&url)?;
    }

    #[test]
    fn policy_millis_accepts_exactly_whole_timer_values(
        field in "[A-Za-z.]{1,20}",
        value in prop_oneof![
            any::<f64>(),
            (-5i64..=5).prop_map(|v| v as f64),
            (MAX_TIMER_MS as i64 - 3..=MAX_TIMER_MS as i64 + 3).prop_map(|v| v as f64),
            any::<i64>().prop_map(|v| v as f64),
            Just(-0.0),
            Just(f64::MIN_POSITIVE / 2.0),
        ],
        default in any::<u64>(),
        min in 0u64..=2,
    ) {
        prop_assert_eq!(Policy::millis(&field, None, default, min), Ok(default));
        let valid = value.is_finite()
            && value == value.trunc()
            && value >= min as f64
            && value <= MAX_TIMER_MS as f64;
        match Policy::millis(&field, Some(value), default, min) {
            Ok(ms) => {
                prop_assert!(valid, "accepted {value}");
                prop_assert_eq!(ms as f64, value);
            }
            Err(error) => {
                prop_assert!(!valid, "refused {value}");
                prop_assert_eq!(error.code, ErrorCode::Config);
                prop_assert!(error.message.starts_with(&[field.as_str(), " "].concat()), "{}", error.message);
            }
        }
    }
}

fn check_with_refresh(url: &str) -> Result<(), TestCaseError> {
    let out = with_refresh(url);
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    // The fragment is kept as it was, after the new parameter.
    let suffix = fragment.map(|f| ["#", f].concat()).unwrap_or_default();
    prop_assert!(
        out.starts_with(base) && out.ends_with(&suffix),
        "{url:?} -> {out:?}"
    );
    let added = &out[base.len()..out.len() - suffix.len()];
    let joiner = added.strip_suffix("refresh=true");
    prop_assert!(matches!(joiner, Some("" | "?" | "&")), "{url:?} -> {out:?}");
    // A query is started only where there was none; no empty parameter is made.
    let new_base = &out[..out.len() - suffix.len()];
    prop_assert_eq!(joiner == Some("?"), !base.contains('?'));
    prop_assert!(!new_base.ends_with("&&refresh=true") || base.ends_with("&&"));
    prop_assert!(!new_base.contains("?&refresh=true") || base.ends_with("?&"));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Inputs the long runs found, kept as plain tests.

mod regressions {
    use super::read_number;

    /// The first power-of-ten routine multiplied by 1e22 fourteen times: 1e308 came out one
    /// unit in the last place high (1.0000000000000002e308).
    #[test]
    fn large_powers_of_ten_are_correctly_rounded() {
        for (text, exact) in [
            ("1e308", 1e308),
            ("1e286", 1e286),
            ("1e44", 1e44),
            ("1.7976931348623157e308", f64::MAX),
        ] {
            assert_eq!(read_number(text), Some(exact), "{text}");
        }
    }

    /// 15 significant digits written with trailing zeros past 2^53: the mantissa was
    /// rounded to an f64 before scaling, two roundings instead of one.
    #[test]
    fn trailing_zeros_do_not_cost_precision() {
        for text in [
            "123456789012345000000",
            "2327628295998040000000",
            "91231960109410000000000",
        ] {
            assert_eq!(read_number(text), text.parse::<f64>().ok(), "{text}");
        }
    }
}
