//! VHDX (Hyper-V) disk images, written from an [`ExtentMap`].
//!
//! Implements MS-VHDX (version 1): the file type identifier, two headers with CRC-32C, two
//! region tables ([`header`]), the log, the metadata region ([`metadata`]) and the Block
//! Allocation Table ([`bat`]) of a dynamic (sparse) disk.
//!
//! # Writing
//!
//! [`write()`] streams a dynamic VHDX and returns the number of bytes written:
//! - bytes 0..1 MiB: the file type identifier (creator "kit"), header 1 (at 64 KiB, sequence
//!   number 1) and header 2 (at 128 KiB, sequence number 2) that differ only in the sequence
//!   number, region tables 1 and 2 (at 192 and 256 KiB) naming the BAT and metadata regions,
//!   both required;
//! - 1 MiB: an empty log of 1 MiB (`LogGuid` zero: nothing to replay);
//! - 2 MiB: the metadata region (1 MiB): the table, then from 64 KiB the items File Parameters
//!   (block size 32 MiB or 1 MiB, [`VhdxOptions::leave_block_allocated`], no parent), Virtual
//!   Disk Size (the disk's size rounded up to a logical sector), Page 83 Data (a GUID derived
//!   from the seed), Logical and Physical Sector Size (512 or 4096 each);
//! - 3 MiB: the BAT, padded to 1 MiB: payload entries with a sector bitmap entry after every
//!   chunk-ratio of them (always `SB_BLOCK_NOT_PRESENT`: there is no parent);
//!   `PAYLOAD_BLOCK_NOT_PRESENT` for blocks whose extents are all zeros (never read),
//!   `PAYLOAD_BLOCK_FULLY_PRESENT` and the block's offset in MiB for the others;
//! - then each present block, whole (the last one padded with zeros), in disk order.
//!
//! `FileWriteGuid`, `DataWriteGuid` and Page 83 Data are derived from [`VhdxOptions::seed`]
//! ([`Guid::derive`](crate::gpt::Guid::derive), version-4 bits set). VHDX has no timestamps.
//!
//! # Reading
//!
//! [`read_to`] checks the file signature, takes the valid header (signature, CRC-32C, version)
//! with the higher sequence number, refuses a non-empty log, takes the first valid region
//! table, refuses unknown required regions and metadata items, reads the five items and checks
//! them, then writes `VirtualDiskSize` bytes: blocks not present, undefined, zero or unmapped
//! as zeros, fully present blocks from the file. [`summary`] describes the image.
//!
//! # Not supported
//!
//! - Differencing disks (parent locator, partially present blocks, sector bitmaps).
//! - Replaying the log: an image whose `LogGuid` is not zero (not closed cleanly) is refused.
//! - Writing fixed VHDX (every block present) or block sizes other than 1 and 32 MiB.
//! - Blocks that hold only zeros from literal or file extents are still written.

pub mod bat;
pub mod header;
pub mod metadata;
mod plan;
mod read;
#[cfg(test)]
mod tests;
mod write;

use std::io;

use crate::gpt::SectorSize;
pub use crate::vhdx::plan::{Layout, MAX_SIZE_BYTES, plan};
pub use crate::vhdx::read::{read_to, summary};
pub use crate::vhdx::write::{CREATOR, to_vec, write};

#[cfg(doc)]
use crate::extent::ExtentMap;

/// The payload block size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSize {
    /// 1 MiB: finer sparseness, a larger BAT.
    Mib1,
    /// 32 MiB: Hyper-V's default for dynamic disks.
    Mib32,
}

/// Choices that change the bytes of the image. No `Default`: the caller decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdxOptions {
    /// Payload block size.
    pub block_size: BlockSize,
    /// Logical sector size the guest sees.
    pub logical_sector_size: SectorSize,
    /// Physical sector size the guest sees.
    pub physical_sector_size: SectorSize,
    /// File Parameters `LeaveBlockAllocated` (a hint for fixed-like use; usually false).
    pub leave_block_allocated: bool,
    /// Seed of the GUIDs (for example a digest of the disk's inputs).
    pub seed: Vec<u8>,
}

/// Errors writing or reading a VHDX.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A content extent of the disk could not be read as announced.
    #[error(transparent)]
    Content(#[from] crate::copy::ContentError),
    /// The output failed.
    #[error("writing the VHDX at byte {offset}: {source}")]
    Write {
        /// Offset in the image.
        offset: u64,
        /// The writer's error.
        source: io::Error,
    },
    /// The disk is too large for a VHDX.
    #[error("disk of {size_bytes} bytes is larger than VHDX allows ({max_bytes} bytes)")]
    TooLarge {
        /// The virtual size.
        size_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// Reading the image failed.
    #[error("reading {what} of the VHDX: {source}")]
    Read {
        /// What was being read.
        what: String,
        /// The reader's error.
        source: io::Error,
    },
    /// The image is not a VHDX kit can read.
    #[error("not a readable VHDX: {what}")]
    Invalid {
        /// What is wrong.
        what: String,
    },
}
