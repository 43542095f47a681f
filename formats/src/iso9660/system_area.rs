//! The hybrid system area: sectors 0-15 (32 KiB) of a bootable image hold an MBR, and
//! optionally a GPT, whose EFI System partition is the El Torito EFI image, a file of the ISO
//! tree, so the same image boots from a USB stick under UEFI. Addresses are in 512-byte blocks.
//! The structures are [`crate::gpt`]'s; only the layout differs from a GPT disk (no 1 MiB
//! alignment: the partition lies where the ISO put the file).
//!
//! - [`Hybrid::Mbr`]: one MBR record of type 0xEF over the image's blocks, as
//!   `xorriso -as mkisofs -append_partition 2 0xef` records an ESP (there after the volume);
//!   no 0x00 record over the whole ISO, which would overlap it (fdisk and sgdisk complain about
//!   xorriso's `-isohybrid-mbr`).
//! - [`Hybrid::Gpt`]: a protective MBR (one 0xEE record from block 1 to the end, at most
//!   2^32 - 1 blocks), the GPT header at block 1, the 128-entry array at blocks 2-33 (so
//!   `FirstUsableLBA` is 34), one "EFI System" partition over the image, and the backup array
//!   and header in the last 33 blocks of the volume (inside the 150 sectors of zero padding).
//!   This is UEFI 2.10 §5.3 and what `sgdisk -v` accepts, where xorriso's
//!   `-isohybrid-gpt-basdat` overlaps its entries with the ISO and with each other.

use crate::gpt::entry::{PartitionEntry, encode_name};
use crate::gpt::header::{GptHeader, crc32};
use crate::gpt::mbr::{MBR_SIGNATURE, Mbr, MbrPartitionRecord, OS_TYPE_GPT_PROTECTIVE};
use crate::gpt::{Guid, Layout, PlannedPartition};
use crate::iso9660::plan::{PADDING_SECTORS, SECTOR_BYTES, SYSTEM_AREA_SECTORS};
use crate::iso9660::{Error, Hybrid};

use crate::dump::display_path;

/// Bytes of a block of the MBR and GPT.
const BLOCK_BYTES: u64 = 512;
/// MBR OS type of an EFI System partition.
pub(crate) const OS_TYPE_EFI: u8 = 0xEF;
/// GPT name of the EFI image's partition.
pub(crate) const ESP_NAME: &str = "EFI boot image";
/// Blocks of a 128-entry array of 128-byte entries.
const ARRAY_BLOCKS: u64 = 32;

/// The bytes of a hybrid system area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SystemArea {
    /// Sectors 0-15.
    pub(crate) head: Vec<u8>,
    /// The last bytes of the volume (the backup GPT), empty without GPT.
    pub(crate) tail: Vec<u8>,
}

/// Plans the system area for an EFI image at sector `esp_lba` of `esp_bytes` bytes in a
/// volume of `volume_sectors` sectors. `seed` derives the GUIDs and the MBR disk signature.
pub(crate) fn plan(
    hybrid: Hybrid,
    seed: &[u8],
    esp_path: &[u8],
    esp_lba: u32,
    esp_bytes: u64,
    volume_sectors: u32,
) -> Result<SystemArea, Error> {
    let per_sector = SECTOR_BYTES / BLOCK_BYTES;
    let total_blocks = u64::from(volume_sectors) * per_sector;
    let first = u64::from(esp_lba) * per_sector;
    let blocks = esp_bytes.div_ceil(BLOCK_BYTES);
    let too_far = || Error::Boot {
        path: display_path(esp_path),
        problem: format!(
            "lies at 512-byte blocks {first} + {blocks}, an MBR addresses at most 2^32 - 1"
        ),
    };
    let (Ok(first32), Ok(blocks32)) = (u32::try_from(first), u32::try_from(blocks)) else {
        return Err(too_far());
    };
    if u64::from(first32) + u64::from(blocks32) > u64::from(u32::MAX) {
        return Err(too_far());
    }
    let head_bytes = usize::try_from(u64::from(SYSTEM_AREA_SECTORS) * SECTOR_BYTES).unwrap_or(0);
    let mut head = vec![0u8; head_bytes];
    let mut records = [MbrPartitionRecord::default(); 4];
    match hybrid {
        Hybrid::None => Ok(SystemArea { head, tail: Vec::new() }),
        Hybrid::Mbr => {
            records[0] = MbrPartitionRecord::new(0, OS_TYPE_EFI, first32, blocks32);
            let signature = Guid::derive(seed, "MBR disk signature").bytes();
            let mbr = Mbr {
                boot_code: [0; 440],
                unique_mbr_disk_signature: u32::from_le_bytes([
                    signature[0],
                    signature[1],
                    signature[2],
                    signature[3],
                ]),
                unknown: 0,
                partition_records: records,
                signature: MBR_SIGNATURE,
            };
            let mut bytes = [0u8; Mbr::SIZE];
            mbr.encode(&mut bytes);
            head[..Mbr::SIZE].copy_from_slice(&bytes);
            Ok(SystemArea { head, tail: Vec::new() })
        }
        Hybrid::Gpt => {
            // The backup array and header must fit in the padding.
            debug_assert!(u64::from(PADDING_SECTORS) * per_sector > ARRAY_BLOCKS + 1);
            let protected = u32::try_from(total_blocks - 1).unwrap_or(u32::MAX);
            records[0] = MbrPartitionRecord::new(0, OS_TYPE_GPT_PROTECTIVE, 1, protected);
            let mbr = Mbr {
                boot_code: [0; 440],
                unique_mbr_disk_signature: 0,
                unknown: 0,
                partition_records: records,
                signature: MBR_SIGNATURE,
            };
            let partition_name = encode_name(ESP_NAME).unwrap_or([0; 36]);
            let layout = Layout {
                sector_bytes: BLOCK_BYTES,
                disk_bytes: total_blocks * BLOCK_BYTES,
                disk_guid: Guid::derive(seed, "ISO GPT disk"),
                first_usable_lba: 2 + ARRAY_BLOCKS,
                last_usable_lba: total_blocks - 2 - ARRAY_BLOCKS,
                primary_entries_lba: 2,
                backup_entries_lba: total_blocks - 1 - ARRAY_BLOCKS,
                backup_header_lba: total_blocks - 1,
                partitions: vec![PlannedPartition {
                    number: 1,
                    name: ESP_NAME.to_owned(),
                    entry: PartitionEntry {
                        partition_type_guid: Guid::EFI_SYSTEM,
                        unique_partition_guid: Guid::derive(seed, "ISO GPT EFI image"),
                        starting_lba: first,
                        ending_lba: first + blocks - 1,
                        attributes: 0,
                        partition_name,
                    },
                }],
                mbr,
            };
            let array = layout.entry_array();
            let array_crc = crc32(&array);
            let mut bytes = [0u8; Mbr::SIZE];
            layout.mbr.encode(&mut bytes);
            head[..Mbr::SIZE].copy_from_slice(&bytes);
            let mut header = [0u8; GptHeader::SIZE];
            layout.header(false, array_crc).encode(&mut header);
            head[512..512 + GptHeader::SIZE].copy_from_slice(&header);
            head[1024..1024 + array.len()].copy_from_slice(&array);
            let mut tail = array;
            tail.resize(tail.len() + 512, 0);
            layout.header(true, array_crc).encode(&mut header);
            let at = tail.len() - 512;
            tail[at..at + GptHeader::SIZE].copy_from_slice(&header);
            Ok(SystemArea { head, tail })
        }
    }
}
