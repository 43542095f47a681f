//! VHD (Virtual PC / Hyper-V / Azure) disk images, written from an [`ExtentMap`].
//!
//! Implements Microsoft's "Virtual Hard Disk Image Format Specification" (version 1.0, 2006):
//! the 512-byte hard disk footer ([`footer`]), the dynamic disk header ([`dynamic_header`]),
//! the Block Allocation Table ([`bat`]), and blocks of 2 MiB each preceded by its sector bitmap.
//!
//! # Writing
//!
//! [`write()`] streams the disk 1 MiB at a time and returns the number of bytes written.
//! - [`Subformat::Fixed`]: the disk's bytes then the footer (`Data Offset` all ones). This is
//!   what Azure takes, and LinuxKit's `vhd` output.
//! - [`Subformat::Dynamic`]: footer copy at byte 0, dynamic disk header at 512 (BAT at 1536),
//!   the BAT padded to a sector with `0xFFFFFFFF`, then each allocated block (sector bitmap of
//!   512 bytes, all ones, then 2 MiB of data, the last block padded with zeros) in disk order,
//!   then the footer. A block is left unallocated when the disk's extents there are all
//!   [`Extent::Zeros`](crate::extent::Extent): its bytes are not even read. LinuxKit's
//!   `dynamic-vhd`.
//! - The virtual size (`Current Size` = `Original Size`) is the disk's size rounded up to a
//!   sector, or to 1 MiB with [`VhdOptions::round_to_mib`] (Azure requires it); the padding is
//!   zeros. At most 2040 GiB.
//! - `Disk Geometry` by the specification's CHS algorithm; `Time Stamp` = the epoch option in
//!   seconds since 2000-01-01 UTC, clamped to 0..=`u32::MAX`; `Unique Id` derived from the seed
//!   ([`Guid::derive`](crate::gpt::Guid::derive), version-4 bits set); creator host OS "Wi2k",
//!   creator version 1.0, checksums as the specification defines them.
//!
//! ## Size as readers see it
//!
//! Virtual PC takes the disk size from the CHS geometry, which usually rounds it *down*;
//! Hyper-V and Azure use `Current Size`. qemu 10 (checked in the tests) uses the geometry only
//! when `Creator Application` is `vpc ` or `qemu`, `Current Size` for any other creator, so it
//! reads kit's images ([`CREATOR_KIT`]) at their exact size. qemu-img itself writes `qemu` and
//! rounds the size *up* to the geometry, or with `force_size` writes `qem2` and the exact size
//! (what Azure needs, with a whole number of MiB: [`VhdOptions::round_to_mib`]). Older qemu
//! versions used the geometry for unknown creators: [`CREATOR_QEMU_FORCE_SIZE`] is the creator
//! every qemu version sizes exactly.
//!
//! qemu probes a fixed VHD as `raw` (its probe looks for the cookie at byte 0 only, where a
//! fixed VHD has guest data): give it `-f vpc` / `format=vpc`.
//!
//! # Reading
//!
//! [`read_to`] checks the footer cookie and checksum (the last 512 bytes), for a dynamic disk
//! the header cookie, checksum, block size and BAT bounds, and writes `Current Size` bytes:
//! unallocated blocks and sectors whose bitmap bit is clear as zeros. [`summary`] describes it.
//!
//! # Not supported
//!
//! - Differencing disks (read and write); block sizes other than 2 MiB when writing.
//! - Footers of 511 bytes (very old Virtual PC images) and images whose footer copy at byte 0
//!   is the only valid one.
//! - Blocks that exist but hold only zeros from literal or file extents are still allocated.

pub mod bat;
pub mod dynamic_header;
pub mod footer;
mod plan;
mod read;
#[cfg(test)]
mod tests;
mod write;

use std::io;

pub use crate::vhd::plan::{Layout, MAX_SIZE_BYTES, VHD_EPOCH_UNIX, plan};
pub(crate) use crate::vhd::read::{ReadSeek, copy_range, zeros};
pub use crate::vhd::read::{read_to, summary};
pub use crate::vhd::write::{to_vec, write};

#[cfg(doc)]
use crate::extent::ExtentMap;

/// `Creator Application` "kit ".
pub const CREATOR_KIT: [u8; 4] = *b"kit ";
/// `Creator Application` "qem2": what `qemu-img` writes with `force_size`; readers use
/// `Current Size`.
pub const CREATOR_QEMU_FORCE_SIZE: [u8; 4] = *b"qem2";

/// Fixed or dynamic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subformat {
    /// Raw bytes then the footer.
    Fixed,
    /// Sparse: only blocks holding data are stored.
    Dynamic,
}

/// Choices that change the bytes of the image. No `Default`: the caller decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhdOptions {
    /// Fixed or dynamic.
    pub subformat: Subformat,
    /// The build epoch (Unix seconds): `Time Stamp`.
    pub epoch: i64,
    /// Seed of `Unique Id` (for example a digest of the disk's inputs).
    pub seed: Vec<u8>,
    /// `Creator Application` (see the module docs: it decides how qemu sizes the disk).
    pub creator_application: [u8; 4],
    /// Round the virtual size up to a whole MiB (Azure).
    pub round_to_mib: bool,
}

/// Errors writing or reading a VHD.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A content extent of the disk could not be read as announced.
    #[error(transparent)]
    Content(#[from] crate::copy::ContentError),
    /// The output failed.
    #[error("writing the VHD at byte {offset}: {source}")]
    Write {
        /// Offset in the image.
        offset: u64,
        /// The writer's error.
        source: io::Error,
    },
    /// The disk is too large for a VHD.
    #[error("disk of {size_bytes} bytes is larger than VHD allows ({max_bytes} bytes)")]
    TooLarge {
        /// The virtual size.
        size_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// Reading the image failed.
    #[error("reading {what} of the VHD: {source}")]
    Read {
        /// What was being read.
        what: String,
        /// The reader's error.
        source: io::Error,
    },
    /// The image is not a VHD kit can read.
    #[error("not a readable VHD: {what}")]
    Invalid {
        /// What is wrong.
        what: String,
    },
}
