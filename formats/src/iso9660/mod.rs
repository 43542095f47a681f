//! ISO 9660 writer and reader with Rock Ridge and Joliet: LinuxKit's `kernel+iso` root
//! filesystem (`genisoimage -l -J -R -joliet-long -input-charset utf8 -V LinuxKit`).
//!
//! Specifications: ECMA-119 4th edition (ISO 9660), the System Use Sharing Protocol (SUSP,
//! IEEE P1281 1.12), the Rock Ridge Interchange Protocol (RRIP, IEEE P1282 1.12) and Microsoft's
//! Joliet specification. Behaviour follows genisoimage 1.1.11 and xorriso/libisofs 1.5, and the
//! Linux kernel's reader (`fs/isofs`). One file per on-disk structure: `volume_descriptor.rs`,
//! `dir_record.rs`, `path_table.rs`, `susp.rs`, `rock_ridge.rs`, `datetime.rs` (and
//! `both_endian.rs` for ECMA-119's number formats); names in `names.rs`.
//!
//! # Writing
//!
//! [`write()`] plans the whole image first (`plan.rs`: identifiers, Rock Ridge entries,
//! continuation areas, every sector address), then streams it in sector order (`write.rs`),
//! reading one file at a time through [`ExactReader`](crate::copy::ExactReader). Metadata
//! (descriptors, path tables, directories) is built in memory; file data never is.
//!
//! - Three hierarchies over the same file extents: ISO 9660 identifiers (8.3 or 31 characters,
//!   [`PrimaryNames`]), Rock Ridge names and attributes on those records, and Joliet
//!   (UCS-2, 64 or 103 characters, [`JolietNames`]). See `names.rs` for the mapping and the
//!   deterministic collision and truncation rules.
//! - Rock Ridge 1.12 (ER `IEEE_1282`): PX with mode, link count, owner and the inode serial
//!   number (hard links share one extent and one serial), TF (modification, access and
//!   attribute change times, all the mtime, 7-byte form: 1900 to 2155, clamped), NM (any length
//!   up to 253 bytes, split across entries), SL (components split across records and entries),
//!   PN (glibc `dev_t` halves, see `rock_ridge.rs`), FIFOs by their PX type; entries that do not fit
//!   in a record go to continuation areas (CE) of at most one block each. The root's `.` record
//!   starts with SP and carries the ER entry.
//! - Directory link counts are 2 + subdirectories; a hard link group's count is its number of
//!   names, and every name carries the file's metadata (one inode, one PX).
//! - Deep directories: with [`IsoOptions::relocate_deep_directories`], a directory that would
//!   be at level 9 or deeper of the ISO 9660 hierarchy (the root is level 1, ECMA-119 6.8.2.1
//!   allows 8) moves to a root directory `rr_moved` with an RE entry, a placeholder with a CL
//!   entry stays in its parent and its `..` has a PL entry (RRIP 4.1.5), as genisoimage `-R`
//!   does. The Linux kernel then shows an empty `rr_moved` directory, as with LinuxKit's
//!   images. Without it, the ISO 9660 hierarchy is as deep as the tree, as `xorriso -as mkisofs`
//!   writes it: ECMA-119 forbids that, but Linux, libisofs, libarchive and isoinfo read it.
//!   Joliet keeps the tree's depth in both cases, as genisoimage does.
//! - Files larger than 4 GiB - 2048 bytes are multi-extent (ECMA-119 6.5.1, ISO level 3): one
//!   record per extent of at most 4 GiB - 2048 bytes, all but the last flagged, as libisofs
//!   writes them; Linux, libisofs and libarchive read them.
//! - Volume descriptors: system id `LINUX` (as genisoimage on Linux), the volume id as given
//!   (also the volume set id), application id `KIT`, creation, modification and effective dates
//!   [`IsoOptions::epoch`] (UTC), expiration unset. Recording dates of records are the mtimes.
//! - Layout: see `plan.rs`. The image ends with 150 zero sectors, as genisoimage and xorriso
//!   pad it.
//!
//! The output is written in many small pieces: give [`write()`] a buffered writer.
//!
//! # Not supported
//!
//! Extended attributes (libisofs's AAIP is not written; the Linux kernel ignores it anyway) and
//! origins are dropped. Sockets cannot be represented (the tree has none). Names longer than 253
//! bytes are errors: the Linux kernel's Rock Ridge reader (`get_rock_ridge_filename` in
//! `fs/isofs/rock.c`) stops at 253 bytes and would show a cut name (genisoimage writes such
//! names and the kernel cuts them). Symlink targets longer than 4095 bytes (Linux cannot hold
//! them) and device numbers beyond Linux's 12-bit major and 20-bit minor are errors too. Path length limits of ECMA-119
//! (255 bytes) are not enforced, as genisoimage does not enforce them. No
//! multi-session, no interleaving, no extended attribute records, no ISO 9660:1999.
//!
//! # El Torito and hybrid images
//!
//! With [`IsoOptions::boot`] the image boots ("El Torito" Bootable CD-ROM Format
//! Specification 1.0, `el_torito.rs`; the hybrid system area in `system_area.rs`):
//! - the boot record volume descriptor ("EL TORITO SPECIFICATION") at sector 17, right after
//!   the primary descriptor, pointing at the boot catalog;
//! - the boot catalog: one sector after the Joliet directories, before the file data. It is in
//!   no directory (as `genisoimage -c` with `-hide`; xorriso shows a `/boot.catalog` file by
//!   default): the tree read back is the tree written, and the boot entries point only at tree
//!   files. A validation entry (checksum, 0x55 0xAA) with the default entry's platform, the
//!   default entry, then for every further image a section header of its platform (the last
//!   one final, 0x91) with one section entry, as libisofs writes them;
//! - the default entry is the BIOS loader ([`BiosBoot`], platform 0x00) if given, else the EFI
//!   image (platform 0xEF); with both, the EFI image has its own section. Entries are
//!   bootable (0x88), no emulation, load segment 0 (0x7C0), system type 0; the EFI entry's
//!   sector count is the image's 512-byte sectors, or 0 when they exceed 65535, as xorriso
//!   1.5.4 writes for large images (checked with `-e` on a 40 MiB FAT image); firmware reads
//!   the whole image then. Boot images are regular files of the tree (or hard links to one),
//!   not empty, in one extent;
//! - [`Hybrid`]: an MBR with one 0xEF record, or a protective MBR and a GPT with one EFI System
//!   partition, over the EFI image's 512-byte blocks, so the image also boots from a USB stick
//!   under UEFI. The GPT's backup array and header take the last 33 blocks of the volume's
//!   zero padding; GUIDs and the MBR disk signature come from [`ElTorito::seed`].
//!
//! Checked against xorriso's `-report_el_torito` and `-report_system_area`, isoinfo, sfdisk
//! and `sgdisk -v`, and booted by hand under OVMF (systemd-boot in a FAT image) as a CD-ROM,
//! and as a virtio disk with either system area.
//!
//! [`BiosBoot::boot_info_table`] patches ISOLINUX's boot info table into the loader as it is
//! written (its first 64 bytes become a literal extent; the loader is read once more for the
//! checksum), checked against the table xorriso's `-boot-info-table` writes.
//!
//! Not done: emulated floppy or hard disk
//! boot images, MBR boot code (isohybrid's `isohdpfx.bin`) for BIOS booting from a USB stick,
//! selection criteria, and boot images outside the tree (xorriso's `-append_partition`).

//! # Reading
//!
//! [`read`] takes the Rock Ridge view when the root's `.` record has SP (names, modes, owners,
//! times, symlinks, devices; relocated directories are followed through CL and hidden through
//! RE, and an `rr_moved` directory left empty is dropped), else Joliet, else the ISO 9660
//! identifiers (version and trailing dot removed; directories 0555, files 0444, owner 0:0, as
//! the Linux kernel shows them). Later names of an inode become [`NodeKind::HardLink`]s: names
//! with the same PX serial number (RRIP 1.12), or, without serials, regular files with a link
//! count of 2 or more that share an extent (genisoimage, xorriso). Multi-extent files are joined.
//! Files sharing an extent share their bytes in memory. [`summary`] lists the volume
//! descriptor fields, the El Torito catalog's images (platform, media, load segment, sector
//! count, load sector and the path of the file there) and the system area's MBR records and
//! GPT (through [`crate::gpt::summary`]). Images made by xorriso show their `boot.catalog` as
//! a file of the tree.
//!
//! [`NodeKind::HardLink`]: crate::tree::NodeKind::HardLink

mod both_endian;
mod datetime;
mod dir_record;
mod el_torito;
mod names;
mod path_table;
mod plan;
mod read;
mod rock_ridge;
mod susp;
mod system_area;
mod volume_descriptor;
mod write;

use std::io::{self, Cursor, Read, Seek, Write};

use crate::copy::ContentError;
use crate::extract::PathError;
use crate::tree::{ContentSource, Tree};

/// How ISO 9660 identifiers are made from names (see `names.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryNames {
    /// 8 characters, a dot and 3 (ISO level 1, genisoimage's default).
    Iso8Dot3,
    /// Up to 31 characters (genisoimage `-l`, which LinuxKit passes).
    Long31,
}

/// How long Joliet names may be before they are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JolietNames {
    /// 64 UCS-2 characters, the Joliet specification's limit (genisoimage's default).
    Max64,
    /// 103 characters (genisoimage `-joliet-long`, which LinuxKit passes).
    Long103,
}

/// Choices that change the bytes of an ISO image. No `Default`: the caller decides.
/// LinuxKit's `kernel+iso` is `volume_id: "LinuxKit"`, [`PrimaryNames::Long31`],
/// `Some(JolietNames::Long103)` and relocation on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoOptions {
    /// Volume identifier: at most 32 printable ASCII bytes, written as given (genisoimage
    /// `-V`; ECMA-119 asks for d-characters, genisoimage and the Linux kernel do not). Joliet
    /// keeps its first 16 characters.
    pub volume_id: String,
    /// Seconds since the Unix epoch for the volume creation, modification and effective dates
    /// (and the relocation directory's mtime).
    pub epoch: i64,
    /// ISO 9660 identifier style.
    pub primary_names: PrimaryNames,
    /// Joliet hierarchy and its name length, or `None` for none.
    pub joliet: Option<JolietNames>,
    /// Move directories deeper than ECMA-119's 8 levels to `rr_moved` (genisoimage `-R`) rather
    /// than writing a deeper hierarchy (xorriso).
    pub relocate_deep_directories: bool,
    /// El Torito boot entries and a hybrid system area, or `None` for a plain image.
    pub boot: Option<ElTorito>,
}

/// What makes the image bootable (see the module documentation, "El Torito").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElTorito {
    /// A no-emulation BIOS boot loader (ISOLINUX's `isolinux.bin`, GRUB's `eltorito.img`):
    /// the default entry (platform 0x00) when given.
    pub bios: Option<BiosBoot>,
    /// The path in the tree (`/`-separated, leading `/` optional) of a FAT image holding
    /// `EFI/BOOT/BOOTX64.EFI`: an entry of platform 0xEF, the default one without `bios`
    /// (`xorriso -as mkisofs -e PATH -no-emul-boot`). A regular file or a hard link to one.
    pub efi_image: Option<Vec<u8>>,
    /// The MBR/GPT in sectors 0-15 that makes the EFI image a partition on a USB stick.
    pub hybrid: Hybrid,
    /// Seed of the GPT GUIDs and the MBR disk signature (for example the image's content
    /// hash or a build id): same seed, same identifiers.
    pub seed: Vec<u8>,
}

/// A BIOS no-emulation boot entry (`-b PATH -no-emul-boot -boot-load-size N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiosBoot {
    /// The loader's path in the tree.
    pub loader: Vec<u8>,
    /// 512-byte sectors the BIOS loads (4 for ISOLINUX, as `-boot-load-size 4`).
    pub load_sectors: u16,
    /// Patch ISOLINUX's 56-byte boot info table into bytes 8-63 of the loader as written in
    /// the image (`-boot-info-table`): the primary descriptor's sector (16), the loader's
    /// sector, its length, and the 32-bit sum of its little-endian words from byte 64 on; the
    /// other 40 bytes zero. The tree read back then has the patched loader, as with
    /// genisoimage and xorriso.
    pub boot_info_table: bool,
}

/// The system area of a bootable image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hybrid {
    /// Zeros: boots as a CD-ROM only.
    None,
    /// An MBR with one 0xEF record over the EFI image.
    Mbr,
    /// A protective MBR and a GPT with one EFI System partition over the EFI image, the
    /// backup GPT at the end of the volume.
    Gpt,
}

/// Errors writing or reading an ISO image. Each names the in-image path, sector or byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output writer failed.
    #[error("writing the ISO image at byte {offset}: {source}")]
    Write {
        /// Offset of the extent being written.
        offset: u64,
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
    /// The volume identifier cannot be written.
    #[error("volume id {volume_id:?} {problem}")]
    VolumeId {
        /// The identifier given.
        volume_id: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A name is longer than Linux and its Rock Ridge reader accept.
    #[error(
        "name of {path} is {len} bytes, the Linux kernel reads Rock Ridge names of at most 253 bytes"
    )]
    NameTooLong {
        /// The entry.
        path: String,
        /// The name's length.
        len: usize,
    },
    /// A name cannot be a directory entry.
    #[error("name of {path} {problem}")]
    InvalidName {
        /// The entry.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A symlink target is longer than Linux stores.
    #[error("symlink {path} has a {len}-byte target, expected at most 4095 bytes")]
    SymlinkTooLong {
        /// The symlink.
        path: String,
        /// The target's length.
        len: usize,
    },
    /// A device number does not fit Linux's `dev_t`.
    #[error(
        "device {path} is {major},{minor}, expected a major below 4096 and a minor below 1048576 (Linux dev_t)"
    )]
    DeviceNumber {
        /// The device node.
        path: String,
        /// Its major number.
        major: u32,
        /// Its minor number.
        minor: u32,
    },
    /// Mode bits outside the permission bits.
    #[error("mode of {path} is {mode:#o}, expected permission bits within 0o7777")]
    InvalidMode {
        /// The entry.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// More than 2^32 inodes or links.
    #[error("too many inodes at {path}: Rock Ridge numbers them with 32 bits")]
    TooManyInodes {
        /// Where the count overflowed.
        path: String,
    },
    /// Every collision counter for an identifier is taken.
    #[error("directory {path}: no free ISO 9660 or Joliet identifier left for {name}")]
    TooManyCollisions {
        /// The directory.
        path: String,
        /// The name that got no identifier.
        name: String,
    },
    /// More directories than path tables can number.
    #[error("the image needs {count} directories, ISO 9660 path tables number at most 65535")]
    TooManyDirectories {
        /// Directories in the hierarchy.
        count: usize,
    },
    /// A directory's records need more than 4 GiB.
    #[error("directory {path} needs more than 4 GiB of records, ISO 9660 sizes are 32-bit")]
    DirectoryTooLarge {
        /// The directory.
        path: String,
    },
    /// The image would need sector numbers beyond 32 bits.
    #[error("the image needs {sectors} sectors of 2048 bytes, ISO 9660 addresses at most 2^32 - 1")]
    ImageTooLarge {
        /// Sectors needed.
        sectors: u64,
    },
    /// The input could not be read.
    #[error("reading the ISO image at byte {offset}: {source}")]
    ReadInput {
        /// Where the read started.
        offset: u64,
        /// The reader's error.
        source: io::Error,
    },
    /// A structure lies beyond the end of the image.
    #[error(
        "{what} at sector {lba} ({len} bytes) lies beyond the end of the {image_bytes}-byte image"
    )]
    OutOfImage {
        /// What was being read.
        what: String,
        /// Its first sector.
        lba: u64,
        /// Its length.
        len: u64,
        /// The image's length.
        image_bytes: u64,
    },
    /// No primary volume descriptor before the terminator.
    #[error("not an ISO 9660 image: {problem}")]
    NotIso {
        /// What was found.
        problem: String,
    },
    /// A volume descriptor is malformed.
    #[error("volume descriptor at sector {lba}: {problem}")]
    Descriptor {
        /// Its sector.
        lba: u64,
        /// What is wrong.
        problem: &'static str,
    },
    /// A directory record is malformed.
    #[error("directory {path}, record at byte {offset} of its extent: {problem}")]
    Record {
        /// The directory.
        path: String,
        /// Offset of the record in the directory's extent.
        offset: u64,
        /// What is wrong.
        problem: &'static str,
    },
    /// A System Use entry is malformed.
    #[error("Rock Ridge entries of {path}: {problem}")]
    Susp {
        /// The entry's path.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A directory contains itself.
    #[error("directory {path} at sector {lba} was already read: the hierarchy has a loop")]
    Loop {
        /// The directory met again.
        path: String,
        /// Its sector.
        lba: u64,
    },
    /// Directories nest deeper than a Linux path can reach.
    #[error("directory {path} is nested deeper than {limit} levels")]
    TooDeep {
        /// The directory.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// An entry is a socket, which the tree cannot hold.
    #[error("{path} is a socket; sockets are not supported")]
    Socket {
        /// The entry.
        path: String,
    },
    /// An entry's Rock Ridge name is unusable.
    #[error("directory {path} has an entry named {name}, which {problem}")]
    BadName {
        /// The directory.
        path: String,
        /// The name, escaped.
        name: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// An entry could not be placed in the tree.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A boot image cannot be used.
    #[error("boot image {path} {problem}")]
    Boot {
        /// The boot image's path.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The El Torito options cannot be used.
    #[error("El Torito options: {problem}")]
    BootOptions {
        /// What is wrong.
        problem: &'static str,
    },
    /// The boot catalog is malformed.
    #[error("El Torito boot catalog at sector {lba}: {problem}")]
    Catalog {
        /// Its sector.
        lba: u64,
        /// What is wrong.
        problem: &'static str,
    },
}

/// A writer that can also seek (the public entry points take `impl Write + Seek`).
pub trait WriteSeek: Write + Seek {}

impl<T: Write + Seek> WriteSeek for T {}

/// A reader that can also seek.
pub trait ReadSeek: Read + Seek {}

impl<T: Read + Seek> ReadSeek for T {}

/// Writes `tree` as an ISO 9660 image with Rock Ridge (and Joliet, if chosen) to `out`, reading
/// file contents through `source`. The image is written front to back; nothing is sought.
pub fn write(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &IsoOptions,
    out: &mut (impl Write + Seek),
) -> Result<(), Error> {
    write_dyn(tree, source, options, plan::MAX_EXTENT_BYTES, out)
}

fn write_dyn(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &IsoOptions,
    max_extent_bytes: u64,
    out: &mut dyn WriteSeek,
) -> Result<(), Error> {
    let plan = plan::plan(tree, options, max_extent_bytes)?;
    write::emit(&plan, source, out)
}

/// Writes `tree` as an ISO image into a new vector.
pub fn to_vec(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &IsoOptions,
) -> Result<Vec<u8>, Error> {
    let mut out = Cursor::new(Vec::new());
    write(tree, source, options, &mut out)?;
    Ok(out.into_inner())
}

/// Like [`to_vec`] with extents of at most `max_extent_sectors` sectors, so that tests can
/// make multi-extent files without writing 4 GiB. Not for production use.
#[doc(hidden)]
pub fn to_vec_with_max_extent(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &IsoOptions,
    max_extent_sectors: u32,
) -> Result<Vec<u8>, Error> {
    let max_extent_bytes =
        (u64::from(max_extent_sectors.max(1)) * plan::SECTOR_BYTES).min(plan::MAX_EXTENT_BYTES);
    let mut out = Cursor::new(Vec::new());
    write_dyn(tree, source, options, max_extent_bytes, &mut out)?;
    Ok(out.into_inner())
}

/// Reads an ISO image into a tree with inline contents (see the module documentation for the
/// view taken).
pub fn read(input: &mut (impl Read + Seek)) -> Result<Tree, Error> {
    read::read(input, read::View::Best)
}

/// Key/value lines describing the image's volume descriptors, boot catalog and system area,
/// for `kit inspect`.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    read::summary(input)
}

#[cfg(test)]
mod tests;
