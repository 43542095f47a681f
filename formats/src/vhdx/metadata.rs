//! The metadata region (MS-VHDX §2.6): a table of entries (at the region's start) pointing at
//! items (from 64 KiB on), little-endian.

use crate::gpt::Guid;
use crate::vhdx::header::{u16_at, u32_at};

/// Metadata table `Signature`.
pub const SIGNATURE: [u8; 8] = *b"metadata";
/// File Parameters item (§2.6.2.1).
pub const FILE_PARAMETERS: Guid = Guid::from_fields(
    0xCAA1_6737,
    0xFA36,
    0x4D43,
    [0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B],
);
/// Virtual Disk Size item (§2.6.2.2).
pub const VIRTUAL_DISK_SIZE: Guid = Guid::from_fields(
    0x2FA5_4224,
    0xCD1B,
    0x4876,
    [0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8],
);
/// Virtual Disk ID item, the SCSI page 83 identifier (§2.6.2.3).
pub const PAGE_83_DATA: Guid = Guid::from_fields(
    0xBECA_12AB,
    0xB2E6,
    0x4523,
    [0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46],
);
/// Logical Sector Size item (§2.6.2.4).
pub const LOGICAL_SECTOR_SIZE: Guid = Guid::from_fields(
    0x8141_BF1D,
    0xA96F,
    0x4709,
    [0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F],
);
/// Physical Sector Size item (§2.6.2.5).
pub const PHYSICAL_SECTOR_SIZE: Guid = Guid::from_fields(
    0xCDA3_48C7,
    0x445D,
    0x4471,
    [0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56],
);
/// Parent Locator item (differencing disks only).
pub const PARENT_LOCATOR: Guid = Guid::from_fields(
    0xA8D3_5F2D,
    0xB30B,
    0x454D,
    [0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C],
);

/// `IsUser` flag.
pub const FLAG_IS_USER: u32 = 1;
/// `IsVirtualDisk` flag.
pub const FLAG_IS_VIRTUAL_DISK: u32 = 2;
/// `IsRequired` flag.
pub const FLAG_IS_REQUIRED: u32 = 4;

/// File Parameters `LeaveBlockAllocated` flag.
pub const LEAVE_BLOCK_ALLOCATED: u32 = 1;
/// File Parameters `HasParent` flag.
pub const HAS_PARENT: u32 = 2;

/// A metadata table entry (§2.6.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataEntry {
    /// `ItemId`.
    pub item_id: Guid,
    /// `Offset` in bytes from the start of the metadata region (at least 64 KiB).
    pub offset_bytes: u32,
    /// `Length` in bytes.
    pub length_bytes: u32,
    /// `IsUser`, `IsVirtualDisk`, `IsRequired` bits.
    pub flags: u32,
}

impl MetadataEntry {
    /// Encoded size.
    pub const SIZE: usize = 32;

    /// Encodes.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..16].copy_from_slice(&self.item_id.to_disk_bytes());
        out[16..20].copy_from_slice(&self.offset_bytes.to_le_bytes());
        out[20..24].copy_from_slice(&self.length_bytes.to_le_bytes());
        out[24..28].copy_from_slice(&self.flags.to_le_bytes());
    }

    /// Decodes.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> MetadataEntry {
        let mut raw = [0u8; 16];
        raw.copy_from_slice(&bytes[0..16]);
        MetadataEntry {
            item_id: Guid::from_disk_bytes(&raw),
            offset_bytes: u32_at(bytes, 16),
            length_bytes: u32_at(bytes, 20),
            flags: u32_at(bytes, 24),
        }
    }
}

/// The metadata table (§2.6.1): 64 KiB at the start of the metadata region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTable {
    /// `Signature`: "metadata".
    pub signature: [u8; 8],
    /// The entries (`EntryCount`, at most 2047).
    pub entries: Vec<MetadataEntry>,
}

impl MetadataTable {
    /// Encoded size.
    pub const SIZE: usize = 64 * 1024;
    /// Most entries.
    pub const MAX_ENTRIES: usize = 2047;

    /// Encodes into the first 64 KiB of `out`.
    pub fn encode(&self, out: &mut [u8]) {
        out[..Self::SIZE].fill(0);
        out[0..8].copy_from_slice(&self.signature);
        let count = self.entries.len().min(Self::MAX_ENTRIES);
        out[10..12].copy_from_slice(&u16::try_from(count).unwrap_or(0).to_le_bytes());
        for (slot, entry) in
            out[32..Self::SIZE].chunks_exact_mut(MetadataEntry::SIZE).zip(&self.entries[..count])
        {
            let mut bytes = [0u8; MetadataEntry::SIZE];
            entry.encode(&mut bytes);
            slot.copy_from_slice(&bytes);
        }
    }

    /// Decodes the first 64 KiB of `bytes`; `None` when shorter.
    pub fn decode(bytes: &[u8]) -> Option<MetadataTable> {
        if bytes.len() < Self::SIZE {
            return None;
        }
        let mut signature = [0u8; 8];
        signature.copy_from_slice(&bytes[0..8]);
        let count = usize::from(u16_at(bytes, 10)).min(Self::MAX_ENTRIES);
        let entries = bytes[32..Self::SIZE]
            .chunks_exact(MetadataEntry::SIZE)
            .take(count)
            .map(|raw| {
                let mut entry = [0u8; MetadataEntry::SIZE];
                entry.copy_from_slice(raw);
                MetadataEntry::decode(&entry)
            })
            .collect();
        Some(MetadataTable { signature, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trip() {
        assert_eq!(MetadataEntry::SIZE, 32);
        let table = MetadataTable {
            signature: SIGNATURE,
            entries: vec![MetadataEntry {
                item_id: FILE_PARAMETERS,
                offset_bytes: 65536,
                length_bytes: 8,
                flags: FLAG_IS_REQUIRED,
            }],
        };
        let mut bytes = vec![0u8; MetadataTable::SIZE];
        table.encode(&mut bytes);
        assert_eq!(&bytes[0..8], b"metadata");
        assert_eq!(MetadataTable::decode(&bytes), Some(table));
        assert_eq!(&bytes[32..36], &[0x37, 0x67, 0xA1, 0xCA]);
    }
}
