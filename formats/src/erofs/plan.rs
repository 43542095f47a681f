//! The layout of an EROFS image, computed before any byte is written: the inodes in order with
//! their forms, nids, xattr bodies and data layouts, the shared xattr area, the directory
//! contents and where the metadata ends. Block addresses of file data are handed out by the
//! emitter, in inode order, right after the metadata.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::dump::display_path;
use crate::erofs::dirent::{self, DirEntry, NAME_LEN_MAX, file_type};
use crate::erofs::inode::{InodeCompact, InodeExtended, mode};
use crate::erofs::superblock::BLOCK_SIZE;
use crate::erofs::xattr::{IbodyHeader, XattrEntry, push_entry, split_name};
use crate::erofs::zmap::{DecompressedIndex, LEGACY_INDEX_START};
use crate::erofs::{Compression, ErofsOptions, Error};
use crate::links::{self, Role};
use crate::tree::{Content, Dir, Meta, NodeKind, Tree};

/// Block size as a `u64`.
pub(crate) const BLOCK: u64 = 4096;
/// Inode slot size: nids count 32-byte units.
const SLOT: u64 = 32;
/// An xattr carried by this many inodes or more is shared (mkfs.erofs: tolerance 2 + 1).
const SHARE_THRESHOLD: usize = 3;
/// Longest symlink target Linux stores (`PATH_MAX` - 1).
const MAX_TARGET_BYTES: usize = 4095;
/// Largest xattr body `i_xattr_icount` (16 bits) can describe: 12 + 4 * (65535 - 1).
const MAX_XATTR_BODY: usize = 262_148;

/// The whole layout.
#[derive(Debug)]
pub(crate) struct Plan<'t> {
    /// Every inode, in nid order (the root first).
    pub(crate) inodes: Vec<PlannedInode<'t>>,
    /// The shared xattr area, written from block `xattr_blkaddr` (empty: none).
    pub(crate) shared_xattrs: Vec<u8>,
    /// First block of the shared xattr area (0 when there is none).
    pub(crate) xattr_blkaddr: u32,
    /// First block after the metadata: where file data starts.
    pub(crate) data_start_block: u32,
    /// The root directory's nid.
    pub(crate) root_nid: u16,
    /// Volume UUID.
    pub(crate) uuid: [u8; 16],
    /// Volume name, NUL-padded.
    pub(crate) volume_name: [u8; 16],
}

/// One inode to write.
#[derive(Debug)]
pub(crate) struct PlannedInode<'t> {
    /// Its first path (for messages), relative to the root.
    pub(crate) path: Vec<u8>,
    /// Byte offset of the inode in the image (nid * 32, `meta_blkaddr` being 0).
    pub(crate) offset: u64,
    /// Extended (64-byte) rather than compact form.
    pub(crate) extended: bool,
    /// `i_mode`: type and permission bits.
    pub(crate) mode: u16,
    /// Number of names.
    pub(crate) nlink: u32,
    /// `i_size`.
    pub(crate) size: u64,
    /// `i_ino`.
    pub(crate) ino: u32,
    /// Owner.
    pub(crate) uid: u32,
    /// Group.
    pub(crate) gid: u32,
    /// Modification time.
    pub(crate) mtime: i64,
    /// Encoded device number (devices), else 0.
    pub(crate) rdev: u32,
    /// The encoded xattr body (header, shared ids, inline entries); empty without xattrs.
    pub(crate) xattrs: Vec<u8>,
    /// The data and its layout.
    pub(crate) data: Data<'t>,
}

/// Where an inode's data comes from and how it is laid out.
#[derive(Debug)]
pub(crate) enum Data<'t> {
    /// No data: empty files, devices, FIFOs (`FLAT_PLAIN`, no blocks).
    None,
    /// Data held in memory: a symlink target or directory entries.
    Bytes(Vec<u8>, Flat),
    /// A regular file's content, uncompressed.
    File(&'t Content, Flat),
    /// A regular file to compress, with room for its full indexes after the xattrs.
    Compress(&'t Content),
}

/// An uncompressed layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flat {
    /// `FLAT_PLAIN`: every byte in data blocks, the last one zero-padded.
    Plain,
    /// `FLAT_INLINE`: whole blocks in data blocks, the tail right after the xattrs.
    Inline,
}

impl PlannedInode<'_> {
    /// The nid (`meta_blkaddr` is 0).
    pub(crate) fn nid(&self) -> u64 {
        self.offset / SLOT
    }

    /// Size of the inode structure.
    pub(crate) fn inode_size(&self) -> usize {
        if self.extended { InodeExtended::SIZE } else { InodeCompact::SIZE }
    }

    /// Bytes from the inode's start to the end of its xattr body.
    pub(crate) fn head_size(&self) -> u64 {
        u64::try_from(self.inode_size() + self.xattrs.len()).unwrap_or(u64::MAX)
    }

    /// Size of the inline tail (`FLAT_INLINE` only).
    pub(crate) fn inline_size(&self) -> u64 {
        match &self.data {
            Data::Bytes(_, Flat::Inline) | Data::File(_, Flat::Inline) => self.size % BLOCK,
            _ => 0,
        }
    }

    /// Number of full logical clusters (4 KiB) of the file, which is its number of indexes.
    pub(crate) fn n_lclusters(&self) -> u64 {
        self.size.div_ceil(BLOCK)
    }

    /// Bytes of metadata after the inode start: inode, xattrs, then inline tail or the
    /// compression map.
    fn meta_size(&self) -> u64 {
        match &self.data {
            Data::Compress(_) => {
                let map = self.head_size().next_multiple_of(8) + LEGACY_INDEX_START;
                let index = u64::try_from(DecompressedIndex::SIZE).unwrap_or(8);
                map + self.n_lclusters() * index
            }
            _ => self.head_size() + self.inline_size(),
        }
    }
}

/// An xattr as stored: prefix index, name after the prefix, value.
type XattrKey<'t> = (u8, &'t [u8], &'t [u8]);

/// An inode being collected, before placement.
struct Spec<'t> {
    path: Vec<u8>,
    meta: &'t Meta,
    kind: SpecKind<'t>,
    nlink: u32,
    parent: usize,
    children: Vec<(&'t [u8], usize, u8)>,
}

enum SpecKind<'t> {
    Dir,
    File(&'t Content),
    Symlink(&'t [u8]),
    Device { block: bool, rdev: u32 },
    Fifo,
}

/// Computes the layout of `tree`.
pub(crate) fn plan<'t>(tree: &'t Tree, options: &ErofsOptions) -> Result<Plan<'t>, Error> {
    if options.volume_name.len() > 16 {
        return Err(Error::VolumeNameTooLong { len: options.volume_name.len() });
    }
    let links = links::plan(tree).map_err(|bad| Error::HardLink {
        path: bad.path,
        target: bad.target,
        problem: bad.problem,
    })?;
    let mut specs = vec![Spec {
        path: Vec::new(),
        meta: &tree.root_meta,
        kind: SpecKind::Dir,
        nlink: 2,
        parent: 0,
        children: Vec::new(),
    }];
    let mut leaders = BTreeMap::new();
    collect(&tree.root, b"", 0, &links, &mut specs, &mut leaders)?;

    // Shared xattrs: those carried by SHARE_THRESHOLD inodes or more.
    let mut xattr_lists = Vec::with_capacity(specs.len());
    let mut counts: BTreeMap<(u8, &[u8], &[u8]), usize> = BTreeMap::new();
    for spec in &specs {
        let list = xattr_list(&spec.path, spec.meta)?;
        for (index, name, value) in &list {
            *counts.entry((*index, name, value)).or_insert(0) += 1;
        }
        xattr_lists.push(list);
    }
    let mut shared_xattrs = Vec::new();
    let mut shared_id: BTreeMap<(u8, &[u8], &[u8]), u32> = BTreeMap::new();
    for (key, count) in &counts {
        if *count >= SHARE_THRESHOLD {
            let id = u32::try_from(shared_xattrs.len() / 4)
                .map_err(|_| Error::TooLarge { path: "shared xattrs".to_owned() })?;
            shared_id.insert(*key, id);
            push_entry(&mut shared_xattrs, key.0, key.1, key.2);
        }
    }
    let shared_blocks = u64::try_from(shared_xattrs.len()).unwrap_or(u64::MAX).div_ceil(BLOCK);
    let xattr_blkaddr = if shared_xattrs.is_empty() { 0 } else { 1 };

    // Inodes with their forms and data layouts.
    let compress = options.compression == Compression::Lz4;
    let mut inodes = Vec::with_capacity(specs.len());
    for (idx, (spec, list)) in specs.iter().zip(&xattr_lists).enumerate() {
        let xattrs = xattr_body(&spec.path, list, &shared_id)?;
        let (type_bits, size, rdev) = match &spec.kind {
            SpecKind::Dir => {
                let mut names: Vec<&[u8]> = spec.children.iter().map(|c| c.0).collect();
                names.push(b".");
                names.push(b"..");
                names.sort_unstable();
                (mode::S_IFDIR, dirent::dir_size(names.into_iter()), 0)
            }
            SpecKind::File(content) => (mode::S_IFREG, content.len(), 0),
            SpecKind::Symlink(target) => {
                (mode::S_IFLNK, u64::try_from(target.len()).unwrap_or(u64::MAX), 0)
            }
            SpecKind::Device { block: false, rdev } => (mode::S_IFCHR, 0, *rdev),
            SpecKind::Device { block: true, rdev } => (mode::S_IFBLK, 0, *rdev),
            SpecKind::Fifo => (mode::S_IFIFO, 0, 0),
        };
        let permissions =
            u16::try_from(spec.meta.mode).ok().filter(|bits| *bits <= 0o7777).ok_or_else(|| {
                Error::InvalidMode { path: display_path(&spec.path), mode: spec.meta.mode }
            })?;
        let extended = spec.meta.mtime != options.epoch
            || spec.meta.uid > u32::from(u16::MAX)
            || spec.meta.gid > u32::from(u16::MAX)
            || spec.nlink > u32::from(u16::MAX)
            || size > u64::from(u32::MAX);
        let inode_size = if extended { InodeExtended::SIZE } else { InodeCompact::SIZE };
        let flat = if size % BLOCK != 0
            && u64::try_from(inode_size + xattrs.len()).unwrap_or(u64::MAX) + size % BLOCK <= BLOCK
        {
            Flat::Inline
        } else {
            Flat::Plain
        };
        let data = match &spec.kind {
            SpecKind::File(content) if compress && content.len() > BLOCK => Data::Compress(content),
            SpecKind::File(content) if content.is_empty() => Data::None,
            SpecKind::File(content) => Data::File(content, flat),
            SpecKind::Symlink([]) => Data::None,
            SpecKind::Symlink(target) => Data::Bytes(target.to_vec(), flat),
            // Directory entries are filled in once every nid is known.
            SpecKind::Dir => Data::Bytes(Vec::new(), flat),
            SpecKind::Device { .. } | SpecKind::Fifo => Data::None,
        };
        inodes.push(PlannedInode {
            path: spec.path.clone(),
            offset: 0,
            extended,
            mode: type_bits | permissions,
            nlink: spec.nlink,
            size,
            ino: u32::try_from(idx + 1)
                .map_err(|_| Error::TooLarge { path: display_path(&spec.path) })?,
            uid: spec.meta.uid,
            gid: spec.meta.gid,
            mtime: spec.meta.mtime,
            rdev,
            xattrs,
            data,
        });
    }

    // Place the inodes: 32-byte aligned, never straddling a block when avoidable.
    let meta_start = (1 + shared_blocks) * BLOCK;
    let mut cursor = meta_start;
    let mut data_blocks: u64 = 0;
    for inode in &mut inodes {
        let head = u64::try_from(inode.inode_size()).unwrap_or(SLOT);
        let size = inode.meta_size();
        let room = BLOCK - cursor % BLOCK;
        if size > room && (size <= BLOCK || head > room) {
            cursor = cursor.next_multiple_of(BLOCK);
        }
        inode.offset = cursor;
        cursor = (cursor + size).next_multiple_of(SLOT);
        data_blocks += match &inode.data {
            Data::Bytes(_, Flat::Inline) | Data::File(_, Flat::Inline) => inode.size / BLOCK,
            _ => inode.size.div_ceil(BLOCK),
        };
        let end_block = cursor.div_ceil(BLOCK) + data_blocks;
        if end_block > u64::from(u32::MAX) {
            return Err(Error::TooLarge { path: display_path(&inode.path) });
        }
    }
    let data_start_block = u32::try_from(cursor.div_ceil(BLOCK))
        .map_err(|_| Error::TooLarge { path: "metadata".to_owned() })?;
    let root_nid = inodes[0].nid();
    let root_nid = u16::try_from(root_nid).map_err(|_| Error::RootNid { nid: root_nid })?;

    // Directory entries, now that every nid is known.
    for (idx, spec) in specs.iter().enumerate() {
        if !matches!(spec.kind, SpecKind::Dir) {
            continue;
        }
        let mut entries: Vec<DirEntry<'_>> = spec
            .children
            .iter()
            .map(|(name, child, ftype)| DirEntry {
                name,
                nid: inodes[*child].nid(),
                file_type: *ftype,
            })
            .collect();
        entries.push(DirEntry { name: b".", nid: inodes[idx].nid(), file_type: file_type::DIR });
        entries.push(DirEntry {
            name: b"..",
            nid: inodes[spec.parent].nid(),
            file_type: file_type::DIR,
        });
        entries.sort_unstable_by(|a, b| a.name.cmp(b.name));
        let bytes = dirent::encode_dir(&entries);
        if let Data::Bytes(data, _) = &mut inodes[idx].data {
            *data = bytes;
        }
    }

    let mut volume_name = [0u8; 16];
    volume_name[..options.volume_name.len()].copy_from_slice(&options.volume_name);
    let uuid = match options.uuid {
        Some(uuid) => uuid,
        None => derive_uuid(tree, options),
    };
    Ok(Plan { inodes, shared_xattrs, xattr_blkaddr, data_start_block, root_nid, uuid, volume_name })
}

/// Appends the inodes of `dir`'s entries (and their subtrees) in walk order, recording each
/// entry in the directory's spec `dir_idx`.
fn collect<'t>(
    dir: &'t Dir,
    dir_path: &[u8],
    dir_idx: usize,
    links: &links::LinkPlan<'t>,
    specs: &mut Vec<Spec<'t>>,
    leaders: &mut BTreeMap<Vec<u8>, usize>,
) -> Result<(), Error> {
    for (name, node) in dir {
        let mut path = dir_path.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        if name.len() > NAME_LEN_MAX {
            return Err(Error::NameTooLong { path: display_path(&path), len: name.len() });
        }
        if name.is_empty() || name.contains(&0) {
            return Err(Error::InvalidName { path: display_path(&path) });
        }
        let (idx, ftype) = match links.role(&path) {
            Some(Role::Follower { leader, .. }) => {
                // The leader comes first in walk order, so it has its inode already.
                let idx = leaders.get(leader).copied().unwrap_or(0);
                (idx, file_type::REG_FILE)
            }
            Some(role @ Role::Leader { n_links, .. }) => {
                let content = role.content().ok_or_else(|| Error::HardLink {
                    path: display_path(&path),
                    target: display_path(&path),
                    problem: "not a file",
                })?;
                specs.push(Spec {
                    path: path.clone(),
                    meta: role.inode_meta(),
                    kind: SpecKind::File(content),
                    nlink: *n_links,
                    parent: dir_idx,
                    children: Vec::new(),
                });
                leaders.insert(path.clone(), specs.len() - 1);
                (specs.len() - 1, file_type::REG_FILE)
            }
            None => {
                let (kind, ftype) = match &node.kind {
                    NodeKind::Dir(_) => (SpecKind::Dir, file_type::DIR),
                    NodeKind::File(content) => (SpecKind::File(content), file_type::REG_FILE),
                    NodeKind::Symlink(target) => {
                        if target.len() > MAX_TARGET_BYTES {
                            return Err(Error::SymlinkTooLong {
                                path: display_path(&path),
                                len: target.len(),
                            });
                        }
                        (SpecKind::Symlink(target), file_type::SYMLINK)
                    }
                    NodeKind::CharDevice { major, minor } => (
                        SpecKind::Device { block: false, rdev: device(&path, *major, *minor)? },
                        file_type::CHRDEV,
                    ),
                    NodeKind::BlockDevice { major, minor } => (
                        SpecKind::Device { block: true, rdev: device(&path, *major, *minor)? },
                        file_type::BLKDEV,
                    ),
                    NodeKind::Fifo => (SpecKind::Fifo, file_type::FIFO),
                    NodeKind::HardLink(target) => {
                        // links::plan gives every hard link a role.
                        return Err(Error::HardLink {
                            path: display_path(&path),
                            target: display_path(target),
                            problem: "unresolved",
                        });
                    }
                };
                let nlink = if matches!(kind, SpecKind::Dir) { 2 } else { 1 };
                specs.push(Spec {
                    path: path.clone(),
                    meta: &node.meta,
                    kind,
                    nlink,
                    parent: dir_idx,
                    children: Vec::new(),
                });
                (specs.len() - 1, ftype)
            }
        };
        specs[dir_idx].children.push((name.as_slice(), idx, ftype));
        if let NodeKind::Dir(entries) = &node.kind {
            specs[dir_idx].nlink = specs[dir_idx].nlink.saturating_add(1);
            collect(entries, &path, idx, links, specs, leaders)?;
        }
    }
    Ok(())
}

fn device(path: &[u8], major: u32, minor: u32) -> Result<u32, Error> {
    crate::erofs::inode::encode_dev(major, minor).ok_or_else(|| Error::DeviceNumbers {
        path: display_path(path),
        major,
        minor,
    })
}

/// A node's xattrs as (prefix index, name after the prefix, value), checked against the limits.
fn xattr_list<'t>(path: &[u8], meta: &'t Meta) -> Result<Vec<XattrKey<'t>>, Error> {
    let mut list = Vec::with_capacity(meta.xattrs.len());
    for (name, value) in &meta.xattrs {
        let (index, rest) = split_name(name)
            .ok_or_else(|| Error::XattrPrefix { path: display_path(path), name: name.clone() })?;
        let too_long = |what, len, max| Error::XattrTooLong {
            path: display_path(path),
            name: name.clone(),
            what,
            len,
            max,
        };
        if rest.len() > usize::from(u8::MAX) {
            return Err(too_long("name after the prefix", rest.len(), usize::from(u8::MAX)));
        }
        if value.len() > usize::from(u16::MAX) {
            return Err(too_long("value", value.len(), usize::from(u16::MAX)));
        }
        list.push((index, rest, value.as_slice()));
    }
    Ok(list)
}

/// Encodes an inode's xattr body: header, shared ids (at most 255), inline entries.
fn xattr_body(
    path: &[u8],
    list: &[(u8, &[u8], &[u8])],
    shared_id: &BTreeMap<(u8, &[u8], &[u8]), u32>,
) -> Result<Vec<u8>, Error> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::new();
    let mut inline = Vec::new();
    for key in list {
        match shared_id.get(key) {
            Some(id) if ids.len() < usize::from(u8::MAX) => ids.push(*id),
            _ => push_entry(&mut inline, key.0, key.1, key.2),
        }
    }
    let mut body = vec![0u8; IbodyHeader::SIZE];
    let mut header = [0u8; IbodyHeader::SIZE];
    // At most 255 ids were taken.
    IbodyHeader { shared_count: u8::try_from(ids.len()).unwrap_or(u8::MAX) }.encode(&mut header);
    body.copy_from_slice(&header);
    for id in ids {
        body.extend_from_slice(&id.to_le_bytes());
    }
    body.extend_from_slice(&inline);
    if body.len() > MAX_XATTR_BODY {
        return Err(Error::XattrsTooLarge { path: display_path(path), len: body.len() });
    }
    debug_assert!(body.len() > IbodyHeader::SIZE && body.len().is_multiple_of(XattrEntry::SIZE));
    Ok(body)
}

/// A UUID from SHA-256 of the options, the epoch and every node's path, kind, metadata and
/// content identity (inline bytes' hash, or blob object and range), with the RFC 4122 version
/// 4 and variant bits set.
fn derive_uuid(tree: &Tree, options: &ErofsOptions) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(b"kit erofs uuid v1\0");
    hasher.update(options.epoch.to_le_bytes());
    hasher.update(u64::try_from(options.volume_name.len()).unwrap_or(0).to_le_bytes());
    hasher.update(&options.volume_name);
    hasher.update([u8::from(options.compression == Compression::Lz4)]);
    let meta = |hasher: &mut Sha256, meta: &Meta| {
        hasher.update(meta.mode.to_le_bytes());
        hasher.update(meta.uid.to_le_bytes());
        hasher.update(meta.gid.to_le_bytes());
        hasher.update(meta.mtime.to_le_bytes());
        for (name, value) in &meta.xattrs {
            field(hasher, name.as_bytes());
            field(hasher, value);
        }
    };
    meta(&mut hasher, &tree.root_meta);
    let _ = tree.walk::<()>(&mut |path, node| {
        field(&mut hasher, path);
        meta(&mut hasher, &node.meta);
        match &node.kind {
            NodeKind::Dir(_) => hasher.update(b"d"),
            NodeKind::File(Content::Inline(data)) => {
                hasher.update(b"f");
                hasher.update(Sha256::digest(data));
            }
            NodeKind::File(Content::Blob(range)) => {
                hasher.update(b"b");
                field(&mut hasher, range.object.as_bytes());
                hasher.update(range.offset.to_le_bytes());
                hasher.update(range.len.to_le_bytes());
            }
            NodeKind::Symlink(target) => {
                hasher.update(b"l");
                field(&mut hasher, target);
            }
            NodeKind::HardLink(target) => {
                hasher.update(b"h");
                field(&mut hasher, target);
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                hasher.update(if matches!(node.kind, NodeKind::CharDevice { .. }) {
                    b"c"
                } else {
                    b"k"
                });
                hasher.update(major.to_le_bytes());
                hasher.update(minor.to_le_bytes());
            }
            NodeKind::Fifo => hasher.update(b"p"),
        }
        Ok(())
    });
    let digest = hasher.finalize();
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&digest[..16]);
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update(u64::try_from(bytes.len()).unwrap_or(0).to_le_bytes());
    hasher.update(bytes);
}

/// Block size as a `usize`, for buffers.
pub(crate) const BLOCK_USIZE: usize = BLOCK_SIZE;
