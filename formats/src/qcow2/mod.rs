//! qcow2 version 3 virtual disks, as QEMU's docs/interop/qcow2.txt describes them, written
//! from an [`ExtentMap`] in one streaming pass.
//!
//! # Writing
//!
//! [`plan()`] lays out the file (see [`plan`](mod@plan) for the order): 64 KiB clusters, 16-bit
//! refcounts (`refcount_order` 4), the header (104 bytes, no header extensions: the 8 zero
//! bytes after it end the extension list) in cluster 0, the refcount table and blocks, the L1
//! table, the L2 tables, then the data clusters in guest order. Every host cluster has
//! refcount 1 and every L1/L2 entry has the COPIED bit, as `qemu-img convert` writes them.
//!
//! A guest cluster is allocated when any literal or content extent touches it; clusters lying
//! wholly in [`Extent::Zeros`](crate::extent::Extent::Zeros) runs are left unallocated (read as
//! zeros) and never read. Literal or content clusters that happen to be all zeros are still
//! stored (the layout is fixed before any content is read, so the file is written in one
//! pass). The last cluster is stored whole, padded with zeros. The virtual size is the disk's
//! rounded up to a multiple of 512 bytes (qemu ignores a partial last sector). No timestamps, no identifiers:
//! same map, same bytes.
//!
//! [`write()`] holds one 64 KiB cluster at a time plus the list of allocated cluster runs.
//!
//! # Reading
//!
//! [`read_to()`] copies the guest disk of a version 2 or 3 image to a writer, one cluster at a
//! time, compressed (deflate) clusters as `qemu-img convert -c` writes them included;
//! [`summary()`] describes the header for `kit inspect`.
//!
//! # Not supported
//!
//! - Writing: compressed clusters (their offsets are known only once compressed, which the
//!   one-pass, metadata-first layout cannot place without seeking or buffering), other cluster sizes, backing files, encryption, snapshots,
//!   extended L2 entries, external data files, header extensions.
//! - Reading: compressed clusters, backing files, encryption, external data files, extended L2
//!   entries (reported as errors). Snapshots are ignored (the active L1 table is read).
//!   Refcounts are not checked.

pub mod header;
pub mod plan;
mod read;
mod write;

#[cfg(test)]
mod tests;

use std::io::{self, Read, Seek, Write};

use crate::copy::ContentError;
use crate::extent::ExtentMap;
use crate::tree::ContentSource;

pub use crate::qcow2::header::Qcow2Header;
pub use crate::qcow2::plan::{CLUSTER_BYTES, Layout, plan};

/// Options of the qcow2 writer. None of today's choices is configurable (64 KiB clusters,
/// version 3, uncompressed); the struct keeps the API stable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qcow2Options {}

/// Why a qcow2 image could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A content extent could not be read as announced.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The output writer failed.
    #[error("writing the qcow2 image at byte {offset}: {source}")]
    Write {
        /// Offset in the output.
        offset: u64,
        /// The writer's error.
        source: io::Error,
    },
    /// The disk is larger than kit's layout can describe.
    #[error(
        "the disk is {size_bytes} bytes, qcow2 with 64 KiB clusters allows at most {max_bytes}"
    )]
    TooLarge {
        /// The disk's size.
        size_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// Reading the image failed.
    #[error("reading {what} of the qcow2 image: {source}")]
    Read {
        /// The structure being read.
        what: &'static str,
        /// The reader's error.
        source: io::Error,
    },
    /// The input does not start with a qcow2 header.
    #[error("not a qcow2 image (no QFI\\xfb header)")]
    NotQcow2,
    /// The image uses a feature kit does not read.
    #[error("qcow2 image uses {what}, which kit does not read")]
    Unsupported {
        /// The feature.
        what: String,
    },
    /// The image contradicts itself.
    #[error("corrupt qcow2 image: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
}

/// Writes `disk` as a qcow2 image to `out`; returns the file length in bytes.
pub fn write(
    disk: &ExtentMap,
    source: &dyn ContentSource,
    options: &Qcow2Options,
    out: &mut dyn Write,
) -> Result<u64, Error> {
    let layout = plan(disk)?;
    write::emit(&layout, disk, source, options, out)
}

/// Writes `disk` as a qcow2 image into a vector (tests and small disks).
pub fn to_vec(
    disk: &ExtentMap,
    source: &dyn ContentSource,
    options: &Qcow2Options,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(disk, source, options, &mut out)?;
    Ok(out)
}

/// Copies the guest disk of a qcow2 image to `out`; returns its size in bytes.
pub fn read_to(input: &mut (impl Read + Seek), out: &mut dyn Write) -> Result<u64, Error> {
    read::read_to(input, out)
}

/// Describes the image's header for `kit inspect`.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    read::summary(input)
}

/// Reads and checks the header of a qcow2 image (version 2 or 3, no backing file, no
/// encryption).
pub fn read_header(input: &mut (impl Read + Seek)) -> Result<Qcow2Header, Error> {
    read::read_header(input)
}
