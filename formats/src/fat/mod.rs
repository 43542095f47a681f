//! FAT12, FAT16 and FAT32 volumes with VFAT long file names: the EFI System Partition of kit's
//! disk images and the El Torito EFI boot image of its ISOs.
//!
//! The layout follows Microsoft's "FAT32 File System Specification" (fatgen103, 2000), cited
//! below by section, and the choices of dosfstools' mkfs.fat 4.2 where the specification leaves
//! room; every image is checked with `fsck.fat -n` and read back with mtools in
//! `formats/tests/fat_tools.rs`. kit writes FAT itself because the `fatfs` crate (0.3.6) writes
//! directories that fsck.fat rejects.
//!
//! # Layout
//!
//! - 512-byte sectors. Boot sector (§"Boot Sector and BPB") with a jump, the OEM name of
//!   [`FatOptions::oem_name`], media 0xF8, the INT 13h geometry mkfs.fat picks for the size,
//!   [`FatOptions::hidden_sectors`], drive 0x80, signature 0x29, the volume id and label, a
//!   non-booting stub that prints a message, and 0x55AA.
//! - FAT32: 32 reserved sectors with FSInfo in sector 1 (exact free count, next free cluster
//!   after the allocated ones), the backup boot sector in sector 6 and the backup FSInfo in
//!   sector 7; root directory in a cluster chain starting at cluster 2. FAT12/16: 1 reserved
//!   sector and a fixed root directory of 512 entries, or more when the root needs them.
//!   Like mkfs.fat, reserved sectors, FATs and root directory are rounded up to whole clusters
//!   when the volume has more than 8192 sectors, so clusters are aligned.
//! - Two FATs. Entry 0 holds the media byte, entry 1 end-of-chain with the "clean" bits set;
//!   chains end with all ones (0xFFF, 0xFFFF, 0x0FFFFFFF).
//! - The FAT type and cluster size are the caller's, or chosen as mkfs.fat does: FAT32 from
//!   512 MiB (clusters of 512 bytes up to 260 MiB, 4 KiB to 8 GiB, 8 KiB to 16 GiB, 16 KiB to
//!   32 GiB, then 32 KiB), below that FAT12 or FAT16, whichever gives more clusters, starting
//!   from 2 KiB clusters. Cluster counts stay clear of the ambiguous ranges: FAT12 at most
//!   4084 clusters, FAT16 4087 to 65524, FAT32 65525 to 268435445. When the tree does not fit
//!   with the default cluster size, smaller ones, then larger ones, then (automatic type below
//!   512 MiB) FAT32 are tried. A FAT32 volume too small for 65525 clusters is an error.
//! - [`FatOptions::size_bytes`] fixes the volume size; `None` makes the smallest volume that
//!   holds the tree, the size [`required_size`] reports (usually with small clusters, which
//!   waste the least). A disk layer asks [`required_size`] first, rounds it up to its
//!   alignment and passes that as the size.
//!
//! # Content
//!
//! - Directories list `.` and `..` first (`..` of a directory in the root points at cluster 0),
//!   then their entries in byte order of names; the root starts with the volume label entry
//!   unless the label is `NO NAME`.
//! - Clusters are allocated contiguously in [`Tree::walk`] order (a directory, then its
//!   entries); each directory takes whole clusters, each file ceil(size / cluster) clusters,
//!   an empty file none. File data is streamed one file at a time ([`extents`] lists where).
//! - Names: a name that is already a valid upper-case 8.3 name is stored
//!   alone; any other name gets VFAT long-name entries (UTF-16) and a generated 8.3 name with a
//!   numeric tail where needed: the upper-case name if it is a valid 8.3 name, else a basis
//!   name (`+,;=[]` and non-ASCII as `_`, spaces and leading dots dropped, 8 characters before
//!   the first dot, 3 after the last) with `~1`, `~2`... in byte order of the long names, as
//!   fatgen103 §"Basis-Name Generation Algorithm" describes. No lower-case flags are written.
//! - Times: `DIR_WrtDate`/`DIR_WrtTime` from each node's mtime (UTC, 2-second resolution,
//!   clamped to 1980-01-01 .. 2107-12-31); creation and access dates, `.` and `..` creation,
//!   and the label entry from [`FatOptions::epoch`]. `.` and `..` carry the directory's mtime.
//! - Attributes: directories `ATTR_DIRECTORY`; files `ATTR_ARCHIVE`, plus `ATTR_READ_ONLY`
//!   when the owner-write bit (0o200) of their mode is clear.
//! - Modes (beyond that bit), owners, xattrs and origins are dropped: FAT has no place for
//!   them. Hard links are written as independent copies of their file (its content and mtime).
//! - Errors, each naming the path: symlinks, devices and fifos ("FAT cannot store the symlink
//!   /x"); files of 4 GiB or more; names that are not UTF-8, longer than 255 UTF-16 units,
//!   with a character FAT forbids (`"*/:<>?\|` or a control character), or ending with a dot or
//!   a space; two names of a directory that differ only in case; a directory of more than
//!   65536 entries (FAT12/16 root: 65520).
//!
//! # Reading
//!
//! [`read`] returns the tree of a FAT12/16/32 volume (kit's, and mkfs.fat + mcopy's as tested):
//! long names when present and consistent (checksum, order), else the 8.3 name with the
//! lower-case flags applied and bytes above 0x7f decoded as code page 850; directories
//! 0o755, files 0o644 (0o444 with `ATTR_READ_ONLY`), owner 0:0, mtimes from `DIR_WrtDate`/
//! `DIR_WrtTime`, the root 0o755 at time 0. Volume labels, `.`, `..`, deleted entries and
//! orphaned long-name entries are skipped. Cluster chains are checked (in range, not free, not
//! shared, long enough). [`summary`] describes the boot sector, FSInfo and FAT.
//!
//! # Not supported
//!
//! - Writing: sector sizes other than 512 bytes, a FAT count other than 2, clusters above
//!   32 KiB, lower-case flags instead of long names, boot code, bad-cluster marking, Atari
//!   and exFAT variants. [`write()`] needs no `Seek`: every byte is written in order.
//! - Reading: exFAT and the Atari variant; the second FAT is not compared with the first; a
//!   chain longer than its file needs is accepted (fsck.fat would truncate it).

mod boot_sector;
mod dir_entry;
mod fsinfo;
mod geometry;
mod lfn_entry;
mod plan;
mod read;
mod short_name;
mod time;
mod write;

use std::fmt;
use std::io::{self, Read, Seek, Write};

use crate::copy::ContentError;
use crate::extent::{ExtentError, ExtentMap};
use crate::extract::PathError;
pub use crate::fat::boot_sector::BootSectorError;
use crate::tree::{ContentSource, Tree};

/// The FAT variant: the width of a FAT entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FatType {
    /// 12-bit entries, at most 4084 clusters.
    Fat12,
    /// 16-bit entries, 4087 to 65524 clusters.
    Fat16,
    /// 28-bit entries in 32 bits, at least 65525 clusters; the root directory is a chain.
    Fat32,
}

impl fmt::Display for FatType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FatType::Fat12 => "FAT12",
            FatType::Fat16 => "FAT16",
            FatType::Fat32 => "FAT32",
        })
    }
}

/// How the volume id (`BS_VolID`, the "serial number") is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeId {
    /// This value.
    Fixed(u32),
    /// The first 4 bytes (little-endian) of SHA-256 over a purpose label, this seed (for
    /// example the image's name), the epoch and the tree: every path, kind, mtime, mode, size
    /// and content identity (the SHA-256 of inline data, the object and range of a blob).
    FromSeed(Vec<u8>),
}

/// A volume label: 11 bytes, space-padded, as stored in the boot sector and the root
/// directory's label entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeLabel([u8; 11]);

impl VolumeLabel {
    /// `NO NAME`: no label; no label entry is written in the root directory.
    pub const NO_NAME: VolumeLabel = VolumeLabel(*b"NO NAME    ");

    /// A label of 1 to 11 upper-case ASCII characters, digits, spaces (not first) and
    /// `!#$%&'()-@^_`{}~`: what fsck.fat accepts without remark.
    pub fn new(label: &str) -> Result<VolumeLabel, Error> {
        let invalid = |problem| Error::Label { label: label.to_owned(), problem };
        if label.is_empty() || label.len() > 11 {
            return Err(invalid("must be 1 to 11 bytes long"));
        }
        if label.starts_with(' ') {
            return Err(invalid("must not start with a space"));
        }
        let ok = |b: u8| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || b" !#$%&'()-@^_`{}~".contains(&b)
        };
        if !label.bytes().all(ok) {
            return Err(invalid(
                "may hold only upper-case ASCII letters, digits, spaces and !#$%&'()-@^_`{}~",
            ));
        }
        let mut bytes = [b' '; 11];
        bytes[..label.len()].copy_from_slice(label.as_bytes());
        Ok(VolumeLabel(bytes))
    }

    /// The 11 stored bytes.
    pub fn as_bytes(&self) -> &[u8; 11] {
        &self.0
    }
}

/// Choices that change the bytes of a FAT volume. No `Default`: the caller decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatOptions {
    /// Size of the volume in bytes, a multiple of 512 (at most 2^32 - 1 sectors); `None`: the
    /// smallest size that holds the tree ([`required_size`]).
    pub size_bytes: Option<u64>,
    /// The FAT type, or `None` to choose it as mkfs.fat does (see the module documentation).
    pub fat_type: Option<FatType>,
    /// Bytes per cluster (a power of two from 512 to 32768), or `None` for mkfs.fat's default.
    pub cluster_size_bytes: Option<u32>,
    /// The volume id.
    pub volume_id: VolumeId,
    /// The volume label, for example `VolumeLabel::new("EFI")`, or [`VolumeLabel::NO_NAME`].
    pub volume_label: VolumeLabel,
    /// `BPB_HiddSec`: sectors before the volume on its disk (the partition's first LBA; 0 for
    /// an unpartitioned image such as an El Torito boot image).
    pub hidden_sectors: u32,
    /// Seconds since the Unix epoch: creation and access dates, the label entry's time, and
    /// the volume id of [`VolumeId::FromSeed`].
    pub epoch: i64,
    /// `BS_OEMName`, for example `*b"mkfs.fat"` or `*b"kit     "`.
    pub oem_name: [u8; 8],
}

/// Errors writing or reading a FAT volume. Each names the in-image path, field or offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The volume size is not a whole number of sectors.
    #[error("volume size is {size_bytes} bytes, expected a multiple of 512")]
    SizeNotSectors {
        /// The size asked for.
        size_bytes: u64,
    },
    /// The volume size does not fit FAT's 32-bit sector count.
    #[error(
        "volume size is {size_bytes} bytes, FAT allows at most 2199023255040 (2^32 - 1 sectors)"
    )]
    SizeTooLarge {
        /// The size asked for.
        size_bytes: u64,
    },
    /// The cluster size is not one FAT drivers accept.
    #[error(
        "cluster size is {cluster_size_bytes} bytes, expected a power of two from 512 to 32768"
    )]
    ClusterSize {
        /// The size asked for.
        cluster_size_bytes: u32,
    },
    /// The volume label is not valid.
    #[error("volume label {label:?} {problem}")]
    Label {
        /// The label asked for.
        label: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The volume has no room for a single data cluster after its boot sectors, FATs and root.
    #[error(
        "a {fat_type} volume of {size_bytes} bytes with {cluster_size_bytes}-byte clusters has no room for data"
    )]
    NoRoom {
        /// The FAT type tried.
        fat_type: FatType,
        /// The volume size.
        size_bytes: u64,
        /// The cluster size tried.
        cluster_size_bytes: u32,
    },
    /// The volume's cluster count is outside the range of its FAT type.
    #[error(
        "a {fat_type} volume of {size_bytes} bytes with {cluster_size_bytes}-byte clusters has {clusters} clusters, {fat_type} needs {min} to {max}"
    )]
    ClusterCount {
        /// The FAT type.
        fat_type: FatType,
        /// The volume size.
        size_bytes: u64,
        /// The cluster size (of the candidate closest to the range).
        cluster_size_bytes: u32,
        /// The clusters that size gives.
        clusters: u64,
        /// The least the type allows.
        min: u32,
        /// The most the type allows.
        max: u32,
    },
    /// The tree does not fit the volume.
    #[error(
        "the tree needs {needed_bytes} bytes of clusters, the {size_bytes}-byte volume holds {available_bytes} (a volume of at least {required_bytes} bytes would do)"
    )]
    TreeTooLarge {
        /// The volume size.
        size_bytes: u64,
        /// Clusters the tree needs, in bytes, with the cluster size tried first.
        needed_bytes: u64,
        /// The data area of the volume with that cluster size.
        available_bytes: u64,
        /// What [`required_size`] reports for these options.
        required_bytes: u64,
    },
    /// The tree needs more than any volume of the type can hold.
    #[error("the tree needs {needed_bytes} bytes of clusters, more than any {fat} volume holds")]
    TooLargeForType {
        /// `FAT12`, `FAT16`, `FAT32`, or `FAT` when the type is chosen automatically.
        fat: String,
        /// The least cluster space the tree needs.
        needed_bytes: u64,
    },
    /// A node of a kind FAT cannot store.
    #[error("FAT cannot store the {kind} {path}")]
    Unsupported {
        /// The node.
        path: String,
        /// `symlink`, `character device`, `block device` or `fifo`.
        kind: &'static str,
    },
    /// A file of 4 GiB or more.
    #[error("file {path} is {size} bytes, FAT allows at most 4294967295 (4 GiB - 1)")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
    },
    /// A name that is not UTF-8.
    #[error("name of {path} is not UTF-8; FAT stores names as UTF-16")]
    NameNotUtf8 {
        /// The node.
        path: String,
    },
    /// A name longer than a long name may be.
    #[error("name of {path} is {len} UTF-16 code units long, FAT allows at most 255")]
    NameTooLong {
        /// The node.
        path: String,
        /// The name's length in UTF-16 code units.
        len: usize,
    },
    /// A name with a character FAT forbids.
    #[error("name of {path} contains {ch:?}, which FAT forbids in names")]
    NameForbiddenChar {
        /// The node.
        path: String,
        /// The character.
        ch: char,
    },
    /// A name ending with a dot or a space.
    #[error("name of {path} ends with {ch:?}, which FAT drivers strip from names")]
    NameTrailing {
        /// The node.
        path: String,
        /// The dot or space.
        ch: char,
    },
    /// Two names of a directory that FAT considers equal.
    #[error("{path} and {other} differ only in case; FAT names are case-insensitive")]
    CaseCollision {
        /// The later name.
        path: String,
        /// The earlier name.
        other: String,
    },
    /// A directory with more entries than FAT allows.
    #[error("directory {path} needs {entries} 32-byte entries, {fat} allows at most {max}")]
    DirectoryTooLarge {
        /// The directory (`/` for the root).
        path: String,
        /// The entries it needs, long-name entries, `.` and `..` included.
        entries: u64,
        /// `FAT` or `a FAT12/16 root directory`.
        fat: &'static str,
        /// The limit.
        max: u32,
    },
    /// No numeric tail left for a short name (cannot happen within 65536 entries).
    #[error("directory {path}: no free 8.3 name left for its long names")]
    ShortNamesExhausted {
        /// The directory.
        path: String,
    },
    /// A hard link does not resolve to a regular file.
    #[error("hard link {path}: target {target} is {problem}, expected a regular file of the tree")]
    HardLink {
        /// The link.
        path: String,
        /// Its target.
        target: String,
        /// What the target is instead.
        problem: &'static str,
    },
    /// A file's content could not be read as announced.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The output writer failed.
    #[error("writing the FAT volume at byte {offset}: {source}")]
    Write {
        /// Offset being written.
        offset: u64,
        /// The writer's error.
        source: io::Error,
    },
    /// The input could not be read.
    #[error("reading the FAT volume at byte {offset}: {source}")]
    ReadInput {
        /// Where the read started.
        offset: u64,
        /// The reader's error.
        source: io::Error,
    },
    /// The input ends before a structure it describes.
    #[error(
        "FAT volume is {len} bytes long, {what} at byte {offset} ({bytes} bytes) is past its end"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Its offset.
        offset: u64,
        /// Its length.
        bytes: u64,
        /// The input's length.
        len: u64,
    },
    /// The boot sector is not a FAT boot sector.
    #[error("FAT boot sector: {0}")]
    BootSector(#[from] BootSectorError),
    /// The boot sector's numbers do not describe a usable volume (reading), or a cluster
    /// number overflows 32 bits (writing).
    #[error("FAT layout: {problem} ({value})")]
    Layout {
        /// What is inconsistent.
        problem: &'static str,
        /// The value involved.
        value: u64,
    },
    /// A cluster chain leaves the data area.
    #[error("cluster chain of {path} reaches cluster {cluster}, outside the data area 2..={max}")]
    ChainOutOfRange {
        /// The file or directory (`/` for the FAT32 root).
        path: String,
        /// The cluster number found.
        cluster: u64,
        /// The last cluster of the volume.
        max: u64,
    },
    /// A cluster chain reaches a cluster marked free or bad.
    #[error("cluster chain of {path} reaches cluster {cluster}, which the FAT marks {mark}")]
    ChainMarked {
        /// The file or directory.
        path: String,
        /// The cluster.
        cluster: u64,
        /// `free` or `bad`.
        mark: &'static str,
    },
    /// Two files or directories share a cluster (this also catches loops).
    #[error(
        "cluster chain of {path} reaches cluster {cluster}, which an earlier entry already uses"
    )]
    ChainShared {
        /// The file or directory.
        path: String,
        /// The cluster.
        cluster: u64,
    },
    /// A file's chain is shorter than its size.
    #[error("file {path} is {size} bytes but its cluster chain holds only {chain_bytes}")]
    ChainShort {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The bytes its chain holds.
        chain_bytes: u64,
    },
    /// A directory entry's name cannot be a path component.
    #[error("directory {dir}: entry {index} has name {name}, which cannot be a path component")]
    BadName {
        /// The directory.
        dir: String,
        /// The entry's index (32-byte slots from the directory's start).
        index: usize,
        /// The name, escaped.
        name: String,
    },
    /// A long name is not valid UTF-16.
    #[error("directory {dir}: entry {index} has a long name that is not valid UTF-16")]
    BadLongName {
        /// The directory.
        dir: String,
        /// The entry's index.
        index: usize,
    },
    /// A subdirectory entry points at cluster 0 (the root).
    #[error("directory {path} starts at cluster 0, which stands for the root directory")]
    DirectoryAtZero {
        /// The directory.
        path: String,
    },
    /// An entry could not be placed in the tree.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// The smallest volume size in bytes that holds `tree` with `options` (whose `size_bytes` is
/// ignored): FAT type and cluster size as `options` say or as chosen automatically for that
/// size. Larger sizes hold the tree too, with two exceptions that only explicit choices
/// create: a FAT12 or FAT16 volume has a largest size (4084 or 65524 clusters of at most
/// 32 KiB), and with an explicit cluster size, a volume just above 8192 sectors loses a few
/// sectors to cluster alignment (which smaller volumes skip, as mkfs.fat does).
pub fn required_size(tree: &Tree, options: &FatOptions) -> Result<u64, Error> {
    plan::required_size(tree, options)
}

/// Lays `tree` out as a FAT volume and lists its bytes: boot sectors, FATs and directories as
/// literal bytes, file contents as [`crate::extent::Extent::Content`], free space as zeros.
pub fn extents(tree: &Tree, options: &FatOptions) -> Result<ExtentMap, Error> {
    let layout = plan::layout(tree, options)?;
    Ok(write::extents(&layout, options))
}

/// Writes `tree` as a FAT volume to `out`, reading file contents through `source` one file at
/// a time. Every byte is written in order (no seeking), free space as zeros.
pub fn write(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &FatOptions,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let map = extents(tree, options)?;
    map.write_to(source, out).map_err(|err| match err {
        ExtentError::Content(err) => Error::Content(err),
        ExtentError::Write { offset, source } => Error::Write { offset, source },
    })
}

/// Writes `tree` as a FAT volume into a new vector.
pub fn to_vec(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &FatOptions,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(tree, source, options, &mut out)?;
    Ok(out)
}

/// Reads a FAT12/16/32 volume into a tree with inline contents (see the module documentation).
pub fn read(input: &mut (impl Read + Seek)) -> Result<Tree, Error> {
    read::read(input)
}

/// Describes the volume's boot sector, FSInfo and FAT as key/value lines.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    read::summary(input)
}

#[cfg(test)]
mod tests;
