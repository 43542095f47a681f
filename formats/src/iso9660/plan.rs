//! The layout of an ISO 9660 image for a tree: identifiers, Rock Ridge entries, continuation
//! areas, directory sizes and every sector address, computed before any byte is written.
//!
//! The image, in sector (LBA) order:
//!
//! | sectors | what |
//! |---|---|
//! | 0-15 | system area, zeros (El Torito hybrids put an MBR and GPT here) |
//! | 16 | primary volume descriptor |
//! | 17 | El Torito boot record, if booting |
//! | next | Joliet supplementary volume descriptor, if Joliet is on |
//! | next | volume descriptor set terminator |
//! | | type L then type M path table of the primary hierarchy, then of Joliet |
//! | | primary directories, in path table order |
//! | | Rock Ridge continuation areas |
//! | | Joliet directories, in path table order |
//! | | El Torito boot catalog, if booting (one sector, in no directory) |
//! | | file data, one extent per inode in tree walk order, each padded to a sector |
//! | | 150 zero sectors of padding, as genisoimage and xorriso add (inside the volume) |
//!
//! Empty files, symlinks, devices, FIFOs and relocation placeholders have extent 0 and length 0.

use std::collections::BTreeMap;

use crate::dump::display_path;
use crate::iso9660::datetime::RecordingDateTime;
use crate::iso9660::dir_record::{self, DOT, DOTDOT, flags};
use crate::iso9660::el_torito::{self, BootEntry, CatalogImage};
use crate::iso9660::names::{self, NameKind};
use crate::iso9660::path_table;
use crate::iso9660::rock_ridge::{
    self, DeviceNumber, PosixAttributes, RELOCATED, Timestamps, link_entry, mode,
};
use crate::iso9660::susp::{ContinuationArea, ExtensionsReference, SharingProtocolIndicator};
use crate::iso9660::system_area::{self, SystemArea};
use crate::iso9660::{ElTorito, Error, Hybrid, IsoOptions};
use crate::links::{self, LinkPlan, Role};
use crate::tree::{Content, Dir, Meta, Node, NodeKind, Tree};

/// Logical sector and block size (ECMA-119 6.1.2; kit writes 2048-byte blocks).
pub(crate) const SECTOR_BYTES: u64 = 2048;
/// Sectors 0-15: the system area (ECMA-119 6.2.1).
pub(crate) const SYSTEM_AREA_SECTORS: u32 = 16;
/// Zero sectors after the data (genisoimage's and xorriso's default 300 KiB padding).
pub(crate) const PADDING_SECTORS: u32 = 150;
/// Largest extent of a multi-extent file: 4 GiB - 2048, a whole number of sectors, as libisofs.
pub(crate) const MAX_EXTENT_BYTES: u64 = 0xffff_f800;
/// ECMA-119 6.8.2.1: at most 8 levels of directories, the root being level 1.
const MAX_ISO_DEPTH: usize = 8;
/// Longest name: the Linux kernel's Rock Ridge reader (`get_rock_ridge_filename`) gives up once
/// a name reaches 254 bytes, two short of `NAME_MAX`.
pub(crate) const MAX_NAME_BYTES: usize = 253;
/// Longest symlink target Linux stores (`PATH_MAX` - 1).
pub(crate) const MAX_TARGET_BYTES: usize = 4095;
/// Path table parent numbers are 16-bit (ECMA-119 9.4.4).
pub(crate) const MAX_DIRECTORIES: usize = 65_535;
/// Longest directory record kit writes: 255 rounded down to an even length.
const MAX_RECORD_BYTES: usize = 254;
/// Room for entries in one continuation area: a block, less a CE entry to the next area.
const AREA_ROOM_BYTES: usize = 2048 - ContinuationArea::SIZE;
/// Rock Ridge name of the directory that holds relocated deep directories (genisoimage's).
pub(crate) const RELOCATION_DIR: &[u8] = b"rr_moved";
/// Permission bits of the relocation directory (genisoimage's `dr-xr-xr-x`).
const RELOCATION_DIR_MODE: u32 = 0o555;

/// Every placement decision for one image.
#[derive(Debug)]
pub(crate) struct Plan<'t> {
    /// The volume identifier, validated.
    pub(crate) volume_id: Vec<u8>,
    /// Volume creation, modification and effective time.
    pub(crate) epoch: i64,
    /// Volume descriptors and their sectors, in order.
    pub(crate) descriptors: Vec<(u32, Descriptor)>,
    /// The ISO 9660 hierarchy with Rock Ridge.
    pub(crate) primary: Hierarchy,
    /// The Joliet hierarchy, if enabled.
    pub(crate) joliet: Option<Hierarchy>,
    /// First sector of the continuation areas.
    pub(crate) continuation_lba: u32,
    /// The continuation area blocks, 2048 bytes each.
    pub(crate) continuation_blocks: Vec<Vec<u8>>,
    /// File data extents in sector order (empty files have none).
    pub(crate) files: Vec<PlannedFile<'t>>,
    /// First sector after the file data: the padding starts here.
    pub(crate) data_end_lba: u32,
    /// Volume space size: every sector including the padding.
    pub(crate) volume_sectors: u32,
    /// The boot catalog and system area, if the image boots.
    pub(crate) boot: Option<PlannedBoot>,
}

/// El Torito's sectors.
#[derive(Debug)]
pub(crate) struct PlannedBoot {
    /// Sector of the boot catalog.
    pub(crate) catalog_lba: u32,
    /// The catalog sector.
    pub(crate) catalog: Vec<u8>,
    /// The hybrid MBR/GPT, if any.
    pub(crate) system_area: Option<SystemArea>,
    /// The BIOS loader whose boot info table is patched: its index in [`Plan::files`].
    pub(crate) boot_info_table: Option<usize>,
}

/// A volume descriptor slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Descriptor {
    /// The primary volume descriptor (ECMA-119 8.4).
    Primary,
    /// The El Torito boot record (ECMA-119 8.2, El Torito 2.0).
    BootRecord,
    /// The Joliet supplementary volume descriptor (ECMA-119 8.5).
    Joliet,
    /// The set terminator (ECMA-119 8.3).
    Terminator,
}

/// One directory hierarchy (primary or Joliet) with its path tables.
#[derive(Debug)]
pub(crate) struct Hierarchy {
    /// Directories in path table order: index + 1 is the directory number.
    pub(crate) dirs: Vec<PlannedDir>,
    /// Size of one path table in bytes.
    pub(crate) path_table_bytes: u32,
    /// Sector of the type L path table.
    pub(crate) l_table_lba: u32,
    /// Sector of the type M path table.
    pub(crate) m_table_lba: u32,
}

/// One directory's extent.
#[derive(Debug)]
pub(crate) struct PlannedDir {
    /// Its tree path, for listings (the relocation directory shows its own name).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) path: Vec<u8>,
    /// Path table identifier: the identifier of its record in its parent; `[0]` for the root.
    pub(crate) identifier: Vec<u8>,
    /// Directory number of its parent (1 for the root).
    pub(crate) parent_number: u16,
    /// First sector.
    pub(crate) lba: u32,
    /// Size in bytes, a whole number of sectors.
    pub(crate) size_bytes: u32,
    /// Its records, `.` and `..` first.
    pub(crate) records: Vec<PlannedRecord>,
}

/// One directory record, fully resolved.
#[derive(Debug)]
pub(crate) struct PlannedRecord {
    /// Byte offset within the directory's extent.
    pub(crate) offset: u32,
    /// File identifier.
    pub(crate) identifier: Vec<u8>,
    /// First sector of the extent.
    pub(crate) extent_lba: u32,
    /// Length of the extent in bytes.
    pub(crate) data_length_bytes: u32,
    /// File flags (ECMA-119 9.1.6).
    pub(crate) flags: u8,
    /// Recording time, seconds since the Unix epoch (clamped when encoded).
    pub(crate) mtime: i64,
    /// The System Use field, padded so that the record's length is even.
    pub(crate) system_use: Vec<u8>,
}

/// One inode's data.
#[derive(Debug)]
pub(crate) struct PlannedFile<'t> {
    /// The path of its first name in walk order (for messages).
    pub(crate) path: Vec<u8>,
    /// Its content.
    pub(crate) content: &'t Content,
    /// First sector (0 when empty).
    pub(crate) lba: u32,
}

/// Plans `tree` with extents of at most `max_extent_bytes` (a whole number of sectors).
pub(crate) fn plan<'t>(
    tree: &'t Tree,
    options: &IsoOptions,
    max_extent_bytes: u64,
) -> Result<Plan<'t>, Error> {
    let volume_id = check_volume_id(&options.volume_id)?;
    let links = links::plan(tree).map_err(|bad| Error::HardLink {
        path: bad.path,
        target: bad.target,
        problem: bad.problem,
    })?;
    let mut builder = Builder::new(tree, options, links)?;
    builder.gather(&tree.root)?;
    builder.finish_relocation_dir()?;
    let Builder { dirs, jdirs, files, .. } = builder;

    let file_parts: Vec<Vec<u64>> =
        files.iter().map(|file| split_extents(file.content.len(), max_extent_bytes)).collect();
    let mut areas = AreaAllocator::default();
    let primary = primary_records(&dirs, options, &file_parts, &mut areas)?;
    let joliet = match options.joliet {
        Some(style) => Some(joliet_records(&jdirs, style, &file_parts)?),
        None => None,
    };

    // Sector addresses, in image order.
    let mut next = Allocator { next_lba: u64::from(SYSTEM_AREA_SECTORS) };
    let mut descriptors = vec![(next.take(1)?, Descriptor::Primary)];
    if options.boot.is_some() {
        descriptors.push((next.take(1)?, Descriptor::BootRecord));
    }
    if joliet.is_some() {
        descriptors.push((next.take(1)?, Descriptor::Joliet));
    }
    descriptors.push((next.take(1)?, Descriptor::Terminator));
    let primary_tables = next.take_tables(primary.path_table_bytes)?;
    let joliet_tables = match &joliet {
        Some(joliet) => Some(next.take_tables(joliet.path_table_bytes)?),
        None => None,
    };
    let primary_lbas = next.take_dirs(&primary)?;
    let continuation_lba = next.take(areas.n_blocks())?;
    let joliet_lbas = match &joliet {
        Some(joliet) => next.take_dirs(joliet)?,
        None => Vec::new(),
    };
    let catalog_lba = match &options.boot {
        Some(_) => Some(next.take(1)?),
        None => None,
    };
    let mut file_lbas = Vec::with_capacity(files.len());
    for file in &files {
        let sectors = file.content.len().div_ceil(SECTOR_BYTES);
        file_lbas.push(if sectors == 0 { 0 } else { next.take(sectors)? });
    }
    let data_end_lba = next.take(0)?;
    next.take(u64::from(PADDING_SECTORS))?;
    let volume_sectors = next.take(0)?;
    let boot = match (&options.boot, catalog_lba) {
        (Some(boot), Some(catalog_lba)) => {
            Some(plan_boot(tree, boot, &files, &file_lbas, catalog_lba, volume_sectors)?)
        }
        _ => None,
    };

    let primary_sizes = primary.sizes.clone();
    let joliet_sizes = joliet.as_ref().map_or_else(Vec::new, |j| j.sizes.clone());
    let lbas = Lbas {
        primary_dirs: &primary_lbas,
        joliet_dirs: &joliet_lbas,
        files: &file_lbas,
        continuation: continuation_lba,
        primary_sizes: &primary_sizes,
        joliet_sizes: &joliet_sizes,
        file_parts: &file_parts,
        max_extent_bytes,
    };
    let continuation_blocks = areas.encode(&lbas);
    let primary = primary.resolve(&lbas, &areas, primary_tables, false);
    let joliet = joliet.map(|joliet| {
        let tables = joliet_tables.unwrap_or((0, 0));
        joliet.resolve(&lbas, &areas, tables, true)
    });
    let files = files
        .into_iter()
        .zip(&file_lbas)
        .map(|(file, lba)| PlannedFile { path: file.path, content: file.content, lba: *lba })
        .collect();
    Ok(Plan {
        volume_id,
        epoch: options.epoch,
        descriptors,
        primary,
        joliet,
        continuation_lba,
        continuation_blocks,
        files,
        data_end_lba,
        volume_sectors,
        boot,
    })
}

/// The catalog entries and system area for `boot`, once every file has its sectors.
fn plan_boot(
    tree: &Tree,
    boot: &ElTorito,
    files: &[BuildFile<'_>],
    file_lbas: &[u32],
    catalog_lba: u32,
    volume_sectors: u32,
) -> Result<PlannedBoot, Error> {
    let mut images = Vec::new();
    let mut boot_info_table = None;
    if let Some(bios) = &boot.bios {
        let (idx, lba, len) = boot_file(tree, files, file_lbas, &bios.loader)?;
        if bios.boot_info_table {
            if len < 64 {
                return Err(Error::Boot {
                    path: display_path(&bios.loader),
                    problem: format!(
                        "is {len} bytes, a boot info table needs a loader of at least 64"
                    ),
                });
            }
            boot_info_table = Some(idx);
        }
        if bios.load_sectors == 0 {
            return Err(Error::Boot {
                path: display_path(&bios.loader),
                problem: "BIOS load size is 0 sectors, expected at least 1".to_owned(),
            });
        }
        images.push(CatalogImage {
            platform_id: el_torito::PLATFORM_X86,
            entry: BootEntry {
                boot_indicator: el_torito::BOOTABLE,
                boot_media_type: el_torito::NO_EMULATION,
                load_segment: 0,
                system_type: 0,
                sector_count: bios.load_sectors,
                load_rba: lba,
                selection_criteria_type: 0,
            },
        });
    }
    let mut esp = None;
    if let Some(path) = &boot.efi_image {
        let (_, lba, len) = boot_file(tree, files, file_lbas, path)?;
        esp = Some((path.as_slice(), lba, len));
        images.push(CatalogImage {
            platform_id: el_torito::PLATFORM_EFI,
            entry: BootEntry {
                boot_indicator: el_torito::BOOTABLE,
                boot_media_type: el_torito::NO_EMULATION,
                load_segment: 0,
                system_type: 0,
                sector_count: el_torito::sector_count(len),
                load_rba: lba,
                selection_criteria_type: 0,
            },
        });
    }
    if images.is_empty() {
        return Err(Error::BootOptions { problem: "no BIOS loader and no EFI image given" });
    }
    let system_area = match (boot.hybrid, esp) {
        (Hybrid::None, _) => None,
        (hybrid, Some((path, lba, len))) => {
            Some(system_area::plan(hybrid, &boot.seed, path, lba, len, volume_sectors)?)
        }
        (_, None) => {
            return Err(Error::BootOptions {
                problem: "a hybrid MBR or GPT needs an EFI image for its partition",
            });
        }
    };
    Ok(PlannedBoot {
        catalog_lba,
        catalog: el_torito::encode_catalog(&images),
        system_area,
        boot_info_table,
    })
}

/// The file index, first sector and length of the boot image at `path`: a non-empty regular file of the
/// tree, or a hard link to one.
fn boot_file(
    tree: &Tree,
    files: &[BuildFile<'_>],
    file_lbas: &[u32],
    path: &[u8],
) -> Result<(usize, u32, u64), Error> {
    let normalize = |path: &[u8]| -> Vec<u8> {
        path.split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect::<Vec<_>>()
            .join(&b'/')
    };
    let shown = display_path(path);
    let problem = |problem: &str| Error::Boot { path: shown.clone(), problem: problem.to_owned() };
    let wanted = normalize(path);
    let content = match tree.get(&wanted).map(|node| &node.kind) {
        Some(NodeKind::File(content)) => content,
        Some(NodeKind::HardLink(target)) => match tree.get(&normalize(target)).map(|n| &n.kind) {
            Some(NodeKind::File(content)) => content,
            _ => return Err(problem("is a hard link to no regular file")),
        },
        Some(_) => return Err(problem("is not a regular file")),
        None => return Err(problem("is not in the tree")),
    };
    // The planned file of that inode, whichever of its names came first.
    let idx = files
        .iter()
        .position(|file| std::ptr::eq(file.content, content))
        .ok_or_else(|| problem("is not a regular file of the tree"))?;
    let len = files[idx].content.len();
    if len == 0 {
        return Err(problem("is empty"));
    }
    if len > MAX_EXTENT_BYTES {
        return Err(problem("is larger than one extent (4 GiB - 2048 bytes)"));
    }
    Ok((idx, file_lbas.get(idx).copied().unwrap_or(0), len))
}

fn check_volume_id(volume_id: &str) -> Result<Vec<u8>, Error> {
    let bytes = volume_id.as_bytes();
    let problem = if bytes.len() > 32 {
        Some("is longer than the 32 bytes of the volume identifier field")
    } else if !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        Some("has a character outside printable ASCII")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::VolumeId { volume_id: volume_id.to_owned(), problem }),
        None => Ok(bytes.to_vec()),
    }
}

/// The extent lengths of a file of `len` bytes: one extent unless it is longer than
/// `max_extent_bytes` (ECMA-119 6.5.1 multi-extent files; every extent but the last is a whole
/// number of sectors).
fn split_extents(len: u64, max_extent_bytes: u64) -> Vec<u64> {
    if len == 0 {
        return vec![0];
    }
    let mut parts = Vec::new();
    let mut left = len;
    while left > 0 {
        let part = left.min(max_extent_bytes);
        parts.push(part);
        left -= part;
    }
    parts
}

/// Unix attributes of one inode, as PX and TF record them.
#[derive(Debug, Clone, Copy)]
struct Attrs {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    nlink: u32,
    serial: u32,
}

impl Attrs {
    fn new(type_bits: u32, meta: &Meta, nlink: u32, serial: u32) -> Attrs {
        Attrs {
            mode: type_bits | meta.mode,
            uid: meta.uid,
            gid: meta.gid,
            mtime: meta.mtime,
            nlink,
            serial,
        }
    }
}

/// What a primary directory entry is.
#[derive(Debug, Clone, Copy)]
enum Kind<'t> {
    /// A subdirectory in its place.
    Dir(usize),
    /// A relocated directory, listed in the relocation directory (RE).
    Moved(usize),
    /// The placeholder left where a relocated directory belongs (CL).
    Placeholder(usize),
    /// A regular file (index into the files).
    File(usize),
    /// A symbolic link.
    Symlink(&'t [u8]),
    /// A device node.
    Device(DeviceNumber),
    /// A named pipe.
    Fifo,
}

#[derive(Debug)]
struct Entry<'t> {
    name: Vec<u8>,
    kind: Kind<'t>,
    attrs: Attrs,
}

/// A primary directory while the tree is gathered.
#[derive(Debug)]
struct BuildDir<'t> {
    path: Vec<u8>,
    attrs: Attrs,
    /// Parent in the ISO 9660 hierarchy (the relocation directory for relocated ones).
    iso_parent: usize,
    /// Parent in the Rock Ridge view (the tree).
    rr_parent: usize,
    /// ECMA-119 level: the root is 1.
    depth: usize,
    relocated: bool,
    entries: Vec<Entry<'t>>,
}

#[derive(Debug, Clone, Copy)]
enum JolietKind {
    Dir(usize),
    File(usize),
    /// A symlink, device or FIFO: Joliet shows it as an empty file.
    Empty,
}

#[derive(Debug)]
struct JolietDir {
    path: Vec<u8>,
    mtime: i64,
    parent: usize,
    entries: Vec<(Vec<u8>, JolietKind, i64)>,
}

/// A directory being visited by [`Builder::gather`].
struct Frame<'t> {
    entries: std::collections::btree_map::Iter<'t, Vec<u8>, Node>,
    dir: usize,
    jdir: Option<usize>,
    path: Vec<u8>,
}

#[derive(Debug)]
struct BuildFile<'t> {
    path: Vec<u8>,
    content: &'t Content,
}

struct Builder<'t, 'o> {
    tree: &'t Tree,
    options: &'o IsoOptions,
    links: LinkPlan<'t>,
    dirs: Vec<BuildDir<'t>>,
    jdirs: Vec<JolietDir>,
    files: Vec<BuildFile<'t>>,
    next_serial: u32,
    /// Serial and file index of each hard link group, by its leader's path.
    leaders: BTreeMap<Vec<u8>, (u32, usize)>,
    relocation_dir: Option<usize>,
}

impl<'t, 'o> Builder<'t, 'o> {
    fn new(
        tree: &'t Tree,
        options: &'o IsoOptions,
        links: LinkPlan<'t>,
    ) -> Result<Builder<'t, 'o>, Error> {
        check_mode(b"", &tree.root_meta)?;
        let root_attrs =
            Attrs::new(mode::S_IFDIR, &tree.root_meta, subdir_nlink(&tree.root, b"")?, 1);
        let root = BuildDir {
            path: Vec::new(),
            attrs: root_attrs,
            iso_parent: 0,
            rr_parent: 0,
            depth: 1,
            relocated: false,
            entries: Vec::new(),
        };
        let jdirs = match options.joliet {
            Some(_) => vec![JolietDir {
                path: Vec::new(),
                mtime: tree.root_meta.mtime,
                parent: 0,
                entries: Vec::new(),
            }],
            None => Vec::new(),
        };
        Ok(Builder {
            tree,
            options,
            links,
            dirs: vec![root],
            jdirs,
            files: Vec::new(),
            next_serial: 2,
            leaders: BTreeMap::new(),
            relocation_dir: None,
        })
    }

    fn take_serial(&mut self, path: &[u8]) -> Result<u32, Error> {
        let serial = self.next_serial;
        self.next_serial = serial
            .checked_add(1)
            .ok_or_else(|| Error::TooManyInodes { path: display_path(path) })?;
        Ok(serial)
    }

    /// Visits the tree depth first in name order (serial numbers and file data follow this
    /// order), with an explicit stack so that deep trees cannot overflow the call stack.
    fn gather(&mut self, root: &'t Dir) -> Result<(), Error> {
        let jroot = self.jdirs.first().map(|_| 0);
        let mut stack = vec![Frame { entries: root.iter(), dir: 0, jdir: jroot, path: Vec::new() }];
        while let Some(frame) = stack.last_mut() {
            let Some((name, node)) = frame.entries.next() else {
                stack.pop();
                continue;
            };
            let (dir, jdir) = (frame.dir, frame.jdir);
            let mut child_path = frame.path.clone();
            if !child_path.is_empty() {
                child_path.push(b'/');
            }
            child_path.extend_from_slice(name);
            check_name(name, &child_path)?;
            check_mode(&child_path, &node.meta)?;
            let (kind, attrs, jkind) = match (self.links.role(&child_path).cloned(), &node.kind) {
                (Some(role), _) => {
                    let meta = role.inode_meta();
                    check_mode(&child_path, meta)?;
                    let (serial, file, n_links) = match &role {
                        Role::Leader { n_links, .. } => {
                            let Some(content) = role.content() else {
                                return Err(not_a_file(&child_path));
                            };
                            let file = self.push_file(&child_path, content);
                            let serial = self.take_serial(&child_path)?;
                            self.leaders.insert(child_path.clone(), (serial, file));
                            (serial, file, *n_links)
                        }
                        Role::Follower { leader, n_links, .. } => {
                            // The leader comes first in walk order, so it is registered.
                            let Some(&(serial, file)) = self.leaders.get(leader) else {
                                return Err(not_a_file(&child_path));
                            };
                            (serial, file, *n_links)
                        }
                    };
                    let attrs = Attrs::new(mode::S_IFREG, meta, n_links, serial);
                    (Kind::File(file), attrs, JolietKind::File(file))
                }
                (None, NodeKind::Dir(subdir)) => {
                    let (new, new_jdir) =
                        self.add_subdir(name, subdir, &node.meta, dir, jdir, &child_path)?;
                    stack.push(Frame {
                        entries: subdir.iter(),
                        dir: new,
                        jdir: new_jdir,
                        path: child_path,
                    });
                    continue;
                }
                (None, NodeKind::File(content)) => {
                    let file = self.push_file(&child_path, content);
                    let attrs =
                        Attrs::new(mode::S_IFREG, &node.meta, 1, self.take_serial(&child_path)?);
                    (Kind::File(file), attrs, JolietKind::File(file))
                }
                (None, NodeKind::Symlink(target)) => {
                    if target.len() > MAX_TARGET_BYTES {
                        return Err(Error::SymlinkTooLong {
                            path: display_path(&child_path),
                            len: target.len(),
                        });
                    }
                    let attrs =
                        Attrs::new(mode::S_IFLNK, &node.meta, 1, self.take_serial(&child_path)?);
                    (Kind::Symlink(target), attrs, JolietKind::Empty)
                }
                (
                    None,
                    NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor },
                ) => {
                    let number = DeviceNumber::from_linux(*major, *minor).ok_or_else(|| {
                        Error::DeviceNumber {
                            path: display_path(&child_path),
                            major: *major,
                            minor: *minor,
                        }
                    })?;
                    let type_bits = match node.kind {
                        NodeKind::BlockDevice { .. } => mode::S_IFBLK,
                        _ => mode::S_IFCHR,
                    };
                    let attrs =
                        Attrs::new(type_bits, &node.meta, 1, self.take_serial(&child_path)?);
                    (Kind::Device(number), attrs, JolietKind::Empty)
                }
                (None, NodeKind::Fifo) => {
                    let attrs =
                        Attrs::new(mode::S_IFIFO, &node.meta, 1, self.take_serial(&child_path)?);
                    (Kind::Fifo, attrs, JolietKind::Empty)
                }
                (None, NodeKind::HardLink(target)) => {
                    // links::plan gives every hard link a role; reaching this is a broken
                    // invariant, reported rather than panicking.
                    return Err(Error::HardLink {
                        path: display_path(&child_path),
                        target: display_path(target),
                        problem: "not grouped",
                    });
                }
            };
            let mtime = attrs.mtime;
            self.dirs[dir].entries.push(Entry { name: name.clone(), kind, attrs });
            if let Some(jdir) = jdir {
                self.jdirs[jdir].entries.push((name.clone(), jkind, mtime));
            }
        }
        Ok(())
    }

    fn add_subdir(
        &mut self,
        name: &[u8],
        subdir: &'t Dir,
        meta: &Meta,
        parent: usize,
        jparent: Option<usize>,
        path: &[u8],
    ) -> Result<(usize, Option<usize>), Error> {
        let serial = self.take_serial(path)?;
        let attrs = Attrs::new(mode::S_IFDIR, meta, subdir_nlink(subdir, path)?, serial);
        let depth = self.dirs[parent].depth + 1;
        let relocate = self.options.relocate_deep_directories && depth > MAX_ISO_DEPTH;
        let moved = if relocate { Some(self.relocation_dir()) } else { None };
        let new = self.dirs.len();
        if let Some(moved) = moved {
            // RRIP 4.1.5: the directory moves to the relocation directory (RE), a placeholder
            // file (CL) stays in its parent, and its `..` record links back (PL).
            let depth = self.dirs[moved].depth + 1;
            self.dirs.push(BuildDir {
                path: path.to_vec(),
                attrs,
                iso_parent: moved,
                rr_parent: parent,
                depth,
                relocated: true,
                entries: Vec::new(),
            });
            self.dirs[parent].entries.push(Entry {
                name: name.to_vec(),
                kind: Kind::Placeholder(new),
                attrs,
            });
            self.dirs[moved].entries.push(Entry {
                name: name.to_vec(),
                kind: Kind::Moved(new),
                attrs,
            });
        } else {
            self.dirs.push(BuildDir {
                path: path.to_vec(),
                attrs,
                iso_parent: parent,
                rr_parent: parent,
                depth,
                relocated: false,
                entries: Vec::new(),
            });
            self.dirs[parent].entries.push(Entry {
                name: name.to_vec(),
                kind: Kind::Dir(new),
                attrs,
            });
        }
        let jdir = match jparent {
            Some(jparent) => {
                let jdir = self.jdirs.len();
                self.jdirs.push(JolietDir {
                    path: path.to_vec(),
                    mtime: meta.mtime,
                    parent: jparent,
                    entries: Vec::new(),
                });
                self.jdirs[jparent].entries.push((
                    name.to_vec(),
                    JolietKind::Dir(jdir),
                    meta.mtime,
                ));
                Some(jdir)
            }
            None => None,
        };
        Ok((new, jdir))
    }

    fn push_file(&mut self, path: &[u8], content: &'t Content) -> usize {
        self.files.push(BuildFile { path: path.to_vec(), content });
        self.files.len() - 1
    }

    /// The relocation directory, created in the root on first use. Its name is `rr_moved`, or
    /// `rr_moved_N` with the first N that the root does not use.
    fn relocation_dir(&mut self) -> usize {
        if let Some(idx) = self.relocation_dir {
            return idx;
        }
        let mut name = RELOCATION_DIR.to_vec();
        let mut counter = 0u32;
        while self.tree.root.contains_key(&name) {
            counter += 1;
            name = [RELOCATION_DIR, format!("_{counter}").as_bytes()].concat();
        }
        // Serial and link count are set once every relocation is known.
        let attrs = Attrs {
            mode: mode::S_IFDIR | RELOCATION_DIR_MODE,
            uid: 0,
            gid: 0,
            mtime: self.options.epoch,
            nlink: 2,
            serial: 0,
        };
        let idx = self.dirs.len();
        self.dirs.push(BuildDir {
            path: name.clone(),
            attrs,
            iso_parent: 0,
            rr_parent: 0,
            depth: 2,
            relocated: false,
            entries: Vec::new(),
        });
        self.dirs[0].entries.push(Entry { name, kind: Kind::Dir(idx), attrs });
        self.relocation_dir = Some(idx);
        idx
    }

    /// Gives the relocation directory its serial and link count, counts it in the root's link
    /// count, and makes the names of the relocated directories unique within it.
    fn finish_relocation_dir(&mut self) -> Result<(), Error> {
        let Some(idx) = self.relocation_dir else { return Ok(()) };
        let path = self.dirs[idx].path.clone();
        let serial = self.take_serial(&path)?;
        let n_moved = u32::try_from(self.dirs[idx].entries.len())
            .map_err(|_| Error::TooManyInodes { path: display_path(&path) })?;
        let attrs = Attrs { serial, nlink: n_moved.saturating_add(2), ..self.dirs[idx].attrs };
        self.dirs[idx].attrs = attrs;
        for entry in &mut self.dirs[0].entries {
            if matches!(entry.kind, Kind::Dir(dir) if dir == idx) {
                entry.attrs = attrs;
            }
        }
        self.dirs[0].attrs.nlink = self.dirs[0].attrs.nlink.saturating_add(1);
        let mut seen: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
        for entry in &mut self.dirs[idx].entries {
            let count = seen.entry(entry.name.clone()).or_insert(0);
            if *count > 0 {
                entry.name.extend_from_slice(format!("_{count}").as_bytes());
            }
            *count += 1;
        }
        Ok(())
    }
}

fn not_a_file(path: &[u8]) -> Error {
    Error::HardLink {
        path: display_path(path),
        target: display_path(path),
        problem: "not a regular file",
    }
}

fn check_name(name: &[u8], path: &[u8]) -> Result<(), Error> {
    let problem = if name.is_empty() || name == b"." || name == b".." {
        Some("is empty, `.` or `..`")
    } else if name.contains(&b'/') || name.contains(&0) {
        Some("contains `/` or NUL")
    } else if name.len() > MAX_NAME_BYTES {
        return Err(Error::NameTooLong { path: display_path(path), len: name.len() });
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::InvalidName { path: display_path(path), problem }),
        None => Ok(()),
    }
}

fn check_mode(path: &[u8], meta: &Meta) -> Result<(), Error> {
    if meta.mode > 0o7777 {
        return Err(Error::InvalidMode { path: display_path(path), mode: meta.mode });
    }
    Ok(())
}

/// 2 for the directory's name and `.`, plus one `..` per subdirectory.
fn subdir_nlink(entries: &Dir, path: &[u8]) -> Result<u32, Error> {
    let subdirs = entries.values().filter(|n| matches!(n.kind, NodeKind::Dir(_))).count();
    u32::try_from(subdirs)
        .ok()
        .and_then(|n| n.checked_add(2))
        .ok_or_else(|| Error::TooManyInodes { path: display_path(path) })
}

/// A System Use entry: bytes known now, or a link to a directory whose sector comes later.
#[derive(Debug, Clone)]
enum Item {
    Bytes(Vec<u8>),
    ChildLink(usize),
    ParentLink(usize),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Bytes(bytes) => bytes.len(),
            Item::ChildLink(_) | Item::ParentLink(_) => 12,
        }
    }

    fn encode(&self, lbas: &Lbas<'_>, out: &mut Vec<u8>) {
        match self {
            Item::Bytes(bytes) => out.extend_from_slice(bytes),
            Item::ChildLink(dir) => {
                out.extend_from_slice(&link_entry(*b"CL", lbas.primary_dirs[*dir]))
            }
            Item::ParentLink(dir) => {
                out.extend_from_slice(&link_entry(*b"PL", lbas.primary_dirs[*dir]))
            }
        }
    }
}

/// Where a record's extent is.
#[derive(Debug, Clone, Copy)]
enum ExtentRef {
    /// Extent 0, length 0.
    None,
    /// A primary directory (build index).
    PrimaryDir(usize),
    /// A Joliet directory (build index).
    JolietDir(usize),
    /// Extent `part` of a file.
    File { file: usize, part: usize },
}

/// A record before sectors are known.
#[derive(Debug)]
struct BuildRecord {
    identifier: Vec<u8>,
    extent: ExtentRef,
    flags: u8,
    mtime: i64,
    in_record: Vec<Item>,
    /// First continuation area piece.
    continuation: Option<usize>,
    /// System Use bytes including the CE entry and the padding byte.
    system_use_len: usize,
    offset: u32,
}

/// A hierarchy before sectors are known.
#[derive(Debug)]
struct BuildHierarchy {
    /// Build indexes in path table order.
    order: Vec<usize>,
    /// Per build index: records, size, path table identifier, parent build index, path.
    records: Vec<Vec<BuildRecord>>,
    sizes: Vec<u64>,
    identifiers: Vec<Vec<u8>>,
    parents: Vec<usize>,
    paths: Vec<Vec<u8>>,
    path_table_bytes: u32,
}

/// All sector addresses, by build index.
struct Lbas<'a> {
    primary_dirs: &'a [u32],
    joliet_dirs: &'a [u32],
    files: &'a [u32],
    continuation: u32,
    primary_sizes: &'a [u64],
    joliet_sizes: &'a [u64],
    file_parts: &'a [Vec<u64>],
    max_extent_bytes: u64,
}

impl Lbas<'_> {
    /// Sector and length of an extent.
    fn extent(&self, extent: ExtentRef) -> (u32, u32) {
        let size = |sizes: &[u64], idx: usize| {
            u32::try_from(sizes.get(idx).copied().unwrap_or(0)).unwrap_or(u32::MAX)
        };
        match extent {
            ExtentRef::None => (0, 0),
            ExtentRef::PrimaryDir(dir) => (self.primary_dirs[dir], size(self.primary_sizes, dir)),
            ExtentRef::JolietDir(dir) => (self.joliet_dirs[dir], size(self.joliet_sizes, dir)),
            ExtentRef::File { file, part } => {
                let len = self.file_parts[file].get(part).copied().unwrap_or(0);
                if len == 0 {
                    return (0, 0);
                }
                let sectors_before =
                    u64::try_from(part).unwrap_or(0) * (self.max_extent_bytes / SECTOR_BYTES);
                let lba = u64::from(self.files[file]) + sectors_before;
                // The allocator checked that every sector number fits in 32 bits, and each
                // part is at most MAX_EXTENT_BYTES.
                (u32::try_from(lba).unwrap_or(u32::MAX), u32::try_from(len).unwrap_or(u32::MAX))
            }
        }
    }
}

/// Continuation area pieces, packed into blocks so that none crosses a block boundary.
#[derive(Debug, Default)]
struct AreaAllocator {
    pieces: Vec<Piece>,
    block: u64,
    offset: u64,
}

#[derive(Debug)]
struct Piece {
    block: u64,
    offset: u64,
    items: Vec<Item>,
    /// The piece the CE entry at the end of this one points to.
    next: Option<usize>,
    len: u64,
}

impl AreaAllocator {
    fn n_blocks(&self) -> u64 {
        if self.pieces.is_empty() { 0 } else { self.block + 1 }
    }

    /// Places `items` in a chain of pieces; returns the first piece.
    fn place(&mut self, items: Vec<Item>) -> usize {
        let mut groups: Vec<Vec<Item>> = vec![Vec::new()];
        let mut used = 0;
        for item in items {
            if used + item.len() > AREA_ROOM_BYTES && used > 0 {
                groups.push(Vec::new());
                used = 0;
            }
            used += item.len();
            if let Some(group) = groups.last_mut() {
                group.push(item);
            }
        }
        let first = self.pieces.len();
        let n_groups = groups.len();
        for (idx, items) in groups.into_iter().enumerate() {
            let more = idx + 1 < n_groups;
            let items_len: usize = items.iter().map(Item::len).sum();
            let len = u64::try_from(items_len).unwrap_or(u64::MAX)
                + if more { u64::try_from(ContinuationArea::SIZE).unwrap_or(0) } else { 0 };
            if self.offset + len > SECTOR_BYTES {
                self.block += 1;
                self.offset = 0;
            }
            self.pieces.push(Piece {
                block: self.block,
                offset: self.offset,
                items,
                next: more.then_some(first + idx + 1),
                len,
            });
            self.offset += len;
        }
        first
    }

    /// The CE entry pointing at piece `idx`.
    fn continuation_entry(&self, idx: usize, lbas: &Lbas<'_>) -> [u8; ContinuationArea::SIZE] {
        let piece = &self.pieces[idx];
        let area = ContinuationArea {
            block_lba: u32::try_from(u64::from(lbas.continuation) + piece.block)
                .unwrap_or(u32::MAX),
            offset_bytes: u32::try_from(piece.offset).unwrap_or(0),
            length_bytes: u32::try_from(piece.len).unwrap_or(0),
        };
        let mut bytes = [0u8; ContinuationArea::SIZE];
        area.encode(&mut bytes);
        bytes
    }

    fn encode(&self, lbas: &Lbas<'_>) -> Vec<Vec<u8>> {
        let n_blocks = usize::try_from(self.n_blocks()).unwrap_or(0);
        let mut blocks = vec![vec![0u8; 2048]; n_blocks];
        for piece in &self.pieces {
            let mut bytes = Vec::new();
            for item in &piece.items {
                item.encode(lbas, &mut bytes);
            }
            if let Some(next) = piece.next {
                bytes.extend_from_slice(&self.continuation_entry(next, lbas));
            }
            let (Ok(block), Ok(offset)) =
                (usize::try_from(piece.block), usize::try_from(piece.offset))
            else {
                continue;
            };
            if let Some(slot) =
                blocks.get_mut(block).and_then(|b| b.get_mut(offset..offset + bytes.len()))
            {
                slot.copy_from_slice(&bytes);
            }
        }
        blocks
    }
}

/// Splits `items` between the record (at most `room` bytes) and continuation areas.
fn place_system_use(
    items: Vec<Item>,
    room: usize,
    areas: &mut AreaAllocator,
) -> (Vec<Item>, Option<usize>, usize) {
    let total: usize = items.iter().map(Item::len).sum();
    if total <= room {
        return (items, None, total);
    }
    let mut in_record = Vec::new();
    let mut used = 0;
    let mut rest = items.into_iter().peekable();
    while let Some(item) = rest.peek() {
        if used + item.len() + ContinuationArea::SIZE > room {
            break;
        }
        used += item.len();
        if let Some(item) = rest.next() {
            in_record.push(item);
        }
    }
    let first = areas.place(rest.collect());
    (in_record, Some(first), used + ContinuationArea::SIZE)
}

fn px(attrs: &Attrs) -> Item {
    let mut bytes = [0u8; PosixAttributes::SIZE];
    PosixAttributes {
        mode: attrs.mode,
        links: attrs.nlink,
        uid: attrs.uid,
        gid: attrs.gid,
        serial: Some(attrs.serial),
    }
    .encode(&mut bytes);
    Item::Bytes(bytes.to_vec())
}

fn tf(mtime: i64) -> Item {
    let mut bytes = [0u8; Timestamps::SIZE];
    Timestamps { mtime: RecordingDateTime::from_unix(mtime) }.encode(&mut bytes);
    Item::Bytes(bytes.to_vec())
}

/// Makes a record of `identifier`, splitting its System Use entries.
fn make_record(
    identifier: Vec<u8>,
    extent: ExtentRef,
    record_flags: u8,
    mtime: i64,
    items: Vec<Item>,
    areas: &mut AreaAllocator,
) -> BuildRecord {
    let fixed = dir_record::record_len(identifier.len(), 0);
    let room = MAX_RECORD_BYTES.saturating_sub(fixed);
    let (in_record, continuation, used) = place_system_use(items, room, areas);
    let system_use_len = used + (fixed + used) % 2;
    BuildRecord {
        identifier,
        extent,
        flags: record_flags,
        mtime,
        in_record,
        continuation,
        system_use_len,
        offset: 0,
    }
}

/// Records of the files' extents: one per extent, all but the last flagged multi-extent.
fn file_records(
    identifier: &[u8],
    file: usize,
    n_parts: usize,
    mtime: i64,
    items: &[Item],
    extra_flags: u8,
    areas: &mut AreaAllocator,
) -> Vec<BuildRecord> {
    (0..n_parts)
        .map(|part| {
            let multi = if part + 1 < n_parts { flags::MULTI_EXTENT } else { 0 };
            make_record(
                identifier.to_vec(),
                ExtentRef::File { file, part },
                multi | extra_flags,
                mtime,
                items.to_vec(),
                areas,
            )
        })
        .collect()
}

fn primary_records(
    dirs: &[BuildDir<'_>],
    options: &IsoOptions,
    file_parts: &[Vec<u64>],
    areas: &mut AreaAllocator,
) -> Result<BuildHierarchy, Error> {
    // Identifiers and ECMA-119 9.3 order, per directory.
    let mut sorted: Vec<Vec<(Vec<u8>, usize)>> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let mut by_name: Vec<usize> = (0..dir.entries.len()).collect();
        by_name.sort_by(|a, b| dir.entries[*a].name.cmp(&dir.entries[*b].name));
        let names: Vec<(&[u8], NameKind)> = by_name
            .iter()
            .map(|idx| {
                let entry = &dir.entries[*idx];
                let kind = match entry.kind {
                    Kind::Dir(_) | Kind::Moved(_) | Kind::Placeholder(_) => NameKind::Dir,
                    _ => NameKind::File,
                };
                (&entry.name[..], kind)
            })
            .collect();
        let ids = names::primary_ids(&names, options.primary_names).map_err(|idx| {
            Error::TooManyCollisions {
                path: display_path(&dir.path),
                name: display_path(names[idx].0),
            }
        })?;
        let mut entries: Vec<(Vec<u8>, usize)> = ids.into_iter().zip(by_name).collect();
        entries.sort_by(|a, b| names::iso_order(&a.0, &b.0));
        sorted.push(entries);
    }

    let order = bfs(dirs.len(), |dir| {
        sorted[dir]
            .iter()
            .filter_map(|(_, idx)| match dirs[dir].entries[*idx].kind {
                Kind::Dir(child) | Kind::Moved(child) => Some(child),
                _ => None,
            })
            .collect()
    });
    if order.len() > MAX_DIRECTORIES {
        return Err(Error::TooManyDirectories { count: order.len() });
    }

    let mut identifiers = vec![DOT.to_vec(); dirs.len()];
    for (dir, entries) in dirs.iter().zip(&sorted) {
        for (id, idx) in entries {
            if let Kind::Dir(child) | Kind::Moved(child) = dir.entries[*idx].kind {
                identifiers[child] = id.clone();
            }
        }
    }

    let mut records: Vec<Vec<BuildRecord>> = Vec::with_capacity(dirs.len());
    for (dir_idx, (dir, entries)) in dirs.iter().zip(&sorted).enumerate() {
        let mut list = Vec::with_capacity(entries.len() + 2);
        // `.`: the directory itself; the root's also starts SUSP and names Rock Ridge.
        let mut dot_items = Vec::new();
        if dir_idx == 0 {
            let mut sp = [0u8; SharingProtocolIndicator::SIZE];
            SharingProtocolIndicator { skip_bytes: 0 }.encode(&mut sp);
            dot_items.push(Item::Bytes(sp.to_vec()));
        }
        dot_items.push(px(&dir.attrs));
        dot_items.push(tf(dir.attrs.mtime));
        if dir_idx == 0 {
            let mut er = Vec::new();
            ExtensionsReference::rrip_1_12().encode(&mut er);
            dot_items.push(Item::Bytes(er));
        }
        list.push(make_record(
            DOT.to_vec(),
            ExtentRef::PrimaryDir(dir_idx),
            flags::DIRECTORY,
            dir.attrs.mtime,
            dot_items,
            areas,
        ));
        // `..`: the ISO parent's extent, the Rock Ridge parent's attributes.
        let rr_parent = &dirs[dir.rr_parent];
        let mut dotdot_items = vec![px(&rr_parent.attrs), tf(rr_parent.attrs.mtime)];
        if dir.relocated {
            dotdot_items.push(Item::ParentLink(dir.rr_parent));
        }
        list.push(make_record(
            DOTDOT.to_vec(),
            ExtentRef::PrimaryDir(dir.iso_parent),
            flags::DIRECTORY,
            rr_parent.attrs.mtime,
            dotdot_items,
            areas,
        ));
        for (id, idx) in entries {
            let entry = &dir.entries[*idx];
            let mut items = vec![px(&entry.attrs), tf(entry.attrs.mtime)];
            items.extend(rock_ridge::nm_entries(&entry.name).into_iter().map(Item::Bytes));
            let mtime = entry.attrs.mtime;
            match entry.kind {
                Kind::Dir(child) => list.push(make_record(
                    id.clone(),
                    ExtentRef::PrimaryDir(child),
                    flags::DIRECTORY,
                    mtime,
                    items,
                    areas,
                )),
                Kind::Moved(child) => {
                    items.push(Item::Bytes(RELOCATED.to_vec()));
                    list.push(make_record(
                        id.clone(),
                        ExtentRef::PrimaryDir(child),
                        flags::DIRECTORY,
                        mtime,
                        items,
                        areas,
                    ));
                }
                Kind::Placeholder(child) => {
                    items.push(Item::ChildLink(child));
                    list.push(make_record(id.clone(), ExtentRef::None, 0, mtime, items, areas));
                }
                Kind::File(file) => {
                    let n_parts = file_parts.get(file).map_or(1, Vec::len);
                    list.extend(file_records(id, file, n_parts, mtime, &items, 0, areas));
                }
                Kind::Symlink(target) => {
                    items.extend(rock_ridge::sl_entries(target).into_iter().map(Item::Bytes));
                    list.push(make_record(id.clone(), ExtentRef::None, 0, mtime, items, areas));
                }
                Kind::Device(number) => {
                    let mut pn = [0u8; DeviceNumber::SIZE];
                    number.encode(&mut pn);
                    items.push(Item::Bytes(pn.to_vec()));
                    list.push(make_record(id.clone(), ExtentRef::None, 0, mtime, items, areas));
                }
                Kind::Fifo => {
                    list.push(make_record(id.clone(), ExtentRef::None, 0, mtime, items, areas));
                }
            }
        }
        records.push(list);
    }
    let parents = dirs.iter().map(|dir| dir.iso_parent).collect();
    let paths = dirs.iter().map(|dir| dir.path.clone()).collect();
    finish_hierarchy(order, records, identifiers, parents, paths)
}

fn joliet_records(
    jdirs: &[JolietDir],
    style: crate::iso9660::JolietNames,
    file_parts: &[Vec<u64>],
) -> Result<BuildHierarchy, Error> {
    let mut areas = AreaAllocator::default();
    let mut sorted: Vec<Vec<(Vec<u8>, usize)>> = Vec::with_capacity(jdirs.len());
    for dir in jdirs {
        let names: Vec<&[u8]> = dir.entries.iter().map(|(name, _, _)| &name[..]).collect();
        let ids = names::joliet_ids(&names, style).map_err(|idx| Error::TooManyCollisions {
            path: display_path(&dir.path),
            name: display_path(names[idx]),
        })?;
        let mut entries: Vec<(Vec<u8>, usize)> =
            ids.iter().map(|units| names::ucs2_bytes(units)).zip(0..).collect();
        entries.sort();
        sorted.push(entries);
    }
    let order = bfs(jdirs.len(), |dir| {
        sorted[dir]
            .iter()
            .filter_map(|(_, idx)| match jdirs[dir].entries[*idx].1 {
                JolietKind::Dir(child) => Some(child),
                _ => None,
            })
            .collect()
    });
    if order.len() > MAX_DIRECTORIES {
        return Err(Error::TooManyDirectories { count: order.len() });
    }
    let mut identifiers = vec![DOT.to_vec(); jdirs.len()];
    let mut records = Vec::with_capacity(jdirs.len());
    for (dir_idx, (dir, entries)) in jdirs.iter().zip(&sorted).enumerate() {
        let parent = &jdirs[dir.parent];
        let mut list = vec![
            make_record(
                DOT.to_vec(),
                ExtentRef::JolietDir(dir_idx),
                flags::DIRECTORY,
                dir.mtime,
                Vec::new(),
                &mut areas,
            ),
            make_record(
                DOTDOT.to_vec(),
                ExtentRef::JolietDir(dir.parent),
                flags::DIRECTORY,
                parent.mtime,
                Vec::new(),
                &mut areas,
            ),
        ];
        for (id, idx) in entries {
            let (_, kind, mtime) = &dir.entries[*idx];
            match kind {
                JolietKind::Dir(child) => {
                    identifiers[*child] = id.clone();
                    list.push(make_record(
                        id.clone(),
                        ExtentRef::JolietDir(*child),
                        flags::DIRECTORY,
                        *mtime,
                        Vec::new(),
                        &mut areas,
                    ));
                }
                JolietKind::File(file) => {
                    let n_parts = file_parts.get(*file).map_or(1, Vec::len);
                    list.extend(file_records(id, *file, n_parts, *mtime, &[], 0, &mut areas));
                }
                JolietKind::Empty => {
                    list.push(make_record(
                        id.clone(),
                        ExtentRef::None,
                        0,
                        *mtime,
                        Vec::new(),
                        &mut areas,
                    ));
                }
            }
        }
        records.push(list);
    }
    let parents = jdirs.iter().map(|dir| dir.parent).collect();
    let paths = jdirs.iter().map(|dir| dir.path.clone()).collect();
    finish_hierarchy(order, records, identifiers, parents, paths)
}

/// Breadth-first order from the root (index 0): the path table order of ECMA-119 6.9.1 when
/// `children` lists each directory's subdirectories in identifier order.
fn bfs(n_dirs: usize, children: impl Fn(usize) -> Vec<usize>) -> Vec<usize> {
    let mut order = Vec::with_capacity(n_dirs);
    let mut seen = vec![false; n_dirs];
    order.push(0);
    if let Some(root) = seen.first_mut() {
        *root = true;
    }
    let mut pos = 0;
    while pos < order.len() {
        for child in children(order[pos]) {
            // Each directory has one parent; the check only guards against a planning bug.
            if seen.get(child) == Some(&false) {
                seen[child] = true;
                order.push(child);
            }
        }
        pos += 1;
    }
    order
}

/// Lays records out in each directory's sectors (a record never crosses a sector boundary)
/// and sizes the path table.
fn finish_hierarchy(
    order: Vec<usize>,
    mut records: Vec<Vec<BuildRecord>>,
    identifiers: Vec<Vec<u8>>,
    parents: Vec<usize>,
    paths: Vec<Vec<u8>>,
) -> Result<BuildHierarchy, Error> {
    let mut sizes = vec![0u64; records.len()];
    for (dir, list) in records.iter_mut().enumerate() {
        let mut offset = 0u64;
        for record in list.iter_mut() {
            let len = u64::try_from(dir_record::record_len(
                record.identifier.len(),
                record.system_use_len,
            ))
            .unwrap_or(u64::MAX);
            if offset % SECTOR_BYTES + len > SECTOR_BYTES {
                offset = offset.next_multiple_of(SECTOR_BYTES);
            }
            record.offset = u32::try_from(offset)
                .map_err(|_| Error::DirectoryTooLarge { path: display_path(&paths[dir]) })?;
            offset += len;
        }
        sizes[dir] = offset.max(1).next_multiple_of(SECTOR_BYTES);
        if u32::try_from(sizes[dir]).is_err() {
            return Err(Error::DirectoryTooLarge { path: display_path(&paths[dir]) });
        }
    }
    let table_bytes: usize =
        order.iter().map(|dir| path_table::record_len(identifiers[*dir].len())).sum();
    let path_table_bytes =
        u32::try_from(table_bytes).map_err(|_| Error::TooManyDirectories { count: order.len() })?;
    Ok(BuildHierarchy { order, records, sizes, identifiers, parents, paths, path_table_bytes })
}

impl BuildHierarchy {
    /// The hierarchy with every sector filled in. `joliet` selects which directory sectors the
    /// records' directory references use.
    fn resolve(
        self,
        lbas: &Lbas<'_>,
        areas: &AreaAllocator,
        tables: (u32, u32),
        joliet: bool,
    ) -> Hierarchy {
        let dir_lbas = if joliet { lbas.joliet_dirs } else { lbas.primary_dirs };
        let mut number = vec![0u16; self.records.len()];
        for (pos, dir) in self.order.iter().enumerate() {
            // At most MAX_DIRECTORIES entries, checked when the order was made.
            number[*dir] = u16::try_from(pos + 1).unwrap_or(u16::MAX);
        }
        let mut records = self.records;
        let mut dirs = Vec::with_capacity(self.order.len());
        for dir in &self.order {
            let list = std::mem::take(&mut records[*dir]);
            let planned = list
                .into_iter()
                .map(|record| {
                    let (extent_lba, data_length_bytes) = lbas.extent(record.extent);
                    let mut system_use = Vec::with_capacity(record.system_use_len);
                    for item in &record.in_record {
                        item.encode(lbas, &mut system_use);
                    }
                    if let Some(piece) = record.continuation {
                        system_use.extend_from_slice(&areas.continuation_entry(piece, lbas));
                    }
                    system_use.resize(record.system_use_len, 0);
                    PlannedRecord {
                        offset: record.offset,
                        identifier: record.identifier,
                        extent_lba,
                        data_length_bytes,
                        flags: record.flags,
                        mtime: record.mtime,
                        system_use,
                    }
                })
                .collect();
            dirs.push(PlannedDir {
                path: self.paths[*dir].clone(),
                identifier: self.identifiers[*dir].clone(),
                parent_number: number[self.parents[*dir]],
                lba: dir_lbas[*dir],
                size_bytes: u32::try_from(self.sizes[*dir]).unwrap_or(u32::MAX),
                records: planned,
            });
        }
        Hierarchy {
            dirs,
            path_table_bytes: self.path_table_bytes,
            l_table_lba: tables.0,
            m_table_lba: tables.1,
        }
    }
}

/// Hands out sectors in order; fails once an address no longer fits in 32 bits.
struct Allocator {
    next_lba: u64,
}

impl Allocator {
    fn take(&mut self, sectors: u64) -> Result<u32, Error> {
        let start = self.next_lba;
        let end = start.checked_add(sectors).filter(|end| *end <= u64::from(u32::MAX));
        let Some(end) = end else {
            return Err(Error::ImageTooLarge { sectors: start.saturating_add(sectors) });
        };
        self.next_lba = end;
        // start <= end <= u32::MAX.
        Ok(u32::try_from(start).unwrap_or(u32::MAX))
    }

    /// A type L and a type M path table of `bytes` bytes each.
    fn take_tables(&mut self, bytes: u32) -> Result<(u32, u32), Error> {
        let sectors = u64::from(bytes).div_ceil(SECTOR_BYTES);
        Ok((self.take(sectors)?, self.take(sectors)?))
    }

    /// Directory extents in path table order; returns sectors by build index.
    fn take_dirs(&mut self, hierarchy: &BuildHierarchy) -> Result<Vec<u32>, Error> {
        let mut lbas = vec![0u32; hierarchy.sizes.len()];
        for dir in &hierarchy.order {
            lbas[*dir] = self.take(hierarchy.sizes[*dir] / SECTOR_BYTES)?;
        }
        Ok(lbas)
    }
}
