//! The layout of a VHDX: fixed places for the header section, log, metadata and BAT, then one
//! payload block per block of the disk that holds data. Pure.

use crate::extent::{ExtentMap, blocks_with_data};
use crate::gpt::{Guid, SectorSize};
use crate::vhdx::bat::BatEntry;
use crate::vhdx::{BlockSize, Error, VhdxOptions};

/// 1 MiB: the VHDX alignment of regions and payload blocks.
pub const MIB: u64 = 1 << 20;
/// Log region: 1 MiB at 1 MiB (empty: `LogGuid` zero).
pub const LOG_OFFSET: u64 = MIB;
/// Log length.
pub const LOG_LENGTH: u64 = MIB;
/// Metadata region: 1 MiB at 2 MiB.
pub const METADATA_OFFSET: u64 = 2 * MIB;
/// Metadata region length.
pub const METADATA_LENGTH: u64 = MIB;
/// BAT region offset: 3 MiB.
pub const BAT_OFFSET: u64 = 3 * MIB;
/// Largest virtual disk: 64 TiB.
pub const MAX_SIZE_BYTES: u64 = 64 << 40;

/// BAT entry state `PAYLOAD_BLOCK_NOT_PRESENT` (also `SB_BLOCK_NOT_PRESENT`).
pub const PAYLOAD_BLOCK_NOT_PRESENT: u8 = 0;
/// `PAYLOAD_BLOCK_UNDEFINED`.
pub const PAYLOAD_BLOCK_UNDEFINED: u8 = 1;
/// `PAYLOAD_BLOCK_ZERO`.
pub const PAYLOAD_BLOCK_ZERO: u8 = 2;
/// `PAYLOAD_BLOCK_UNMAPPED`.
pub const PAYLOAD_BLOCK_UNMAPPED: u8 = 3;
/// `PAYLOAD_BLOCK_FULLY_PRESENT` (also `SB_BLOCK_PRESENT`).
pub const PAYLOAD_BLOCK_FULLY_PRESENT: u8 = 6;
/// `PAYLOAD_BLOCK_PARTIALLY_PRESENT`.
pub const PAYLOAD_BLOCK_PARTIALLY_PRESENT: u8 = 7;

/// Where everything goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `VirtualDiskSize`: the disk's size rounded up to a logical sector.
    pub virtual_size_bytes: u64,
    /// `BlockSize`.
    pub block_bytes: u64,
    /// Logical sector size.
    pub logical_sector_bytes: u32,
    /// Physical sector size.
    pub physical_sector_bytes: u32,
    /// Chunk ratio: payload blocks per sector bitmap block, (2^23 × logical sector) / block.
    pub chunk_ratio: u64,
    /// The BAT entries as stored (see [`BatEntry`]), payload and sector bitmap entries
    /// interleaved; 0 is `PAYLOAD_BLOCK_NOT_PRESENT` / `SB_BLOCK_NOT_PRESENT`.
    pub bat: Vec<u64>,
    /// BAT region length (a multiple of 1 MiB).
    pub bat_length_bytes: u64,
    /// Per data block: its file offset, or `None` when not present.
    pub blocks: Vec<Option<u64>>,
    /// Size of the whole file.
    pub file_bytes: u64,
    /// `FileWriteGuid`.
    pub file_write_guid: Guid,
    /// `DataWriteGuid`.
    pub data_write_guid: Guid,
    /// Page 83 data (the virtual disk id).
    pub page_83: Guid,
}

/// The BAT index of payload block `block` (§2.5: a sector bitmap entry after every
/// `chunk_ratio` payload entries).
pub fn payload_index(block: u64, chunk_ratio: u64) -> u64 {
    block + block / chunk_ratio
}

/// Number of BAT entries of a non-differencing disk of `data_blocks` blocks (§2.5.1).
pub fn bat_entries(data_blocks: u64, chunk_ratio: u64) -> u64 {
    if data_blocks == 0 { 0 } else { data_blocks + (data_blocks - 1) / chunk_ratio }
}

/// Plans the VHDX of `disk`.
pub fn plan(disk: &ExtentMap, options: &VhdxOptions) -> Result<Layout, Error> {
    let logical = options.logical_sector_size.bytes();
    let physical = options.physical_sector_size.bytes();
    let virtual_size_bytes = disk.len_bytes().div_ceil(logical) * logical;
    if virtual_size_bytes > MAX_SIZE_BYTES {
        return Err(Error::TooLarge { size_bytes: virtual_size_bytes, max_bytes: MAX_SIZE_BYTES });
    }
    let block_bytes = match options.block_size {
        BlockSize::Mib1 => MIB,
        BlockSize::Mib32 => 32 * MIB,
    };
    let chunk_ratio = ((1u64 << 23) * logical) / block_bytes;
    let data_blocks = virtual_size_bytes.div_ceil(block_bytes);
    let entries = bat_entries(data_blocks, chunk_ratio);
    let bat_length_bytes = (entries * 8).div_ceil(MIB).max(1) * MIB;
    let too_large =
        || Error::TooLarge { size_bytes: virtual_size_bytes, max_bytes: MAX_SIZE_BYTES };
    let mut bat = vec![0u64; usize::try_from(entries).map_err(|_| too_large())?];
    let mut next = BAT_OFFSET + bat_length_bytes;
    let mut blocks = Vec::new();
    for (block, used) in (0u64..).zip(blocks_with_data(disk, block_bytes, data_blocks)) {
        if !used {
            blocks.push(None);
            continue;
        }
        let index = usize::try_from(payload_index(block, chunk_ratio)).map_err(|_| too_large())?;
        if let Some(slot) = bat.get_mut(index) {
            let entry = BatEntry { state: PAYLOAD_BLOCK_FULLY_PRESENT, file_offset_mb: next / MIB };
            let mut bytes = [0u8; BatEntry::SIZE];
            entry.encode(&mut bytes);
            *slot = u64::from_le_bytes(bytes);
        }
        blocks.push(Some(next));
        next += block_bytes;
    }
    let to_u32 = |v: u64| u32::try_from(v).map_err(|_| too_large());
    Ok(Layout {
        virtual_size_bytes,
        block_bytes,
        logical_sector_bytes: to_u32(logical)?,
        physical_sector_bytes: to_u32(physical)?,
        chunk_ratio,
        bat,
        bat_length_bytes,
        blocks,
        file_bytes: next,
        file_write_guid: Guid::derive(&options.seed, "vhdx file write guid"),
        data_write_guid: Guid::derive(&options.seed, "vhdx data write guid"),
        page_83: Guid::derive(&options.seed, "vhdx page 83 data"),
    })
}

/// Chunk ratio of a logical sector size.
pub(crate) fn chunk_ratio(logical: SectorSize, block_bytes: u64) -> u64 {
    ((1u64 << 23) * logical.bytes()) / block_bytes
}
