//! JSON text exactly as Go's `encoding/json` `MarshalIndent(v, "", "    ")` writes it.
//!
//! LinuxKit writes `config.json` and `runtime.json` with Go's encoder, so byte compatibility needs
//! three things serde_json does not do by default:
//!
//! * 4-space indentation with `": "` between key and value (serde_json's pretty printer with a
//!   4-space indent already matches, including `[]` and `{}` for empty containers);
//! * Go's HTML-safe string escaping: `<`, `>` and `&` become `\u003c`, `\u003e` and `\u0026`, and
//!   U+2028 and U+2029 become `\u2028` and `\u2029`;
//! * control characters as Go (1.22 and later) writes them: `\b`, `\f`, `\n`, `\r`, `\t`, and
//!   `\u00XX` with lowercase hex for the rest, which is also what serde_json does.
//!
//! Field order is the declaration order of the Rust structs (mirroring the Go structs), and map
//! keys are sorted because every map is a `BTreeMap`, as Go sorts map keys.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, PrettyFormatter};

/// Serializes `value` as Go's `json.MarshalIndent(value, "", "    ")` would (no trailing newline).
pub fn to_vec_indent<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    to_vec_indent_by(value, b"    ")
}

/// Serializes `value` as Go's `json.MarshalIndent(value, "", indent)` would (no trailing
/// newline); `indent` is the per-level indentation, such as the three spaces of go-containerregistry's
/// layout `index.json`.
pub fn to_vec_indent_by<T: Serialize + ?Sized>(
    value: &T,
    indent: &'static [u8],
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    let formatter = GoFormatter { inner: PrettyFormatter::with_indent(indent) };
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut serializer)?;
    Ok(out)
}

/// A pretty formatter that escapes strings the way Go's encoder does.
struct GoFormatter {
    inner: PrettyFormatter<'static>,
}

impl Formatter for GoFormatter {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_array(writer)
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_object(writer)
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object_value(writer)
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (idx, ch) in fragment.char_indices() {
            let escape: &[u8] = match ch {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..idx])?;
            writer.write_all(escape)?;
            start = idx + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        // serde_json's escapes for quote, backslash and control characters are Go's as well.
        self.inner.write_char_escape(writer, char_escape)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use expect_test::{Expect, expect};
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Sample {
        text: String,
        empty_list: Vec<u32>,
        empty_map: BTreeMap<String, String>,
        map: BTreeMap<String, String>,
        nested: Vec<Vec<u8>>,
    }

    fn check(value: &impl Serialize, expect: Expect) {
        let bytes = to_vec_indent(value).unwrap();
        expect.assert_eq(&String::from_utf8(bytes).unwrap());
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        // Expected text from Go's encoding/json rules (HTMLEscape is on by default for Marshal).
        check(&"a<b>c&d\u{2028}e\u{2029}", expect![[r#""a\u003cb\u003ec\u0026d\u2028e\u2029""#]]);
    }

    #[test]
    fn control_characters_are_escaped_like_go() {
        check(
            &"q\"b\\n\nr\rt\tb\u{8}f\u{c}x\u{1}y\u{1f}é",
            expect![[r#""q\"b\\n\nr\rt\tb\bf\fx\u0001y\u001fé""#]],
        );
        // DEL is not escaped by Go.
        assert_eq!(to_vec_indent("\u{7f}").unwrap(), b"\"\x7f\"");
    }

    #[test]
    fn indentation_and_empty_containers_match_marshal_indent() {
        let mut map = BTreeMap::new();
        map.insert("z".to_string(), "1".to_string());
        map.insert("a".to_string(), "2".to_string());
        let sample = Sample {
            text: "x".into(),
            empty_list: vec![],
            empty_map: BTreeMap::new(),
            map,
            nested: vec![vec![], vec![1, 2]],
        };
        check(
            &sample,
            expect![[r#"
                {
                    "text": "x",
                    "empty_list": [],
                    "empty_map": {},
                    "map": {
                        "a": "2",
                        "z": "1"
                    },
                    "nested": [
                        [],
                        [
                            1,
                            2
                        ]
                    ]
                }"#]],
        );
    }
}
