//! VMDK stream-optimized sparse extents (`createType="streamOptimized"`), as VMware's "Virtual
//! Disk Format 5.0" describes them: the format of LinuxKit's `vmdk` output and of cloud image
//! imports, written from an [`ExtentMap`] in one streaming pass (no seeking).
//!
//! # Layout written
//!
//! - sector 0: the [`SparseExtentHeader`](header::SparseExtentHeader): version 3, flags
//!   newline detection + compressed grains + markers (`0x30001`), 64 KiB grains (128 sectors),
//!   512 entries per grain table, `gdOffset` = `GD_AT_END`, `overHead` 128, deflate;
//! - sectors 1-20: the descriptor ([`descriptor::text`]), padded with zeros, then zeros up to
//!   sector 128;
//! - each grain that is not all zeros: a grain marker (guest LBA, compressed size) and the
//!   whole grain (the last one padded with zeros) compressed as one zlib stream (flate2, level
//!   6), padded to a sector; grains are in guest order; after the grains of each 32 MiB span
//!   that has any, its grain table (marker type 1, 4 sectors); spans without grains have no
//!   table (grain directory entry 0, read as zeros);
//! - the grain directory (marker type 2), the footer (marker type 3 and a copy of the header
//!   with the real `gdOffset`) and the end-of-stream marker (a zero sector).
//!
//! Grains wholly in zero runs are not read; grains read as all zeros are not stored either.
//! The descriptor's CID is derived from a SHA-256 of the extent map's description (lengths,
//! literal bytes, inline contents, blob names), unless [`VmdkOptions::cid`] is given; geometry
//! is computed as qemu-img does. VMDK has no timestamps: same inputs, same bytes. A disk whose
//! size is not a multiple of 512 is padded with zeros to a whole sector (VMDK counts sectors);
//! an empty disk is refused ([`Error::EmptyDisk`]).
//!
//! # Reading
//!
//! [`read_to()`] copies the guest disk of a hosted sparse extent with an embedded descriptor
//! (stream-optimized with the directory in the header or in the footer, and uncompressed
//! `monolithicSparse`) to a writer, one grain at a time; [`summary()`] describes it.
//!
//! # Not supported
//!
//! - Writing: other create types (monolithicSparse, split and flat extents), other grain sizes,
//!   redundant grain directories, parents (`parentCID` is always `ffffffff`).
//! - Reading: descriptor files separate from their extents, multi-extent disks, flat extents,
//!   ESXi `COWD` extents, parents; the redundant directory is ignored.

pub mod descriptor;
pub mod header;
mod read;
mod write;

#[cfg(test)]
mod tests;

use std::io::{self, Read, Seek, Write};

use crate::copy::ContentError;
use crate::extent::ExtentMap;
use crate::tree::ContentSource;

/// Grain size kit writes: 64 KiB.
pub const GRAIN_BYTES: u64 = 64 << 10;

/// The virtual disk controller named in the descriptor (`ddb.adapterType`); it also sets the
/// geometry's head count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterType {
    /// `ide` (16 heads).
    Ide,
    /// `lsilogic` (255 heads), as LinuxKit writes.
    LsiLogic,
}

/// Options of the VMDK writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmdkOptions {
    /// `ddb.adapterType`.
    pub adapter_type: AdapterType,
    /// The file name in the descriptor's extent line (the image's own name, e.g. `disk.vmdk`).
    pub file_name: String,
    /// The descriptor's CID; derived from the disk's description when `None`.
    pub cid: Option<u32>,
}

/// Why a VMDK image could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A content extent could not be read as announced.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The output writer failed.
    #[error("writing the VMDK image at byte {offset}: {source}")]
    Write {
        /// Offset in the output.
        offset: u64,
        /// The writer's error.
        source: io::Error,
    },
    /// The image would need offsets beyond 32-bit sector numbers (2 TiB).
    #[error("the VMDK image would pass {max_bytes} bytes, where its 32-bit sector offsets end")]
    TooLarge {
        /// The limit.
        max_bytes: u64,
    },
    /// The file name contains a character the descriptor cannot hold.
    #[error("VMDK extent file name {name:?} contains a quote, control character or newline")]
    FileName {
        /// The name.
        name: String,
    },
    /// The disk has no bytes: a zero-capacity extent has no grain directory, and qemu refuses
    /// to open one.
    #[error("the disk is empty; a VMDK needs at least one sector")]
    EmptyDisk,
    /// Compressing a grain failed.
    #[error("compressing the grain at guest offset {offset}: {source}")]
    Compress {
        /// Guest offset of the grain.
        offset: u64,
        /// The compressor's error.
        source: io::Error,
    },
    /// Reading the image failed.
    #[error("reading {what} of the VMDK image: {source}")]
    Read {
        /// The structure being read.
        what: &'static str,
        /// The reader's error.
        source: io::Error,
    },
    /// The input does not start with a sparse extent header.
    #[error("not a VMDK sparse extent (no KDMV header)")]
    NotVmdk,
    /// The image uses a feature kit does not read.
    #[error("VMDK image uses {what}, which kit does not read")]
    Unsupported {
        /// The feature.
        what: String,
    },
    /// The image contradicts itself.
    #[error("corrupt VMDK image: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
}

/// Writes `disk` as a stream-optimized VMDK to `out`; returns the file length in bytes.
pub fn write(
    disk: &ExtentMap,
    source: &dyn ContentSource,
    options: &VmdkOptions,
    out: &mut dyn Write,
) -> Result<u64, Error> {
    write::emit(disk, source, options, out)
}

/// Writes `disk` as a stream-optimized VMDK into a vector (tests and small disks).
pub fn to_vec(
    disk: &ExtentMap,
    source: &dyn ContentSource,
    options: &VmdkOptions,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(disk, source, options, &mut out)?;
    Ok(out)
}

/// Copies the guest disk of a VMDK sparse extent to `out`; returns its size in bytes.
pub fn read_to(input: &mut (impl Read + Seek), out: &mut dyn Write) -> Result<u64, Error> {
    read::read_to(input, out)
}

/// Describes the image (header and descriptor) for `kit inspect`.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    read::summary(input)
}
