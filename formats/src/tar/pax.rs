//! PAX extended header records (POSIX.1-2001, `pax` "pax Extended Header"): `"%d %s=%s\n"`,
//! where the decimal length counts the whole record, its own digits included.
//!
//! Values may hold any byte, newlines included (binary `SCHILY.xattr.*` values such as
//! `security.capability` often do), so records are delimited by their length only.
//! The `tar` crate's own record parser splits on newlines, which misreads such values; this
//! module is the parser kit uses instead.

use std::collections::BTreeMap;

/// PAX records of one entry, sorted by key as Go's `archive/tar` writes them.
pub type PaxRecords = BTreeMap<String, Vec<u8>>;

/// A malformed PAX extended header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaxError {
    /// A record does not start with a decimal length and a space.
    #[error("PAX record at byte {offset}: expected a decimal length and a space")]
    Length {
        /// Offset of the record in the extended header's data.
        offset: usize,
    },
    /// A record's length runs past the data or does not end with a newline.
    #[error("PAX record at byte {offset}: length {len} does not end at a newline within the data")]
    Bounds {
        /// Offset of the record.
        offset: usize,
        /// The record's stated length.
        len: usize,
    },
    /// A record has no `=` or a key that is not UTF-8.
    #[error("PAX record at byte {offset}: expected a UTF-8 key followed by `=`")]
    Key {
        /// Offset of the record.
        offset: usize,
    },
}

/// Serializes records, in key order.
pub fn encode(records: &PaxRecords) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        // " key=value\n" without the length digits.
        let base = key.len() + value.len() + 3;
        let mut len = base + 1;
        while len != base + len.to_string().len() {
            len = base + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

/// Parses the data of a PAX extended header into `(key, value)` pairs, in order.
/// Trailing NUL padding is tolerated.
pub fn parse(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, PaxError> {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let rest = &data[offset..];
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let space = rest.iter().take(20).position(|b| *b == b' ');
        let len = space.and_then(|space| {
            let digits = std::str::from_utf8(&rest[..space]).ok()?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<usize>().ok()
        });
        let (Some(space), Some(len)) = (space, len) else {
            return Err(PaxError::Length { offset });
        };
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(PaxError::Bounds { offset, len });
        }
        let key_value = &rest[space + 1..len - 1];
        let equals = key_value.iter().position(|b| *b == b'=').ok_or(PaxError::Key { offset })?;
        let key =
            std::str::from_utf8(&key_value[..equals]).map_err(|_| PaxError::Key { offset })?;
        records.push((key.to_owned(), key_value[equals + 1..].to_vec()));
        offset += len;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_themselves() {
        let one = |key: &str, value: &[u8]| {
            let mut records = PaxRecords::new();
            records.insert(key.to_owned(), value.to_vec());
            encode(&records)
        };
        assert_eq!(one("a", b"b"), b"6 a=b\n");
        // " abc=d\n" is 7 bytes; with one length digit the record is 8 bytes long.
        assert_eq!(one("abc", b"d"), b"8 abc=d\n");
        // " abcd=ef\n" is 9 bytes; 9 + 1 digit = 10 needs two digits, so 11.
        assert_eq!(one("abcd", b"ef"), b"11 abcd=ef\n");
    }

    #[test]
    fn values_may_hold_newlines_and_equals() {
        let data = b"22 SCHILY.xattr.a=\n=\n\n9 path=x\n\0\0";
        assert_eq!(
            parse(data).unwrap(),
            vec![
                ("SCHILY.xattr.a".to_owned(), b"\n=\n".to_vec()),
                ("path".to_owned(), b"x".to_vec())
            ]
        );
    }

    #[test]
    fn malformed_records() {
        assert_eq!(parse(b"x path=a\n"), Err(PaxError::Length { offset: 0 }));
        assert_eq!(parse(b"99 path=a\n"), Err(PaxError::Bounds { offset: 0, len: 99 }));
        assert_eq!(parse(b"9 path=ab"), Err(PaxError::Bounds { offset: 0, len: 9 }));
        assert_eq!(parse(b"7 path\n"), Err(PaxError::Key { offset: 0 }));
        assert_eq!(parse(b"2 \n"), Err(PaxError::Bounds { offset: 0, len: 2 }));
    }
}
