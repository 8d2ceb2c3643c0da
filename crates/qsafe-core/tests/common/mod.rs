//! Helpers shared by the integration tests that run the published test vectors.
//!
//! The vectors live outside the crate (`shared/vectors/`, described in its `SOURCES.md`) and
//! are found through the environment variable `QSAFE_VECTORS`. When it is unset the vector tests
//! skip with a message; when it is set, a missing or unreadable file fails the test.

// Each test binary compiles this module and uses only part of it. Panicking is how these helpers
// report a bad or missing vector file (clippy.toml's `allow-*-in-tests` covers `#[test]`
// functions only).
#![allow(
    dead_code,
    clippy::panic,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::Value;

/// The environment variable naming the vector directory.
pub const VECTORS_ENV: &str = "QSAFE_VECTORS";

/// The vector directory, or `None` (after saying so on stderr) when `QSAFE_VECTORS` is unset.
pub fn vectors_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os(VECTORS_ENV) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("skipped {test}: {VECTORS_ENV} is not set (point it at ../shared/vectors)");
            None
        }
    }
}

/// The raw bytes of `$QSAFE_VECTORS/<rel>`. Panics, naming the file, when it cannot be read.
pub fn read_bytes(rel: &str) -> Vec<u8> {
    let dir = std::env::var_os(VECTORS_ENV)
        .unwrap_or_else(|| panic!("{VECTORS_ENV} is not set; gate the test with vectors_dir()"));
    let path = PathBuf::from(dir).join(rel);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read test vector file {} ({e}): expected in ${VECTORS_ENV}/{rel}; \
             see shared/vectors/SOURCES.md",
            path.display()
        )
    })
}

/// `$QSAFE_VECTORS/<rel>` as UTF-8 text.
pub fn read_text(rel: &str) -> String {
    String::from_utf8(read_bytes(rel)).unwrap_or_else(|e| panic!("{rel} is not UTF-8: {e}"))
}

/// `$QSAFE_VECTORS/<rel>`, gunzipped, as UTF-8 text.
pub fn read_gzip_text(rel: &str) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(read_bytes(rel).as_slice())
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{rel} is not gzipped UTF-8: {e}"));
    text
}

/// `$QSAFE_VECTORS/<rel>` parsed as JSON.
pub fn load_json(rel: &str) -> Value {
    serde_json::from_slice(&read_bytes(rel)).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

/// Decodes hex (either case).
pub fn hex(s: &str) -> Vec<u8> {
    ::hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:.40}…: {e}"))
}

/// Decodes standard padded base64.
pub fn base64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("bad base64 {s:.40}…: {e}"))
}

/// The string field `key` of a JSON object.
pub fn str_field<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string field `{key}` in {}", abbreviate(obj)))
}

/// The hex-encoded field `key` of a JSON object, decoded.
pub fn hex_field(obj: &Value, key: &str) -> Vec<u8> {
    hex(str_field(obj, key))
}

/// The base64-encoded field `key` of a JSON object, decoded.
pub fn base64_field(obj: &Value, key: &str) -> Vec<u8> {
    base64(str_field(obj, key))
}

/// The array field `key` of a JSON object.
pub fn array_field<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("missing array field `{key}` in {}", abbreviate(obj)))
}

/// Parses `name = hex` lines (the CCTV text format) into a map.
pub fn hex_assignments(text: &str) -> HashMap<String, Vec<u8>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("expected `name = hex`, got {line:.60}"));
            (name.trim().to_owned(), hex(value.trim()))
        })
        .collect()
}

/// A short rendering of a JSON value for panic messages (vector objects hold kilobytes of hex).
fn abbreviate(obj: &Value) -> String {
    let mut s = obj.to_string();
    if s.len() > 200 {
        s.truncate(s.floor_char_boundary(200));
        s.push('…');
    }
    s
}
