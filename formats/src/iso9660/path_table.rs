//! ECMA-119 9.4 path table records: one per directory, in the order of 6.9.1 (by level, then
//! by the number of the parent directory, then by identifier). A volume has a type L table
//! (little-endian numbers) and a type M table (big-endian numbers) with the same records.
//!
//! Directory numbers are 1-based positions in the table and parent numbers are 16-bit, so a
//! hierarchy has at most 65535 directories.

/// Byte order of a path table's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathTableType {
    /// Type L: little-endian (7.3.1, 7.2.1).
    L,
    /// Type M: big-endian (7.3.2, 7.2.2).
    M,
}

/// 9.4: the fixed 8 bytes of a path table record, followed by the identifier and a padding
/// byte when the identifier's length is odd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathTableRecord {
    /// 9.4.1 LEN_DI: length of the directory identifier, at least 1.
    pub(crate) identifier_length_bytes: u8,
    /// 9.4.2: length of the extended attribute record in sectors; 0.
    pub(crate) extended_attribute_sectors: u8,
    /// 9.4.3: first sector of the directory's extent.
    pub(crate) extent_lba: u32,
    /// 9.4.4: number (1-based position in this table) of the parent directory; 1 for the root.
    pub(crate) parent_directory_number: u16,
}

impl PathTableRecord {
    /// Size of the fixed part in bytes.
    pub(crate) const SIZE: usize = 8;

    pub(crate) fn encode(&self, table: PathTableType, out: &mut [u8; Self::SIZE]) {
        out[0] = self.identifier_length_bytes;
        out[1] = self.extended_attribute_sectors;
        let (lba, parent) = match table {
            PathTableType::L => {
                (self.extent_lba.to_le_bytes(), self.parent_directory_number.to_le_bytes())
            }
            PathTableType::M => {
                (self.extent_lba.to_be_bytes(), self.parent_directory_number.to_be_bytes())
            }
        };
        out[2..6].copy_from_slice(&lba);
        out[6..8].copy_from_slice(&parent);
    }

    #[cfg_attr(not(test), allow(dead_code))] // The reader walks directories, not path tables.
    pub(crate) fn decode(table: PathTableType, bytes: &[u8; Self::SIZE]) -> PathTableRecord {
        let lba = [bytes[2], bytes[3], bytes[4], bytes[5]];
        let parent = [bytes[6], bytes[7]];
        let (extent_lba, parent_directory_number) = match table {
            PathTableType::L => (u32::from_le_bytes(lba), u16::from_le_bytes(parent)),
            PathTableType::M => (u32::from_be_bytes(lba), u16::from_be_bytes(parent)),
        };
        PathTableRecord {
            identifier_length_bytes: bytes[0],
            extended_attribute_sectors: bytes[1],
            extent_lba,
            parent_directory_number,
        }
    }
}

/// Length of a record with an identifier of `identifier_len` bytes.
pub(crate) fn record_len(identifier_len: usize) -> usize {
    PathTableRecord::SIZE + identifier_len + identifier_len % 2
}

/// Appends one record (its identifier length field set from `identifier`).
pub(crate) fn encode_record(
    record: PathTableRecord,
    identifier: &[u8],
    table: PathTableType,
    out: &mut Vec<u8>,
) {
    let record = PathTableRecord {
        identifier_length_bytes: u8::try_from(identifier.len()).unwrap_or(u8::MAX),
        ..record
    };
    let mut fixed = [0u8; PathTableRecord::SIZE];
    record.encode(table, &mut fixed);
    out.extend_from_slice(&fixed);
    out.extend_from_slice(identifier);
    if identifier.len() % 2 == 1 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_types_round_trip() {
        assert_eq!(PathTableRecord::SIZE, 8);
        let record = PathTableRecord {
            identifier_length_bytes: 0,
            extended_attribute_sectors: 0,
            extent_lba: 0x0102_0304,
            parent_directory_number: 0x0506,
        };
        let mut l = Vec::new();
        encode_record(record, b"ETC", PathTableType::L, &mut l);
        assert_eq!(l, b"\x03\x00\x04\x03\x02\x01\x06\x05ETC\x00");
        let mut m = Vec::new();
        encode_record(record, b"ETC", PathTableType::M, &mut m);
        assert_eq!(m, b"\x03\x00\x01\x02\x03\x04\x05\x06ETC\x00");
        assert_eq!(record_len(3), 12);
        assert_eq!(record_len(1), 10);
        let expected = PathTableRecord { identifier_length_bytes: 3, ..record };
        let fixed: [u8; 8] = m[..8].try_into().unwrap();
        assert_eq!(PathTableRecord::decode(PathTableType::M, &fixed), expected);
        let fixed: [u8; 8] = l[..8].try_into().unwrap();
        assert_eq!(PathTableRecord::decode(PathTableType::L, &fixed), expected);
    }
}
