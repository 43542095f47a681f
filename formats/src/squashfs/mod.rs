//! squashfs 4.0 writer and reader: the root filesystem of LinuxKit's `kernel+squashfs` output.
//!
//! The format is the Linux kernel's (Documentation/filesystems/squashfs.rst and
//! fs/squashfs/squashfs_fs.h); squashfs-tools' mksquashfs is the reference writer and its
//! choices are followed where the format leaves room. On-disk structures are in [`superblock`],
//! [`inode`], [`dir`] and [`table`]; [`metablock`] cuts metadata into 8 KiB blocks and
//! [`compressor`] wraps the four compressors.
//!
//! # Layout written
//!
//! superblock (96 bytes) · compressor options (lz4 only) · data and fragment blocks, in file
//! walk order · inode table · directory table · fragment table · export table (optional) ·
//! id table · xattr table (if any xattrs) · zero padding to a multiple of 4 KiB
//! (`bytes_used` excludes the padding), as mksquashfs lays it out.
//!
//! - Data: each file is cut into blocks of [`SquashfsOptions::block_size`]; each block is
//!   compressed on its own and stored uncompressed (bit 24 of its size) when that is not
//!   smaller; an all-zero block is a hole (size 0), as mksquashfs stores it.
//!   Blocks are compressed by [`SquashfsOptions::threads`] threads and written in order, so the
//!   bytes do not depend on the thread count. Files are read one at a time through
//!   [`ExactReader`](crate::copy::ExactReader), one block at a time.
//! - Fragments ([`Fragments`]): with `SmallFiles` (mksquashfs's default) files smaller than a
//!   block go into shared fragment blocks, filled in data order and flushed when the next tail
//!   does not fit; `AllTails` also packs the tails of larger files (`-always-use-fragments`).
//! - Duplicates ([`SquashfsOptions::deduplicate`], mksquashfs's default): files with the same
//!   size and SHA-256 are stored once and their inodes share blocks and fragment. Only files
//!   whose size another file has are hashed, in a first pass over their content.
//! - Inodes: see [`plan`](self) for numbering. Extended inodes are used where mksquashfs uses
//!   them: xattrs, files with several names or past 4 GiB (or starting past 4 GiB), and
//!   directories with an index or xattrs or a listing past 64 KiB. The `sparse` field is 0
//!   (mksquashfs writes 0 unless the source file was sparse on disk, which a tree cannot say),
//!   so holes alone do not make a file extended.
//! - Directories: entries sorted by name bytes, a new header every 256 entries, at each change
//!   of inode metadata block, when inode numbers drift past ±32767, and whenever the listing
//!   since the last index point would pass 8 KiB, which then gets a directory index entry
//!   (mksquashfs's rule, so lookups in large directories skip ahead).
//! - Hard links: one inode, `nlink` = number of names. Devices store Linux's `new_encode_dev`.
//! - Ids: every distinct uid and gid once, in first-use order (at most 65536).
//! - Xattrs: only the `user.`, `trusted.` and `security.` namespaces exist in squashfs; each
//!   distinct set is stored once (values inline; no out-of-line sharing of values).
//! - Times: inode mtimes and the superblock's `mkfs_time` ([`SquashfsOptions::epoch`]) are
//!   clamped to `u32`.
//! - The export table (inode number → inode) is written when
//!   [`SquashfsOptions::export_table`] is set (mksquashfs writes it by default; NFS export
//!   needs it).
//!
//! Errors name the path and the limit: a name over 256 bytes (`SQUASHFS_NAME_LEN`), a symlink
//! target over 4095 bytes, a device major over 4095 or minor over 1048575, an xattr outside the
//! three namespaces, more than 65536 ids, mode bits beyond 0o7777, a hard link to anything but
//! a regular file.
//!
//! # Reading
//!
//! [`read`] follows the directory tree from the root inode and returns every node with inline
//! content; the second and later names (in walk order) of a regular file inode with several
//! names become [`NodeKind::HardLink`](crate::tree::NodeKind)s. It reads images of any block
//! size written by kit or mksquashfs with gzip, xz, lz4 or zstd, with or without fragments,
//! holes, xattrs (including out-of-line values), export table and compressor options. Every
//! offset and length is checked; directory loops, names over 256 bytes and files that would
//! expand the tree past 1 GiB or 1024 times the image size are errors.
//!
//! Not supported: squashfs 1.x to 3.x, the lzma and lzo compressors, sockets (the tree has no
//! socket kind; reading one is an error naming the path), appending to an image, and
//! mksquashfs's pseudo files, sorting and actions.

pub mod compressor;
pub mod dir;
pub mod inode;
pub mod metablock;
mod plan;
mod read;
pub mod superblock;
pub mod table;
mod write;

use std::io::{self, Read, Seek, Write};

use crate::copy::ContentError;
pub use crate::squashfs::compressor::{Compression, CompressorError};
use crate::squashfs::inode::InodeError;
use crate::squashfs::superblock::SuperblockError;
use crate::tree::{ContentSource, Tree};

/// How tails of files are packed into fragment blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragments {
    /// No fragments: every tail is a short last block (`mksquashfs -no-fragments`).
    Off,
    /// Files smaller than one block go into fragments (mksquashfs's default).
    SmallFiles,
    /// Tails of every file go into fragments (`mksquashfs -always-use-fragments`).
    AllTails,
}

/// A data block size: a power of two from 4 KiB to 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSize(u32);

impl BlockSize {
    /// 128 KiB, mksquashfs's default.
    pub const DEFAULT: BlockSize = BlockSize(128 * 1024);

    /// Checks `bytes`.
    pub fn new(bytes: u32) -> Result<BlockSize, Error> {
        if bytes.is_power_of_two() && (4096..=1 << 20).contains(&bytes) {
            Ok(BlockSize(bytes))
        } else {
            Err(Error::BlockSize { bytes })
        }
    }

    /// The size in bytes.
    pub fn bytes(self) -> u32 {
        self.0
    }
}

/// Choices that change the bytes of a squashfs image. No `Default`: the caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SquashfsOptions {
    /// Compressor and level.
    pub compression: Compression,
    /// Data block size.
    pub block_size: BlockSize,
    /// The superblock's `mkfs_time`, clamped to `u32`.
    pub epoch: i64,
    /// Fragment packing.
    pub fragments: Fragments,
    /// Store identical files once.
    pub deduplicate: bool,
    /// Write the export (inode lookup) table.
    pub export_table: bool,
    /// Threads compressing data blocks; 0 means 1. The output does not depend on it.
    pub threads: usize,
}

impl SquashfsOptions {
    /// mksquashfs's defaults: gzip level 9, 128 KiB blocks, fragments for small files,
    /// duplicate detection, an export table; one thread.
    pub fn mksquashfs_defaults(epoch: i64) -> SquashfsOptions {
        SquashfsOptions {
            compression: Compression::Gzip { level: 9 },
            block_size: BlockSize::DEFAULT,
            epoch,
            fragments: Fragments::SmallFiles,
            deduplicate: true,
            export_table: true,
            threads: 1,
        }
    }
}

/// Errors writing or reading a squashfs image. Each names the in-image path, table or offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output writer failed.
    #[error("writing squashfs {what}: {source}")]
    Write {
        /// What was being written.
        what: String,
        /// The writer's error.
        source: io::Error,
    },
    /// A file's content could not be read as announced.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A compressor failed.
    #[error("squashfs {what}: {source}")]
    Compressor {
        /// What was being compressed or decompressed, and where.
        what: String,
        /// The compressor's error.
        source: CompressorError,
    },
    /// The block size is not supported.
    #[error("block size is {bytes} bytes, squashfs allows powers of two from 4096 to 1048576")]
    BlockSize {
        /// The size asked for.
        bytes: u32,
    },
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
    /// A name is longer than squashfs stores.
    #[error("name of {path} is {len} bytes, squashfs allows at most 256")]
    NameTooLong {
        /// The path.
        path: String,
        /// The name's length.
        len: usize,
    },
    /// A name squashfs cannot store.
    #[error("name of {path} {problem}")]
    InvalidName {
        /// The path.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A mode with bits beyond the permission bits.
    #[error("mode of {path} is {mode:#o}, expected permission bits within 0o7777")]
    InvalidMode {
        /// The node.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// Device numbers that do not fit Linux's 32-bit encoding.
    #[error(
        "device {path} is {major},{minor}, squashfs allows majors up to 4095 and minors up to 1048575"
    )]
    DeviceNumber {
        /// The device.
        path: String,
        /// Its major number.
        major: u32,
        /// Its minor number.
        minor: u32,
    },
    /// A symlink target longer than Linux allows.
    #[error("symlink {path} has a {len}-byte target, Linux allows at most 4095")]
    SymlinkTooLong {
        /// The symlink.
        path: String,
        /// The target's length.
        len: usize,
    },
    /// An xattr outside the namespaces squashfs stores.
    #[error(
        "xattr {name} of {path}: squashfs stores only the user., trusted. and security. namespaces"
    )]
    XattrNamespace {
        /// The node.
        path: String,
        /// The xattr's full name.
        name: String,
    },
    /// An xattr name or value larger than Linux allows.
    #[error(
        "xattr {name} of {path} has a {name_len}-byte name and a {value_len}-byte value, Linux allows at most 255 and 65536"
    )]
    XattrTooLarge {
        /// The node.
        path: String,
        /// The xattr's full name.
        name: String,
        /// Length of the full name.
        name_len: usize,
        /// Length of the value.
        value_len: usize,
    },
    /// More distinct uids and gids than the id table holds.
    #[error("{path} needs a {}th distinct uid or gid, squashfs allows at most {limit}", limit + 1)]
    TooManyIds {
        /// The first node whose id does not fit.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// More inodes (or subdirectories) than 32-bit counts hold.
    #[error("tree has more than {count} inodes, squashfs counts them in 32 bits")]
    TooManyInodes {
        /// How many there were when the count overflowed.
        count: usize,
    },
    /// A directory listing or table larger than its fields hold.
    #[error("{what} of {path} is {size} bytes, squashfs allows at most {limit}")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
        /// Where.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The input could not be read.
    #[error("reading the squashfs image: {source}")]
    ReadInput {
        /// The reader's error.
        source: io::Error,
    },
    /// The superblock is not squashfs 4.0.
    #[error("squashfs superblock: {0}")]
    Superblock(#[from] SuperblockError),
    /// A structure lies outside the image.
    #[error(
        "squashfs {what} at byte {offset} (+{len}) lies beyond the end of the image ({image_len} bytes)"
    )]
    OutOfBounds {
        /// The structure.
        what: &'static str,
        /// Its position.
        offset: u64,
        /// Its length.
        len: u64,
        /// The image's length.
        image_len: u64,
    },
    /// An inode could not be decoded.
    #[error("squashfs inode {reference:#x} of {path}: {source}")]
    Inode {
        /// The path it was reached by.
        path: String,
        /// Its reference.
        reference: u64,
        /// What is wrong.
        source: InodeError,
    },
    /// A structure holds values that contradict the format.
    #[error("squashfs {what}: {problem}")]
    Corrupt {
        /// The structure and where it is.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// A socket, which the tree cannot hold.
    #[error("squashfs image holds a socket at {path}, which kit's trees cannot represent")]
    Socket {
        /// The socket's path.
        path: String,
    },
}

/// What a writer of squashfs needs: the output is written once in order and the superblock is
/// patched at the end.
pub trait WriteSeek: Write + Seek {}

impl<T: Write + Seek> WriteSeek for T {}

/// What the reader needs.
pub trait ReadSeek: Read + Seek {}

impl<T: Read + Seek> ReadSeek for T {}

/// Writes `tree` as a squashfs 4.0 image to `out` (from its current position, which must be 0
/// for the image to be mountable), reading contents through `source`.
pub fn write(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &SquashfsOptions,
    out: &mut (impl Write + Seek),
) -> Result<(), Error> {
    write::write(tree, source, options, out)
}

/// Writes `tree` as a squashfs image into a new vector.
pub fn to_vec(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &SquashfsOptions,
) -> Result<Vec<u8>, Error> {
    let mut out = io::Cursor::new(Vec::new());
    write(tree, source, options, &mut out)?;
    Ok(out.into_inner())
}

/// Reads a squashfs 4.0 image into a tree with inline contents.
pub fn read(input: &mut (impl Read + Seek)) -> Result<Tree, Error> {
    read::read(input)
}

/// Describes the image's superblock as key/value lines, for `kit inspect`.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    read::summary(input)
}

#[cfg(test)]
mod tests;
