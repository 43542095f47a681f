//! The header section of a VHDX (MS-VHDX §2.2): the file type identifier, the two headers and
//! the two region tables, all little-endian, GUIDs in Windows byte order.

use crate::crc32c::crc32c_standard;
use crate::gpt::Guid;

/// File type identifier `Signature`.
pub const FILE_SIGNATURE: [u8; 8] = *b"vhdxfile";
/// Header `Signature` "head".
pub const HEADER_SIGNATURE: [u8; 4] = *b"head";
/// Region table `Signature` "regi".
pub const REGION_SIGNATURE: [u8; 4] = *b"regi";
/// Header `Version`.
pub const VERSION: u16 = 1;
/// BAT region GUID.
pub const BAT_GUID: Guid = Guid::from_fields(
    0x2DC2_7766,
    0xF623,
    0x4200,
    [0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08],
);
/// Metadata region GUID.
pub const METADATA_GUID: Guid = Guid::from_fields(
    0x8B7C_A206,
    0x4790,
    0x4B9A,
    [0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E],
);

fn guid_at(bytes: &[u8], at: usize) -> Guid {
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&bytes[at..at + 16]);
    Guid::from_disk_bytes(&raw)
}

pub(crate) fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32_at(bytes, at)) | (u64::from(u32_at(bytes, at + 4)) << 32)
}

/// The file type identifier at byte 0 (§2.2.1); its 64 KiB hold 520 meaningful bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentifier {
    /// `Signature`: "vhdxfile".
    pub signature: [u8; 8],
    /// `Creator`: UTF-16LE, at most 256 code units, zero-padded.
    pub creator: String,
}

impl FileIdentifier {
    /// Encoded size.
    pub const SIZE: usize = 520;

    /// Encodes (a creator longer than 256 UTF-16 units is cut).
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..8].copy_from_slice(&self.signature);
        for (slot, unit) in out[8..].chunks_exact_mut(2).zip(self.creator.encode_utf16()) {
            slot.copy_from_slice(&unit.to_le_bytes());
        }
    }

    /// Decodes (the creator up to its first NUL).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> FileIdentifier {
        let mut signature = [0u8; 8];
        signature.copy_from_slice(&bytes[0..8]);
        let units: Vec<u16> = bytes[8..]
            .chunks_exact(2)
            .map(|u| u16::from_le_bytes([u[0], u[1]]))
            .take_while(|u| *u != 0)
            .collect();
        FileIdentifier { signature, creator: String::from_utf16_lossy(&units) }
    }
}

/// A header (§2.2.2): two copies at 64 KiB and 128 KiB; the valid one with the larger
/// `SequenceNumber` is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `Signature`: "head".
    pub signature: [u8; 4],
    /// `Checksum`: CRC-32C of the 4 KiB header with this field zero.
    pub checksum: u32,
    /// `SequenceNumber`.
    pub sequence_number: u64,
    /// `FileWriteGuid`: changes when the file is first written after opening.
    pub file_write_guid: Guid,
    /// `DataWriteGuid`: changes when the guest data is first written after opening.
    pub data_write_guid: Guid,
    /// `LogGuid`: zero when the log is empty.
    pub log_guid: Guid,
    /// `LogVersion`: 0.
    pub log_version: u16,
    /// `Version`: 1.
    pub version: u16,
    /// `LogLength` in bytes (a multiple of 1 MiB).
    pub log_length_bytes: u32,
    /// `LogOffset` in bytes (a multiple of 1 MiB).
    pub log_offset_bytes: u64,
}

impl Header {
    /// Encoded size.
    pub const SIZE: usize = 4096;

    /// Encodes (checksum as stored in `self`).
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..4].copy_from_slice(&self.signature);
        out[4..8].copy_from_slice(&self.checksum.to_le_bytes());
        out[8..16].copy_from_slice(&self.sequence_number.to_le_bytes());
        out[16..32].copy_from_slice(&self.file_write_guid.to_disk_bytes());
        out[32..48].copy_from_slice(&self.data_write_guid.to_disk_bytes());
        out[48..64].copy_from_slice(&self.log_guid.to_disk_bytes());
        out[64..66].copy_from_slice(&self.log_version.to_le_bytes());
        out[66..68].copy_from_slice(&self.version.to_le_bytes());
        out[68..72].copy_from_slice(&self.log_length_bytes.to_le_bytes());
        out[72..80].copy_from_slice(&self.log_offset_bytes.to_le_bytes());
    }

    /// The header with its checksum computed.
    pub fn with_checksum(mut self) -> Header {
        self.checksum = 0;
        let mut bytes = [0u8; Self::SIZE];
        self.encode(&mut bytes);
        self.checksum = crc32c_standard(&bytes);
        self
    }

    /// Decodes (no check).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> Header {
        let mut signature = [0u8; 4];
        signature.copy_from_slice(&bytes[0..4]);
        Header {
            signature,
            checksum: u32_at(bytes, 4),
            sequence_number: u64_at(bytes, 8),
            file_write_guid: guid_at(bytes, 16),
            data_write_guid: guid_at(bytes, 32),
            log_guid: guid_at(bytes, 48),
            log_version: u16_at(bytes, 64),
            version: u16_at(bytes, 66),
            log_length_bytes: u32_at(bytes, 68),
            log_offset_bytes: u64_at(bytes, 72),
        }
    }

    /// The CRC-32C of `bytes` with the checksum field zeroed.
    pub fn compute_checksum(bytes: &[u8; Self::SIZE]) -> u32 {
        let mut copy = *bytes;
        copy[4..8].fill(0);
        crc32c_standard(&copy)
    }
}

/// A region table entry (§2.2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionEntry {
    /// `Guid`: which region.
    pub guid: Guid,
    /// `FileOffset` in bytes (a multiple of 1 MiB).
    pub file_offset_bytes: u64,
    /// `Length` in bytes (a multiple of 1 MiB).
    pub length_bytes: u32,
    /// `Required`: a reader that does not know the region must refuse the file.
    pub required: bool,
}

impl RegionEntry {
    /// Encoded size.
    pub const SIZE: usize = 32;

    /// Encodes.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..16].copy_from_slice(&self.guid.to_disk_bytes());
        out[16..24].copy_from_slice(&self.file_offset_bytes.to_le_bytes());
        out[24..28].copy_from_slice(&self.length_bytes.to_le_bytes());
        out[28..32].copy_from_slice(&u32::from(self.required).to_le_bytes());
    }

    /// Decodes.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> RegionEntry {
        RegionEntry {
            guid: guid_at(bytes, 0),
            file_offset_bytes: u64_at(bytes, 16),
            length_bytes: u32_at(bytes, 24),
            required: u32_at(bytes, 28) & 1 == 1,
        }
    }
}

/// A region table (§2.2.3): 64 KiB, two copies at 192 KiB and 256 KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionTable {
    /// `Signature`: "regi".
    pub signature: [u8; 4],
    /// `Checksum`: CRC-32C of the 64 KiB table with this field zero.
    pub checksum: u32,
    /// The entries (`EntryCount` of them, at most 2047).
    pub entries: Vec<RegionEntry>,
}

impl RegionTable {
    /// Encoded size.
    pub const SIZE: usize = 64 * 1024;
    /// Most entries.
    pub const MAX_ENTRIES: usize = 2047;

    /// Encodes (at most [`Self::MAX_ENTRIES`] entries; checksum as stored in `self`).
    pub fn encode(&self, out: &mut [u8]) {
        out.fill(0);
        out[0..4].copy_from_slice(&self.signature);
        out[4..8].copy_from_slice(&self.checksum.to_le_bytes());
        let count = self.entries.len().min(Self::MAX_ENTRIES);
        out[8..12].copy_from_slice(&u32::try_from(count).unwrap_or(0).to_le_bytes());
        for (slot, entry) in
            out[16..].chunks_exact_mut(RegionEntry::SIZE).zip(&self.entries[..count])
        {
            let mut bytes = [0u8; RegionEntry::SIZE];
            entry.encode(&mut bytes);
            slot.copy_from_slice(&bytes);
        }
    }

    /// The table with its checksum computed.
    pub fn with_checksum(mut self) -> RegionTable {
        self.checksum = 0;
        let mut bytes = vec![0u8; Self::SIZE];
        self.encode(&mut bytes);
        self.checksum = crc32c_standard(&bytes);
        self
    }

    /// Decodes `bytes` (64 KiB), entry count bounded by [`Self::MAX_ENTRIES`]; `None` when
    /// shorter than 64 KiB.
    pub fn decode(bytes: &[u8]) -> Option<RegionTable> {
        if bytes.len() < Self::SIZE {
            return None;
        }
        let mut signature = [0u8; 4];
        signature.copy_from_slice(&bytes[0..4]);
        let count = usize::try_from(u32_at(bytes, 8)).unwrap_or(usize::MAX).min(Self::MAX_ENTRIES);
        let entries = bytes[16..Self::SIZE]
            .chunks_exact(RegionEntry::SIZE)
            .take(count)
            .map(|raw| {
                let mut entry = [0u8; RegionEntry::SIZE];
                entry.copy_from_slice(raw);
                RegionEntry::decode(&entry)
            })
            .collect();
        Some(RegionTable { signature, checksum: u32_at(bytes, 4), entries })
    }

    /// The CRC-32C of the 64 KiB `bytes` with the checksum field zeroed.
    pub fn compute_checksum(bytes: &[u8]) -> u32 {
        let mut copy = bytes[..Self::SIZE.min(bytes.len())].to_vec();
        copy[4..8].fill(0);
        crc32c_standard(&copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_identifier_round_trip() {
        assert_eq!(FileIdentifier::SIZE, 520);
        let id = FileIdentifier { signature: FILE_SIGNATURE, creator: "kit ü".to_owned() };
        let mut bytes = [0u8; FileIdentifier::SIZE];
        id.encode(&mut bytes);
        assert_eq!(&bytes[..10], b"vhdxfilek\0");
        assert_eq!(FileIdentifier::decode(&bytes), id);
    }

    #[test]
    fn header_round_trip_and_checksum() {
        assert_eq!(Header::SIZE, 4096);
        let header = Header {
            signature: HEADER_SIGNATURE,
            checksum: 0,
            sequence_number: 7,
            file_write_guid: Guid::derive(b"s", "f"),
            data_write_guid: Guid::derive(b"s", "d"),
            log_guid: Guid::ZERO,
            log_version: 0,
            version: VERSION,
            log_length_bytes: 1 << 20,
            log_offset_bytes: 1 << 20,
        }
        .with_checksum();
        let mut bytes = [0u8; Header::SIZE];
        header.encode(&mut bytes);
        assert_eq!(Header::decode(&bytes), header);
        assert_eq!(Header::compute_checksum(&bytes), header.checksum);
    }

    #[test]
    fn region_table_round_trip_and_checksum() {
        assert_eq!(RegionEntry::SIZE, 32);
        let table = RegionTable {
            signature: REGION_SIGNATURE,
            checksum: 0,
            entries: vec![
                RegionEntry {
                    guid: BAT_GUID,
                    file_offset_bytes: 3 << 20,
                    length_bytes: 1 << 20,
                    required: true,
                },
                RegionEntry {
                    guid: METADATA_GUID,
                    file_offset_bytes: 2 << 20,
                    length_bytes: 1 << 20,
                    required: true,
                },
            ],
        }
        .with_checksum();
        let mut bytes = vec![0u8; RegionTable::SIZE];
        table.encode(&mut bytes);
        assert_eq!(RegionTable::decode(&bytes), Some(table.clone()));
        assert_eq!(RegionTable::compute_checksum(&bytes), table.checksum);
        // The GUID in Windows byte order.
        assert_eq!(&bytes[16..20], &[0x66, 0x77, 0xC2, 0x2D]);
    }
}
