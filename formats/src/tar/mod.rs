//! Tar writer and reader (PAX, hard links, devices, xattrs), deterministic for a given tree.
//!
//! # Writing
//!
//! [`write()`] emits a POSIX.1-2001 (PAX) archive: ustar headers (magic `ustar\0`, version `00`,
//! POSIX.1-1988 §10.1.1) preceded, where needed, by a PAX extended header (typeflag `x`,
//! POSIX.1-2001 `pax` "Extended header keywords"):
//!
//! - entries come in [`Tree::walk`](crate::tree::Tree::walk) order: a directory before its
//!   entries, names sorted by bytes; the root directory itself has no entry, as in LinuxKit;
//! - names have no leading `./` and directories no trailing `/` (LinuxKit's own entries look
//!   the same); user and group names are empty, so only numeric owners are recorded;
//! - a path or link target longer than 100 bytes goes into a `path`/`linkpath` record (never a
//!   GNU `././@LongLink` entry), with the first 100 bytes in the header;
//! - uids and gids above 0o7777777 and mtimes before 1970 or after 0o77777777777 go into
//!   `uid`/`gid`/`mtime` records, with 0 or the clamped value in the header; sizes above
//!   0o77777777777 go into a `size` record and, base-256 encoded, into the header;
//! - xattrs become `SCHILY.xattr.<name>` records; with [`TarOptions::pax_origin`], a node's
//!   [`Origin`](crate::tree::Origin) becomes `LINUXKIT.source` and `LINUXKIT.location` records,
//!   as LinuxKit writes them;
//! - records are sorted by key; the extended header is named `<dir>/PaxHeaders.0/<name>` with
//!   mode 0, owner 0:0 and mtime 0, like Go's;
//! - a hard link group (see `links.rs`) is written as a regular file at its first path in walk
//!   order, carrying the data and the file's metadata, and link entries (typeflag `1`) naming
//!   that path for the others, each with its own metadata;
//! - the archive ends with two zero blocks and is not padded to a record size.
//!
//! Headers are encoded with the `tar` crate's [`tar::Header`] (octal fields, checksum); the
//! stream itself is written here, so that every length is checked against the content actually
//! read.
//!
//! # Reading
//!
//! [`read`] builds a [`Tree`] with inline contents. The `tar` crate parses
//! headers in raw mode; extension headers are applied here: PAX `path`, `linkpath`, `uid`,
//! `gid`, `mtime` (fractions rounded down), `SCHILY.xattr.*` and `LINUXKIT.*` records (parsed
//! by length, see [`pax`]), and GNU `././@LongLink` names. Entries are placed as extraction
//! would place them (see [`crate::extract`]).
//!
//! Not supported: GNU sparse files, multi-volume archives, sockets, `LIBARCHIVE.xattr.*`
//! records, PAX `size` records that differ from the header, global PAX headers (`g`, ignored)
//! and uname/gname (ignored: owners are numeric).

mod header;
pub mod pax;
mod plan;
mod read;
mod write;

use std::io::{self, Read, Write};

use crate::copy::ContentError;
use crate::extract::PathError;
use crate::tree::{ContentSource, Tree};

/// Choices that change the bytes of a tar archive. No `Default`: the caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TarOptions {
    /// Write `LINUXKIT.source` and `LINUXKIT.location` PAX records for nodes with an origin.
    pub pax_origin: bool,
}

/// Errors writing or reading a tar archive. Each names the in-archive path concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output writer failed.
    #[error("writing tar entry {path}: {source}")]
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
    /// A device number does not fit the 7 octal digits of a ustar header.
    #[error("{field} of device {path} is {value}, expected at most 2097151 (0o7777777)")]
    DeviceNumber {
        /// The device node.
        path: String,
        /// `major` or `minor`.
        field: &'static str,
        /// The number.
        value: u32,
    },
    /// A path, link target or xattr name contains a byte tar cannot store.
    #[error("{what} of {path} contains {problem}")]
    InvalidName {
        /// The node.
        path: String,
        /// `path`, `link target` or `xattr name <name>`.
        what: String,
        /// What is wrong: `a NUL byte`, `=`.
        problem: &'static str,
    },
    /// The archive could not be parsed.
    #[error("reading tar entry #{entry_idx}: {source}")]
    Parse {
        /// 0-based index of the entry (PAX and long-name headers not counted).
        entry_idx: usize,
        /// The parser's error.
        source: io::Error,
    },
    /// An entry's data could not be read.
    #[error("reading the data of tar entry {path}: {source}")]
    ReadEntry {
        /// The entry.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// An entry has a type this reader does not support.
    #[error(
        "tar entry {path} has type {type_flag:?}, expected a file, directory, link, device or fifo"
    )]
    UnsupportedEntry {
        /// The entry.
        path: String,
        /// Its typeflag byte, as a character.
        type_flag: char,
    },
    /// A numeric field or PAX record is out of range or malformed.
    #[error("tar entry {path}: {field} is {value:?}, expected {expected}")]
    Field {
        /// The entry.
        path: String,
        /// The header field or PAX key.
        field: String,
        /// The value found.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// An entry could not be placed in the tree.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// Writes `tree` as a tar archive to `out`, reading file contents through `source`.
pub fn write(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &TarOptions,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let entries = plan::plan(tree)?;
    write::emit(&entries, source, options, out)
}

/// Writes `tree` as a tar archive into a new vector.
pub fn to_vec(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &TarOptions,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(tree, source, options, &mut out)?;
    Ok(out)
}

/// Reads a tar archive into a tree with inline contents.
pub fn read(mut input: impl Read) -> Result<Tree, Error> {
    read::read(&mut input)
}

#[cfg(test)]
mod tests;
