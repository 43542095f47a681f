//! The dynamic disk header: 1024 bytes after the footer copy of a dynamic or differencing VHD,
//! big-endian ("Dynamic Disk Header Format").

use crate::vhd::footer::checksum;

/// `Cookie`.
pub const COOKIE: [u8; 8] = *b"cxsparse";
/// `Header Version` 1.0.
pub const HEADER_VERSION: u32 = 0x0001_0000;
/// `Block Size` kit writes: 2 MiB, the specification's default.
pub const BLOCK_SIZE_BYTES: u32 = 2 << 20;

/// The dynamic disk header (parent fields are all zero in kit's images: no differencing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicHeader {
    /// `Cookie`: "cxsparse".
    pub cookie: [u8; 8],
    /// `Data Offset`: unused, `u64::MAX`.
    pub data_offset: u64,
    /// `Table Offset`: byte offset of the Block Allocation Table.
    pub table_offset: u64,
    /// `Header Version`.
    pub header_version: u32,
    /// `Max Table Entries`: number of BAT entries (blocks of the disk).
    pub max_table_entries: u32,
    /// `Block Size` in bytes (data only, the sector bitmap is extra).
    pub block_size_bytes: u32,
    /// `Checksum`.
    pub checksum: u32,
    /// `Parent Unique ID`.
    pub parent_unique_id: [u8; 16],
    /// `Parent Time Stamp`.
    pub parent_time_stamp: u32,
}

impl DynamicHeader {
    /// Encoded size.
    pub const SIZE: usize = 1024;

    /// Encodes the header; parent name and locators are zero.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..8].copy_from_slice(&self.cookie);
        out[8..16].copy_from_slice(&self.data_offset.to_be_bytes());
        out[16..24].copy_from_slice(&self.table_offset.to_be_bytes());
        out[24..28].copy_from_slice(&self.header_version.to_be_bytes());
        out[28..32].copy_from_slice(&self.max_table_entries.to_be_bytes());
        out[32..36].copy_from_slice(&self.block_size_bytes.to_be_bytes());
        out[36..40].copy_from_slice(&self.checksum.to_be_bytes());
        out[40..56].copy_from_slice(&self.parent_unique_id);
        out[56..60].copy_from_slice(&self.parent_time_stamp.to_be_bytes());
    }

    /// The header with its checksum computed.
    pub fn with_checksum(mut self) -> DynamicHeader {
        self.checksum = 0;
        let mut bytes = [0u8; Self::SIZE];
        self.encode(&mut bytes);
        self.checksum = checksum(&bytes, 36);
        self
    }

    /// Decodes a header (no check).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> DynamicHeader {
        let u32_at = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| (u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4));
        let mut cookie = [0u8; 8];
        cookie.copy_from_slice(&bytes[0..8]);
        let mut parent_unique_id = [0u8; 16];
        parent_unique_id.copy_from_slice(&bytes[40..56]);
        DynamicHeader {
            cookie,
            data_offset: u64_at(8),
            table_offset: u64_at(16),
            header_version: u32_at(24),
            max_table_entries: u32_at(28),
            block_size_bytes: u32_at(32),
            checksum: u32_at(36),
            parent_unique_id,
            parent_time_stamp: u32_at(56),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_size() {
        assert_eq!(DynamicHeader::SIZE, 1024);
        let header = DynamicHeader {
            cookie: COOKIE,
            data_offset: u64::MAX,
            table_offset: 1536,
            header_version: HEADER_VERSION,
            max_table_entries: 512,
            block_size_bytes: BLOCK_SIZE_BYTES,
            checksum: 0,
            parent_unique_id: [0; 16],
            parent_time_stamp: 0,
        }
        .with_checksum();
        let mut bytes = [0u8; DynamicHeader::SIZE];
        header.encode(&mut bytes);
        assert_eq!(&bytes[0..8], b"cxsparse");
        assert_eq!(DynamicHeader::decode(&bytes), header);
        assert_eq!(checksum(&bytes, 36), header.checksum);
    }
}
