//! A minimal, strict JSON reader (RFC 8259) for the few small documents the session reads:
//! a JWT payload, a 401/403 body and a credits body.
//!
//! [`Object::parse`] validates a whole document; [`Object::get`] then answers "what is member
//! `name`?" without building a tree or allocating. Both are linear in the input, and no
//! input can make them panic or recurse deeper than [`MAX_DEPTH`] levels.
//!
//! What is read, and how it compares with `JSON.parse` (which this replaces in the browser):
//! - The grammar is RFC 8259's: no trailing commas, comments, single quotes, leading `+`,
//!   leading zeros, `NaN`, or a byte-order mark; whitespace is space, tab, LF and CR only.
//! - Nesting deeper than [`MAX_DEPTH`] is invalid (`JSON.parse` goes deeper; no body this
//!   library reads is nested more than two levels).
//! - Numbers out of `f64` range read as `±f64::INFINITY` (or 0), as `JSON.parse` reads them;
//!   callers reject what is not finite.
//! - Escapes are validated, `\uXXXX` included, and a lone surrogate escape is accepted, as
//!   `JSON.parse` accepts it. String values are not decoded: callers only need to know a
//!   member is a string ([`Value::Str`]).
//! - Member names are compared after decoding every escape (`"\u0065xp"` is `exp`); a lone
//!   surrogate escape matches no name. Raw bytes are compared as they are, so a name is
//!   compared as UTF-8.
//! - When a name appears twice, the last one wins, as with `JSON.parse`.
//! - [`Object::parse_bytes`] accepts any byte from 0x80 up inside strings, valid UTF-8 or
//!   not: that is how `JSON.parse(atob(…))` reads a JWT payload, one Latin-1 character per
//!   byte. Outside strings, JSON has no place for such bytes.
//!
//! ```
//! use session_keeper::core::json::{Object, Value};
//! let body = Object::parse(r#"{"detail": {"requires_refresh": true}, "n": 1.5e3}"#).unwrap();
//! assert_eq!(body.get("n"), Some(Value::Number(1500.0)));
//! let Some(Value::Object(detail)) = body.get("detail") else { panic!() };
//! assert_eq!(detail.get("requires_refresh"), Some(Value::Bool(true)));
//! assert_eq!(Object::parse("[1, 2]"), None, "an array is not an object");
//! assert_eq!(Object::parse(r#"{"a": 1,}"#), None, "a trailing comma is invalid");
//! ```

#[allow(unused_imports)]
use crate::prelude::*;

/// Objects and arrays nested deeper than this make a document invalid, so hostile input
/// cannot exhaust the stack. The top-level object is level 1.
pub const MAX_DEPTH: u32 = 32;

/// A member's value, reduced to what callers need from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number. Out-of-range magnitudes read as infinity or zero.
    Number(f64),
    /// A string (its contents are validated, not decoded).
    Str,
    /// An object, which can be looked into with [`Object::get`].
    Object(Object<'a>),
    /// An array.
    Other,
}

/// A validated JSON object: the text from its `{` to its `}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object<'a> {
    span: &'a [u8],
}

impl<'a> Object<'a> {
    /// Validates `text` as one JSON document and returns it when it is an object.
    /// `None` for invalid JSON, or JSON that is not an object.
    pub fn parse(text: &'a str) -> Option<Object<'a>> {
        Object::parse_bytes(text.as_bytes())
    }

    /// [`Object::parse`] on bytes: inside strings, bytes from 0x80 up are accepted as they
    /// are (see the module documentation).
    pub fn parse_bytes(bytes: &'a [u8]) -> Option<Object<'a>> {
        let mut reader = Reader { bytes, pos: 0 };
        reader.space();
        let value = reader.value(0)?;
        reader.space();
        match value {
            Value::Object(object) if reader.pos == bytes.len() => Some(object),
            _ => None,
        }
    }

    /// The value of member `name` (the last one, if the name appears more than once), or
    /// `None` when the object has no such member.
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        let mut reader = Reader {
            bytes: self.span,
            pos: 0,
        };
        let mut found = None;
        reader.object(1, &mut |key, value| {
            if key_is(key, name) {
                found = Some(value);
            }
        })?;
        found
    }
}

/// A cursor over the document. Every read goes through `get`, so no index can panic.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn digit(&mut self) -> Option<u8> {
        let byte = self.peek().filter(u8::is_ascii_digit)?;
        self.pos += 1;
        Some(byte - b'0')
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn word(&mut self, word: &[u8], value: Value<'a>) -> Option<Value<'a>> {
        let end = self.pos.checked_add(word.len())?;
        (self.bytes.get(self.pos..end)? == word).then(|| {
            self.pos = end;
            value
        })
    }

    /// One value, at nesting level `depth` (the level of the container holding it).
    fn value(&mut self, depth: u32) -> Option<Value<'a>> {
        match self.peek()? {
            b'{' => {
                let start = self.pos;
                self.object(depth + 1, &mut |_, _| {})?;
                let span = self.bytes.get(start..self.pos)?;
                Some(Value::Object(Object { span }))
            }
            b'[' => self.array(depth + 1).map(|()| Value::Other),
            b'"' => self.string().map(|_| Value::Str),
            b't' => self.word(b"true", Value::Bool(true)),
            b'f' => self.word(b"false", Value::Bool(false)),
            b'n' => self.word(b"null", Value::Null),
            _ => self.number().map(Value::Number),
        }
    }

    /// An object at level `depth`, handing each member to `visit` (raw name, value).
    fn object(&mut self, depth: u32, visit: &mut dyn FnMut(&'a [u8], Value<'a>)) -> Option<()> {
        if depth > MAX_DEPTH || !self.eat(b'{') {
            return None;
        }
        self.space();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let name = self.string()?;
            self.space();
            if !self.eat(b':') {
                return None;
            }
            self.space();
            let value = self.value(depth)?;
            visit(name, value);
            self.space();
            match self.next()? {
                b',' => self.space(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH || !self.eat(b'[') {
            return None;
        }
        self.space();
        if self.eat(b']') {
            return Some(());
        }
        loop {
            self.value(depth)?;
            self.space();
            match self.next()? {
                b',' => self.space(),
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A string; returns its raw contents, between the quotes.
    fn string(&mut self) -> Option<&'a [u8]> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.pos;
        loop {
            match self.next()? {
                b'"' => return self.bytes.get(start..self.pos.saturating_sub(1)),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            if !self.next()?.is_ascii_hexdigit() {
                                return None;
                            }
                        }
                    }
                    _ => return None,
                },
                0x00..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// A number, read by hand (`str::parse::<f64>` would bring its large tables along).
    ///
    /// The first 19 significant digits make a `u64` mantissa; later digits only move the
    /// decimal exponent. Up to 15 significant digits and an exponent within ±22, the result
    /// is the correctly rounded `f64` (one rounding of an exact mantissa by an exact power of
    /// ten); beyond, it is within a few units in the last place.
    fn number(&mut self) -> Option<f64> {
        let negative = self.eat(b'-');
        let mut mantissa: u64 = 0;
        let mut digits: u32 = 0;
        let mut exponent: i64 = 0;
        match self.digit()? {
            0 => {}
            first => {
                mantissa = u64::from(first);
                digits = 1;
                while let Some(d) = self.digit() {
                    if digits < 19 {
                        mantissa = mantissa * 10 + u64::from(d);
                        digits += 1;
                    } else {
                        exponent += 1;
                    }
                }
            }
        }
        if self.eat(b'.') {
            let mut any = false;
            while let Some(d) = self.digit() {
                any = true;
                if digits < 19 {
                    if mantissa != 0 || d != 0 {
                        digits += 1;
                    }
                    mantissa = mantissa * 10 + u64::from(d);
                    exponent -= 1;
                }
            }
            if !any {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            let negative_exponent = self.eat(b'-') || {
                self.eat(b'+');
                false
            };
            let mut explicit: i64 = 0;
            let mut any = false;
            while let Some(d) = self.digit() {
                any = true;
                // Far past any f64: the value is already infinity or zero.
                explicit = (explicit * 10 + i64::from(d)).min(100_000);
            }
            if !any {
                return None;
            }
            exponent += if negative_exponent {
                -explicit
            } else {
                explicit
            };
        }
        let magnitude = scale(mantissa, exponent);
        Some(if negative { -magnitude } else { magnitude })
    }
}

/// Exact powers of ten: every one of these is an `f64` without rounding.
const POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `10^(22·q)` for `q` in `0..=14`, each the correctly rounded `f64`.
const STRIDES: [f64; 15] = [
    1e0, 1e22, 1e44, 1e66, 1e88, 1e110, 1e132, 1e154, 1e176, 1e198, 1e220, 1e242, 1e264, 1e286,
    1e308,
];

/// `10^n`: exact up to 22, then within about one unit in the last place; infinity past 308.
fn power_of_ten(n: i64) -> f64 {
    let (Ok(stride), Ok(rest)) = (usize::try_from(n / 22), usize::try_from(n % 22)) else {
        return 1.0;
    };
    match (STRIDES.get(stride), POWERS.get(rest)) {
        (Some(stride), Some(rest)) => stride * rest,
        _ => f64::INFINITY,
    }
}

/// `mantissa × 10^exponent`.
fn scale(mantissa: u64, exponent: i64) -> f64 {
    if mantissa == 0 {
        return 0.0;
    }
    // Trailing zeros moved into the exponent keep the mantissa exact as an f64 where they
    // can ("123456789012345000000" is 15 significant digits).
    let (mut mantissa, mut exponent) = (mantissa, exponent);
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    let m = mantissa as f64;
    if exponent >= 0 {
        m * power_of_ten(exponent)
    } else if exponent >= -308 {
        m / power_of_ten(-exponent)
    } else {
        // 10^(-exponent) itself would overflow: divide in two steps, towards subnormals or 0.
        m / 1e308 / power_of_ten(-exponent - 308)
    }
}

/// Whether a raw (still escaped) member name, decoded, is `name`.
fn key_is(raw: &[u8], name: &str) -> bool {
    let mut want = name.as_bytes();
    let mut at = 0;
    while at < raw.len() {
        let Some((utf8, len, used)) = decode_at(raw, at) else {
            return false;
        };
        match utf8
            .get(..len)
            .and_then(|decoded| want.strip_prefix(decoded))
        {
            Some(rest) => want = rest,
            None => return false,
        }
        at += used;
    }
    want.is_empty()
}

/// The character of a raw name at `at`: its UTF-8 bytes and their count, and how many raw
/// bytes it took. `None` for a lone surrogate escape, which no `&str` can hold.
fn decode_at(raw: &[u8], at: usize) -> Option<([u8; 4], usize, usize)> {
    let mut utf8 = [0u8; 4];
    let byte = *raw.get(at)?;
    if byte != b'\\' {
        utf8[0] = byte;
        return Some((utf8, 1, 1));
    }
    let simple = match *raw.get(at + 1)? {
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => 0,
        other => other,
    };
    if simple != 0 {
        utf8[0] = simple;
        return Some((utf8, 1, 2));
    }
    let unit = hex4(raw, at + 2)?;
    let (code, used) = match unit {
        // A high surrogate counts only with a low one right after it.
        0xd800..=0xdbff => match (raw.get(at + 6), raw.get(at + 7), hex4(raw, at + 8)) {
            (Some(b'\\'), Some(b'u'), Some(low @ 0xdc00..=0xdfff)) => {
                (0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00), 12)
            }
            _ => return None,
        },
        unit => (unit, 6),
    };
    let len = char::from_u32(code)?.encode_utf8(&mut utf8).len();
    Some((utf8, len, used))
}

/// The four hex digits of a `\u` escape starting at `at`.
fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    raw.get(at..at.checked_add(4)?)?
        .iter()
        .try_fold(0u32, |n, &b| Some(n * 16 + char::from(b).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Option<f64> {
        let doc = crate::core::join(&["{\"n\":", text, "}"]);
        match Object::parse(&doc)?.get("n")? {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn reads_members_of_the_top_level_object() {
        let doc = Object::parse(
            r#" { "a" : null , "b":true,"c":false, "d": "x\"y", "e": [1, {"f": 2}], "g": {"h": -0.5} } "#,
        )
        .unwrap();
        assert_eq!(doc.get("a"), Some(Value::Null));
        assert_eq!(doc.get("b"), Some(Value::Bool(true)));
        assert_eq!(doc.get("c"), Some(Value::Bool(false)));
        assert_eq!(doc.get("d"), Some(Value::Str));
        assert_eq!(doc.get("e"), Some(Value::Other));
        assert_eq!(
            doc.get("f"),
            None,
            "members of nested objects are not top-level"
        );
        let Some(Value::Object(g)) = doc.get("g") else {
            panic!("g is an object")
        };
        assert_eq!(g.get("h"), Some(Value::Number(-0.5)));
        assert_eq!(doc.get("z"), None);
        assert_eq!(Object::parse("{}").unwrap().get(""), None);
        assert_eq!(
            Object::parse(r#"{"":1}"#).unwrap().get(""),
            Some(Value::Number(1.0))
        );
    }

    #[test]
    fn the_last_duplicate_wins() {
        let doc = Object::parse(r#"{"a":1,"a":"x","a":2}"#).unwrap();
        assert_eq!(doc.get("a"), Some(Value::Number(2.0)));
    }

    #[test]
    fn names_are_compared_decoded() {
        let doc = Object::parse(
            r#"{"\u0065xp":1,"i\u0061\u0074":2,"tab\t":3,"\ud83d\ude00":4,"\ud83d":5,"\/":6,"\u00e9":7}"#,
        )
        .unwrap();
        assert_eq!(doc.get("exp"), Some(Value::Number(1.0)));
        assert_eq!(doc.get("iat"), Some(Value::Number(2.0)));
        assert_eq!(doc.get("tab\t"), Some(Value::Number(3.0)));
        assert_eq!(doc.get("\u{1f600}"), Some(Value::Number(4.0)));
        assert_eq!(doc.get("/"), Some(Value::Number(6.0)));
        assert_eq!(doc.get("\u{e9}"), Some(Value::Number(7.0)));
        assert_eq!(doc.get("\\ud83d"), None, "a lone surrogate matches nothing");
        assert_eq!(doc.get("exp\0"), None);
        assert_eq!(doc.get("ex"), None);
    }

    #[test]
    fn rejects_what_rfc_8259_rejects() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "{]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{\"a\":1 \"b\":2}",
            "{'a':1}",
            "{a:1}",
            "{\"a\":01}",
            "{\"a\":+1}",
            "{\"a\":.5}",
            "{\"a\":1.}",
            "{\"a\":1e}",
            "{\"a\":1e+}",
            "{\"a\":-}",
            "{\"a\":NaN}",
            "{\"a\":Infinity}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":[1,]}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12G4\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":\"unterminated}",
            "{} {}",
            "{}x",
            "\u{feff}{}",
            "{}\u{a0}",
            "{\u{b}}",
            "{\"a\":1}/* */",
        ] {
            assert_eq!(Object::parse(bad), None, "{bad:?}");
        }
        for not_object in ["[]", "1", "\"x\"", "null", "true"] {
            assert_eq!(Object::parse(not_object), None, "{not_object:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |levels: usize| {
            let mut doc = String::new();
            for _ in 1..levels {
                doc.push_str("{\"a\":");
            }
            doc.push_str("{}");
            for _ in 1..levels {
                doc.push('}');
            }
            doc
        };
        assert!(Object::parse(&nested(MAX_DEPTH as usize)).is_some());
        assert!(Object::parse(&nested(MAX_DEPTH as usize + 1)).is_none());
        let arrays = crate::core::join(&["{\"a\":", &"[".repeat(31), &"]".repeat(31), "}"]);
        assert!(Object::parse(&arrays).is_some());
        let arrays = crate::core::join(&["{\"a\":", &"[".repeat(32), &"]".repeat(32), "}"]);
        assert!(Object::parse(&arrays).is_none());
        // Far deeper than any stack allows, answered at once.
        assert!(Object::parse(&"[".repeat(1_000_000)).is_none());
        assert!(Object::parse(&"{\"a\":".repeat(1_000_000)).is_none());
    }

    #[test]
    fn numbers_are_read_exactly_where_it_matters() {
        for (text, expected) in [
            ("0", 0.0),
            ("-0", -0.0),
            ("42", 42.0),
            ("0.1", 0.1),
            ("1700000000.123", 1_700_000_000.123),
            ("1700000060", 1_700_000_060.0),
            ("9007199254740991", 9_007_199_254_740_991.0),
            ("-12.5e-1", -1.25),
            ("1E3", 1000.0),
            ("1e+3", 1000.0),
            ("0.000001", 1e-6),
            ("123456789012345e-5", 1_234_567_890.123_45),
            ("1e22", 1e22),
            ("1e23", 1e23),
            ("1e308", 1e308),
            ("1.7976931348623157e308", f64::MAX),
        ] {
            let read = number(text).unwrap();
            assert_eq!(read, expected, "{text}");
            assert_eq!(
                read.is_sign_negative(),
                expected.is_sign_negative(),
                "{text}"
            );
        }
        assert_eq!(number("1e400"), Some(f64::INFINITY));
        assert_eq!(number("-1e400"), Some(f64::NEG_INFINITY));
        assert_eq!(number("1e-400"), Some(0.0));
        assert_eq!(number("1e99999999999999999999"), Some(f64::INFINITY));
        assert_eq!(
            number(&crate::core::join(&["1", &"0".repeat(400)])),
            Some(f64::INFINITY)
        );
        assert_eq!(
            number(&crate::core::join(&["0.", &"0".repeat(400), "1"])),
            Some(0.0)
        );
        // More than 19 significant digits: the rest only scale.
        let long = number("12345678901234567890123").unwrap();
        assert!((long / 1.234_567_890_123_456_8e22 - 1.0).abs() < 1e-15);
        let subnormal = number("4.9e-324").unwrap();
        assert!(subnormal > 0.0 && subnormal < 1e-300);
    }
}
