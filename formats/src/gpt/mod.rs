//! GUID Partition Table disks: planning, writing as an [`ExtentMap`], and reading back.
//!
//! Implements UEFI 2.10 chapter 5: the protective MBR in LBA 0 (§5.2.3, see [`mbr`]), the GPT
//! header (§5.3.2, see [`header`]) at LBA 1 and its backup at the last LBA, and the partition
//! entry array (§5.3.3, see [`entry`]) after the primary header and before the backup header.
//!
//! # Writing
//!
//! [`plan()`] is pure and computes every LBA from a [`GptOptions`] and a list of
//! [`PartitionSpec`]s:
//! - logical blocks of 512 bytes, or 4096 ([`SectorSize`]);
//! - 128 entries of 128 bytes (16 KiB): the primary array at LBA 2, the backup array just before
//!   the backup header; `FirstUsableLBA` follows the primary array, `LastUsableLBA` precedes
//!   the backup array;
//! - partitions in the given order, numbered from 1, the first at 1 MiB, each starting on a
//!   1 MiB boundary, each size rounded up to a multiple of 1 MiB ([`PartitionSize::Fill`] takes
//!   the rest of a given disk, rounded down to 1 MiB);
//! - a disk of the given size, or the smallest multiple of 1 MiB that holds the partitions and
//!   the backup table;
//! - GUIDs chosen by the caller (derive them from content with [`Guid::derive`]);
//! - a protective MBR: one 0xEE record from LBA 1 over the whole disk (at most 0xFFFFFFFF
//!   blocks), CHS as sgdisk writes it, disk signature 0. [`MbrOptions`] can fill the 440 bytes
//!   of boot code and add up to 3 records for a hybrid MBR (ISO hybrids): the 0xEE record then
//!   covers only the GPT structures before `FirstUsableLBA`, as gdisk's hybrid MBRs do.
//!
//! [`write()`] then lays out the whole disk as an [`ExtentMap`] (MBR, headers, arrays, each
//! partition's content, zero gaps) that a raw, qcow2 or VHD writer streams, skipping zero runs.
//! Same inputs, same bytes.
//!
//! # Reading
//!
//! [`read()`] finds the primary header (512- or 4096-byte blocks), checks the signature,
//! `HeaderSize`, both CRC32s, `MyLBA`, the entry array's place, then the backup header and
//! array at `AlternateLBA` and that both describe the same disk, and lists the used entries.
//! [`summary()`] describes the disk for `kit inspect`.
//!
//! # Not supported
//!
//! - Entry arrays of other than 128 entries of 128 bytes (read: any count and size up to
//!   4 MiB); partitions in another order than given; alignment other than 1 MiB.
//! - Repairing a damaged table: the reader reports the first problem.
//! - MBR-only (non-GPT) disks and extended partitions.

pub mod entry;
pub mod guid;
pub mod header;
pub mod mbr;
mod plan;
mod read;
mod write;

use std::io;
use std::sync::Arc;

pub use crate::gpt::entry::NameError;
pub use crate::gpt::guid::Guid;
pub use crate::gpt::header::GptHeaderError;
pub use crate::gpt::plan::{Layout, PlannedPartition, plan};
pub use crate::gpt::read::{Disk, Partition, read, summary};
pub use crate::gpt::write::write;

#[cfg(doc)]
use crate::extent::ExtentMap;

/// The alignment of every partition's start and size: 1 MiB.
pub const ALIGNMENT_BYTES: u64 = 1 << 20;
/// Number of entries in the partition entry arrays kit writes.
pub const NUMBER_OF_ENTRIES: u32 = 128;

/// The logical block size of the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectorSize {
    /// 512-byte blocks (every virtual disk format and most disks).
    Bytes512,
    /// 4096-byte blocks (4Kn disks).
    Bytes4096,
}

impl SectorSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            SectorSize::Bytes512 => 512,
            SectorSize::Bytes4096 => 4096,
        }
    }
}

/// The size of the whole disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskSize {
    /// The smallest multiple of 1 MiB that holds the partitions and the backup table.
    Minimum,
    /// Exactly this many bytes (a multiple of the sector size).
    Bytes(u64),
}

/// The size of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionSize {
    /// At least this many bytes, rounded up to a multiple of 1 MiB.
    Bytes(u64),
    /// The rest of the disk, rounded down to a multiple of 1 MiB: only for the last partition
    /// of a disk of a given size.
    Fill,
}

/// Choices that change the bytes of the disk. No `Default`: the caller decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptOptions {
    /// Logical block size.
    pub sector_size: SectorSize,
    /// Total size.
    pub disk_size: DiskSize,
    /// `DiskGUID` of both headers.
    pub disk_guid: Guid,
    /// The contents of LBA 0 besides the protective record.
    pub mbr: MbrOptions,
}

/// LBA 0 beyond the protective 0xEE record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbrOptions {
    /// Legacy BIOS boot code, at most 440 bytes, zero-padded (for example isohybrid's or
    /// syslinux's `gptmbr.bin`).
    pub boot_code: Arc<[u8]>,
    /// `UniqueMBRDiskSignature` (0 in a plain protective MBR).
    pub disk_signature: u32,
    /// Up to 3 records after the 0xEE record, for a hybrid MBR.
    pub extra_records: Vec<MbrRecordSpec>,
}

impl MbrOptions {
    /// A plain protective MBR: no boot code, signature 0, no other record (UEFI 2.10 §5.2.3).
    pub fn protective() -> MbrOptions {
        MbrOptions { boot_code: Arc::from(&[][..]), disk_signature: 0, extra_records: Vec::new() }
    }
}

/// One record of a hybrid MBR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrRecordSpec {
    /// Sets `BootIndicator` to 0x80.
    pub bootable: bool,
    /// `OSType` (for example 0x00 for an ISO image, 0xEF for an EFI System partition, 0x83
    /// for Linux).
    pub os_type: u8,
    /// First LBA (must fit 32 bits).
    pub first_lba: u64,
    /// Number of blocks (must fit 32 bits).
    pub size_lbas: u64,
}

/// One partition to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    /// `PartitionName` (at most 36 UTF-16 code units); errors name the partition by it.
    pub name: String,
    /// `PartitionTypeGUID` (not zero).
    pub type_guid: Guid,
    /// `UniquePartitionGUID`.
    pub partition_guid: Guid,
    /// Size.
    pub size: PartitionSize,
    /// `Attributes`, for example [`entry::ATTR_LEGACY_BIOS_BOOTABLE`].
    pub attributes: u64,
}

/// Errors planning, writing or reading a GPT disk. Each names the partition, header or field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A partition's content could not be read as announced.
    #[error(transparent)]
    Content(#[from] crate::copy::ContentError),
    /// A partition name cannot be stored.
    #[error("name of partition {number} ({name:?}) {source}")]
    Name {
        /// The partition's number (from 1).
        number: usize,
        /// The name.
        name: String,
        /// What is wrong with it.
        source: NameError,
    },
    /// More partitions than entries.
    #[error("{count} partitions given, the entry array holds at most {max}")]
    TooManyPartitions {
        /// Partitions given.
        count: usize,
        /// Entries available.
        max: u32,
    },
    /// A partition with the zero type GUID would be an unused entry.
    #[error("partition {name} has the zero type GUID, which marks an unused entry")]
    ZeroType {
        /// The partition.
        name: String,
    },
    /// Two partitions share a unique GUID.
    #[error("partitions {first} and {second} have the same unique GUID {guid}")]
    DuplicateGuid {
        /// The first partition.
        first: String,
        /// The second partition.
        second: String,
        /// The GUID.
        guid: Guid,
    },
    /// A partition of size 0.
    #[error("partition {name} has size 0, expected at least 1 byte")]
    EmptyPartition {
        /// The partition.
        name: String,
    },
    /// [`PartitionSize::Fill`] used where it cannot be.
    #[error("partition {name} fills the rest of the disk: {problem}")]
    Fill {
        /// The partition.
        name: String,
        /// Why that is not possible.
        problem: &'static str,
    },
    /// The given disk size is not a whole number of blocks.
    #[error(
        "disk size is {size_bytes} bytes, expected a multiple of the {sector_bytes}-byte sector size"
    )]
    DiskSizeUnaligned {
        /// The size given.
        size_bytes: u64,
        /// The sector size.
        sector_bytes: u64,
    },
    /// The given disk is too small for its GPT structures.
    #[error("disk of {} is too small for GPT, expected at least {}", size(*.size_bytes), size(*.min_bytes))]
    DiskTooSmall {
        /// The size given.
        size_bytes: u64,
        /// The smallest disk that holds the tables and one aligned block.
        min_bytes: u64,
    },
    /// A partition does not fit in the disk.
    #[error("partition {name} is {}, the disk of {} leaves {} for it", size(*.size_bytes), size(*.disk_bytes), size(*.available_bytes))]
    PartitionDoesNotFit {
        /// The partition.
        name: String,
        /// Its size, rounded up to 1 MiB.
        size_bytes: u64,
        /// The disk's size.
        disk_bytes: u64,
        /// The aligned space left at its start.
        available_bytes: u64,
    },
    /// Sizes overflow 64 bits.
    #[error("partition {name} ends beyond 2^64 bytes")]
    Overflow {
        /// The partition.
        name: String,
    },
    /// The MBR options cannot be written.
    #[error("MBR: {problem}")]
    Mbr {
        /// What is wrong.
        problem: String,
    },
    /// [`write()`] got a different number of contents than the layout has partitions.
    #[error("{found} partition contents given, the layout has {expected} partitions")]
    ContentCount {
        /// Partitions in the layout.
        expected: usize,
        /// Contents given.
        found: usize,
    },
    /// A partition's content is larger than its slot.
    #[error("content of partition {name} is {}, its slot is {}", size(*.content_bytes), size(*.slot_bytes))]
    ContentTooLarge {
        /// The partition.
        name: String,
        /// The content's length.
        content_bytes: u64,
        /// The partition's size.
        slot_bytes: u64,
    },
    /// Reading the disk failed.
    #[error("reading the disk at byte {offset}: {source}")]
    ReadInput {
        /// Where.
        offset: u64,
        /// The reader's error.
        source: io::Error,
    },
    /// The disk has no GPT.
    #[error("not a GPT disk: {reason}")]
    NotGpt {
        /// Why.
        reason: String,
    },
    /// A header does not decode or its CRC does not match.
    #[error("{which} GPT header at LBA {lba}: {source}")]
    Header {
        /// `primary` or `backup`.
        which: &'static str,
        /// Where it was read.
        lba: u64,
        /// The problem.
        source: GptHeaderError,
    },
    /// A header field is out of range or disagrees with the other header.
    #[error("{which} GPT header: {field} is {found}, expected {expected}")]
    HeaderField {
        /// `primary` or `backup`.
        which: &'static str,
        /// The spec's field name.
        field: &'static str,
        /// The value found.
        found: String,
        /// What it should be.
        expected: String,
    },
    /// An entry array's CRC32 does not match its header.
    #[error(
        "{which} partition entry array at LBA {lba}: CRC32 is {computed:#010x}, the header says {stored:#010x}"
    )]
    EntryArrayCrc {
        /// `primary` or `backup`.
        which: &'static str,
        /// Where the array starts.
        lba: u64,
        /// The header's value.
        stored: u32,
        /// The computed value.
        computed: u32,
    },
    /// A used entry is out of range or overlaps another.
    #[error("partition {number}: {problem}")]
    Entry {
        /// The entry's number (from 1).
        number: usize,
        /// What is wrong.
        problem: String,
    },
}

/// Formats a byte count for messages: `N MiB` when whole, else bytes.
pub(crate) fn size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests;
