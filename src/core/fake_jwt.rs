//! base64url for the JWT-shaped tokens the native simulations mint and read: the machine
//! tests and `examples/herd.rs`. Not in the shipped module (feature `std` only): the
//! browser decodes tokens with `atob` (`js/runtime.js`).

use crate::prelude::*;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `bytes` in base64url without padding.
pub fn base64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The text that base64url `text` encodes (characters outside the alphabet are skipped,
/// bytes that are not UTF-8 give an empty string).
pub fn base64url_decode(text: &str) -> String {
    let values: Vec<u32> = text
        .bytes()
        .filter_map(|b| ALPHABET.iter().position(|a| *a == b).map(|v| v as u32))
        .collect();
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let n = chunk.iter().fold(0u32, |n, v| n << 6 | v) << (6 * (4 - chunk.len()));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    String::from_utf8(out).unwrap_or_default()
}
