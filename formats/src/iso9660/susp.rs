//! The System Use Sharing Protocol (IEEE P1281, SUSP 1.12): how the System Use field of a
//! directory record (and its continuation areas) holds a list of entries, each starting with a
//! 2-byte signature, a 1-byte length (header included) and a 1-byte version.
//!
//! This file has the protocol's own entries: SP (5.3, the indicator at the start of the root's
//! `.` record), CE (5.1, a continuation area), ER (5.5, the extension reference that names Rock
//! Ridge) and ST (5.4, the terminator, only read). Rock Ridge's entries are in `rock_ridge.rs`.
//!
//! A continuation area holds further entries; kit keeps each within one 2048-byte block, as the
//! Linux kernel requires (`fs/isofs/rock.c` rejects areas that cross a block), and a chain has at
//! most [`MAX_CONTINUATIONS`] areas, the kernel's `RR_MAX_CE_ENTRIES`.

use crate::iso9660::both_endian::{array, read_u32_both, u32_both};

/// Longest chain of continuation areas a record may have (Linux `RR_MAX_CE_ENTRIES`).
pub(crate) const MAX_CONTINUATIONS: usize = 32;

/// 4: the header every entry starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryHeader {
    /// Bytes 1-2: signature word, two ASCII letters.
    pub(crate) signature: [u8; 2],
    /// Byte 3: length of the whole entry in bytes, header included (at least 4).
    pub(crate) length_bytes: u8,
    /// Byte 4: entry version; 1 for every entry kit knows.
    pub(crate) version: u8,
}

impl EntryHeader {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 4;

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        *out = [self.signature[0], self.signature[1], self.length_bytes, self.version];
    }

    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> EntryHeader {
        EntryHeader { signature: [bytes[0], bytes[1]], length_bytes: bytes[2], version: bytes[3] }
    }
}

/// Appends an entry with signature `signature`, version 1 and body `body`.
/// Bodies are at most 251 bytes (callers build them so).
pub(crate) fn push_entry(signature: [u8; 2], body: &[u8], out: &mut Vec<u8>) {
    let length_bytes = u8::try_from(EntryHeader::SIZE + body.len()).unwrap_or(u8::MAX);
    let mut header = [0u8; EntryHeader::SIZE];
    EntryHeader { signature, length_bytes, version: 1 }.encode(&mut header);
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
}

/// 5.3 SP: "SUSP in use", the first entry of the root directory's `.` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SharingProtocolIndicator {
    /// Byte 7, LEN_SKP: bytes to skip at the start of every other System Use field; 0.
    pub(crate) skip_bytes: u8,
}

impl SharingProtocolIndicator {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 7;
    /// Bytes 5-6: the check bytes.
    const CHECK: [u8; 2] = [0xbe, 0xef];

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        *out = [b'S', b'P', 7, 1, Self::CHECK[0], Self::CHECK[1], self.skip_bytes];
    }

    /// Decodes a whole SP entry (header included).
    pub(crate) fn decode(
        bytes: &[u8; Self::SIZE],
    ) -> Result<SharingProtocolIndicator, &'static str> {
        if bytes[..4] != [b'S', b'P', 7, 1] || bytes[4..6] != Self::CHECK {
            return Err("SP entry is not SP, 7 bytes, version 1 with check bytes BE EF");
        }
        Ok(SharingProtocolIndicator { skip_bytes: bytes[6] })
    }
}

/// 5.1 CE: where the System Use entries continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContinuationArea {
    /// Bytes 5-12: sector of the continuation area (7.3.3).
    pub(crate) block_lba: u32,
    /// Bytes 13-20: byte offset of the area within that sector (7.3.3).
    pub(crate) offset_bytes: u32,
    /// Bytes 21-28: length of the area in bytes (7.3.3).
    pub(crate) length_bytes: u32,
}

impl ContinuationArea {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 28;

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[..4].copy_from_slice(&[b'C', b'E', 28, 1]);
        out[4..12].copy_from_slice(&u32_both(self.block_lba));
        out[12..20].copy_from_slice(&u32_both(self.offset_bytes));
        out[20..28].copy_from_slice(&u32_both(self.length_bytes));
    }

    /// Decodes the body of a CE entry (the 24 bytes after the header).
    pub(crate) fn decode_body(body: &[u8]) -> Result<ContinuationArea, &'static str> {
        if body.len() < 24 {
            return Err("CE entry is shorter than 28 bytes");
        }
        Ok(ContinuationArea {
            block_lba: read_u32_both(array(body, 0)),
            offset_bytes: read_u32_both(array(body, 8)),
            length_bytes: read_u32_both(array(body, 16)),
        })
    }
}

/// 5.5 ER: names an extension in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtensionsReference {
    /// Byte 8, EXT_VER: extension version.
    pub(crate) extension_version: u8,
    /// EXT_ID: the extension's identifier.
    pub(crate) identifier: Vec<u8>,
    /// EXT_DES: its description.
    pub(crate) descriptor: Vec<u8>,
    /// EXT_SRC: where its specification comes from.
    pub(crate) source: Vec<u8>,
}

impl ExtensionsReference {
    /// RRIP 1.12 (IEEE P1282) section 5.5: the ER entry announcing Rock Ridge 1.12.
    pub(crate) fn rrip_1_12() -> ExtensionsReference {
        ExtensionsReference {
            extension_version: 1,
            identifier: b"IEEE_1282".to_vec(),
            descriptor: b"THE IEEE 1282 PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS."
                .to_vec(),
            source: b"PLEASE CONTACT THE IEEE STANDARDS DEPARTMENT, PISCATAWAY, NJ, USA FOR THE 1282 SPECIFICATION."
                .to_vec(),
        }
    }

    /// Appends the whole entry. The three texts together stay under 247 bytes (callers only
    /// encode [`ExtensionsReference::rrip_1_12`]).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let len = |text: &[u8]| u8::try_from(text.len()).unwrap_or(u8::MAX);
        let mut body = vec![len(&self.identifier), len(&self.descriptor), len(&self.source)];
        body.push(self.extension_version);
        body.extend_from_slice(&self.identifier);
        body.extend_from_slice(&self.descriptor);
        body.extend_from_slice(&self.source);
        push_entry(*b"ER", &body, out);
    }

    /// Decodes the body of an ER entry.
    pub(crate) fn decode_body(body: &[u8]) -> Result<ExtensionsReference, &'static str> {
        let [id_len, des_len, src_len, extension_version, ..] = *body else {
            return Err("ER entry is shorter than 8 bytes");
        };
        let id_end = 4 + usize::from(id_len);
        let des_end = id_end + usize::from(des_len);
        let src_end = des_end + usize::from(src_len);
        if src_end > body.len() {
            return Err("ER entry texts overrun the entry");
        }
        Ok(ExtensionsReference {
            extension_version,
            identifier: body[4..id_end].to_vec(),
            descriptor: body[id_end..des_end].to_vec(),
            source: body[des_end..src_end].to_vec(),
        })
    }
}

/// One entry found in a System Use field or continuation area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawEntry<'a> {
    /// The signature word.
    pub(crate) signature: [u8; 2],
    /// The entry version.
    pub(crate) version: u8,
    /// The bytes after the 4-byte header.
    pub(crate) body: &'a [u8],
}

/// The entries of one System Use field or continuation area, in order. Stops at an ST entry,
/// at fewer than 4 remaining bytes (padding) or at a zero signature byte (zero fill).
pub(crate) fn entries(area: &[u8]) -> Entries<'_> {
    Entries { rest: area }
}

/// Iterator returned by [`entries`].
pub(crate) struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<RawEntry<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        let header: &[u8; EntryHeader::SIZE] =
            self.rest.get(..EntryHeader::SIZE)?.try_into().ok()?;
        let header = EntryHeader::decode(header);
        if header.signature[0] == 0 {
            self.rest = &[];
            return None;
        }
        let len = usize::from(header.length_bytes);
        if len < EntryHeader::SIZE || len > self.rest.len() {
            self.rest = &[];
            return Some(Err("System Use entry length overruns its area"));
        }
        let body = &self.rest[EntryHeader::SIZE..len];
        self.rest = &self.rest[len..];
        if header.signature == *b"ST" {
            self.rest = &[];
            return None;
        }
        Some(Ok(RawEntry { signature: header.signature, version: header.version, body }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_entries_round_trip() {
        assert_eq!(EntryHeader::SIZE, 4);
        let mut sp = [0u8; SharingProtocolIndicator::SIZE];
        SharingProtocolIndicator { skip_bytes: 0 }.encode(&mut sp);
        assert_eq!(sp, [b'S', b'P', 7, 1, 0xbe, 0xef, 0]);
        assert_eq!(
            SharingProtocolIndicator::decode(&sp),
            Ok(SharingProtocolIndicator { skip_bytes: 0 })
        );
        sp[4] = 0;
        assert!(SharingProtocolIndicator::decode(&sp).is_err());

        let ce = ContinuationArea { block_lba: 30, offset_bytes: 100, length_bytes: 200 };
        let mut bytes = [0u8; ContinuationArea::SIZE];
        ce.encode(&mut bytes);
        assert_eq!(&bytes[..4], b"CE\x1c\x01");
        assert_eq!(bytes[4..12], [30, 0, 0, 0, 0, 0, 0, 30]);
        assert_eq!(ContinuationArea::decode_body(&bytes[4..]), Ok(ce));
        assert!(ContinuationArea::decode_body(&bytes[4..20]).is_err());
    }

    #[test]
    fn er_round_trips_and_iteration_stops_at_padding() {
        let mut area = Vec::new();
        let er = ExtensionsReference::rrip_1_12();
        er.encode(&mut area);
        // 8 + 9 + 72 + 93 (RRIP 1.12 section 5.5).
        assert_eq!(area.len(), 182);
        push_entry(*b"XX", b"ab", &mut area);
        area.extend_from_slice(&[0, 0, 0, 0, 0]);
        let found: Vec<_> = entries(&area).collect::<Result<_, _>>().unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].signature, *b"ER");
        assert_eq!(ExtensionsReference::decode_body(found[0].body), Ok(er));
        assert_eq!(found[1], RawEntry { signature: *b"XX", version: 1, body: b"ab" });

        let mut stopped = Vec::new();
        push_entry(*b"ST", b"", &mut stopped);
        push_entry(*b"XX", b"", &mut stopped);
        assert_eq!(entries(&stopped).count(), 0);
        let bad = [b'X', b'X', 9, 1, 0];
        assert_eq!(entries(&bad).next(), Some(Err("System Use entry length overruns its area")));
        assert_eq!(
            ExtensionsReference::decode_body(&[9, 0, 0, 1, b'a']),
            Err("ER entry texts overrun the entry")
        );
    }
}
