//! ECMA-119 9.1 directory records: a 33-byte fixed part, the file identifier, a padding byte
//! when the identifier's length is even, then the System Use field (Rock Ridge lives there).
//!
//! A record is at most 255 bytes long and never crosses a logical sector boundary (6.8.1.1);
//! the rest of a sector after its last record is zero. kit keeps every record's length even
//! (the System Use field gets one zero byte when needed), as libisofs and genisoimage do.

use crate::iso9660::both_endian::{array, read_u16_both, read_u32_both, u16_both, u32_both};
use crate::iso9660::datetime::RecordingDateTime;

/// 9.1.6 file flags.
pub(crate) mod flags {
    /// Bit 1: the record identifies a directory.
    pub(crate) const DIRECTORY: u8 = 0x02;
    /// Bit 2: an associated file.
    pub(crate) const ASSOCIATED: u8 = 0x04;
    /// Bit 7, "Multi-Extent": this is not the final record of the file.
    pub(crate) const MULTI_EXTENT: u8 = 0x80;
}

/// The identifier of the first record of every directory, itself (9.1.11).
pub(crate) const DOT: &[u8] = &[0x00];
/// The identifier of the second record, the parent (9.1.11).
pub(crate) const DOTDOT: &[u8] = &[0x01];

/// 9.1: the fixed 33 bytes of a directory record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirRecord {
    /// 9.1.1 LEN_DR: length of the whole record in bytes, 34 to 255.
    pub(crate) length_bytes: u8,
    /// 9.1.2: length of the extended attribute record in sectors; kit writes none (0).
    pub(crate) extended_attribute_sectors: u8,
    /// 9.1.3: first logical block of the extent (7.3.3 both-endian).
    pub(crate) extent_lba: u32,
    /// 9.1.4: length of the file section in bytes (7.3.3); for a directory, a multiple of the
    /// 2048-byte block size.
    pub(crate) data_length_bytes: u32,
    /// 9.1.5: recording date and time.
    pub(crate) recorded_at: RecordingDateTime,
    /// 9.1.6: file flags, see [`flags`].
    pub(crate) file_flags: u8,
    /// 9.1.7: file unit size for interleaved files; 0 (not interleaved).
    pub(crate) file_unit_size: u8,
    /// 9.1.8: interleave gap size; 0.
    pub(crate) interleave_gap_size: u8,
    /// 9.1.9: volume sequence number (7.2.3); 1 for a single-volume set.
    pub(crate) volume_sequence_number: u16,
    /// 9.1.10 LEN_FI: length of the file identifier in bytes, at least 1.
    pub(crate) identifier_length_bytes: u8,
}

/// A whole record found in a directory's extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedRecord<'a> {
    /// The fixed part.
    pub(crate) header: DirRecord,
    /// 9.1.11 file identifier.
    pub(crate) identifier: &'a [u8],
    /// 9.1.13 System Use field.
    pub(crate) system_use: &'a [u8],
}

impl DirRecord {
    /// Size of the fixed part in bytes.
    pub(crate) const SIZE: usize = 33;
    /// Longest record: LEN_DR is one byte; kit keeps lengths even, so 254 when writing.
    pub(crate) const MAX_BYTES: usize = 255;

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0] = self.length_bytes;
        out[1] = self.extended_attribute_sectors;
        out[2..10].copy_from_slice(&u32_both(self.extent_lba));
        out[10..18].copy_from_slice(&u32_both(self.data_length_bytes));
        let mut date = [0u8; RecordingDateTime::SIZE];
        self.recorded_at.encode(&mut date);
        out[18..25].copy_from_slice(&date);
        out[25] = self.file_flags;
        out[26] = self.file_unit_size;
        out[27] = self.interleave_gap_size;
        out[28..32].copy_from_slice(&u16_both(self.volume_sequence_number));
        out[32] = self.identifier_length_bytes;
    }

    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> DirRecord {
        DirRecord {
            length_bytes: bytes[0],
            extended_attribute_sectors: bytes[1],
            extent_lba: read_u32_both(array(bytes, 2)),
            data_length_bytes: read_u32_both(array(bytes, 10)),
            recorded_at: RecordingDateTime::decode(&array(bytes, 18)),
            file_flags: bytes[25],
            file_unit_size: bytes[26],
            interleave_gap_size: bytes[27],
            volume_sequence_number: read_u16_both(array(bytes, 28)),
            identifier_length_bytes: bytes[32],
        }
    }

    /// True when the record names a directory.
    pub(crate) fn is_dir(&self) -> bool {
        self.file_flags & flags::DIRECTORY != 0
    }
}

/// Length of a record with an identifier of `identifier_len` bytes and a System Use field of
/// `system_use_len` bytes (9.1.12: a padding byte follows an identifier of even length).
pub(crate) fn record_len(identifier_len: usize, system_use_len: usize) -> usize {
    DirRecord::SIZE
        + identifier_len
        + usize::from(identifier_len.is_multiple_of(2))
        + system_use_len
}

/// Appends a whole record: `header` with its two length fields set from `identifier` and
/// `system_use`, the identifier, the padding byte and the System Use field.
/// Callers keep the total within [`DirRecord::MAX_BYTES`] (the plan checks it).
pub(crate) fn encode_record(
    mut header: DirRecord,
    identifier: &[u8],
    system_use: &[u8],
    out: &mut Vec<u8>,
) {
    let len = record_len(identifier.len(), system_use.len());
    header.length_bytes = u8::try_from(len).unwrap_or(u8::MAX);
    header.identifier_length_bytes = u8::try_from(identifier.len()).unwrap_or(u8::MAX);
    let mut fixed = [0u8; DirRecord::SIZE];
    header.encode(&mut fixed);
    out.extend_from_slice(&fixed);
    out.extend_from_slice(identifier);
    if identifier.len().is_multiple_of(2) {
        out.push(0);
    }
    out.extend_from_slice(system_use);
}

/// Parses the record at the start of `bytes` (which may hold more after it).
pub(crate) fn parse_record(bytes: &[u8]) -> Result<ParsedRecord<'_>, &'static str> {
    let fixed: &[u8; DirRecord::SIZE] = bytes
        .get(..DirRecord::SIZE)
        .and_then(|b| b.try_into().ok())
        .ok_or("directory record is cut off by the end of its directory")?;
    let header = DirRecord::decode(fixed);
    let len = usize::from(header.length_bytes);
    if len < DirRecord::SIZE + 1 {
        return Err("directory record is shorter than 34 bytes");
    }
    let record =
        bytes.get(..len).ok_or("directory record is cut off by the end of its directory")?;
    let id_len = usize::from(header.identifier_length_bytes);
    if id_len == 0 {
        return Err("directory record has an empty file identifier");
    }
    let id_end = DirRecord::SIZE + id_len;
    let identifier =
        record.get(DirRecord::SIZE..id_end).ok_or("file identifier overruns its record")?;
    let su_start = (id_end + usize::from(id_len.is_multiple_of(2))).min(len);
    Ok(ParsedRecord { header, identifier, system_use: &record[su_start..] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DirRecord {
        DirRecord {
            length_bytes: 0,
            extended_attribute_sectors: 0,
            extent_lba: 0x1234,
            data_length_bytes: 2048,
            recorded_at: RecordingDateTime::from_unix(1_700_000_000),
            file_flags: flags::DIRECTORY,
            file_unit_size: 0,
            interleave_gap_size: 0,
            volume_sequence_number: 1,
            identifier_length_bytes: 0,
        }
    }

    #[test]
    fn fixed_part_round_trips() {
        assert_eq!(DirRecord::SIZE, 33);
        let mut bytes = [0u8; DirRecord::SIZE];
        sample().encode(&mut bytes);
        assert_eq!(bytes[2..10], [0x34, 0x12, 0, 0, 0, 0, 0x12, 0x34]);
        assert_eq!(bytes[10..18], [0, 8, 0, 0, 0, 0, 8, 0]);
        assert_eq!(bytes[25], 2);
        assert_eq!(bytes[28..32], [1, 0, 0, 1]);
        assert_eq!(DirRecord::decode(&bytes), sample());
    }

    #[test]
    fn whole_records_pad_even_identifiers() {
        let mut out = Vec::new();
        encode_record(sample(), b"AB", b"SU", &mut out);
        // 33 + 2 + padding 1 + 2.
        assert_eq!(out.len(), 38);
        assert_eq!(record_len(2, 2), 38);
        assert_eq!(out[0], 38);
        assert_eq!(out[32], 2);
        assert_eq!(out[35], 0);
        let parsed = parse_record(&out).unwrap();
        assert_eq!(parsed.identifier, b"AB");
        assert_eq!(parsed.system_use, b"SU");
        assert_eq!(
            parsed.header,
            DirRecord { length_bytes: 38, identifier_length_bytes: 2, ..sample() }
        );

        let mut odd = Vec::new();
        encode_record(sample(), DOT, b"", &mut odd);
        assert_eq!(odd.len(), 34);
        assert_eq!(parse_record(&odd).unwrap().identifier, DOT);
        assert!(parse_record(&odd).unwrap().system_use.is_empty());
    }

    #[test]
    fn malformed_records() {
        let mut out = Vec::new();
        encode_record(sample(), b"ABC", b"", &mut out);
        assert_eq!(
            parse_record(&out[..30]),
            Err("directory record is cut off by the end of its directory")
        );
        assert_eq!(
            parse_record(&out[..35]),
            Err("directory record is cut off by the end of its directory")
        );
        let mut short = out.clone();
        short[0] = 20;
        assert_eq!(parse_record(&short), Err("directory record is shorter than 34 bytes"));
        let mut long_id = out.clone();
        long_id[32] = 10;
        assert_eq!(parse_record(&long_id), Err("file identifier overruns its record"));
        let mut empty_id = out;
        empty_id[32] = 0;
        assert_eq!(parse_record(&empty_id), Err("directory record has an empty file identifier"));
    }
}
