//! Reading an image back into a tree: superblock, tables, then the directory tree from the
//! root inode, with every offset and length checked against the image.

use std::collections::{BTreeMap, BTreeSet};
use std::io::SeekFrom;
use std::sync::Arc;

use crate::dump::display_path;
use crate::squashfs::compressor::{self, decompress, describe_options};
use crate::squashfs::dir::{DirEntry, DirHeader};
use crate::squashfs::inode::{Body, Inode, InodeError, decode_rdev, kind};
use crate::squashfs::metablock::{METADATA_SIZE, UNCOMPRESSED_META};
use crate::squashfs::superblock::{INVALID_BLK, INVALID_FRAG, INVALID_XATTR, Superblock, flags};
use crate::squashfs::table::{
    FragmentEntry, UNCOMPRESSED_BLOCK, XATTR_PREFIXES, XattrId, XattrIdTable, xattr_type,
};
use crate::squashfs::{Error, ReadSeek};
use crate::tree::{Content, Dir, Meta, Node, NodeKind, Tree};

/// Content a reader returns at least may hold, whatever the image size (holes make small images
/// of large files).
const MIN_CONTENT_BUDGET: u64 = 1 << 30;
/// Content per image byte a reader returns at most, past [`MIN_CONTENT_BUDGET`].
const CONTENT_PER_IMAGE_BYTE: u64 = 1024;
/// Fragment blocks kept decompressed.
const FRAGMENT_CACHE: usize = 16;
/// Deepest directory nesting followed (Linux paths are at most 4096 bytes).
const MAX_DEPTH: usize = 2048;

pub(crate) fn read(input: &mut dyn ReadSeek) -> Result<Tree, Error> {
    let mut image = Image::open(input)?;
    image.load_tables()?;
    let root_ref = image.sb.root_inode;
    let root = image.inode(root_ref, b"")?;
    let root_meta = image.meta(&root, b"")?;
    let mut visited = BTreeSet::new();
    let mut inode_of_path = BTreeMap::new();
    let entries = image.dir(&root, root_ref, Vec::new(), &mut visited, &mut inode_of_path, 0)?;
    let mut tree = Tree { root_meta, root: entries };
    link_names(&mut tree, &inode_of_path);
    Ok(tree)
}

pub(crate) fn summary(input: &mut dyn ReadSeek) -> Result<Vec<(String, String)>, Error> {
    let mut image = Image::open(input)?;
    let sb = image.sb;
    let mut out = Vec::new();
    let mut add = |key: &str, value: String| out.push((key.to_owned(), value));
    add("format", format!("squashfs {}.{}", sb.s_major, sb.s_minor));
    add("compression", compressor::name(sb.compression).to_owned());
    if sb.flags & flags::COMPRESSOR_OPTIONS != 0 {
        let (bytes, _) = image.meta_block(Superblock::SIZE_U64)?;
        add("compressor options", describe_options(sb.compression, &bytes));
    }
    add("block size", sb.block_size_bytes.to_string());
    let names: Vec<&str> =
        flags::NAMES.iter().filter(|(bit, _)| sb.flags & bit != 0).map(|(_, name)| *name).collect();
    add("flags", if names.is_empty() { "none".to_owned() } else { names.join(", ") });
    add("mkfs time", sb.mkfs_time_secs.to_string());
    add("inodes", sb.inodes.to_string());
    add("fragments", sb.fragments.to_string());
    add("ids", sb.no_ids.to_string());
    add("bytes used", sb.bytes_used.to_string());
    add("root inode", format!("{:#x}", sb.root_inode));
    let table =
        |start: u64| if start == INVALID_BLK { "none".to_owned() } else { start.to_string() };
    add("inode table", sb.inode_table_start.to_string());
    add("directory table", sb.directory_table_start.to_string());
    add("fragment table", table(sb.fragment_table_start));
    add("export table", table(sb.lookup_table_start));
    add("id table", sb.id_table_start.to_string());
    add("xattr id table", table(sb.xattr_id_table_start));
    Ok(out)
}

/// Position in a metadata stream: a block's image position and an offset in its content.
#[derive(Debug, Clone, Copy)]
struct MetaPos {
    block: u64,
    offset: usize,
}

struct Image<'a> {
    input: &'a mut dyn ReadSeek,
    len: u64,
    sb: Superblock,
    /// Decompressed metadata blocks by position, with the position of the next block.
    meta_cache: BTreeMap<u64, (Arc<[u8]>, u64)>,
    fragment_cache: BTreeMap<u32, Arc<[u8]>>,
    fragments: Vec<FragmentEntry>,
    ids: Vec<u32>,
    xattr_ids: Vec<XattrId>,
    xattr_table_start: u64,
    /// Content bytes still allowed.
    budget: u64,
    /// Content of regular file inodes already read, by inode reference.
    contents: BTreeMap<u64, Arc<[u8]>>,
}

impl Superblock {
    const SIZE_U64: u64 = 96;
}

impl<'a> Image<'a> {
    fn open(input: &'a mut dyn ReadSeek) -> Result<Image<'a>, Error> {
        let len = input.seek(SeekFrom::End(0)).map_err(|source| Error::ReadInput { source })?;
        let mut image = Image {
            input,
            len,
            sb: placeholder(),
            meta_cache: BTreeMap::new(),
            fragment_cache: BTreeMap::new(),
            fragments: Vec::new(),
            ids: Vec::new(),
            xattr_ids: Vec::new(),
            xattr_table_start: 0,
            budget: MIN_CONTENT_BUDGET.max(len.saturating_mul(CONTENT_PER_IMAGE_BYTE)),
            contents: BTreeMap::new(),
        };
        let bytes = image.read_at(0, Superblock::SIZE_U64, "superblock")?;
        let bytes: [u8; Superblock::SIZE] =
            bytes.try_into().map_err(|_| corrupt("superblock", "short read"))?;
        image.sb = Superblock::decode(&bytes)?;
        Ok(image)
    }

    fn read_at(&mut self, offset: u64, len: u64, what: &'static str) -> Result<Vec<u8>, Error> {
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > self.len) {
            return Err(Error::OutOfBounds { what, offset, len, image_len: self.len });
        }
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
        self.input.seek(SeekFrom::Start(offset)).map_err(|source| Error::ReadInput { source })?;
        self.input.read_exact(&mut buf).map_err(|source| Error::ReadInput { source })?;
        Ok(buf)
    }

    /// The metadata block at `at`: its content and the position of the next block.
    fn meta_block(&mut self, at: u64) -> Result<(Arc<[u8]>, u64), Error> {
        if let Some((data, next)) = self.meta_cache.get(&at) {
            return Ok((Arc::clone(data), *next));
        }
        let header = self.read_at(at, 2, "metadata block header")?;
        let header = u16::from_le_bytes([header[0], header[1]]);
        let stored = header & !UNCOMPRESSED_META;
        if stored == 0 || usize::from(stored) > METADATA_SIZE {
            return Err(corrupt(
                &format!("metadata block at byte {at}"),
                &format!("stored size is {stored}, expected 1 to 8192"),
            ));
        }
        let bytes = self.read_at(at + 2, u64::from(stored), "metadata block")?;
        let data = if header & UNCOMPRESSED_META != 0 {
            bytes
        } else {
            decompress(self.sb.compression, &bytes, METADATA_SIZE).map_err(|source| {
                Error::Compressor { what: format!("metadata block at byte {at}"), source }
            })?
        };
        let next = at + 2 + u64::from(stored);
        let data: Arc<[u8]> = Arc::from(data);
        // The cache only saves work: past 8192 blocks (64 MiB) it starts over, which bounds
        // the memory a crafted image can make the reader hold.
        if self.meta_cache.len() >= 8192 {
            self.meta_cache.clear();
        }
        self.meta_cache.insert(at, (Arc::clone(&data), next));
        Ok((data, next))
    }

    /// Reads `buf.len()` bytes of a metadata stream from `pos`, moving it.
    fn meta_read(&mut self, pos: &mut MetaPos, buf: &mut [u8]) -> Result<(), Error> {
        let mut filled = 0;
        while filled < buf.len() {
            let (data, next) = self.meta_block(pos.block)?;
            if pos.offset >= data.len() {
                if pos.offset == data.len() && data.len() == METADATA_SIZE {
                    *pos = MetaPos { block: next, offset: 0 };
                    continue;
                }
                return Err(corrupt(
                    &format!("metadata block at byte {}", pos.block),
                    &format!("offset {} is past its {} bytes", pos.offset, data.len()),
                ));
            }
            let n = (data.len() - pos.offset).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&data[pos.offset..pos.offset + n]);
            filled += n;
            pos.offset += n;
            if pos.offset == data.len() && filled < buf.len() {
                *pos = MetaPos { block: next, offset: 0 };
            }
        }
        Ok(())
    }

    /// Reads a table of `count` entries of `entry_size` bytes whose index is at `index_at`.
    fn indexed_table(
        &mut self,
        index_at: u64,
        count: u64,
        entry_size: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, Error> {
        // Each entry of a fragment or xattr id table stands for at least one stored byte, so a
        // count past the image's length is corrupt (and would make huge tables).
        if count > self.len {
            return Err(corrupt(
                what,
                &format!("counts {count} entries in a {}-byte image", self.len),
            ));
        }
        let bytes = count.saturating_mul(entry_size);
        let n_blocks = bytes.div_ceil(8192);
        let index = self.read_at(index_at, n_blocks.saturating_mul(8), what)?;
        let mut out = Vec::new();
        for chunk in index.chunks_exact(8) {
            let block = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let (data, _) = self.meta_block(block)?;
            out.extend_from_slice(&data);
        }
        if u64::try_from(out.len()).unwrap_or(0) < bytes {
            return Err(corrupt(what, &format!("holds fewer than {count} entries")));
        }
        out.truncate(usize::try_from(bytes).unwrap_or(0));
        Ok(out)
    }

    fn load_tables(&mut self) -> Result<(), Error> {
        let sb = self.sb;
        let ids = self.indexed_table(sb.id_table_start, u64::from(sb.no_ids), 4, "id table")?;
        self.ids =
            ids.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if sb.fragments > 0 {
            let bytes = self.indexed_table(
                sb.fragment_table_start,
                u64::from(sb.fragments),
                16,
                "fragment table",
            )?;
            self.fragments = bytes
                .chunks_exact(FragmentEntry::SIZE)
                .map(|c| FragmentEntry::decode(c.try_into().unwrap_or(&[0; FragmentEntry::SIZE])))
                .collect();
        }
        if sb.xattr_id_table_start != INVALID_BLK {
            let header = self.read_at(sb.xattr_id_table_start, 16, "xattr id table")?;
            let header = XattrIdTable::decode(header.as_slice().try_into().unwrap_or(&[0; 16]));
            self.xattr_table_start = header.xattr_table_start;
            let bytes = self.indexed_table(
                sb.xattr_id_table_start.saturating_add(16),
                u64::from(header.xattr_ids),
                16,
                "xattr id table",
            )?;
            self.xattr_ids = bytes
                .chunks_exact(XattrId::SIZE)
                .map(|c| XattrId::decode(c.try_into().unwrap_or(&[0; XattrId::SIZE])))
                .collect();
        }
        Ok(())
    }

    fn inode(&mut self, reference: u64, path: &[u8]) -> Result<Inode, Error> {
        let block = reference >> 16;
        let offset = usize::try_from(reference & 0xffff).unwrap_or(0);
        let start = self.sb.inode_table_start.checked_add(block).ok_or_else(|| {
            corrupt(&format!("inode of {}", display_path(path)), "reference overflows")
        })?;
        let mut pos = MetaPos { block: start, offset };
        let block_size = self.sb.block_size_bytes;
        let max_blocks = self.budget / u64::from(block_size) + 1;
        let mut failure = None;
        let result = {
            let mut read = |buf: &mut [u8]| -> Result<(), InodeError> {
                match self.meta_read(&mut pos, buf) {
                    Ok(()) => Ok(()),
                    Err(err) => {
                        failure = Some(err);
                        Err(InodeError::Type { found: 0 })
                    }
                }
            };
            Inode::decode::<InodeError>(&mut read, block_size, max_blocks)
        };
        match (result, failure) {
            (Ok(inode), _) => Ok(inode),
            (Err(_), Some(err)) => Err(err),
            (Err(source), None) => {
                Err(Error::Inode { path: display_path(path), reference, source })
            }
        }
    }

    fn id(&self, idx: u16, path: &[u8]) -> Result<u32, Error> {
        self.ids.get(usize::from(idx)).copied().ok_or_else(|| {
            corrupt(
                &format!("inode of {}", display_path(path)),
                &format!("id index {idx} is past the {} ids", self.ids.len()),
            )
        })
    }

    fn meta(&mut self, inode: &Inode, path: &[u8]) -> Result<Meta, Error> {
        let header = inode.header;
        let xattr = match &inode.body {
            Body::ExtDir(dir, _) => Some(dir.xattr),
            Body::ExtFile(file, _) => Some(file.xattr),
            Body::Symlink(_, _, xattr) => *xattr,
            Body::Dev(dev) => dev.xattr,
            Body::Ipc(ipc) => ipc.xattr,
            Body::Dir(_) | Body::File(..) => None,
        };
        let xattrs = match xattr {
            Some(idx) if idx != INVALID_XATTR => self.xattrs(idx, path)?,
            _ => BTreeMap::new(),
        };
        Ok(Meta {
            mode: u32::from(header.mode) & 0o7777,
            uid: self.id(header.uid_idx, path)?,
            gid: self.id(header.gid_idx, path)?,
            mtime: i64::from(header.mtime_secs),
            xattrs,
        })
    }

    fn xattrs(&mut self, idx: u32, path: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, Error> {
        let what = || format!("xattrs of {}", display_path(path));
        let Some(id) = usize::try_from(idx).ok().and_then(|i| self.xattr_ids.get(i)).copied()
        else {
            return Err(corrupt(
                &what(),
                &format!("xattr index {idx} is past the {} sets", self.xattr_ids.len()),
            ));
        };
        let mut pos = self.xattr_pos(id.xattr, path)?;
        let mut out = BTreeMap::new();
        for _ in 0..id.count.min(1 << 16) {
            let mut head = [0u8; 4];
            self.meta_read(&mut pos, &mut head)?;
            let xattr_type = u16::from_le_bytes([head[0], head[1]]);
            let name_len = u16::from_le_bytes([head[2], head[3]]);
            let mut name = vec![0u8; usize::from(name_len)];
            self.meta_read(&mut pos, &mut name)?;
            let prefix = XATTR_PREFIXES
                .iter()
                .find(|(id, _)| *id == xattr_type & xattr_type::PREFIX_MASK)
                .map(|(_, prefix)| *prefix)
                .ok_or_else(|| {
                    corrupt(
                        &what(),
                        &format!("xattr type {xattr_type:#x} is not user, trusted or security"),
                    )
                })?;
            let name =
                String::from_utf8(name).map_err(|_| corrupt(&what(), "xattr name is not UTF-8"))?;
            let mut value = self.xattr_value(&mut pos, path)?;
            if xattr_type & xattr_type::VALUE_OOL != 0 {
                let reference: [u8; 8] = value
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt(&what(), "out-of-line value reference is not 8 bytes"))?;
                let mut ool = self.xattr_pos(u64::from_le_bytes(reference), path)?;
                value = self.xattr_value(&mut ool, path)?;
            }
            out.insert(format!("{prefix}{name}"), value);
        }
        Ok(out)
    }

    fn xattr_pos(&self, reference: u64, path: &[u8]) -> Result<MetaPos, Error> {
        let block = self.xattr_table_start.checked_add(reference >> 16).ok_or_else(|| {
            corrupt(&format!("xattrs of {}", display_path(path)), "reference overflows")
        })?;
        Ok(MetaPos { block, offset: usize::try_from(reference & 0xffff).unwrap_or(0) })
    }

    fn xattr_value(&mut self, pos: &mut MetaPos, path: &[u8]) -> Result<Vec<u8>, Error> {
        let mut size = [0u8; 4];
        self.meta_read(pos, &mut size)?;
        let size = u32::from_le_bytes(size);
        // Linux's XATTR_SIZE_MAX.
        if size > 65_536 {
            return Err(corrupt(
                &format!("xattrs of {}", display_path(path)),
                &format!("value is {size} bytes, expected at most 65536"),
            ));
        }
        let mut value = vec![0u8; usize::try_from(size).unwrap_or(0)];
        self.meta_read(pos, &mut value)?;
        Ok(value)
    }

    fn dir(
        &mut self,
        inode: &Inode,
        reference: u64,
        path: Vec<u8>,
        visited: &mut BTreeSet<u64>,
        inode_of_path: &mut BTreeMap<Vec<u8>, u64>,
        depth: usize,
    ) -> Result<Dir, Error> {
        let what = || format!("directory {}", display_path(&path));
        if depth > MAX_DEPTH {
            return Err(corrupt(&what(), &format!("is nested deeper than {MAX_DEPTH} levels")));
        }
        if !visited.insert(reference) {
            return Err(corrupt(&what(), "appears twice in the tree (a directory loop)"));
        }
        let (start_block, offset, file_size) = match &inode.body {
            Body::Dir(dir) => (dir.start_block, dir.offset, u32::from(dir.file_size)),
            Body::ExtDir(dir, _) => (dir.start_block, dir.offset, dir.file_size),
            _ => return Err(corrupt(&what(), "root inode is not a directory")),
        };
        let block = self
            .sb
            .directory_table_start
            .checked_add(u64::from(start_block))
            .ok_or_else(|| corrupt(&what(), "listing position overflows"))?;
        let mut pos = MetaPos { block, offset: usize::from(offset) };
        let mut left = u64::from(file_size.saturating_sub(3));
        let mut listing = Vec::new();
        while left > 0 {
            let mut b = [0u8; DirHeader::SIZE];
            self.meta_read(&mut pos, &mut b)?;
            let header = DirHeader::decode(&b);
            left = left.saturating_sub(12);
            if header.count >= 256 {
                return Err(corrupt(
                    &what(),
                    &format!("a header counts {} entries, expected at most 256", header.count + 1),
                ));
            }
            for _ in 0..=header.count {
                let mut failure = None;
                let entry = {
                    let mut read = |buf: &mut [u8]| -> Result<(), InodeError> {
                        self.meta_read(&mut pos, buf).map_err(|err| {
                            failure = Some(err);
                            InodeError::Type { found: 0 }
                        })
                    };
                    DirEntry::decode::<InodeError>(&mut read)
                };
                let entry = match (entry, failure) {
                    (Ok(entry), _) => entry,
                    (Err(_), Some(err)) => return Err(err),
                    (Err(source), None) => {
                        return Err(corrupt(&what(), &source.to_string()));
                    }
                };
                left = left.saturating_sub(8 + u64::try_from(entry.name.len()).unwrap_or(0));
                let reference = (u64::from(header.start_block) << 16) | u64::from(entry.offset);
                listing.push((entry.name, reference));
            }
        }
        let mut out = Dir::new();
        for (name, reference) in listing {
            if name.is_empty()
                || name.contains(&b'/')
                || name.contains(&0)
                || name == b"."
                || name == b".."
            {
                return Err(corrupt(
                    &what(),
                    &format!("holds an invalid name {}", display_path(&name)),
                ));
            }
            let mut child_path = path.clone();
            if !child_path.is_empty() {
                child_path.push(b'/');
            }
            child_path.extend_from_slice(&name);
            if out.contains_key(&name) {
                return Err(corrupt(&what(), &format!("holds {} twice", display_path(&name))));
            }
            let inode = self.inode(reference, &child_path)?;
            let meta = self.meta(&inode, &child_path)?;
            let node_kind = match &inode.body {
                Body::Dir(_) | Body::ExtDir(..) => NodeKind::Dir(self.dir(
                    &inode,
                    reference,
                    child_path.clone(),
                    visited,
                    inode_of_path,
                    depth + 1,
                )?),
                Body::File(..) | Body::ExtFile(..) => {
                    inode_of_path.insert(child_path.clone(), reference);
                    NodeKind::File(Content::Inline(self.file(&inode, reference, &child_path)?))
                }
                Body::Symlink(_, target, _) => NodeKind::Symlink(target.clone()),
                Body::Dev(dev) => {
                    let (major, minor) = decode_rdev(dev.rdev);
                    if kind::basic(inode.header.inode_type) == kind::CHAR_DEV {
                        NodeKind::CharDevice { major, minor }
                    } else {
                        NodeKind::BlockDevice { major, minor }
                    }
                }
                Body::Ipc(_) => {
                    if kind::basic(inode.header.inode_type) == kind::SOCKET {
                        return Err(Error::Socket { path: display_path(&child_path) });
                    }
                    NodeKind::Fifo
                }
            };
            out.insert(name, Node::new(node_kind, meta));
        }
        Ok(out)
    }

    fn file(&mut self, inode: &Inode, reference: u64, path: &[u8]) -> Result<Arc<[u8]>, Error> {
        if let Some(content) = self.contents.get(&reference) {
            return Ok(Arc::clone(content));
        }
        let what = || format!("file {}", display_path(path));
        let (start_block, file_size, fragment, offset, blocks) = match &inode.body {
            Body::File(f, blocks) => {
                (u64::from(f.start_block), u64::from(f.file_size), f.fragment, f.offset, blocks)
            }
            Body::ExtFile(f, blocks) => (f.start_block, f.file_size, f.fragment, f.offset, blocks),
            _ => return Err(corrupt(&what(), "is not a regular file")),
        };
        if file_size > self.budget {
            return Err(corrupt(
                &what(),
                &format!(
                    "is {file_size} bytes, more than this reader's remaining limit of {} (1 GiB or 1024 times the image size in all)",
                    self.budget
                ),
            ));
        }
        self.budget -= file_size;
        let block_size = u64::from(self.sb.block_size_bytes);
        let has_fragment = fragment != INVALID_FRAG;
        let mut data = Vec::with_capacity(usize::try_from(file_size).unwrap_or(0));
        let mut pos = start_block;
        for (idx, &size) in blocks.iter().enumerate() {
            let done = u64::try_from(idx).unwrap_or(0) * block_size;
            let expected = (file_size - done).min(block_size);
            let expected_len = usize::try_from(expected).unwrap_or(0);
            if size == 0 {
                data.resize(data.len() + expected_len, 0);
                continue;
            }
            let block = self.data_block(pos, size, expected, &what)?;
            pos += u64::from(size & !UNCOMPRESSED_BLOCK);
            data.extend_from_slice(&block);
        }
        if has_fragment {
            let tail = file_size - u64::try_from(blocks.len()).unwrap_or(0) * block_size;
            let block = self.fragment(fragment, path)?;
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let end = start.checked_add(usize::try_from(tail).unwrap_or(usize::MAX));
            let piece = end.and_then(|end| block.get(start..end)).ok_or_else(|| {
                corrupt(&what(), &format!("tail of {tail} bytes at offset {offset} is past its fragment block of {} bytes", block.len()))
            })?;
            data.extend_from_slice(piece);
        }
        let content: Arc<[u8]> = Arc::from(data);
        self.contents.insert(reference, Arc::clone(&content));
        Ok(content)
    }

    /// Reads one stored block of `size` (flags included) at `pos` that must give `expected`
    /// bytes.
    fn data_block(
        &mut self,
        pos: u64,
        size: u32,
        expected: u64,
        what: &dyn Fn() -> String,
    ) -> Result<Vec<u8>, Error> {
        let stored = size & !UNCOMPRESSED_BLOCK;
        if size >> 25 != 0 || stored > self.sb.block_size_bytes {
            return Err(corrupt(
                &what(),
                &format!("block size field {size:#x} is larger than a block"),
            ));
        }
        let bytes = self.read_at(pos, u64::from(stored), "data block")?;
        let limit = usize::try_from(self.sb.block_size_bytes).unwrap_or(0);
        let block = if size & UNCOMPRESSED_BLOCK != 0 {
            bytes
        } else {
            decompress(self.sb.compression, &bytes, limit).map_err(|source| Error::Compressor {
                what: format!("{} at byte {pos}", what()),
                source,
            })?
        };
        if u64::try_from(block.len()).unwrap_or(0) != expected {
            return Err(corrupt(
                &what(),
                &format!("block at byte {pos} holds {} bytes, expected {expected}", block.len()),
            ));
        }
        Ok(block)
    }

    fn fragment(&mut self, idx: u32, path: &[u8]) -> Result<Arc<[u8]>, Error> {
        if let Some(block) = self.fragment_cache.get(&idx) {
            return Ok(Arc::clone(block));
        }
        let what = || format!("fragment {idx} of {}", display_path(path));
        let entry =
            usize::try_from(idx).ok().and_then(|i| self.fragments.get(i)).copied().ok_or_else(
                || corrupt(&what(), &format!("is past the {} fragments", self.fragments.len())),
            )?;
        let stored = entry.size & !UNCOMPRESSED_BLOCK;
        if entry.size >> 25 != 0 || stored > self.sb.block_size_bytes {
            return Err(corrupt(
                &what(),
                &format!("size field {:#x} is larger than a block", entry.size),
            ));
        }
        let bytes = self.read_at(entry.start_block, u64::from(stored), "fragment block")?;
        let block = if entry.size & UNCOMPRESSED_BLOCK != 0 {
            bytes
        } else {
            let limit = usize::try_from(self.sb.block_size_bytes).unwrap_or(0);
            decompress(self.sb.compression, &bytes, limit)
                .map_err(|source| Error::Compressor { what: what(), source })?
        };
        let block: Arc<[u8]> = Arc::from(block);
        if self.fragment_cache.len() >= FRAGMENT_CACHE {
            self.fragment_cache.pop_first();
        }
        self.fragment_cache.insert(idx, Arc::clone(&block));
        Ok(block)
    }
}

/// A superblock to start from before the real one is read.
fn placeholder() -> Superblock {
    Superblock {
        inodes: 0,
        mkfs_time_secs: 0,
        block_size_bytes: 4096,
        fragments: 0,
        compression: 0,
        block_log: 12,
        flags: 0,
        no_ids: 0,
        s_major: 4,
        s_minor: 0,
        root_inode: 0,
        bytes_used: 0,
        id_table_start: 0,
        xattr_id_table_start: INVALID_BLK,
        inode_table_start: 0,
        directory_table_start: 0,
        fragment_table_start: 0,
        lookup_table_start: INVALID_BLK,
    }
}

fn corrupt(what: &str, problem: &str) -> Error {
    Error::Corrupt { what: what.to_owned(), problem: problem.to_owned() }
}

/// Turns the second and later names (in walk order) of each file inode into hard links to the
/// first.
fn link_names(tree: &mut Tree, inode_of_path: &BTreeMap<Vec<u8>, u64>) {
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for reference in inode_of_path.values() {
        *count.entry(*reference).or_default() += 1;
    }
    if count.values().all(|n| *n < 2) {
        return;
    }
    let mut first: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    relink(&mut tree.root, &mut Vec::new(), inode_of_path, &count, &mut first);
}

fn relink(
    dir: &mut Dir,
    path: &mut Vec<u8>,
    inode_of_path: &BTreeMap<Vec<u8>, u64>,
    count: &BTreeMap<u64, usize>,
    first: &mut BTreeMap<u64, Vec<u8>>,
) {
    for (name, node) in dir.iter_mut() {
        let len_before = path.len();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        match &mut node.kind {
            NodeKind::Dir(entries) => relink(entries, path, inode_of_path, count, first),
            NodeKind::File(_) => {
                if let Some(reference) = inode_of_path.get(path.as_slice())
                    && count.get(reference).copied().unwrap_or(0) > 1
                {
                    match first.get(reference) {
                        Some(leader) => node.kind = NodeKind::HardLink(leader.clone()),
                        None => {
                            first.insert(*reference, path.clone());
                        }
                    }
                }
            }
            _ => {}
        }
        path.truncate(len_before);
    }
}
