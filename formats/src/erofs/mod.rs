//! EROFS writer and reader: the read-only root filesystem of LinuxKit's `kernel+erofs` output,
//! readable by Linux 6.1 and accepted by erofs-utils 1.5 (`fsck.erofs`, `dump.erofs`).
//!
//! The format is defined by the kernel's fs/erofs/erofs_fs.h and
//! Documentation/filesystems/erofs.rst; the layout choices follow erofs-utils 1.5's
//! `mkfs.erofs`. Each on-disk structure has its own module: [`superblock`], [`inode`],
//! [`dirent`], [`xattr`] and [`zmap`] (compression indexes).
//!
//! # Writing
//!
//! [`write()`] emits an image of 4 KiB blocks:
//!
//! - block 0 holds the superblock at byte 1024 with `build_time` = [`ErofsOptions::epoch`], the
//!   UUID (derived by hashing the options, the epoch and the tree's names, metadata and content
//!   identities, unless [`ErofsOptions::uuid`] is given), the volume name, features
//!   `sb_csum` + `mtime` (plus `lz4_0padding` when compressing) and the CRC-32C checksum;
//! - shared xattrs follow from block 1 (`xattr_blkaddr`): an xattr (name and value) carried by
//!   three inodes or more is stored once there, as mkfs.erofs does with its default tolerance
//!   of 2; the others are inline after their inode;
//! - then the inodes, in [`Tree::walk`] order with the root first (mkfs.erofs's order), 32-byte
//!   aligned; `meta_blkaddr` is 0, so a nid is the inode's byte offset / 32. An inode is compact
//!   (32 bytes) unless it needs the extended form (64 bytes): an mtime other than the epoch, a
//!   uid or gid above 65535, more than 65535 links or a size of 4 GiB or more, as mkfs.erofs
//!   decides. Negative mtimes are stored as two's complement;
//! - an inode, its xattrs and its inline tail never straddle a block: the tail of a file,
//!   symlink or directory (size modulo 4096) is packed right after the inode when all of it fits
//!   in one block (`FLAT_INLINE`), otherwise the data is `FLAT_PLAIN` with the tail in a
//!   zero-padded block; block-aligned sizes are `FLAT_PLAIN`;
//! - data blocks follow the metadata, in inode order;
//! - directories hold `.`, `..` and their entries sorted by bytes, packed into blocks as
//!   mkfs.erofs packs them ([`dirent`]); a directory's nlink is 2 + its subdirectories;
//! - a hard link group is one inode (the file's metadata, nlink = its number of names) placed at
//!   the first name in walk order; every name's dirent points to it;
//! - devices store Linux `new_encode_dev` numbers; FIFOs and devices have no data.
//!
//! With [`Compression::Lz4`], regular files larger than one block are compressed with lz4
//! into one-block physical clusters ("fixed-sized output"), with full (legacy) 8-byte indexes;
//! a cluster that does not shrink is stored plain, and a file that does not shrink as a whole
//! falls back to `FLAT_PLAIN`. See [`zmap`].
//!
//! File data is read one file at a time through [`crate::copy::ExactReader`]; only one
//! metadata block and one file's chunk are held in memory while writing.
//!
//! Errors name the path and the limit: names longer than 255 bytes, symlink targets longer than
//! 4095 bytes, xattr names without a prefix EROFS knows (`user.`, `trusted.`, `security.`,
//! `system.posix_acl_access`, `system.posix_acl_default`), xattr names over 255 bytes after the
//! prefix or values over 65535 bytes, device numbers beyond 12-bit major / 20-bit minor, mode
//! bits beyond 0o7777, images over 2^32 blocks.
//!
//! Not written: chunk-based files, big pclusters, compacted indexes, compressed tail packing
//! (`ztailpacking`), extra devices, lzma, nanosecond times, origins (EROFS has no place for
//! them). Metadata is placed first-fit in order, never back into an earlier block's hole as
//! mkfs.erofs's buffer allocator does, so images run about 1% larger than mkfs.erofs's; a
//! compressed file that does not shrink falls back to `FLAT_PLAIN` (mkfs.erofs packs its tail
//! inline).
//!
//! # Reading
//!
//! [`read`] accepts images by kit and by mkfs.erofs 1.5 (uncompressed, `-zlz4`, `-zlz4hc`): flat
//! and chunk-less layouts, legacy and compacted compression indexes (lz4 and plain clusters,
//! `lz4_0padding`), shared and inline xattrs. Big pclusters, ztailpacking, chunk-based files,
//! lzma and extra devices are refused with an error. Every offset and length is checked; the
//! total decoded size is bounded by 256 times the image size.
//! [`summary`] describes the superblock.

pub mod dirent;
pub mod inode;
mod lz4;
mod plan;
mod read;
pub mod superblock;
mod write;
pub mod xattr;
pub mod zmap;

use std::io::{self, Cursor, Read, Seek, Write};

use crate::copy::ContentError;
use crate::extract::PathError;
use crate::tree::{ContentSource, Tree};

pub use crate::erofs::superblock::SuperBlockError;

/// How regular files are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Uncompressed (`FLAT_PLAIN` / `FLAT_INLINE`), like `mkfs.erofs` without `-z`.
    None,
    /// lz4 in one-block physical clusters, like `mkfs.erofs -zlz4`.
    Lz4,
}

/// Choices that change the bytes of an EROFS image. No `Default`: the caller decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErofsOptions {
    /// Build time: the superblock's `build_time` and the mtime of every compact inode; inodes
    /// whose mtime differs use the extended form.
    pub epoch: i64,
    /// Volume UUID; `None` derives one from the options, the epoch and the tree.
    pub uuid: Option<[u8; 16]>,
    /// Volume name, at most 16 bytes (stored NUL-padded).
    pub volume_name: Vec<u8>,
    /// File data compression.
    pub compression: Compression,
}

/// A writer that can also seek, for [`write()`]'s non-generic inner function.
pub trait WriteSeek: Write + Seek {}

impl<T: Write + Seek> WriteSeek for T {}

/// Errors writing or reading an EROFS image. Each names the in-image path or byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output writer failed.
    #[error("writing erofs image at {path}: {source}")]
    Write {
        /// The inode or area being written.
        path: String,
        /// The writer's error.
        source: io::Error,
    },
    /// A file's content could not be read as announced.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A hard link does not resolve to a regular file of the tree.
    #[error("hard link {path}: target {target} is {problem}, expected a regular file of the tree")]
    HardLink {
        /// The link.
        path: String,
        /// Its target.
        target: String,
        /// What the target is instead.
        problem: &'static str,
    },
    /// A node's mode has bits beyond the permission bits.
    #[error("mode of {path} is {mode:#o}, expected permission bits within 0o7777")]
    InvalidMode {
        /// The node.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// A name is longer than EROFS stores.
    #[error("name of {path} is {len} bytes, erofs allows at most 255 (EROFS_NAME_LEN)")]
    NameTooLong {
        /// The path.
        path: String,
        /// The name's length.
        len: usize,
    },
    /// A name contains a NUL byte (or is empty).
    #[error("name of {path} is empty or contains a NUL byte")]
    InvalidName {
        /// The path.
        path: String,
    },
    /// A symlink target is longer than Linux stores.
    #[error("symlink {path} has a {len}-byte target, expected at most 4095 bytes")]
    SymlinkTooLong {
        /// The symlink.
        path: String,
        /// The target's length.
        len: usize,
    },
    /// Device numbers beyond what `new_encode_dev` stores.
    #[error(
        "device {path} is {major},{minor}, erofs stores majors up to 4095 and minors up to 1048575"
    )]
    DeviceNumbers {
        /// The device node.
        path: String,
        /// Its major number.
        major: u32,
        /// Its minor number.
        minor: u32,
    },
    /// An xattr name has no prefix EROFS can index.
    #[error(
        "xattr {name} of {path} has no prefix erofs stores (user., trusted., security., system.posix_acl_access, system.posix_acl_default)"
    )]
    XattrPrefix {
        /// The node.
        path: String,
        /// The xattr's full name.
        name: String,
    },
    /// An xattr name or value is too long.
    #[error("xattr {name} of {path}: {what} is {len} bytes, erofs allows at most {max}")]
    XattrTooLong {
        /// The node.
        path: String,
        /// The xattr's full name.
        name: String,
        /// `name after the prefix` or `value`.
        what: &'static str,
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An inode's xattrs do not fit its 16-bit `i_xattr_icount`.
    #[error("xattrs of {path} take {len} bytes, erofs allows at most 262148 per inode")]
    XattrsTooLarge {
        /// The node.
        path: String,
        /// The size of the xattr body.
        len: usize,
    },
    /// The volume name is longer than the superblock's field.
    #[error("volume name is {len} bytes, erofs allows at most 16")]
    VolumeNameTooLong {
        /// Its length.
        len: usize,
    },
    /// The image would need more blocks or inodes than 32-bit block addresses reach.
    #[error("image is too large at {path}: erofs addresses at most 2^32 blocks of 4 KiB")]
    TooLarge {
        /// Where the limit was exceeded.
        path: String,
    },
    /// The root directory's inode does not fit the superblock's 16-bit `root_nid`.
    #[error("root inode nid {nid} does not fit the 16-bit root_nid (shared xattrs too large)")]
    RootNid {
        /// The nid the root would get.
        nid: u64,
    },
    /// Reading the image failed.
    #[error("reading erofs image: {source}")]
    ReadInput {
        /// The reader's error.
        source: io::Error,
    },
    /// The superblock is not an EROFS superblock.
    #[error("erofs superblock: {0}")]
    SuperBlock(#[from] SuperBlockError),
    /// The image uses something this reader does not support or is inconsistent.
    #[error("erofs image: {what}")]
    Unsupported {
        /// What is unsupported.
        what: String,
    },
    /// The image is corrupt at an inode.
    #[error("erofs inode {nid} ({path}): {what}")]
    Corrupt {
        /// The inode's nid.
        nid: u64,
        /// Its path, if known.
        path: String,
        /// What is wrong.
        what: String,
    },
    /// The image is truncated or a structure points outside it.
    #[error("erofs image of {len} bytes: {what} at byte {offset} (+{size}) is outside the image")]
    OutOfBounds {
        /// What was being read.
        what: &'static str,
        /// Its offset.
        offset: u64,
        /// Its size.
        size: u64,
        /// The image's length.
        len: u64,
    },
    /// A socket, which the tree cannot hold.
    #[error("erofs entry {path} is a socket, which kit's trees cannot hold")]
    Socket {
        /// The socket's path.
        path: String,
    },
    /// An entry could not be placed in the tree.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// Writes `tree` as an EROFS image to `out`, reading file contents through `source`.
pub fn write(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &ErofsOptions,
    out: &mut (impl Write + Seek),
) -> Result<(), Error> {
    write_inner(tree, source, options, out)
}

fn write_inner(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &ErofsOptions,
    out: &mut dyn WriteSeek,
) -> Result<(), Error> {
    let plan = plan::plan(tree, options)?;
    write::emit(&plan, source, options, out)
}

/// Writes `tree` as an EROFS image into a new vector.
pub fn to_vec(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &ErofsOptions,
) -> Result<Vec<u8>, Error> {
    let mut out = Cursor::new(Vec::new());
    write(tree, source, options, &mut out)?;
    Ok(out.into_inner())
}

/// Reads an EROFS image into a tree with inline contents.
pub fn read(input: &mut (impl Read + Seek)) -> Result<Tree, Error> {
    read::read(input)
}

/// Describes the image's superblock as key/value lines, for `kit inspect`.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    read::summary(input)
}

#[cfg(test)]
mod tests;
