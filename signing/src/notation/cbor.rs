//! A small strict CBOR reader (RFC 8949) for exactly what a COSE_Sign1 envelope holds, and
//! the encoder for its `Sig_structure`.
//!
//! Accepted: unsigned and negative integers, byte and text strings, arrays, maps, tags, and
//! the simple values `false`, `true` and `null`; every length definite and every head in its
//! shortest form (RFC 8949 §4.2.1 preferred serialization); UTF-8 text; no duplicate map keys;
//! nesting at most [`MAX_DEPTH`]; nothing after the one top-level item.
//! Rejected: indefinite lengths, floats, `undefined` and other simple values, non-minimal
//! heads. No decoder limit is needed beyond the input size: every declared length and element
//! count is checked against the bytes left before anything is allocated.

/// Deepest nesting accepted (COSE_Sign1 needs 4: tag, array, map, array).
pub const MAX_DEPTH: usize = 16;

/// One decoded CBOR data item, borrowing strings from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// Major type 0.
    Unsigned(u64),
    /// Major type 1: the value is `-1 - n`.
    Negative(u64),
    /// Major type 2.
    Bytes(&'a [u8]),
    /// Major type 3.
    Text(&'a str),
    /// Major type 4.
    Array(Vec<Item<'a>>),
    /// Major type 5, in encoded order.
    Map(Vec<(Item<'a>, Item<'a>)>),
    /// Major type 6.
    Tag(u64, Box<Item<'a>>),
    /// `false` / `true`.
    Bool(bool),
    /// `null`.
    Null,
}

impl Item<'_> {
    /// The item as an `i64` when it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Item::Unsigned(n) => i64::try_from(*n).ok(),
            Item::Negative(n) => i64::try_from(*n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    /// A short name of the item's type, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Unsigned(_) | Item::Negative(_) => "integer",
            Item::Bytes(_) => "byte string",
            Item::Text(_) => "text string",
            Item::Array(_) => "array",
            Item::Map(_) => "map",
            Item::Tag(..) => "tagged item",
            Item::Bool(_) => "boolean",
            Item::Null => "null",
        }
    }
}

/// Decodes `bytes` as exactly one CBOR item; the error says what is wrong and where.
pub fn decode(bytes: &[u8]) -> Result<Item<'_>, String> {
    let mut reader = Reader { input: bytes, pos: 0 };
    let item = reader.item(0)?;
    if reader.pos != bytes.len() {
        return Err(format!("{} bytes after the CBOR item", bytes.len() - reader.pos));
    }
    Ok(item)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.input.len());
        let Some(end) = end else {
            return Err(format!("truncated at byte {}", self.pos));
        };
        let out = &self.input[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// Reads an item head: (major type, argument).
    fn head(&mut self) -> Result<(u8, u64), String> {
        let at = self.pos;
        let initial = self.take(1)?[0];
        let major = initial >> 5;
        let info = initial & 0x1f;
        let (value, min) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(self.take(1)?[0]), 24),
            25 => (self.be(2)?, 0x100),
            26 => (self.be(4)?, 0x1_0000),
            27 => (self.be(8)?, 0x1_0000_0000),
            31 => return Err(format!("indefinite length at byte {at}")),
            _ => return Err(format!("reserved additional information {info} at byte {at}")),
        };
        if value < min {
            return Err(format!("non-minimal encoding at byte {at}"));
        }
        Ok((major, value))
    }

    fn be(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// A length or count that must fit in what is left (each element takes at least a byte).
    fn length(&self, value: u64, at: usize) -> Result<usize, String> {
        match usize::try_from(value) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(format!("length {value} at byte {at} exceeds the input")),
        }
    }

    fn item(&mut self, depth: usize) -> Result<Item<'a>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} at byte {}", self.pos));
        }
        let at = self.pos;
        let (major, value) = self.head()?;
        Ok(match major {
            0 => Item::Unsigned(value),
            1 => Item::Negative(value),
            2 => {
                let n = self.length(value, at)?;
                Item::Bytes(self.take(n)?)
            }
            3 => {
                let n = self.length(value, at)?;
                let raw = self.take(n)?;
                let text = std::str::from_utf8(raw)
                    .map_err(|_| format!("text string at byte {at} is not UTF-8"))?;
                Item::Text(text)
            }
            4 => {
                let n = self.length(value, at)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Item::Array(items)
            }
            5 => {
                let n = self.length(value, at)?;
                let mut entries: Vec<(Item<'a>, Item<'a>)> = Vec::with_capacity(n);
                for _ in 0..n {
                    let key_at = self.pos;
                    let key = self.item(depth + 1)?;
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(format!("duplicate map key at byte {key_at}"));
                    }
                    let value = self.item(depth + 1)?;
                    entries.push((key, value));
                }
                Item::Map(entries)
            }
            6 => Item::Tag(value, Box::new(self.item(depth + 1)?)),
            // Major type 7: only the simple values false, true and null (info 20..=22).
            _ => match value {
                20 => Item::Bool(false),
                21 => Item::Bool(true),
                22 => Item::Null,
                _ => return Err(format!("unsupported simple value or float at byte {at}")),
            },
        })
    }
}

/// Appends a head of `major` type with argument `value`, in its shortest form.
pub fn encode_head(major: u8, value: u64, out: &mut Vec<u8>) {
    let major = major << 5;
    if let Ok(small) = u8::try_from(value)
        && small < 24
    {
        out.push(major | small);
    } else if let Ok(v) = u8::try_from(value) {
        out.extend_from_slice(&[major | 24, v]);
    } else if let Ok(v) = u16::try_from(value) {
        out.push(major | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(value) {
        out.push(major | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// The COSE_Sign1 `Sig_structure` (RFC 9052 §4.4) with empty external AAD:
/// `["Signature1", protected, h'', payload]`.
pub fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 32);
    encode_head(4, 4, &mut out);
    encode_head(3, 10, &mut out);
    out.extend_from_slice(b"Signature1");
    for bytes in [protected, &[][..], payload] {
        // usize always fits in u64 on the platforms Rust supports.
        encode_head(2, u64::try_from(bytes.len()).unwrap_or(u64::MAX), &mut out);
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(hex_input: &str, expect: &str) {
        let bytes = hex::decode(hex_input).unwrap();
        let got = match decode(&bytes) {
            Ok(item) => format!("{item:?}"),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect, "input {hex_input}");
    }

    #[test]
    fn rfc8949_appendix_a_examples() {
        // Values from RFC 8949 Appendix A.
        check("00", "Unsigned(0)");
        check("17", "Unsigned(23)");
        check("1818", "Unsigned(24)");
        check("1903e8", "Unsigned(1000)");
        check("1b000000e8d4a51000", "Unsigned(1000000000000)");
        check("20", "Negative(0)");
        check("3863", "Negative(99)");
        check("4401020304", "Bytes([1, 2, 3, 4])");
        check("6449455446", "Text(\"IETF\")");
        check("83010203", "Array([Unsigned(1), Unsigned(2), Unsigned(3)])");
        check("a201020304", "Map([(Unsigned(1), Unsigned(2)), (Unsigned(3), Unsigned(4))])");
        check("c11a514b67b0", "Tag(1, Unsigned(1363896240))");
        check("f4", "Bool(false)");
        check("f5", "Bool(true)");
        check("f6", "Null");
    }

    #[test]
    fn strictness() {
        check("f7", "error: unsupported simple value or float at byte 0");
        check("f93c00", "error: unsupported simple value or float at byte 0");
        check("5f42010243030405ff", "error: indefinite length at byte 0");
        check("9fff", "error: indefinite length at byte 0");
        check("1817", "error: non-minimal encoding at byte 0");
        check("190017", "error: non-minimal encoding at byte 0");
        check("a201020103", "error: duplicate map key at byte 3");
        check("0000", "error: 1 bytes after the CBOR item");
        check("62c328", "error: text string at byte 0 is not UTF-8");
        check("45010203", "error: length 5 at byte 0 exceeds the input");
        check("9b0000000100000000", "error: length 4294967296 at byte 0 exceeds the input");
        check("1c", "error: reserved additional information 28 at byte 0");
        check("19", "error: truncated at byte 1");
        let deep = format!("{}00", "81".repeat(MAX_DEPTH + 1));
        check(&deep, "error: nested deeper than 16 at byte 17");
    }

    #[test]
    fn heads_are_shortest() {
        for (value, expect) in [
            (0u64, "40"),
            (23, "57"),
            (24, "5818"),
            (255, "58ff"),
            (256, "590100"),
            (65_536, "5a00010000"),
            (1 << 32, "5b0000000100000000"),
        ] {
            let mut out = Vec::new();
            encode_head(2, value, &mut out);
            assert_eq!(hex::encode(&out), expect, "{value}");
        }
    }

    #[test]
    fn sig_structure_layout() {
        // RFC 9052 §4.4 with protected {1: -7} (a10126) and payload "hi".
        let got = sig_structure(&[0xa1, 0x01, 0x26], b"hi");
        assert_eq!(hex::encode(got), "846a5369676e61747572653143a1012640426869");
    }
}
