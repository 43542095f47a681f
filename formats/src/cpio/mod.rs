//! newc cpio writer and reader for Linux initramfs images, with real hard links and device nodes.
//!
//! The format is the kernel's (Documentation/driver-api/early-userspace/buffer-format.rst) and
//! its unpacker is init/initramfs.c; see [`header`] for the header layout.
//!
//! # Writing
//!
//! [`write()`] emits an uncompressed `070701` archive; [`write_gzip`] wraps it in (parallel) gzip with a fixed
//! header (mtime 0, no file name, OS 255), as the kernel expects an initrd.
//!
//! - With [`CpioOptions::root_entry`], the first entry is `.`, the root directory: the kernel's
//!   unpacker then applies its mode, owner and mtime to `/` (`init_mkdir` fails harmlessly,
//!   `init_chown`/`init_chmod` apply; distribution initramfs images start the same way).
//!   LinuxKit writes no such entry.
//! - Then every node in [`Tree::walk`] order (a directory before its entries, so the unpacker,
//!   which never creates parents, always finds them), names without a leading `./`.
//! - Inode numbers count from 1 in entry order; `c_maj`/`c_min` (the archive's device) are 0.
//!   `c_nlink` is 2 plus the number of subdirectories for a directory, the number of names for
//!   a hard link group, 1 otherwise.
//! - A hard link group (a file and the [`NodeKind::HardLink`](crate::tree::NodeKind)s that
//!   resolve to it) is written as entries sharing one inode number, with the file's metadata on
//!   each (an inode has one mode), `c_nlink` = number of names, and the data on the first name
//!   in walk order; the others have `c_filesize` 0. The kernel's `maybe_link()` links each later
//!   name to the first one it saw and opens it without `O_TRUNC`, so a later empty entry keeps
//!   the data; GNU cpio and libarchive extract this layout too (checked in the tests). GNU cpio
//!   itself writes the data on the last name instead; both layouts unpack alike.
//! - Device nodes carry their numbers in `c_rmaj`/`c_rmin`; no privilege is needed to write
//!   them. Symlinks store their target as data. FIFOs have no data.
//! - mtimes are clamped to the `u32` range: before 1970 → 0, after 2106 → `u32::MAX`.
//! - Extended attributes and origins are dropped: newc has no place for them.
//! - A file of 4 GiB or more, a name longer than 4095 bytes or a symlink target longer than
//!   4095 bytes is an error naming the path (the kernel would skip such entries silently).
//! - The archive ends with a `TRAILER!!!` entry (nlink 1) padded to 4 bytes; it is not padded
//!   to 512-byte blocks.
//!
//! The output is written in many small pieces: give [`write()`] a buffered writer.
//!
//! # Reading
//!
//! [`read`] accepts `070701` and `070702` (checksums not verified), places entries like
//! extraction (see [`crate::extract`]; `.` sets the root's metadata), turns later entries of an
//! inode (same `c_maj`, `c_min`, `c_ino`, `c_nlink >= 2`) into hard links to the first, and
//! moves data found on a later entry to the file, as the kernel does. Several archives
//! concatenated (an uncompressed ucode archive before the main one) are read in turn; compressed
//! segments are the caller's business. Sockets are not supported.

pub mod header;
mod plan;
mod read;
mod write;

use std::io::{self, Read, Write};

use crate::copy::ContentError;
pub use crate::cpio::header::HeaderError;
use crate::extract::PathError;
use crate::gzip::{GzipOptions, ParallelGzip};
use crate::tree::{ContentSource, Tree};

/// Choices that change the bytes of a newc archive. No `Default`: the caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpioOptions {
    /// Start with a `.` entry carrying the root directory's metadata.
    pub root_entry: bool,
}

/// Errors writing or reading a newc archive. Each names the in-archive path or byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output writer failed.
    #[error("writing cpio entry {path}: {source}")]
    Write {
        /// The entry being written.
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
    /// A file does not fit newc's 32-bit size field.
    #[error("file {path} is {size} bytes, expected less than 4 GiB (newc stores 32-bit sizes)")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
    },
    /// A name is longer than the kernel's unpacker accepts.
    #[error("path {path} is {len} bytes long, expected at most 4095 (PATH_MAX with its NUL)")]
    NameTooLong {
        /// The path.
        path: String,
        /// Its length without the NUL.
        len: usize,
    },
    /// A symlink target is longer than Linux stores.
    #[error("symlink {path} has a {len}-byte target, expected at most 4095 bytes")]
    SymlinkTooLong {
        /// The symlink.
        path: String,
        /// The target's length.
        len: usize,
    },
    /// A name contains a NUL byte.
    #[error("path {path} contains a NUL byte")]
    InvalidName {
        /// The path.
        path: String,
    },
    /// More than `u32::MAX` inodes or subdirectories.
    #[error("too many inodes at {path}: newc numbers them with 32 bits")]
    TooManyInodes {
        /// Where the count overflowed.
        path: String,
    },
    /// A gzip level outside 0..=9.
    #[error("gzip level is {level}, expected 0 to 9")]
    GzipLevel {
        /// The level asked for.
        level: u32,
    },
    /// The input could not be read.
    #[error("reading the cpio archive: {source}")]
    ReadInput {
        /// The reader's error.
        source: io::Error,
    },
    /// A header is malformed.
    #[error("cpio header at byte {offset}: {source}")]
    Header {
        /// Offset of the header in the archive.
        offset: usize,
        /// What is wrong.
        source: HeaderError,
    },
    /// The archive ends inside an entry.
    #[error("cpio archive ends at byte {len} inside the {what} of the entry at byte {offset}")]
    Truncated {
        /// Offset of the entry's header.
        offset: usize,
        /// `header`, `name` or `data`.
        what: &'static str,
        /// Length of the archive.
        len: usize,
    },
    /// A name is empty or not NUL-terminated.
    #[error("cpio entry at byte {offset}: name is not NUL-terminated")]
    Name {
        /// Offset of the entry's header.
        offset: usize,
    },
    /// Bytes other than padding between archives.
    #[error("cpio archive: expected a header or zero padding at byte {offset}")]
    Padding {
        /// Where the unexpected byte is.
        offset: usize,
    },
    /// The archive has no `TRAILER!!!` entry.
    #[error("cpio archive ends at byte {len} without a TRAILER!!! entry")]
    MissingTrailer {
        /// Length of the archive.
        len: usize,
    },
    /// An entry has a file type this reader does not support.
    #[error(
        "cpio entry {path} has mode {mode:#o}, expected a file, directory, symlink, device or fifo"
    )]
    UnsupportedType {
        /// The entry.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// An entry could not be placed in the tree.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// Writes `tree` as an uncompressed newc archive to `out`, reading contents through `source`.
pub fn write(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &CpioOptions,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let entries = plan::plan(tree, options)?;
    write::emit(&entries, source, out)
}

/// Writes `tree` as an uncompressed newc archive into a new vector.
pub fn to_vec(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &CpioOptions,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(tree, source, options, &mut out)?;
    Ok(out)
}

/// Writes `tree` as a gzip-compressed newc archive (an initrd): one gzip member with a fixed
/// header (mtime 0, no file name, OS 255), compressed in parallel blocks whose bytes do not
/// depend on the thread count (see [`crate::gzip`]).
pub fn write_gzip(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &CpioOptions,
    gzip: GzipOptions,
    out: &mut dyn Write,
) -> Result<(), Error> {
    if gzip.level > 9 {
        return Err(Error::GzipLevel { level: gzip.level });
    }
    let header_err = |source| Error::Write { path: "gzip header".to_owned(), source };
    let mut encoder = ParallelGzip::new(out, gzip).map_err(header_err)?;
    write(tree, source, options, &mut encoder)?;
    encoder.finish().map_err(|source| Error::Write { path: "gzip trailer".to_owned(), source })?;
    Ok(())
}

/// The length of the one uncompressed archive at the start of `data`, up to the end of its
/// `TRAILER!!!` entry.
pub(crate) fn archive_len(data: &[u8]) -> Result<usize, Error> {
    read::archive_len(data)
}

/// Reads an uncompressed newc archive (or several concatenated) into a tree with inline contents.
pub fn read(mut input: impl Read) -> Result<Tree, Error> {
    let mut data = Vec::new();
    input.read_to_end(&mut data).map_err(|source| Error::ReadInput { source })?;
    read::read(&data)
}

#[cfg(test)]
mod tests;
